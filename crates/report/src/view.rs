//! What the templates see: the completion report arranged for people, computed here so the
//! templates stay simple (loops and conditionals, no arithmetic).

use meterlab_governance::model::{IssueStatus, PhaseId};
use meterlab_governance::report::{CompletionReport, PhaseCases};
use meterlab_governance::verdict::{Criterion, CriterionOutcome, Quantity, Subject, Verdict};
use serde::Serialize;

use crate::chart::{self, CaseBar, Chart, SeverityBar};
use crate::decision::{self, DecisionRow, RecordedDecision};

/// Values that change between two renderings of the same log, kept apart so snapshot tests can
/// redact them.
#[derive(Debug, Clone, Default)]
pub struct RenderOptions {
    /// When the report was generated (RFC 3339), shown in the header when given.
    pub generated_at: Option<String>,
    /// Hash of the last log event the report reflects (hex), shown when given: anchoring it
    /// pins the whole history the report rests on.
    pub log_head: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct CriterionRow {
    pub rule: u8,
    pub id: String,
    pub clause: String,
    pub measured: String,
    pub limit: String,
    pub outcome: &'static str,
    pub explanation: String,
}

impl CriterionRow {
    fn of(c: &Criterion) -> Self {
        CriterionRow {
            rule: c.rule,
            id: c.id.clone(),
            clause: c.clause.clone(),
            measured: c.measured.to_string(),
            limit: c.limit.to_string(),
            outcome: c.outcome.as_str(),
            explanation: c.explanation.clone(),
        }
    }
}

/// Failing criteria first, then those shown for information, then the met ones.
fn ordered(v: &Verdict) -> Vec<CriterionRow> {
    let rank = |c: &Criterion| match c.outcome {
        CriterionOutcome::NotMet | CriterionOutcome::Blocked | CriterionOutcome::Pending => 0,
        CriterionOutcome::Information => 1,
        CriterionOutcome::Met => 2,
    };
    let mut criteria: Vec<&Criterion> = v.criteria.iter().collect();
    criteria.sort_by_key(|c| rank(c));
    criteria.into_iter().map(CriterionRow::of).collect()
}

/// A verdict for the templates.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct VerdictView {
    pub subject: String,
    pub outcome: &'static str,
    pub profile: String,
    pub illustrative: bool,
    pub at_seq: u64,
    pub assumptions: Vec<String>,
    pub failing: usize,
    pub met: usize,
    pub criteria: Vec<CriterionRow>,
    /// Who recorded the decisions the verdict rests on.
    pub decisions: Vec<DecisionRow>,
}

impl VerdictView {
    pub(crate) fn of(v: &Verdict, decisions: &[RecordedDecision]) -> Self {
        VerdictView {
            subject: v.subject.to_string(),
            outcome: v.outcome.as_str(),
            profile: format!("{} {}", v.profile.name, v.profile.version),
            illustrative: v.illustrative_profile,
            at_seq: v.at_seq,
            assumptions: v.assumptions.clone(),
            failing: v.failing().count(),
            met: v
                .criteria
                .iter()
                .filter(|c| c.outcome == CriterionOutcome::Met)
                .count(),
            criteria: ordered(v),
            decisions: decision::for_verdict(&v.subject, decisions)
                .into_iter()
                .map(DecisionRow::of)
                .collect(),
        }
    }
}

/// Issues of one severity against a limit, e.g. `2/5`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct SeverityCell {
    pub severity: u8,
    pub count: String,
    pub limit: String,
    pub over: bool,
}

fn severity_cells(v: &Verdict, prefixes: &[&str]) -> Vec<SeverityCell> {
    (1..=5u8)
        .filter_map(|sev| {
            let c = prefixes
                .iter()
                .find_map(|p| v.criterion(&format!("{p}.sev{sev}")))?;
            Some(SeverityCell {
                severity: sev,
                count: c.measured.to_string(),
                limit: c.limit.to_string(),
                over: exceeds(c),
            })
        })
        .collect()
}

fn exceeds(c: &Criterion) -> bool {
    match (&c.measured, &c.limit) {
        (Quantity::Count(n), Quantity::Limit(l)) => !l.allows(*n),
        _ => false,
    }
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SummaryRow {
    pub phase: String,
    pub anchor: String,
    pub regression: bool,
    pub outcome: &'static str,
    pub coverage: String,
    pub issues: Vec<SeverityCell>,
    pub blocked: u32,
    pub attention: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct IssueRow {
    pub id: u64,
    pub severity: u8,
    pub status: &'static str,
    pub title: String,
    pub description: String,
    pub workaround: String,
    pub phases: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct DescopeRow {
    pub phase: String,
    pub case: String,
    pub cited: String,
    pub rationale: String,
    pub valid: bool,
    pub recorded_by: String,
}

/// What needs attention in one phase; phases that exit with nothing open are left out.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AttentionView {
    pub phase: String,
    pub anchor: String,
    pub outcome: &'static str,
    pub failing: Vec<CriterionRow>,
    pub open_issues: Vec<IssueRow>,
    pub descopes: Vec<DescopeRow>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct EntryRow {
    pub entry: String,
    pub outcome: &'static str,
    pub aggregate: Vec<SeverityCell>,
    pub failing: Vec<CriterionRow>,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct RegressionRow {
    pub run: String,
    pub started: String,
    pub finished: String,
    pub exited: bool,
    pub outcome: &'static str,
    pub results: String,
    pub cases: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct SeverityStatusRow {
    pub severity: u8,
    pub open: u32,
    pub fixed: u32,
    pub known_defect: u32,
    pub closed: u32,
}

/// The whole combined completion report for the templates.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ReportView {
    pub title: String,
    pub outcome: &'static str,
    pub profile_name: String,
    pub profile_version: String,
    pub profile_description: String,
    pub illustrative: bool,
    pub at_seq: u64,
    pub generated_at: Option<String>,
    pub log_head: Option<String>,
    pub clause: String,
    pub releases: Vec<String>,
    pub entries: Vec<EntryRow>,
    pub assumptions: Vec<String>,
    pub summary: Vec<SummaryRow>,
    pub attention: Vec<AttentionView>,
    pub regressions: Vec<RegressionRow>,
    pub severity_status: Vec<SeverityStatusRow>,
    pub decisions: Vec<DecisionRow>,
    pub descopes: Vec<DescopeRow>,
    pub audit_required: bool,
    pub audit_clause: String,
    pub audit_explanation: String,
    pub issues_chart: Chart,
    pub cases_chart: Chart,
}

fn anchor(phase: &str) -> String {
    let mut out = String::from("phase-");
    out.extend(phase.chars().map(|c| {
        if c.is_ascii_alphanumeric() {
            c.to_ascii_lowercase()
        } else {
            '-'
        }
    }));
    out
}

fn phase_of(v: &Verdict) -> Option<&PhaseId> {
    match &v.subject {
        Subject::PhaseExit(p) => Some(p),
        _ => None,
    }
}

fn cases_of<'a>(report: &'a CompletionReport, phase: &PhaseId) -> Option<&'a PhaseCases> {
    report.phase_cases.iter().find(|c| &c.phase == phase)
}

fn outstanding(status: IssueStatus) -> bool {
    status != IssueStatus::Closed
}

impl ReportView {
    pub(crate) fn new(
        report: &CompletionReport,
        decisions: &[RecordedDecision],
        options: &RenderOptions,
    ) -> Self {
        let decisions = decision::relevant(report, decisions);
        let descopes: Vec<DescopeRow> = report
            .descopes
            .iter()
            .map(|d| DescopeRow {
                phase: d.phase.clone(),
                case: d.case.clone(),
                cited: format!("{} case {}", d.cited_phase, d.cited_case),
                rationale: d.rationale.clone(),
                valid: d.valid,
                recorded_by: decision::descoped_by(&decisions, &d.phase, &d.case),
            })
            .collect();

        let mut summary = Vec::new();
        let mut attention = Vec::new();
        let mut case_bars = Vec::new();
        for v in &report.phases {
            let Some(phase) = phase_of(v) else { continue };
            let name = phase.to_string();
            let cases = cases_of(report, phase);
            let open_issues: Vec<IssueRow> = report
                .issues
                .iter()
                .filter(|i| outstanding(i.status) && i.phases.contains(&name))
                .map(|i| IssueRow {
                    id: i.id,
                    severity: i.severity,
                    status: i.status.as_str(),
                    title: i.title.clone(),
                    description: i.description.clone(),
                    workaround: i.workaround.clone().unwrap_or_default(),
                    phases: i.phases.clone(),
                })
                .collect();
            let phase_descopes: Vec<DescopeRow> = descopes
                .iter()
                .filter(|d| d.phase == name)
                .cloned()
                .collect();
            let needs_attention =
                !v.is_exit() || !open_issues.is_empty() || !phase_descopes.is_empty();
            summary.push(SummaryRow {
                phase: name.clone(),
                anchor: anchor(&name),
                regression: phase.is_regression(),
                outcome: v.outcome.as_str(),
                coverage: v
                    .criterion("4.coverage")
                    .map_or_else(|| "—".to_string(), |c| c.measured.to_string()),
                issues: severity_cells(v, &["4.issues", "4.regression_issues"]),
                blocked: cases.map_or(0, |c| c.cases.cases.blocked),
                attention: needs_attention,
            });
            if needs_attention {
                attention.push(AttentionView {
                    phase: name.clone(),
                    anchor: anchor(&name),
                    outcome: v.outcome.as_str(),
                    failing: ordered(v)
                        .into_iter()
                        .filter(|c| matches!(c.outcome, "not_met" | "blocked" | "pending"))
                        .collect(),
                    open_issues,
                    descopes: phase_descopes,
                });
            }
            if let Some(c) = cases {
                let k = &c.cases.cases;
                case_bars.push(CaseBar {
                    phase: name,
                    passed: u64::from(k.passed),
                    failed: u64::from(k.failed),
                    blocked: u64::from(k.blocked),
                    descoped: u64::from(k.descoped),
                    other: u64::from(k.not_run) + u64::from(c.cases.missing),
                });
            }
        }

        let entries: Vec<EntryRow> = report
            .entries
            .iter()
            .map(|v| EntryRow {
                entry: match &v.subject {
                    Subject::Entry(e) => e.to_string(),
                    other => other.to_string(),
                },
                outcome: v.outcome.as_str(),
                aggregate: severity_cells(v, &["5.aggregate"]),
                failing: ordered(v)
                    .into_iter()
                    .filter(|c| matches!(c.outcome, "not_met" | "blocked" | "pending"))
                    .collect(),
            })
            .collect();

        let (series, severity_bars) = severity_series(report);
        ReportView {
            title: report.title.clone(),
            outcome: report.outcome.as_str(),
            profile_name: report.profile.name.clone(),
            profile_version: report.profile.version.clone(),
            profile_description: report.profile_description.clone(),
            illustrative: report.illustrative_profile,
            at_seq: report.at_seq,
            generated_at: options.generated_at.clone(),
            log_head: options.log_head.clone(),
            clause: report.clause.clone(),
            releases: report
                .releases
                .iter()
                .map(|r| r.as_str().to_string())
                .collect(),
            entries,
            assumptions: report.assumptions.clone(),
            summary,
            attention,
            regressions: report
                .regressions
                .iter()
                .map(|g| {
                    let r = &g.results;
                    RegressionRow {
                        run: format!("{} regression {}", g.run.scope, g.run.kind.as_str()),
                        started: g
                            .started_at
                            .map_or_else(|| "—".to_string(), |t| t.to_string()),
                        finished: g
                            .finished_at
                            .map_or_else(|| "—".to_string(), |t| t.to_string()),
                        exited: g.exited,
                        outcome: g.outcome.as_str(),
                        results: format!(
                            "{} / {} / {} / {} / {}",
                            r.passed, r.failed, r.blocked, r.not_run, r.descoped
                        ),
                        cases: format!(
                            "{} / {}",
                            g.cases.cases.passed + g.cases.cases.descoped,
                            g.cases.required
                        ),
                    }
                })
                .collect(),
            severity_status: report
                .issues_by_severity
                .iter()
                .map(|r| SeverityStatusRow {
                    severity: r.severity,
                    open: r.open,
                    fixed: r.fixed,
                    known_defect: r.known_defect,
                    closed: r.closed,
                })
                .collect(),
            decisions: decisions.iter().map(|d| DecisionRow::of(d)).collect(),
            descopes,
            audit_required: report.audit.required,
            audit_clause: report.audit.clause.clone(),
            audit_explanation: report.audit.explanation.clone(),
            issues_chart: chart::issues_by_severity(&severity_bars, &series),
            cases_chart: chart::cases_per_phase(&case_bars),
        }
    }
}

/// Chart 1's data: each entry's aggregate criteria (rule 5: outstanding issues against the
/// aggregate limit); without entries, the report's own outstanding issues, with no limit.
fn severity_series(report: &CompletionReport) -> (Vec<String>, Vec<SeverityBar>) {
    let mut series = Vec::new();
    let mut bars = Vec::new();
    for v in &report.entries {
        let name = match &v.subject {
            Subject::Entry(e) => e.to_string(),
            other => other.to_string(),
        };
        for sev in 1..=5u8 {
            if let Some(c) = v.criterion(&format!("5.aggregate.sev{sev}"))
                && let Quantity::Count(count) = c.measured
            {
                let limit = match c.limit {
                    Quantity::Limit(meterlab_governance::profile::Limit::Max(l)) => {
                        Some(u64::from(l))
                    }
                    _ => None,
                };
                bars.push(SeverityBar {
                    series: name.clone(),
                    severity: sev,
                    count,
                    limit,
                });
            }
        }
        series.push(name);
    }
    if series.is_empty() {
        let name = "issues of the reported phases".to_string();
        for row in &report.issues_by_severity {
            bars.push(SeverityBar {
                series: name.clone(),
                severity: row.severity,
                count: u64::from(row.open) + u64::from(row.fixed) + u64::from(row.known_defect),
                limit: None,
            });
        }
        series.push(name);
    }
    (series, bars)
}
