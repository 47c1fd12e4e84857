//! `INSERT … VALUES` over the native protocol, in one round trip: the rows are
//! read on the client (`convert::values_rows`), the statement is sent, and
//! the server's answer (a block of no rows, naming the columns' types) is
//! what each row's values are converted by (`convert::to_ch`) before they go
//! as one block. Runs on the session's thread (`wsdial-clickhouse`).
//!
//! All or nothing: a value that does not fit its column stops the insert
//! before any row is sent; that `exec` fails with the value's error and the
//! connection, which the server holds waiting for rows, is replaced for the
//! next statement (as after a server's exception).

use std::borrow::Cow;
use std::sync::Arc;

use klickhouse::{IndexMap, KlickhouseError, Type, Value as Ch};
use parking_lot::Mutex;

use super::convert::{self, Cell};
use super::{ch_error, closing_quote, lost, renew_connection};
use crate::db::{Rows, Value};
use crate::error::{Error, ErrorKind};

/// What an `INSERT` statement carries.
#[derive(Debug, PartialEq)]
pub(in crate::db::clickhouse) enum Insert<'a> {
    /// `INSERT … VALUES`, split after its `VALUES` keyword (outside quotes).
    Values(&'a str, &'a str),
    /// `INSERT … FORMAT …` (or no rows at all): rows the server would wait for.
    Data,
    /// Not an insert, or `INSERT … SELECT`: the server runs it alone.
    Not,
}

pub(in crate::db::clickhouse) fn split_insert(sql: &str) -> Insert<'_> {
    if !sql
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("insert"))
    {
        return Insert::Not;
    }
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' | b'`' => i = closing_quote(b, i),
            c if c.is_ascii_alphabetic() => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = &sql[start..i];
                if word.eq_ignore_ascii_case("values") {
                    return Insert::Values(&sql[..i], &sql[i..]);
                }
                if word.eq_ignore_ascii_case("select") || word.eq_ignore_ascii_case("with") {
                    return Insert::Not;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Insert::Data
}

/// The name of a column no table has: a row whose value was refused answers
/// with it, so that klickhouse stops the insert before sending its block.
const REFUSED: &str = "\0wsdial: a value was refused";

/// One row of the insert, converted when klickhouse hands it the columns'
/// types (`Row::serialize_row`).
struct Pending {
    /// Its number, from 1, for messages.
    n: usize,
    values: Vec<Value>,
    head: Arc<str>,
    /// The first refusal, which the caller returns.
    refused: Arc<Mutex<Option<Error>>>,
}

impl Pending {
    fn convert(
        self,
        types: &IndexMap<String, Type>,
    ) -> Result<Vec<(Cow<'static, str>, Ch)>, Error> {
        if self.values.len() != types.len() {
            return Err(Error::new(
                ErrorKind::Syntax,
                format!(
                    "clickhouse: row {} of `{} …` has {} values for {} columns ({})",
                    self.n,
                    self.head,
                    self.values.len(),
                    types.len(),
                    types.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            ));
        }
        let n = self.n;
        self.values
            .iter()
            .zip(types)
            .map(|(v, (name, ty))| {
                let ch = convert::to_ch(v, ty)
                    .map_err(|e| e.map_message(|m| format!("{m} (column `{name}`, row {n})")))?;
                Ok((Cow::Owned(name.clone()), ch))
            })
            .collect()
    }
}

impl klickhouse::Row for Pending {
    const COLUMN_COUNT: Option<usize> = None;

    fn column_names() -> Option<Vec<Cow<'static, str>>> {
        None
    }

    fn deserialize_row(_: Vec<(&str, &Type, Ch)>) -> klickhouse::Result<Self> {
        Err(KlickhouseError::DeserializeError(
            "wsdial's insert rows are not read back".into(),
        ))
    }

    fn serialize_row(
        self,
        types: &IndexMap<String, Type>,
    ) -> klickhouse::Result<Vec<(Cow<'static, str>, Ch)>> {
        let refused = self.refused.clone();
        Ok(self.convert(types).unwrap_or_else(|e| {
            refused.lock().get_or_insert(e);
            vec![(Cow::Borrowed(REFUSED), Ch::Null)]
        }))
    }
}

/// Runs `head tail` (`INSERT … VALUES`, `tail` its tuples) with `params`.
pub(super) async fn insert(
    client: &klickhouse::Client,
    address: &str,
    head: &str,
    tail: &str,
    params: Vec<Value>,
) -> Result<Rows, Error> {
    let cells = convert::values_rows(tail)?;
    let wanted = cells
        .iter()
        .flatten()
        .filter(|c| **c == Cell::Param)
        .count();
    if wanted != params.len() {
        return Err(Error::new(
            ErrorKind::Syntax,
            format!(
                "clickhouse: `{head} …` does not have one `?` placeholder per parameter ({} given, {wanted} placeholders)",
                params.len()
            ),
        ));
    }
    if cells.is_empty() {
        return Ok(Rows::default());
    }
    let shared: Arc<str> = head.into();
    let refused = Arc::new(Mutex::new(None));
    let mut next = params.into_iter();
    let rows: Vec<Pending> = cells
        .into_iter()
        .enumerate()
        .map(|(r, row)| Pending {
            n: r + 1,
            values: row
                .into_iter()
                .map(|cell| match cell {
                    Cell::Param => next.next().expect("counted above"),
                    Cell::Lit(v) => v,
                })
                .collect(),
            head: shared.clone(),
            refused: refused.clone(),
        })
        .collect();
    let result = client.insert_native_block(head, rows).await;
    if let Some(e) = refused.lock().take() {
        // The server waits for the rows that were not sent.
        renew_connection();
        return Err(e);
    }
    if let Err(e) = result {
        // Whatever stopped it, the server may still wait for rows.
        renew_connection();
        return Err(ch_error(address, e));
    }
    if client.is_closed() {
        return Err(lost(address));
    }
    Ok(Rows::default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_values_is_split_after_its_keyword_only() {
        assert_eq!(
            split_insert("insert into t (a, `values`) VALUES (?, 'VALUES')"),
            Insert::Values("insert into t (a, `values`) VALUES", " (?, 'VALUES')")
        );
        assert_eq!(split_insert("INSERT INTO t SELECT * FROM u"), Insert::Not);
        assert_eq!(split_insert("INSERT INTO t FORMAT TSV"), Insert::Data);
        assert_eq!(split_insert("INSERT INTO t"), Insert::Data);
        assert_eq!(split_insert("SELECT 'values'"), Insert::Not);
        assert_eq!(split_insert("ins"), Insert::Not);
    }

    #[test]
    fn a_refused_value_names_its_column_and_row_and_stops_the_block() {
        let types: IndexMap<String, Type> = [
            ("id".to_owned(), Type::Int64),
            ("s".to_owned(), Type::String),
        ]
        .into_iter()
        .collect();
        let refused = Arc::new(Mutex::new(None));
        let row = |n, values| Pending {
            n,
            values,
            head: "INSERT INTO t VALUES".into(),
            refused: refused.clone(),
        };
        use klickhouse::Row as _;
        let ok = row(1, vec![Value::Int(1), Value::Text("a".into())])
            .serialize_row(&types)
            .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].0, "id");
        assert!(refused.lock().is_none());
        let bad = row(2, vec![Value::Text("x".into()), Value::Text("b".into())])
            .serialize_row(&types)
            .unwrap();
        // A column no table has: klickhouse stops before sending the block.
        assert_eq!(bad[0].0, REFUSED);
        assert!(!types.contains_key(REFUSED));
        let e = refused.lock().take().expect("the refusal is kept");
        assert!(e.to_string().contains("(column `id`, row 2)"), "{e}");
        row(3, vec![Value::Int(1)]).serialize_row(&types).unwrap();
        let e = refused.lock().take().expect("a short row is refused");
        assert_eq!(e.kind(), ErrorKind::Syntax);
        assert!(e.to_string().contains("row 3"), "{e}");
    }
}
