//! Autobahn|Testsuite: the fuzzing server tests a wsdial echo client on every case
//! of sections 1-7 and 10 (9 is performance, in the benchmarks), and with
//! `enableCompression=true` on a fixed subset of sections 12 and 13
//! (permessage-deflate; all of them: `scripts/autobahn-deflate`). Fails on any
//! FAILED or UNIMPLEMENTED behaviour.
mod common;
#[path = "common/peers.rs"]
mod peers;
use common::*;
use peers::*;
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use wsdial::Event;

/// Echoes every message of one case until the server closes.
fn run_case(base: &str, case: usize, options: &str) {
    let c = match wsdial::dial(&format!(
        "{base}/runCase?case={case}&agent=wsdial|timeout=10000{options}"
    )) {
        Ok(c) => c,
        Err(e) => panic!("case {case}: dial failed: {e}"),
    };
    loop {
        match c.read_timeout(ms(60_000)) {
            Some(Event::Message(m)) => {
                match m.as_text() {
                    Some(t) => c.write(t),
                    None => c.write_binary(m.as_bytes()),
                };
            }
            Some(Event::Disconnected(_)) => return,
            None => panic!("case {case}: no message and no close for 60 s"),
        }
    }
}

/// Runs the fuzzing server on `cases` against the echo client (whose address
/// options are `options`, `&key=value…`), and fails on any case whose
/// behaviour is FAILED or UNIMPLEMENTED. Returns the number of cases run.
fn fuzzingserver(name: &str, cases: &[&str], exclude: &[&str], options: &str) -> usize {
    let wstest = peer_path("autobahn/wstest");
    let dir = std::env::temp_dir().join(format!("wsdial-autobahn-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let spec = serde_json::json!({
        "url": format!("ws://127.0.0.1:{port}"),
        "outdir": "./reports/clients",
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {}
    });
    std::fs::write(dir.join("fuzzingserver.json"), spec.to_string()).unwrap();
    let child = Command::new(&wstest)
        .args(["-m", "fuzzingserver", "-s", "fuzzingserver.json", "-u", "0"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Proc(child);
    eventually(ms(60_000), "wstest listening", || listening(port));
    let base = format!("ws://127.0.0.1:{port}");

    let count: usize = {
        let c = wsdial::dial(&format!("{base}/getCaseCount")).unwrap();
        text(&c.read_timeout(ms(10_000)).unwrap()).parse().unwrap()
    };
    let t = std::time::Instant::now();
    for case in 1..=count {
        run_case(&base, case, options);
    }
    let took = t.elapsed();
    let c = wsdial::dial(&format!("{base}/updateReports?agent=wsdial")).unwrap();
    while !c
        .read_timeout(ms(30_000))
        .expect("report written")
        .is_disconnect()
    {}

    let index = dir.join("reports/clients/index.json");
    eventually(ms(30_000), "index.json", || index.exists());
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&index).unwrap()).unwrap();
    let results = report["wsdial"]
        .as_object()
        .expect("the wsdial agent's results");
    let mut behavior: BTreeMap<String, usize> = BTreeMap::new();
    let mut close: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed = Vec::new();
    for (id, r) in results {
        let b = r["behavior"].as_str().unwrap_or("?").to_owned();
        let bc = r["behaviorClose"].as_str().unwrap_or("?").to_owned();
        if b == "FAILED" || bc == "FAILED" || b == "UNIMPLEMENTED" {
            failed.push(format!("{id}: {b}/{bc}"));
        }
        if b != "OK" || bc != "OK" {
            println!("  {id}: {b}/{bc}");
        }
        *behavior.entry(b).or_default() += 1;
        *close.entry(bc).or_default() += 1;
    }
    println!(
        "Autobahn|Testsuite {name}, {} cases in {:.1} s",
        results.len(),
        took.as_secs_f64()
    );
    println!("  behavior:      {behavior:?}");
    println!("  behaviorClose: {close:?}");
    assert_eq!(results.len(), count);
    assert!(failed.is_empty(), "failed cases: {failed:?}");
    let _ = std::fs::remove_dir_all(&dir);
    count
}

#[test]
fn autobahn_fuzzingserver_sections_1_to_7_and_10() {
    within(ms(900_000), || {
        let count = fuzzingserver(
            "1-7,10",
            &["1.*", "2.*", "3.*", "4.*", "5.*", "6.*", "7.*", "10.*"],
            &["9.*", "12.*", "13.*"],
            "",
        );
        assert!(count > 200, "case count {count}");
    });
}

/// Sections 12 and 13 (permessage-deflate) with `enableCompression=true`, a
/// fixed subset: every parameter combination of 13 (13.1 to 13.7: context
/// takeover or not, client windows of 9 and 15, and 13.7's fallback between
/// offers), each with small, mid-sized and fragmented messages, and every data
/// set of 12 (JSON and HTML text, three binary files) once unfragmented and
/// once fragmented. All of 12 and 13: `scripts/autobahn-deflate`.
#[cfg(feature = "permessage-deflate")]
#[test]
fn autobahn_fuzzingserver_permessage_deflate_subset() {
    within(ms(900_000), || {
        let mut cases: Vec<String> = Vec::new();
        for set in 1..=7 {
            for size in [1, 5, 11] {
                cases.push(format!("13.{set}.{size}"));
            }
        }
        for set in 1..=5 {
            for size in [4, 13] {
                cases.push(format!("12.{set}.{size}"));
            }
        }
        let cases: Vec<&str> = cases.iter().map(String::as_str).collect();
        let count = fuzzingserver("12,13 subset", &cases, &[], "&enableCompression=true");
        assert_eq!(count, cases.len());
    });
}

/// Every case of sections 12 and 13 (216, several minutes): run by
/// `scripts/autobahn-deflate`, not by the test command.
#[cfg(feature = "permessage-deflate")]
#[test]
#[ignore = "all of sections 12 and 13 take minutes: scripts/autobahn-deflate runs them"]
fn autobahn_fuzzingserver_sections_12_and_13() {
    within(ms(3_600_000), || {
        let count = fuzzingserver("12,13", &["12.*", "13.*"], &[], "&enableCompression=true");
        assert_eq!(count, 216);
    });
}
