//! Arbitrary bytes, split at fuzzer-chosen points, through both IEC 62056-21 decoders (the
//! readout parser the adapter runs on what a meter sends, and the meter's view of a client):
//! they must never panic, never buffer more than one maximal block, and every message they
//! yield must re-encode to bytes that decode to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_iec62056_21::decode::{ClientDecoder, MAX_BLOCK_LEN, MeterDecoder};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk.max(1));
    let mut meter = MeterDecoder::new();
    let mut client = ClientDecoder::new();
    for piece in stream.chunks(chunk) {
        meter.push(piece);
        while let Some(result) = meter.next_message() {
            if let Ok(message) = result {
                let bytes = message.encode().expect("a decoded message re-encodes");
                let mut again = MeterDecoder::new();
                again.push(&bytes);
                assert_eq!(again.next_message(), Some(Ok(message)));
                assert_eq!(again.next_message(), None);
            }
        }
        client.push(piece);
        while let Some(result) = client.next_message() {
            if let Ok(message) = result {
                let bytes = message.encode().expect("a decoded message re-encodes");
                let mut again = ClientDecoder::new();
                again.push(&bytes);
                assert_eq!(again.next_message(), Some(Ok(message)));
                assert_eq!(again.next_message(), None);
            }
        }
        assert!(meter.pending() <= MAX_BLOCK_LEN + chunk);
        assert!(client.pending() <= MAX_BLOCK_LEN + chunk);
    }
});
