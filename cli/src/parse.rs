//! `wsdial parse ADDRESS`: how an address is read, as JSON.

use serde_json::{json, Value};
use wsdial::{Address, Options};

fn ms(d: std::time::Duration) -> Value {
    json!(d.as_millis() as u64)
}

/// Every option with its effective value (defaults included).
pub fn options_json(o: &Options) -> Value {
    json!({
        "compress": o.compress.map(|c| c.as_str()),
        "mode": o.mode.as_str(),
        "reconnect": o.reconnect,
        "interval": ms(o.interval),
        "max_interval": ms(o.max_interval.unwrap_or(o.interval)),
        "retry": o.retry,
        "payload": o.payloads,
        "proxy": o.proxy.as_ref().map(|p| json!({
            "scheme": p.scheme(), "host": p.host(), "port": p.port(),
            "user": p.user(), "password": p.password().map(|_| "***"),
        })),
        "header": o.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect::<Vec<_>>(),
        "protocol": o.protocols,
        "insecure": o.insecure,
        "ca": o.ca.as_ref().map(|p| p.display().to_string()),
        "ping": o.ping.map_or(json!(0), ms),
        "ping_msg": o.ping_msg,
        "idle": o.idle.map_or(json!(0), ms),
        "qsize": o.qsize,
        "qbytes": o.qbytes,
        "maxsize": o.maxsize,
        "timeout": ms(o.timeout),
        "local_ip": o.local_ip.map(|ip| ip.to_string()),
        "enableCompression": o.enable_compression,
    })
}

pub fn run(address: &str) -> anyhow::Result<u8> {
    match Address::parse(address) {
        Ok(a) => {
            let t = a.target();
            let out = json!({
                "target": {"scheme": t.scheme().as_str(), "url": t.url(), "host": t.host(), "port": t.port()},
                "options": options_json(&a.options()),
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
            Ok(0)
        }
        Err(e) => {
            eprintln!("wsdial: {e}");
            Ok(2)
        }
    }
}
