//! Values between wsdial's [`Value`] and klickhouse's, by the column's
//! ClickHouse type, and the rows of an `INSERT … VALUES` read on the client.
//!
//! Reading gives what the HTTP form gives for the same column (its
//! `TabSeparatedWithNamesAndTypes` text read by type): integers as `Int`
//! (`UInt64` past `i64::MAX` as `UInt`), floats as `Float` (`Float32` by its
//! shortest text, as ClickHouse prints it), decimals as `Decimal` text with
//! every digit of the column's scale, `Date` as `YYYY-MM-DD`, `DateTime` as
//! `YYYY-MM-DDTHH:MM:SS` in the column's (or the server's) time zone,
//! `String` as `Text` (`Bytes` when not UTF-8), `Enum` by name, `UUID`,
//! arrays and tuples as ClickHouse's text.

use std::fmt::Write as _;

use chrono::{NaiveDate, NaiveDateTime, TimeZone as _};
use klickhouse::{Type, Value as Ch};

use crate::db::Value;
use crate::error::{Error, ErrorKind};

fn epoch() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("1970-01-01")
}

/// A value read from the server, as the HTTP form reads the same column.
pub(super) fn from_ch(v: Ch, ty: &Type) -> Value {
    let ty = strip(ty);
    match v {
        Ch::Null => Value::Null,
        Ch::Int8(i) => Value::Int(i.into()),
        Ch::Int16(i) => Value::Int(i.into()),
        Ch::Int32(i) => Value::Int(i.into()),
        Ch::Int64(i) => Value::Int(i),
        Ch::UInt8(i) => Value::Int(i.into()),
        Ch::UInt16(i) => Value::Int(i.into()),
        Ch::UInt32(i) => Value::Int(i.into()),
        Ch::UInt64(u) => i64::try_from(u).map_or(Value::UInt(u), Value::Int),
        Ch::Float32(f) => Value::Float(f.to_string().parse().unwrap_or(f.into())),
        Ch::Float64(f) => Value::Float(f),
        Ch::Decimal32(s, v) => Value::Decimal(decimal_text(v.into(), s)),
        Ch::Decimal64(s, v) => Value::Decimal(decimal_text(v.into(), s)),
        Ch::Decimal128(s, v) => Value::Decimal(decimal_text(v, s)),
        Ch::String(b) => match String::from_utf8(b) {
            Ok(t) => Value::Text(t),
            Err(e) => Value::Bytes(e.into_bytes()),
        },
        Ch::Uuid(u) => Value::Text(u.hyphenated().to_string()),
        Ch::Date(d) => Value::Date(date_text(d.0)),
        Ch::DateTime(dt) => Value::DateTime(datetime_text(&dt.0, dt.1)),
        Ch::Enum8(i) => Value::Text(enum_name(ty, i.into())),
        Ch::Enum16(i) => Value::Text(enum_name(ty, i)),
        other => {
            let mut s = String::new();
            text(&mut s, &other, ty, false);
            Value::Text(s)
        }
    }
}

/// `Nullable(T)` and `LowCardinality(T)` read as `T`.
fn strip(ty: &Type) -> &Type {
    match ty {
        Type::Nullable(t) | Type::LowCardinality(t) => strip(t),
        t => t,
    }
}

fn decimal_text(v: i128, scale: usize) -> String {
    let digits = v.unsigned_abs().to_string();
    let sign = if v < 0 { "-" } else { "" };
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

fn date_text(days: u16) -> String {
    (epoch() + chrono::Days::new(days.into()))
        .format("%Y-%m-%d")
        .to_string()
}

fn datetime_text(tz: &klickhouse::Tz, secs: u32) -> String {
    match tz.timestamp_opt(secs.into(), 0).single() {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        None => secs.to_string(),
    }
}

fn enum_name(ty: &Type, v: i16) -> String {
    let found = match ty {
        Type::Enum8(names) => names
            .iter()
            .find(|(_, n)| i16::from(*n) == v)
            .map(|(s, _)| s.clone()),
        Type::Enum16(names) => names.iter().find(|(_, n)| *n == v).map(|(s, _)| s.clone()),
        _ => None,
    };
    found.unwrap_or_else(|| v.to_string())
}

/// ClickHouse's text of a value inside an array or tuple (strings quoted).
fn text(out: &mut String, v: &Ch, ty: &Type, quoted: bool) {
    let ty = strip(ty);
    let q = |out: &mut String, s: &str| {
        if quoted {
            super::super::client::quote(out, s);
        } else {
            out.push_str(s);
        }
    };
    match v {
        Ch::Null => out.push_str("NULL"),
        Ch::Array(items) => {
            let inner = match ty {
                Type::Array(t) => &**t,
                t => t,
            };
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                text(out, x, inner, true);
            }
            out.push(']');
        }
        Ch::Tuple(items) => {
            out.push('(');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let t = match ty {
                    Type::Tuple(ts) => ts.get(i).unwrap_or(ty),
                    t => t,
                };
                text(out, x, t, true);
            }
            out.push(')');
        }
        scalar => match from_ch(scalar.clone(), ty) {
            Value::Null => out.push_str("NULL"),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::UInt(u) => {
                let _ = write!(out, "{u}");
            }
            Value::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Value::Decimal(s) | Value::Text(s) => q(out, &s),
            Value::Date(s) => q(out, &s),
            Value::DateTime(s) => q(out, &s.replacen('T', " ", 1)),
            Value::Bytes(b) => q(out, &String::from_utf8_lossy(&b)),
            other => q(out, &format!("{other:?}")),
        },
    }
}

fn refuse(v: &Value, ty: &Type, why: &str) -> Error {
    Error::new(
        ErrorKind::Syntax,
        format!("clickhouse: {v:?} cannot be written to a column of type {ty}: {why}"),
    )
}

/// A value to send for a column of type `ty`.
pub(super) fn to_ch(v: &Value, ty: &Type) -> Result<Ch, Error> {
    let bad = |why: &str| refuse(v, ty, why);
    match (ty, v) {
        (Type::Nullable(_), Value::Null) => return Ok(Ch::Null),
        (Type::Nullable(t), v) => return to_ch(v, t),
        (Type::LowCardinality(t), v) => return to_ch(v, t),
        (_, Value::Null) => return Err(bad("the column is not Nullable")),
        _ => {}
    }
    let int = || -> Result<i128, Error> {
        match v {
            Value::Int(i) => Ok((*i).into()),
            Value::UInt(u) => Ok((*u).into()),
            Value::Bool(b) => Ok((*b).into()),
            Value::Text(s) | Value::Decimal(s) => {
                s.trim().parse().map_err(|_| bad("not a whole number"))
            }
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e38 => Ok(*f as i128),
            _ => Err(bad("not a whole number")),
        }
    };
    let range = |_| bad("out of the column's range");
    let float = || -> Result<f64, Error> {
        match v {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::UInt(u) => Ok(*u as f64),
            Value::Bool(b) => Ok(f64::from(u8::from(*b))),
            Value::Text(s) | Value::Decimal(s) => s.trim().parse().map_err(|_| bad("not a number")),
            _ => Err(bad("not a number")),
        }
    };
    let text = || -> Result<String, Error> {
        match v {
            Value::Text(s) | Value::Decimal(s) | Value::Date(s) | Value::Time(s) => Ok(s.clone()),
            Value::DateTime(s) => Ok(s.replacen('T', " ", 1)),
            Value::Int(i) => Ok(i.to_string()),
            Value::UInt(u) => Ok(u.to_string()),
            Value::Float(f) => Ok(f.to_string()),
            Value::Bool(b) => Ok(u8::from(*b).to_string()),
            Value::Bytes(_) | Value::Null => Err(bad("not text")),
        }
    };
    Ok(match ty {
        Type::Int8 => Ch::Int8(int()?.try_into().map_err(range)?),
        Type::Int16 => Ch::Int16(int()?.try_into().map_err(range)?),
        Type::Int32 => Ch::Int32(int()?.try_into().map_err(range)?),
        Type::Int64 => Ch::Int64(int()?.try_into().map_err(range)?),
        Type::UInt8 => Ch::UInt8(int()?.try_into().map_err(range)?),
        Type::UInt16 => Ch::UInt16(int()?.try_into().map_err(range)?),
        Type::UInt32 => Ch::UInt32(int()?.try_into().map_err(range)?),
        Type::UInt64 => Ch::UInt64(int()?.try_into().map_err(range)?),
        Type::Float32 => Ch::Float32(float()? as f32),
        Type::Float64 => Ch::Float64(float()?),
        Type::Decimal32(s) => Ch::Decimal32(*s, decimal(&text()?, *s, 9).map_err(|w| bad(&w))? as i32),
        Type::Decimal64(s) => Ch::Decimal64(*s, decimal(&text()?, *s, 18).map_err(|w| bad(&w))? as i64),
        Type::Decimal128(s) => Ch::Decimal128(*s, decimal(&text()?, *s, 38).map_err(|w| bad(&w))?),
        Type::String => match v {
            Value::Bytes(b) => Ch::String(b.clone()),
            _ => Ch::String(text()?.into_bytes()),
        },
        Type::FixedString(n) => {
            let b = match v {
                Value::Bytes(b) => b.clone(),
                _ => text()?.into_bytes(),
            };
            if b.len() > *n {
                return Err(bad(&format!("longer than {n} bytes")));
            }
            Ch::String(b)
        }
        Type::Uuid => Ch::Uuid(
            text()?
                .parse()
                .map_err(|_| bad("not a UUID (write 8-4-4-4-12 hex digits)"))?,
        ),
        Type::Date => {
            let d = NaiveDate::parse_from_str(text()?.trim(), "%Y-%m-%d")
                .map_err(|_| bad("not a date (write YYYY-MM-DD)"))?;
            let days = (d - epoch()).num_days();
            Ch::Date(klickhouse::Date(
                days.try_into().map_err(|_| bad("outside 1970-01-01..2149-06-06"))?,
            ))
        }
        Type::DateTime(tz) => {
            let secs = match v {
                Value::Int(_) | Value::UInt(_) => int()?,
                _ => {
                    let t = text()?;
                    let local = NaiveDateTime::parse_from_str(t.trim(), "%Y-%m-%d %H:%M:%S")
                        .map_err(|_| bad("not a date and time (write YYYY-MM-DD HH:MM:SS or YYYY-MM-DDTHH:MM:SS)"))?;
                    let at = tz
                        .from_local_datetime(&local)
                        .earliest()
                        .ok_or_else(|| bad("that local time does not exist in the column's time zone"))?;
                    at.timestamp().into()
                }
            };
            Ch::DateTime(klickhouse::DateTime(
                *tz,
                secs.try_into().map_err(|_| bad("outside 1970..2106"))?,
            ))
        }
        Type::Enum8(names) => {
            let t = text()?;
            match names.iter().find(|(n, _)| *n == t) {
                Some((_, i)) => Ch::Enum8(*i),
                None => Ch::Enum8(int().map_err(|_| bad("not one of the enum's names"))?.try_into().map_err(range)?),
            }
        }
        Type::Enum16(names) => {
            let t = text()?;
            match names.iter().find(|(n, _)| *n == t) {
                Some((_, i)) => Ch::Enum16(*i),
                None => Ch::Enum16(int().map_err(|_| bad("not one of the enum's names"))?.try_into().map_err(range)?),
            }
        }
        _ => {
            return Err(Error::new(
                ErrorKind::Unsupported,
                format!(
                    "clickhouse://tcp://: a column of type {ty} is not written by wsdial's native form \
                     (numbers, decimals, String, FixedString, UUID, Date, DateTime, Enum and their \
                     Nullable are); use INSERT … SELECT or the HTTP form"
                ),
            ))
        }
    })
}

/// `text` as a decimal with `scale` digits after the point, as an integer
/// scaled by 10^scale, of at most `precision` digits in all.
fn decimal(text: &str, scale: usize, precision: usize) -> Result<i128, String> {
    let t = text.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let ok = !(int.is_empty() && frac.is_empty())
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit());
    if !ok {
        return Err("not a decimal number (write digits, an optional `-` and `.`)".into());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > scale {
        return Err(format!(
            "more than the column's {scale} digits after the point"
        ));
    }
    let int = int.trim_start_matches('0');
    if int.len() + scale > precision {
        return Err(format!("more than the column's {precision} digits"));
    }
    let all = format!("{int}{frac:0<scale$}");
    let n: i128 = if all.is_empty() {
        0
    } else {
        all.parse().map_err(|_| "too many digits".to_string())?
    };
    Ok(if neg { -n } else { n })
}

/// One cell of an `INSERT … VALUES` tuple: a `?` or a literal.
#[derive(Debug, PartialEq)]
pub(in crate::db::clickhouse) enum Cell {
    Param,
    Lit(Value),
}

/// The rows of `INSERT … VALUES (…), (…)`: `?`, `NULL`, numbers and quoted
/// strings; anything else (an expression) is refused.
pub(in crate::db::clickhouse) fn values_rows(tail: &str) -> Result<Vec<Vec<Cell>>, Error> {
    let b = tail.as_bytes();
    let mut i = 0;
    let mut rows = Vec::new();
    let skip = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    let refuse = |at: usize| {
        let near: String = tail[at.min(tail.len())..].chars().take(30).collect();
        Error::new(
            ErrorKind::Unsupported,
            format!(
                "clickhouse://tcp://: INSERT … VALUES is read by wsdial, which accepts `?`, NULL, \
                 numbers and quoted strings in its tuples; not `{near}` (bind it as a parameter, or \
                 use INSERT … SELECT)"
            ),
        )
    };
    loop {
        skip(&mut i);
        if i >= b.len() {
            break;
        }
        if !rows.is_empty() {
            if b[i] != b',' {
                return Err(refuse(i));
            }
            i += 1;
            skip(&mut i);
        }
        if b.get(i) != Some(&b'(') {
            return Err(refuse(i));
        }
        i += 1;
        let mut row = Vec::new();
        loop {
            skip(&mut i);
            let start = i;
            let cell = match b.get(i) {
                Some(b'?') => {
                    i += 1;
                    Cell::Param
                }
                Some(b'\'') => {
                    let mut s = Vec::new();
                    i += 1;
                    loop {
                        match b.get(i) {
                            None => return Err(refuse(start)),
                            Some(b'\\') => {
                                let c = *b.get(i + 1).ok_or_else(|| refuse(start))?;
                                s.push(match c {
                                    b'n' => b'\n',
                                    b't' => b'\t',
                                    b'r' => b'\r',
                                    b'0' => 0,
                                    b'b' => 8,
                                    b'f' => 12,
                                    c => c,
                                });
                                i += 2;
                            }
                            Some(b'\'') if b.get(i + 1) == Some(&b'\'') => {
                                s.push(b'\'');
                                i += 2;
                            }
                            Some(b'\'') => {
                                i += 1;
                                break;
                            }
                            Some(&c) => {
                                s.push(c);
                                i += 1;
                            }
                        }
                    }
                    Cell::Lit(match String::from_utf8(s) {
                        Ok(t) => Value::Text(t),
                        Err(e) => Value::Bytes(e.into_bytes()),
                    })
                }
                Some(_) => {
                    while i < b.len() && !matches!(b[i], b',' | b')') && !b[i].is_ascii_whitespace()
                    {
                        i += 1;
                    }
                    Cell::Lit(literal(&tail[start..i]).ok_or_else(|| refuse(start))?)
                }
                None => return Err(refuse(i)),
            };
            row.push(cell);
            skip(&mut i);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b')') => {
                    i += 1;
                    break;
                }
                _ => return Err(refuse(i)),
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// `NULL` or a number, as the value it stands for.
fn literal(s: &str) -> Option<Value> {
    if s.eq_ignore_ascii_case("null") {
        return Some(Value::Null);
    }
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .map(Value::Int)
            .or_else(|_| s.trim_start_matches('+').parse::<u64>().map(Value::UInt))
            .ok();
    }
    let plain =
        digits.split('.').count() == 2 && digits.bytes().all(|c| c.is_ascii_digit() || c == b'.');
    if plain && digits != "." {
        return Some(Value::Decimal(s.trim_start_matches('+').to_owned()));
    }
    let lower = digits.to_ascii_lowercase();
    let float_like = lower
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'-' | b'+'))
        && lower.bytes().any(|c| c.is_ascii_digit());
    if float_like || lower == "inf" || lower == "nan" {
        return s.parse::<f64>().ok().map(Value::Float);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_tuples_literals_and_placeholders() {
        let rows = values_rows(
            " (?, NULL, -5, 1.50, 'it''s \\'x\\'\\n', 1e3) ,(?,18446744073709551615,?,?,?,?)",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            vec![
                Cell::Param,
                Cell::Lit(Value::Null),
                Cell::Lit(Value::Int(-5)),
                Cell::Lit(Value::Decimal("1.50".into())),
                Cell::Lit(Value::Text("it's 'x'\n".into())),
                Cell::Lit(Value::Float(1000.0)),
            ]
        );
        assert_eq!(rows[1][1], Cell::Lit(Value::UInt(u64::MAX)));
        for bad in ["(now())", "(1", "(1) (2)", "('x)", "1"] {
            let e = values_rows(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{bad}");
            assert!(e.to_string().contains("INSERT … SELECT"), "{e}");
        }
        assert!(values_rows("  ").unwrap().is_empty());
    }

    #[test]
    fn decimals_keep_every_digit() {
        assert_eq!(decimal_text(-1, 10), "-0.0000000001");
        assert_eq!(decimal_text(15_000_000_000, 10), "1.5000000000");
        assert_eq!(decimal_text(3, 0), "3");
        let big = "1234567890123456789012345678.0123456789";
        let n = decimal(big, 10, 38).unwrap();
        assert_eq!(decimal_text(n, 10), big);
        assert_eq!(decimal("-0.5", 2, 9), Ok(-50));
        assert!(decimal("0.001", 2, 9)
            .unwrap_err()
            .contains("2 digits after"));
        assert!(decimal("1e5", 2, 9).is_err());
        assert!(decimal("12345678", 2, 9).unwrap_err().contains("9 digits"));
    }

    #[test]
    fn writes_are_checked_against_the_column() {
        assert_eq!(
            to_ch(&Value::Int(300), &Type::Int16).unwrap(),
            Ch::Int16(300)
        );
        assert_eq!(
            to_ch(&Value::Int(300), &Type::UInt8).unwrap_err().kind(),
            ErrorKind::Syntax
        );
        assert_eq!(
            to_ch(&Value::Null, &Type::Int8).unwrap_err().kind(),
            ErrorKind::Syntax
        );
        assert_eq!(
            to_ch(&Value::Null, &Type::Nullable(Box::new(Type::Int8))).unwrap(),
            Ch::Null
        );
        assert_eq!(
            to_ch(&Value::Text("abcd".into()), &Type::FixedString(3))
                .unwrap_err()
                .kind(),
            ErrorKind::Syntax
        );
        let date = to_ch(&Value::Date("2026-11-30".into()), &Type::Date).unwrap();
        assert_eq!(from_ch(date, &Type::Date), Value::Date("2026-11-30".into()));
        let tz: klickhouse::Tz = "UTC".parse().unwrap();
        let dt = to_ch(
            &Value::DateTime("2026-11-30T12:34:56".into()),
            &Type::DateTime(tz),
        )
        .unwrap();
        assert_eq!(
            from_ch(dt, &Type::DateTime(tz)),
            Value::DateTime("2026-11-30T12:34:56".into())
        );
    }
}
