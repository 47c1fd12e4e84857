//! permessage-deflate's inflater under tungstenite: arbitrary server bytes end
//! in messages and an end, never a panic, never a message over maxsize; and
//! reading them in 1- to 8-byte pieces gives what reading them whole gives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use wsdial::__internals::replay_permessage_deflate as replay;

const MAX: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, wire)) = data.split_first() else { return };
    let no_context = sel & 0x80 != 0;
    let whole = replay(wire, 1 << 16, no_context, MAX);
    for (_, m) in &whole.0 {
        assert!(m.len() <= MAX);
    }
    let pieces = replay(wire, 1 + (sel & 7) as usize, no_context, MAX);
    assert_eq!(whole, pieces);
});
