//! From-scratch recounting: used when a Depth & Breadth list changes, and to check that the
//! incremental counters agree with the records (`counter_mismatches`).

use std::collections::HashMap;
use std::sync::Arc;

use super::Projection;
use super::state::{Coverage, IssueCounts, PhaseState};
use crate::model::{CaseId, PhaseId, Srv};

impl Projection {
    pub(super) fn required_for(
        &self,
        id: &PhaseId,
        doc: &crate::model::DnbKey,
    ) -> HashMap<CaseId, Srv> {
        self.docs
            .get(doc)
            .map(|d| {
                d.cases
                    .values()
                    .filter(|spec| spec.applies_to(id))
                    .map(|spec| (spec.case.clone(), spec.srv.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub(super) fn fill_required(&self, state: &mut PhaseState) {
        Arc::make_mut(&mut state.records).required = self.required_for(&state.id, &state.doc);
        state.coverage = coverage_of(state);
    }

    /// Recomputes required sets, de-scope validity and coverage of every phase.
    pub(super) fn recount_all(&mut self) {
        let mut ids: Vec<PhaseId> = self.phases.keys().cloned().collect();
        ids.sort();
        for id in &ids {
            let Some(doc) = self.phases.get(id).map(|p| p.doc.clone()) else {
                continue;
            };
            let required = self.required_for(id, &doc);
            if let Some(p) = self.phases.get_mut(id) {
                Arc::make_mut(&mut Arc::make_mut(p).records).required = required;
            }
        }
        // Validity reads other phases, so measure everything before changing anything.
        let mut validity = Vec::new();
        for id in &ids {
            if let Some(p) = self.phases.get(id) {
                for (case, d) in &p.records.descopes {
                    let valid = self.descope_facts(&d.request).failures.is_empty();
                    if valid != d.valid {
                        validity.push((id.clone(), case.clone(), valid));
                    }
                }
            }
        }
        for (id, case, valid) in validity {
            if let Some(p) = self.phases.get_mut(&id)
                && let Some(d) = Arc::make_mut(&mut Arc::make_mut(p).records)
                    .descopes
                    .get_mut(&case)
            {
                d.valid = valid;
            }
        }
        for id in &ids {
            if let Some(p) = self.phases.get_mut(id) {
                let fresh = coverage_of(p);
                if fresh != p.coverage {
                    Arc::make_mut(p).coverage = fresh;
                }
            }
        }
    }

    /// Compares every incremental counter with a recount from the records. Empty means they
    /// agree; otherwise one line per disagreement.
    pub fn counter_mismatches(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut phase_issues: HashMap<&PhaseId, IssueCounts> = HashMap::new();
        let mut entry_issues: HashMap<&crate::model::EntryKey, IssueCounts> = HashMap::new();
        for issue in self.issues.values() {
            for p in &issue.phases {
                phase_issues
                    .entry(p)
                    .or_default()
                    .add(issue.status, issue.severity);
            }
            for e in &issue.entries {
                entry_issues
                    .entry(e)
                    .or_default()
                    .add(issue.status, issue.severity);
            }
        }
        for id in self.phase_ids() {
            let Some(p) = self.phases.get(id) else {
                continue;
            };
            let required = self.required_for(id, &p.doc);
            if required != p.records.required {
                out.push(format!("{id}: required set differs from its document"));
            }
            for (case, d) in &p.records.descopes {
                let valid = self.descope_facts(&d.request).failures.is_empty();
                if valid != d.valid {
                    out.push(format!(
                        "{id} case {case}: de-scope validity {} but recount {valid}",
                        d.valid
                    ));
                }
            }
            let fresh = coverage_of(p);
            if fresh != p.coverage {
                out.push(format!(
                    "{id}: coverage {:?} but recount {fresh:?}",
                    p.coverage
                ));
            }
            let issues = phase_issues.get(id).copied().unwrap_or_default();
            if issues != p.issues {
                out.push(format!(
                    "{id}: issue counts {:?} but recount {issues:?}",
                    p.issues.0
                ));
            }
        }
        for (key, e) in &self.entries {
            let issues = entry_issues.get(key).copied().unwrap_or_default();
            if issues != e.issues {
                out.push(format!(
                    "entry {key}: issue counts {:?} but recount {issues:?}",
                    e.issues.0
                ));
            }
        }
        out
    }
}

fn coverage_of(p: &PhaseState) -> Coverage {
    let mut c = Coverage {
        required: u32::try_from(p.records.required.len()).unwrap_or(u32::MAX),
        ..Coverage::default()
    };
    for case in p.records.required.keys() {
        if p.is_passed(case) {
            c.passed += 1;
        } else if p.records.descopes.get(case).is_some_and(|d| d.valid) {
            c.descoped += 1;
        }
    }
    c
}
