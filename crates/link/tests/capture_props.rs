//! Property tests of the capture export, the evidence format.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use meterlab_link::capture::parse_json_lines;
use meterlab_link::{Capture, CaptureEntry, Direction};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Step {
    Wait(u64),
    Bytes(bool, Vec<u8>),
    Note(String),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..5_000_000).prop_map(Step::Wait),
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(tx, bytes)| Step::Bytes(tx, bytes)),
        ".{0,40}".prop_map(Step::Note),
    ]
}

fn replay(link: &str, steps: &[Step]) -> Capture {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let capture = Capture::new(link);
        for step in steps {
            match step {
                Step::Wait(micros) => tokio::time::advance(Duration::from_micros(*micros)).await,
                Step::Bytes(tx, bytes) => {
                    capture.record(if *tx { Direction::Tx } else { Direction::Rx }, bytes)
                }
                Step::Note(text) => capture.note(text.clone()),
            }
        }
        capture
    })
}

proptest! {
    #[test]
    fn export_parses_back_to_the_same_entries(
        link in ".{0,30}",
        steps in proptest::collection::vec(step(), 0..40),
    ) {
        let capture = replay(&link, &steps);
        let (parsed_link, entries) = parse_json_lines(&capture.to_json_lines()).unwrap();
        prop_assert_eq!(parsed_link, link);
        prop_assert_eq!(&entries, &capture.entries());
        // Offsets never go backwards.
        let offsets: Vec<Duration> = entries.iter().map(|e| match e {
            CaptureEntry::Bytes(r) => r.offset,
            CaptureEntry::Event(e) => e.offset,
        }).collect();
        prop_assert!(offsets.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn the_hash_changes_when_any_byte_changes(
        bytes in proptest::collection::vec(any::<u8>(), 1..64),
        index in any::<prop::sample::Index>(),
        flip in 1u8..=255,
    ) {
        let original = replay("x", &[Step::Bytes(true, bytes.clone())]);
        let mut tampered_bytes = bytes;
        let i = index.index(tampered_bytes.len());
        tampered_bytes[i] ^= flip;
        let tampered = replay("x", &[Step::Bytes(true, tampered_bytes)]);
        prop_assert_ne!(original.sha256(), tampered.sha256());
    }

    #[test]
    fn parsing_arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = parse_json_lines(&text);
    }
}
