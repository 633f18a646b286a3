//! Rule 9: the combined completion report. Several phases (MT and SIT, several modes) may be
//! reported in one document; it lists every phase with every criterion, the issues by severity
//! and status, the de-scopes with their rationale, the profile version, and whether independent
//! audit is required (IOC only).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use serde::{Deserialize, Serialize};

use crate::date::Timestamp;
use crate::event::ProfileRef;
use crate::model::{
    CaseStatus, EntryKey, IssueId, IssueStatus, PhaseId, RegressionRun, RegressionScope, Release,
    Severity,
};
use crate::profile::Profile;
use crate::projection::{PhaseState, Projection, ResultTally};
use crate::rules::{clauses, evaluate_entry, evaluate_phase_exit};
use crate::verdict::{Outcome, Verdict};

/// Issue counts of one severity, by status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityRow {
    pub severity: u8,
    pub open: u32,
    pub fixed: u32,
    pub closed: u32,
    pub known_defect: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueSummary {
    pub id: IssueId,
    pub severity: u8,
    pub status: IssueStatus,
    pub title: String,
    #[serde(default)]
    pub description: String,
    pub workaround: Option<String>,
    pub phases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DescopeSummary {
    pub phase: String,
    pub case: String,
    pub cited_phase: String,
    pub cited_case: String,
    pub rationale: String,
    /// False when the cited result has since stopped passing.
    pub valid: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRequirement {
    pub required: bool,
    pub releases: Vec<Release>,
    pub clause: String,
    pub explanation: String,
}

/// Counts by case status: of results (every attempt) or of cases (the counting status).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub passed: u32,
    pub failed: u32,
    pub blocked: u32,
    pub not_run: u32,
    pub descoped: u32,
}

impl From<ResultTally> for StatusCounts {
    fn from(t: ResultTally) -> Self {
        StatusCounts {
            passed: t.get(CaseStatus::Passed),
            failed: t.get(CaseStatus::Failed),
            blocked: t.get(CaseStatus::Blocked),
            not_run: t.get(CaseStatus::NotRun),
            descoped: t.get(CaseStatus::Descoped),
        }
    }
}

/// The required cases of a phase or regression run by where they stand: passed or validly
/// de-scoped (satisfied), otherwise by their counting status, or missing without any result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseCounts {
    pub required: u32,
    pub cases: StatusCounts,
    pub missing: u32,
}

/// Counts the required cases of `phase` (walks its unsatisfied cases only).
pub fn case_counts(phase: &PhaseState) -> CaseCounts {
    let coverage = phase.coverage();
    let mut cases = StatusCounts {
        passed: coverage.passed,
        descoped: coverage.descoped,
        ..StatusCounts::default()
    };
    let mut missing = 0;
    for (_, status) in phase.unsatisfied() {
        match status {
            None => missing += 1,
            Some(CaseStatus::Failed) => cases.failed += 1,
            Some(CaseStatus::Blocked) => cases.blocked += 1,
            Some(CaseStatus::NotRun) => cases.not_run += 1,
            Some(CaseStatus::Descoped) => cases.descoped += 1,
            Some(CaseStatus::Passed) => cases.passed += 1,
        }
    }
    CaseCounts {
        required: coverage.required,
        cases,
        missing,
    }
}

/// One regression run in a report (rule 6): when it ran, what it recorded, whether it exited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegressionSummary {
    pub run: RegressionRun,
    /// Its exit verdict at the report's position in the log.
    pub outcome: Outcome,
    /// As reported by the client that started it; `None` if not started, or started by an
    /// event written before start times were recorded.
    pub started_at: Option<Timestamp>,
    /// As reported by the client that finished it (its exit decision).
    pub finished_at: Option<Timestamp>,
    /// Whether its exit decision is recorded.
    pub exited: bool,
    /// Every result recorded for the run (all attempts, all devices), by status.
    pub results: StatusCounts,
    /// The regression list's cases by their counting status.
    pub cases: CaseCounts,
}

fn regression_summary(
    proj: &Projection,
    profile: &Profile,
    phase: &PhaseId,
) -> Option<RegressionSummary> {
    let PhaseId::Regression(run) = phase else {
        return None;
    };
    let state = proj.phase(phase)?;
    Some(RegressionSummary {
        run: run.clone(),
        outcome: evaluate_phase_exit(proj, profile, phase).outcome,
        started_at: state.started_at(),
        finished_at: state.exited_at(),
        exited: state.exited().is_some(),
        results: state.result_tally().into(),
        cases: case_counts(state),
    })
}

/// Where the cases of one reported phase (or regression run) stand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhaseCases {
    pub phase: PhaseId,
    /// The required cases by their counting (last) status.
    pub cases: CaseCounts,
    /// Every result recorded for it (all attempts, all devices), by status.
    pub results: StatusCounts,
}

/// Structured data of a combined completion report; renderers (CLI, gRPC, Markdown) read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompletionReport {
    pub title: String,
    pub outcome: Outcome,
    pub profile: ProfileRef,
    pub illustrative_profile: bool,
    pub profile_description: String,
    pub at_seq: u64,
    pub clause: String,
    pub assumptions: Vec<String>,
    pub releases: Vec<Release>,
    /// The exit verdict of every phase in the report, every criterion included.
    pub phases: Vec<Verdict>,
    /// The case counts of every phase in the report, in the order of `phases`.
    #[serde(default)]
    pub phase_cases: Vec<PhaseCases>,
    /// The verdict of every planned entry the phases belong to (rules 1 and 5).
    pub entries: Vec<Verdict>,
    pub issues_by_severity: Vec<SeverityRow>,
    pub issues: Vec<IssueSummary>,
    pub descopes: Vec<DescopeSummary>,
    /// Regression runs of the report: those among its phases, and those of cycles that include
    /// one of its planned entries.
    #[serde(default)]
    pub regressions: Vec<RegressionSummary>,
    pub audit: AuditRequirement,
}

/// Builds the combined completion report for `phases` (duplicates ignored, order kept sorted).
/// The outcome is `exit` only if the report covers at least one phase, every phase exits and no
/// entry of the report is over its aggregate limit (rule 5 blocks the entry whichever verdicts
/// the profile lets it gate).
pub fn completion_report(
    proj: &Projection,
    profile: &Profile,
    title: &str,
    phases: &[PhaseId],
) -> CompletionReport {
    let phase_set: BTreeSet<&PhaseId> = phases.iter().collect();
    let verdicts: Vec<Verdict> = phase_set
        .iter()
        .map(|p| evaluate_phase_exit(proj, profile, p))
        .collect();
    let phase_cases: Vec<PhaseCases> = phase_set
        .iter()
        .filter_map(|p| {
            proj.phase(p).map(|state| PhaseCases {
                phase: (*p).clone(),
                cases: case_counts(state),
                results: state.result_tally().into(),
            })
        })
        .collect();
    let entry_keys: BTreeSet<&EntryKey> = phase_set.iter().filter_map(|p| p.entry()).collect();
    let entries: Vec<Verdict> = entry_keys
        .iter()
        .map(|e| evaluate_entry(proj, profile, e))
        .collect();
    let mut releases: BTreeSet<Release> = entry_keys.iter().map(|e| e.release).collect();
    for p in &phase_set {
        if let Some(doc) = proj.doc_key_for(p) {
            releases.insert(doc.release);
        }
    }

    let mut rows: BTreeMap<Severity, SeverityRow> = Severity::ALL
        .into_iter()
        .map(|s| {
            (
                s,
                SeverityRow {
                    severity: s.level(),
                    open: 0,
                    fixed: 0,
                    closed: 0,
                    known_defect: 0,
                },
            )
        })
        .collect();
    let lookup: HashSet<&PhaseId> = phase_set.iter().copied().collect();
    let mut issues = Vec::new();
    for issue in proj.issues() {
        if !issue.phases.iter().any(|p| lookup.contains(p)) {
            continue;
        }
        if let Some(row) = rows.get_mut(&issue.severity) {
            match issue.status {
                IssueStatus::Open => row.open += 1,
                IssueStatus::Fixed => row.fixed += 1,
                IssueStatus::Closed => row.closed += 1,
                IssueStatus::KnownDefect => row.known_defect += 1,
            }
        }
        issues.push(IssueSummary {
            id: issue.id,
            severity: issue.severity.level(),
            status: issue.status,
            title: issue.title.clone(),
            description: issue.description.clone(),
            workaround: issue.workaround.clone(),
            phases: issue.phases.iter().map(ToString::to_string).collect(),
        });
    }

    let mut descopes = Vec::new();
    for p in &phase_set {
        if let Some(state) = proj.phase(p) {
            for d in state.descopes() {
                descopes.push(DescopeSummary {
                    phase: p.to_string(),
                    case: d.request.case.to_string(),
                    cited_phase: d.request.cited.phase.to_string(),
                    cited_case: d.request.cited.case.to_string(),
                    rationale: d.request.rationale.clone(),
                    valid: d.valid,
                });
            }
        }
    }

    let mut runs: BTreeSet<&PhaseId> = phase_set
        .iter()
        .copied()
        .filter(|p| p.is_regression())
        .collect();
    for id in proj.regression_ids() {
        if let PhaseId::Regression(RegressionRun {
            scope: RegressionScope::Cycle(cycle),
            ..
        }) = id
            && proj
                .cycle(cycle)
                .is_some_and(|c| c.entries.iter().any(|e| entry_keys.contains(e)))
        {
            runs.insert(id);
        }
    }
    let regressions = runs
        .into_iter()
        .filter_map(|p| regression_summary(proj, profile, p))
        .collect();

    let audited: Vec<Release> = releases
        .iter()
        .copied()
        .filter(|r| profile.audit_required(*r))
        .collect();
    let audit = AuditRequirement {
        required: !audited.is_empty(),
        explanation: if audited.is_empty() {
            "No release in this report requires independent audit under the profile.".to_string()
        } else {
            let names: Vec<&str> = audited.iter().map(|r| r.as_str()).collect();
            format!("Independent audit is required for {}.", names.join(", "))
        },
        releases: audited,
        clause: clauses::AUDIT.to_string(),
    };

    let outcome = if verdicts.is_empty() {
        Outcome::NotMet
    } else {
        // An entry verdict also needs all six phases; only its rule 5 block concerns a report
        // that may cover some of them.
        let aggregate_blocked = entries.iter().any(|v| {
            v.criteria
                .iter()
                .any(|c| c.rule == 5 && c.outcome == crate::verdict::CriterionOutcome::Blocked)
        });
        combine(
            verdicts
                .iter()
                .map(|v| v.outcome)
                .chain(aggregate_blocked.then_some(Outcome::Blocked)),
        )
    };
    CompletionReport {
        title: title.to_string(),
        outcome,
        profile: profile.reference(),
        illustrative_profile: profile.illustrative,
        profile_description: profile.description.clone(),
        at_seq: proj.seq(),
        clause: clauses::REPORT.to_string(),
        assumptions: Vec::new(),
        releases: releases.into_iter().collect(),
        phases: verdicts,
        phase_cases,
        entries,
        issues_by_severity: rows.into_values().collect(),
        issues,
        descopes,
        regressions,
        audit,
    }
}

fn combine(outcomes: impl Iterator<Item = Outcome>) -> Outcome {
    let all: Vec<Outcome> = outcomes.collect();
    for o in [Outcome::Pending, Outcome::NotMet, Outcome::Blocked] {
        if all.contains(&o) {
            return o;
        }
    }
    Outcome::Exit
}
