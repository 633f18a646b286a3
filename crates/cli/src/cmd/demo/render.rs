//! Terminal rendering of the demo's results and verdicts.

use meterlab_proto::v1 as pb;

use super::grpc::Summary;
use crate::cmd::run::report::{self, Collected};

/// The verdict of every case on every device, as `meterlab run` prints them.
pub fn results(collected: &Collected) {
    println!();
    report::print_text(collected);
}

pub fn verdicts(summary: &Summary) {
    for verdict in summary.phase_verdicts.iter().chain(&summary.entry_verdicts) {
        println!(
            "\n{} — {}",
            subject(verdict),
            outcome_name(verdict.outcome())
        );
        if let Some(profile) = &verdict.profile {
            let label = if profile.illustrative {
                " (ILLUSTRATIVE limits)"
            } else {
                ""
            };
            println!("  profile {} {}{label}", profile.name, profile.version);
        }
        for criterion in &verdict.criteria {
            println!(
                "  [{:<9}] {} ({}): measured {}, limit {} — {}",
                criterion_name(criterion.outcome()),
                criterion.rule_id,
                criterion.clause,
                measure(criterion.measured.as_ref()),
                measure(criterion.limit.as_ref()),
                criterion.explanation
            );
        }
    }
}

fn subject(verdict: &pb::Verdict) -> String {
    match &verdict.subject {
        Some(pb::verdict::Subject::Phase(phase)) => {
            let entry = phase.entry.as_ref().map_or(String::new(), entry_name);
            let test = match phase.test_type() {
                pb::TestType::Mt => "MT",
                pb::TestType::Sit => "SIT",
                pb::TestType::Unspecified => "?",
            };
            format!("phase {test}/{} of {entry}", mode_name(phase.mode()))
        }
        Some(pb::verdict::Subject::Entry(entry)) => format!("entry {}", entry_name(entry)),
        Some(pb::verdict::Subject::CycleId(cycle)) => format!("cycle {cycle}"),
        None => "verdict".to_owned(),
    }
}

fn entry_name(entry: &pb::EntryKey) -> String {
    let release = match entry.release() {
        pb::CapabilityRelease::Ioc => "IOC",
        pb::CapabilityRelease::Moc => "MOC",
        pb::CapabilityRelease::Foc => "FOC",
        pb::CapabilityRelease::Unspecified => "?",
    };
    format!("{release}/{}/{}", entry.smso_id, entry.dmc_id)
}

fn mode_name(mode: pb::InstallationMode) -> &'static str {
    match mode {
        pb::InstallationMode::Active => "active",
        pb::InstallationMode::Dormant => "dormant",
        pb::InstallationMode::Mixed => "mixed",
        pb::InstallationMode::Unspecified => "?",
    }
}

fn outcome_name(outcome: pb::VerdictOutcome) -> &'static str {
    match outcome {
        pb::VerdictOutcome::Exit => "EXIT",
        pb::VerdictOutcome::NotMet => "NOT MET",
        pb::VerdictOutcome::Blocked => "BLOCKED",
        pb::VerdictOutcome::Pending => "PENDING",
        pb::VerdictOutcome::Unspecified => "UNSPECIFIED",
    }
}

fn criterion_name(outcome: pb::CriterionOutcome) -> &'static str {
    match outcome {
        pb::CriterionOutcome::Met => "met",
        pb::CriterionOutcome::NotMet => "not met",
        pb::CriterionOutcome::Blocked => "blocked",
        pb::CriterionOutcome::Pending => "pending",
        pb::CriterionOutcome::NotApplicable => "n/a",
        pb::CriterionOutcome::Unspecified => "?",
    }
}

fn measure(measure: Option<&pb::Measure>) -> String {
    let Some(measure) = measure else {
        return "—".to_owned();
    };
    let value = match &measure.value {
        Some(pb::measure::Value::Count(count)) => count.to_string(),
        Some(pb::measure::Value::Unlimited(_)) => "unlimited".to_owned(),
        Some(pb::measure::Value::Text(text)) => text.clone(),
        Some(pb::measure::Value::Flag(flag)) => flag.to_string(),
        Some(pb::measure::Value::Missing(missing)) => format!("missing ({})", missing.what),
        None => "—".to_owned(),
    };
    if measure.unit.is_empty() {
        value
    } else {
        format!("{value} {}", measure.unit)
    }
}
