//! Arbitrary bytes, split at fuzzer-chosen points, through the HDLC deframer: it must never
//! panic, never hold more than one maximal frame, and every frame it yields must re-encode to
//! bytes that decode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::hdlc::{Deframer, Frame};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk.max(1));
    let mut deframer = Deframer::new();
    for piece in stream.chunks(chunk) {
        deframer.push(piece);
        while let Some(result) = deframer.next_frame() {
            if let Ok(frame) = result {
                let bytes = frame.encode().expect("a decoded frame always fits");
                assert_eq!(
                    Frame::decode(&bytes).expect("re-encoded frame decodes"),
                    frame
                );
            }
        }
        assert!(deframer.buffered() <= 2049);
    }
    let _ = Frame::decode(stream);
});
