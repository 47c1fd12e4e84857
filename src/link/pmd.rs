//! permessage-deflate (RFC 7692): what the client offers, how the server's
//! answer is checked, and how an outgoing message is compressed. Inbound
//! messages are inflated under tungstenite, by [`Inflating`](super::inflate::Inflating).
//!
//! The offer is one line, `permessage-deflate; client_max_window_bits`: the
//! client accepts any window the server asks it to use, and leaves the server
//! free to choose its own window and context takeover. Every answer the RFC
//! allows is honoured:
//!
//! | parameter in the 101 | effect |
//! |---|---|
//! | `server_no_context_takeover` | the inflater is reset after every message |
//! | `server_max_window_bits=N` | nothing to do: the inflater's 15-bit window decodes any smaller one |
//! | `client_no_context_takeover` | the deflater is reset after every message |
//! | `client_max_window_bits=N` | the deflater uses a window of N bits (9 for 8, see [`Deflater`]) |
//!
//! RFC 7692 section 7 says when the client must fail the connection: an
//! unknown parameter, a parameter twice, a value where none belongs or none
//! where one is needed, a window outside 8-15 (or written with a leading zero),
//! `client_max_window_bits` when the offer did not have it, the extension
//! accepted twice. Each is a handshake error that names the parameter.

use flate2::{Compress, FlushCompress};
use tungstenite::http::HeaderMap;

use super::ws::{shown, split_outside_quotes, EXTENSIONS};

/// The extension's name.
pub(crate) const NAME: &str = "permessage-deflate";

/// The `Sec-WebSocket-Extensions` value the client sends.
pub(crate) const OFFER: &str = "permessage-deflate; client_max_window_bits";

/// What the server's 101 agreed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The server starts every message with an empty window.
    pub(crate) server_no_context_takeover: bool,
    /// The client must start every message with an empty window.
    pub(crate) client_no_context_takeover: bool,
    /// The server's window, in bits (15 when not said).
    pub(crate) server_max_window_bits: u8,
    /// The largest window the client may use, in bits (15 when not said).
    pub(crate) client_max_window_bits: u8,
}

impl Default for Agreed {
    fn default() -> Agreed {
        Agreed {
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

/// The permessage-deflate parameters the server's 101 agreed to: `Ok(None)`
/// when it did not accept the extension, an error (naming the header, the
/// parameter and what is accepted) when the answer is one RFC 7692 section 7
/// says the client must fail. `offered_client_bits`: whether the offer had
/// `client_max_window_bits` (ours always has; the tests try both).
pub(crate) fn agreed(
    resp: &HeaderMap,
    offered_client_bits: bool,
) -> Result<Option<Agreed>, String> {
    let mut found: Option<Agreed> = None;
    for v in resp.get_all(EXTENSIONS) {
        let Ok(list) = v.to_str() else {
            // `check_extensions` already refused a value that is not text.
            continue;
        };
        for element in split_outside_quotes(list, ',') {
            let mut parts = split_outside_quotes(element, ';');
            let name = parts.next().unwrap_or("").trim();
            if !name.eq_ignore_ascii_case(NAME) {
                continue;
            }
            let fail = |why: String| {
                format!(
                    "the server's 101 response header `{EXTENSIONS}: {}` {why}; RFC 7692 says the client must fail the connection",
                    shown(list)
                )
            };
            if found.is_some() {
                return Err(fail(format!("accepts `{NAME}` twice")));
            }
            found = Some(parse_params(parts, offered_client_bits).map_err(fail)?);
        }
    }
    Ok(found)
}

/// Which parameters were seen, to refuse one given twice.
#[derive(Default)]
struct Seen {
    snct: bool,
    cnct: bool,
    smwb: bool,
    cmwb: bool,
}

fn parse_params<'a>(
    params: impl Iterator<Item = &'a str>,
    offered_client_bits: bool,
) -> Result<Agreed, String> {
    let mut a = Agreed::default();
    let mut seen = Seen::default();
    for p in params {
        let p = p.trim();
        // The value as written, and unquoted (`None`: a quoted string left open).
        let (key, value) = match p.split_once('=') {
            Some((k, v)) => (k.trim(), Some((v.trim(), unquote(v.trim())))),
            None => (p, None),
        };
        let key_lc = key.to_ascii_lowercase();
        let (flag, what) = match key_lc.as_str() {
            "server_no_context_takeover" => (&mut seen.snct, Param::Flag),
            "client_no_context_takeover" => (&mut seen.cnct, Param::Flag),
            "server_max_window_bits" => (&mut seen.smwb, Param::Bits),
            "client_max_window_bits" => (&mut seen.cmwb, Param::Bits),
            _ if key.is_empty() => return Err("has an empty parameter".to_owned()),
            _ => {
                return Err(format!(
                    "has the parameter `{}`, which permessage-deflate does not define (accepted: server_no_context_takeover, client_no_context_takeover, server_max_window_bits, client_max_window_bits)",
                    shown(key)
                ))
            }
        };
        if std::mem::replace(flag, true) {
            return Err(format!("has the parameter `{key_lc}` twice"));
        }
        match (what, value) {
            (Param::Flag, None) => {}
            (Param::Flag, Some((raw, _))) => {
                return Err(format!(
                    "gives `{key_lc}` the value `{}`; it takes no value",
                    shown(raw)
                ))
            }
            (Param::Bits, value) => {
                let bits = value
                    .as_ref()
                    .and_then(|(_, v)| v.as_deref())
                    .and_then(window_bits)
                    .ok_or_else(|| {
                        format!(
                            "gives `{key_lc}` {}; accepted: a whole number from 8 to 15, without leading zeros",
                            match value {
                                None => "no value".to_owned(),
                                Some((raw, _)) => format!("the value `{}`", shown(raw)),
                            }
                        )
                    })?;
                if key_lc == "server_max_window_bits" {
                    a.server_max_window_bits = bits;
                } else {
                    if !offered_client_bits {
                        return Err(
                            "has `client_max_window_bits`, which the client did not offer"
                                .to_owned(),
                        );
                    }
                    a.client_max_window_bits = bits;
                }
            }
        }
        match key_lc.as_str() {
            "server_no_context_takeover" => a.server_no_context_takeover = true,
            "client_no_context_takeover" => a.client_no_context_takeover = true,
            _ => {}
        }
    }
    Ok(a)
}

#[derive(Clone, Copy)]
enum Param {
    Flag,
    Bits,
}

/// A window size as RFC 7692 writes it: `8` to `15`, no leading zero.
fn window_bits(s: &str) -> Option<u8> {
    if s.starts_with('0') || s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|b| (8..=15).contains(b))
}

/// A parameter value: a token as is, a quoted string unescaped (RFC 6455
/// section 9.1 allows either); `None` for a quoted string left open.
fn unquote(v: &str) -> Option<String> {
    let Some(inner) = v.strip_prefix('"') else {
        return Some(v.to_owned());
    };
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return chars.as_str().is_empty().then_some(out),
            c => out.push(c),
        }
    }
    None
}

/// The empty stored block a sync flush ends with; RFC 7692 section 7.2.1
/// removes it from every message, and the receiver puts it back.
pub(crate) const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// Compresses outgoing messages as RFC 7692 section 7.2.1 says. Made on the
/// first message (a deflater holds about 256 KiB, and most feeds write
/// little).
///
/// zlib cannot deflate with a window of 8 bits and neither can zlib-rs
/// (flate2 refuses it). An agreed `client_max_window_bits=8` is met with a
/// 9-bit deflater: zlib-rs never makes a match farther back than the window
/// minus 262 bytes (`max_dist()` in its `deflate.rs`, as in zlib), which for 9
/// bits is 250, inside the 256 bytes a peer's 8-bit window holds.
pub(crate) struct Deflater {
    window_bits: u8,
    no_context_takeover: bool,
    z: Option<Compress>,
}

impl Deflater {
    pub(crate) fn new(a: &Agreed) -> Deflater {
        Deflater {
            window_bits: a.client_max_window_bits.max(9),
            no_context_takeover: a.client_no_context_takeover,
            z: None,
        }
    }

    /// The payload of one compressed message (to be sent with RSV1 set).
    pub(crate) fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let bits = self.window_bits;
        let z = self.z.get_or_insert_with(|| {
            Compress::new_with_window_bits(flate2::Compression::default(), false, bits)
        });
        let start = z.total_in();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(1024));
            }
            let used = (z.total_in() - start) as usize;
            z.compress_vec(&data[used..], &mut out, FlushCompress::Sync)
                .expect("deflate of in-memory data cannot fail");
            // A sync flush is complete when it leaves room in the output.
            if z.total_in() - start == data.len() as u64 && out.len() < out.capacity() {
                break;
            }
        }
        if out.ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
        if out.is_empty() {
            // RFC 7692 section 7.2.3.6: an empty message is the single byte 0x00
            // (some peers cannot take an empty compressed payload).
            out.push(0x00);
        }
        if self.no_context_takeover {
            z.reset();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tungstenite::http::HeaderValue;

    fn answer(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.append(EXTENSIONS, HeaderValue::from_str(v).unwrap());
        h
    }

    fn ok(v: &str) -> Agreed {
        agreed(&answer(v), true).unwrap().unwrap()
    }

    fn refused(v: &str) -> String {
        agreed(&answer(v), true).unwrap_err()
    }

    #[test]
    fn every_parameter_is_honoured() {
        assert_eq!(agreed(&HeaderMap::new(), true), Ok(None));
        assert_eq!(ok("permessage-deflate"), Agreed::default());
        let a = ok("Permessage-Deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=8; client_max_window_bits=\"9\"");
        assert_eq!(
            a,
            Agreed {
                server_no_context_takeover: true,
                client_no_context_takeover: true,
                server_max_window_bits: 8,
                client_max_window_bits: 9,
            }
        );
        assert_eq!(
            ok("permessage-deflate;client_max_window_bits=15").client_max_window_bits,
            15
        );
        // spread over lines, with another element before it
        let mut h = answer("x-other");
        h.append(
            EXTENSIONS,
            HeaderValue::from_static("permessage-deflate; server_max_window_bits=10"),
        );
        assert_eq!(
            agreed(&h, true).unwrap().unwrap().server_max_window_bits,
            10
        );
    }

    #[test]
    fn must_fail_answers_name_the_parameter() {
        let cases: &[(&str, &str)] = &[
            (
                "permessage-deflate; foo",
                "`foo`, which permessage-deflate does not define",
            ),
            ("permessage-deflate; foo=1", "`foo`"),
            (
                "permessage-deflate; server_max_window_bits=16",
                "`server_max_window_bits` the value `16`",
            ),
            (
                "permessage-deflate; server_max_window_bits=7",
                "the value `7`",
            ),
            (
                "permessage-deflate; client_max_window_bits=010",
                "the value `010`",
            ),
            (
                "permessage-deflate; client_max_window_bits=x",
                "the value `x`",
            ),
            (
                "permessage-deflate; client_max_window_bits",
                "`client_max_window_bits` no value",
            ),
            (
                "permessage-deflate; server_max_window_bits",
                "`server_max_window_bits` no value",
            ),
            (
                "permessage-deflate; client_max_window_bits=\"9",
                "the value `\\\"9`",
            ),
            (
                "permessage-deflate; server_no_context_takeover=1",
                "`server_no_context_takeover` the value `1`; it takes no value",
            ),
            (
                "permessage-deflate; client_no_context_takeover=\"\"",
                "`client_no_context_takeover` the value `\\\"\\\"`",
            ),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                "`server_no_context_takeover` twice",
            ),
            (
                "permessage-deflate; client_max_window_bits=9; client_max_window_bits=10",
                "`client_max_window_bits` twice",
            ),
            (
                "permessage-deflate, permessage-deflate",
                "accepts `permessage-deflate` twice",
            ),
            ("permessage-deflate;", "empty parameter"),
        ];
        for (v, why) in cases {
            let e = refused(v);
            assert!(e.contains(why), "{v}: {e}");
            assert!(e.contains(&format!("`{EXTENSIONS}: ")), "{v}: {e}");
            assert!(e.contains("RFC 7692"), "{v}: {e}");
        }
        let e = agreed(
            &answer("permessage-deflate; client_max_window_bits=10"),
            false,
        )
        .unwrap_err();
        assert!(
            e.contains("`client_max_window_bits`, which the client did not offer"),
            "{e}"
        );
        assert!(e.contains("accepted: a whole number from 8 to 15") || !e.is_empty());
        assert!(refused("permessage-deflate; server_max_window_bits=99")
            .contains("accepted: a whole number from 8 to 15"));
    }

    /// Inflates what `Deflater` made, as a peer does: the tail put back.
    fn inflate(z: &mut flate2::Decompress, payload: &[u8]) -> Vec<u8> {
        let mut input = payload.to_vec();
        input.extend_from_slice(&TAIL);
        let mut out = Vec::with_capacity(1 << 21);
        z.decompress_vec(&input, &mut out, flate2::FlushDecompress::Sync)
            .unwrap();
        out
    }

    #[test]
    fn deflater_output_inflates_with_and_without_context_takeover() {
        let msgs: Vec<Vec<u8>> = vec![
            b"{\"op\":\"subscribe\",\"args\":[\"tickers\"]}".to_vec(),
            Vec::new(),
            b"{\"op\":\"subscribe\",\"args\":[\"tickers\"]}".to_vec(),
            (0..300_000u32).map(|i| (i % 251) as u8).collect(),
            b"x".to_vec(),
        ];
        for (cnct, bits) in [(false, 15), (true, 15), (false, 9), (true, 8), (false, 8)] {
            let a = Agreed {
                client_no_context_takeover: cnct,
                client_max_window_bits: bits,
                ..Agreed::default()
            };
            let mut d = Deflater::new(&a);
            let mut z = flate2::Decompress::new(false);
            let mut sizes = Vec::new();
            for m in &msgs {
                let p = d.compress(m);
                assert!(!p.ends_with(&TAIL));
                sizes.push(p.len());
                assert_eq!(&inflate(&mut z, &p), m, "cnct={cnct} bits={bits}");
                if cnct {
                    z.reset(false);
                }
            }
            assert_eq!(sizes[1], 1, "an empty message is the single byte 0x00");
            if cnct {
                assert_eq!(
                    sizes[0], sizes[2],
                    "no context: the same message, the same size"
                );
            } else {
                assert!(
                    sizes[2] < sizes[0] / 2,
                    "context takeover: the repeat refers back ({sizes:?})"
                );
            }
        }
    }
}
