//! The state the rules read, projected from the event log one event at a time.
//!
//! Counters the rules read (coverage per phase, outstanding issues per phase and per entry by
//! severity and status) are updated incrementally: a result touches one case of one phase (plus
//! the de-scopes that cite it), an issue change touches the phases and entries it is linked to.
//! Phases and issues sit behind `Arc`, so cloning a projection for a what-if copies pointers and
//! only the records a hypothetical event touches are copied (clone-on-write).

mod apply;
mod descope;
mod issue_table;
mod issues;
mod recount;
mod state;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use state::{
    Attempt, CaseRecord, ChangeRecord, Coverage, CycleState, DescopeFacts, DescopeFailure,
    DescopeRecord, DmcState, DnbState, EntryState, Issue, IssueChange, IssueCounts, PhaseState,
    ResultTally, TimetableVersion,
};

use crate::event::{CaseRef, DescopeRequest};
use crate::model::{
    CaseStatus, CycleId, DmcId, DnbKey, DocType, EntryKey, IssueId, PhaseId, RegressionScope,
    SmsoId, Srv,
};
use state::Citations;

/// Governance state: a pure function of the events applied, in order.
#[derive(Debug, Clone, Default)]
pub struct Projection {
    seq: u64,
    smsos: BTreeMap<SmsoId, String>,
    dmcs: BTreeMap<DmcId, DmcState>,
    entries: BTreeMap<EntryKey, Arc<EntryState>>,
    cycles: BTreeMap<CycleId, CycleState>,
    docs: BTreeMap<DnbKey, Arc<DnbState>>,
    phases: HashMap<PhaseId, Arc<PhaseState>>,
    issues: issue_table::IssueTable,
    /// cited case -> de-scoped cases that rely on it.
    citations: Citations,
}

impl Projection {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a projection from events in stored order.
    pub fn from_events<'a>(
        events: impl IntoIterator<Item = &'a crate::event::Event>,
    ) -> Result<Self, (usize, crate::error::DomainError)> {
        let mut p = Projection::new();
        for (i, e) in events.into_iter().enumerate() {
            p.apply(e).map_err(|err| (i, err))?;
        }
        Ok(p)
    }

    /// Number of events applied; also the sequence number the next event will get.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn smso(&self, smso: &SmsoId) -> Option<&str> {
        self.smsos.get(smso).map(String::as_str)
    }
    pub fn dmc(&self, dmc: &DmcId) -> Option<&DmcState> {
        self.dmcs.get(dmc)
    }
    pub fn entry(&self, entry: &EntryKey) -> Option<&EntryState> {
        self.entries.get(entry).map(Arc::as_ref)
    }
    pub fn entries(&self) -> impl Iterator<Item = (&EntryKey, &EntryState)> {
        self.entries.iter().map(|(k, v)| (k, v.as_ref()))
    }
    pub fn cycle(&self, cycle: &CycleId) -> Option<&CycleState> {
        self.cycles.get(cycle)
    }
    pub fn doc(&self, doc: &DnbKey) -> Option<&DnbState> {
        self.docs.get(doc).map(Arc::as_ref)
    }
    pub fn phase(&self, phase: &PhaseId) -> Option<&PhaseState> {
        self.phases.get(phase).map(Arc::as_ref)
    }
    /// All phases, sorted.
    pub fn phase_ids(&self) -> Vec<&PhaseId> {
        let mut ids: Vec<_> = self.phases.keys().collect();
        ids.sort();
        ids
    }
    /// Every registered regression run, in no particular order.
    pub fn regression_ids(&self) -> impl Iterator<Item = &PhaseId> {
        self.phases.keys().filter(|p| p.is_regression())
    }
    pub fn issue(&self, issue: IssueId) -> Option<&Issue> {
        self.issues.get(&issue).map(Arc::as_ref)
    }
    pub fn issues(&self) -> impl Iterator<Item = &Issue> {
        self.issues.values()
    }

    /// The Depth & Breadth document a phase draws its case list from, if its scope is known.
    pub fn doc_key_for(&self, phase: &PhaseId) -> Option<DnbKey> {
        match phase {
            PhaseId::Test(t) => Some(DnbKey {
                release: t.entry.release,
                smso: t.entry.smso.clone(),
                doc_type: DocType::from(t.kind.test),
            }),
            PhaseId::Regression(r) => {
                let (release, smso) = match &r.scope {
                    RegressionScope::Entry(e) => (e.release, e.smso.clone()),
                    RegressionScope::Cycle(c) => {
                        let cycle = self.cycles.get(c)?;
                        (cycle.release, cycle.smso.clone())
                    }
                };
                Some(DnbKey {
                    release,
                    smso,
                    doc_type: DocType::Regression,
                })
            }
        }
    }

    /// The SRV of a case as its phase's Depth & Breadth document lists it.
    pub fn case_srv(&self, case: &CaseRef) -> Option<&Srv> {
        let phase = self.phases.get(&case.phase)?;
        self.docs
            .get(&phase.doc)?
            .cases
            .get(&case.case)
            .map(|spec| &spec.srv)
    }

    /// Checks a de-scope request against rule 7 without applying it.
    pub fn descope_facts(&self, request: &DescopeRequest) -> DescopeFacts {
        let mut failures = Vec::new();
        let target = CaseRef {
            phase: request.phase.clone(),
            case: request.case.clone(),
        };
        let target_srv = match self.phases.get(&request.phase) {
            None => {
                failures.push(DescopeFailure::UnknownPhase);
                None
            }
            Some(p) => match p.records.required.get(&request.case) {
                None => {
                    failures.push(DescopeFailure::NotRequired);
                    None
                }
                Some(srv) => Some(srv.clone()),
            },
        };
        if request.cited == target {
            failures.push(DescopeFailure::CitesItself);
        }
        let cited_status = self
            .phases
            .get(&request.cited.phase)
            .and_then(|p| p.records.cases.get(&request.cited.case))
            .and_then(CaseRecord::last_status);
        match cited_status {
            None => failures.push(DescopeFailure::CitedMissing),
            Some(CaseStatus::Passed) => {}
            Some(other) => failures.push(DescopeFailure::CitedNotPassed(Some(other))),
        }
        let cited_srv = self.case_srv(&request.cited).cloned();
        match (&target_srv, &cited_srv) {
            (Some(t), Some(c)) if t != c => failures.push(DescopeFailure::SrvMismatch {
                target: t.clone(),
                cited: c.clone(),
            }),
            (Some(_), Some(_)) => {}
            _ => failures.push(DescopeFailure::SrvUnknown),
        }
        if request.rationale.trim().is_empty() {
            failures.push(DescopeFailure::NoRationale);
        }
        DescopeFacts {
            target_srv,
            cited_srv,
            cited_status,
            failures,
        }
    }
}
