//! `meterlab status`: every phase of an entry at a glance — outcome, coverage, issues against
//! the limits — and the entry's aggregate verdict.

use std::process::ExitCode;

use meterlab_client::types::{CaseCounts, ReportFormat};
use meterlab_governance::model::EntryKey;
use meterlab_governance::{CriterionOutcome, Outcome, Verdict};
use serde::Serialize;

use super::{Common, parse, print_json, with_client};
use crate::output::{OutputFormat, print_table};
use crate::verdicts::{self, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The planned entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry)]
    entry: EntryKey,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, Serialize)]
struct PhaseStatus {
    phase: String,
    outcome: Outcome,
    counts: CaseCounts,
    /// Cases with a verdict (passed, failed, de-scoped) of those planned.
    coverage: String,
    /// Per severity with outstanding issues or over its limit: "sevN n/limit".
    issues: Vec<IssueAgainstLimit>,
    /// Rule ids of the criteria not met, blocked or pending.
    failing: Vec<String>,
}

#[derive(Debug, Serialize)]
struct IssueAgainstLimit {
    severity: String,
    outstanding: String,
    limit: String,
    within: bool,
}

#[derive(Debug, Serialize)]
struct Status {
    entry: String,
    profile: String,
    log_position: u64,
    phases: Vec<PhaseStatus>,
    entry_verdict: Option<Verdict>,
}

/// Issue-limit criteria of a phase verdict (`4.issues.sevN`) that have issues or are exceeded.
fn issues_against_limits(verdict: &Verdict) -> Vec<IssueAgainstLimit> {
    verdict
        .criteria
        .iter()
        .filter_map(|c| {
            let severity = c.id.strip_prefix("4.issues.")?;
            let within = c.outcome == CriterionOutcome::Met;
            let outstanding = c.measured.to_string();
            (!within || outstanding != "0").then(|| IssueAgainstLimit {
                severity: severity.to_owned(),
                outstanding,
                limit: c.limit.to_string(),
                within,
            })
        })
        .collect()
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (report, entry_verdict) = with_client(&args.common, false, async |client| {
        let report = client
            .completion_report(
                &[],
                std::slice::from_ref(&args.entry),
                ReportFormat::Structured,
                None,
            )
            .await?;
        let entry_verdict = client.evaluate_entry(&args.entry, None).await?;
        Ok((report, entry_verdict))
    })?;
    let phases: Vec<PhaseStatus> = report
        .phases
        .iter()
        .map(|section| PhaseStatus {
            phase: section.phase.kind.to_string(),
            outcome: section.verdict.outcome,
            coverage: format!("{}/{}", section.counts.covered(), section.counts.planned),
            counts: section.counts.clone(),
            issues: issues_against_limits(&section.verdict),
            failing: section
                .verdict
                .failing()
                .map(|c| format!("R{}.{}", c.rule, c.id))
                .collect(),
        })
        .collect();
    let status = Status {
        entry: verdicts::entry_name(&args.entry),
        profile: format!("{} {}", report.profile_name, report.profile_version),
        log_position: report.log_position,
        phases,
        entry_verdict: Some(entry_verdict),
    };
    match args.common.output {
        OutputFormat::Json => print_json(&status)?,
        OutputFormat::Text => print_text(&status),
    }
    Ok(ExitCode::SUCCESS)
}

fn print_text(status: &Status) {
    let style = Style::for_stdout();
    println!(
        "entry {} — profile {}, log position {}",
        status.entry, status.profile, status.log_position
    );
    let rows: Vec<[String; 6]> = status
        .phases
        .iter()
        .map(|phase| {
            let issues = if phase.issues.is_empty() {
                "none".to_owned()
            } else {
                phase
                    .issues
                    .iter()
                    .map(|i| {
                        let mark = if i.within { "" } else { " OVER" };
                        format!("{} {}/{}{mark}", i.severity, i.outstanding, i.limit)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            [
                phase.phase.clone(),
                // Plain text in the table: escape codes would break the column widths.
                match phase.outcome {
                    Outcome::Exit => "EXIT",
                    Outcome::NotMet => "NOT MET",
                    Outcome::Blocked => "BLOCKED",
                    Outcome::Pending => "PENDING",
                }
                .to_owned(),
                phase.coverage.clone(),
                format!(
                    "{}/{}/{}",
                    phase.counts.passed, phase.counts.failed, phase.counts.blocked
                ),
                issues,
                phase.failing.len().to_string(),
            ]
        })
        .collect();
    print_table(
        [
            "PHASE",
            "OUTCOME",
            "COVERAGE",
            "PASS/FAIL/BLOCK",
            "ISSUES (n/limit)",
            "FAILING",
        ],
        &rows,
    );
    if let Some(verdict) = &status.entry_verdict {
        println!(
            "entry aggregate: {} ({} failing criteria)",
            style.outcome(verdict.outcome),
            verdict.failing().count()
        );
    }
}
