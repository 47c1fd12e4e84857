//! `mqtt://` and `mqtts://`: the address (always compiled) and the client
//! (cargo feature `mqtt`: `rumqttc`'s blocking `Client`, MQTT 3.1.1).
//!
//! `mqtt://[user:pass@]host[:1883]?topic=T[&qos=0|1|2][&client_id=ID][&consume=true|false]`;
//! `mqtts://` is the same over TLS (port 8883, with `ca=` and `insecure=`).
//! The topic is subscribed at every connect (clean session) with `qos`, and
//! written messages are published to it with the same `qos` (not retained).
//! A topic with a wildcard (`+` a level, `#` the rest) is read only: it names
//! no topic to publish to, so a write returns 0. `consume=false` makes a
//! connection that only publishes: the topic is not subscribed (a broker
//! sends a client its own publications when it is subscribed to them), so a
//! read never returns a message, only a `Disconnected`; with a wildcard
//! topic it would do nothing at all, and is refused.
//!
//! `rumqttc` runs its own current-thread tokio runtime inside its
//! `Connection`; the driver's thread is the only one that polls it, so a
//! program that has a tokio runtime of its own can dial and read as usual.

use percent_encoding::percent_decode_str;

use crate::address::{Scheme, Target};
use crate::error::Error;
use crate::options::Options;

use super::Protocol;

/// The longest topic or client id MQTT can carry (a 16-bit length).
const MAX_STRING: usize = 65_535;

/// An MQTT address, read and checked.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct MqttAddress {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) user: Option<String>,
    pub(super) password: Option<String>,
    pub(super) topic: String,
    pub(super) qos: u8,
    pub(super) client_id: Option<String>,
    /// Whether the topic is subscribed (`consume=`, default true).
    pub(super) consume: bool,
}

const FORM: &str = "mqtt://[user:pass@]host[:1883]?topic=T[&qos=0|1|2][&client_id=ID][&consume=true|false] (mqtts:// the same, port 8883)";

fn bad(url: &str, what: impl std::fmt::Display) -> Error {
    Error::address(None, format!("`{url}`: {what}; an MQTT address is {FORM}"))
}

/// Reads a `mqtt://` or `mqtts://` address.
pub(super) fn parse(scheme: Scheme, url: &str) -> Result<MqttAddress, Error> {
    let parsed = url::Url::parse(url).map_err(|e| bad(url, format!("not a valid URL ({e})")))?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| bad(url, "no host"))?
        .trim_matches(['[', ']'])
        .to_owned();
    let port = parsed.port().unwrap_or(match scheme {
        Scheme::Mqtts => 8883,
        _ => 1883,
    });
    if port == 0 {
        return Err(bad(url, "port 0 is not a port"));
    }
    if !matches!(parsed.path(), "" | "/") {
        return Err(bad(
            url,
            format!(
                "the path `{}` means nothing to MQTT: the topic goes in `?topic=`",
                parsed.path()
            ),
        ));
    }
    if parsed.fragment().is_some() {
        return Err(bad(
            url,
            "a `#` fragment: write a `#` wildcard as `%23` in `topic=`",
        ));
    }
    let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
    let user = Some(decode(parsed.username())).filter(|u| !u.is_empty());
    let password = parsed.password().map(decode);
    if password.is_some() && user.is_none() {
        return Err(bad(url, "a password without a user name"));
    }
    let (mut topic, mut qos, mut client_id, mut consume) = (None, 0u8, None, true);
    // Not `query_pairs`: form encoding reads `+` as a space, and `+` is
    // MQTT's one-level wildcard. Only `%XX` is decoded.
    let pairs = parsed
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty());
    for pair in pairs {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k), decode(v));
        match k.as_str() {
            "topic" if topic.is_some() => return Err(bad(url, "`topic` given twice")),
            "topic" => topic = Some(v),
            "qos" => {
                qos = match &*v {
                    "0" => 0,
                    "1" => 1,
                    "2" => 2,
                    _ => return Err(bad(url, format!("qos `{v}`: it is 0, 1 or 2"))),
                }
            }
            "client_id" if v.is_empty() || v.len() > MAX_STRING => {
                return Err(bad(url, "client_id is 1 to 65535 bytes"))
            }
            "client_id" => client_id = Some(v),
            "consume" => {
                consume = match &*v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => {
                        return Err(bad(
                            url,
                            format!(
                        "consume=`{v}` is not a boolean; accepted: consume=true or consume=false"
                    ),
                        ))
                    }
                }
            }
            other => {
                return Err(bad(
                    url,
                    format!(
                        "unknown query parameter `{other}` (known: topic, qos, client_id, consume)"
                    ),
                ))
            }
        }
    }
    let topic = topic.ok_or_else(|| bad(url, "no topic: add `?topic=T`"))?;
    check_topic(&topic).map_err(|e| bad(url, format!("topic `{topic}`: {e}")))?;
    if !consume && is_wildcard(&topic) {
        return Err(bad(
            url,
            format!("consume=false with the wildcard topic `{topic}`: it could neither read nor publish"),
        ));
    }
    Ok(MqttAddress {
        host,
        port,
        user,
        password,
        topic,
        qos,
        client_id,
        consume,
    })
}

/// A topic filter as MQTT 3.1.1 (4.7) allows it: not empty, no NUL, `+` a
/// whole level, `#` a whole level and the last.
fn check_topic(t: &str) -> Result<(), &'static str> {
    if t.is_empty() {
        return Err("it is empty");
    }
    if t.len() > MAX_STRING {
        return Err("it is longer than 65535 bytes");
    }
    if t.contains('\0') {
        return Err("it contains a NUL character");
    }
    let levels: Vec<&str> = t.split('/').collect();
    for (i, l) in levels.iter().enumerate() {
        if l.contains('#') && (*l != "#" || i + 1 != levels.len()) {
            return Err("`#` must be a whole level and the last one (`a/#`)");
        }
        if l.contains('+') && *l != "+" {
            return Err("`+` must be a whole level (`a/+/c`)");
        }
    }
    Ok(())
}

/// True when `topic` has a wildcard: it can be read, not published to.
pub(super) fn is_wildcard(topic: &str) -> bool {
    topic.contains(['+', '#'])
}

/// Checks a `mqtt://` address; its host and port.
pub(super) fn endpoint(scheme: Scheme, url: &str) -> Result<(String, u16), Error> {
    parse(scheme, url).map(|a| (a.host, a.port))
}

/// The protocol for `target`, or `Unsupported` naming the feature.
#[cfg(not(feature = "mqtt"))]
pub(super) fn protocol(target: &Target, _options: &Options) -> Result<Box<dyn Protocol>, Error> {
    Err(super::feature_off(target.scheme(), "mqtt"))
}

/// The protocol for `target`.
#[cfg(feature = "mqtt")]
pub(super) fn protocol(target: &Target, options: &Options) -> Result<Box<dyn Protocol>, Error> {
    client::protocol(target, options)
}

#[cfg(feature = "mqtt")]
mod client;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn p(url: &str) -> Result<MqttAddress, Error> {
        parse(Scheme::Mqtt, url)
    }

    #[test]
    fn reads_every_part() {
        let a = parse(
            Scheme::Mqtt,
            "mqtt://bob:p%40ss@127.0.0.1:1884?topic=a/%2B/c&qos=2&client_id=me",
        )
        .unwrap();
        assert_eq!(
            a,
            MqttAddress {
                host: "127.0.0.1".into(),
                port: 1884,
                user: Some("bob".into()),
                password: Some("p@ss".into()),
                topic: "a/+/c".into(),
                qos: 2,
                client_id: Some("me".into()),
                consume: true,
            }
        );
        assert!(!p("mqtt://h?topic=t&consume=false").unwrap().consume);
        assert!(p("mqtt://h?topic=t&consume=1").unwrap().consume);
        assert_eq!(p("mqtt://h?topic=t").unwrap().port, 1883);
        assert_eq!(
            parse(Scheme::Mqtts, "mqtts://h/?topic=t").unwrap().port,
            8883
        );
        assert_eq!(p("mqtt://[::1]?topic=t").unwrap().host, "::1");
        assert_eq!(p("mqtt://h?topic=a/%23").unwrap().topic, "a/#");
        assert_eq!(
            p("mqtt://h?topic=a/+/c").unwrap().topic,
            "a/+/c",
            "+ is no space"
        );
        assert_eq!(p("mqtt://h?topic=a%20b").unwrap().topic, "a b");
        assert!(is_wildcard("a/#") && is_wildcard("+") && !is_wildcard("a/b"));
    }

    #[test]
    fn bad_addresses_say_what_is_accepted() {
        for (url, says) in [
            ("mqtt://h", "no topic"),
            ("mqtt://h?topic=", "empty"),
            ("mqtt://h?topic=a&topic=b", "twice"),
            ("mqtt://h?topic=a/b#", "fragment"),
            (
                "mqtt://h?topic=a/%23/b",
                "`#` must be a whole level and the last",
            ),
            ("mqtt://h?topic=a%23", "`#` must be a whole level"),
            ("mqtt://h?topic=a/b%2B", "`+` must be a whole level"),
            ("mqtt://h?topic=t&qos=3", "0, 1 or 2"),
            ("mqtt://h?topic=t&qos=", "0, 1 or 2"),
            ("mqtt://h?topic=t&qos", "0, 1 or 2"),
            (
                "mqtt://h?topic=t&client_id=",
                "client_id is 1 to 65535 bytes",
            ),
            (
                "mqtt://h?topic=t&retain=1",
                "unknown query parameter `retain`",
            ),
            ("mqtt://h/sensors?topic=t", "path `/sensors`"),
            (
                "mqtt://h?topic=t&consume=no",
                "accepted: consume=true or consume=false",
            ),
            (
                "mqtt://h?topic=a/%23&consume=false",
                "neither read nor publish",
            ),
            ("mqtt://:pw@h?topic=t", "without a user"),
            ("mqtt://h:0?topic=t", "port 0"),
            ("mqtt://?topic=t", "host"),
        ] {
            let e = p(url).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Address, "{url}");
            let m = e.to_string();
            assert!(m.contains(says), "{url}: {m}");
            assert!(
                m.contains("mqtt://[user:pass@]host[:1883]?topic=T"),
                "{url}: {m}"
            );
        }
    }
}
