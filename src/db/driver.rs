//! The database driver behind [`Conn::exec`](crate::Conn::exec), and handles.
//!
//! A dial opens a [`Session`]: one connection to the database, behind a lock
//! so that statements from several threads run one at a time, each on its
//! caller's thread. Every `Conn` on the session (the one dialed, and those
//! dialed from its [`Handle`]) has its own seam (state, counters, the refusal
//! its reads return) and an `Arc` of the session; the session (and with it
//! the database connection) closes when the last of them is closed and no
//! handle to it is held (see [`Handle`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{Database, Opener, Rows, Value};
use crate::address::Scheme;
use crate::error::{Error, ErrorKind};
use crate::message::{Cause, Disconnect};
use crate::seam::{Driver, Outgoing, Seam};

/// One open database connection, shared by every `Conn` on it.
pub(crate) struct Session {
    id: u64,
    url: String,
    /// `url` with its password masked, for messages and logs.
    shown: String,
    scheme: Scheme,
    opener: Box<dyn Opener>,
    /// `None` once the connection was found lost (reopened by the next exec
    /// with `reconnect=true`).
    db: Mutex<Option<Box<dyn Database>>>,
    timeout: Duration,
    reconnect: bool,
    /// The seams of the `Conn`s on this session, told when it is lost or back.
    seams: Mutex<Vec<Weak<Seam>>>,
}

/// The sessions that a handle may name: each by a weak reference, and a
/// strong one while a handle to it is held (taken by `fd()`, not released).
struct Entry {
    session: Weak<Session>,
    pinned: Option<Arc<Session>>,
}

static SESSIONS: Mutex<BTreeMap<u64, Entry>> = Mutex::new(BTreeMap::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Session {
    /// Opens the database before `timeout` and registers the session.
    pub(crate) fn open(
        url: &str,
        scheme: Scheme,
        opener: Box<dyn Opener>,
        timeout: Duration,
        reconnect: bool,
    ) -> Result<Arc<Session>, Error> {
        let db = opener.open(deadline(timeout))?;
        let session = Arc::new(Session {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            url: url.to_owned(),
            shown: super::masked(url),
            scheme,
            opener,
            db: Mutex::new(Some(db)),
            timeout,
            reconnect,
            seams: Mutex::new(Vec::new()),
        });
        SESSIONS.lock().insert(
            session.id,
            Entry {
                session: Arc::downgrade(&session),
                pinned: None,
            },
        );
        Ok(session)
    }

    /// Runs one statement: waits for the statements before it, reopens a
    /// lost connection (with `reconnect=true`), all before `timeout`.
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Rows, Error> {
        self.with_db(|d, deadline| d.exec(sql, params, Some(deadline)))
    }

    /// Runs one statement per parameter row as `exec` runs one statement:
    /// one wait for the session, one `timeout` for the whole batch. No rows:
    /// 0, without waiting for the session.
    fn exec_many(&self, sql: &str, rows: &[&[Value]]) -> Result<u64, Error> {
        if rows.is_empty() {
            return Ok(0);
        }
        self.with_db(|d, deadline| d.exec_many(sql, rows, Some(deadline)))
    }

    /// Runs `run` on the database, holding the session: waits for the
    /// statements before it, reopens a lost connection (with
    /// `reconnect=true`), all before `timeout`, the deadline `run` is given.
    fn with_db<T>(
        &self,
        run: impl FnOnce(&mut dyn Database, Instant) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let deadline = deadline(self.timeout);
        let mut db = self.db.try_lock_until(deadline).ok_or_else(|| {
            Error::new(
                ErrorKind::Database,
                format!(
                    "{}: the statements before this one (from other threads) ran past timeout={} ms",
                    self.shown,
                    self.timeout.as_millis()
                ),
            )
            .timed_out()
        })?;
        if db.as_ref().is_some_and(|d| d.is_lost()) {
            *db = None;
            self.each_seam(|s| s.lost(self.loss(), !self.reconnect));
        }
        if db.is_none() {
            if !self.reconnect {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "{}: the connection to the server was lost; without reconnect=true it stays closed (dial again)",
                        self.shown
                    ),
                ));
            }
            *db = Some(self.opener.open(deadline)?);
            self.each_seam(|s| {
                if s.up() {
                    s.counters.add(&s.counters.reconnects, 1);
                }
            });
        }
        let d = db.as_mut().expect("opened above");
        let result = run(&mut **d, deadline);
        if d.is_lost() {
            *db = None;
            self.each_seam(|s| s.lost(self.loss(), !self.reconnect));
        }
        result
    }

    fn loss(&self) -> Disconnect {
        Disconnect::new(
            Cause::Io,
            format!("{}: the connection to the server was lost", self.shown),
        )
    }

    fn each_seam(&self, f: impl Fn(&Seam)) {
        let mut seams = self.seams.lock();
        seams.retain(|w| w.strong_count() > 0);
        for s in seams.iter().filter_map(Weak::upgrade) {
            f(&s);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Never dropped under SESSIONS' lock (see `Handle::release`).
        let mut all = SESSIONS.lock();
        if all.get(&self.id).is_some_and(|e| e.pinned.is_none()) {
            all.remove(&self.id);
        }
    }
}

/// The deadline `timeout` from now (far away if it overflows).
fn deadline(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86400 * 365))
}

/// What a `Conn` is made of: its seam, its driver and its URL.
pub(crate) type Parts = (Arc<Seam>, Box<dyn Driver>, String);

/// A `Conn` on a session: a seam of its own and a share of the session.
pub(crate) fn attach(session: Arc<Session>) -> Parts {
    let seam = Arc::new(Seam::new(1, 1, None));
    // Every read returns this at once: a database is not read (see Conn::read).
    seam.inbox.lost(
        Disconnect::new(
            Cause::NotReadable,
            format!(
                "{}:// is a database: it is not read or written; use exec",
                session.scheme
            ),
        ),
        true,
    );
    session.seams.lock().push(Arc::downgrade(&seam));
    let url = session.url.clone();
    let driver = DbDriver {
        session: Mutex::new(Some(session)),
        seam: seam.clone(),
        warned: AtomicBool::new(false),
    };
    (seam, Box::new(driver), url)
}

/// What a database `Conn` drives.
struct DbDriver {
    /// `None` once closed.
    session: Mutex<Option<Arc<Session>>>,
    seam: Arc<Seam>,
    warned: AtomicBool,
}

impl DbDriver {
    fn session(&self) -> Option<Arc<Session>> {
        self.session.lock().clone()
    }
}

impl Driver for DbDriver {
    fn exec(&self, sql: &str, params: &[Value]) -> Result<Rows, Error> {
        match self.session() {
            Some(s) => s.exec(sql, params),
            None => Err(closed()),
        }
    }

    fn exec_many(&self, sql: &str, rows: &[&[Value]]) -> Result<u64, Error> {
        match self.session() {
            Some(s) => s.exec_many(sql, rows),
            None => Err(closed()),
        }
    }

    fn handle(&self) -> Option<Handle> {
        let s = self.session()?;
        if let Some(e) = SESSIONS.lock().get_mut(&s.id) {
            e.pinned.get_or_insert_with(|| s.clone());
        }
        Some(Handle(s.id))
    }

    fn send(&self, _m: Outgoing) -> usize {
        if !self.warned.swap(true, Ordering::Relaxed) {
            let url = self.session().map_or_else(String::new, |s| s.shown.clone());
            log::warn!(
                "{url}: write on a database connection sends nothing (it returns 0); use exec"
            );
        }
        0
    }

    fn close(&self) {
        // The last share closes the database (unless a handle holds it).
        let last = self.session.lock().take();
        drop(last);
        let _ = &self.seam;
    }

    fn join(&self, _timeout: Duration) {}
}

/// The error of a statement on a closed `Conn`.
fn closed() -> Error {
    Error::new(
        ErrorKind::Io,
        "exec on a closed connection: dial the address again, or dial a handle taken before closing (Conn::fd)",
    )
}

/// An opaque handle to an open database session, from
/// [`Conn::fd`](crate::Conn::fd): `Copy`, `Send`, and written as an address,
/// `handle://N`, that [`dial`](crate::dial) accepts from any thread to get
/// another [`Conn`](crate::Conn) on the same session (for SQLite the same
/// connection, so a `:memory:` database is shared). Statements from all the
/// `Conn`s on a session run one at a time.
///
/// ## How long a handle is valid
///
/// Taking a handle keeps its session open: the session stays open, even
/// after every `Conn` on it is closed, until [`Handle::release`] is called;
/// then it closes when the last `Conn` on it is closed. Dialing a handle whose
/// session has closed fails with [`ErrorKind::Address`] saying so. A program
/// that takes handles of many short-lived connections releases them; one that
/// keeps a database for its whole life need not. Handles are numbers that
/// are never reused within a process and mean nothing in another process.
///
/// ```
/// # #[cfg(feature = "sqlite")] {
/// let conn = wsdial::dial("sqlite3://:memory:")?;
/// conn.exec("CREATE TABLE t (x INTEGER)")?;
/// let handle = conn.fd().expect("a database connection has a handle");
/// conn.close();
/// let same = std::thread::spawn(move || wsdial::dial(&handle.to_string()))
///     .join()
///     .unwrap()?;
/// assert_eq!(same.exec("SELECT count(*) FROM t")?.values[0][0].as_i64(), Some(0));
/// handle.release();
/// # }
/// # Ok::<(), wsdial::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Handle(u64);

impl Handle {
    /// Lets the session close once no `Conn` is open on it (at once if none
    /// is). Releasing twice, or a handle of a closed session, does nothing.
    pub fn release(self) {
        let last = SESSIONS
            .lock()
            .get_mut(&self.0)
            .and_then(|e| e.pinned.take());
        // Dropped outside the registry's lock: it may be the last share.
        drop(last);
        let mut all = SESSIONS.lock();
        if all
            .get(&self.0)
            .is_some_and(|e| e.pinned.is_none() && e.session.strong_count() == 0)
        {
            all.remove(&self.0);
        }
    }

    /// A new share of the session, for a `Conn`.
    pub(crate) fn session(self) -> Result<Arc<Session>, Error> {
        let all = SESSIONS.lock();
        all.get(&self.0)
            .and_then(|e| e.pinned.clone().or_else(|| e.session.upgrade()))
            .ok_or_else(|| {
                Error::address(
                    None,
                    format!("{self} names no open database session: its handle was released and every connection on it closed (a handle keeps its session open until Handle::release)"),
                )
            })
    }
}

impl fmt::Display for Handle {
    /// `handle://N`, the address that [`dial`](crate::dial) accepts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "handle://{}", self.0)
    }
}

impl FromStr for Handle {
    type Err = Error;

    /// Reads `handle://N` (as [`Display`](fmt::Display) writes it).
    fn from_str(s: &str) -> Result<Handle, Error> {
        let bad = || {
            Error::address(
                None,
                format!("`{s}` is not a handle; a handle is written handle://N, as Conn::fd() displays it"),
            )
        };
        let n = s.strip_prefix("handle://").ok_or_else(bad)?;
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        n.parse().map(Handle).map_err(|_| bad())
    }
}

/// For [`Dialer::dial`](crate::Dialer::dial): a `Conn` on the session that
/// `address` (`handle://N`) names, or `None` if it is not a handle.
pub(crate) fn dial_handle(address: &str, has_settings: bool) -> Option<Result<Parts, Error>> {
    let scheme = address.get(..9)?;
    if !scheme.eq_ignore_ascii_case("handle://") {
        return None;
    }
    Some((|| {
        if address.contains('|') || has_settings {
            return Err(Error::address(
                None,
                format!("`{address}`: a handle is dialed without options; its connection keeps those its session was opened with"),
            ));
        }
        let h: Handle = format!("handle://{}", &address[9..]).parse()?;
        Ok(attach(h.session()?))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::mpsc;

    /// A database that answers every statement with its SQL, is lost by
    /// `lose`, and blocks `block` until told.
    struct Fake {
        lost: bool,
        dropped: Arc<AtomicUsize>,
        gate: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
    }

    impl Database for Fake {
        fn exec(&mut self, sql: &str, _: &[Value], until: Option<Instant>) -> Result<Rows, Error> {
            match sql {
                "until deadline" => {
                    // A statement that finishes right at its deadline.
                    while Instant::now() < until.unwrap() {
                        std::thread::yield_now();
                    }
                    Ok(Rows {
                        affected: Some(1),
                        ..Rows::default()
                    })
                }
                "lose" => {
                    self.lost = true;
                    Err(Error::new(ErrorKind::Io, "connection reset"))
                }
                "block" => {
                    let rx = self.gate.lock().take().unwrap();
                    rx.recv().unwrap();
                    Ok(Rows::default())
                }
                _ => Ok(Rows {
                    columns: vec![sql.to_owned()],
                    ..Rows::default()
                }),
            }
        }
        fn is_lost(&self) -> bool {
            self.lost
        }
    }

    impl Drop for Fake {
        fn drop(&mut self) {
            self.dropped.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[derive(Default, Clone)]
    struct FakeOpener {
        opened: Arc<AtomicUsize>,
        dropped: Arc<AtomicUsize>,
        gate: Arc<Mutex<Option<mpsc::Receiver<()>>>>,
    }

    impl Opener for FakeOpener {
        fn open(&self, _: Instant) -> Result<Box<dyn Database>, Error> {
            self.opened.fetch_add(1, Ordering::SeqCst);
            Ok(Box::new(Fake {
                lost: false,
                dropped: self.dropped.clone(),
                gate: self.gate.clone(),
            }))
        }
    }

    fn conn(o: &FakeOpener, reconnect: bool, timeout: Duration) -> crate::Conn {
        let s = Session::open(
            "sqlite3://fake.db",
            Scheme::Sqlite3,
            Box::new(o.clone()),
            timeout,
            reconnect,
        )
        .unwrap();
        let (seam, driver, url) = attach(s);
        crate::Conn::new(seam, driver, url)
    }

    #[test]
    fn reconnect_reopens_a_lost_connection_on_the_next_exec() {
        let o = FakeOpener::default();
        let c = conn(&o, true, Duration::from_secs(5));
        assert!(c.exec("lose").is_err());
        assert!(!c.is_connected());
        assert_eq!(c.exec("x").unwrap().columns, ["x"]);
        assert!(c.is_connected());
        assert_eq!(o.opened.load(Ordering::SeqCst), 2);
        assert_eq!(
            o.dropped.load(Ordering::SeqCst),
            1,
            "the lost one is closed"
        );
        assert_eq!(c.stats().reconnects, 1);
    }

    #[test]
    fn without_reconnect_a_lost_connection_stays_lost() {
        let o = FakeOpener::default();
        let c = conn(&o, false, Duration::from_secs(5));
        assert!(c.exec("lose").is_err());
        let e = c.exec("x").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.to_string().contains("reconnect=true"), "{e}");
        assert!(!c.is_connected());
        assert_eq!(o.opened.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn messages_name_the_address_with_its_password_masked() {
        let o = FakeOpener::default();
        let s = Session::open(
            "postgres://bot:hunter2@127.0.0.1/d",
            Scheme::Postgres,
            Box::new(o.clone()),
            Duration::from_secs(5),
            false,
        )
        .unwrap();
        let (seam, driver, url) = attach(s);
        let c = crate::Conn::new(seam, driver, url);
        assert!(c.exec("lose").is_err());
        let e = c.exec("x").unwrap_err().to_string();
        assert!(e.contains("postgres://bot:***@127.0.0.1/d"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }

    #[test]
    fn a_statement_waiting_past_timeout_for_another_fails_as_a_timeout() {
        let o = FakeOpener::default();
        let (tx, rx) = mpsc::channel();
        *o.gate.lock() = Some(rx);
        let c = Arc::new(conn(&o, false, Duration::from_millis(200)));
        let c2 = c.clone();
        let blocker = std::thread::spawn(move || c2.exec("block").map(|_| ()));
        // The blocker holds the session once `gate` is taken.
        while o.gate.lock().is_some() {
            std::thread::yield_now();
        }
        // On a thread of its own, so that a statement that waits for ever
        // fails this test instead of hanging it.
        let (done, result) = mpsc::channel();
        let c3 = c.clone();
        std::thread::spawn(move || done.send(c3.exec("x").map(|_| ())));
        let e = result
            .recv_timeout(Duration::from_secs(5))
            .expect("the waiting statement gave up by its timeout")
            .unwrap_err();
        assert!(e.is_timeout(), "{e}");
        tx.send(()).unwrap();
        blocker.join().unwrap().unwrap();
        assert_eq!(c.exec("y").unwrap().columns, ["y"]);
    }

    #[test]
    fn exec_many_loops_exec_and_stops_at_the_deadline_between_rows() {
        let o = FakeOpener::default();
        let c = conn(&o, false, Duration::from_millis(50));
        let rows = vec![vec![Value::Int(1)]; 3];
        assert_eq!(c.exec_many("x", &rows).unwrap(), 0, "x affects nothing");
        let e = c.exec_many("until deadline", &rows).unwrap_err();
        assert!(e.is_timeout(), "{e}");
        let m = e.to_string();
        assert!(
            m.contains("before parameter row 1 (0-based): the 1 row(s) before it ran, affecting 1"),
            "{m}"
        );
        let e = c.exec_many("lose", &rows).unwrap_err();
        assert!(
            e.to_string().contains("parameter row 0 (0-based) failed"),
            "{e}"
        );
        assert!(
            !c.is_connected(),
            "a batch that loses the connection says so"
        );
        let e = c.exec_many("x", &rows).unwrap_err();
        assert!(e.to_string().contains("reconnect=true"), "{e}");
    }

    #[test]
    fn a_handle_keeps_its_session_until_released() {
        let o = FakeOpener::default();
        let c = conn(&o, false, Duration::from_secs(5));
        let h = c.fd().unwrap();
        assert_eq!(c.fd(), Some(h));
        assert_eq!(h.to_string().parse::<Handle>().unwrap(), h);
        c.close();
        assert_eq!(c.fd(), None);
        assert!(c.exec("x").is_err());
        assert_eq!(
            o.dropped.load(Ordering::SeqCst),
            0,
            "the handle keeps it open"
        );
        let d = crate::dial(&h.to_string()).unwrap();
        assert_eq!(d.url(), "sqlite3://fake.db");
        assert_eq!(d.exec("x").unwrap().columns, ["x"]);
        h.release();
        assert_eq!(o.dropped.load(Ordering::SeqCst), 0, "a Conn is still on it");
        drop(d);
        assert_eq!(o.dropped.load(Ordering::SeqCst), 1);
        let e = crate::dial(&h.to_string()).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Address);
        assert!(
            e.to_string().contains("names no open database session"),
            "{e}"
        );
        assert!(!SESSIONS.lock().contains_key(&h.0));
    }

    #[test]
    fn without_a_handle_the_last_close_closes_the_database() {
        let o = FakeOpener::default();
        let c = conn(&o, false, Duration::from_secs(5));
        c.close();
        assert_eq!(o.dropped.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn handle_addresses() {
        for bad in [
            "handle://",
            "handle://x",
            "handle://-1",
            "handle://1 ",
            "handle:1",
        ] {
            assert!(bad.parse::<Handle>().is_err(), "{bad}");
        }
        let e = crate::dial("handle://1|timeout=5").unwrap_err();
        assert!(e.to_string().contains("without options"), "{e}");
        assert!(crate::dial("handle://18446744073709551615").is_err());
    }
}
