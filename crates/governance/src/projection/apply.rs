//! Applying one event: validate, then update records and counters in place.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::Projection;
use super::state::{
    Attempt, ChangeRecord, CycleState, DmcState, DnbState, EntryState, Issue, IssueChange,
    PhaseState, TimetableVersion,
};
use crate::error::DomainError;
use crate::event::{CaseRef, CaseResult, Event};
use crate::model::{CaseStatus, DmcChange, DnbStatus, IssueStatus, PhaseId, RegressionScope};

fn non_empty(text: &str, what: &'static str) -> Result<(), DomainError> {
    if text.trim().is_empty() {
        Err(DomainError::Empty { what })
    } else {
        Ok(())
    }
}

impl Projection {
    /// Validates and applies one event. On error the projection is unchanged.
    pub fn apply(&mut self, event: &Event) -> Result<(), DomainError> {
        let seq = self.seq;
        match event {
            Event::SmsoRegistered { smso, name } => {
                non_empty(smso.as_str(), "SMSO id")?;
                if self.smsos.contains_key(smso) {
                    return Err(DomainError::DuplicateSmso(smso.to_string()));
                }
                self.smsos.insert(smso.clone(), name.clone());
            }
            Event::DmcRegistered {
                dmc,
                components,
                supersedes,
            } => {
                non_empty(dmc.as_str(), "DMC id")?;
                if self.dmcs.contains_key(dmc) {
                    return Err(DomainError::DuplicateDmc(dmc.clone()));
                }
                if let Some(old) = supersedes
                    && !self.dmcs.contains_key(old)
                {
                    return Err(DomainError::UnknownDmc(old.clone()));
                }
                self.dmcs.insert(
                    dmc.clone(),
                    DmcState {
                        components: components.clone(),
                        supersedes: supersedes.clone(),
                        deselected: None,
                        reintroductions: Vec::new(),
                    },
                );
            }
            Event::DmcDeselected { dmc, reason } => {
                non_empty(reason, "de-selection reason")?;
                let state = self
                    .dmcs
                    .get_mut(dmc)
                    .ok_or_else(|| DomainError::UnknownDmc(dmc.clone()))?;
                if state.deselected.is_some() {
                    return Err(DomainError::AlreadyDeselected(dmc.clone()));
                }
                state.deselected = Some(reason.clone());
            }
            Event::DmcReintroduced {
                dmc,
                components,
                tag_consultation,
            } => {
                let state = self
                    .dmcs
                    .get_mut(dmc)
                    .ok_or_else(|| DomainError::UnknownDmc(dmc.clone()))?;
                if state.deselected.is_none() {
                    return Err(DomainError::NotDeselected(dmc.clone()));
                }
                let (change, what) = state.components.change_to(components);
                if change == DmcChange::Model {
                    return Err(DomainError::ModelChangeNeedsNewDmc {
                        dmc: dmc.clone(),
                        what: what.join(", "),
                    });
                }
                non_empty(tag_consultation, "TAG consultation reference")?;
                state.components = components.clone();
                state.deselected = None;
                state.reintroductions.push(tag_consultation.clone());
            }
            Event::EntryPlanned { entry } => {
                if !self.smsos.contains_key(&entry.smso) {
                    return Err(DomainError::UnknownSmso(entry.smso.to_string()));
                }
                if !self.dmcs.contains_key(&entry.dmc) {
                    return Err(DomainError::UnknownDmc(entry.dmc.clone()));
                }
                if self.entries.contains_key(entry) {
                    return Err(DomainError::DuplicateEntry(entry.clone()));
                }
                self.entries
                    .insert(entry.clone(), Arc::new(EntryState::default()));
            }
            Event::CycleDeclared {
                cycle,
                release,
                smso,
                entries,
            } => {
                non_empty(cycle.as_str(), "cycle id")?;
                if self.cycles.contains_key(cycle) {
                    return Err(DomainError::DuplicateCycle(cycle.to_string()));
                }
                if !self.smsos.contains_key(smso) {
                    return Err(DomainError::UnknownSmso(smso.to_string()));
                }
                for entry in entries {
                    if !self.entries.contains_key(entry) {
                        return Err(DomainError::UnknownEntry(entry.clone()));
                    }
                    if entry.release != *release || entry.smso != *smso {
                        return Err(DomainError::CycleEntryMismatch {
                            cycle: cycle.to_string(),
                            entry: Box::new(entry.clone()),
                            release: release.to_string(),
                            smso: smso.to_string(),
                        });
                    }
                }
                self.cycles.insert(
                    cycle.clone(),
                    CycleState {
                        release: *release,
                        smso: smso.clone(),
                        entries: entries.clone(),
                    },
                );
            }
            Event::PhaseRegistered { phase } => self.register_phase(phase)?,
            Event::DnbDrafted {
                doc,
                revision,
                cases,
            } => {
                if !self.smsos.contains_key(&doc.smso) {
                    return Err(DomainError::UnknownSmso(doc.smso.to_string()));
                }
                let mut list = BTreeMap::new();
                for spec in cases {
                    if list.insert(spec.case.clone(), spec.clone()).is_some() {
                        return Err(DomainError::DuplicateCaseSpec {
                            doc: doc.clone(),
                            case: spec.case.clone(),
                        });
                    }
                }
                let mut history = Vec::new();
                if let Some(existing) = self.docs.get(doc) {
                    if existing.status.is_in_dispute() {
                        // A new revision would silently drop the dispute from the record; a
                        // referred list waits for the Secretary of State's determination.
                        return Err(DomainError::DisputeNotEnded {
                            doc: doc.clone(),
                            status: existing.status.as_str(),
                        });
                    }
                    if *revision <= existing.revision {
                        return Err(DomainError::StaleDnbRevision {
                            doc: doc.clone(),
                            given: *revision,
                            current: existing.revision,
                        });
                    }
                    history = existing.history.clone();
                }
                history.push((seq, DnbStatus::Draft, format!("revision {revision}")));
                self.docs.insert(
                    doc.clone(),
                    Arc::new(DnbState {
                        status: DnbStatus::Draft,
                        revision: *revision,
                        cases: list,
                        history,
                    }),
                );
                // Case lists and SRVs changed: recount every phase (rare, bulk event).
                self.recount_all();
            }
            Event::DnbStatusChanged { doc, status, note } => {
                let state = self
                    .docs
                    .get_mut(doc)
                    .ok_or_else(|| DomainError::UnknownDnb(doc.clone()))?;
                if !state.status.can_become(*status) {
                    return Err(DomainError::bad_transition(doc, state.status, *status));
                }
                let state = Arc::make_mut(state);
                state.status = *status;
                state.history.push((seq, *status, note.clone()));
            }
            Event::DnbDisputeWithdrawn { doc, by, reason } => {
                non_empty(by, "name of who withdrew the dispute")?;
                non_empty(reason, "reason for withdrawing the dispute")?;
                let state = self
                    .docs
                    .get_mut(doc)
                    .ok_or_else(|| DomainError::UnknownDnb(doc.clone()))?;
                if state.status != DnbStatus::Disputed {
                    return Err(DomainError::NoDisputeToWithdraw {
                        doc: doc.clone(),
                        status: state.status.as_str(),
                    });
                }
                let state = Arc::make_mut(state);
                state.status = DnbStatus::Draft;
                state.history.push((
                    seq,
                    DnbStatus::Draft,
                    format!("dispute withdrawn by {by}: {reason}"),
                ));
            }
            Event::PhaseStarted { phase, at } => {
                let state = self.phase_mut(phase)?;
                if state.started.is_some() {
                    return Err(DomainError::AlreadyStarted(Box::new(phase.clone())));
                }
                state.started = Some(seq);
                state.started_at = *at;
            }
            Event::ResultRecorded(result) => self.record_result(result, seq)?,
            Event::IssueRaised {
                issue,
                severity,
                title,
                description,
                links,
            } => {
                non_empty(title, "issue title")?;
                if self.issues.contains_key(issue) {
                    return Err(DomainError::DuplicateIssue(*issue));
                }
                if links.is_empty() {
                    return Err(DomainError::IssueWithoutPhase(*issue));
                }
                for link in links {
                    if !self.phases.contains_key(&link.phase) {
                        return Err(DomainError::UnknownPhase(Box::new(link.phase.clone())));
                    }
                }
                self.issues.insert(Issue {
                    id: *issue,
                    title: title.clone(),
                    description: description.clone(),
                    severity: *severity,
                    status: IssueStatus::Open,
                    workaround: None,
                    links: BTreeSet::new(),
                    phases: BTreeSet::new(),
                    entries: BTreeSet::new(),
                    history: vec![IssueChange {
                        seq,
                        what: format!("raised at {severity}"),
                    }],
                });
                for link in links {
                    self.link_issue(*issue, link);
                }
            }
            Event::IssueDescribed { issue, description } => {
                let i = self
                    .issues
                    .get_mut(issue)
                    .ok_or(DomainError::UnknownIssue(*issue))?;
                i.description = description.clone();
                i.history.push(IssueChange {
                    seq,
                    what: "description changed".to_string(),
                });
            }
            Event::IssueLinked { issue, link } => {
                if !self.issues.contains_key(issue) {
                    return Err(DomainError::UnknownIssue(*issue));
                }
                if !self.phases.contains_key(&link.phase) {
                    return Err(DomainError::UnknownPhase(Box::new(link.phase.clone())));
                }
                self.link_issue(*issue, link);
            }
            Event::IssueSeverityChanged {
                issue,
                severity,
                reason,
            } => {
                let old = self
                    .issues
                    .get(issue)
                    .ok_or(DomainError::UnknownIssue(*issue))?;
                let status = old.status;
                let from = old.severity;
                self.recount_issue(*issue, (status, from), (status, *severity));
                if let Some(i) = self.issues.get_mut(issue) {
                    i.severity = *severity;
                    i.history.push(IssueChange {
                        seq,
                        what: format!("{from} -> {severity}: {reason}"),
                    });
                }
            }
            Event::IssueStatusChanged {
                issue,
                status,
                note,
            } => {
                let old = self
                    .issues
                    .get(issue)
                    .ok_or(DomainError::UnknownIssue(*issue))?;
                if *status == IssueStatus::KnownDefect && note.trim().is_empty() {
                    return Err(DomainError::KnownDefectWithoutWorkaround(*issue));
                }
                let from = old.status;
                let severity = old.severity;
                self.recount_issue(*issue, (from, severity), (*status, severity));
                if let Some(i) = self.issues.get_mut(issue) {
                    i.status = *status;
                    if *status == IssueStatus::KnownDefect {
                        i.workaround = Some(note.clone());
                    }
                    i.history.push(IssueChange {
                        seq,
                        what: format!("{} -> {}: {note}", from.as_str(), status.as_str()),
                    });
                }
            }
            Event::CaseDescoped(request) => self.descope(request, seq)?,
            Event::PhaseExited { phase, profile, at } => {
                let state = self.phase_mut(phase)?;
                if state.started.is_none() {
                    return Err(DomainError::NotStarted(Box::new(phase.clone())));
                }
                if state.exited.is_some() {
                    return Err(DomainError::AlreadyExited(Box::new(phase.clone())));
                }
                state.exited = Some((seq, profile.clone()));
                state.exited_at = *at;
            }
            Event::ChangeRecorded {
                entry,
                class,
                description,
            } => {
                non_empty(description, "change description")?;
                let state = self
                    .entries
                    .get_mut(entry)
                    .ok_or_else(|| DomainError::UnknownEntry(entry.clone()))?;
                Arc::make_mut(state).changes.push(ChangeRecord {
                    seq,
                    class: *class,
                    description: description.clone(),
                });
            }
            Event::TimetablePlanned {
                phase,
                start,
                end,
                reason,
            }
            | Event::TimetableAmended {
                phase,
                start,
                end,
                reason,
            } => {
                let amend = matches!(event, Event::TimetableAmended { .. });
                if amend {
                    non_empty(reason, "re-plan reason")?;
                }
                if end < start {
                    return Err(DomainError::WindowReversed {
                        phase: Box::new(phase.clone()),
                        start: start.to_string(),
                        end: end.to_string(),
                    });
                }
                let state = self.phase_mut(phase)?;
                match (amend, state.timetable.is_empty()) {
                    (false, false) => {
                        return Err(DomainError::AlreadyPlanned(Box::new(phase.clone())));
                    }
                    (true, true) => return Err(DomainError::NotPlanned(Box::new(phase.clone()))),
                    _ => {}
                }
                state.timetable.push(TimetableVersion {
                    seq,
                    start: *start,
                    end: *end,
                    reason: reason.clone(),
                });
            }
        }
        self.seq += 1;
        Ok(())
    }

    pub(super) fn phase_mut(&mut self, phase: &PhaseId) -> Result<&mut PhaseState, DomainError> {
        self.phases
            .get_mut(phase)
            .map(Arc::make_mut)
            .ok_or_else(|| DomainError::UnknownPhase(Box::new(phase.clone())))
    }

    fn register_phase(&mut self, phase: &PhaseId) -> Result<(), DomainError> {
        if self.phases.contains_key(phase) {
            return Err(DomainError::DuplicatePhase(Box::new(phase.clone())));
        }
        match phase {
            PhaseId::Test(t) => {
                if !self.entries.contains_key(&t.entry) {
                    return Err(DomainError::UnknownEntry(t.entry.clone()));
                }
            }
            PhaseId::Regression(r) => match &r.scope {
                RegressionScope::Entry(e) => {
                    if !self.entries.contains_key(e) {
                        return Err(DomainError::UnknownEntry(e.clone()));
                    }
                }
                RegressionScope::Cycle(c) => {
                    if !self.cycles.contains_key(c) {
                        return Err(DomainError::UnknownCycle(c.to_string()));
                    }
                }
            },
        }
        let doc = self
            .doc_key_for(phase)
            .ok_or_else(|| DomainError::UnknownPhase(Box::new(phase.clone())))?;
        let mut state = PhaseState::new(phase.clone(), doc);
        self.fill_required(&mut state);
        if let Some(entry) = phase.entry()
            && let Some(e) = self.entries.get_mut(entry)
        {
            Arc::make_mut(e).phases.insert(phase.clone());
        }
        self.phases.insert(phase.clone(), Arc::new(state));
        Ok(())
    }

    fn record_result(&mut self, r: &CaseResult, seq: u64) -> Result<(), DomainError> {
        if r.attempt == 0 {
            return Err(DomainError::ZeroAttempt {
                phase: Box::new(r.phase.clone()),
                case: r.case.clone(),
            });
        }
        let state = self.phase_mut(&r.phase)?;
        let records = Arc::make_mut(&mut state.records);
        let required = records.required.contains_key(&r.case);
        let descoped = records.descopes.get(&r.case).is_some_and(|d| d.valid);
        let record = match records.cases.get_mut(&r.case) {
            Some(record) => record,
            None => records.cases.entry(r.case.clone()).or_default(),
        };
        let was_passed = record.last_status() == Some(CaseStatus::Passed);
        // Attempts arrive in order almost always; a late lower attempt is kept but never counts.
        let inserted = record.insert(Attempt {
            attempt: r.attempt,
            status: r.status,
            device: r.device.clone(),
            case_hash: r.case_hash.clone(),
            seq,
        });
        if !inserted {
            return Err(DomainError::DuplicateAttempt {
                phase: Box::new(r.phase.clone()),
                case: r.case.clone(),
                device: r.device.clone(),
                attempt: r.attempt,
            });
        }
        let now_passed = record.last_status() == Some(CaseStatus::Passed);
        state.results.add(r.status);
        if was_passed == now_passed {
            return Ok(());
        }
        if required {
            let cov = &mut state.coverage;
            if now_passed {
                cov.passed += 1;
                cov.descoped -= u32::from(descoped);
            } else {
                cov.passed -= 1;
                cov.descoped += u32::from(descoped);
            }
        }
        if !self.citations.is_empty() {
            let cited = CaseRef {
                phase: r.phase.clone(),
                case: r.case.clone(),
            };
            self.revalidate_citers(&cited);
        }
        Ok(())
    }
}
