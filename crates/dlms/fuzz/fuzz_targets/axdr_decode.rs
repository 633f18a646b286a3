//! Any bytes given to the A-XDR decoder yield a value or an error; decoded values re-encode
//! stably; the borrowed view (`DataRef`) accepts the same inputs with the same errors and
//! reads the same values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::axdr::{Data, DataRef};

fuzz_target!(|data: &[u8]| {
    let owned = Data::from_bytes(data);
    let view = DataRef::from_bytes(data);
    assert_eq!(
        view.as_ref()
            .map(|v| v.to_data().to_bytes())
            .map_err(Clone::clone),
        owned.as_ref().map(Data::to_bytes).map_err(Clone::clone),
        "the view and the owned decoder disagree"
    );
    if let Ok(value) = owned {
        let once = value.to_bytes();
        let again = Data::from_bytes(&once).expect("re-encoded data must decode");
        assert_eq!(again.to_bytes(), once);
        let mut from_view = Vec::new();
        view.expect("the view decodes what the owned decoder does")
            .encode(&mut from_view);
        assert_eq!(from_view, once);
    }
});
