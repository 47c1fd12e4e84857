//! `wsdial ADDRESS` with `nats://` and `amqp://` against real servers
//! (nats-server per test; the suite's RabbitMQ, see tests/common/amqp.rs), and
//! the library's examples `nats` and `amqp` run against them.
#[path = "../../tests/common/amqp.rs"]
mod amqp;
#[path = "../../tests/common/nats.rs"]
mod nats;
mod support;
use std::process::{Command, Output};
use std::time::Duration;
use support::{bin, example, run_stdin_open as run};

fn lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn nats_send_flags_then_stdin_lines_and_n() {
    let server = nats::Nats::start();
    let mut c = bin();
    // NATS hands our own publications to our subscription: what we send is what we read.
    c.args([
        &server.url("cli.lines"),
        "--send",
        "first",
        "--send",
        "{\"a\":\"b=c&d\"}",
        "-n",
        "4",
    ]);
    let o = run(
        c,
        Some("from stdin 1\nfrom stdin 2\n"),
        Duration::from_secs(20),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        lines(&o),
        ["first", "{\"a\":\"b=c&d\"}", "from stdin 1", "from stdin 2"]
    );
}

#[test]
fn nats_prints_what_nats_py_publishes_and_exits_1_on_wrong_credentials() {
    let server = nats::Nats::start();
    let url = server.url("cli.feed");
    let reader = std::thread::spawn(move || {
        let mut c = bin();
        c.args([&url, "-n", "50", "--no-stdin", "--stats"]);
        run(c, None, Duration::from_secs(30))
    });
    // Publish until the reader is subscribed and has all 50 of one batch.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !reader.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "wsdial printed no 50 lines"
        );
        assert!(nats::PyNats::run(&server, &["pub", "cli.feed", "50", "m"]).wait());
    }
    let o = reader.join().unwrap();
    assert!(o.status.success(), "{o:?}");
    let got = lines(&o);
    assert_eq!(got.len(), 50);
    let first: usize = got[0][1..].parse().unwrap();
    assert_eq!(first, 0, "a batch read whole, from its start: {got:?}");
    for (i, l) in got.iter().enumerate() {
        assert_eq!(l, &format!("m{i}"));
    }

    let mut c = bin();
    c.args([
        &format!(
            "nats://{}:wrong@127.0.0.1:{}?topic=x",
            nats::USER,
            server.port
        ),
        "--no-stdin",
    ]);
    let o = run(c, None, Duration::from_secs(20));
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .to_lowercase()
            .contains("auth"),
        "{o:?}"
    );
}

#[test]
fn amqp_send_flags_then_stdin_lines_and_the_examples() {
    let r = amqp::Rabbit::get();
    let q = format!("wsdial-cli-{}-{}", std::process::id(), amqp::free_port());
    let mut c = bin();
    // The connection consumes the queue it publishes to: it reads back what it sends.
    c.args([&r.url(&q), "--send", "first", "-n", "3"]);
    let o = run(
        c,
        Some("from stdin 1\nfrom stdin 2\n"),
        Duration::from_secs(30),
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(lines(&o), ["first", "from stdin 1", "from stdin 2"]);

    let o = run_example("amqp", &[&r.url(&format!("{q}-example")), "3"]);
    assert!(o.status.success(), "{o:?}");
    let out = lines(&o);
    assert_eq!(
        out[..3],
        [
            format!("{q}-example order 0"),
            format!("{q}-example order 1"),
            format!("{q}-example order 2")
        ]
    );
    assert_eq!(out[3], "received 3 sent 3 dropped 0");

    let server = nats::Nats::start();
    let o = run_example("nats", &[&server.url("demo.ticks"), "3"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        lines(&o),
        [
            "demo.ticks tick 0",
            "demo.ticks tick 1",
            "demo.ticks tick 2",
            "received 3 sent 3 dropped 0"
        ]
    );
}

fn run_example(name: &str, args: &[&str]) -> Output {
    let mut c = Command::new(example(name));
    c.args(args);
    run(c, None, Duration::from_secs(60))
}
