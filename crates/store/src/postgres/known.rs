//! What a PostgreSQL writer remembers of the log after its own commits, from which it prepares
//! one-trip batches (see [`super::tx`]).

use std::collections::{BTreeSet, HashMap};

use crate::event::ChainHead;

/// Runs remembered at most; beyond, the memory starts again (runs are asked for again).
pub(super) const KNOWN_RUNS: usize = 10_000;

/// The log as this backend left it after its last commit (see the module documentation).
#[derive(Debug, Default)]
pub(crate) struct Known {
    /// The head after the last commit; `None` when nothing is known.
    pub(super) head: Option<Option<ChainHead>>,
    /// Runs whose stored keys above the watermark are all known.
    pub(super) runs: HashMap<(String, String), KnownRun>,
    /// Batches still to be sent the two-trip way after guesses went wrong: when other stores
    /// keep appending (replicas), a guess mostly fails and costs a wasted trip, so each wrong
    /// guess doubles the pause before the next (up to [`MAX_PAUSE`]) and each right one halves
    /// it.
    pause: u32,
    pub(super) paused: u32,
}

/// Longest pause, in batches, between guesses.
const MAX_PAUSE: u32 = 256;

#[derive(Debug, Clone)]
pub(super) struct KnownRun {
    pub(super) watermark: u64,
    pub(super) stored_above: BTreeSet<u64>,
}

impl Known {
    pub(super) fn forget(&mut self) {
        self.head = None;
        self.runs.clear();
    }

    pub(super) fn guessed_wrong(&mut self) {
        self.pause = (self.pause * 2).clamp(1, MAX_PAUSE);
        self.paused = self.pause;
    }

    pub(super) fn guessed_right(&mut self) {
        self.pause /= 2;
    }
}
