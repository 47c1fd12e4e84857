//! Addresses as they may be shown: every password written `***`
//! ([`Target::masked_url`](super::Target::masked_url)).

use super::Scheme;

/// `url` (of `scheme`) with every password it holds written `***`.
///
/// A database address is masked by the database module's rule, which knows
/// each of their forms (libpq's `password=` keyword, Go's
/// `user:pw@tcp(host)`, a `?password=` query parameter). Any other address
/// has its password, if any, in the URL's user info (`user:pw@host`): by the
/// URL rules that is up to the last `@` before the first `/`, `?` or `#`.
/// When an `@` also comes later and the URL does not parse the way that rule
/// reads it (a raw `/` or `#` in a password, which the URL rules do not
/// allow, or Kafka's list of brokers), everything up to the last `@` is taken
/// as user info: more may be hidden, never the password.
pub(crate) fn masked(scheme: Scheme, url: &str) -> String {
    if scheme.is_database() {
        return crate::db::masked(url);
    }
    let Some((prefix, after)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (exact, has_password) = match after[..end].rfind('@') {
        Some(at) => match after[..at].split_once(':') {
            Some((user, _)) => (format!("{prefix}://{user}:***{}", &after[at..]), true),
            None => (url.to_owned(), false),
        },
        None => (url.to_owned(), false),
    };
    if !after[end..].contains('@') {
        return exact;
    }
    match url::Url::parse(url) {
        Ok(u) if u.password().is_some() == has_password => exact,
        _ => crate::db::masked(url),
    }
}

#[cfg(test)]
mod tests {
    use super::masked;
    use crate::address::{Scheme, Target};

    /// Every form of issue 15/16: what `wsdial parse` printed, and what it
    /// must print instead.
    #[test]
    fn every_password_form_is_masked() {
        for (url, shown) in [
            // user info: brokers
            (
                "mqtt://alice:s3cret@127.0.0.1:1883?topic=a/b",
                "mqtt://alice:***@127.0.0.1:1883?topic=a/b",
            ),
            (
                "mqtts://alice:s3c%40ret@h?topic=t",
                "mqtts://alice:***@h?topic=t",
            ),
            (
                "nats://bob:s3cret@127.0.0.1:4222?topic=orders.eu",
                "nats://bob:***@127.0.0.1:4222?topic=orders.eu",
            ),
            (
                "amqp://guest:s3cret@127.0.0.1:5672/%2F?queue=q",
                "amqp://guest:***@127.0.0.1:5672/%2F?queue=q",
            ),
            (
                "amqps://u:s3cret@[::1]/prod?queue=q&consume=false",
                "amqps://u:***@[::1]/prod?queue=q&consume=false",
            ),
            (
                "kafka://al%40ice:s3cret@h1:9092,h2:9093/ticks?mechanism=plain",
                "kafka://al%40ice:***@h1:9092,h2:9093/ticks?mechanism=plain",
            ),
            // a raw `@` in the password (Kafka reads up to the last `@`)
            ("kafka://u:s3c@ret@h/t", "kafka://u:***@h/t"),
            // a raw `#` in the password (Kafka's own reading allows it)
            ("kafka://u:s3#cret@h/t", "kafka://u:***@h/t"),
            // databases: user info, libpq keywords, Go's mysql, a query
            (
                "postgres://u:s3cret@h:5432/d?sslmode=disable",
                "postgres://u:***@h:5432/d?sslmode=disable",
            ),
            (
                "postgres://host=h user=u password=s3cret dbname=d",
                "postgres://host=h user=u password=*** dbname=d",
            ),
            (
                "mysql://u:s3cret@tcp(127.0.0.1:3306)/d",
                "mysql://u:***@tcp(127.0.0.1:3306)/d",
            ),
            (
                "clickhouse://h:8123?user=u&password=s3cret&database=d",
                "clickhouse://h:8123?user=u&password=***&database=d",
            ),
            (
                "clickhouse://tcp://h:9000?password=s3cret",
                "clickhouse://tcp://h:9000?password=***",
            ),
            // sockets
            (
                "wss://u:s3cret@h/ws?email=a@b.c",
                "wss://u:***@h/ws?email=a@b.c",
            ),
        ] {
            let t = Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(t.masked_url(), shown, "{url}");
            assert!(!t.masked_url().contains("s3c"), "{url}");
        }
    }

    #[test]
    fn an_address_without_a_password_is_shown_as_written() {
        for url in [
            "mqtt://h:1883?topic=a@b",
            "nats://bob@h?topic=x",
            "kafka://h1,h2/t?group=a@b",
            "wss://h:443/ws?email=a@b.c:d",
            "tcp://127.0.0.1:9000",
            "sqlite3:///tmp/x.db",
        ] {
            let t = Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(t.masked_url(), url);
        }
    }

    #[test]
    fn a_password_the_url_rules_do_not_allow_is_still_hidden() {
        // A raw `/` ends the authority by the URL rules: such an address is
        // refused, and its error must not show the password either.
        assert_eq!(
            masked(Scheme::Mqtt, "mqtt://u:s3/cret@h?topic=t"),
            "mqtt://u:***@h?topic=t"
        );
        let e = Target::parse("mqtt://u:s3/cret@h:x?topic=t").unwrap_err();
        assert!(!e.to_string().contains("s3/cret"), "{e}");
        let e = Target::parse("nats://u:s3cret@h?topic=a..b").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
        assert!(e.to_string().contains("u:***@h"), "{e}");
        let e = Target::parse("amqp://u:s3cret@h/?queue=q&bad=1").unwrap_err();
        assert!(!e.to_string().contains("s3cret"), "{e}");
    }
}
