//! The completion report (rule 9): structured, or rendered as Markdown or HTML by the gateway.

use meterlab_governance::model::{EntryKey, TestPhase};
use meterlab_proto::v1 as pb;

use crate::Client;
use crate::convert::{self, VerdictKind, entry_to_proto, phase_to_proto};
use crate::error::{ClientError, Result};
use crate::governance::{issue_from_proto, read};
use crate::types::{
    CaseCounts, CompletionReport, IssueTally, PhaseReport, RecordedDecision, ReportFormat,
};

impl Client {
    /// The completion report of `phases` and every phase of `entries`.
    pub async fn completion_report(
        &self,
        phases: &[TestPhase],
        entries: &[EntryKey],
        format: ReportFormat,
        profile: Option<&str>,
    ) -> Result<CompletionReport> {
        const RPC: &str = "GetCompletionReport";
        let answer = self
            .governance()
            .get_completion_report(pb::GetCompletionReportRequest {
                phases: phases.iter().map(phase_to_proto).collect(),
                entries: entries.iter().map(entry_to_proto).collect(),
                format: match format {
                    ReportFormat::Structured => pb::ReportFormat::Structured,
                    ReportFormat::Markdown => pb::ReportFormat::Markdown,
                    ReportFormat::Html => pb::ReportFormat::Html,
                }
                .into(),
                profile: profile.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        read(RPC, report_from_proto(&answer))
    }
}

fn counts(counts: Option<&pb::CaseCounts>) -> CaseCounts {
    counts.map_or_else(CaseCounts::default, |c| CaseCounts {
        planned: c.planned,
        passed: c.passed,
        failed: c.failed,
        blocked: c.blocked,
        not_run: c.not_run,
        descoped: c.descoped,
        missing: c.missing,
    })
}

fn report_from_proto(
    report: &pb::CompletionReport,
) -> std::result::Result<CompletionReport, convert::FieldProblem> {
    let at = |field: String| move |(f, e): convert::FieldProblem| (format!("{field}.{f}"), e);
    let profile = report.profile.clone().unwrap_or_default();
    let mut phases = Vec::new();
    for (index, section) in report.phases.iter().enumerate() {
        let field = format!("phases[{index}]");
        let phase = section
            .phase
            .as_ref()
            .ok_or_else(|| (format!("{field}.phase"), "is missing".to_owned()))?;
        let verdict = section
            .verdict
            .as_ref()
            .ok_or_else(|| (format!("{field}.verdict"), "is missing".to_owned()))?;
        phases.push(PhaseReport {
            phase: convert::phase_from_proto(phase).map_err(at(format!("{field}.phase")))?,
            verdict: convert::verdict_from_proto(verdict, VerdictKind::PhaseExit, &[])
                .map_err(at(format!("{field}.verdict")))?,
            counts: counts(section.counts.as_ref()),
            depth_breadth_version: section.depth_breadth_version.clone(),
        });
    }
    let entry_verdicts = report
        .entry_verdicts
        .iter()
        .enumerate()
        .map(|(i, v)| {
            convert::verdict_from_proto(v, VerdictKind::Aggregate, &[])
                .map_err(at(format!("entry_verdicts[{i}]")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let issue_tallies = report
        .issue_tallies
        .iter()
        .enumerate()
        .map(|(i, t)| {
            Ok(IssueTally {
                severity: convert::severity_from_proto(
                    &format!("issue_tallies[{i}].severity"),
                    t.severity,
                )?,
                status: convert::issue_status_from_proto(
                    &format!("issue_tallies[{i}].status"),
                    t.status,
                )?,
                count: t.count,
            })
        })
        .collect::<Result<Vec<_>, convert::FieldProblem>>()?;
    let issues = report
        .issues
        .iter()
        .enumerate()
        .map(|(i, issue)| issue_from_proto(issue).map_err(at(format!("issues[{i}]"))))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompletionReport {
        profile_name: profile.name,
        profile_version: profile.version,
        illustrative: profile.illustrative,
        phases,
        entry_verdicts,
        issue_tallies,
        issues,
        audit_required: report.audit_required,
        decisions: report
            .decisions
            .iter()
            .map(|d| RecordedDecision {
                decision: d.decision.clone(),
                actor: d.actor.clone(),
                log_position: d.log_position,
            })
            .collect(),
        log_position: report.log_position,
        media_type: report.media_type.clone(),
        rendered: report.rendered.clone(),
    })
}
