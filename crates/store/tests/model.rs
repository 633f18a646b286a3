//! Property test: any sequence of submissions, against a plain model of the rules — the first
//! content stored under a key wins, a replay returns its original ack, different content is a
//! conflict, the watermark is the highest contiguous seq per run, and the chain always verifies.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use meterlab_store::{
    Ack, IngestKey, MemoryBackend, NewEvent, Payload, Store, StoreConfig, StoreError, Verification,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct Submission {
    run: u8,
    seq: u64,
    content: u8,
}

fn submission() -> impl Strategy<Value = Submission> {
    (0u8..2, 1u64..8, 0u8..3).prop_map(|(run, seq, content)| Submission { run, seq, content })
}

fn to_event(s: &Submission) -> NewEvent {
    NewEvent {
        key: Some(IngestKey::new("src", format!("run-{}", s.run), s.seq)),
        payload: Payload::new("case_result", vec![s.content]),
        timestamp_ms: 0,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn store_matches_model(batches in proptest::collection::vec(
        proptest::collection::vec(submission(), 1..6), 1..10)
    ) {
        let store = Store::start(MemoryBackend::new(), StoreConfig::default()).unwrap();
        // key -> (content first stored, its ack)
        let mut model: BTreeMap<(u8, u64), (u8, Ack)> = BTreeMap::new();
        let mut next_global = 1;
        for batch in &batches {
            let events: Vec<_> = batch.iter().map(to_event).collect();
            let outcomes = store.submit_blocking(events).unwrap();
            prop_assert_eq!(outcomes.len(), batch.len());
            for (s, outcome) in batch.iter().zip(outcomes) {
                match (model.get(&(s.run, s.seq)), outcome) {
                    (None, Ok(receipt)) => {
                        prop_assert!(!receipt.replayed);
                        prop_assert_eq!(receipt.ack.global_seq, next_global);
                        next_global += 1;
                        model.insert((s.run, s.seq), (s.content, receipt.ack));
                    }
                    (Some((content, ack)), Ok(receipt)) => {
                        prop_assert_eq!(*content, s.content);
                        prop_assert!(receipt.replayed);
                        prop_assert_eq!(receipt.ack, *ack);
                    }
                    (Some((content, ack)), Err(StoreError::Conflict { key, existing_seq, .. })) => {
                        prop_assert_ne!(*content, s.content);
                        prop_assert_eq!(existing_seq, ack.global_seq);
                        prop_assert_eq!(key.seq, s.seq);
                    }
                    (expected, got) => {
                        prop_assert!(false, "model {:?}, store {:?}", expected, got);
                    }
                }
            }
        }
        for run in 0..2u8 {
            let contiguous = (1..).take_while(|s| model.contains_key(&(run, *s))).count() as u64;
            prop_assert_eq!(store.watermark("src", &format!("run-{run}")).unwrap(), contiguous);
        }
        let verification = store.verify().unwrap();
        let intact = matches!(
            verification,
            Verification::Intact { events, .. } if events == model.len() as u64
        );
        prop_assert!(intact);
    }
}
