//! ClickHouse over its HTTP interface: each statement is one POST (the
//! connection kept alive by `ureq`'s agent), on the caller's thread; no
//! runtime, no thread of its own. Results come as
//! `TabSeparatedWithNamesAndTypes` (exact text, read by the column's type:
//! decimals keep every digit); credentials go in ClickHouse's
//! `X-ClickHouse-User` / `X-ClickHouse-Key` headers.
//!
//! Parameters are bound on the client: every `?` outside quotes and comments
//! is replaced by a literal (strings quoted with `\` and `'` escaped, bytes as
//! `\xHH`, decimals checked to be numbers), because ClickHouse 18 (Debian's)
//! has no server-side parameters. A statement's deadline bounds the request
//! and is passed as `max_execution_time`, so the server stops it too.

use std::fmt::Write as _;
use std::time::Instant;

use super::ChAddress;
use crate::db::{Database, Opener, Rows, Value};
use crate::error::{Error, ErrorKind};

/// Opens sessions to one ClickHouse server's HTTP interface.
pub(crate) struct ChOpener {
    a: ChAddress,
    base: String,
}

impl ChOpener {
    pub(crate) fn new(a: ChAddress) -> ChOpener {
        let host = if a.host.contains(':') {
            format!("[{}]", a.host)
        } else {
            a.host.clone()
        };
        let mut base = format!(
            "http://{host}:{}/?default_format=TabSeparatedWithNamesAndTypes",
            a.port
        );
        if let Some(db) = &a.database {
            base.push_str("&database=");
            base.extend(url::form_urlencoded::byte_serialize(db.as_bytes()));
        }
        ChOpener { a, base }
    }
}

impl Opener for ChOpener {
    fn open(&self, deadline: Instant) -> Result<Box<dyn Database>, Error> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut s = ChSession {
            agent,
            base: self.base.clone(),
            user: self.a.user.clone(),
            password: self.a.password.clone(),
            address: format!("{}:{}", self.a.host, self.a.port),
        };
        // HTTP is stateless: check the server and the credentials now.
        s.exec("SELECT 1", &[], Some(deadline))?;
        Ok(Box::new(s))
    }
}

struct ChSession {
    agent: ureq::Agent,
    base: String,
    user: Option<String>,
    password: Option<String>,
    address: String,
}

impl Database for ChSession {
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<Rows, Error> {
        let sql = bind(sql.trim().trim_end_matches(';'), params)?;
        let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if left.is_some_and(|l| l.is_zero()) {
            return Err(Error::new(
                ErrorKind::Database,
                "clickhouse: the deadline passed before the statement was sent",
            )
            .timed_out());
        }
        // One request built (its URL parsed once), with the deadline if any.
        let mut req = match left {
            Some(left) => {
                let mut url = self.base.clone();
                let _ = write!(
                    url,
                    "&max_execution_time={}",
                    left.as_secs_f64().ceil().max(1.0)
                );
                self.agent
                    .post(&url)
                    .config()
                    .timeout_global(Some(left))
                    .build()
            }
            None => self.agent.post(&self.base),
        };
        if let Some(u) = &self.user {
            req = req.header("X-ClickHouse-User", u);
        }
        if let Some(p) = &self.password {
            req = req.header("X-ClickHouse-Key", p);
        }
        let mut resp = req.send(sql.as_bytes()).map_err(|e| self.http_error(e))?;
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .map_err(|e| self.http_error(e))?;
        if status != 200 {
            return Err(server_error(status, &String::from_utf8_lossy(&body)));
        }
        parse_tsv(&body)
    }
}

impl ChSession {
    fn http_error(&self, e: ureq::Error) -> Error {
        let a = &self.address;
        match e {
            ureq::Error::Timeout(_) => Error::new(
                ErrorKind::Database,
                format!(
                    "clickhouse {a}: the statement did not finish before its deadline (timeout=)"
                ),
            )
            .timed_out(),
            ureq::Error::HostNotFound => {
                Error::new(ErrorKind::Dns, format!("clickhouse {a}: host not found"))
            }
            ureq::Error::Io(io) => {
                let kind = if io.kind() == std::io::ErrorKind::ConnectionRefused {
                    ErrorKind::Tcp
                } else {
                    ErrorKind::Io
                };
                Error::io(kind, format_args!("clickhouse {a}"), io)
            }
            ureq::Error::ConnectionFailed => {
                Error::new(ErrorKind::Tcp, format!("clickhouse {a}: connection failed"))
            }
            other => Error::new(ErrorKind::Io, format!("clickhouse {a}: {other}")),
        }
    }
}

/// ClickHouse's `Code: N, e.displayText() = DB::Exception: …`, by code.
fn server_error(status: u16, body: &str) -> Error {
    let code: Option<u32> = body
        .strip_prefix("Code: ")
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    let kind = match code {
        Some(62) => ErrorKind::Syntax,
        Some(192..=195) | Some(516) => ErrorKind::Auth,
        Some(469) => ErrorKind::Constraint,
        _ => ErrorKind::Database,
    };
    let err = Error::new(kind, format!("clickhouse: {}", body.trim())).with_status(status);
    if code == Some(159) {
        err.timed_out()
    } else {
        err
    }
}

/// The index of the quote that closes the one at `open` (`'`, `"` or a
/// backtick; a backslash escapes the next byte), or `b.len()` if none does.
/// Shared by `bind` and the native form's `INSERT` split.
pub(super) fn closing_quote(b: &[u8], open: usize) -> usize {
    let q = b[open];
    let mut i = open + 1;
    while i < b.len() && b[i] != q {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    i
}

/// Replaces each `?` outside quotes and comments by `params`' literal
/// (also used by the native form, `native.rs`).
pub(super) fn bind(sql: &str, params: &[Value]) -> Result<String, Error> {
    if params.is_empty() {
        return Ok(sql.to_owned());
    }
    let mut out = String::with_capacity(sql.len() + 16 * params.len());
    let mut next = params.iter();
    let mut used = 0;
    let b = sql.as_bytes();
    let mut i = 0;
    let mut start = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'`' => i = closing_quote(b, i),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'?' => {
                out.push_str(&sql[start..i]);
                used += 1;
                let v = next.next().ok_or_else(|| count_error(sql, params.len()))?;
                literal(&mut out, v)?;
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push_str(&sql[start.min(sql.len())..]);
    if used != params.len() {
        return Err(count_error(sql, params.len()));
    }
    Ok(out)
}

fn count_error(sql: &str, given: usize) -> Error {
    Error::new(
        ErrorKind::Syntax,
        format!(
            "clickhouse: `{sql}` does not have one `?` placeholder per parameter ({given} given)"
        ),
    )
}

fn literal(out: &mut String, v: &Value) -> Result<(), Error> {
    match v {
        Value::Null => out.push_str("NULL"),
        Value::Bool(b) => out.push(if *b { '1' } else { '0' }),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::UInt(u) => {
            let _ = write!(out, "{u}");
        }
        Value::Float(f) if f.is_nan() => out.push_str("nan"),
        Value::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 { "inf" } else { "-inf" }),
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Decimal(d) => {
            let digits = d.strip_prefix('-').unwrap_or(d);
            let ok = !digits.is_empty()
                && digits.split('.').count() <= 2
                && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
                && !digits.starts_with('.')
                && !digits.ends_with('.');
            if !ok {
                return Err(Error::new(
                    ErrorKind::Syntax,
                    format!("clickhouse: `{d}` is not a decimal number (write digits, an optional `-` and `.`)"),
                ));
            }
            out.push_str(d);
        }
        Value::Bytes(b) => {
            out.push('\'');
            for x in b {
                let _ = write!(out, "\\x{x:02X}");
            }
            out.push('\'');
        }
        Value::DateTime(s) => quote(out, &s.replacen('T', " ", 1)),
        Value::Text(s) | Value::Date(s) | Value::Time(s) => quote(out, s),
    }
    Ok(())
}

/// `s` as a quoted ClickHouse string literal (also the native form's, `native/convert.rs`).
pub(super) fn quote(out: &mut String, s: &str) {
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// `TabSeparatedWithNamesAndTypes`: names, types, then the rows.
///
/// The body is checked to be UTF-8 once, as a whole; when it is (always,
/// unless a `String` holds other bytes), each row is cut at its tabs and
/// read as text in one pass, without checking each field again.
fn parse_tsv(body: &[u8]) -> Result<Rows, Error> {
    if body.is_empty() {
        return Ok(Rows::default());
    }
    let bad = || {
        Error::new(ErrorKind::Database, "clickhouse: the answer is not TabSeparatedWithNamesAndTypes (leave FORMAT out of the statement)")
    };
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let mut lines = body.splitn(3, |c| *c == b'\n');
    let names = lines.next().ok_or_else(bad)?;
    let types = lines.next().ok_or_else(bad)?;
    let rest = lines.next();
    let columns: Vec<String> = names
        .split(|c| *c == b'\t')
        .map(|n| String::from_utf8_lossy(&unescape(n)).into_owned())
        .collect();
    let kinds: Vec<Kind> = types
        .split(|c| *c == b'\t')
        .map(|t| Kind::of(&String::from_utf8_lossy(&unescape(t))))
        .collect();
    if kinds.len() != columns.len() {
        return Err(bad());
    }
    let values = match rest {
        None => Vec::new(),
        Some(rest) => match std::str::from_utf8(rest) {
            Ok(text) => rows_utf8(text, &kinds).ok_or_else(bad)?,
            Err(_) => rows_bytes(rest, &kinds).ok_or_else(bad)?,
        },
    };
    Ok(Rows {
        columns,
        values,
        affected: None,
    })
}

/// The rows of a body that is UTF-8: one pass over its bytes, each field a
/// slice of `text` (`None` when a row has more or fewer fields than
/// `kinds`).
fn rows_utf8(text: &str, kinds: &[Kind]) -> Option<Vec<Vec<Value>>> {
    let b = text.as_bytes();
    let mut values = Vec::with_capacity(memchr::memchr_iter(b'\n', b).count() + 1);
    let mut row = Vec::with_capacity(kinds.len());
    let mut start = 0;
    let mut escaped = false;
    // The end of the text closes the last row.
    for i in memchr::memchr3_iter(b'\t', b'\n', b'\\', b).chain([b.len()]) {
        let c = b.get(i).copied().unwrap_or(b'\n');
        if c == b'\\' {
            escaped = true;
            continue;
        }
        let k = kinds.get(row.len())?;
        row.push(k.read_str(&text[start..i], escaped));
        start = i + 1;
        escaped = false;
        if c == b'\n' {
            if row.len() != kinds.len() {
                return None;
            }
            values.push(std::mem::replace(&mut row, Vec::with_capacity(kinds.len())));
        }
    }
    Some(values)
}

/// The rows of a body that is not all UTF-8 (a `String` holding other
/// bytes): each field read as bytes.
fn rows_bytes(rest: &[u8], kinds: &[Kind]) -> Option<Vec<Vec<Value>>> {
    let mut values = Vec::new();
    for line in rest.split(|c| *c == b'\n') {
        let mut row = Vec::with_capacity(kinds.len());
        let mut fields = line.split(|c| *c == b'\t');
        for k in kinds {
            row.push(k.read(fields.next()?));
        }
        if fields.next().is_some() {
            return None;
        }
        values.push(row);
    }
    Some(values)
}

fn unescape(f: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(f.len());
    let mut it = f.iter();
    while let Some(&c) = it.next() {
        if c != b'\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some(b'n') => out.push(b'\n'),
            Some(b't') => out.push(b'\t'),
            Some(b'r') => out.push(b'\r'),
            Some(b'b') => out.push(8),
            Some(b'f') => out.push(12),
            Some(b'0') => out.push(0),
            Some(&o) => out.push(o),
            None => out.push(b'\\'),
        }
    }
    out
}

/// How a column's fields are read, from its ClickHouse type (worked out
/// once per column, not per field).
#[derive(Clone, Copy)]
struct Kind {
    nullable: bool,
    base: Base,
}

#[derive(Clone, Copy)]
enum Base {
    Int,
    UInt64,
    Float,
    Decimal,
    Date,
    DateTime,
    Nothing,
    String,
    /// UUID, Enum, Array, Tuple …: ClickHouse's text.
    Other,
}

impl Kind {
    fn of(ty: &str) -> Kind {
        let mut ty = ty;
        let mut nullable = false;
        for wrapper in ["Nullable(", "LowCardinality("] {
            if let Some(inner) = ty.strip_prefix(wrapper).and_then(|t| t.strip_suffix(')')) {
                nullable |= wrapper == "Nullable(";
                ty = inner;
            }
        }
        let base = match ty.split('(').next().unwrap_or(ty) {
            "Int8" | "Int16" | "Int32" | "Int64" | "UInt8" | "UInt16" | "UInt32" => Base::Int,
            "UInt64" => Base::UInt64,
            "Float32" | "Float64" => Base::Float,
            "Decimal" | "Decimal32" | "Decimal64" | "Decimal128" => Base::Decimal,
            "Date" => Base::Date,
            "DateTime" => Base::DateTime,
            "Nothing" => Base::Nothing,
            "String" | "FixedString" => Base::String,
            _ => Base::Other,
        };
        Kind { nullable, base }
    }

    /// One field of a UTF-8 body, read by its column's type: a field with
    /// an escape (`\\N` included) goes through [`Kind::read`]; any other is
    /// read as it is, as `read` would read it.
    fn read_str(self, field: &str, escaped: bool) -> Value {
        if escaped {
            return self.read(field.as_bytes());
        }
        match self.base {
            Base::Int => field
                .parse()
                .map_or_else(|_| Value::Text(field.to_owned()), Value::Int),
            Base::UInt64 => match field.parse::<u64>() {
                Ok(u) => i64::try_from(u).map_or(Value::UInt(u), Value::Int),
                Err(_) => Value::Text(field.to_owned()),
            },
            Base::Float => field
                .parse()
                .map_or_else(|_| Value::Text(field.to_owned()), Value::Float),
            Base::Decimal => Value::Decimal(field.to_owned()),
            Base::Date => Value::Date(field.to_owned()),
            Base::DateTime => Value::DateTime(field.replacen(' ', "T", 1)),
            Base::Nothing => Value::Null,
            Base::String | Base::Other => Value::Text(field.to_owned()),
        }
    }

    /// One field, read by its column's type.
    fn read(self, field: &[u8]) -> Value {
        if self.nullable && field == b"\\N" {
            return Value::Null;
        }
        // Most fields have no escape: read in place.
        let raw: std::borrow::Cow<'_, [u8]> = if field.contains(&b'\\') {
            unescape(field).into()
        } else {
            field.into()
        };
        let text = || String::from_utf8_lossy(&raw).into_owned();
        let digits = || std::str::from_utf8(&raw).ok();
        match self.base {
            Base::Int => digits()
                .and_then(|t| t.parse().ok())
                .map_or_else(|| Value::Text(text()), Value::Int),
            Base::UInt64 => match digits().and_then(|t| t.parse::<u64>().ok()) {
                Some(u) => i64::try_from(u).map_or(Value::UInt(u), Value::Int),
                None => Value::Text(text()),
            },
            Base::Float => digits()
                .and_then(|t| t.parse().ok())
                .map_or_else(|| Value::Text(text()), Value::Float),
            Base::Decimal => Value::Decimal(text()),
            Base::Date => Value::Date(text()),
            Base::DateTime => Value::DateTime(text().replacen(' ', "T", 1)),
            Base::Nothing => Value::Null,
            Base::String => match String::from_utf8(raw.into_owned()) {
                Ok(t) => Value::Text(t),
                Err(e) => Value::Bytes(e.into_bytes()),
            },
            Base::Other => Value::Text(text()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_outside_quotes_and_comments_only() {
        let sql = bind(
            "SELECT '?', \"a?\", `b?` -- ?\n, ? /* ? */ , ?",
            &[Value::Text("it's \\ x".into()), Value::Bytes(vec![0, 255])],
        )
        .unwrap();
        assert_eq!(
            sql,
            "SELECT '?', \"a?\", `b?` -- ?\n, 'it\\'s \\\\ x' /* ? */ , '\\x00\\xFF'"
        );
        assert_eq!(bind("SELECT ?", &[]).unwrap(), "SELECT ?");
        assert_eq!(
            bind("SELECT ?, ?", &[Value::Int(1)]).unwrap_err().kind(),
            ErrorKind::Syntax
        );
        assert_eq!(
            bind("SELECT 1", &[Value::Int(1)]).unwrap_err().kind(),
            ErrorKind::Syntax
        );
        assert_eq!(
            bind("SELECT ?", &[Value::Decimal("1); DROP TABLE t".into())])
                .unwrap_err()
                .kind(),
            ErrorKind::Syntax
        );
        assert_eq!(
            bind("SELECT ?", &[Value::Decimal("-12.50".into())]).unwrap(),
            "SELECT -12.50"
        );
    }

    #[test]
    fn tsv_read_as_text_reads_as_bytes_would() {
        // Every kind, escapes, `\N`, empty fields and values that do not
        // parse as their type: the one-pass text reader and the field by
        // field byte reader give the same rows.
        let kinds: Vec<Kind> = [
            "Int64",
            "Nullable(UInt64)",
            "Float64",
            "Decimal(9, 2)",
            "Date",
            "DateTime",
            "Nothing",
            "LowCardinality(String)",
            "UUID",
        ]
        .iter()
        .map(|t| Kind::of(t))
        .collect();
        let rows = "-9223372036854775808\t18446744073709551615\t1e-7\t-1.50\t2026-11-30\t2026-11-30 12:00:00\t\\N\ta\\tb\\\\\t00000000-0000-0000-0000-000000000000\n\
x\t\\N\tinf\t0\t\t\t\t\t[1]\n\
7\t5\tnan\t3\t1970-01-01\t1970-01-01 00:00:00\t\\N\t\u{e9}\u{1f600}\t\\'q\\'";
        let text = rows_utf8(rows, &kinds).unwrap();
        let bytes = rows_bytes(rows.as_bytes(), &kinds).unwrap();
        assert_eq!(format!("{text:?}"), format!("{bytes:?}"));
        assert_eq!(text.len(), 3);
        assert_eq!(text[1][0], Value::Text("x".into()));
        assert_eq!(text[0][7], Value::Text("a\tb\\".into()));
        assert_eq!(text[2][7], Value::Text("\u{e9}\u{1f600}".into()));
        // Too many or too few fields, on any row, is refused by both.
        let two = [Kind::of("Int64"), Kind::of("Int64")];
        for bad in ["1\t2\t3", "1\t2\n1\t2\t3", "1", "1\t2\n1"] {
            assert!(rows_utf8(bad, &two).is_none(), "{bad:?}");
            assert!(rows_bytes(bad.as_bytes(), &two).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn tsv_with_bytes_that_are_not_utf8() {
        // A String holding other bytes: that field is Bytes, the rest of the
        // answer reads as usual.
        let body = b"n\ts\nInt32\tString\n1\tok\n2\t\xff\\t\xfe\n";
        let r = parse_tsv(body).unwrap();
        assert_eq!(
            r.values,
            vec![
                vec![Value::Int(1), Value::Text("ok".into())],
                vec![Value::Int(2), Value::Bytes(vec![0xff, b'\t', 0xfe])],
            ]
        );
        assert!(parse_tsv(b"n\nInt32\n1\t\xff\n").is_err());
    }

    #[test]
    fn tsv_with_types() {
        let body = b"a\tb\tc\td\te\nUInt64\tNullable(String)\tDecimal(38, 10)\tDateTime\tString\n\
18446744073709551615\t\\N\t-1.0000000001\t2026-11-30 12:00:00\tx\\ty\\\\\n";
        let r = parse_tsv(body).unwrap();
        assert_eq!(r.columns, ["a", "b", "c", "d", "e"]);
        assert_eq!(
            r.values,
            vec![vec![
                Value::UInt(u64::MAX),
                Value::Null,
                Value::Decimal("-1.0000000001".into()),
                Value::DateTime("2026-11-30T12:00:00".into()),
                Value::Text("x\ty\\".into()),
            ]]
        );
        assert_eq!(parse_tsv(b"").unwrap(), Rows::default());
        assert!(parse_tsv(b"a\tb\nUInt8\n").is_err());
        // A row with more or fewer fields than columns is refused.
        assert!(parse_tsv(b"a\nUInt8\n1\t2\n").is_err());
        assert!(parse_tsv(b"a\tb\nUInt8\tUInt8\n1\n").is_err());
        // Each column's type is read once, wrappers included.
        let r = parse_tsv(b"s\tn\nLowCardinality(String)\tNullable(Int32)\na\\nb\t\\N\nc\t-7\n")
            .unwrap();
        assert_eq!(
            r.values,
            vec![
                vec![Value::Text("a\nb".into()), Value::Null],
                vec![Value::Text("c".into()), Value::Int(-7)],
            ]
        );
    }
}
