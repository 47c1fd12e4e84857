//! `wsdial parse ADDRESS`: how an address is read, as JSON.

use serde_json::{json, Value};
use wsdial::{Address, OptionValue, Options};

/// Every option with its effective value (defaults included), keyed by its
/// canonical name, in the order of the library's option table.
pub fn options_json(o: &Options) -> Value {
    let map: serde_json::Map<String, Value> = o
        .entries()
        .map(|(key, v)| (key.to_owned(), value_json(v)))
        .collect();
    Value::Object(map)
}

fn value_json(v: OptionValue) -> Value {
    match v {
        OptionValue::Unset => Value::Null,
        OptionValue::Bool(b) => json!(b),
        OptionValue::Number(n) => json!(n),
        OptionValue::Text(t) => json!(t),
        OptionValue::List(l) => json!(l),
        OptionValue::Proxy(p) => json!({
            "scheme": p.scheme(), "host": p.host(), "port": p.port(),
            "user": p.user(), "password": p.password().map(|_| "***"),
        }),
        other => json!(format!("{other:?}")),
    }
}

/// The URL of `address` as the command line prints it: every password in it
/// written `***` ([`wsdial::Target::masked_url`]); the options, which may hold
/// a proxy's password, left out. An address that does not parse is not shown
/// (it could hold a password in a form that was not read).
pub fn shown(address: &str) -> String {
    match Address::parse(address) {
        Ok(a) => a.target().masked_url(),
        Err(_) => "(an address that does not parse)".into(),
    }
}

/// Prints how `address` is read (the URL with its password masked, every
/// option, the warnings); status 2 when it is refused.
pub fn run(address: &str) -> anyhow::Result<u8> {
    match Address::parse(address) {
        Ok(a) => {
            let t = a.target();
            let warnings: Vec<String> = a.warnings().iter().map(ToString::to_string).collect();
            for w in &warnings {
                eprintln!("wsdial: warning: {w}");
            }
            let out = json!({
                "target": {"scheme": t.scheme().as_str(), "url": t.masked_url(), "host": t.host(), "port": t.port(), "publish_only": t.publish_only()},
                "options": options_json(&a.options()),
                "warnings": warnings,
            });
            outln!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
        Err(e) => {
            eprintln!("wsdial: {e}");
            Ok(2)
        }
    }
}
