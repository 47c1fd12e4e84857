//! The inflater under tungstenite, fed server frames from memory in reads
//! of every size.

use super::*;
use flate2::{Compress, FlushCompress};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message as WsMessage, WebSocket};

/// A socket in memory: reads give at most `chunk` bytes, then `WouldBlock`
/// once all is read (or EOF with `eof`); writes are kept.
struct Mem {
    input: Vec<u8>,
    pos: usize,
    chunk: usize,
    eof: bool,
    written: Vec<u8>,
}

impl Mem {
    fn new(input: Vec<u8>, chunk: usize) -> Mem {
        Mem {
            input,
            pos: 0,
            chunk,
            eof: false,
            written: Vec::new(),
        }
    }
}

impl Read for Mem {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.input.len() - self.pos).min(buf.len()).min(self.chunk);
        if n == 0 && !self.eof {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        buf[..n].copy_from_slice(&self.input[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

impl Write for Mem {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.written.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The inflater over `m`, with the extension offered (handshake mode).
fn offered(m: Mem) -> Inflating<Mem> {
    Inflating::new(m, true)
}

/// A server frame (unmasked): FIN, RSV1 and opcode in `b0`.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![b0];
    match payload.len() {
        n if n < 126 => f.push(n as u8),
        n if n <= 0xffff => {
            f.push(126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    f.extend_from_slice(payload);
    f
}

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const TEXT: u8 = 1;
const BINARY: u8 = 2;
const PING: u8 = 9;

/// A server's deflater, as RFC 7692 section 7.2.1 says.
struct Server {
    z: Compress,
    no_context: bool,
}

impl Server {
    fn new(bits: u8, no_context: bool) -> Server {
        Server {
            z: Compress::new_with_window_bits(flate2::Compression::default(), false, bits),
            no_context,
        }
    }

    fn compress(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(data.len() + 1024);
        let start = self.z.total_in();
        loop {
            let used = (self.z.total_in() - start) as usize;
            out.reserve(64 * 1024);
            self.z
                .compress_vec(&data[used..], &mut out, FlushCompress::Sync)
                .unwrap();
            if self.z.total_in() - start == data.len() as u64 && out.len() < out.capacity() {
                break;
            }
        }
        assert!(out.ends_with(&TAIL));
        out.truncate(out.len() - 4);
        if self.no_context {
            self.z.reset();
        }
        out
    }
}

fn agreed(no_context: bool) -> Agreed {
    Agreed {
        server_no_context_takeover: no_context,
        ..Agreed::default()
    }
}

/// tungstenite (as a client) over the inflater over `wire`.
fn client(
    wire: Vec<u8>,
    chunk: usize,
    a: Option<Agreed>,
    maxsize: usize,
) -> WebSocket<Inflating<Mem>> {
    let mut s = offered(Mem::new(wire, chunk));
    s.agree(a.as_ref(), maxsize);
    let config = WebSocketConfig::default()
        .max_message_size(Some(maxsize))
        .max_frame_size(Some(maxsize))
        .read_buffer_size(64 * 1024);
    WebSocket::from_raw_socket(s, Role::Client, Some(config))
}

/// Every message tungstenite reads before the wire runs dry.
fn read_all(ws: &mut WebSocket<Inflating<Mem>>) -> Result<Vec<WsMessage>, tungstenite::Error> {
    let mut out = Vec::new();
    loop {
        match ws.read() {
            Ok(m) => out.push(m),
            Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(out)
            }
            Err(e) => return Err(e),
        }
    }
}

fn inflate_error(e: tungstenite::Error) -> InflateError {
    match e {
        tungstenite::Error::Io(io) => io
            .get_ref()
            .and_then(|e| e.downcast_ref::<InflateError>())
            .cloned()
            .unwrap_or_else(|| panic!("not an inflate error: {io}")),
        other => panic!("not an i/o error: {other}"),
    }
}

fn json(i: usize) -> String {
    format!(r#"{{"e":"trade","s":"BTCUSDT","t":{i},"p":"37123.{i}","q":"0.0{i}","m":false}}"#)
}

#[test]
fn compressed_messages_inflate_with_and_without_context_takeover() {
    for no_context in [false, true] {
        for bits in [9, 12, 15] {
            let mut server = Server::new(bits, no_context);
            let mut wire = Vec::new();
            let msgs: Vec<String> = (0..20).map(json).collect();
            for (i, m) in msgs.iter().enumerate() {
                let op = if i % 2 == 0 { TEXT } else { BINARY };
                wire.extend(frame(FIN | RSV1 | op, &server.compress(m.as_bytes())));
            }
            for chunk in [1, 3, 7, 100, 1 << 20] {
                let mut ws = client(wire.clone(), chunk, Some(agreed(no_context)), 1 << 20);
                let got = read_all(&mut ws).unwrap();
                assert_eq!(got.len(), msgs.len());
                for (i, (g, m)) in got.iter().zip(&msgs).enumerate() {
                    match g {
                        WsMessage::Text(t) if i % 2 == 0 => assert_eq!(t.as_str(), m),
                        WsMessage::Binary(b) if i % 2 == 1 => assert_eq!(&b[..], m.as_bytes()),
                        other => panic!("message {i}: {other:?}"),
                    }
                }
            }
        }
    }
}

#[test]
fn context_takeover_is_kept_unless_the_server_said_otherwise() {
    // The server keeps its window: the second message refers to the first,
    // so an inflater reset after each message (what `server_no_context_takeover`
    // would do) cannot read it.
    let mut server = Server::new(15, false);
    let m = json(7);
    let mut wire = frame(FIN | RSV1 | TEXT, &server.compress(m.as_bytes()));
    let second = server.compress(m.as_bytes());
    assert!(second.len() < 10, "the repeat is a back reference");
    wire.extend(frame(FIN | RSV1 | TEXT, &second));
    let mut ws = client(wire.clone(), 1 << 20, Some(agreed(false)), 1 << 20);
    assert_eq!(read_all(&mut ws).unwrap().len(), 2);
    let mut ws = client(wire, 1 << 20, Some(agreed(true)), 1 << 20);
    assert!(matches!(
        read_all(&mut ws).map_err(inflate_error),
        Err(InflateError::Corrupt(_))
    ));
}

#[test]
fn fragmented_messages_with_control_frames_between() {
    let mut server = Server::new(15, false);
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 31 % 253) as u8).collect();
    let c = server.compress(&big);
    let (a, rest) = c.split_at(c.len() / 3);
    let (b, d) = rest.split_at(rest.len() / 2);
    let mut wire = frame(RSV1 | BINARY, a);
    wire.extend(frame(FIN | PING, b"p1"));
    wire.extend(frame(0, b));
    wire.extend(frame(0, &[]));
    wire.extend(frame(FIN | PING, b"p2"));
    wire.extend(frame(FIN, d));
    // then a plain fragmented message, and a compressed one in one frame
    wire.extend(frame(TEXT, b"plain "));
    wire.extend(frame(FIN, b"text"));
    wire.extend(frame(FIN | RSV1 | TEXT, &server.compress(b"after")));
    for chunk in [1, 5, 4096, 1 << 20] {
        let mut ws = client(wire.clone(), chunk, Some(agreed(false)), 1 << 20);
        let got = read_all(&mut ws).unwrap();
        assert_eq!(got.len(), 5, "{got:?}");
        assert_eq!(got[0], WsMessage::Ping("p1".into()));
        assert_eq!(got[1], WsMessage::Ping("p2".into()));
        assert_eq!(got[2], WsMessage::Binary(big.clone().into()));
        assert_eq!(got[3], WsMessage::text("plain text"));
        assert_eq!(got[4], WsMessage::text("after"));
        // the pings were answered
        assert!(ws.get_ref().inner.written.len() >= 2 * (2 + 4 + 2));
    }
}

#[test]
fn empty_messages_and_a_final_block() {
    let mut server = Server::new(15, false);
    let mut wire = frame(FIN | RSV1 | TEXT, &[0x00]);
    wire.extend(frame(FIN | RSV1 | BINARY, &[]));
    wire.extend(frame(FIN | RSV1 | TEXT, &server.compress(b"")));
    // A peer that ends the DEFLATE stream (BFINAL) in a message: the next
    // message starts a new stream.
    let mut fin = Compress::new(flate2::Compression::default(), false);
    let mut ended = Vec::with_capacity(1024);
    fin.compress_vec(b"finished", &mut ended, FlushCompress::Finish)
        .unwrap();
    wire.extend(frame(FIN | RSV1 | TEXT, &ended));
    wire.extend(frame(
        FIN | RSV1 | TEXT,
        &Server::new(15, false).compress(b"fresh"),
    ));
    let mut ws = client(wire, 3, Some(agreed(false)), 1 << 20);
    let got = read_all(&mut ws).unwrap();
    assert_eq!(
        got,
        vec![
            WsMessage::text(""),
            WsMessage::Binary(Vec::new().into()),
            WsMessage::text(""),
            WsMessage::text("finished"),
            WsMessage::text("fresh"),
        ]
    );
    // data after a final block is refused
    let mut bad = ended.clone();
    bad.extend_from_slice(&Server::new(15, false).compress(b"more"));
    let mut ws = client(
        frame(FIN | RSV1 | TEXT, &bad),
        1 << 20,
        Some(agreed(false)),
        1 << 20,
    );
    let e = inflate_error(read_all(&mut ws).unwrap_err());
    assert!(e.to_string().contains("after the end"), "{e}");
}

#[test]
fn an_inflate_bomb_stops_at_maxsize() {
    let mut server = Server::new(15, false);
    let zeros = vec![0u8; 64 << 20];
    let bomb = server.compress(&zeros);
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let max = 1 << 20;
    for fragmented in [false, true] {
        let wire = if fragmented {
            let (a, b) = bomb.split_at(bomb.len() / 2);
            let mut w = frame(RSV1 | BINARY, a);
            w.extend(frame(FIN, b));
            w
        } else {
            frame(FIN | RSV1 | BINARY, &bomb)
        };
        let mut ws = client(wire, 1 << 20, Some(agreed(false)), max);
        let e = inflate_error(read_all(&mut ws).unwrap_err());
        assert_eq!(e, InflateError::TooLarge(max));
        assert!(e.to_string().contains("maxsize (1048576 bytes)"), "{e}");
    }
    // exactly maxsize is fine
    let mut server = Server::new(15, false);
    let wire = frame(FIN | RSV1 | BINARY, &server.compress(&zeros[..max]));
    let mut ws = client(wire, 1 << 20, Some(agreed(false)), max);
    assert_eq!(read_all(&mut ws).unwrap()[0].len(), max);
}

#[test]
fn corrupt_data_and_broken_framing_fail() {
    let corrupt = frame(FIN | RSV1 | TEXT, &[0xff, 0xff, 0xff, 0xff, 0x01]);
    let mut ws = client(corrupt, 1 << 20, Some(agreed(false)), 1 << 20);
    assert!(matches!(
        inflate_error(read_all(&mut ws).unwrap_err()),
        InflateError::Corrupt(_)
    ));

    let mut server = Server::new(15, false);
    let c = server.compress(b"hello hello hello");
    // a new message inside an unfinished compressed one
    let mut wire = frame(RSV1 | TEXT, &c);
    wire.extend(frame(FIN | TEXT, b"x"));
    let mut ws = client(wire, 1 << 20, Some(agreed(false)), 1 << 20);
    assert_eq!(
        inflate_error(read_all(&mut ws).unwrap_err()),
        InflateError::Interleaved
    );

    // RSV1 where RFC 7692 does not allow it reaches tungstenite, which fails it
    for wire in [
        [frame(RSV1 | TEXT, &c), frame(FIN | RSV1, b"")].concat(),
        frame(FIN | RSV1 | PING, b""),
        frame(FIN | 0x20 | TEXT, b"rsv2"),
    ] {
        let mut ws = client(wire, 1 << 20, Some(agreed(false)), 1 << 20);
        let e = read_all(&mut ws).unwrap_err();
        assert!(
            matches!(
                e,
                tungstenite::Error::Protocol(
                    tungstenite::error::ProtocolError::NonZeroReservedBits
                )
            ),
            "{e}"
        );
    }
}

#[test]
fn without_agreement_every_byte_passes_unchanged() {
    let mut server = Server::new(15, false);
    let mut wire = frame(FIN | TEXT, b"plain");
    wire.extend(frame(FIN | RSV1 | TEXT, &server.compress(b"compressed")));
    let mut ws = client(wire.clone(), 1 << 20, None, 1 << 20);
    assert_eq!(
        read_all(&mut ws).unwrap_err().to_string(),
        "WebSocket protocol error: Reserved bits are non-zero"
    );
    // a large plain frame is read straight into the caller's buffer
    let big = vec![b'a'; 200_000];
    let mut ws = client(
        frame(FIN | TEXT, &big),
        1 << 20,
        Some(agreed(false)),
        1 << 20,
    );
    assert_eq!(
        read_all(&mut ws).unwrap(),
        vec![WsMessage::text(String::from_utf8(big).unwrap())]
    );
}

#[test]
fn the_handshake_passes_the_head_and_holds_the_frames() {
    let head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n".to_vec();
    let mut server = Server::new(15, false);
    let frames = frame(FIN | RSV1 | TEXT, &server.compress(b"at once"));
    for chunk in [1, 2, 5, 1 << 20] {
        let mut s = offered(Mem::new([head.clone(), frames.clone()].concat(), chunk));
        let mut passed = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(n) => passed.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(passed, head, "chunk {chunk}: exactly the head");
        s.agree(Some(&agreed(false)), 1 << 20);
        let mut ws = WebSocket::from_raw_socket(s, Role::Client, None);
        assert_eq!(read_all(&mut ws).unwrap(), vec![WsMessage::text("at once")]);
    }
    // any other answer passes with its body, for the handshake's error
    let answer = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope".to_vec();
    let mut s = offered(Mem::new(answer.clone(), 1 << 20));
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], &answer[..]);
    // a 101 that does not agree: the held frames pass unchanged, then the
    // extension's state (its 64 KiB buffer) goes
    let mut s = offered(Mem::new(
        [head.clone(), frame(FIN | TEXT, b"plain")].concat(),
        1 << 20,
    ));
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], &head[..]);
    s.agree(None, 1 << 20);
    assert!(s.pmd.is_some());
    let mut ws = WebSocket::from_raw_socket(s, Role::Client, None);
    assert_eq!(read_all(&mut ws).unwrap(), vec![WsMessage::text("plain")]);
    assert!(ws.get_ref().pmd.is_none());
}

#[test]
fn small_read_buffers_get_every_byte() {
    let mut server = Server::new(15, false);
    let text = json(3).repeat(40);
    let mut wire = frame(FIN | RSV1 | TEXT, &server.compress(text.as_bytes()));
    wire.extend(frame(FIN | TEXT, b"plain"));
    let mut s = offered(Mem::new(wire, 1 << 20));
    s.agree(Some(&agreed(false)), 1 << 20);
    let mut got = Vec::new();
    let mut buf = [0u8; 3];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    // the plain frames handed on: their payloads are the messages
    let mut ws = client(got, 1 << 20, None, 1 << 20);
    assert_eq!(
        read_all(&mut ws).unwrap(),
        vec![WsMessage::text(text), WsMessage::text("plain")]
    );
}

#[test]
fn an_eof_in_the_middle_is_an_eof() {
    let mut server = Server::new(15, false);
    let wire = frame(FIN | RSV1 | TEXT, &server.compress(json(1).as_bytes()));
    let mut s = offered(Mem::new(wire[..wire.len() - 3].to_vec(), 1 << 20));
    s.get_mut().eof = true;
    s.agree(Some(&agreed(false)), 1 << 20);
    let mut ws = WebSocket::from_raw_socket(s, Role::Client, None);
    let e = read_all(&mut ws).unwrap_err();
    assert!(
        matches!(
            e,
            tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake
            )
        ),
        "{e}"
    );
}

/// Found by the fuzz target: when a read's buffer held a good message and
/// then the error, the error took the good message with it.
#[test]
fn messages_before_a_broken_one_are_read_first() {
    let mut server = Server::new(15, false);
    let good = frame(FIN | RSV1 | TEXT, &server.compress(b"first"));
    for bad in [
        frame(FIN | RSV1 | TEXT, &[0xff, 0xff, 0xff, 0xff, 0x01]),
        [
            frame(RSV1 | TEXT, &server.compress(b"open")),
            frame(FIN | TEXT, b"x"),
        ]
        .concat(),
    ] {
        let wire = [good.clone(), frame(FIN | TEXT, b"plain"), bad].concat();
        for chunk in [1, 1 << 20] {
            let mut ws = client(wire.clone(), chunk, Some(agreed(false)), 1 << 20);
            assert_eq!(ws.read().unwrap(), WsMessage::text("first"));
            assert_eq!(ws.read().unwrap(), WsMessage::text("plain"));
            inflate_error(ws.read().unwrap_err());
        }
    }
}
