//! MariaDB through `wsdial::dial(..).exec(..)`: handles from several threads
//! and after the first `Conn` closed, `timeout=`, `reconnect=true` across a
//! restart, a program's tokio runtime, errors. The session layer's own tests
//! (every type both ways with the mariadb client, syntax, constraint,
//! injection, TLS) are in src/db/mysql/live_tests.rs. Each test starts its
//! own server (mariadb-install-db + mariadbd in a temporary folder).
#![cfg(feature = "mysql")]

mod common;
#[path = "common/sqldb.rs"]
mod sqldb;
#[path = "common/sqlsuite.rs"]
mod sqlsuite;

use std::time::Duration;

use common::within;
use sqldb::{Mariadb, PASSWORD};
use sqlsuite::Case;

fn case(m: &Mariadb) -> Case {
    Case {
        url: m.url("?charset=utf8mb4"),
        ph: |_| "?".into(),
        create: |t| format!("CREATE TABLE {t} (k bigint, v text)"),
        session_id: Some("SELECT CAST(CONNECTION_ID() AS SIGNED)"),
        sleep: "SELECT SLEEP(30)",
    }
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn handle_from_four_threads_and_after_close() {
    within(LIMIT, || {
        let m = Mariadb::start();
        let c = case(&m);
        sqlsuite::four_threads(&c, "shared");
        assert_eq!(
            m.mariadb("SELECT count(*) FROM shared WHERE v LIKE '%''s row%'"),
            "100"
        );
        sqlsuite::handle_after_close(&c);
        sqlsuite::exec_many(&c, "many");
    });
}

#[test]
fn timeout_tokio_and_errors() {
    within(LIMIT, || {
        let m = Mariadb::start();
        let c = case(&m);
        sqlsuite::statement_timeout(&c);
        sqlsuite::inside_tokio(&c);
        sqlsuite::wrong_password(&m.url("").replace(PASSWORD, "wrong"), "Access denied");
        // The URL form reaches the same server.
        let url = format!("mysql://wsdial:{PASSWORD}@127.0.0.1:{}/t", m.port);
        let conn = wsdial::dial(&url).unwrap();
        let r = conn
            .exec_with(
                "SELECT CONCAT(?, 'x')",
                &[wsdial::db::Value::Text("'; DROP TABLE x; --".into())],
            )
            .unwrap();
        assert_eq!(
            r.values,
            vec![vec![wsdial::db::Value::Text("'; DROP TABLE x; --x".into())]]
        );
        let port = sqldb::free_port();
        sqlsuite::server_down(&format!("mysql://u:p@tcp(127.0.0.1:{port})/t"));
    });
}

#[test]
fn reconnect_after_server_restart() {
    within(LIMIT, || {
        let m = Mariadb::start();
        sqlsuite::reconnect_after_restart(&case(&m), || m.stop(), || m.resume());
    });
}

#[test]
fn example_prints_dial_json() {
    // Long enough to build the example the first time.
    within(Duration::from_secs(600), || {
        let db = Mariadb::start();
        sqlsuite::example(&case(&db));
    });
}
