//! The events this store's writer committed last, kept in memory so that a live projection
//! catches up with the store's own writes without reading them back from the log.
//!
//! The writer adds a transaction's events only after its `COMMIT` returned (they are durable and
//! exactly as stored), before it acknowledges them. On a log other stores append to as well
//! (replicas on one PostgreSQL database) their events are not here: the sequence numbers held
//! have gaps, and a reader takes only the run that follows its cursor without a gap, reading the
//! rest from the log. The oldest events are dropped past a count and a size bound.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use crate::event::StoredEvent;

/// A bounded window of the store's own last committed events, in sequence order.
#[derive(Debug)]
pub(crate) struct RecentEvents {
    max_events: usize,
    max_bytes: usize,
    window: Mutex<Window>,
}

#[derive(Debug, Default)]
struct Window {
    /// Strictly increasing sequence numbers.
    events: VecDeque<Arc<StoredEvent>>,
    /// Body bytes held (the bulk of an event's size).
    bytes: usize,
}

impl RecentEvents {
    /// Keeps at most `max_events` events and `max_bytes` bytes of bodies (0 events: keeps none).
    pub(crate) fn new(max_events: usize, max_bytes: usize) -> Self {
        RecentEvents {
            max_events,
            max_bytes,
            window: Mutex::new(Window::default()),
        }
    }

    /// Adds the events of one committed transaction (in sequence order).
    pub(crate) fn committed(&self, events: Vec<StoredEvent>) {
        if self.max_events == 0 || events.is_empty() {
            return;
        }
        let mut window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(first) = events.first() {
            // A log that moved back under the store (restored from a backup) is appended to
            // again from an earlier seq: what was held from there on is no longer the log.
            while window.events.back().is_some_and(|e| e.seq >= first.seq) {
                if let Some(dropped) = window.events.pop_back() {
                    window.bytes -= dropped.payload.body.len();
                }
            }
        }
        for event in events {
            window.bytes += event.payload.body.len();
            window.events.push_back(Arc::new(event));
        }
        while window.events.len() > self.max_events || window.bytes > self.max_bytes {
            match window.events.pop_front() {
                Some(dropped) => window.bytes -= dropped.payload.body.len(),
                None => break,
            }
        }
    }

    /// The held events from `seq` on that follow each other without a gap, at most `limit`;
    /// empty when `seq` is not held.
    pub(crate) fn run_from(&self, seq: u64, limit: usize) -> Vec<Arc<StoredEvent>> {
        let window = self.window.lock().unwrap_or_else(PoisonError::into_inner);
        let Ok(start) = window.events.binary_search_by_key(&seq, |e| e.seq) else {
            return Vec::new();
        };
        window
            .events
            .range(start..)
            .zip(seq..)
            .take_while(|(event, expected)| event.seq == *expected)
            .take(limit)
            .map(|(event, _)| Arc::clone(event))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Payload;

    fn event(seq: u64, body: usize) -> StoredEvent {
        StoredEvent {
            seq,
            timestamp_ms: 0,
            key: None,
            payload: Payload::new("k", vec![0; body]),
            hash: [seq as u8; 32],
        }
    }

    fn seqs(events: &[Arc<StoredEvent>]) -> Vec<u64> {
        events.iter().map(|e| e.seq).collect()
    }

    #[test]
    fn a_run_stops_at_a_gap_left_by_another_store() {
        let recent = RecentEvents::new(100, 1 << 20);
        recent.committed(vec![event(3, 1), event(4, 1)]);
        recent.committed(vec![event(6, 1)]);
        assert_eq!(seqs(&recent.run_from(3, 10)), [3, 4]);
        assert_eq!(seqs(&recent.run_from(4, 10)), [4]);
        assert!(recent.run_from(5, 10).is_empty());
        assert_eq!(seqs(&recent.run_from(6, 10)), [6]);
        assert!(recent.run_from(2, 10).is_empty());
        assert_eq!(seqs(&recent.run_from(3, 1)), [3]);
    }

    #[test]
    fn the_oldest_events_go_past_either_bound() {
        let recent = RecentEvents::new(3, 1 << 20);
        recent.committed((1..=5).map(|s| event(s, 1)).collect());
        assert!(recent.run_from(2, 10).is_empty());
        assert_eq!(seqs(&recent.run_from(3, 10)), [3, 4, 5]);

        let recent = RecentEvents::new(100, 25);
        recent.committed((1..=5).map(|s| event(s, 10)).collect());
        assert_eq!(seqs(&recent.run_from(4, 10)), [4, 5]);

        let none = RecentEvents::new(0, 1 << 20);
        none.committed(vec![event(1, 1)]);
        assert!(none.run_from(1, 10).is_empty());
    }

    #[test]
    fn a_log_appended_again_from_an_earlier_seq_replaces_what_followed() {
        let recent = RecentEvents::new(100, 1 << 20);
        recent.committed((1..=4).map(|s| event(s, 1)).collect());
        let mut again = event(3, 2);
        again.hash = [99; 32];
        recent.committed(vec![again]);
        let run = recent.run_from(1, 10);
        assert_eq!(seqs(&run), [1, 2, 3]);
        assert_eq!(run[2].hash, [99; 32]);
    }
}
