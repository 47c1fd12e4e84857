//! `proxy=env`: the proxy named by the environment, read as curl reads it.
//!
//! Only when the address (or the [`Dialer`](crate::Dialer)) asks for it: a
//! variable in the environment never routes a connection by itself.
//!
//! | scheme | variables, first set and not empty wins |
//! |---|---|
//! | `ws` | `ws_proxy`, `WS_PROXY`, `http_proxy` (lowercase only), `all_proxy`, `ALL_PROXY` |
//! | `wss` | `wss_proxy`, `WSS_PROXY`, `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` |
//! | `tcp` | `all_proxy`, `ALL_PROXY` |
//! | `tls` | `https_proxy`, `HTTPS_PROXY`, `all_proxy`, `ALL_PROXY` |
//!
//! curl never reads an uppercase `HTTP_PROXY` (a CGI program gets one from
//! any client's `Proxy:` header); neither does this. A value without a scheme
//! is an HTTP proxy (`host:port`), as for curl. `no_proxy` (or `NO_PROXY`)
//! lists hosts to reach directly, separated by commas or spaces: `*` for
//! all; a name matches itself and its subdomains (a leading `.` is ignored);
//! an IP address matches itself, and `addr/bits` a whole network.

use std::net::IpAddr;

use crate::address::{Scheme, Target};
use crate::error::Error;
use crate::proxy::Proxy;

/// The variables for a scheme, in the order they are read.
fn variables(scheme: Scheme) -> &'static [&'static str] {
    match scheme {
        Scheme::Ws => &[
            "ws_proxy",
            "WS_PROXY",
            "http_proxy",
            "all_proxy",
            "ALL_PROXY",
        ],
        Scheme::Wss => &[
            "wss_proxy",
            "WSS_PROXY",
            "https_proxy",
            "HTTPS_PROXY",
            "all_proxy",
            "ALL_PROXY",
        ],
        Scheme::Tls => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        // tcp; a proxy never applies to udp and unix (refused before this).
        _ => &["all_proxy", "ALL_PROXY"],
    }
}

/// The proxy the environment names for `target`, or `None` (no variable
/// set, or `no_proxy` matches the host). `var` reads a variable (the process
/// environment, or a test's). A value that is not a proxy URL wsdial speaks
/// is an error naming the variable.
pub(crate) fn from_env(
    target: &Target,
    var: impl Fn(&str) -> Option<String>,
) -> Result<Option<(&'static str, Proxy)>, Error> {
    let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
    let Some((name, value)) = variables(target.scheme())
        .iter()
        .find_map(|&n| set(n).map(|v| (n, v)))
    else {
        return Ok(None);
    };
    let no_proxy = set("no_proxy").or_else(|| set("NO_PROXY"));
    if no_proxy.is_some_and(|list| bypassed(target.host(), &list)) {
        return Ok(None);
    }
    let value = value.trim();
    let url = if value.contains("://") {
        value.to_owned()
    } else {
        format!("http://{value}")
    };
    match Proxy::parse(&url) {
        Ok(p) => Ok(Some((name, p))),
        Err(e) => Err(Error::address(
            Some("proxy"),
            format!("proxy=env: the variable {name}: {}", e.message()),
        )),
    }
}

/// Whether `no_proxy` (curl's syntax) says to reach `host` directly.
fn bypassed(host: &str, no_proxy: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    no_proxy
        .split([',', ' ', '\t'])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            if entry == "*" {
                return true;
            }
            let entry = entry
                .strip_prefix('[')
                .and_then(|e| e.strip_suffix(']'))
                .unwrap_or(entry);
            match (ip, network(entry)) {
                (Some(ip), Some((net, bits))) => in_network(ip, net, bits),
                (Some(_), None) | (None, Some(_)) => false,
                (None, None) => {
                    let name = entry
                        .trim_start_matches('.')
                        .trim_end_matches('.')
                        .to_ascii_lowercase();
                    !name.is_empty()
                        && (host == name
                            || host
                                .strip_suffix(&name)
                                .is_some_and(|rest| rest.ends_with('.')))
                }
            }
        })
}

/// An IP address with its prefix length (`10.0.0.0/8`; a bare address is
/// the whole length); `None` when the entry is a name.
fn network(entry: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = match entry.split_once('/') {
        Some((a, b)) => (a, Some(b.parse::<u32>().ok()?)),
        None => (entry, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let full = if ip.is_ipv4() { 32 } else { 128 };
    let bits = bits.unwrap_or(full);
    (bits <= full).then_some((ip, bits))
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u32) -> bool {
    let (a, b, full) = match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (IpAddr::V6(a), IpAddr::V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    // `network` keeps `bits` within `full`.
    let shift = full - bits;
    shift >= 128 || (a >> shift) == (b >> shift)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::ProxyKind;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        }
    }

    fn target(url: &str) -> Target {
        Target::parse(url).unwrap()
    }

    /// The variable chosen and the proxy's host:port, or None.
    fn pick(url: &str, vars: &[(&str, &str)]) -> Option<(&'static str, String)> {
        from_env(&target(url), env(vars))
            .unwrap()
            .map(|(n, p)| (n, format!("{}:{}", p.host(), p.port())))
    }

    #[test]
    fn the_variables_are_read_in_curls_order() {
        let all = [
            ("ws_proxy", "ws:1"),
            ("WS_PROXY", "WS:1"),
            ("wss_proxy", "wss:1"),
            ("WSS_PROXY", "WSS:1"),
            ("http_proxy", "http:1"),
            ("HTTP_PROXY", "HTTP:1"),
            ("https_proxy", "https:1"),
            ("HTTPS_PROXY", "HTTPS:1"),
            ("all_proxy", "all:1"),
            ("ALL_PROXY", "ALL:1"),
        ];
        // Each case drops the variables that won the case before.
        let order = |url: &str, want: &[&str]| {
            let mut vars: Vec<(&str, &str)> = all.to_vec();
            for w in want {
                let got = pick(url, &vars).map(|(n, _)| n);
                assert_eq!(got, Some(*w), "{url}");
                vars.retain(|(n, _)| n != w);
            }
        };
        order(
            "ws://h/",
            &[
                "ws_proxy",
                "WS_PROXY",
                "http_proxy",
                "all_proxy",
                "ALL_PROXY",
            ],
        );
        order(
            "wss://h/",
            &[
                "wss_proxy",
                "WSS_PROXY",
                "https_proxy",
                "HTTPS_PROXY",
                "all_proxy",
                "ALL_PROXY",
            ],
        );
        order(
            "tls://h:1",
            &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        );
        order("tcp://h:1", &["all_proxy", "ALL_PROXY"]);
        // the uppercase HTTP_PROXY is never read
        assert_eq!(pick("ws://h/", &[("HTTP_PROXY", "x:1")]), None);
        // empty counts as unset
        assert_eq!(
            pick("ws://h/", &[("http_proxy", " "), ("all_proxy", "a:2")]),
            Some(("all_proxy", "a:2".into()))
        );
        assert_eq!(pick("wss://h/", &[]), None);
    }

    #[test]
    fn values_are_proxy_urls_or_host_and_port() {
        let p = |v: &str| {
            from_env(&target("wss://h/"), env(&[("HTTPS_PROXY", v)]))
                .unwrap()
                .unwrap()
                .1
        };
        assert_eq!(p("proxy.corp:3128").kind(), ProxyKind::Http);
        assert_eq!(p("socks5h://[::1]:1080").kind(), ProxyKind::Socks5h);
        assert_eq!(p("socks5h://[::1]:1080").host(), "::1");
        let q = p("http://u:p%40ss@10.0.0.1:8080");
        assert_eq!((q.user(), q.password()), (Some("u"), Some("p@ss")));
        let e = from_env(&target("wss://h/"), env(&[("HTTPS_PROXY", "socks4://p:1")])).unwrap_err();
        assert_eq!(e.key(), Some("proxy"));
        let m = e.to_string();
        assert!(m.contains("HTTPS_PROXY") && m.contains("socks4"), "{m}");
    }

    #[test]
    fn no_proxy_as_curl_reads_it() {
        let direct = |host: &str, list: &str| bypassed(host, list);
        assert!(direct("anything.example", "*"));
        assert!(direct("example.com", "example.com"));
        assert!(direct("a.b.example.com", "example.com"));
        assert!(direct("a.example.com", ".example.com"));
        assert!(direct("Example.COM.", "example.com"));
        assert!(!direct("badexample.com", "example.com"));
        assert!(!direct("example.com.evil", "example.com"));
        assert!(direct("h", "x.org, h ,y"));
        assert!(direct("h", "x.org h"));
        assert!(!direct("h", ",, ,"));
        assert!(direct("127.0.0.1", "127.0.0.1"));
        assert!(direct("127.1.2.3", "127.0.0.0/8"));
        assert!(!direct("128.0.0.1", "127.0.0.0/8"));
        assert!(direct("10.9.8.7", "0.0.0.0/0"));
        assert!(direct("::1", "::1"));
        assert!(direct("::1", "[::1]"));
        assert!(direct("fd00::5", "fd00::/8"));
        assert!(!direct("fe80::1", "fd00::/8"));
        assert!(!direct("127.0.0.1", "::1"));
        assert!(!direct("127.0.0.1", "localhost"));
        assert!(
            !direct("10.0.0.1", "10.0.0.0/33"),
            "a bad prefix matches nothing"
        );
        // NO_PROXY when no_proxy is unset; no_proxy first
        let t = target("ws://h.corp/");
        let vars = [("http_proxy", "p:1"), ("NO_PROXY", "corp")];
        assert!(from_env(&t, env(&vars)).unwrap().is_none());
        let vars = [
            ("http_proxy", "p:1"),
            ("no_proxy", "other"),
            ("NO_PROXY", "corp"),
        ];
        assert!(from_env(&t, env(&vars)).unwrap().is_some());
    }
}
