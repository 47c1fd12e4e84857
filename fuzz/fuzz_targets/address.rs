//! The address parser: any input is an address or a typed error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    match wsdial::Address::parse(&s) {
        Ok(a) => {
            let o = a.options();
            assert!(o.qsize >= 1 && o.qbytes >= 1 && o.maxsize >= 1);
            assert!(!a.target().url().is_empty());
            // the options a Dialer would use combine without trouble too
            let _ = wsdial::Dialer::new().timeout(std::time::Duration::from_millis(5)).options_for(&a);
        }
        Err(e) => {
            assert!(!e.to_string().is_empty());
        }
    }
});
