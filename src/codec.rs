//! Application-level compression of message payloads (`compress=`), both
//! directions, with flate2. One codec per connection: its inflater and deflater
//! are reset, not rebuilt, for every message (the hot path of a Huobi feed).
//!
//! | name | bytes | inflate | deflate |
//! |---|---|---|---|
//! | `gzip` | RFC 1952 | header parsed here, raw inflate, CRC32 and length checked | header, raw deflate, trailer |
//! | `gzip_raw` | raw DEFLATE as OKEx sends it; a gzip or zlib header is accepted too | by header | raw |
//! | `deflate` | RFC 1951 | raw | raw |
//! | `zlib` | RFC 1950 | zlib (Adler-32 checked) | zlib |
//! | `auto` | per message: gzip magic, zlib header, raw deflate, else passed through | by header | refused at dial |
//!
//! Inflated output is bounded by `maxsize`: an inflate bomb stops there with an
//! error instead of eating memory. A raw DEFLATE stream must end (final block) or
//! end on a sync-flush marker (`00 00 ff ff`); otherwise it is reported truncated.

use std::fmt;

use flate2::{Compress, Crc, Decompress, FlushCompress, FlushDecompress, Status};

use crate::options::Compression;

/// The gzip magic bytes.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// Output grows by this much at a time while inflating.
const STEP: usize = 16 * 1024;

/// Why a message did not inflate. Only the kind steers what happens next
/// (`auto` passes data that is not compressed through, but never a bomb);
/// the text is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecError {
    /// The data inflates to more than `limit` bytes (`maxsize`): inflating
    /// stopped there.
    TooLarge {
        /// The `maxsize` in force.
        limit: usize,
    },
    /// The data is not of the format, is corrupt, or is cut short; says which.
    Corrupt(String),
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CodecError::TooLarge { limit } => {
                write!(f, "inflates to more than maxsize ({limit} bytes)")
            }
            CodecError::Corrupt(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for CodecError {}

fn corrupt(why: impl Into<String>) -> CodecError {
    CodecError::Corrupt(why.into())
}

/// One connection's codec (see the module docs).
pub struct Codec {
    kind: Compression,
    maxsize: usize,
    raw: Decompress,
    zlib: Decompress,
    deflater: Option<Compress>,
}

/// The body of a message after its container is recognised.
enum Body<'a> {
    Raw(&'a [u8]),
    Zlib(&'a [u8]),
    Gzip(&'a [u8]),
    Plain(&'a [u8]),
}

impl Codec {
    /// A codec for `kind`, inflating to at most `maxsize` bytes.
    pub fn new(kind: Compression, maxsize: usize) -> Codec {
        Codec {
            kind,
            maxsize,
            raw: Decompress::new(false),
            zlib: Decompress::new(true),
            deflater: None,
        }
    }

    /// Inflates one message; the error says why it could not be.
    pub fn inflate(&mut self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        let body = match self.kind {
            Compression::Gzip => {
                if !data.starts_with(&GZIP_MAGIC) {
                    return Err(corrupt("not gzip data (no 1f 8b magic)"));
                }
                Body::Gzip(data)
            }
            Compression::Zlib => Body::Zlib(data),
            Compression::Deflate => Body::Raw(data),
            Compression::GzipRaw => sniff(data).unwrap_or(Body::Raw(data)),
            Compression::Auto => sniff(data).unwrap_or(Body::Raw(data)),
        };
        let auto = self.kind == Compression::Auto;
        let result = match body {
            Body::Gzip(d) => self.gunzip(d),
            Body::Zlib(d) => inflate_with(&mut self.zlib, true, d, self.maxsize),
            Body::Raw(d) => inflate_with(&mut self.raw, false, d, self.maxsize),
            Body::Plain(d) => return Ok(d.to_vec()),
        };
        match result {
            // `auto`: what is not compressed passes through unchanged.
            Err(CodecError::Corrupt(e)) if auto => {
                if matches!(sniff(data), Some(Body::Gzip(_)) | Some(Body::Zlib(_))) {
                    Err(CodecError::Corrupt(e))
                } else {
                    Ok(data.to_vec())
                }
            }
            r => r,
        }
    }

    fn gunzip(&mut self, data: &[u8]) -> Result<Vec<u8>, CodecError> {
        let start = gzip_header_len(data)?;
        let (out, used) = inflate_counted(&mut self.raw, false, &data[start..], self.maxsize)?;
        let trailer = &data[start + used..];
        if trailer.len() < 8 {
            return Err(corrupt("truncated gzip data (no CRC32/length trailer)"));
        }
        let crc = u32::from_le_bytes(trailer[..4].try_into().unwrap());
        let len = u32::from_le_bytes(trailer[4..8].try_into().unwrap());
        let mut c = Crc::new();
        c.update(&out);
        if c.sum() != crc {
            return Err(corrupt("gzip CRC32 mismatch (corrupt data)"));
        }
        if len != out.len() as u32 {
            return Err(corrupt("gzip length mismatch (corrupt data)"));
        }
        Ok(out)
    }

    /// Compresses one outgoing message (`mode=send` or `dual`).
    pub fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let (zlib, gzip) = match self.kind {
            Compression::Zlib => (true, false),
            Compression::Gzip => (false, true),
            _ => (false, false),
        };
        let d = self
            .deflater
            .get_or_insert_with(|| Compress::new(flate2::Compression::default(), zlib));
        d.reset();
        let mut out = Vec::with_capacity(data.len() / 2 + 64);
        if gzip {
            // 10-byte header: magic, deflate, no flags, no mtime, no extra flags, OS unknown.
            out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        }
        loop {
            let before_in = d.total_in() as usize;
            if out.capacity() - out.len() < 64 {
                out.reserve(STEP);
            }
            let st = d
                .compress_vec(&data[before_in..], &mut out, FlushCompress::Finish)
                .expect("deflate of in-memory data cannot fail");
            if st == Status::StreamEnd {
                break;
            }
        }
        if gzip {
            let mut c = Crc::new();
            c.update(data);
            out.extend_from_slice(&c.sum().to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        }
        out
    }
}

/// Recognises a gzip or zlib container; `None` for anything else.
fn sniff(data: &[u8]) -> Option<Body<'_>> {
    if data.starts_with(&GZIP_MAGIC) {
        return Some(Body::Gzip(data));
    }
    if data.len() >= 2 {
        let (cmf, flg) = (data[0], data[1]);
        if cmf & 0x0f == 8 && cmf >> 4 <= 7 && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0 {
            return Some(Body::Zlib(data));
        }
    }
    if data.is_empty() {
        return Some(Body::Plain(data));
    }
    None
}

/// The length of a gzip header (RFC 1952 section 2.3), checked.
fn gzip_header_len(d: &[u8]) -> Result<usize, CodecError> {
    let short = || corrupt("truncated gzip header");
    if d.len() < 10 {
        return Err(short());
    }
    if d[2] != 8 {
        return Err(corrupt(format!(
            "gzip compression method {} is not deflate",
            d[2]
        )));
    }
    let flags = d[3];
    let mut i = 10;
    if flags & 0x04 != 0 {
        let xlen = usize::from(u16::from_le_bytes([
            *d.get(i).ok_or_else(short)?,
            *d.get(i + 1).ok_or_else(short)?,
        ]));
        i += 2 + xlen;
    }
    for bit in [0x08, 0x10] {
        if flags & bit != 0 {
            let end = d
                .get(i..)
                .ok_or_else(short)?
                .iter()
                .position(|&b| b == 0)
                .ok_or_else(short)?;
            i += end + 1;
        }
    }
    if flags & 0x02 != 0 {
        i += 2;
    }
    if i > d.len() {
        return Err(short());
    }
    Ok(i)
}

fn inflate_with(
    z: &mut Decompress,
    zlib: bool,
    data: &[u8],
    max: usize,
) -> Result<Vec<u8>, CodecError> {
    inflate_counted(z, zlib, data, max).map(|(out, _)| out)
}

/// Inflates `data` into a fresh buffer of at most `max` bytes; returns the output
/// and how many input bytes the stream used.
fn inflate_counted(
    z: &mut Decompress,
    zlib: bool,
    data: &[u8],
    max: usize,
) -> Result<(Vec<u8>, usize), CodecError> {
    z.reset(zlib);
    let mut out = Vec::with_capacity((data.len() * 4).clamp(64, STEP).min(max.saturating_add(1)));
    loop {
        let used = z.total_in() as usize;
        if out.len() == out.capacity() {
            if out.len() > max {
                return Err(CodecError::TooLarge { limit: max });
            }
            let room = (out.capacity())
                .clamp(STEP, 4 << 20)
                .min(max + 1 - out.len());
            out.reserve_exact(room.max(1));
        }
        let status = z
            .decompress_vec(&data[used..], &mut out, FlushDecompress::None)
            .map_err(|e| {
                corrupt(format!(
                    "corrupt {} data: {e}",
                    if zlib { "zlib" } else { "deflate" }
                ))
            })?;
        if out.len() > max {
            return Err(CodecError::TooLarge { limit: max });
        }
        let used_now = z.total_in() as usize;
        match status {
            Status::StreamEnd => return Ok((out, used_now)),
            _ if used_now == data.len() && out.len() < out.capacity() => {
                // All input consumed, output not full, and no end of stream.
                if !zlib && data.ends_with(&[0, 0, 0xff, 0xff]) {
                    return Ok((out, used_now));
                }
                return Err(corrupt(format!(
                    "truncated {} data (no end of stream)",
                    if zlib { "zlib" } else { "deflate" }
                )));
            }
            _ if used_now == used && out.len() < out.capacity() => {
                return Err(corrupt("corrupt data: inflater made no progress"));
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn zl(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
    fn raw(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    const JSON: &[u8] = br#"{"ch":"market.btcusdt.ticker","ts":1700000000000,"tick":{"open":37000.1,"close":37123.4}}"#;

    #[test]
    fn each_name_inflates_its_format() {
        let cases: &[(Compression, Vec<u8>)] = &[
            (Compression::Gzip, gz(JSON)),
            (Compression::GzipRaw, raw(JSON)),
            (Compression::GzipRaw, gz(JSON)),
            (Compression::GzipRaw, zl(JSON)),
            (Compression::Deflate, raw(JSON)),
            (Compression::Zlib, zl(JSON)),
            (Compression::Auto, gz(JSON)),
            (Compression::Auto, zl(JSON)),
            (Compression::Auto, raw(JSON)),
            (Compression::Auto, JSON.to_vec()),
        ];
        for (kind, data) in cases {
            let mut c = Codec::new(*kind, 1 << 20);
            for _ in 0..3 {
                assert_eq!(c.inflate(data).unwrap(), JSON, "{kind:?}");
            }
        }
    }

    #[test]
    fn round_trips_every_name_and_size() {
        for kind in [
            Compression::Gzip,
            Compression::GzipRaw,
            Compression::Deflate,
            Compression::Zlib,
        ] {
            let mut c = Codec::new(kind, 64 << 20);
            for len in [0usize, 1, 200, 20_000, 1 << 20] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
                let packed = c.deflate(&data);
                assert_eq!(c.inflate(&packed).unwrap(), data, "{kind:?} {len}");
            }
        }
        // what we send is readable by flate2's stream decoders too
        let mut c = Codec::new(Compression::Gzip, 1 << 20);
        let packed = c.deflate(JSON);
        let mut d = flate2::read::GzDecoder::new(&packed[..]);
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut d, &mut out).unwrap();
        assert_eq!(out, JSON);
    }

    /// The error's text, for the tests that check what it says.
    fn why(r: Result<Vec<u8>, CodecError>) -> String {
        match r.unwrap_err() {
            CodecError::Corrupt(why) => why,
            e => panic!("expected a corrupt-data error, got {e:?}"),
        }
    }

    #[test]
    fn corrupt_and_truncated_input_is_an_error() {
        let g = gz(JSON);
        let mut c = Codec::new(Compression::Gzip, 1 << 20);
        assert!(why(c.inflate(&g[..g.len() - 4])).contains("truncated"));
        assert!(c.inflate(&g[..g.len() / 2]).is_err());
        assert!(why(c.inflate(&g[..5])).contains("header"));
        let mut bad = g.clone();
        let n = bad.len();
        bad[n - 8] ^= 0xff; // CRC
        assert!(why(c.inflate(&bad)).contains("CRC32"));
        assert!(why(c.inflate(JSON)).contains("not gzip"));
        // the codec still works after errors
        assert_eq!(c.inflate(&g).unwrap(), JSON);

        let r = raw(JSON);
        let mut c = Codec::new(Compression::Deflate, 1 << 20);
        assert!(why(c.inflate(&r[..r.len() - 3])).contains("truncated"));
        assert!(c.inflate(&[0xff, 0xff, 0xff, 0xff]).is_err());
        let z = zl(JSON);
        let mut c = Codec::new(Compression::Zlib, 1 << 20);
        assert!(c.inflate(&z[..z.len() - 2]).is_err());
        assert!(c.inflate(b"hello").is_err());
    }

    #[test]
    fn sync_flushed_raw_deflate_is_accepted() {
        let mut comp = Compress::new(flate2::Compression::default(), false);
        let mut out = Vec::with_capacity(1024);
        comp.compress_vec(JSON, &mut out, FlushCompress::Sync)
            .unwrap();
        assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
        let mut c = Codec::new(Compression::GzipRaw, 1 << 20);
        assert_eq!(c.inflate(&out).unwrap(), JSON);
    }

    #[test]
    fn inflate_bomb_stops_at_maxsize() {
        let zeros = vec![0u8; 32 << 20];
        let bombs = [gz(&zeros), zl(&zeros), raw(&zeros)];
        assert!(bombs.iter().all(|b| b.len() < 200_000));
        let cases = [
            (Compression::Gzip, &bombs[0]),
            (Compression::Zlib, &bombs[1]),
            (Compression::Deflate, &bombs[2]),
            (Compression::GzipRaw, &bombs[0]),
            (Compression::GzipRaw, &bombs[2]),
            // `auto` passes what does not inflate through, but never a bomb,
            // not even one without a header to recognise it by
            (Compression::Auto, &bombs[0]),
            (Compression::Auto, &bombs[1]),
            (Compression::Auto, &bombs[2]),
        ];
        for (kind, bomb) in cases {
            let mut c = Codec::new(kind, 1 << 20);
            let e = c.inflate(bomb).unwrap_err();
            assert_eq!(e, CodecError::TooLarge { limit: 1 << 20 }, "{kind:?}");
            assert_eq!(
                e.to_string(),
                "inflates to more than maxsize (1048576 bytes)"
            );
        }
        // exactly maxsize is fine
        let mut c = Codec::new(Compression::Gzip, 1000);
        assert_eq!(c.inflate(&gz(&[7u8; 1000])).unwrap().len(), 1000);
        assert_eq!(
            c.inflate(&gz(&[7u8; 1001])),
            Err(CodecError::TooLarge { limit: 1000 })
        );
    }

    #[test]
    fn gzip_optional_header_fields() {
        let mut e = flate2::GzBuilder::new()
            .filename("a.json")
            .comment("c")
            .extra(vec![1, 2, 3])
            .write(Vec::new(), flate2::Compression::default());
        e.write_all(JSON).unwrap();
        let g = e.finish().unwrap();
        assert_eq!(
            Codec::new(Compression::Gzip, 1 << 20).inflate(&g).unwrap(),
            JSON
        );
    }
}
