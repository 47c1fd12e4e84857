//! Binary frames come back byte for byte; text stays text.
mod common;
use common::*;

#[test]
fn binary_frames_byte_for_byte() {
    within(ms(10_000), || {
        let srv = command_server(); // echoes
        let c = wsdial::dial(&srv.url("/")).unwrap();
        let all: Vec<u8> = (0..=255u8).collect();
        let invalid_utf8 = vec![0xc3, 0x28, 0xa0, 0xa1, 0xff, 0xfe];
        let big: Vec<u8> = (0..200_000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        for data in [
            all,
            invalid_utf8,
            Vec::new(),
            b"looks like text".to_vec(),
            big,
        ] {
            assert_eq!(c.write_binary(&data), data.len());
            let m = c.read().into_message().expect("echo");
            assert!(m.is_binary(), "a binary frame stays binary");
            assert_eq!(m.as_text(), None);
            assert_eq!(m.as_bytes(), &data[..]);
        }
        assert_eq!(c.write("héllo ✓"), "héllo ✓".len());
        let m = c.read().into_message().unwrap();
        assert_eq!(m.as_text(), Some("héllo ✓"));
    });
}
