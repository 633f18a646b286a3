//! Any bytes given to the APDU decoder yield an APDU or an error, and a decoded APDU re-encodes
//! to bytes that decode to the same encoding (compared as bytes, so NaN floats are fine). The
//! borrowed view (`ApduRef`) accepts the same inputs with the same errors.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::apdu::{Apdu, ApduRef};

fuzz_target!(|data: &[u8]| {
    let owned = Apdu::decode(data);
    assert_eq!(
        ApduRef::decode(data).map(|v| v.to_apdu().to_bytes()),
        owned.as_ref().map(Apdu::to_bytes).map_err(Clone::clone),
        "the view and the owned decoder disagree"
    );
    if let Ok(apdu) = owned {
        let once = apdu.to_bytes();
        let again = Apdu::decode(&once).expect("re-encoded APDU must decode");
        assert_eq!(again.to_bytes(), once);
    }
});
