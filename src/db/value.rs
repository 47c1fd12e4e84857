//! What a statement takes and returns: [`Value`] and [`Rows`].

/// One value of a row, or one bound parameter of
/// [`Conn::exec_with`](crate::Conn::exec_with).
///
/// Decimals are kept as the database wrote them (no digit is lost); dates and
/// times are ISO 8601 text (`2026-11-30`, `12:34:56.789`,
/// `2026-11-30T12:34:56.789`, with `+00:00` when the type has a zone).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer of any width up to 64 bits.
    Int(i64),
    /// An unsigned integer too large for `Int` (MySQL, ClickHouse `UInt64`).
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// An exact decimal number, as the database's text (`12345678901234567890.123`).
    Decimal(String),
    /// Text.
    Text(String),
    /// Binary data (`BLOB`, `bytea`, `VARBINARY`).
    Bytes(Vec<u8>),
    /// A calendar date, `YYYY-MM-DD`.
    Date(String),
    /// A time of day, `HH:MM:SS[.fraction]`.
    Time(String),
    /// A date and time, `YYYY-MM-DDTHH:MM:SS[.fraction][+HH:MM]`.
    DateTime(String),
}

/// The result of one statement: Dial's `{"columns": [...], "values": [[...]]}`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows {
    /// The column names, in order.
    pub columns: Vec<String>,
    /// The rows, each with one value per column.
    pub values: Vec<Vec<Value>>,
    /// For a statement without rows (`INSERT`, `UPDATE`, `DELETE`, DDL): the
    /// rows it affected, where the database says.
    pub affected: Option<u64>,
}

impl Value {
    /// The integer, if this is an `Int` (or a `UInt` that fits in `i64`).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            Value::UInt(u) => i64::try_from(u).ok(),
            _ => None,
        }
    }

    /// The number, if this is a `Float`, an `Int` or a `UInt` (integers
    /// beyond 2^53 are rounded).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(f) => Some(f),
            Value::Int(i) => Some(i as f64),
            Value::UInt(u) => Some(u as f64),
            _ => None,
        }
    }

    /// The text of a `Text`, `Decimal`, `Date`, `Time` or `DateTime`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s)
            | Value::Decimal(s)
            | Value::Date(s)
            | Value::Time(s)
            | Value::DateTime(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes of a `Bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// True for `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// JSON as Dial writes a value: `null`, `true`/`false`, integers and floats
/// as JSON numbers, decimals, dates and times as strings (a decimal keeps
/// every digit), text as a string, and bytes as a base64 string (RFC 4648,
/// standard alphabet, padded). A float that JSON cannot hold (NaN, ±infinity)
/// is the string `"NaN"`, `"inf"` or `"-inf"`.
impl serde::Serialize for Value {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) if f.is_finite() => s.serialize_f64(*f),
            Value::Float(f) if f.is_nan() => s.serialize_str("NaN"),
            Value::Float(f) if *f > 0.0 => s.serialize_str("inf"),
            Value::Float(_) => s.serialize_str("-inf"),
            Value::Bytes(b) => s.serialize_str(&data_encoding::BASE64.encode(b)),
            Value::Decimal(t)
            | Value::Text(t)
            | Value::Date(t)
            | Value::Time(t)
            | Value::DateTime(t) => s.serialize_str(t),
        }
    }
}

/// Dial's shape: `{"columns": [...], "values": [[...], ...]}`, with
/// `"affected": n` after them when the database said how many rows the
/// statement changed.
impl serde::Serialize for Rows {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(2 + usize::from(self.affected.is_some())))?;
        m.serialize_entry("columns", &self.columns)?;
        m.serialize_entry("values", &self.values)?;
        if let Some(n) = self.affected {
            m.serialize_entry("affected", &n)?;
        }
        m.end()
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32);

impl From<u64> for Value {
    /// `Int` when it fits in `i64`, else `UInt`.
    fn from(v: u64) -> Value {
        i64::try_from(v).map_or(Value::UInt(v), Value::Int)
    }
}

impl From<usize> for Value {
    /// `Int` when it fits in `i64`, else `UInt`.
    fn from(v: usize) -> Value {
        Value::from(v as u64)
    }
}

impl From<isize> for Value {
    fn from(v: isize) -> Value {
        Value::Int(v as i64)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(f64::from(v))
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Text(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Value {
        Value::Text(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Bytes(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Bytes(v.to_vec())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` is `Null`.
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_serialise_to_dials_shape() {
        let rows = Rows {
            columns: vec!["a".into(), "b".into()],
            values: vec![
                vec![Value::Int(-1), Value::UInt(u64::MAX)],
                vec![
                    Value::Float(1.5),
                    Value::Decimal("12345678901234567890.123456789".into()),
                ],
                vec![Value::Null, Value::Bool(true)],
                vec![Value::Bytes(vec![0, 1, 255]), Value::Text("x\"y".into())],
                vec![
                    Value::Date("2026-11-30".into()),
                    Value::DateTime("2026-11-30T12:34:56.789".into()),
                ],
                vec![Value::Float(f64::NAN), Value::Float(f64::NEG_INFINITY)],
            ],
            affected: None,
        };
        assert_eq!(
            serde_json::to_string(&rows).unwrap(),
            r#"{"columns":["a","b"],"values":[[-1,18446744073709551615],[1.5,"12345678901234567890.123456789"],[null,true],["AAH/","x\"y"],["2026-11-30","2026-11-30T12:34:56.789"],["NaN","-inf"]]}"#
        );
        let done = Rows {
            affected: Some(3),
            ..Rows::default()
        };
        assert_eq!(
            serde_json::to_string(&done).unwrap(),
            r#"{"columns":[],"values":[],"affected":3}"#
        );
    }

    #[test]
    fn params_convert() {
        assert_eq!(Value::from(1), Value::Int(1));
        assert_eq!(Value::from(u64::MAX), Value::UInt(u64::MAX));
        assert_eq!(Value::from(7u64), Value::Int(7));
        assert_eq!(Value::from("x"), Value::Text("x".into()));
        assert_eq!(Value::from(2.5), Value::Float(2.5));
        assert_eq!(Value::from(vec![1u8]), Value::Bytes(vec![1]));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert_eq!(Value::from(Some("y")), Value::Text("y".into()));
        assert_eq!(Value::from(true), Value::Bool(true));
        assert_eq!(Value::Int(3).as_i64(), Some(3));
        assert_eq!(Value::Decimal("1.10".into()).as_str(), Some("1.10"));
    }
}
