//! Inputs that once crashed (or exhausted memory in) a fuzz target, replayed as tests.
//! Each file under `fuzz/regressions/<target>/` is checked with that target's property.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use meterlab_dlms::apdu::Apdu;
use meterlab_dlms::axdr::Data;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    entries
        .map(|e| {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            (path, bytes)
        })
        .collect()
}

#[test]
fn apdu_decode_regressions() {
    let cases = inputs("apdu_decode");
    assert!(!cases.is_empty(), "regression corpus present");
    for (path, bytes) in cases {
        if let Ok(apdu) = Apdu::decode(&bytes) {
            let once = apdu.to_bytes();
            assert_eq!(
                Apdu::decode(&once).unwrap().to_bytes(),
                once,
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn axdr_decode_regressions() {
    let cases = inputs("axdr_decode");
    assert!(!cases.is_empty(), "regression corpus present");
    for (path, bytes) in cases {
        if let Ok(value) = Data::from_bytes(&bytes) {
            let once = value.to_bytes();
            assert_eq!(
                Data::from_bytes(&once).unwrap().to_bytes(),
                once,
                "{}",
                path.display()
            );
        }
    }
}

#[test]
fn zero_width_compact_array_types_are_refused() {
    // compact-array of array[0x1CEC] of array[0x0A21] of dont-care: once expanded to 19 million
    // values from 10 bytes.
    assert!(
        Data::from_bytes(&[0x13, 0x01, 0x1C, 0xEC, 0x01, 0x0A, 0x21, 0xFF, 0x01, 0x02]).is_err()
    );
    assert!(
        Data::from_bytes(&[0x13, 0x02, 0x00, 0x01, 0x00]).is_err(),
        "empty structure"
    );
    assert!(
        Data::from_bytes(&[0x13, 0x01, 0x00, 0x00, 0x11, 0x00]).is_err(),
        "array of 0"
    );
}
