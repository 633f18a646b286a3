//! Any bytes given to the APDU decoder yield an APDU or an error, and a decoded APDU re-encodes
//! to bytes that decode to the same encoding (compared as bytes, so NaN floats are fine).
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::apdu::Apdu;

fuzz_target!(|data: &[u8]| {
    if let Ok(apdu) = Apdu::decode(data) {
        let once = apdu.to_bytes();
        let again = Apdu::decode(&once).expect("re-encoded APDU must decode");
        assert_eq!(again.to_bytes(), once);
    }
});
