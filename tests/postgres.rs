//! PostgreSQL 15 through `wsdial::dial(..).exec(..)`: handles from several
//! threads and after the first `Conn` closed, `timeout=`, `reconnect=true`
//! across a restart, a program's tokio runtime, errors. The session layer's
//! own tests (every type both ways with psql, syntax, constraint, injection,
//! TLS) are in src/db/postgres/live_tests.rs. Each test starts its own server
//! (initdb + pg_ctl in a temporary folder, about a second).
#![cfg(feature = "postgres")]

mod common;
#[path = "common/sqldb.rs"]
mod sqldb;
#[path = "common/sqlsuite.rs"]
mod sqlsuite;

use std::time::Duration;

use common::within;
use sqldb::{Postgres, PASSWORD};
use sqlsuite::Case;

fn case(pg: &Postgres) -> Case {
    Case {
        url: pg.url(""),
        ph: |n| format!("${n}"),
        create: |t| format!("CREATE TABLE {t} (k int8, v text)"),
        session_id: Some("SELECT pg_backend_pid()::int8"),
        sleep: "SELECT pg_sleep(30)",
    }
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn handle_from_four_threads_and_after_close() {
    within(LIMIT, || {
        let pg = Postgres::start();
        let c = case(&pg);
        sqlsuite::four_threads(&c, "shared");
        assert_eq!(
            pg.psql("SELECT count(*) FROM shared WHERE v LIKE '%''s row%'"),
            "100"
        );
        sqlsuite::handle_after_close(&c);
        sqlsuite::exec_many(&c, "many");
    });
}

#[test]
fn timeout_tokio_and_errors() {
    within(LIMIT, || {
        let pg = Postgres::start();
        let c = case(&pg);
        sqlsuite::statement_timeout(&c);
        sqlsuite::inside_tokio(&c);
        sqlsuite::wrong_password(
            &pg.url("").replace(PASSWORD, "wrong"),
            "password authentication failed",
        );
        // The URL form reaches the same server.
        let url = format!(
            "postgres://postgres:{PASSWORD}@127.0.0.1:{}/postgres?sslmode=disable",
            pg.port
        );
        let conn = wsdial::dial(&url).unwrap();
        let r = conn
            .exec_with(
                "SELECT $1::text || 'x'",
                &[wsdial::db::Value::Text("'; DROP TABLE x; --".into())],
            )
            .unwrap();
        assert_eq!(
            r.values,
            vec![vec![wsdial::db::Value::Text("'; DROP TABLE x; --x".into())]]
        );
        let port = sqldb::free_port();
        sqlsuite::server_down(&format!(
            "postgres://host=127.0.0.1 port={port} user=postgres"
        ));
    });
}

#[test]
fn reconnect_after_server_restart() {
    within(LIMIT, || {
        let pg = Postgres::start();
        sqlsuite::reconnect_after_restart(&case(&pg), || pg.stop(), || pg.resume());
    });
}

#[test]
fn example_prints_dial_json() {
    // Long enough to build the example the first time.
    within(Duration::from_secs(600), || {
        let db = Postgres::start();
        sqlsuite::example(&case(&db));
    });
}
