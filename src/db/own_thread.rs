//! A database session on a thread of its own (thread `wsdial-<database>`),
//! for a client crate that owns an async runtime and blocks without a
//! deadline per statement: ClickHouse's native protocol (klickhouse, on a
//! current-thread tokio runtime per connection, which would panic inside a
//! program's own runtime if it ran on the caller's thread). The caller's
//! `exec` hands the statement to that thread through a channel and waits for
//! the answer until the statement's deadline; past it, it asks the server to
//! cancel the statement and waits a little for the thread to be free again,
//! so the session stays usable. If the thread stays busy, the session is
//! counted as lost (and dropped by the driver, which opens a new one on the
//! next `exec` with `reconnect=true`). PostgreSQL and MySQL run on the
//! caller's thread instead (see `threaded`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::{Database, Rows, Value};
use crate::error::{Error, ErrorKind};

/// How long a cancelled statement may take to give up before the session is
/// counted as lost.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// What runs on the session's thread.
pub(crate) trait Worker: 'static {
    /// Runs one statement (its parameters handed over, not copied again).
    fn run(&mut self, sql: &str, params: Vec<Value>) -> Result<Rows, Error>;
    /// True once the connection is known to be gone.
    fn is_closed(&self) -> bool;
}

/// Asks the server to cancel the running statement; true if the request was sent.
pub(crate) type Cancel = Box<dyn Fn() -> bool + Send>;

struct Job {
    sql: String,
    params: Vec<Value>,
    reply: mpsc::SyncSender<Result<Rows, Error>>,
}

/// The caller's side of a session whose connection lives on its own thread.
pub(crate) struct Threaded {
    name: &'static str,
    jobs: mpsc::Sender<Job>,
    cancel: Cancel,
    lost: Arc<AtomicBool>,
}

/// Starts the session's thread, which runs `connect` and then the statements.
/// Waits for `connect` until `deadline`; past it, a `Tcp` timeout.
pub(crate) fn open<W: Worker>(
    name: &'static str,
    address: &str,
    deadline: Instant,
    connect: impl FnOnce() -> Result<(W, Cancel), Error> + Send + 'static,
) -> Result<Threaded, Error> {
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let (jobs, jobs_rx) = mpsc::channel::<Job>();
    let lost = Arc::new(AtomicBool::new(false));
    let lost2 = lost.clone();
    std::thread::Builder::new()
        .name(format!("wsdial-{name}"))
        .spawn(move || {
            let mut worker = match connect() {
                Ok((w, cancel)) => {
                    if ready_tx.send(Ok(cancel)).is_err() {
                        return;
                    }
                    w
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            for job in jobs_rx {
                let result = worker.run(&job.sql, job.params);
                if worker.is_closed() {
                    lost2.store(true, Ordering::Release);
                }
                let _ = job.reply.send(result);
            }
        })
        .map_err(|e| {
            Error::io(
                ErrorKind::Io,
                format_args!("{name}: starting its thread"),
                e,
            )
        })?;
    // A little past the deadline: the client's own connect timeout (set to
    // the deadline) usually answers first, with its own words.
    let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(250);
    let cancel = match ready_rx.recv_timeout(wait) {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => return Err(e),
        Err(_) => {
            return Err(Error::new(
                ErrorKind::Tcp,
                format!("{name}: connecting to {address} timed out"),
            )
            .timed_out())
        }
    };
    Ok(Threaded {
        name,
        jobs,
        cancel,
        lost,
    })
}

impl Threaded {
    fn gone(&self) -> Error {
        self.lost.store(true, Ordering::Release);
        Error::new(
            ErrorKind::Io,
            format!("{}: the connection to the server is lost", self.name),
        )
    }
}

impl Database for Threaded {
    fn exec(
        &mut self,
        sql: &str,
        params: &[Value],
        deadline: Option<Instant>,
    ) -> Result<Rows, Error> {
        if self.is_lost() {
            return Err(self.gone());
        }
        let (reply, answer) = mpsc::sync_channel(1);
        let job = Job {
            sql: sql.to_owned(),
            params: params.to_vec(),
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(self.gone());
        }
        let Some(deadline) = deadline else {
            return answer.recv().unwrap_or_else(|_| Err(self.gone()));
        };
        match answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(r) => return r,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(self.gone()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let cancelled = (self.cancel)();
        let timeout = |more: &str| {
            Error::new(
                ErrorKind::Database,
                format!(
                    "{}: the statement did not finish before its deadline (timeout=); {more}",
                    self.name
                ),
            )
            .timed_out()
        };
        match answer.recv_timeout(CANCEL_GRACE) {
            Ok(_) if cancelled && !self.is_lost() => Err(timeout(
                "it was cancelled on the server and the connection stays usable",
            )),
            _ => {
                self.lost.store(true, Ordering::Release);
                Err(timeout("the connection is dropped"))
            }
        }
    }

    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::Acquire)
    }
}
