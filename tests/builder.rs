//! The `Dialer` setters and the address string accept and refuse the same
//! values (issue 13): a value the string refuses makes the builder's dial fail
//! with the same typed error, before any connection is tried, and a value both
//! accept sets the same option.
use std::time::Duration;
use wsdial::{Address, Dialer, ErrorKind};

/// Nothing listens here: a dial that got past its checks would fail with a
/// `Tcp` error instead of the `Address` error these tests want.
const TARGET: &str = "ws://127.0.0.1:1/";

#[test]
fn a_value_the_address_refuses_the_builder_refuses_with_the_same_error() {
    let cases: Vec<(Dialer, &str)> = vec![
        (Dialer::new().qsize(0), "qsize=0"),
        (Dialer::new().qbytes(0), "qbytes=0"),
        (Dialer::new().maxsize(0), "maxsize=0"),
        (Dialer::new().timeout(Duration::ZERO), "timeout=0"),
        (Dialer::new().header("Bad Name", "v"), "header=Bad Name: v"),
        (Dialer::new().protocols(["a", ""]), "protocol=a,"),
        (Dialer::new().ca(""), "ca="),
    ];
    for (dialer, option) in cases {
        let from_string = wsdial::dial(&format!("{TARGET}|{option}")).unwrap_err();
        let from_builder = dialer.dial(TARGET).unwrap_err();
        assert_eq!(
            from_string.kind(),
            ErrorKind::Address,
            "{option}: {from_string}"
        );
        assert_eq!(
            (from_builder.kind(), from_builder.key()),
            (from_string.kind(), from_string.key()),
            "{option}: builder said `{from_builder}`, string said `{from_string}`"
        );
        assert_eq!(
            from_builder.to_string(),
            from_string.to_string(),
            "{option}"
        );
    }
}

#[test]
fn a_refused_setting_is_reported_by_try_options_for_and_left_out_by_options_for() {
    let a = Address::parse(TARGET).unwrap();
    let d = Dialer::new().qsize(0).retry(3);
    let e = d.try_options_for(&a).unwrap_err();
    assert_eq!((e.kind(), e.key()), (ErrorKind::Address, Some("qsize")));
    assert!(e.to_string().contains("at least 1"), "{e}");
    let o = d.options_for(&a);
    assert_eq!((o.qsize, o.retry), (2000, 3));
}

#[test]
fn the_address_still_wins_over_a_refused_builder_setting_only_at_dial() {
    // The string's valid qsize does not excuse the builder's invalid one: the
    // program asked for qsize 0, which is a bug to report.
    let e = Dialer::new()
        .qsize(0)
        .dial(&format!("{TARGET}|qsize=5"))
        .unwrap_err();
    assert_eq!(e.key(), Some("qsize"));
}

#[test]
fn every_setter_sets_the_option_its_key_names() {
    let builder = Dialer::new()
        .timeout(Duration::from_millis(1500))
        .header("X-Api-Key", "k=1")
        .payload("a")
        .reconnect(true)
        .interval(Duration::from_millis(250))
        .max_interval(Duration::from_millis(8000))
        .retry(7)
        .qsize(10)
        .qbytes(1000)
        .maxsize(2000)
        .ping(Duration::from_millis(5000))
        .ping_msg("ping")
        .idle(Duration::from_millis(30000))
        .protocols(["a", "b"])
        .insecure(true)
        .ca("/tmp/ca.pem")
        .proxy(wsdial::Proxy::parse("socks5://127.0.0.1:1080").unwrap())
        .compress(wsdial::Compression::Deflate)
        .mode(wsdial::Mode::Dual)
        .options_for(&Address::parse("wss://h/").unwrap());
    let string = Address::parse(
        "wss://h/|timeout=1500&header=X-Api-Key: k=1&payload=a&reconnect=true&interval=250\
         &max_interval=8000&retry=7&qsize=10&qbytes=1000&maxsize=2000&ping=5000&ping_msg=ping\
         &idle=30000&protocol=a,b&insecure=true&ca=/tmp/ca.pem&proxy=socks5://127.0.0.1:1080\
         &compress=deflate&mode=dual",
    )
    .unwrap()
    .options();
    let builder: Vec<_> = builder.entries().collect();
    let string: Vec<_> = string.entries().collect();
    assert_eq!(builder, string);
    // local_ip cannot go with proxy above; on its own it agrees too
    let ip = "127.0.0.1".parse().unwrap();
    let a = Address::parse("ws://h/").unwrap();
    assert_eq!(
        Dialer::new().local_ip(ip).options_for(&a),
        Address::parse("ws://h/|local_ip=127.0.0.1")
            .unwrap()
            .options()
    );
}

#[test]
fn zero_turns_ping_and_idle_off_from_both() {
    let a = Address::parse(TARGET).unwrap();
    let o = Dialer::new()
        .ping(Duration::ZERO)
        .idle(Duration::ZERO)
        .try_options_for(&a)
        .unwrap();
    assert_eq!((o.ping, o.idle), (None, None));
    assert_eq!(
        o,
        Address::parse(&format!("{TARGET}|ping=0&idle=0"))
            .unwrap()
            .options()
    );
}
