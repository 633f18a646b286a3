//! What the test manager records after the runs: a Testing Issue for every case that failed
//! (one per phase and case, naming the devices, at the case's suggested severity), and the
//! story's de-scopes, each accepted or refused by the gateway with its reasons.

use std::collections::BTreeMap;

use anyhow::Context as _;
use meterlab_catalog::Catalog;
use meterlab_client::Client;
use meterlab_client::types::{CitedResult, DescopeRequest, NewIssue, PhaseCase, TestingIssue};
use meterlab_governance::model::{CaseId, Severity, TestPhase};

use super::execute::PhaseRun;
use super::story::Descope;
use crate::cmd::run::report::explain;
use crate::verdicts::phase_name;

/// Raises one Testing Issue per (phase, failed case); prints each as it is raised.
pub async fn raise_for_failures(
    client: &Client,
    suite: &Catalog,
    runs: &[PhaseRun],
) -> anyhow::Result<Vec<TestingIssue>> {
    let mut raised = Vec::new();
    for run in runs {
        // Per case, the devices it failed on and the first failure's explanation.
        let mut failed: BTreeMap<&str, (Vec<&str>, String)> = BTreeMap::new();
        for result in run.failures() {
            failed
                .entry(result.case_id.as_str())
                .or_insert_with(|| (Vec::new(), explain(result)))
                .0
                .push(result.device_id.as_str());
        }
        for (case_id, (devices, detail)) in failed {
            let case = suite
                .cases()
                .iter()
                .find(|case| case.id == case_id)
                .with_context(|| format!("the run reported case {case_id}, not in the suite"))?;
            let severity = Severity::new(case.severity.get())
                .with_context(|| format!("case {case_id} has severity {}", case.severity.get()))?;
            let issue = NewIssue {
                id: None,
                severity,
                title: format!("{case_id} fails on {}", devices.join(", ")),
                description: format!(
                    "{}\n\n{}: {detail}{}",
                    case.title,
                    devices[0],
                    case.description
                        .as_deref()
                        .map_or_else(String::new, |why| format!("\n\nWhy it matters: {why}"))
                ),
                phases: vec![run.phase.clone()],
                cases: vec![PhaseCase {
                    phase: run.phase.clone(),
                    case: CaseId::new(case_id),
                }],
            };
            let issue = client
                .raise_issue(&issue, "demo: a case failed; severity as the case suggests")
                .await?;
            println!(
                "  issue {} severity {} in {}: {}",
                issue.id,
                issue.severity.level(),
                phase_name(&run.phase),
                issue.title
            );
            raised.push(issue);
        }
    }
    Ok(raised)
}

/// Asks for every de-scope of the story in each of its phases the demo ran; prints each answer
/// and returns how many were accepted and how many refused.
pub async fn request_descopes(
    client: &Client,
    phases: &[TestPhase],
    descopes: &[Descope],
) -> anyhow::Result<(usize, usize)> {
    let (mut accepted, mut refused) = (0, 0);
    for descope in descopes {
        for phase in phases.iter().filter(|p| descope.phases.contains(&p.kind)) {
            let request = DescopeRequest {
                case: PhaseCase {
                    phase: phase.clone(),
                    case: CaseId::new(descope.case.clone()),
                },
                cited: CitedResult {
                    case: PhaseCase {
                        phase: phase.clone(),
                        case: CaseId::new(descope.cited.clone()),
                    },
                    device_and_attempt: None,
                },
                rationale: descope.rationale.clone(),
            };
            let decision = client
                .request_descope(&request, "demo: equivalence de-scope (rule 7)")
                .await?;
            let unmet: Vec<String> = decision
                .checks
                .iter()
                .filter(|check| !check.satisfied)
                .map(|check| format!("{} ({})", check.condition, check.explanation))
                .collect();
            if decision.accepted {
                accepted += 1;
                println!(
                    "  de-scoped {} in {} (cites {})",
                    descope.case,
                    phase_name(phase),
                    descope.cited
                );
            } else {
                refused += 1;
                println!(
                    "  de-scope of {} in {} REFUSED: {}",
                    descope.case,
                    phase_name(phase),
                    unmet.join("; ")
                );
            }
        }
    }
    Ok((accepted, refused))
}
