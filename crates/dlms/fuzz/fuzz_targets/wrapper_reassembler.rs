//! Arbitrary bytes, split at fuzzer-chosen points, through the IEC 62056-47 wrapper reassembler:
//! no panic, and every APDU it yields re-encodes to a PDU that decodes to the same APDU.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_dlms::wrapper::{Reassembler, WrapperPdu};

fuzz_target!(|data: &[u8]| {
    let [chunk, limit_hi, limit_lo, stream @ ..] = data else {
        return;
    };
    let chunk = usize::from((*chunk).max(1));
    let mut reassembler = Reassembler::new(u16::from_be_bytes([*limit_hi, *limit_lo]));
    for piece in stream.chunks(chunk) {
        reassembler.push(piece);
        while let Some(result) = reassembler.next_pdu() {
            if let Ok(pdu) = result {
                let bytes = pdu.encode().expect("a decoded APDU fits the length field");
                assert_eq!(
                    WrapperPdu::decode(&bytes).expect("re-encoded PDU decodes"),
                    pdu
                );
            }
        }
    }
    let _ = WrapperPdu::decode(stream);
});
