//! A misspelled option is reported, not swallowed into the value before it
//! (issue 19, defect 3). Values that cannot contain `&name=` (paths, numbers,
//! words, the proxy URL) end at one, so the misspelled key is an error with its
//! suggestion; free text (`payload`, `header`, `ping_msg`) keeps its `&`s, and a
//! near miss of a known key inside it is a warning.
use wsdial::{Address, ErrorKind};

/// The address fails, naming `key`, and the message contains `text`.
fn refused(address: &str, key: &str, text: &str) {
    match Address::parse(address) {
        Ok(a) => panic!("{address} parsed: {:?}", a.options()),
        Err(e) => {
            assert_eq!(
                (e.kind(), e.key()),
                (ErrorKind::Address, Some(key)),
                "{address}: {e}"
            );
            assert!(
                e.to_string().contains(text),
                "{address}: `{e}` lacks `{text}`"
            );
        }
    }
}

#[test]
fn a_misspelled_key_after_a_path_is_an_error() {
    refused(
        "wss://x/ws|ca=/tmp/ca.pem&crt=/tmp/c.pem",
        "crt",
        "did you mean `cert`",
    );
    refused(
        "wss://x/ws|ca=/tmp/ca.pem&reconect=true",
        "reconect",
        "did you mean `reconnect`",
    );
}

#[test]
fn a_misspelled_key_after_a_proxy_url_is_an_error() {
    refused(
        "wss://x/ws|proxy=socks5://127.0.0.1:1080&compres=gzip",
        "compres",
        "did you mean `compress`",
    );
}

#[test]
fn a_misspelled_key_after_a_number_or_word_is_an_error() {
    refused(
        "wss://x/ws|reconnect=true&compres=gzip",
        "compres",
        "did you mean `compress`",
    );
    refused(
        "wss://x/ws|qsize=10&qbyts=100",
        "qbyts",
        "did you mean `qbytes`",
    );
}

#[test]
fn a_misspelled_key_after_complete_json_text_is_an_error() {
    refused(
        r#"wss://x/ws|payload={"op":"sub"}&reconect=true"#,
        "reconect",
        "did you mean `reconnect`",
    );
    refused(
        r#"wss://x/ws|ping=5000&ping_msg={"op":"ping"}&reconect=true"#,
        "reconect",
        "did you mean `reconnect`",
    );
}

#[test]
fn an_ampersand_that_is_not_a_key_stays_in_a_path() {
    let a = Address::parse("wss://x/ws|ca=/tmp/a&b.pem&reconnect=true").unwrap();
    let o = a.options();
    assert_eq!(o.ca.as_deref(), Some(std::path::Path::new("/tmp/a&b.pem")));
    assert!(o.reconnect);
    // `&name=` inside a path is written %26
    let o = Address::parse("wss://x/ws|ca=/tmp/a%26b=c.pem")
        .unwrap()
        .options();
    assert_eq!(
        o.ca.as_deref(),
        Some(std::path::Path::new("/tmp/a&b=c.pem"))
    );
}

#[test]
fn a_proxy_password_with_ampersand_is_percent_encoded() {
    let o = Address::parse("wss://x/ws|proxy=socks5://u:p%26q=1@127.0.0.1:1080&reconnect=true")
        .unwrap()
        .options();
    let p = o.proxy.unwrap();
    assert_eq!((p.user(), p.password()), (Some("u"), Some("p&q=1")));
    assert!(o.reconnect);
}

#[test]
fn free_text_keeps_its_ampersands() {
    let o = Address::parse("wss://x/ws|payload=abc&compres=gzip")
        .unwrap()
        .options();
    assert_eq!(o.payloads, ["abc&compres=gzip"]);
    let o = Address::parse("wss://x/ws|ping=1000&ping_msg=a&b=c")
        .unwrap()
        .options();
    assert_eq!(o.ping_msg.as_deref(), Some("a&b=c"));
    let o = Address::parse("wss://x/ws|header=X-Q: a&b=c&reconnect=true")
        .unwrap()
        .options();
    assert_eq!(o.headers, [("X-Q".to_string(), "a&b=c".to_string())]);
    assert!(o.reconnect);
}

/// The near misses an address carries, as (option, word, suggestion).
fn near_misses(address: &str) -> Vec<(&'static str, String, &'static str)> {
    Address::parse(address)
        .unwrap_or_else(|e| panic!("{address}: {e}"))
        .warnings()
        .iter()
        .map(|w| match w {
            wsdial::Warning::NearMissInText {
                option,
                word,
                suggestion,
                ..
            } => (*option, word.clone(), *suggestion),
            other => panic!("{address}: unexpected warning {other}"),
        })
        .collect()
}

#[test]
fn a_near_miss_inside_free_text_is_a_warning() {
    let w = |o, word: &str, s| vec![(o, word.to_string(), s)];
    assert_eq!(
        near_misses("wss://x/ws|payload=x&reconect=true"),
        w("payload", "reconect", "reconnect")
    );
    assert_eq!(
        near_misses("wss://x/ws|payload=abc&compres=gzip"),
        w("payload", "compres", "compress")
    );
    assert_eq!(
        near_misses("wss://x/ws|header=X-A: 1&qsze=5"),
        w("header", "qsze", "qsize")
    );
    assert_eq!(
        near_misses("wss://x/ws|ping=5&pingMessage=hi&ping_mgs=x"),
        w("ping_msg", "ping_mgs", "ping_msg")
    );
    // the warning names the option it nearly spells, by its canonical key
    assert_eq!(
        near_misses("wss://x/ws|payload=x&pingIntervl=5"),
        w("payload", "pingIntervl", "ping")
    );
    let a = Address::parse("wss://x/ws|payload=x&reconect=true").unwrap();
    let text = a.warnings()[0].to_string();
    assert!(text.contains("did you mean `reconnect`"), "{text}");
}

#[test]
fn free_text_without_a_near_miss_has_no_warning() {
    for address in [
        r#"wss://x/ws|payload={"u":"https://a/b?x=1&y=2"}&reconnect=true"#,
        "wss://x/ws|payload=a&b=1&id=2&page=3&reconnect=true",
        "wss://x/ws|payload=a%26reconect%3Dtrue",
        "wss://x/ws|payload=x & y",
        "wss://x/ws|reconnect=true",
    ] {
        assert_eq!(near_misses(address), [], "{address}");
    }
}

/// Records the `warn` lines logged in this test binary.
struct Recorder(std::sync::Mutex<Vec<String>>);

impl log::Log for Recorder {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static RECORDER: Recorder = Recorder(std::sync::Mutex::new(Vec::new()));

#[test]
fn a_dial_logs_the_warning() {
    log::set_logger(&RECORDER).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    // nothing listens on port 1: the dial fails after its checks, which log
    // (with a password in the URL, which no line shows)
    let e = wsdial::dial("ws://alice:s3cret@127.0.0.1:1/|payload=x&reconect=true").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
    let lines = RECORDER.0.lock().unwrap();
    assert!(
        lines.iter().all(|l| !l.contains("s3cret")) && !e.to_string().contains("s3cret"),
        "{lines:?} {e}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("`&reconect=`") && l.contains("did you mean `reconnect`")),
        "{lines:?}"
    );
}
