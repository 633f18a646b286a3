//! Capture buffers (the buffer of a Profile Generic object): bounded FIFO of rows, with the
//! row selections of selective access by range and by entry.

use std::collections::VecDeque;

use crate::error::AccessError;
use crate::time::SimTime;

/// A row that was captured at a device-clock instant.
pub trait Captured {
    /// When the row was captured, by the device's clock.
    fn captured_at(&self) -> SimTime;
}

/// A register reading with its status byte (load profile and daily read log rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reading {
    /// Capture instant, by the device's clock.
    pub at: SimTime,
    /// AMR profile status bits (see [`status`]).
    pub status: u8,
    /// The register value in its raw units.
    pub value: u64,
}

impl Captured for Reading {
    fn captured_at(&self) -> SimTime {
        self.at
    }
}

/// AMR profile status bits of a reading (IDIS convention).
pub mod status {
    /// The clock was adjusted during the period.
    pub const CLOCK_ADJUSTED: u8 = 0x20;
    /// The supply was off (disconnected or without power) at some point in the period.
    pub const POWER_DOWN: u8 = 0x80;
}

/// Which rows of a buffer to return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowSelection {
    /// Every row.
    All,
    /// Rows captured in `[from, to]` (inclusive), by the device's clock.
    ByRange {
        /// Earliest capture instant.
        from: SimTime,
        /// Latest capture instant.
        to: SimTime,
    },
    /// Rows `from..=to`, numbered from 1 = oldest; `to = 0` means the newest.
    ByEntry {
        /// First entry, 1-based.
        from: u32,
        /// Last entry, 1-based; 0 for the newest.
        to: u32,
    },
}

/// A bounded FIFO of rows: when full, capturing drops the oldest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureBuffer<T> {
    rows: VecDeque<T>,
    capacity: usize,
}

impl<T: Captured + Clone> CaptureBuffer<T> {
    /// An empty buffer holding at most `capacity` rows (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            rows: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The maximum number of rows (`profile_entries`).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of rows held (`entries_in_use`).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the buffer holds no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Appends a row, dropping the oldest when full.
    pub fn capture(&mut self, row: T) {
        if self.rows.len() == self.capacity {
            self.rows.pop_front();
        }
        self.rows.push_back(row);
    }

    /// Drops every row (the `reset` method).
    pub fn reset(&mut self) {
        self.rows.clear();
    }

    /// The newest row.
    pub fn last(&self) -> Option<&T> {
        self.rows.back()
    }

    /// The selected rows, oldest first.
    pub fn select(&self, selection: RowSelection) -> Result<Vec<T>, AccessError> {
        match selection {
            RowSelection::All => Ok(self.rows.iter().cloned().collect()),
            RowSelection::ByRange { from, to } => {
                if to < from {
                    return Err(AccessError::ScopeOfAccessViolated);
                }
                Ok(self
                    .rows
                    .iter()
                    .filter(|row| (from..=to).contains(&row.captured_at()))
                    .cloned()
                    .collect())
            }
            RowSelection::ByEntry { from, to } => {
                let from = usize::try_from(from).map_err(|_| AccessError::ScopeOfAccessViolated)?;
                let to = usize::try_from(to).map_err(|_| AccessError::ScopeOfAccessViolated)?;
                let last = if to == 0 {
                    self.rows.len()
                } else {
                    to.min(self.rows.len())
                };
                if from == 0 || (to != 0 && to < from) {
                    return Err(AccessError::ScopeOfAccessViolated);
                }
                if from > last {
                    return Ok(Vec::new());
                }
                Ok(self.rows.range(from - 1..last).cloned().collect())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reading(at: i64) -> Reading {
        Reading {
            at: SimTime(at),
            status: 0,
            value: at as u64,
        }
    }

    fn buffer(count: i64, capacity: usize) -> CaptureBuffer<Reading> {
        let mut buffer = CaptureBuffer::new(capacity);
        for at in 1..=count {
            buffer.capture(reading(at * 10));
        }
        buffer
    }

    #[test]
    fn a_full_buffer_drops_the_oldest_row() {
        let buffer = buffer(5, 3);
        let rows = buffer.select(RowSelection::All).unwrap();
        assert_eq!(
            rows.iter().map(|r| r.at.0).collect::<Vec<_>>(),
            [30, 40, 50]
        );
    }

    #[test]
    fn range_selection_is_inclusive() {
        let rows = buffer(10, 10)
            .select(RowSelection::ByRange {
                from: SimTime(30),
                to: SimTime(50),
            })
            .unwrap();
        assert_eq!(
            rows.iter().map(|r| r.at.0).collect::<Vec<_>>(),
            [30, 40, 50]
        );
        let reversed = RowSelection::ByRange {
            from: SimTime(50),
            to: SimTime(30),
        };
        assert_eq!(
            buffer(3, 3).select(reversed),
            Err(AccessError::ScopeOfAccessViolated)
        );
    }

    #[test]
    fn entry_selection_counts_from_the_oldest_and_zero_means_newest() {
        let buffer = buffer(5, 5);
        let pick = |from, to| {
            buffer
                .select(RowSelection::ByEntry { from, to })
                .map(|rows| rows.iter().map(|r| r.at.0).collect::<Vec<_>>())
        };
        assert_eq!(pick(2, 3).unwrap(), [20, 30]);
        assert_eq!(pick(4, 0).unwrap(), [40, 50]);
        assert_eq!(pick(4, 99).unwrap(), [40, 50]);
        assert_eq!(pick(9, 0).unwrap(), Vec::<i64>::new());
        assert_eq!(pick(0, 2), Err(AccessError::ScopeOfAccessViolated));
        assert_eq!(pick(3, 2), Err(AccessError::ScopeOfAccessViolated));
    }

    proptest! {
        #[test]
        fn selections_never_panic_and_stay_within_the_buffer(
            count in 0i64..50, capacity in 1usize..20, from in any::<u32>(), to in any::<u32>(),
        ) {
            let buffer = buffer(count, capacity);
            prop_assert!(buffer.len() <= capacity);
            if let Ok(rows) = buffer.select(RowSelection::ByEntry { from, to }) {
                prop_assert!(rows.len() <= buffer.len());
            }
        }
    }
}
