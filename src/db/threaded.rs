//! What the server databases' sessions (`postgres`, `mysql`) share to run
//! each statement on the caller's thread and still keep `timeout=`:
//!
//! - [`connect_within`]: the connect, on a short-lived thread of its own
//!   (`wsdial-<database>-connect`), waited for until the deadline, because a
//!   client crate's connect is not bounded by one deadline as a whole (a
//!   server that accepts and never answers). Past the deadline the caller
//!   gets a `Tcp` timeout and the thread ends by the client's own socket
//!   timeouts, dropping what it opened.
//! - [`Alarm`]: a statement's deadline kept by one watchdog thread for the
//!   whole process (`wsdial-db-watchdog`, started on first use). A statement
//!   that overruns its deadline is cancelled on the server from a short-lived
//!   thread (`wsdial-db-cancel`: MySQL's `KILL QUERY` through a second
//!   connection), while the caller's thread waits for the statement's answer
//!   (its failure, "interrupted"); [`Alarm::disarm`] returns only once that
//!   cancel request is done, so it can never reach the next statement.
//!   Arming costs a lock and no wake-up: the watchdog sleeps until the
//!   earliest deadline and is woken only for an earlier one.
//!
//! PostgreSQL keeps its deadlines itself, inside the block_on of its own
//! runtime on the caller's thread (see `postgres/client.rs`).

// The alarm is MySQL's alone: a build with `postgres` only does not use it.
#![cfg_attr(not(feature = "mysql"), allow(dead_code))]

use std::sync::{mpsc, Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, ErrorKind};

/// Runs `connect` on a thread of its own (`wsdial-<name>-connect`) and waits
/// for it until `deadline` (a little past it: the client's own connect
/// timeout, set to the deadline, usually answers first, with its own words);
/// past that, a `Tcp` timeout.
pub(crate) fn connect_within<T: Send + 'static>(
    name: &'static str,
    address: &str,
    deadline: Instant,
    connect: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let (tx, rx) = mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name(format!("wsdial-{name}-connect"))
        .spawn(move || {
            // Nobody waits any more past the deadline: what was opened is dropped.
            let _ = tx.send(connect());
        })
        .map_err(|e| {
            Error::io(
                ErrorKind::Io,
                format_args!("{name}: starting its connect thread"),
                e,
            )
        })?;
    let wait = deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(250);
    match rx.recv_timeout(wait) {
        Ok(r) => r,
        Err(_) => Err(Error::new(
            ErrorKind::Tcp,
            format!("{name}: connecting to {address} timed out"),
        )
        .timed_out()),
    }
}

/// Asks the server to cancel a session's running statement; true if the
/// request was delivered.
pub(crate) type Cancel = Box<dyn Fn() -> bool + Send + Sync>;

/// One session's alarm: armed around each statement (the session's
/// statements run one at a time, so it is armed at most once at a time).
pub(crate) struct Alarm {
    slot: Arc<Slot>,
}

struct Slot {
    cancel: Cancel,
    phase: Mutex<Phase>,
    done: Condvar,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Phase {
    /// Not armed, or armed and not yet due.
    Quiet,
    /// Due: the cancel request is being sent.
    Firing,
    /// The cancel request was sent (true) or could not be (false).
    Fired(bool),
}

/// The armed alarms of the process, and the watchdog's sleep.
struct Watch {
    table: Mutex<Table>,
    wake: Condvar,
}

#[derive(Default)]
struct Table {
    next_ticket: u64,
    armed: Vec<(u64, Instant, Arc<Slot>)>,
    /// The deadline the watchdog sleeps until (`None`: until woken).
    sleeping_until: Option<Instant>,
    /// True while the watchdog waits on `wake`.
    sleeping: bool,
}

/// An armed alarm, from [`Alarm::arm`].
pub(crate) struct Armed<'a> {
    alarm: &'a Alarm,
    ticket: u64,
}

fn watch() -> &'static Watch {
    static WATCH: OnceLock<&'static Watch> = OnceLock::new();
    WATCH.get_or_init(|| {
        let w: &'static Watch = Box::leak(Box::new(Watch {
            table: Mutex::new(Table::default()),
            wake: Condvar::new(),
        }));
        // If the thread cannot start, alarms are still armed and disarmed,
        // and never fire: the sessions' socket timeouts still end a statement.
        if let Err(e) = std::thread::Builder::new()
            .name("wsdial-db-watchdog".into())
            .spawn(move || w.run())
        {
            log::error!("wsdial: the database watchdog thread did not start ({e}); statements past timeout= are not cancelled");
        }
        w
    })
}

impl Watch {
    /// The watchdog thread: sleeps until the earliest deadline, and fires
    /// the alarms that are due.
    fn run(&self) {
        let mut t = self.table.lock();
        loop {
            let now = Instant::now();
            let mut due = Vec::new();
            t.armed.retain(|(_, at, slot)| {
                if *at <= now {
                    // Under the table's lock: a disarm that no longer finds
                    // its ticket finds the slot firing.
                    *slot.phase.lock() = Phase::Firing;
                    due.push(slot.clone());
                    false
                } else {
                    true
                }
            });
            if !due.is_empty() {
                drop(t);
                for slot in due {
                    let s = slot.clone();
                    // A cancel may take a connect's time: never the watchdog's.
                    let spawned = std::thread::Builder::new()
                        .name("wsdial-db-cancel".into())
                        .spawn(move || s.fire());
                    if spawned.is_err() {
                        slot.fire();
                    }
                }
                t = self.table.lock();
                continue;
            }
            let next = t.armed.iter().map(|(_, at, _)| *at).min();
            t.sleeping_until = next;
            t.sleeping = true;
            match next {
                Some(at) => {
                    self.wake.wait_until(&mut t, at);
                }
                None => self.wake.wait(&mut t),
            }
            t.sleeping = false;
        }
    }
}

impl Slot {
    fn fire(&self) {
        let sent = (self.cancel)();
        *self.phase.lock() = Phase::Fired(sent);
        self.done.notify_all();
    }
}

impl Alarm {
    /// An alarm whose firing runs `cancel`.
    pub(crate) fn new(cancel: Cancel) -> Alarm {
        Alarm {
            slot: Arc::new(Slot {
                cancel,
                phase: Mutex::new(Phase::Quiet),
                done: Condvar::new(),
            }),
        }
    }

    /// Arms the alarm until `deadline`; disarm it when the statement ends.
    pub(crate) fn arm(&self, deadline: Instant) -> Armed<'_> {
        let w = watch();
        let mut t = w.table.lock();
        *self.slot.phase.lock() = Phase::Quiet;
        t.next_ticket += 1;
        let ticket = t.next_ticket;
        t.armed.push((ticket, deadline, self.slot.clone()));
        // The watchdog is woken only if it sleeps past this deadline.
        if t.sleeping && t.sleeping_until.is_none_or(|s| deadline < s) {
            t.sleeping_until = Some(deadline);
            w.wake.notify_one();
        }
        Armed {
            alarm: self,
            ticket,
        }
    }
}

impl Armed<'_> {
    /// Disarms the alarm: `None` if it had not fired; else, once the cancel
    /// request is done, whether it was delivered.
    pub(crate) fn disarm(self) -> Option<bool> {
        let ticket = self.ticket;
        let slot = &self.alarm.slot;
        {
            let mut t = watch().table.lock();
            if let Some(i) = t.armed.iter().position(|(k, _, _)| *k == ticket) {
                t.armed.swap_remove(i);
                return None;
            }
        }
        let mut phase = slot.phase.lock();
        loop {
            match *phase {
                Phase::Fired(sent) => return Some(sent),
                // Not reached: a ticket missing from the table is firing or fired.
                Phase::Quiet => return None,
                Phase::Firing => slot.done.wait(&mut phase),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An alarm whose cancel reports on `fired` and then waits for `gate`.
    fn alarm() -> (Alarm, mpsc::Receiver<()>, mpsc::Sender<()>) {
        let (fired_tx, fired) = mpsc::channel();
        let (gate, gate_rx) = mpsc::channel::<()>();
        let gate_rx = Mutex::new(gate_rx);
        let alarm = Alarm::new(Box::new(move || {
            let _ = fired_tx.send(());
            gate_rx.lock().recv_timeout(Duration::from_secs(10)).is_ok()
        }));
        (alarm, fired, gate)
    }

    #[test]
    fn an_alarm_disarmed_in_time_never_fires() {
        let (alarm, fired, _gate) = alarm();
        for _ in 0..1000 {
            assert_eq!(
                alarm.arm(Instant::now() + Duration::from_secs(5)).disarm(),
                None
            );
        }
        assert!(fired.try_recv().is_err());
    }

    #[test]
    fn an_alarm_past_its_deadline_fires_once_and_disarm_waits_for_its_cancel() {
        let (first, fired, gate) = alarm();
        let first = Arc::new(first);
        // Armed while the watchdog sleeps until a later deadline: it is woken.
        let (other, other_fired, _g) = alarm();
        let late = other.arm(Instant::now() + Duration::from_secs(60));
        let a = first.clone();
        let (disarmed_tx, disarmed) = mpsc::channel();
        let (go, go_rx) = mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            let armed = a.arm(Instant::now() + Duration::from_millis(50));
            go_rx.recv().unwrap();
            let _ = disarmed_tx.send(armed.disarm());
        });
        fired
            .recv_timeout(Duration::from_secs(10))
            .expect("the alarm fires past its deadline");
        go.send(()).unwrap();
        // The cancel is still running: disarm waits for it.
        assert!(disarmed.recv_timeout(Duration::from_millis(200)).is_err());
        gate.send(()).unwrap();
        assert_eq!(
            disarmed.recv_timeout(Duration::from_secs(10)).unwrap(),
            Some(true)
        );
        t.join().unwrap();
        assert!(fired.try_recv().is_err(), "fired once");
        assert_eq!(late.disarm(), None);
        assert!(other_fired.try_recv().is_err());
        // The next statement's alarm starts quiet.
        assert_eq!(
            first.arm(Instant::now() + Duration::from_secs(5)).disarm(),
            None
        );
    }
}
