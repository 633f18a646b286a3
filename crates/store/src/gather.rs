//! How long the store's writer gathers a group before it commits.

use std::time::Duration;

/// How often the writer looks for late submissions while it gathers a group.
pub(crate) const GATHER_POLL: Duration = Duration::from_micros(100);

/// Group commit that does not split its submitters in two. Submitters that each wait for their
/// acknowledgement before sending again (one result in flight) fall into two alternating
/// groups: those acknowledged by the last commit resubmit while the others' group is already
/// committing, so every commit carries half of them and costs a whole WAL flush. Like
/// PostgreSQL's `commit_delay`/`commit_siblings`, the writer waits a little for the submitters
/// it has just acknowledged — only when there are such siblings (a lone submitter never waits),
/// only while the group is smaller than the number of submissions outstanding at the last
/// commit, and for at most half the last commit's duration (capped by `gather_max`): the wait
/// costs at most a third of a cycle, and a filled group halves the flushes per event.
#[derive(Debug)]
pub(crate) struct GroupGatherer {
    gather_max: Duration,
    /// Submissions outstanding when the last commit ended: the ones it acknowledged plus the
    /// ones queued behind it.
    outstanding: usize,
    last_commit: Duration,
}

impl GroupGatherer {
    pub(crate) fn new(gather_max: Duration) -> Self {
        GroupGatherer {
            gather_max,
            outstanding: 0,
            last_commit: Duration::ZERO,
        }
    }

    /// Whether a group of `gathered` submissions, waited on for `waited`, should wait longer.
    pub(crate) fn keep_waiting(&self, gathered: usize, waited: Duration) -> bool {
        gathered < self.outstanding && waited < self.gather_max.min(self.last_commit / 2)
    }

    pub(crate) fn committed(&mut self, submissions: usize, queued: usize, took: Duration) {
        self.outstanding = if submissions + queued > 1 {
            submissions + queued
        } else {
            0
        };
        self.last_commit = took;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_lone_submitter_never_waits() {
        let mut gatherer = GroupGatherer::new(4 * MS);
        assert!(
            !gatherer.keep_waiting(1, Duration::ZERO),
            "before any commit"
        );
        gatherer.committed(1, 0, 8 * MS);
        assert!(!gatherer.keep_waiting(1, Duration::ZERO));
    }

    #[test]
    fn the_group_waits_for_the_submitters_just_acknowledged_until_all_are_back() {
        let mut gatherer = GroupGatherer::new(4 * MS);
        // 8 acknowledged, 8 queued behind the commit: 16 outstanding.
        gatherer.committed(8, 8, 6 * MS);
        assert!(gatherer.keep_waiting(8, Duration::ZERO));
        assert!(gatherer.keep_waiting(15, 2 * MS));
        assert!(!gatherer.keep_waiting(16, Duration::ZERO), "all are back");
    }

    #[test]
    fn the_wait_is_bounded_by_half_the_last_commit_and_by_gather_max() {
        let mut gatherer = GroupGatherer::new(4 * MS);
        gatherer.committed(8, 8, 6 * MS);
        assert!(gatherer.keep_waiting(8, 2 * MS));
        assert!(!gatherer.keep_waiting(8, 3 * MS), "half of a 6 ms commit");
        gatherer.committed(8, 8, 20 * MS);
        assert!(gatherer.keep_waiting(8, 3 * MS));
        assert!(!gatherer.keep_waiting(8, 4 * MS), "gather_max");
    }

    #[test]
    fn gather_max_zero_turns_the_wait_off() {
        let mut gatherer = GroupGatherer::new(Duration::ZERO);
        gatherer.committed(8, 8, 6 * MS);
        assert!(!gatherer.keep_waiting(1, Duration::ZERO));
    }

    #[test]
    fn when_the_submitters_go_away_the_next_commit_stops_expecting_them() {
        let mut gatherer = GroupGatherer::new(4 * MS);
        gatherer.committed(8, 8, 6 * MS);
        // Only 3 came back in time; nothing queued behind the commit.
        gatherer.committed(3, 0, 6 * MS);
        assert!(!gatherer.keep_waiting(3, Duration::ZERO));
        assert!(gatherer.keep_waiting(2, Duration::ZERO));
    }
}
