//! Property tests of the IEC 62056-47 wrapper: round trips under any read chunking, errors for
//! bad versions and oversize APDUs, no panic on arbitrary bytes.
#![allow(clippy::unwrap_used)]

use meterlab_dlms::wrapper::{Reassembler, WrapperError, WrapperPdu, encode};
use proptest::prelude::*;

fn pdu() -> impl Strategy<Value = WrapperPdu> {
    (
        any::<u16>(),
        any::<u16>(),
        prop::collection::vec(any::<u8>(), 0..700),
    )
        .prop_map(|(source, destination, apdu)| WrapperPdu {
            source,
            destination,
            apdu,
        })
}

proptest! {
    #[test]
    fn pdu_round_trips(pdu in pdu()) {
        let bytes = pdu.encode().unwrap();
        prop_assert_eq!(WrapperPdu::decode(&bytes).unwrap(), pdu);
    }

    #[test]
    fn reassembly_under_any_chunking(pdus in prop::collection::vec(pdu(), 1..6), cuts in prop::collection::vec(1usize..200, 1..40)) {
        let stream: Vec<u8> = pdus.iter().flat_map(|p| p.encode().unwrap()).collect();
        let mut reassembler = Reassembler::new(u16::MAX);
        let mut out = Vec::new();
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().unwrap()).min(rest.len());
            reassembler.push(&rest[..n]);
            rest = &rest[n..];
            out.extend(reassembler.by_ref().map(|r| r.unwrap()));
        }
        prop_assert_eq!(out, pdus);
        prop_assert_eq!(reassembler.buffered(), 0);
    }

    #[test]
    fn oversize_reported_and_skipped(big in 11usize..300, small in prop::collection::vec(any::<u8>(), 0..10), chunk in 1usize..32) {
        let mut stream = encode(1, 2, &vec![0x55; big]).unwrap();
        stream.extend(encode(3, 4, &small).unwrap());
        let mut reassembler = Reassembler::new(10);
        let mut out = Vec::new();
        for piece in stream.chunks(chunk) {
            reassembler.push(piece);
            out.extend(reassembler.by_ref());
        }
        prop_assert_eq!(out, vec![
            Err(WrapperError::Oversize { offset: 0, length: big as u16, limit: 10 }),
            Ok(WrapperPdu { source: 3, destination: 4, apdu: small }),
        ]);
    }

    #[test]
    fn never_panics(bytes in prop::collection::vec(any::<u8>(), 0..400), chunk in 1usize..40, limit in any::<u16>()) {
        let mut reassembler = Reassembler::new(limit);
        for piece in bytes.chunks(chunk) {
            reassembler.push(piece);
            for _ in reassembler.by_ref() {}
        }
        let _ = WrapperPdu::decode(&bytes);
    }
}

#[test]
fn wrong_version_in_a_stream_is_an_error() {
    let mut reassembler = Reassembler::new(100);
    reassembler.push(&[0x00, 0x02, 0x00, 0x10, 0x00, 0x01, 0x00, 0x01, 0xC0]);
    assert_eq!(
        reassembler.next_pdu(),
        Some(Err(WrapperError::BadVersion {
            offset: 0,
            version: 2
        }))
    );
}

#[test]
fn apdu_too_long_for_the_length_field() {
    assert_eq!(
        encode(1, 1, &vec![0; 70_000]),
        Err(WrapperError::TooLong(70_000))
    );
}
