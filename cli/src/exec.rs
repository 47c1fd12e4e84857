//! `wsdial exec ADDRESS [SQL ...]`: statements in order, one JSON line each.
//!
//! Each result prints as Dial's `{"columns": [...], "values": [[...], ...]}`
//! on one line. With no SQL argument the statements come from stdin, each
//! ended by `;` (see [`split`]). The first statement that fails prints its
//! error on stderr and ends the command with status 1, as a failed dial
//! does; an address that is not a database's (or not an address) is status 2.

use std::io::{Read, Write};
use std::time::Duration;

/// Runs `statements` (or stdin's) against `address`.
pub fn run(
    address: &str,
    statements: Vec<String>,
    timeout: Option<Duration>,
) -> anyhow::Result<u8> {
    match wsdial::Address::parse(address) {
        Ok(a) if a.target().scheme().is_database() => {}
        Ok(a) => {
            eprintln!(
                "wsdial: exec runs SQL on a database: sqlite3://, postgres://, mysql://, clickhouse://; {}:// is not one",
                a.target().scheme().as_str()
            );
            return Ok(2);
        }
        Err(e) => {
            eprintln!("wsdial: {e}");
            return Ok(2);
        }
    }
    let statements = if statements.is_empty() {
        let mut input = String::new();
        std::io::stdin().read_to_string(&mut input)?;
        let backslash = wsdial::Address::parse(address).is_ok_and(|a| {
            matches!(
                a.target().scheme(),
                wsdial::Scheme::Mysql | wsdial::Scheme::Clickhouse
            )
        });
        split(&input, backslash)
    } else {
        statements
    };
    let mut dialer = wsdial::Dialer::new();
    if let Some(t) = timeout {
        dialer = dialer.timeout(t);
    }
    let conn = match dialer.dial(address) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wsdial: {e}");
            return Ok(1);
        }
    };
    let mut out = std::io::stdout().lock();
    for sql in &statements {
        match conn.exec(sql) {
            Ok(rows) => {
                // wsdial::db::Rows serialises to Dial's shape (and `affected`).
                serde_json::to_writer(&mut out, &rows)?;
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Err(e) => {
                eprintln!("wsdial: {e}\n  in: {}", sql.trim());
                return Ok(1);
            }
        }
    }
    Ok(0)
}

/// Splits a script into statements, each ended by `;` outside quotes and
/// comments: `'…'` and `"…"` and `` `…` `` (a doubled quote stays inside),
/// `-- …` to the end of the line, `/* … */`, and PostgreSQL's `$tag$…$tag$`.
/// With `backslash` (MySQL, ClickHouse), `\'` inside quotes is a quote, not
/// the end (in SQLite and PostgreSQL a backslash is an ordinary character).
/// Blank statements are left out; text after the last `;` is a statement too.
///
/// What it does not know: a `;` inside a `CREATE TRIGGER … BEGIN … END`
/// body ends the statement there (pass such a statement as an argument).
pub fn split(script: &str, backslash: bool) -> Vec<String> {
    let b = script.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut push = |s: &str| {
        if !s.trim().is_empty() {
            out.push(s.trim().to_owned());
        }
    };
    while i < b.len() {
        match b[i] {
            q @ (b'\'' | b'"' | b'`') => {
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    if backslash && b[i] == b'\\' && q != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < b.len() && !(b[i] == b'*' && b.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i += 2;
            }
            b'$' => {
                // $tag$ … $tag$ (the tag may be empty); a lone `$1` is a placeholder.
                let rest = &script[i + 1..];
                let tag_len = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let opens = rest.as_bytes().get(tag_len) == Some(&b'$')
                    && !rest[..tag_len].starts_with(|c: char| c.is_ascii_digit());
                if opens {
                    let tag = &script[i..i + tag_len + 2];
                    let body = i + tag.len();
                    i = match script[body..].find(tag) {
                        Some(end) => body + end + tag.len(),
                        None => b.len(),
                    };
                } else {
                    i += 1;
                }
            }
            b';' => {
                push(&script[start..i]);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < b.len() {
        push(&script[start.min(b.len())..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_semicolons_outside_quotes_and_comments() {
        let script = "create table t (a text);\n\
            insert into t values ('a;b'), (\"c;d\"), ('it''s; ok');\n\
            -- a comment; with a semicolon\n\
            select `we;ird` from t /* ; */ where a = $1;\n\
            do $body$ begin perform 1; end $body$;\n\
            select 'no end' ";
        assert_eq!(
            split(script, false),
            [
                "create table t (a text)",
                "insert into t values ('a;b'), (\"c;d\"), ('it''s; ok')",
                "-- a comment; with a semicolon\nselect `we;ird` from t /* ; */ where a = $1",
                "do $body$ begin perform 1; end $body$",
                "select 'no end'",
            ]
        );
    }

    #[test]
    fn blank_statements_and_unclosed_quotes() {
        assert!(split(" ; ;\n", false).is_empty());
        assert_eq!(split("select 'a\\';b';", true), ["select 'a\\';b'"]);
        assert_eq!(
            split("select 'C:\\';select 2", false),
            ["select 'C:\\'", "select 2"]
        );
        assert_eq!(split("select 'open;", false), ["select 'open;"]);
        assert_eq!(split("select 1 /* open", false), ["select 1 /* open"]);
    }
}
