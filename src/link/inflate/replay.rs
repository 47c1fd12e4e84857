//! For the fuzz target (`fuzz/fuzz_targets/permessage_deflate.rs`): server
//! bytes fed through the inflater and tungstenite, in memory.

use std::io::{self, Read, Write};

use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Message, WebSocket};

use super::Inflating;
use crate::link::pmd::Agreed;

/// A socket in memory: reads give at most `chunk` bytes, then EOF.
struct Wire<'a> {
    input: &'a [u8],
    chunk: usize,
}

impl Read for Wire<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.input.len().min(buf.len()).min(self.chunk);
        buf[..n].copy_from_slice(&self.input[..n]);
        self.input = &self.input[n..];
        Ok(n)
    }
}

impl Write for Wire<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads `wire` (server frames, permessage-deflate agreed) as a client does,
/// in reads of at most `chunk` bytes: the data messages (text or not, bytes)
/// until the wire ends, and whether it ended in an error.
pub fn replay_permessage_deflate(
    wire: &[u8],
    chunk: usize,
    server_no_context_takeover: bool,
    maxsize: usize,
) -> (Vec<(bool, Vec<u8>)>, bool) {
    let mut s = Inflating::new(
        Wire {
            input: wire,
            chunk: chunk.max(1),
        },
        true,
    );
    let agreed = Agreed {
        server_no_context_takeover,
        ..Agreed::default()
    };
    s.agree(Some(&agreed), maxsize);
    let config = WebSocketConfig::default()
        .max_message_size(Some(maxsize))
        .max_frame_size(Some(maxsize));
    let mut ws = WebSocket::from_raw_socket(s, Role::Client, Some(config));
    let mut out = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => out.push((true, t.as_bytes().to_vec())),
            Ok(Message::Binary(b)) => out.push((false, b.to_vec())),
            Ok(_) => {}
            Err(tungstenite::Error::Protocol(
                tungstenite::error::ProtocolError::ResetWithoutClosingHandshake,
            )) => return (out, false),
            Err(_) => return (out, true),
        }
    }
}
