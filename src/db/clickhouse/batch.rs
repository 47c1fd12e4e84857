//! `exec_many` on ClickHouse, over either protocol: an `INSERT … VALUES`
//! of one tuple runs as one INSERT whose VALUES holds the tuple once per
//! parameter row, not as one INSERT per row. ClickHouse wants few large
//! inserts: each INSERT is a part on disk, merged later, and thousands of
//! small ones are slow and end in "too many parts".
//!
//! All or nothing: a row whose number of values does not match the
//! placeholders is refused by name before anything is sent; and ClickHouse
//! writes an INSERT of up to `max_insert_block_size` rows (1,048,576 by
//! default) as one block, so a value the server refuses fails the whole
//! batch and nothing is inserted. Any other statement runs once per row.

use std::time::Instant;

use super::native::convert::{values_rows, Cell};
use super::native::insert::{split_insert, Insert};
use crate::db::{Database, Opener, Rows, Value};
use crate::error::{Error, ErrorKind};

/// Opens sessions whose `exec_many` batches inserts (see the module docs).
pub(super) struct Batched<O>(pub(super) O);

impl<O: Opener> Opener for Batched<O> {
    fn open(&self, deadline: Instant) -> Result<Box<dyn Database>, Error> {
        Ok(Box::new(OneInsert(self.0.open(deadline)?)))
    }
}

/// A session whose `exec_many` of an `INSERT … VALUES (…)` is one INSERT.
struct OneInsert(Box<dyn Database>);

impl Database for OneInsert {
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<Rows, Error> {
        self.0.exec(sql, params, deadline)
    }

    fn exec_many(
        &mut self,
        sql: &str,
        rows: &[&[Value]],
        deadline: Option<Instant>,
    ) -> Result<u64, Error> {
        let Some((head, tuple, width)) = one_tuple(sql) else {
            return self.0.exec_many(sql, rows, deadline);
        };
        if rows.is_empty() {
            return Ok(0);
        }
        if let Some((i, row)) = rows.iter().enumerate().find(|(_, r)| r.len() != width) {
            return Err(Error::new(
                ErrorKind::Syntax,
                format!(
                    "exec_many: parameter row {i} (0-based) has {} value(s) for the {width} `?` placeholder(s) of `{sql}`; nothing was inserted (on ClickHouse exec_many sends every row in one INSERT)",
                    row.len()
                ),
            ));
        }
        let mut one = String::with_capacity(head.len() + 1 + (tuple.len() + 1) * rows.len());
        one.push_str(head);
        one.push(' ');
        for i in 0..rows.len() {
            if i > 0 {
                one.push(',');
            }
            one.push_str(tuple);
        }
        let params: Vec<Value> = rows.iter().flat_map(|r| r.iter().cloned()).collect();
        match self.0.exec(&one, &params, deadline) {
            Ok(r) => Ok(r.affected.unwrap_or(0)),
            Err(e) => Err(e.map_message(|m| {
                format!(
                    "exec_many: the {} parameter rows went to ClickHouse as one INSERT, which failed, so none of them was inserted: {m}",
                    rows.len()
                )
            })),
        }
    }

    fn is_lost(&self) -> bool {
        self.0.is_lost()
    }
}

/// `INSERT … VALUES (one tuple)`: the statement up to its `VALUES`, the
/// tuple, and its number of `?` placeholders; `None` for anything else
/// (several tuples, an expression in the tuple, another statement).
fn one_tuple(sql: &str) -> Option<(&str, &str, usize)> {
    let sql = sql.trim().trim_end_matches(';').trim_end();
    let Insert::Values(head, tail) = split_insert(sql) else {
        return None;
    };
    let cells = values_rows(tail).ok()?;
    let [row] = cells.as_slice() else {
        return None;
    };
    let width = row.iter().filter(|c| matches!(c, Cell::Param)).count();
    Some((head, tail.trim(), width))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_insert_of_one_tuple_is_batched() {
        assert_eq!(
            one_tuple("INSERT INTO t (a, b) VALUES (?, 'x', ?);"),
            Some(("INSERT INTO t (a, b) VALUES", "(?, 'x', ?)", 2))
        );
        assert_eq!(
            one_tuple("insert into t values (?)"),
            Some(("insert into t values", "(?)", 1))
        );
        assert_eq!(
            one_tuple("INSERT INTO t VALUES (?), (?)"),
            None,
            "two tuples"
        );
        assert_eq!(
            one_tuple("INSERT INTO t VALUES (?, now())"),
            None,
            "an expression"
        );
        assert_eq!(one_tuple("INSERT INTO t SELECT ?"), None);
        assert_eq!(one_tuple("ALTER TABLE t DELETE WHERE k = ?"), None);
    }
}
