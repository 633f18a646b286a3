//! A-XDR: every value round-trips, decoders never panic, known encodings, date-time conventions.
#![allow(clippy::unwrap_used)]

mod axdr_strategy;

use axdr_strategy::data;
use meterlab_dlms::axdr::{
    BitString, ClockStatus, CompactArray, Data, DataRef, Date, DateTime, DecodeError, Reader,
    TypeDescription, tag,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn every_value_round_trips(d in data()) {
        let bytes = d.to_bytes();
        let back = Data::from_bytes(&bytes).unwrap();
        prop_assert_eq!(&back, &d);
        prop_assert_eq!(back.to_bytes(), bytes);
    }

    /// The borrowed view decodes every value to the same owned value and encodes it back to
    /// the same bytes; iterating its arrays and structures visits the same elements.
    #[test]
    fn borrowed_view_agrees_with_owned_decoder(d in data()) {
        let bytes = d.to_bytes();
        let view = DataRef::from_bytes(&bytes).unwrap();
        prop_assert_eq!(view.to_data(), d.clone());
        let mut out = Vec::new();
        view.encode(&mut out);
        prop_assert_eq!(&out, &bytes);
        if let (Some(items), Some(owned)) = (view.as_items(), d.as_items()) {
            prop_assert_eq!(items.len(), owned.len());
            let visited: Vec<Data> = items.iter().map(|i| i.to_data()).collect();
            prop_assert_eq!(visited.as_slice(), owned);
        }
    }

    /// Damaged or truncated input: the view fails exactly when, and with the error, the owned
    /// decoder fails (values compared by encoding: a damaged float may be NaN).
    #[test]
    fn borrowed_view_fails_like_owned_decoder(d in data(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = d.to_bytes();
        let i = pos.index(bytes.len());
        prop_assert_eq!(DataRef::from_bytes(&bytes[..i]).map(|v| v.to_data().to_bytes()), Data::from_bytes(&bytes[..i]).map(|d| d.to_bytes()));
        bytes[i] = byte;
        prop_assert_eq!(DataRef::from_bytes(&bytes).map(|v| v.to_data().to_bytes()), Data::from_bytes(&bytes).map(|d| d.to_bytes()));
    }

    #[test]
    fn borrowed_view_fails_like_owned_decoder_on_noise(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        prop_assert_eq!(DataRef::from_bytes(&bytes).map(|v| v.to_data().to_bytes()), Data::from_bytes(&bytes).map(|d| d.to_bytes()));
    }

    #[test]
    fn decoder_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Data::from_bytes(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_mutated_values(d in data(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = d.to_bytes();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        let _ = Data::from_bytes(&bytes);
        let _ = Data::from_bytes(&bytes[..i]);
    }

    #[test]
    fn unix_time_round_trips(secs in 0i64..4_102_444_800, dev in -720i16..=720) {
        let dt = DateTime::from_unix(secs, dev, ClockStatus::default());
        prop_assert_eq!(dt.to_unix(), Some(secs));
        prop_assert_eq!(DateTime::from_octets(&dt.to_bytes()).unwrap(), dt);
    }
}

#[test]
fn length_encoding() {
    let cases: [(usize, &[u8]); 5] = [
        (0, &[0x00]),
        (127, &[0x7F]),
        (128, &[0x81, 0x80]),
        (255, &[0x81, 0xFF]),
        (256, &[0x82, 0x01, 0x00]),
    ];
    for (len, enc) in cases {
        let d = Data::OctetString(vec![0xAA; len]);
        let bytes = d.to_bytes();
        assert_eq!(&bytes[1..1 + enc.len()], enc, "length {len}");
        assert_eq!(Reader::new(enc).length("len").unwrap(), len);
    }
    assert!(Reader::new(&[0x85, 0, 0, 0, 0, 1]).length("len").is_err());
    assert!(Reader::new(&[0x80]).length("len").is_err());
}

#[test]
fn known_encodings() {
    // structure { long-unsigned 5009, octet-string 01 02, boolean true, integer -1 }
    let d = Data::Structure(vec![
        Data::LongUnsigned(5009),
        Data::OctetString(vec![1, 2]),
        Data::Boolean(true),
        Data::Integer(-1),
    ]);
    assert_eq!(
        d.to_bytes(),
        [
            0x02, 0x04, 0x12, 0x13, 0x91, 0x09, 0x02, 0x01, 0x02, 0x03, 0x01, 0x0F, 0xFF
        ]
    );
    // bit-string of 10 bits: 1010000001
    let bits = BitString::from_bits(&[
        true, false, true, false, false, false, false, false, false, true,
    ]);
    assert_eq!(
        Data::BitString(Box::new(bits.clone())).to_bytes(),
        [0x04, 0x0A, 0xA0, 0x40]
    );
    assert!(bits.get(0) && bits.get(9) && !bits.get(1) && !bits.get(10));
    // float32 1.0
    assert_eq!(
        Data::Float32(1.0).to_bytes(),
        [0x17, 0x3F, 0x80, 0x00, 0x00]
    );
    // compact-array of 3 long-unsigned: contents are 6 bytes without tags.
    let ca = CompactArray {
        description: TypeDescription::Simple(tag::LONG_UNSIGNED),
        elements: vec![
            Data::LongUnsigned(1),
            Data::LongUnsigned(2),
            Data::LongUnsigned(3),
        ],
    };
    assert!(ca.is_consistent());
    assert_eq!(
        Data::CompactArray(Box::new(ca)).to_bytes(),
        [0x13, 0x12, 0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x03]
    );
    // compact-array of structure { unsigned, octet-string }
    let bytes = [
        0x13, 0x02, 0x02, 0x11, 0x09, 0x06, 0x05, 0x04, 0x01, 0x02, 0x03, 0x04,
    ];
    let d = Data::from_bytes(&bytes).unwrap();
    let Data::CompactArray(ca) = &d else { panic!() };
    assert_eq!(
        ca.elements,
        vec![Data::Structure(vec![
            Data::Unsigned(5),
            Data::OctetString(vec![1, 2, 3, 4])
        ])]
    );
    assert_eq!(d.to_bytes(), bytes);
}

#[test]
fn bst_date_time_has_deviation_minus_60() {
    // 2024-07-01 12:00:00 BST = 11:00:00 UTC.
    let bytes = [
        0x07, 0xE8, 0x07, 0x01, 0x01, 0x0C, 0x00, 0x00, 0x00, 0xFF, 0xC4, 0x80,
    ];
    let dt = DateTime::from_octets(&bytes).unwrap();
    assert_eq!(dt.deviation, Some(-60));
    assert!(
        dt.clock_status
            .unwrap()
            .has(ClockStatus::DAYLIGHT_SAVING_ACTIVE)
    );
    assert_eq!(dt.date.day_of_week, 1, "a Monday");
    assert_eq!(dt.to_unix(), Some(1_719_831_600));
    let back = DateTime::from_unix(
        1_719_831_600,
        -60,
        ClockStatus(ClockStatus::DAYLIGHT_SAVING_ACTIVE),
    );
    assert_eq!(back.to_bytes(), bytes);
    // Unspecified deviation and status.
    let open = [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0x00, 0xFF,
    ];
    let dt = DateTime::from_octets(&open).unwrap();
    assert_eq!(
        (dt.deviation, dt.clock_status, dt.to_unix()),
        (None, None, None)
    );
    assert_eq!(dt.to_bytes(), open);
    assert_eq!(Date::new(2026, 11, 29).day_of_week, 7, "a Sunday");
}

#[test]
fn errors_name_what_and_where() {
    let err = Data::from_bytes(&[0x02, 0x02, 0x11, 0x01, 0x07]).unwrap_err();
    assert_eq!(
        err,
        DecodeError::Invalid {
            what: "data tag",
            offset: 4,
            value: 7
        }
    );
    let err = Data::from_bytes(&[0x09, 0x05, 1, 2]).unwrap_err();
    assert!(matches!(
        err,
        DecodeError::Truncated {
            what: "octet-string",
            offset: 2,
            needed: 5,
            available: 2
        }
    ));
    let err = Data::from_bytes(&[0x11, 0x01, 0x00]).unwrap_err();
    assert!(matches!(err, DecodeError::Trailing { count: 1, .. }));
    let deep = [0x01, 0x01].repeat(200);
    assert!(matches!(
        Data::from_bytes(&deep),
        Err(DecodeError::TooDeep { .. })
    ));
    assert!(
        Data::from_bytes(&[0x0C, 0x02, 0xC3, 0x28]).is_err(),
        "invalid UTF-8"
    );
    // A huge element count with no bytes behind it is an error, not an allocation.
    assert!(Data::from_bytes(&[0x01, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]).is_err());
}

/// The borrowed view encodes what the owned value encodes, also when the input used forms the
/// encoder never writes: a boolean `03` inside an array (found by the `axdr_decode` fuzz
/// target), a long-form length inside a structure, a boolean inside a compact array.
#[test]
fn the_view_re_encodes_non_canonical_input_like_the_owned_value() {
    for input in [
        &[0x01, 0x01, 0x03, 0x03][..],
        &[0x02, 0x01, 0x09, 0x81, 0x01, 0xAA],
        &[0x13, 0x03, 0x02, 0x03, 0x07],
    ] {
        let owned = Data::from_bytes(input).unwrap().to_bytes();
        let mut from_view = Vec::new();
        DataRef::from_bytes(input).unwrap().encode(&mut from_view);
        assert_eq!(from_view, owned, "{input:02x?}");
        assert_ne!(owned, input, "{input:02x?} is not canonical");
    }
}
