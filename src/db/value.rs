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
