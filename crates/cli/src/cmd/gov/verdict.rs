//! `meterlab exit PHASE [--what-if …]` and `meterlab entry [--what-if …]`: a phase's exit
//! verdict (rules 4 and 5) and an entry's aggregate verdict, each optionally as if some issues
//! changed (one vocabulary for both). Failing criteria print first, then a count of the met ones
//! (`--verbose` lists them).

use std::process::ExitCode;

use meterlab_client::types::{
    Hypothetical, IssueUpdate, NewIssue, RecordedDecision, ReportFormat, WhatIf,
};
use meterlab_governance::model::{EntryKey, IssueStatus, PhaseKind, Severity};
use meterlab_governance::{Outcome, Verdict};
use serde::Serialize;

use super::{Common, answer, parse, print_json, with_client};
use crate::gateway::BadInput;
use crate::output::OutputFormat;
use crate::verdicts::{self, Style};

#[derive(Debug, clap::Args)]
pub struct ExitArgs {
    /// The planned entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry)]
    entry: EntryKey,
    /// The phase: TEST.MODE, e.g. mt.active.
    #[arg(value_parser = parse::phase_kind)]
    phase: PhaseKind,
    /// Evaluate as if (repeatable, nothing is recorded): `close:ID`, `fix:ID`,
    /// `known-defect:ID=WORKAROUND`, `severity:ID=N`, or `raise:N[@TEST.MODE]` (a new
    /// severity-N issue in this phase, or in the named phase of the entry).
    #[arg(long = "what-if", value_parser = what_if)]
    what_if: Vec<WhatIfArg>,
    /// Rule profile name; default: the gateway's.
    #[arg(long = "rule-profile")]
    rule_profile: Option<String>,
    /// List met criteria too.
    #[arg(long)]
    verbose: bool,
    #[command(flatten)]
    common: Common,
}

#[derive(Debug, clap::Args)]
pub struct EntryArgs {
    /// The planned entry: RELEASE/SMSO/DMC.
    #[arg(long, value_parser = parse::entry)]
    entry: EntryKey,
    /// Evaluate as if (repeatable, nothing is recorded): `close:ID`, `fix:ID`,
    /// `known-defect:ID=WORKAROUND`, `severity:ID=N`, or `raise:N@TEST.MODE` (a new
    /// severity-N issue in that phase of the entry).
    #[arg(long = "what-if", value_parser = what_if)]
    what_if: Vec<WhatIfArg>,
    /// Rule profile name; default: the gateway's.
    #[arg(long = "rule-profile")]
    rule_profile: Option<String>,
    /// List met criteria too.
    #[arg(long)]
    verbose: bool,
    #[command(flatten)]
    common: Common,
}

/// One `--what-if`.
#[derive(Debug, Clone)]
pub enum WhatIfArg {
    Status(String, IssueStatus, Option<String>),
    Severity(String, Severity),
    /// A new issue of this severity, in this phase (else the verdict's own phase).
    Raise(Severity, Option<PhaseKind>),
}

fn what_if(text: &str) -> Result<WhatIfArg, String> {
    let expected = || {
        format!(
            "{text:?}: expected close:ID, fix:ID, known-defect:ID=WORKAROUND, severity:ID=N or \
             raise:N[@TEST.MODE]"
        )
    };
    let (verb, rest) = text.split_once(':').ok_or_else(expected)?;
    if rest.is_empty() {
        return Err(expected());
    }
    match verb {
        "close" => Ok(WhatIfArg::Status(
            rest.to_owned(),
            IssueStatus::Closed,
            None,
        )),
        "fix" => Ok(WhatIfArg::Status(rest.to_owned(), IssueStatus::Fixed, None)),
        "known-defect" => {
            let (id, workaround) = rest.split_once('=').ok_or_else(expected)?;
            Ok(WhatIfArg::Status(
                id.to_owned(),
                IssueStatus::KnownDefect,
                Some(workaround.to_owned()),
            ))
        }
        "severity" => {
            let (id, level) = rest.split_once('=').ok_or_else(expected)?;
            Ok(WhatIfArg::Severity(id.to_owned(), parse::severity(level)?))
        }
        "raise" => match rest.split_once('@') {
            None => Ok(WhatIfArg::Raise(parse::severity(rest)?, None)),
            Some((level, phase)) => Ok(WhatIfArg::Raise(
                parse::severity(level)?,
                Some(parse::phase_kind(phase)?),
            )),
        },
        _ => Err(expected()),
    }
}

#[derive(Debug, Serialize)]
struct WhatIfAnswer {
    current: Verdict,
    hypothetical: Verdict,
    rejected: Vec<Rejected>,
}

#[derive(Debug, Serialize)]
struct Rejected {
    what_if: usize,
    reason: String,
}

pub fn exit(args: ExitArgs) -> anyhow::Result<ExitCode> {
    let phase = parse::phase(&args.entry, args.phase);
    let style = Style::for_stdout();
    if args.what_if.is_empty() {
        let (verdict, decisions) = with_client(&args.common, false, async |client| {
            let verdict = client
                .evaluate_phase(&phase, args.rule_profile.as_deref())
                .await?;
            let decisions = decisions_of(client, &args.entry, args.rule_profile.as_deref()).await?;
            Ok((verdict, decisions))
        })?;
        match args.common.output {
            OutputFormat::Json => print_json(&verdict)?,
            OutputFormat::Text => {
                verdicts::print(&verdict, args.verbose, style);
                print_decisions(&decisions);
            }
        }
        return Ok(answer(verdict.outcome == Outcome::Exit));
    }
    let events = hypotheticals(&args.what_if, &args.entry, Some(args.phase))?;
    let answered = with_client(&args.common, false, async |client| {
        Ok(client
            .what_if_phase(&phase, &events, args.rule_profile.as_deref())
            .await?)
    })?;
    print_what_if(
        &verdicts::phase_name(&phase),
        &answered,
        args.verbose,
        args.common.output,
    )
}

/// The hypothetical events of `--what-if` arguments; a `raise` without a phase goes to `phase`
/// (an entry verdict has none, so there it must name one).
fn hypotheticals(
    args: &[WhatIfArg],
    entry: &EntryKey,
    phase: Option<PhaseKind>,
) -> anyhow::Result<Vec<Hypothetical>> {
    args.iter()
        .map(|arg| {
            Ok(match arg {
                WhatIfArg::Status(id, status, workaround) => Hypothetical::UpdateIssue {
                    id: id.clone(),
                    update: IssueUpdate {
                        status: Some(*status),
                        workaround: workaround.clone(),
                        ..IssueUpdate::default()
                    },
                },
                WhatIfArg::Severity(id, severity) => Hypothetical::UpdateIssue {
                    id: id.clone(),
                    update: IssueUpdate {
                        severity: Some(*severity),
                        ..IssueUpdate::default()
                    },
                },
                WhatIfArg::Raise(severity, named) => {
                    let kind = named.or(phase).ok_or_else(|| {
                        BadInput(format!(
                            "--what-if raise:{}: name the phase the new issue is in, e.g. \
                             raise:{}@mt.active",
                            severity.level(),
                            severity.level()
                        ))
                    })?;
                    Hypothetical::RaiseIssue(NewIssue {
                        id: None,
                        severity: *severity,
                        title: "what-if issue".to_owned(),
                        description: String::new(),
                        phases: vec![parse::phase(entry, kind)],
                        cases: Vec::new(),
                    })
                }
            })
        })
        .collect()
}

/// A what-if answer: the verdict now in one line, the hypothetical one with its failing criteria
/// first, and the assumptions the gateway would refuse; exit 0 only when it would be an exit.
fn print_what_if(
    name: &str,
    answered: &WhatIf,
    verbose: bool,
    output: OutputFormat,
) -> anyhow::Result<ExitCode> {
    let style = Style::for_stdout();
    let rejected: Vec<Rejected> = answered
        .rejected
        .iter()
        .map(|(index, reason)| Rejected {
            what_if: *index as usize + 1,
            reason: reason.clone(),
        })
        .collect();
    match output {
        OutputFormat::Json => print_json(&WhatIfAnswer {
            current: answered.current.clone(),
            hypothetical: answered.hypothetical.clone(),
            rejected,
        })?,
        OutputFormat::Text => {
            println!("now: {name} — {}", style.outcome(answered.current.outcome));
            println!("what if:");
            verdicts::print(&answered.hypothetical, verbose, style);
            for rejected in &rejected {
                println!(
                    "  --what-if #{} would be refused: {}",
                    rejected.what_if, rejected.reason
                );
            }
        }
    }
    Ok(answer(answered.hypothetical.outcome == Outcome::Exit))
}

pub fn entry(args: EntryArgs) -> anyhow::Result<ExitCode> {
    if !args.what_if.is_empty() {
        let events = hypotheticals(&args.what_if, &args.entry, None)?;
        let answered = with_client(&args.common, false, async |client| {
            Ok(client
                .what_if_entry(&args.entry, &events, args.rule_profile.as_deref())
                .await?)
        })?;
        return print_what_if(
            &verdicts::entry_name(&args.entry),
            &answered,
            args.verbose,
            args.common.output,
        );
    }
    let (verdict, decisions) = with_client(&args.common, false, async |client| {
        let verdict = client
            .evaluate_entry(&args.entry, args.rule_profile.as_deref())
            .await?;
        let decisions = decisions_of(client, &args.entry, args.rule_profile.as_deref()).await?;
        Ok((verdict, decisions))
    })?;
    match args.common.output {
        OutputFormat::Json => print_json(&verdict)?,
        OutputFormat::Text => {
            verdicts::print(&verdict, args.verbose, Style::for_stdout());
            print_decisions(&decisions);
        }
    }
    Ok(answer(verdict.outcome == Outcome::Exit))
}

/// Who recorded the decisions in the entry's scope (D&B agreements, de-scopes, issue closures):
/// a verdict a board relies on says who recorded what it rests on.
async fn decisions_of(
    client: &meterlab_client::Client,
    entry: &EntryKey,
    profile: Option<&str>,
) -> anyhow::Result<Vec<RecordedDecision>> {
    let report = client
        .completion_report(
            &[],
            std::slice::from_ref(entry),
            ReportFormat::Structured,
            profile,
        )
        .await?;
    Ok(report.decisions)
}

fn print_decisions(decisions: &[RecordedDecision]) {
    for decision in decisions {
        let actor = if decision.actor.is_empty() {
            "(no principal recorded)"
        } else {
            decision.actor.as_str()
        };
        println!(
            "  recorded: {} by {actor} (log position {})",
            decision.decision, decision.log_position
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_if_values_read_and_bad_ones_show_the_forms() {
        assert!(matches!(
            what_if("close:7"),
            Ok(WhatIfArg::Status(id, IssueStatus::Closed, None)) if id == "7"
        ));
        assert!(matches!(
            what_if("known-defect:7=reboot the hub"),
            Ok(WhatIfArg::Status(_, IssueStatus::KnownDefect, Some(w))) if w == "reboot the hub"
        ));
        assert!(matches!(what_if("severity:3=4"), Ok(WhatIfArg::Severity(_, s)) if s.level() == 4));
        assert!(matches!(what_if("raise:1"), Ok(WhatIfArg::Raise(s, None)) if s.level() == 1));
        assert!(matches!(
            what_if("raise:2@sit.mixed"),
            Ok(WhatIfArg::Raise(s, Some(k))) if s.level() == 2 && k.to_string() == "sit.mixed"
        ));
        for bad in [
            "close",
            "close:",
            "reopen:3",
            "severity:3",
            "raise:9",
            "raise:2@nope",
        ] {
            assert!(what_if(bad).is_err(), "{bad}");
        }
    }
}
