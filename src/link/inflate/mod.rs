//! The inbound half of permessage-deflate: a stream under tungstenite that
//! rewrites every compressed message into plain frames, so tungstenite's own
//! message layer (fragments, control frames, UTF-8, close, `maxsize`) handles
//! it as it handles any other.
//!
//! tungstenite 0.30 refuses a frame with RSV1 set and has no hook for an
//! extension, but its frame format is RFC 6455's, so the bytes it reads can be
//! changed on the way. [`Inflating`] sits between the socket and tungstenite:
//!
//! - During the HTTP handshake it passes the response head and holds back
//!   whatever came after it in the same read, so that the frames the server
//!   sent at once are never read past it. After the 101 the link says what
//!   was agreed ([`Inflating::agree`]).
//! - A frame that starts a compressed message (RSV1, text or binary) and its
//!   continuations are inflated as their bytes arrive (with the empty block
//!   RFC 7692 removes put back after the last one), and handed on as plain
//!   frames of the same message: the first with the message's opcode, the
//!   rest as continuations, the last one final. Each carries what the rest of
//!   one read's buffer holds (at most 64 KiB), so memory stays bounded
//!   whatever the message inflates to; the message as a whole is bounded by
//!   `maxsize`. One read hands on as many frames as its buffer holds.
//! - Every other frame (control frames included, between the fragments of a
//!   compressed message too) passes unchanged; one that breaks the protocol
//!   (RSV1 on a control frame or a continuation) reaches tungstenite as it
//!   came, and tungstenite fails the connection.
//!
//! Data that does not inflate, a message over `maxsize`, or a new message
//! before a compressed one ended, is an [`InflateError`] inside an
//! `io::Error`, which the link reports as a protocol error.
//!
//! Every WebSocket link reads through this type, so tungstenite is built for
//! one stream type: a second one (the stream alone for links without the
//! extension) changed how its read path was inlined, and made 200 B messages
//! about 10% slower. Without the extension offered, a read is one test of an
//! `Option` and the stream's own read; offered but not agreed, bytes pass
//! through.

use std::fmt;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};

use flate2::{Decompress, FlushDecompress, Status};

use super::pmd::{Agreed, TAIL};

/// Bytes read from the socket at a time.
const RAW: usize = 64 * 1024;
/// The header of every frame handed on: a 16-bit length always (tungstenite
/// does not ask for the shortest form, and the payload is written after it
/// before its length is known).
const HEAD: usize = 4;
/// The most payload one handed-on frame carries.
const MAX_CHUNK: usize = u16::MAX as usize;
/// A read buffer smaller than this is served through `stash`.
const MIN_BUF: usize = 64;

/// Why a compressed message could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InflateError {
    /// The message inflates to more than `maxsize` bytes: inflating stopped there.
    TooLarge(usize),
    /// The data is not valid DEFLATE, or goes on after its end.
    Corrupt(String),
    /// A text or binary frame began while a compressed message was unfinished.
    Interleaved,
}

impl fmt::Display for InflateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InflateError::TooLarge(max) => write!(
                f,
                "a compressed message inflates to more than maxsize ({max} bytes); inflating stopped there"
            ),
            InflateError::Corrupt(why) => write!(f, "a compressed message does not inflate: {why}"),
            InflateError::Interleaved => f.write_str(
                "a new message began before the compressed one ended (RFC 6455 section 5.4)",
            ),
        }
    }
}

impl std::error::Error for InflateError {}

fn fail(e: InflateError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

/// A stream that inflates permessage-deflate frames for the reader above it
/// (see the module docs). Writes pass straight through. Without the extension
/// offered it is the stream and one test per read: tungstenite is built for
/// this one type either way, as it was for the stream alone.
pub(crate) struct Inflating<S> {
    inner: S,
    /// The extension's state, when it is offered.
    pmd: Option<Box<Pmd>>,
}

/// Everything the extension needs, offered or agreed.
struct Pmd {
    /// Bytes read from the stream and not handed on: `raw[lo..hi]`.
    raw: Box<[u8]>,
    lo: usize,
    hi: usize,
    /// Handed-on bytes that did not fit a small read buffer.
    stash: Vec<u8>,
    /// An error found after bytes were handed on: the next read returns it.
    failed: Option<io::Error>,
    mode: Mode,
}

enum Mode {
    /// The HTTP handshake: pass up to the end of the response head.
    /// `matched`: how much of `\r\n\r\n` the last bytes passed were; `status`:
    /// the first bytes of the response, to tell a 101 from an error.
    Handshake { matched: usize, status: Vec<u8> },
    /// The 101's head has been passed; the rest waits for [`Inflating::agree`].
    Held,
    /// Not agreed, or not a 101: everything passes through.
    Plain,
    /// Agreed: frames are rewritten.
    Frames(Box<Frames>),
}

/// Where the reader is in the frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// At a frame header.
    Header,
    /// Inside a frame that passes unchanged: payload bytes left.
    Plain(u64),
    /// Inside a frame of a compressed message: payload bytes left, and
    /// whether it is the message's last frame.
    Compressed(u64, bool),
    /// After the last frame's payload: the tail fed (of 4 bytes).
    Tail(usize),
}

struct Frames {
    z: Decompress,
    /// `server_no_context_takeover`: a fresh window for every message.
    reset_each: bool,
    maxsize: usize,
    at: At,
    /// A compressed message is open (its first frame seen, not its last).
    open: bool,
    /// Its opcode (1 text, 2 binary), and whether a frame of it was handed on.
    opcode: u8,
    started: bool,
    /// Bytes inflated so far in this message.
    size: usize,
    /// The DEFLATE stream ended (a final block) inside this message.
    ended: bool,
    /// Some of this message's payload was fed to the inflater.
    fed: bool,
}

impl<S> Inflating<S> {
    /// The stream; with `offered`, in handshake mode, to inflate once
    /// [`agree`](Inflating::agree) says so.
    pub(crate) fn new(inner: S, offered: bool) -> Inflating<S> {
        let pmd = offered.then(|| {
            Box::new(Pmd {
                raw: vec![0; RAW].into_boxed_slice(),
                lo: 0,
                hi: 0,
                stash: Vec::new(),
                failed: None,
                mode: Mode::Handshake {
                    matched: 0,
                    status: Vec::with_capacity(12),
                },
            })
        });
        Inflating { inner, pmd }
    }

    /// After the handshake: inflate as `agreed` says (`None`: not agreed, pass
    /// everything), with messages of at most `maxsize` bytes.
    pub(crate) fn agree(&mut self, agreed: Option<&Agreed>, maxsize: usize) {
        if let Some(p) = &mut self.pmd {
            p.agree(agreed, maxsize);
        }
    }

    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }
}

impl Pmd {
    /// Nothing more to do: not agreed, nothing held.
    fn spent(&self) -> bool {
        matches!(self.mode, Mode::Plain)
            && self.lo == self.hi
            && self.stash.is_empty()
            && self.failed.is_none()
    }

    fn agree(&mut self, agreed: Option<&Agreed>, maxsize: usize) {
        self.mode = match agreed {
            None => Mode::Plain,
            Some(a) => Mode::Frames(Box::new(Frames {
                // A 15-bit window decodes data made with any smaller one,
                // 8 bits included (which flate2 cannot be asked for).
                z: Decompress::new(false),
                reset_each: a.server_no_context_takeover,
                maxsize,
                at: At::Header,
                open: false,
                opcode: 0,
                started: false,
                size: 0,
                ended: false,
                fed: false,
            })),
        };
    }

    /// Reads more from `inner` into `raw`: what `inner.read` returned.
    fn fill(&mut self, inner: &mut impl Read) -> io::Result<usize> {
        if self.lo == self.hi {
            self.lo = 0;
            self.hi = 0;
        } else if self.hi == self.raw.len() {
            if self.lo == 0 {
                // Never: what is held is a partial header or a frame's bytes
                // waiting for room, both far smaller. Not an EOF, in any case.
                return Err(io::Error::other("permessage-deflate: read buffer full"));
            }
            self.raw.copy_within(self.lo..self.hi, 0);
            self.hi -= self.lo;
            self.lo = 0;
        }
        let n = inner.read(&mut self.raw[self.hi..])?;
        self.hi += n;
        Ok(n)
    }

    /// Hands on held bytes, up to `buf`'s length.
    fn pass_raw(&mut self, buf: &mut [u8], max: usize) -> usize {
        let n = (self.hi - self.lo).min(buf.len()).min(max);
        buf[..n].copy_from_slice(&self.raw[self.lo..self.lo + n]);
        self.lo += n;
        n
    }

    /// Handshake mode: hands on bytes up to the end of the response head.
    fn read_head(&mut self, inner: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        if self.lo == self.hi && self.fill(inner)? == 0 {
            return Ok(0);
        }
        let Mode::Handshake { matched, status } = &mut self.mode else {
            unreachable!("read_head outside the handshake");
        };
        let avail = &self.raw[self.lo..self.hi];
        let mut end = None;
        for (i, &b) in avail.iter().enumerate() {
            if status.len() < 12 {
                status.push(b);
            }
            *matched = match (b, *matched) {
                (b'\r', 0 | 2) => *matched + 1,
                (b'\n', 1 | 3) => *matched + 1,
                (b'\r', _) => 1,
                _ => 0,
            };
            if *matched == 4 {
                end = Some(i + 1);
                break;
            }
        }
        let upto = end.unwrap_or(avail.len());
        if end.is_some() {
            // A 101 is followed by frames: hold them. Any other answer is
            // followed by its body, which the handshake shows in its error.
            self.mode = if status.starts_with(b"HTTP/1.1 101") {
                Mode::Held
            } else {
                Mode::Plain
            };
        }
        let limit = if matches!(self.mode, Mode::Plain) {
            usize::MAX
        } else {
            upto
        };
        Ok(self.pass_raw(buf, limit))
    }

    /// Frames mode, with a buffer of at least `MIN_BUF` bytes: hands on the
    /// next bytes; 0 when `raw` needs more input first. An error after some
    /// bytes were written waits for the next read, so that the messages
    /// before it are read first.
    fn step(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut written = 0;
        match self.step_into(buf, &mut written) {
            Ok(()) => Ok(written),
            Err(e) if written > 0 => {
                self.failed = Some(e);
                Ok(written)
            }
            Err(e) => Err(e),
        }
    }

    fn step_into(&mut self, buf: &mut [u8], written: &mut usize) -> io::Result<()> {
        let Mode::Frames(f) = &mut self.mode else {
            unreachable!("step outside frames mode");
        };
        loop {
            match f.at {
                At::Header => {
                    let avail = &self.raw[self.lo..self.hi];
                    let Some((len, head_len)) = header(avail) else {
                        return Ok(());
                    };
                    let (b0, b1) = (avail[0], avail[1]);
                    let (fin, rsv1, opcode) = (b0 & 0x80 != 0, b0 & 0x40 != 0, b0 & 0x0f);
                    let masked = b1 & 0x80 != 0;
                    let data = opcode == 1 || opcode == 2;
                    if data && f.open {
                        return Err(fail(InflateError::Interleaved));
                    }
                    let compressed = !masked
                        && b0 & 0x30 == 0
                        && ((rsv1 && data) || (!rsv1 && opcode == 0 && f.open));
                    if compressed {
                        if !f.open {
                            f.open = true;
                            f.opcode = opcode;
                            f.started = false;
                            f.size = 0;
                            f.ended = false;
                            f.fed = false;
                        }
                        self.lo += head_len;
                        f.at = At::Compressed(len, fin);
                        continue;
                    }
                    if buf.len() - *written < head_len {
                        return Ok(());
                    }
                    buf[*written..*written + head_len].copy_from_slice(&avail[..head_len]);
                    *written += head_len;
                    self.lo += head_len;
                    f.at = if len == 0 { At::Header } else { At::Plain(len) };
                }
                At::Plain(left) => {
                    let n = (self.hi - self.lo)
                        .min(buf.len() - *written)
                        .min(usize::try_from(left).unwrap_or(usize::MAX));
                    if n == 0 {
                        return Ok(());
                    }
                    buf[*written..*written + n].copy_from_slice(&self.raw[self.lo..self.lo + n]);
                    *written += n;
                    self.lo += n;
                    let left = left - n as u64;
                    f.at = if left == 0 {
                        At::Header
                    } else {
                        At::Plain(left)
                    };
                }
                At::Compressed(..) | At::Tail(_) => {
                    // As many frames as the buffer holds: tungstenite zero-fills
                    // its whole spare buffer before every read (its issue 547),
                    // so one message per read would cost a 64 KiB fill each.
                    if buf.len() - *written < MIN_BUF {
                        return Ok(());
                    }
                    let n = f.inflate(&self.raw, &mut self.lo, self.hi, &mut buf[*written..])?;
                    *written += n;
                    if n == 0 && f.at != At::Header {
                        // more input first
                        return Ok(());
                    }
                }
            }
        }
    }
}

impl Frames {
    /// Inflates what `raw[*lo..hi]` has of the current compressed message
    /// into one plain frame at the start of `buf` (at least `MIN_BUF` bytes):
    /// its length, or 0 when more input is needed first (or the frame ended
    /// without output: `at` is then `Header`).
    fn inflate(
        &mut self,
        raw: &[u8],
        lo: &mut usize,
        hi: usize,
        buf: &mut [u8],
    ) -> io::Result<usize> {
        let room = (buf.len() - HEAD)
            .min(MAX_CHUNK)
            .min(self.maxsize.saturating_sub(self.size).saturating_add(1));
        let out = &mut buf[HEAD..HEAD + room];
        let mut made = 0;
        let done = loop {
            match self.at {
                // An empty payload is an empty message. (RFC 7692 section
                // 7.2.3.6 has senders send 0x00 instead: the tail alone is not
                // a whole block, and feeding it would derail the inflater.)
                At::Compressed(0, true) if !self.fed => break true,
                At::Compressed(0, true) => self.at = At::Tail(0),
                At::Compressed(0, false) => {
                    // This frame is done; a continuation comes next.
                    self.at = At::Header;
                    break false;
                }
                At::Compressed(left, fin) => {
                    let end =
                        hi.min(lo.saturating_add(usize::try_from(left).unwrap_or(usize::MAX)));
                    if *lo == end || made == room {
                        break false;
                    }
                    if self.ended {
                        return Err(fail(InflateError::Corrupt(
                            "data after the end of its DEFLATE stream".into(),
                        )));
                    }
                    self.fed = true;
                    let (used, n) = self.run(&raw[*lo..end], &mut out[made..])?;
                    if used == 0 && n == 0 && !self.ended {
                        return Err(fail(InflateError::Corrupt(
                            "the inflater made no progress".into(),
                        )));
                    }
                    *lo += used;
                    made += n;
                    self.at = At::Compressed(left - used as u64, fin);
                }
                At::Tail(fed) if fed < TAIL.len() && !self.ended => {
                    if made == room {
                        break false;
                    }
                    let (used, n) = self.run(&TAIL[fed..], &mut out[made..])?;
                    made += n;
                    let stuck = used == 0 && n == 0;
                    self.at = At::Tail(if self.ended || stuck {
                        TAIL.len()
                    } else {
                        fed + used
                    });
                }
                At::Tail(_) => {
                    // All input given: done once the inflater has nothing left.
                    if self.ended {
                        break true;
                    }
                    if made == room {
                        break false;
                    }
                    let (_, n) = self.run(&[], &mut out[made..])?;
                    made += n;
                    if made < room {
                        break true;
                    }
                }
                At::Header | At::Plain(_) => unreachable!("inflate outside a compressed message"),
            }
        };
        // `room` stops the inflater one byte past maxsize.
        if self.size + made > self.maxsize {
            return Err(fail(InflateError::TooLarge(self.maxsize)));
        }
        self.size += made;
        if made == 0 && !done {
            return Ok(0);
        }
        let opcode = if self.started { 0 } else { self.opcode };
        self.started = true;
        buf[0] = opcode | if done { 0x80 } else { 0 };
        buf[1] = 126;
        buf[2..HEAD].copy_from_slice(&(made as u16).to_be_bytes());
        if done {
            self.open = false;
            self.at = At::Header;
            if self.reset_each || self.ended {
                self.z.reset(false);
            }
        }
        Ok(HEAD + made)
    }

    /// One call of the inflater: input bytes used, output bytes made.
    fn run(&mut self, input: &[u8], out: &mut [u8]) -> io::Result<(usize, usize)> {
        let (i, o) = (self.z.total_in(), self.z.total_out());
        let status = self
            .z
            .decompress(input, out, FlushDecompress::None)
            .map_err(|e| fail(InflateError::Corrupt(e.to_string())))?;
        if status == Status::StreamEnd {
            self.ended = true;
        }
        Ok((
            (self.z.total_in() - i) as usize,
            (self.z.total_out() - o) as usize,
        ))
    }
}

/// The payload length and header length of the frame header at the start
/// of `b`, once all of it is there.
fn header(b: &[u8]) -> Option<(u64, usize)> {
    if b.len() < 2 {
        return None;
    }
    let mask = if b[1] & 0x80 != 0 { 4 } else { 0 };
    let (len, ext) = match b[1] & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)),
            2,
        ),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 8),
        n => (u64::from(n), 0),
    };
    let head = 2 + ext + mask;
    (b.len() >= head).then_some((len, head))
}

impl<S: Read> Read for Inflating<S> {
    // Never inlined: inlined into tungstenite's read, it changed what LLVM
    // inlined there, and 200 B messages read about 6% slower (interleaved
    // runs against a build without the feature). A call per socket read costs
    // nothing measurable.
    #[inline(never)]
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.pmd {
            None => self.inner.read(buf),
            Some(p) => {
                let r = p.read(&mut self.inner, buf);
                if p.spent() {
                    // Not agreed, and what was held is handed on: the stream alone.
                    self.pmd = None;
                }
                r
            }
        }
    }
}

impl Pmd {
    /// A read with the extension offered: see the module docs.
    #[inline(never)]
    fn read(&mut self, inner: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
        if !self.stash.is_empty() {
            let n = self.stash.len().min(buf.len());
            buf[..n].copy_from_slice(&self.stash[..n]);
            self.stash.drain(..n);
            return Ok(n);
        }
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        match &self.mode {
            Mode::Handshake { .. } => return self.read_head(inner, buf),
            // Nothing reads between the head and `agree`.
            Mode::Held => return Err(io::ErrorKind::WouldBlock.into()),
            Mode::Plain if self.lo < self.hi => return Ok(self.pass_raw(buf, usize::MAX)),
            Mode::Plain => return inner.read(buf),
            Mode::Frames(_) => {}
        }
        if buf.len() < MIN_BUF {
            let mut tmp = [0u8; MIN_BUF];
            let n = self.read(inner, &mut tmp)?;
            let k = n.min(buf.len());
            buf[..k].copy_from_slice(&tmp[..k]);
            self.stash.extend_from_slice(&tmp[k..n]);
            return Ok(k);
        }
        loop {
            let n = self.step(buf)?;
            if n > 0 {
                return Ok(n);
            }
            // A large plain payload with nothing held: straight into `buf`.
            if let Mode::Frames(f) = &mut self.mode {
                if let (At::Plain(left), true) = (f.at, self.lo == self.hi) {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = inner.read(&mut buf[..want])?;
                    if n > 0 {
                        let left = left - n as u64;
                        f.at = if left == 0 {
                            At::Header
                        } else {
                            At::Plain(left)
                        };
                    }
                    return Ok(n);
                }
            }
            if self.fill(inner)? == 0 {
                return Ok(0);
            }
        }
    }
}

impl<S: Write> Write for Inflating<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<S: AsFd> AsFd for Inflating<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.inner.as_fd()
    }
}

mod replay;
pub use replay::replay_permessage_deflate;

#[cfg(test)]
mod tests;
