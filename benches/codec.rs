//! Decompression throughput: `cargo bench --bench codec`.
//!
//! wsdial's per-connection codec (reused inflater, gzip header parsed by hand)
//! against the baseline a user would write: a new `flate2::read::GzDecoder` per
//! message, read to the end. Output MB/s, for Huobi-style gzip JSON of ~200 B and
//! ~20 KB, and for raw deflate (OKEx style).
use std::io::{Read, Write};
use std::time::{Duration, Instant};
use wsdial::Compression;

fn json(approx: usize) -> Vec<u8> {
    let mut s =
        String::from(r#"{"ch":"market.btcusdt.depth.step0","ts":1700000000000,"tick":{"bids":["#);
    let mut i = 0u64;
    while s.len() < approx - 40 {
        if i > 0 {
            s.push(',');
        }
        s += &format!(
            "[{}.{},{}.{:03}]",
            37000 + i % 500,
            i % 10,
            1 + i % 7,
            (i * 37) % 1000
        );
        i += 1;
    }
    s += r#"],"asks":[]}}"#;
    s.into_bytes()
}

fn gzip(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

fn deflate(d: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(d).unwrap();
    e.finish().unwrap()
}

/// Runs `f` over `input` for about `secs`, returns output MB/s (best of 3).
fn rate(out_len: usize, secs: f64, mut f: impl FnMut() -> usize) -> f64 {
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut n = 0usize;
        let mut bytes = 0usize;
        while t.elapsed() < Duration::from_secs_f64(secs / 3.0) {
            for _ in 0..64 {
                bytes += f();
                n += 1;
            }
        }
        assert_eq!(bytes, n * out_len);
        best = best.max(bytes as f64 / t.elapsed().as_secs_f64() / 1e6);
    }
    best
}

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0);
    println!("## inflate throughput (MB/s of output; best of 3; {secs} s per cell)\n");
    println!("| case | message | wire | baseline: new GzDecoder/DeflateDecoder per message | wsdial codec | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, size) in [
        ("gzip JSON", 200usize),
        ("gzip JSON", 20_000),
        ("raw deflate JSON", 200),
        ("raw deflate JSON", 20_000),
    ] {
        let plain = json(size);
        let gz = name.starts_with("gzip");
        let wire = if gz { gzip(&plain) } else { deflate(&plain) };
        let base = rate(plain.len(), secs, || {
            let mut out = Vec::new();
            if gz {
                flate2::read::GzDecoder::new(&wire[..])
                    .read_to_end(&mut out)
                    .unwrap();
            } else {
                flate2::read::DeflateDecoder::new(&wire[..])
                    .read_to_end(&mut out)
                    .unwrap();
            }
            out.len()
        });
        let mut codec = wsdial::__internals::Codec::new(
            if gz {
                Compression::Gzip
            } else {
                Compression::GzipRaw
            },
            64 << 20,
        );
        let ours = rate(plain.len(), secs, || codec.inflate(&wire).unwrap().len());
        println!(
            "| {name} | {} B | {} B | {base:.0} | {ours:.0} | {:.2} |",
            plain.len(),
            wire.len(),
            ours / base
        );
    }
}
