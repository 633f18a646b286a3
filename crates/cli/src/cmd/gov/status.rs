//! `meterlab status`: every phase of an entry at a glance — outcome, coverage, issues against
//! the limits — and the entry's aggregate verdict; on a lab gateway (`serve --upstream`), its
//! outbox: the backlog not yet forwarded, the last forward (time, position, upstream URL) and
//! the last error, per source.

use std::process::ExitCode;

use meterlab_client::outbox::OutboxStatus;
use meterlab_client::types::{CaseCounts, ReportFormat};
use meterlab_governance::model::EntryKey;
use meterlab_governance::{CriterionOutcome, Outcome, Verdict};
use serde::Serialize;

use super::{Common, parse, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::{OutputFormat, print_table};
use crate::verdicts::{self, Style};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The planned entry: RELEASE/SMSO/DMC (optional on a lab gateway, which shows its outbox).
    #[arg(long, value_parser = parse::entry)]
    entry: Option<EntryKey>,
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
struct EntryStatus {
    entry: String,
    profile: String,
    log_position: u64,
    phases: Vec<PhaseStatus>,
    entry_verdict: Option<Verdict>,
}

#[derive(Debug, Serialize)]
struct Status {
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    entry: Option<EntryStatus>,
    /// Present on a lab gateway only.
    #[serde(skip_serializing_if = "Option::is_none")]
    outbox: Option<OutboxStatus>,
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
    let (entry, outbox) = with_client(&args.common, false, async |client| {
        let outbox = client.outbox_status().await?;
        let Some(entry) = &args.entry else {
            if !outbox.is_lab_gateway() {
                return Err(BadInput(format!(
                    "give --entry RELEASE/SMSO/DMC: {} is not a lab gateway (it forwards to no \
                     upstream), so it has no outbox to show",
                    client.url()
                ))
                .into());
            }
            return Ok((None, Some(outbox)));
        };
        let report = client
            .completion_report(
                &[],
                std::slice::from_ref(entry),
                ReportFormat::Structured,
                None,
            )
            .await?;
        let entry_verdict = client.evaluate_entry(entry, None).await?;
        let outbox = outbox.is_lab_gateway().then_some(outbox);
        Ok((Some((entry.clone(), report, entry_verdict)), outbox))
    })?;
    let entry = entry.map(|(entry, report, entry_verdict)| EntryStatus {
        entry: verdicts::entry_name(&entry),
        profile: format!("{} {}", report.profile_name, report.profile_version),
        log_position: report.log_position,
        phases: report
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
            .collect(),
        entry_verdict: Some(entry_verdict),
    });
    let status = Status { entry, outbox };
    match args.common.output {
        OutputFormat::Json => print_json(&status)?,
        OutputFormat::Text => {
            if let Some(entry) = &status.entry {
                print_text(entry);
            }
            if let Some(outbox) = &status.outbox {
                print_outbox(outbox);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_outbox(outbox: &OutboxStatus) {
    println!(
        "lab gateway forwarding to {}",
        outbox.upstream_urls.join(", ")
    );
    match outbox.backlog {
        Some(backlog) => println!("outbox backlog: {backlog} results not yet stored upstream"),
        None => println!("outbox backlog: unknown (the upstream has not answered since start)"),
    }
    match &outbox.last_forward {
        Some(last) => println!(
            "last forward: {} seq {} to {} at {} (unix seconds)",
            last.source, last.seq, last.url, last.at_unix_s
        ),
        None => println!("last forward: none since start"),
    }
    if let Some(error) = &outbox.last_error {
        let at = outbox
            .last_error_at_unix_s
            .map_or_else(String::new, |at| format!(" at {at} (unix seconds)"));
        println!("last error{at}: {error}");
    }
    let rows: Vec<[String; 5]> = outbox
        .sources
        .iter()
        .map(|s| {
            [
                s.source.clone(),
                s.local_watermark.to_string(),
                s.upstream_watermark.to_string(),
                s.confirmed.to_string(),
                s.stopped
                    .as_ref()
                    .map_or_else(|| "forwarding".to_owned(), |why| format!("STOPPED: {why}")),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print_table(["SOURCE", "LOCAL", "UPSTREAM", "CONFIRMED", "STATE"], &rows);
    }
}

fn print_text(status: &EntryStatus) {
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
