//! The driver against a fake in-memory broker: no server, every rule of the
//! driver (first connect, reads, drop-oldest, loss, reconnect, payloads,
//! publish, close) checked through a real [`Conn`].

use std::collections::VecDeque;
use std::sync::mpsc;
use std::thread;

use super::*;
use crate::conn::Conn;
use crate::message::{Cause, Event, Message};

/// The name of the test body's thread (the program's).
const PROGRAM: &str = "program";

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Runs `f` on its own thread; fails the test if it takes longer than `limit`.
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    // Named, so that the fake can tell a read on the program's thread.
    let h = thread::Builder::new()
        .name(PROGRAM.into())
        .spawn(move || {
            let r = f();
            let _ = tx.send(());
            r
        })
        .unwrap();
    match rx.recv_timeout(limit) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => h.join().unwrap(),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!("watchdog: not done within {limit:?}"),
    }
}

fn eventually(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        thread::sleep(ms(1));
    }
}

/// The fake broker: what the next connects do, the current session's
/// messages, and what was published.
#[derive(Default)]
struct Broker {
    /// Connects fail with `Tcp` (server down).
    down: bool,
    /// Connects fail with `Auth`.
    bad_password: bool,
    /// Connects take this long (past the deadline: they fail with a timeout).
    connect_delay: Duration,
    /// No topic to publish to.
    no_topic: bool,
    /// Publishing fails (the client's session is gone).
    publish_fails: bool,
    connects: usize,
    /// The live session's generation; `kill` bumps it, ending that session.
    generation: usize,
    queue: VecDeque<Message>,
    /// (payload, when) of every publish.
    published: Vec<(String, Instant)>,
    closed_sessions: usize,
    /// `recv` calls that returned nothing (idle wake-ups).
    idle_recvs: usize,
    /// Messages the client crate dropped by itself, not yet reported.
    client_dropped: u64,
    /// Publishes the client could not deliver, not yet reported.
    undelivered: u64,
    /// Publishes the client still holds: given up when its session ends.
    held: u64,
    /// Sessions read on any thread (as Kafka's do): a program thread may
    /// read them itself.
    any_thread: bool,
    /// ... except the program's (as AMQP's, from inside a tokio runtime).
    not_the_programs: bool,
    /// The threads that called `recv`, by name, in order of first call.
    readers: Vec<String>,
    /// The threads whose `recv` found its session ended, by name.
    loss_met_by: Vec<String>,
}

#[derive(Default)]
struct Fake {
    b: Mutex<Broker>,
    cond: Condvar,
}

impl Fake {
    fn with(&self, f: impl FnOnce(&mut Broker)) {
        f(&mut self.b.lock());
        self.cond.notify_all();
    }
    fn push(&self, texts: impl IntoIterator<Item = String>) {
        self.with(|b| b.queue.extend(texts.into_iter().map(Message::text)));
    }
    /// Ends the live session (its next `recv` fails).
    fn kill(&self) {
        self.with(|b| {
            b.generation += 1;
            b.queue.clear();
        });
    }
    fn published(&self) -> Vec<String> {
        self.b
            .lock()
            .published
            .iter()
            .map(|p| p.0.clone())
            .collect()
    }
}

/// A fake broker whose sessions read on any thread (as Kafka's do), or on
/// the driver's thread only (as the others').
fn fake(any_thread: bool) -> Arc<Fake> {
    let f = Arc::new(Fake::default());
    f.with(|b| b.any_thread = any_thread);
    f
}

/// Whether a thread of this name has read the fake's sessions.
fn read_by(fake: &Fake, name: &str) -> bool {
    fake.b.lock().readers.iter().any(|r| r == name)
}

/// Reads on this thread until it reads the session itself (the hand-over
/// happens after a batch that came while a read waited): one message at a
/// time, `first..` on, at most 20; the next message's number.
fn read_until_direct(fake: &Fake, c: &Conn, first: usize) -> usize {
    for i in first..first + 20 {
        fake.push(texts(i..i + 1));
        assert_eq!(text_of(c.read_timeout(ms(2000))), format!("m{i}"));
        if read_by(fake, PROGRAM) {
            return i + 1;
        }
    }
    panic!("the program's thread never read the session itself");
}

struct FakeProtocol(Arc<Fake>);

impl Protocol for FakeProtocol {
    fn connect(&mut self, deadline: Instant) -> Result<Box<dyn Session>, Error> {
        let delay = self.0.b.lock().connect_delay;
        if !delay.is_zero() {
            thread::sleep(delay.min(deadline.saturating_duration_since(Instant::now())));
            if Instant::now() >= deadline {
                return Err(Error::new(ErrorKind::Tcp, "connect timed out").timed_out());
            }
        }
        let mut b = self.0.b.lock();
        if b.down {
            return Err(Error::new(ErrorKind::Tcp, "connection refused"));
        }
        if b.bad_password {
            return Err(Error::new(ErrorKind::Auth, "not authorised"));
        }
        b.connects += 1;
        Ok(Box::new(FakeSession {
            fake: self.0.clone(),
            any_thread: b.any_thread,
            generation: b.generation,
            publisher: (!b.no_topic).then(|| {
                Arc::new(FakePublisher {
                    fake: self.0.clone(),
                    generation: b.generation,
                }) as Arc<dyn Publish>
            }),
        }))
    }
}

struct FakeSession {
    fake: Arc<Fake>,
    any_thread: bool,
    generation: usize,
    publisher: Option<Arc<dyn Publish>>,
}

impl FakeSession {
    fn recv(&mut self, timeout: Duration) -> Result<Option<Message>, Disconnect> {
        let until = Instant::now() + timeout;
        let mut b = self.fake.b.lock();
        let me = thread::current().name().unwrap_or("?").to_owned();
        if !b.readers.contains(&me) {
            b.readers.push(me.clone());
        }
        loop {
            if b.generation != self.generation {
                b.loss_met_by.push(me);
                return Err(Disconnect::new(Cause::Eof, "the broker went away"));
            }
            if let Some(m) = b.queue.pop_front() {
                return Ok(Some(m));
            }
            if self.fake.cond.wait_until(&mut b, until).timed_out() {
                b.idle_recvs += 1;
                return Ok(None);
            }
        }
    }
}

impl Session for FakeSession {
    fn recv_batch(
        &mut self,
        timeout: Duration,
        batch: &mut Vec<(Message, bool)>,
        max: usize,
    ) -> Result<(), Disconnect> {
        crate::broker::one_by_one(timeout, batch, max, |wait| self.recv(wait))
    }

    fn dropped(&mut self) -> u64 {
        std::mem::take(&mut self.fake.b.lock().client_dropped)
    }

    fn undelivered(&mut self, ending: bool) -> u64 {
        let mut b = self.fake.b.lock();
        let held = if ending {
            std::mem::take(&mut b.held)
        } else {
            0
        };
        std::mem::take(&mut b.undelivered) + held
    }

    fn program_readers(&self) -> Option<fn() -> bool> {
        fn not_the_programs() -> bool {
            thread::current().name() != Some(PROGRAM)
        }
        let b = self.fake.b.lock();
        match (b.any_thread, b.not_the_programs) {
            (false, _) => None,
            (true, false) => Some(crate::broker::any_thread),
            (true, true) => Some(not_the_programs),
        }
    }

    fn publisher(&self) -> Option<Arc<dyn Publish>> {
        self.publisher.clone()
    }

    fn close(&mut self, _deadline: Instant) {
        self.fake.b.lock().closed_sessions += 1;
    }
}

struct FakePublisher {
    fake: Arc<Fake>,
    generation: usize,
}

impl Publish for FakePublisher {
    fn publish(&self, m: &Outgoing) -> bool {
        let mut b = self.fake.b.lock();
        if b.generation != self.generation || b.publish_fails {
            return false;
        }
        let text = match m {
            Outgoing::Text(t) => t.clone(),
            Outgoing::Binary(v) => String::from_utf8_lossy(v).into_owned(),
        };
        b.published.push((text, Instant::now()));
        true
    }
}

fn opts(f: impl FnOnce(&mut Options)) -> Options {
    let mut o = Options {
        timeout: ms(2000),
        interval: ms(20),
        max_interval: None,
        ..Options::default()
    };
    f(&mut o);
    o
}

fn dial(fake: &Arc<Fake>, o: &Options) -> Result<Conn, Error> {
    let (seam, driver) = start(Box::new(FakeProtocol(fake.clone())), "fake://b", o)?;
    Ok(Conn::new(seam, driver, "fake://b".into()))
}

fn texts(n: std::ops::Range<usize>) -> Vec<String> {
    n.map(|i| format!("m{i}")).collect()
}

fn text_of(e: Option<Event>) -> String {
    match e {
        Some(Event::Message(m)) => m.as_text().unwrap().to_owned(),
        other => panic!("expected a message, got {other:?}"),
    }
}

#[test]
fn every_read_mode_reads_what_the_broker_delivers() {
    within(ms(10_000), || {
        for any_thread in [false, true] {
            every_read_mode(any_thread);
        }
    });
}

fn every_read_mode(any_thread: bool) {
    {
        let fake = fake(any_thread);
        let c = dial(&fake, &opts(|_| {})).unwrap();
        assert!(c.is_connected());
        assert!(c.try_read().is_none());
        assert!(c.read_ms(-2).is_none());
        let t = Instant::now();
        assert!(c.read_timeout(ms(50)).is_none());
        assert!(t.elapsed() >= ms(50));
        fake.push(texts(0..1));
        assert_eq!(text_of(Some(c.read())), "m0");
        fake.push(texts(1..2));
        assert_eq!(text_of(c.read_ms(2000)), "m1");
        fake.push(texts(2..3));
        eventually(ms(2000), "m2 buffered", || c.stats().queued == 1);
        assert_eq!(text_of(c.read_ms(-1)), "m2");
        fake.push(texts(3..6));
        eventually(ms(2000), "three buffered", || c.stats().queued == 3);
        assert_eq!(text_of(c.read_ms(-2)), "m5", "read_latest: the newest");
        let s = c.stats();
        assert_eq!((s.received, s.discarded, s.queued), (6, 2, 0));
        // A reader blocked in read() gets what arrives later.
        let fake2 = fake.clone();
        let pusher = thread::spawn(move || {
            thread::sleep(ms(30));
            fake2.push(texts(6..7));
        });
        assert_eq!(text_of(c.read_ms(0)), "m6");
        pusher.join().unwrap();
        // Reading the session on this thread: the same, in order.
        if any_thread {
            let next = read_until_direct(&fake, &c, 7);
            fake.push(texts(next..next + 3));
            assert_eq!(text_of(c.read_ms(-2)), format!("m{}", next + 2));
            assert_eq!(c.stats().discarded, 4);
            fake.push(texts(next + 3..next + 4));
            assert_eq!(
                text_of(c.read_ms(-1).or_else(|| c.read_ms(2000))),
                format!("m{}", next + 3)
            );
        } else {
            assert!(!read_by(&fake, PROGRAM), "only the driver's thread reads");
        }
    }
}

#[test]
fn the_inbox_drops_the_oldest_and_counts_them() {
    within(ms(10_000), || {
        for any_thread in [false, true] {
            the_inbox_drops_the_oldest(any_thread);
        }
    });
}

fn the_inbox_drops_the_oldest(any_thread: bool) {
    {
        let fake = fake(any_thread);
        let c = dial(&fake, &opts(|o| o.qsize = 5)).unwrap();
        // A program that read the session itself, then stopped reading: the
        // driver's thread takes reading back and fills the inbox.
        let base = if any_thread {
            read_until_direct(&fake, &c, 0)
        } else {
            0
        };
        let before = c.stats().received;
        fake.push(texts(base..base + 100));
        eventually(ms(3000), "all 100 received", || {
            c.stats().received == before + 100
        });
        let s = c.stats();
        assert_eq!((s.dropped, s.queued), (95, 5));
        let got: Vec<String> = (0..5).map(|_| text_of(c.try_read())).collect();
        assert_eq!(
            got,
            texts(base + 95..base + 100),
            "the newest are kept, in order"
        );
        assert!(c.try_read().is_none());
        // qbytes bounds the bytes too: 3 messages of 2 bytes fit in 6.
        let fake = self::fake(any_thread);
        let c = dial(&fake, &opts(|o| o.qbytes = 6)).unwrap();
        fake.push(texts(0..10));
        eventually(ms(3000), "all 10 received", || c.stats().received == 10);
        let s = c.stats();
        assert_eq!((s.dropped, s.queued, s.queued_bytes), (7, 3, 6));
    }
}

#[test]
fn drops_inside_the_client_crate_are_counted_with_the_inboxs() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let c = dial(&fake, &opts(|_| {})).unwrap();
        // The client lost 7 messages (a buffer of its own was full); the
        // driver learns of it with the next arrival, or the next slice.
        fake.with(|b| b.client_dropped = 7);
        fake.push(texts(0..3));
        eventually(ms(3000), "the drops counted", || c.stats().dropped == 7);
        assert_eq!(c.stats().received, 3);
        fake.with(|b| b.client_dropped = 2);
        eventually(ms(3000), "counted while idle too", || {
            c.stats().dropped == 9
        });
    });
}

/// Kafka's failed delivery reports, and the records its producer still
/// holds when a session ends, are `unsent`: counted, not only logged.
#[test]
fn publishes_the_client_could_not_deliver_are_counted_unsent() {
    within(ms(10_000), || {
        let fake = fake(false);
        let c = dial(&fake, &opts(|o| o.reconnect = true)).unwrap();
        fake.with(|b| b.undelivered = 2);
        fake.push(texts(0..1));
        assert_eq!(text_of(c.read_timeout(ms(2000))), "m0");
        eventually(ms(2000), "2 unsent after a batch", || c.stats().unsent == 2);
        fake.with(|b| b.held = 3);
        fake.kill();
        assert!(matches!(
            c.read_timeout(ms(3000)),
            Some(Event::Disconnected(_))
        ));
        eventually(ms(2000), "the 3 held counted at the loss", || {
            c.stats().unsent == 5
        });
        // At a close, too.
        eventually(ms(3000), "connected again", || c.is_connected());
        fake.with(|b| b.held = 4);
        c.close();
        eventually(ms(2000), "the 4 held counted at the close", || {
            c.stats().unsent == 9
        });
        assert_eq!(c.stats().sent, 0);
    });
}

#[test]
fn first_connect_errors_are_the_dials_within_its_timeout() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        fake.with(|b| b.bad_password = true);
        let e = dial(&fake, &opts(|_| {})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Auth, "{e}");
        fake.with(|b| {
            b.bad_password = false;
            b.down = true;
        });
        let e = dial(&fake, &opts(|_| {})).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Tcp, "{e}");
        // A broker that does not answer: the dial ends by its timeout.
        fake.with(|b| {
            b.down = false;
            b.connect_delay = ms(5000);
        });
        let t = Instant::now();
        let e = dial(&fake, &opts(|o| o.timeout = ms(300))).unwrap_err();
        assert!(e.is_timeout(), "{e}");
        assert!(t.elapsed() < ms(1500), "took {:?}", t.elapsed());
    });
}

#[test]
fn retry_first_dials_in_the_background_until_the_broker_is_up() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        fake.with(|b| b.down = true);
        let c = dial(&fake, &opts(|o| o.retry_first = true)).unwrap();
        assert!(!c.is_connected());
        assert_eq!(c.write("early"), 0, "nothing to publish to while down");
        fake.with(|b| b.down = false);
        eventually(ms(3000), "connected", || c.is_connected());
        fake.push(texts(0..1));
        assert_eq!(text_of(c.read_timeout(ms(2000))), "m0");
        assert_eq!(c.stats().reconnects, 1);
    });
}

#[test]
fn a_lost_connection_is_one_disconnected_after_its_messages_then_it_resubscribes() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let o = opts(|o| {
            o.reconnect = true;
            o.payloads = vec!["hello".into(), "again".into()];
            o.pace = Some(ms(50));
        });
        let c = dial(&fake, &o).unwrap();
        eventually(ms(2000), "payloads published", || {
            fake.published().len() == 2
        });
        fake.push(texts(0..3));
        eventually(ms(2000), "3 received", || c.stats().received == 3);
        fake.kill();
        eventually(ms(3000), "connected again", || {
            fake.b.lock().connects == 2 && c.is_connected()
        });
        eventually(ms(2000), "payloads published again", || {
            fake.published().len() == 4
        });
        fake.push(texts(3..5));
        let mut events = Vec::new();
        while let Some(e) = c.read_timeout(ms(500)) {
            events.push(e);
        }
        let shape: Vec<String> = events
            .iter()
            .map(|e| match e {
                Event::Message(m) => m.as_text().unwrap().to_owned(),
                Event::Disconnected(d) => format!("lost:{:?}", d.cause()),
            })
            .collect();
        assert_eq!(shape, ["m0", "m1", "m2", "lost:Eof", "m3", "m4"]);
        assert_eq!(c.stats().reconnects, 1);
        let b = fake.b.lock();
        let p: Vec<&str> = b.published.iter().map(|p| p.0.as_str()).collect();
        assert_eq!(p, ["hello", "again", "hello", "again"]);
        for pair in [(0, 1), (2, 3)] {
            let gap = b.published[pair.1].1 - b.published[pair.0].1;
            assert!(gap >= ms(50), "pace: {gap:?}");
        }
    });
}

#[test]
fn without_reconnect_a_loss_is_terminal() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let c = dial(&fake, &opts(|_| {})).unwrap();
        fake.push(texts(0..1));
        eventually(ms(2000), "m0 received", || c.stats().received == 1);
        fake.kill();
        assert_eq!(text_of(c.read_timeout(ms(2000))), "m0");
        match c.read_timeout(ms(2000)) {
            Some(Event::Disconnected(d)) => assert_eq!(d.cause(), Cause::Eof),
            e => panic!("expected the disconnect, got {e:?}"),
        }
        assert!(!c.is_connected());
        assert!(
            c.read().is_disconnect(),
            "every read says so again, at once"
        );
        assert_eq!(c.write("x"), 0);
        thread::sleep(ms(100));
        assert_eq!(fake.b.lock().connects, 1, "no reconnect");
    });
}

#[test]
fn credentials_refused_on_a_reconnect_are_a_refused_event_and_it_goes_on() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let c = dial(&fake, &opts(|o| o.reconnect = true)).unwrap();
        // Down first (refused TCP: logged, not an event), then the password
        // no longer accepted (an event).
        fake.with(|b| b.down = true);
        fake.kill();
        match c.read_timeout(ms(3000)) {
            Some(Event::Disconnected(d)) => assert_eq!(d.cause(), Cause::Eof),
            e => panic!("expected the loss, got {e:?}"),
        }
        // Attempts every 20 ms: several refused in 200 ms, none an event.
        assert!(
            c.read_timeout(ms(200)).is_none(),
            "a TCP refusal is no event"
        );
        fake.with(|b| {
            b.down = false;
            b.bad_password = true;
        });
        match c.read_timeout(ms(3000)) {
            Some(Event::Disconnected(d)) => {
                assert_eq!(d.cause(), Cause::Refused, "{d:?}");
                assert!(d.detail().contains("not authorised"), "{d}");
                assert_eq!(d.http_status(), None);
            }
            e => panic!("expected the refusal, got {e:?}"),
        }
        assert!(!c.is_connected());
        fake.with(|b| b.bad_password = false);
        eventually(ms(3000), "connected again", || c.is_connected());
        fake.push(texts(0..1));
        loop {
            match c.read_timeout(ms(2000)) {
                Some(Event::Disconnected(d)) => assert_eq!(d.cause(), Cause::Refused),
                e => {
                    assert_eq!(text_of(e), "m0");
                    break;
                }
            }
        }
        assert_eq!(c.stats().reconnects, 1);
    });
}

#[test]
fn reconnecting_gives_up_after_retry_failures() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let c = dial(
            &fake,
            &opts(|o| {
                o.reconnect = true;
                o.retry = 3;
            }),
        )
        .unwrap();
        fake.with(|b| b.down = true);
        fake.kill();
        match c.read_timeout(ms(3000)) {
            Some(Event::Disconnected(d)) => assert_eq!(d.cause(), Cause::Eof),
            e => panic!("expected the loss, got {e:?}"),
        }
        match c.read_timeout(ms(3000)) {
            Some(Event::Disconnected(d)) => {
                assert_eq!(d.cause(), Cause::GaveUp);
                assert!(d.detail().contains("3 failed"), "{d}");
            }
            e => panic!("expected giving up, got {e:?}"),
        }
        assert!(!c.is_connected());
    });
}

#[test]
fn writes_publish_and_count_or_return_0() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let c = dial(&fake, &opts(|_| {})).unwrap();
        assert_eq!(c.write("abc"), 3);
        assert_eq!(c.write_binary(b"de"), 2);
        eventually(ms(2000), "published", || fake.published().len() == 2);
        assert_eq!(fake.published(), ["abc", "de"]);
        eventually(ms(2000), "counted", || c.stats().sent == 2);
        // The client refuses (its session is going away): not published, counted.
        fake.with(|b| b.publish_fails = true);
        assert_eq!(c.write("lost"), 0);
        assert_eq!(c.stats().unsent, 1);
        c.close();
        assert_eq!(c.write("closed"), 0);
        // No topic to publish to: 0, nothing published.
        let fake = Arc::new(Fake::default());
        fake.with(|b| b.no_topic = true);
        let c = dial(&fake, &opts(|_| {})).unwrap();
        eventually(ms(2000), "up", || c.write("x") == 0 && c.is_connected());
        thread::sleep(ms(50));
        assert!(fake.published().is_empty());
    });
}

#[test]
fn writes_during_the_payloads_follow_them() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let o = opts(|o| {
            o.payloads = vec!["p1".into(), "p2".into()];
            o.pace = Some(ms(200));
        });
        let c = dial(&fake, &o).unwrap();
        // The dial returns at once; the second payload is 200 ms away.
        assert_eq!(c.write("mine"), 4);
        eventually(ms(2000), "all three published", || {
            fake.published().len() == 3
        });
        assert_eq!(fake.published(), ["p1", "p2", "mine"]);
        assert_eq!(c.stats().sent, 1, "payloads are not the program's writes");
    });
}

#[test]
fn close_is_prompt_and_ends_the_session_politely() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let c = dial(&fake, &opts(|_| {})).unwrap();
        thread::sleep(ms(50));
        let t = Instant::now();
        c.close();
        let took = t.elapsed();
        assert!(took < RECV_SLICE + ms(100), "close took {took:?}");
        assert_eq!(fake.b.lock().closed_sessions, 1);
        match c.read() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::ClosedByUser),
            e => panic!("{e:?}"),
        }
        // Closing while it waits to reconnect: prompt as well.
        let fake = Arc::new(Fake::default());
        let c = dial(
            &fake,
            &opts(|o| {
                o.reconnect = true;
                o.interval = ms(60_000);
            }),
        )
        .unwrap();
        fake.kill();
        eventually(ms(2000), "lost", || !c.is_connected());
        let t = Instant::now();
        drop(c);
        assert!(t.elapsed() < ms(200), "drop took {:?}", t.elapsed());
    });
}

#[test]
fn an_idle_connection_wakes_once_per_recv_slice() {
    within(ms(10_000), || {
        let fake = Arc::new(Fake::default());
        let _c = dial(&fake, &opts(|_| {})).unwrap();
        let before = fake.b.lock().idle_recvs;
        thread::sleep(ms(1000));
        let wakes = fake.b.lock().idle_recvs - before;
        let want = (ms(1000).as_millis() / RECV_SLICE.as_millis()) as usize;
        assert!(
            (want - 2..=want + 1).contains(&wakes),
            "{wakes} idle wake-ups in 1 s, want about {want}"
        );
    });
}

#[test]
fn select_waits_on_broker_connections() {
    within(ms(10_000), || {
        let a = Arc::new(Fake::default());
        let b = Arc::new(Fake::default());
        let ca = dial(&a, &opts(|_| {})).unwrap();
        let cb = dial(&b, &opts(|_| {})).unwrap();
        assert_eq!(crate::select(&[&ca, &cb], Some(ms(50))), None);
        let b2 = b.clone();
        let pusher = thread::spawn(move || {
            thread::sleep(ms(30));
            b2.push(texts(0..1));
        });
        assert_eq!(crate::select(&[&ca, &cb], Some(ms(3000))), Some(1));
        assert_eq!(text_of(cb.try_read()), "m0");
        pusher.join().unwrap();
    });
}

#[test]
fn a_reader_that_keeps_up_reads_a_session_of_any_thread_itself_in_order() {
    within(ms(20_000), || {
        for any_thread in [false, true] {
            let fake = fake(any_thread);
            let n = 3000;
            // Room for all: a reader slower than the pusher (a loaded
            // machine, a debug build) drops nothing.
            let c = dial(&fake, &opts(|o| o.qsize = 2 * n)).unwrap();
            // Arrivals in bursts of every size while the program reads
            // with every kind of read: the session changes hands between
            // the threads many times.
            let f2 = fake.clone();
            let pusher = thread::spawn(move || {
                let mut at = 0;
                for burst in 1.. {
                    if at == n {
                        break;
                    }
                    let end = (at + burst % 97).min(n);
                    f2.push(texts(at..end));
                    at = end;
                    thread::yield_now();
                }
            });
            let mut got = Vec::with_capacity(n);
            while got.len() < n {
                let s = c.stats();
                if s.received == n as u64 && s.queued == 0 {
                    // Everything came: what is left is being handed over
                    // (counted first), or lost.
                    while let Some(Event::Message(m)) = c.read_timeout(ms(1000)) {
                        got.push(m.as_text().unwrap().to_owned());
                    }
                    break;
                }
                let e = match got.len() % 3 {
                    0 => Some(c.read()),
                    1 => c.read_timeout(ms(2000)),
                    _ => c.try_read(),
                };
                match e {
                    Some(Event::Message(m)) => got.push(m.as_text().unwrap().to_owned()),
                    Some(e) => panic!("{e:?}"),
                    None => thread::yield_now(),
                }
            }
            pusher.join().unwrap();
            let want = texts(0..n);
            let first_wrong = got.iter().zip(&want).position(|(g, w)| g != w);
            assert_eq!(
                (got.len(), first_wrong),
                (n, None),
                "every message once, in order; got {:?}…",
                got.get(first_wrong.unwrap_or(0))
            );
            let s = c.stats();
            assert_eq!((s.received, s.dropped, s.queued), (n as u64, 0, 0));
            // (A reader that fell behind the bursts may never have read
            // the session itself: the hand-over is checked one by one.)
            if any_thread {
                read_until_direct(&fake, &c, n);
            } else {
                assert!(!read_by(&fake, PROGRAM), "only the driver's thread reads");
            }
        }
    });
}

/// A session that any thread may read, except the program's (AMQP's, read
/// from inside a program's tokio runtime): the program's thread never reads
/// it, and never makes the driver's thread stand aside for it (which would
/// hold each message back for a takeover pause).
#[test]
fn a_thread_the_session_refuses_never_reads_it_nor_holds_the_driver_back() {
    let fake = fake(true);
    fake.with(|b| b.not_the_programs = true);
    let c = dial(&fake, &opts(|_| {})).unwrap();
    let f2 = fake.clone();
    let late = within(ms(20_000), move || {
        let mut late = 0;
        for i in 0..100 {
            // Pushed from another thread while the read waits (or about
            // to): a read that finds the session held would ask for it.
            let f3 = f2.clone();
            let pusher = thread::spawn(move || f3.push(texts(i..i + 1)));
            let t = Instant::now();
            assert_eq!(text_of(c.read_timeout(ms(2000))), format!("m{i}"));
            if t.elapsed() >= handoff::TAKEOVER {
                late += 1;
            }
            pusher.join().unwrap();
        }
        late
    });
    assert!(
        !read_by(&fake, PROGRAM),
        "the program's thread read the session"
    );
    // Held back, every other read waits a whole takeover pause; a loaded
    // machine delays a few.
    assert!(
        late < 20,
        "{late} of 100 reads waited {:?} or more",
        handoff::TAKEOVER
    );
}

#[test]
fn a_loss_met_on_the_programs_thread_is_one_disconnected_after_its_messages() {
    within(ms(10_000), || {
        let fake = fake(true);
        let c = dial(&fake, &opts(|o| o.reconnect = true)).unwrap();
        let next = read_until_direct(&fake, &c, 0);
        // This thread now waits in the session itself; the loss comes to it.
        let f2 = fake.clone();
        let killer = thread::spawn(move || {
            let waiting = |what: &str| {
                // The program's read is blocked in the session once a recv
                // of its found nothing for a whole slice.
                let idle = f2.b.lock().idle_recvs;
                eventually(ms(3000), what, || f2.b.lock().idle_recvs > idle);
            };
            waiting("the program waiting in the session");
            f2.push(texts(next..next + 2));
            waiting("the program waiting again after the two");
            f2.kill();
        });
        let mut shape = Vec::new();
        while !shape.iter().any(|e: &String| e.starts_with("lost")) {
            match c.read_timeout(ms(3000)) {
                Some(Event::Message(m)) => shape.push(m.as_text().unwrap().to_owned()),
                Some(Event::Disconnected(d)) => shape.push(format!("lost:{:?}", d.cause())),
                None => panic!("nothing after {shape:?}"),
            }
        }
        killer.join().unwrap();
        let want = [
            format!("m{next}"),
            format!("m{}", next + 1),
            "lost:Eof".into(),
        ];
        assert_eq!(shape, want);
        assert_eq!(fake.b.lock().loss_met_by, [PROGRAM]);
        eventually(ms(3000), "connected again", || {
            fake.b.lock().connects == 2 && c.is_connected()
        });
        fake.push(texts(100..103));
        let after: Vec<String> = (0..3).map(|_| text_of(c.read_timeout(ms(3000)))).collect();
        assert_eq!(after, texts(100..103), "messages flow again");
        assert!(c.try_read().is_none(), "and nothing else");
        assert_eq!(c.stats().reconnects, 1);
    });
}

#[test]
fn close_is_prompt_while_the_programs_thread_waits_in_the_session() {
    within(ms(10_000), || {
        let fake = fake(true);
        let c = Arc::new(dial(&fake, &opts(|_| {})).unwrap());
        read_until_direct(&fake, &c, 0);
        let c2 = c.clone();
        let reader = thread::Builder::new()
            .name(PROGRAM.into())
            .spawn(move || c2.read())
            .unwrap();
        // The reader waits inside the session: its recv finds nothing.
        let idle = fake.b.lock().idle_recvs;
        eventually(ms(3000), "the reader waiting in the session", || {
            fake.b.lock().idle_recvs > idle
        });
        let t = Instant::now();
        c.close();
        match reader.join().unwrap() {
            Event::Disconnected(d) => assert_eq!(d.cause(), Cause::ClosedByUser),
            e => panic!("{e:?}"),
        }
        let took = t.elapsed();
        assert!(
            took < RECV_SLICE + ms(200),
            "close and the read's end took {took:?}"
        );
        assert_eq!(fake.b.lock().closed_sessions, 1);
    });
}
