//! Keeping per-phase and per-entry issue counters in step with Testing Issues.

use std::sync::Arc;

use super::Projection;
use crate::event::IssueLink;
use crate::model::{IssueStatus, Severity};

impl Projection {
    pub(super) fn link_issue(&mut self, issue: u64, link: &IssueLink) {
        let Some(state) = self.issues.get_mut(&issue) else {
            return;
        };
        state.links.insert(link.clone());
        let (status, severity) = (state.status, state.severity);
        let new_phase = state.phases.insert(link.phase.clone());
        let new_entry = link
            .phase
            .entry()
            .filter(|e| state.entries.insert((*e).clone()))
            .cloned();
        if new_phase && let Some(p) = self.phases.get_mut(&link.phase) {
            Arc::make_mut(p).issues.add(status, severity);
        }
        if let Some(entry) = new_entry
            && let Some(e) = self.entries.get_mut(&entry)
        {
            Arc::make_mut(e).issues.add(status, severity);
        }
    }

    /// Moves one issue between counter cells in every phase and entry it is linked to.
    pub(super) fn recount_issue(
        &mut self,
        issue: u64,
        from: (IssueStatus, Severity),
        to: (IssueStatus, Severity),
    ) {
        if from == to {
            return;
        }
        let Some(state) = self.issues.get(&issue) else {
            return;
        };
        for phase in &state.phases {
            if let Some(p) = self.phases.get_mut(phase) {
                let p = Arc::make_mut(p);
                p.issues.remove(from.0, from.1);
                p.issues.add(to.0, to.1);
            }
        }
        for entry in &state.entries {
            if let Some(e) = self.entries.get_mut(entry) {
                let e = Arc::make_mut(e);
                e.issues.remove(from.0, from.1);
                e.issues.add(to.0, to.1);
            }
        }
    }
}
