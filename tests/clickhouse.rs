//! ClickHouse (Debian's 18.16, its HTTP interface; the native protocol's
//! `clickhouse://tcp://` form in tests/clickhouse_native.rs) through
//! `wsdial::dial(..).exec(..)`: handles from several threads and after the
//! first `Conn` closed, `timeout=`, `reconnect=true` across a restart, a
//! program's tokio runtime, errors. The session layer's own tests (every type
//! both ways with clickhouse-client, syntax, injection) are in
//! src/db/clickhouse/live_tests.rs. Each test starts its own server.
#![cfg(feature = "clickhouse")]

mod common;
#[path = "common/sqldb.rs"]
mod sqldb;
#[path = "common/sqlsuite.rs"]
mod sqlsuite;

use std::time::Duration;

use common::within;
use sqldb::{Clickhouse, PASSWORD};
use sqlsuite::Case;

fn case(ch: &Clickhouse) -> Case {
    Case {
        url: ch.url(""),
        ph: |_| "?".into(),
        create: |t| format!("CREATE TABLE {t} (k Int64, v String) ENGINE = Memory"),
        // HTTP has no session: statements are independent requests.
        session_id: None,
        sleep: "SELECT sleep(3)",
    }
}

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn handle_from_four_threads_and_after_close() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        let c = case(&ch);
        sqlsuite::four_threads(&c, "shared");
        assert_eq!(
            ch.client("SELECT count(*) FROM shared WHERE v LIKE '%\\'s row%'"),
            "100"
        );
        sqlsuite::handle_after_close(&c);
        sqlsuite::exec_many(&c, "many");
        sqlsuite::clickhouse_exec_many_is_one_insert(&c, "batch");
    });
}

#[test]
fn timeout_tokio_and_errors() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        let c = case(&ch);
        sqlsuite::statement_timeout(&c);
        sqlsuite::inside_tokio(&c);
        sqlsuite::wrong_password(&ch.url("").replace(PASSWORD, "wrong"), "password");
        let port = sqldb::free_port();
        sqlsuite::server_down(&format!("clickhouse://127.0.0.1:{port}?username=default"));
    });
}

#[test]
fn reconnect_after_server_restart() {
    within(LIMIT, || {
        let ch = Clickhouse::start();
        sqlsuite::reconnect_after_restart(&case(&ch), || ch.stop(), || ch.resume());
    });
}

#[test]
fn example_prints_dial_json() {
    // Long enough to build the example the first time.
    within(Duration::from_secs(600), || {
        let db = Clickhouse::start();
        sqlsuite::example(&case(&db));
    });
}
