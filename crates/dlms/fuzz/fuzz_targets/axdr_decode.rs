//! Any bytes given to the A-XDR decoder yield a value or an error; decoded values re-encode
//! stably.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::axdr::Data;

fuzz_target!(|data: &[u8]| {
    if let Ok(value) = Data::from_bytes(data) {
        let once = value.to_bytes();
        let again = Data::from_bytes(&once).expect("re-encoded data must decode");
        assert_eq!(again.to_bytes(), once);
    }
});
