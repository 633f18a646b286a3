//! Terminal rendering of the demo: the story before it runs, what did not pass, and the
//! verdicts (failing criteria first) with a one-line-per-phase summary.

use meterlab_emulator::faults::FaultConfig;
use meterlab_emulator::scenario::Scenario;
use meterlab_governance::{Outcome, Verdict};

use super::execute::PhaseRun;
use super::plan::{DemoPlan, Evaluation};
use super::story::Story;
use crate::cmd::run::report::explain;
use crate::verdicts::{self, Style};

fn faults(faults: &FaultConfig) -> Option<String> {
    let mut parts = Vec::new();
    if faults.silent {
        parts.push("silent: nothing answers".to_owned());
    }
    if faults.drop > 0.0 {
        parts.push(format!("{:.1}% of frames lost", faults.drop * 100.0));
    }
    if faults.corrupt > 0.0 {
        parts.push(format!(
            "{:.1}% of frames corrupted",
            faults.corrupt * 100.0
        ));
    }
    if faults.latency_ms > 0 {
        parts.push(format!("{} ms latency", faults.latency_ms));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The story: entries, phases, hubs with their faults, the inventory's errors and the
/// de-scopes the test manager will ask for.
pub fn story(scenario: &Scenario, story: &Story, plan: &DemoPlan) {
    println!("The story:");
    for planned in &plan.entries {
        let phases: Vec<String> = planned.phases.iter().map(ToString::to_string).collect();
        println!(
            "  entry {}: phases {}",
            verdicts::entry_name(&planned.entry),
            phases.join(", ")
        );
        for hub in scenario
            .hubs
            .iter()
            .filter(|hub| hub.dmc == planned.entry.dmc.as_str())
        {
            let mut fault =
                faults(&hub.faults).map_or_else(String::new, |text| format!(" — fault: {text}"));
            // A meter's own faults, where they differ from its hub's line.
            for (role, meter) in [("esme", Some(&hub.esme)), ("gsme", hub.gsme.as_ref())] {
                let Some(meter) = meter else { continue };
                let own = meter.faults.apply(hub.faults);
                if own != hub.faults {
                    let text = faults(&own).unwrap_or_else(|| "none".to_owned());
                    fault.push_str(&format!("; {role}: {text}"));
                }
            }
            println!(
                "    hub {:<14} {:<8} exchange timeout {} ms{fault}",
                hub.id,
                hub.state.name(),
                story.exchange_timeout(&hub.id).as_millis()
            );
        }
    }
    for wrong in &story.inventory {
        println!(
            "  inventory error: {} recorded with firmware {}{}",
            wrong.device,
            wrong.firmware,
            wrong
                .note
                .as_deref()
                .map_or_else(String::new, |note| format!(" ({note})"))
        );
    }
    for descope in &story.descopes {
        let phases: Vec<String> = descope.phases.iter().map(ToString::to_string).collect();
        println!(
            "  de-scope: {} in {}, citing {}: {}",
            descope.case,
            phases.join(", "),
            descope.cited,
            descope.rationale
        );
    }
    println!(
        "  every failed case raises a Testing Issue at its suggested severity; {} retries after a \
         case does not pass",
        story.retries
    );
}

/// The last attempt of every case that did not pass, per phase; cases that did not pass on a
/// device for the same reason (a silent device, say) share one line.
pub fn not_passed(runs: &[PhaseRun]) {
    for run in runs {
        // (device, status, why) and the cases that share them, in first-seen order.
        type Reason<'a> = (String, &'a str, String);
        let mut groups: Vec<(Reason, Vec<&str>)> = Vec::new();
        for attempts in run.collected.by_case() {
            let Some(last) = attempts.last() else {
                continue;
            };
            if last.status == meterlab_runner::CaseStatus::Passed {
                continue;
            }
            let key = (last.device_id.clone(), last.status.as_str(), explain(last));
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, cases)) => cases.push(&last.case_id),
                None => groups.push((key, vec![&last.case_id])),
            }
        }
        for ((device, status, why), cases) in groups {
            let named = if cases.len() > 3 {
                format!("{} cases ({}, …)", cases.len(), cases[..3].join(", "))
            } else {
                cases.join(", ")
            };
            println!("  {} {named} on {device}: {status} — {why}", run.phase.kind);
        }
        if !run.skipped.is_empty() {
            println!("  {} left out: {}", run.phase.kind, run.skipped.join("; "));
        }
    }
}

fn failing_ids(verdict: &Verdict) -> String {
    let ids: Vec<&str> = verdict.failing().map(|c| c.id.as_str()).collect();
    if ids.is_empty() {
        String::new()
    } else {
        format!(" — {}", ids.join(", "))
    }
}

/// Every verdict that is not an exit in full (failing criteria first); then one line per phase
/// and entry.
pub fn verdicts(evaluation: &Evaluation) {
    let style = Style::for_stdout();
    let all = || {
        evaluation
            .phase_verdicts
            .iter()
            .chain(&evaluation.entry_verdicts)
    };
    for verdict in all().filter(|verdict| verdict.outcome != Outcome::Exit) {
        println!();
        verdicts::print(verdict, false, style);
    }
    println!("\nAt a glance:");
    for verdict in all() {
        println!(
            "  {:<8} {}{}",
            style.outcome(verdict.outcome),
            verdicts::subject(&verdict.subject),
            failing_ids(verdict)
        );
    }
    let exits = evaluation
        .phase_verdicts
        .iter()
        .filter(|verdict| verdict.is_exit())
        .count();
    println!(
        "  {exits} of {} phases exit; {} of {} entries exit",
        evaluation.phase_verdicts.len(),
        evaluation
            .entry_verdicts
            .iter()
            .filter(|verdict| verdict.is_exit())
            .count(),
        evaluation.entry_verdicts.len()
    );
}
