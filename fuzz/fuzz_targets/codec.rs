//! The codec, for every `compress` name: arbitrary input inflates or fails
//! cleanly, never past maxsize; what it deflates, it inflates back.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsdial::Compression;

const KINDS: [Compression; 5] = [Compression::Gzip, Compression::GzipRaw, Compression::Deflate, Compression::Zlib, Compression::Auto];
const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, body)) = data.split_first() else { return };
    let kind = KINDS[sel as usize % KINDS.len()];
    let mut c = wsdial::__internals::Codec::new(kind, MAX);
    if let Ok(out) = c.inflate(body) {
        assert!(out.len() <= MAX);
    }
    if kind != Compression::Auto {
        let packed = c.deflate(body);
        assert_eq!(c.inflate(&packed).as_deref(), Ok(body));
    }
});
