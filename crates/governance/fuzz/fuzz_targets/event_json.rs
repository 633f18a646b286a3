//! Any bytes given as a stored event either fail to decode or decode to an event that the
//! projection applies or rejects cleanly, and that re-encodes to the same event.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_governance::{Projection, VersionedEvent};

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<VersionedEvent>(data) else {
        return;
    };
    let json = serde_json::to_vec(&event).expect("a decoded event encodes");
    let again: VersionedEvent = serde_json::from_slice(&json).expect("an encoded event decodes");
    assert_eq!(again, event);
    let mut proj = Projection::new();
    let before = proj.seq();
    if proj.apply(&event.into_event()).is_err() {
        assert_eq!(proj.seq(), before);
    }
});
