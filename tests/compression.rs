//! compress= and mode= end to end, with data compressed by other implementations.
mod common;
use common::*;
use std::io::Write;
use std::process::Command;
use std::sync::mpsc;

/// `payload` compressed by Python's gzip/zlib modules: (name, bytes).
fn python_vectors(payload: &str) -> Vec<(&'static str, Vec<u8>)> {
    let script = r#"
import gzip, zlib, sys
d = sys.argv[1].encode()
raw = zlib.compressobj(9, zlib.DEFLATED, -15); r = raw.compress(d) + raw.flush()
for name, b in [("gzip", gzip.compress(d)), ("zlib", zlib.compress(d)), ("raw", r)]:
    print(name, b.hex())
"#;
    let out = Command::new("python3")
        .args(["-c", script, payload])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (name, hex) = l.split_once(' ').unwrap();
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect();
            (
                match name {
                    "gzip" => "gzip",
                    "zlib" => "zlib",
                    _ => "raw",
                },
                bytes,
            )
        })
        .collect()
}

/// Sends each frame as binary, then echoes what it receives.
fn binary_sender(frames: Vec<Vec<u8>>) -> Server {
    Server::ws(move |mut ws, _| {
        for f in &frames {
            ws.send(WsMsg::Binary(f.clone().into())).unwrap();
        }
        command_loop(&mut ws);
    })
}

#[test]
fn python_made_vectors_inflate_under_each_name() {
    within(ms(15_000), || {
        let json = r#"{"ch":"market.btcusdt.depth.step0","tick":{"bids":[[37000.5,1.25]],"asks":[[37001,0.5]]},"note":"ünï"}"#;
        let v = python_vectors(json);
        let get = |n: &str| v.iter().find(|(k, _)| *k == n).unwrap().1.clone();
        let cases: &[(&str, &[&str])] = &[
            ("gzip", &["gzip"]),
            ("gzip_raw", &["raw", "gzip", "zlib"]),
            ("deflate", &["raw"]),
            ("flate", &["raw"]),
            ("zlib", &["zlib"]),
            ("auto", &["gzip", "zlib", "raw"]),
        ];
        for (name, formats) in cases {
            let frames: Vec<Vec<u8>> = formats.iter().map(|f| get(f)).collect();
            let srv = binary_sender(frames);
            let c = wsdial::dial(&srv.url(&format!("/|compress={name}"))).unwrap();
            for f in *formats {
                let m = c.read_timeout(ms(5000)).unwrap().into_message().unwrap();
                assert_eq!(m.as_text(), Some(json), "compress={name}, {f} data");
            }
        }
    });
}

#[test]
fn text_frames_pass_untouched_and_binary_that_is_not_utf8_stays_bytes() {
    within(ms(10_000), || {
        let bin: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x80];
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(&bin).unwrap();
        let srv = binary_sender(vec![e.finish().unwrap()]);
        let c = wsdial::dial(&srv.url("/|compress=gzip")).unwrap();
        let m = c.read_timeout(ms(5000)).unwrap().into_message().unwrap();
        assert_eq!((m.is_binary(), m.as_bytes()), (true, &bin[..]));
        c.write("plain text echo");
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "plain text echo");
    });
}

#[test]
fn a_frame_that_fails_to_inflate_is_visible_and_the_connection_goes_on() {
    within(ms(10_000), || {
        let good = {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            e.write_all(b"{\"ok\":1}").unwrap();
            e.finish().unwrap()
        };
        let truncated = good[..good.len() - 6].to_vec();
        let garbage = b"\x1f\x8b\x08\x00garbage".to_vec();
        let srv = binary_sender(vec![good.clone(), truncated.clone(), garbage.clone(), good]);
        let c = wsdial::dial(&srv.url("/|compress=gzip")).unwrap();
        let next = || c.read_timeout(ms(5000)).unwrap().into_message().unwrap();
        assert_eq!(next().as_text(), Some("{\"ok\":1}"));
        for raw in [truncated, garbage] {
            let m = next();
            assert!(m.decode_error().is_some(), "flagged");
            assert_eq!(
                (m.is_binary(), m.as_bytes()),
                (true, &raw[..]),
                "raw bytes kept"
            );
        }
        assert_eq!(next().as_text(), Some("{\"ok\":1}"), "connection goes on");
        assert_eq!(c.stats().undecoded, 2);
        assert!(c.is_connected());
    });
}

#[test]
fn inflate_bomb_is_refused_at_maxsize() {
    within(ms(15_000), || {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        e.write_all(&vec![b'0'; 32 << 20]).unwrap();
        let bomb = e.finish().unwrap();
        let srv = binary_sender(vec![bomb.clone()]);
        let c = wsdial::dial(&srv.url("/|compress=gzip&maxsize=1048576")).unwrap();
        let m = c.read_timeout(ms(10_000)).unwrap().into_message().unwrap();
        assert!(m.decode_error().unwrap().contains("maxsize"), "{m:?}");
        assert_eq!(m.len(), bomb.len());
        c.write("still alive");
        assert_eq!(text(&c.read_timeout(ms(5000)).unwrap()), "still alive");
    });
}

#[test]
fn send_mode_compresses_outbound_as_binary() {
    within(ms(10_000), || {
        for (name, mode) in [
            ("gzip", "send"),
            ("zlib", "dual"),
            ("deflate", "send"),
            ("gzip_raw", "dual"),
        ] {
            let (tx, rx) = mpsc::channel::<WsMsg>();
            let srv = Server::ws(move |mut ws, _| {
                while let Some(m) = next_data(&mut ws) {
                    tx.send(m).unwrap();
                }
            });
            let c = wsdial::dial(&srv.url(&format!("/|compress={name}&mode={mode}&payload=sub-1")))
                .unwrap();
            c.write("order-1");
            for want in ["sub-1", "order-1"] {
                let m = rx.recv_timeout(ms(5000)).unwrap();
                let WsMsg::Binary(b) = m else {
                    panic!("{name}/{mode}: expected binary, got {m:?}")
                };
                let mut codec_out = Vec::new();
                let mut r: Box<dyn std::io::Read> = match name {
                    "gzip" => Box::new(flate2::read::GzDecoder::new(&b[..])),
                    "zlib" => Box::new(flate2::read::ZlibDecoder::new(&b[..])),
                    _ => Box::new(flate2::read::DeflateDecoder::new(&b[..])),
                };
                r.read_to_end(&mut codec_out).unwrap();
                assert_eq!(codec_out, want.as_bytes(), "{name}/{mode}");
            }
        }
    });
}

#[test]
fn auto_cannot_be_used_for_sending() {
    let e = wsdial::dial("ws://127.0.0.1:1/|compress=auto&mode=dual").unwrap_err();
    assert_eq!(
        (e.kind(), e.key()),
        (wsdial::ErrorKind::Address, Some("compress"))
    );
}

#[test]
fn huobi_style_gzip_session_with_ping_heartbeats() {
    within(ms(15_000), || {
        // A Huobi-like server: gzip binary frames, `{"ping": n}` heartbeats, and a
        // client that does not answer `{"pong": n}` before the next ping is dropped.
        let (tx, rx) = mpsc::channel::<String>();
        let srv = Server::ws(move |mut ws, _| {
            let gz = |s: String| {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(s.as_bytes()).unwrap();
                WsMsg::Binary(e.finish().unwrap().into())
            };
            let sub = next_data(&mut ws).unwrap().into_text().unwrap();
            tx.send(sub.as_str().to_owned()).unwrap();
            for n in 0..5u64 {
                for k in 0..20 {
                    ws.send(gz(format!(
                        r#"{{"ch":"market.btcusdt.ticker","tick":{{"close":{}}}}}"#,
                        37000 + n * 20 + k
                    )))
                    .unwrap();
                }
                ws.send(gz(format!(r#"{{"ping":{}}}"#, 1000 + n))).unwrap();
                let pong = next_data(&mut ws).unwrap().into_text().unwrap();
                if pong.as_str() != format!(r#"{{"pong":{}}}"#, 1000 + n) {
                    return; // drop the client
                }
            }
            ws.send(gz(r#"{"status":"done"}"#.into())).unwrap();
            until_closed(&mut ws);
        });
        let c = wsdial::dial(&srv.url(
            r#"/ws|compress=gzip&mode=recv&payload={"sub":"market.btcusdt.ticker","id":"id1"}"#,
        ))
        .unwrap();
        assert_eq!(
            rx.recv_timeout(ms(5000)).unwrap(),
            r#"{"sub":"market.btcusdt.ticker","id":"id1"}"#
        );
        let mut closes = Vec::new();
        loop {
            let ev = c.read_timeout(ms(5000)).expect("server keeps talking");
            let t = text(&ev);
            let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_else(|_| panic!("{t}"));
            if let Some(n) = v.get("ping") {
                c.write(&format!(r#"{{"pong":{n}}}"#));
            } else if v.get("status").is_some() {
                break;
            } else {
                closes.push(v["tick"]["close"].as_u64().unwrap());
            }
        }
        assert_eq!(
            closes,
            (37000..37100).collect::<Vec<u64>>(),
            "every tick, in order"
        );
        assert!(c.is_connected());
    });
}
