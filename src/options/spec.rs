//! What a row of the option table is ([`Spec`]), and what is done with it:
//! reading a value for it, checking a builder's value, finding a key, and
//! suggesting the key a typo meant.

use super::value::{Type, Unreadable, Value};
use super::{OptionValue, Options, SPECS};
use crate::address::Scheme;
use crate::error::Error;

/// One option, declared once.
pub(crate) struct Spec {
    /// The canonical key.
    pub name: &'static str,
    /// Other spellings accepted (keys match case-insensitively).
    pub aliases: &'static [&'static str],
    /// The type of the value.
    pub ty: Type,
    /// The schemes a dial accepts this option with (when not at its default).
    pub schemes: Schemes,
    /// What is accepted, for error messages.
    pub accepts: &'static str,
    /// The docs tables' `values` column. (The three docs columns are read by
    /// the docs test only: the tables are markdown, checked, not generated.)
    #[cfg_attr(not(test), allow(dead_code))]
    pub values: &'static str,
    /// The docs tables' `default` column; a test holds it to [`Options::default`].
    #[cfg_attr(not(test), allow(dead_code))]
    pub default: &'static str,
    /// The docs tables' `meaning` column.
    #[cfg_attr(not(test), allow(dead_code))]
    pub meaning: &'static str,
    /// The effective value in `o`, as [`Options::entries`] shows it.
    pub get: fn(&Options) -> OptionValue,
    /// Writes a value of [`Spec::ty`] into `o`.
    pub set: fn(&mut Options, Value),
}

/// Which schemes an option applies to; a dial refuses it elsewhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Schemes {
    /// Every scheme, databases included.
    All,
    /// The schemes that deliver messages: sockets and brokers (not databases).
    Stream,
    /// The socket schemes: `ws`, `wss`, `tcp`, `tls`, `udp`, `unix`.
    Socket,
    /// `ws://` and `wss://`.
    WebSocket,
    /// The schemes that run TLS and check a server certificate: `wss://`,
    /// `tls://`, `mqtts://`, `amqps://` and `nats://` (when the server asks
    /// for TLS).
    Tls,
    /// `wss://` and `tls://`.
    TlsSocket,
    /// The socket schemes that run over one TCP connection: `ws`, `wss`, `tcp`, `tls`.
    Tcp,
    /// The socket schemes that use the network: all but `unix://`.
    Network,
}

impl Schemes {
    /// True when an option of these schemes applies to `s`.
    pub(crate) fn include(self, s: Scheme) -> bool {
        match self {
            Schemes::All => true,
            Schemes::Stream => !s.is_database(),
            Schemes::Socket => s.is_socket(),
            Schemes::WebSocket => s.is_websocket(),
            Schemes::Tls => s.is_tls() || matches!(s, Scheme::Mqtts | Scheme::Amqps | Scheme::Nats),
            Schemes::TlsSocket => s.is_tls(),
            Schemes::Tcp => matches!(s, Scheme::Ws | Scheme::Wss | Scheme::Tcp | Scheme::Tls),
            Schemes::Network => s.is_socket() && s != Scheme::Unix,
        }
    }

    /// The schemes in words, for messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Schemes::All => "every scheme",
            Schemes::Stream => "every scheme but the databases",
            Schemes::Socket => "ws://, wss://, tcp://, tls://, udp:// and unix://",
            Schemes::WebSocket => "ws:// and wss://",
            Schemes::Tls => "wss://, tls://, mqtts://, amqps:// and nats://",
            Schemes::TlsSocket => "wss:// and tls://",
            Schemes::Tcp => "ws://, wss://, tcp:// and tls://",
            Schemes::Network => "ws://, wss://, tcp://, tls:// and udp://",
        }
    }
}

impl Spec {
    /// Reads a value written for this option in an address (`written` is the
    /// key as the user spelled it, `text` the value, percent-decoded).
    pub(crate) fn read(&'static self, written: &str, text: &str) -> Result<Setting, Error> {
        let value = match self.ty.read(text) {
            Ok(v) => v,
            Err(Unreadable::Value) => return Err(self.refuse(written, &text)),
            Err(Unreadable::Said(e)) => return Err(e.for_key(written)),
            Err(Unreadable::Millis) => {
                return Err(Error::address(
                    Some(written),
                    format!("option `{written}` has the value `{text}`; it must be milliseconds, a whole number such as 1000"),
                ))
            }
        };
        if !self.ty.admits(&value) {
            return Err(self.refuse(written, &text));
        }
        Ok(Setting { spec: self, value })
    }

    /// The error for a value of this option that is out of range or unreadable.
    fn refuse(&self, written: &str, value: &dyn std::fmt::Display) -> Error {
        Error::address(
            Some(written),
            format!(
                "option `{written}` has the value `{value}`; accepted: {}",
                self.accepts
            ),
        )
    }

    /// This option's key and aliases.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.name).chain(self.aliases.iter().copied())
    }

    fn matches(&self, key: &str) -> bool {
        self.keys().any(|k| k.eq_ignore_ascii_case(key))
    }
}

/// One option with its typed value, from an address or a [`Dialer`](crate::Dialer) setter.
/// Applying them in order over the defaults gives the [`Options`].
#[derive(Clone)]
pub(crate) struct Setting {
    spec: &'static Spec,
    value: Value,
}

impl Setting {
    /// A setting from a builder; [`Setting::check`] says whether it is in range.
    pub(crate) fn new(spec: &'static Spec, value: Value) -> Setting {
        Setting { spec, value }
    }

    /// Refuses a value the address string would refuse, with the same error.
    pub(crate) fn check(&self) -> Result<(), Error> {
        if self.spec.ty.admits(&self.value) {
            Ok(())
        } else {
            Err(self.spec.refuse(self.spec.name, &self.value))
        }
    }

    /// Writes the value into `o`.
    pub(crate) fn apply_to(&self, o: &mut Options) {
        (self.spec.set)(o, self.value.clone());
    }
}

impl PartialEq for Setting {
    fn eq(&self, other: &Setting) -> bool {
        self.spec.name == other.spec.name && self.value == other.value
    }
}

impl std::fmt::Debug for Setting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={:?}", self.spec.name, self.value)
    }
}

/// The option of a key or alias (case-insensitive).
pub(crate) fn lookup(key: &str) -> Option<&'static Spec> {
    SPECS.iter().copied().find(|s| s.matches(key))
}

/// The known key nearest to an unknown one, if any is close enough to be a typo.
pub(crate) fn suggest(key: &str) -> Option<&'static str> {
    nearest(key, &[])
        .filter(|&(_, d)| d <= 2.max(key.len() / 4))
        .map(|(name, _)| name)
}

/// Keys that ordinary words of query strings and payloads sit one or two
/// edits from (`page`, `price`, `place`, `space` … from `pace`): an `&word=`
/// near them inside free text is not worth a warning.
const NOT_NEAR: &[&str] = &["pace"];

/// The option that `word`, found as `&word=` inside free text, nearly spells:
/// one edit away for words of up to four letters, two for longer ones. A
/// known key itself is not a near miss (it would have ended the text), nor is
/// a word near only a key of [`NOT_NEAR`].
pub(crate) fn near_miss(word: &str) -> Option<&'static str> {
    let most = if word.chars().count() <= 4 { 1 } else { 2 };
    nearest(word, NOT_NEAR)
        .filter(|&(_, d)| (1..=most).contains(&d))
        .map(|(name, _)| name)
}

/// The canonical name of the key or alias nearest to `key`, and its edit
/// distance; the options named in `skip` are left out.
fn nearest(key: &str, skip: &[&str]) -> Option<(&'static str, usize)> {
    let lower = key.to_ascii_lowercase();
    SPECS
        .iter()
        .filter(|s| !skip.contains(&s.name))
        .flat_map(|s| s.keys().map(move |k| (s.name, k)))
        .map(|(name, k)| (name, edit_distance(&lower, &k.to_ascii_lowercase())))
        .min_by_key(|&(_, d)| d)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
