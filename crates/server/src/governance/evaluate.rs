//! Evaluations, what-if and the completion report: read-only, on the live projection.

use meterlab_governance::model::{CycleId, PhaseId, RegressionScope};
use meterlab_governance::report::{CaseCounts, RegressionSummary, case_counts};
use meterlab_governance::{
    Event, Projection, Verdict, completion_report, evaluate_entry, evaluate_phase_exit,
    evaluate_regression,
};
use meterlab_proto::v1 as pb;
use sha2::{Digest, Sha256};
use tonic::Status;

use super::GovernanceServiceImpl;
use crate::convert::keys::{
    dnb_status_from_proto, entry_from_proto, issue_status_to_proto, phase_to_proto,
    regression_to_proto, required_text,
};
use crate::convert::requests as req;
use crate::convert::result::case_result_from_proto;
use crate::convert::timestamp_from_ms;
use crate::convert::verdict::{issue_to_proto, profile_to_proto, verdict_to_proto};
use crate::error::FieldError;
use crate::ledger::now_ms;
use crate::projector::DecisionSubject;

/// What an evaluation is about.
enum Target {
    Phase(PhaseId),
    Entry(meterlab_governance::model::EntryKey),
    Cycle(CycleId),
}

impl GovernanceServiceImpl {
    /// Only the configured profile is loaded; naming another is NOT_FOUND.
    pub(super) fn check_profile(&self, name: &str) -> Result<(), Status> {
        let profile = self.ledger.profile();
        if name.is_empty() || name == profile.name {
            Ok(())
        } else {
            Err(Status::not_found(format!(
                "rule profile {name:?} is not loaded; this server evaluates with {:?} version {}",
                profile.name, profile.version
            )))
        }
    }

    fn evaluate(&self, p: &Projection, target: &Target) -> Verdict {
        let profile = self.ledger.profile();
        match target {
            Target::Phase(phase) => evaluate_phase_exit(p, profile, phase),
            Target::Entry(entry) => evaluate_entry(p, profile, entry),
            Target::Cycle(cycle) => {
                evaluate_regression(p, profile, &RegressionScope::Cycle(cycle.clone()))
            }
        }
    }

    fn evaluate_now(&self, target: &Target) -> pb::Verdict {
        self.ledger
            .read(|p, at| verdict_to_proto(&self.evaluate(p, target), at))
    }

    pub(super) fn evaluate_phase_impl(
        &self,
        r: pb::EvaluatePhaseRequest,
    ) -> Result<pb::Verdict, Status> {
        self.check_profile(&r.profile)?;
        let phase = req::phase("phase", &r.phase)?;
        if self.ledger.read(|p, _| p.phase(&phase).is_none()) {
            return Err(Status::not_found(format!(
                "phase {phase} is not registered"
            )));
        }
        Ok(self.evaluate_now(&Target::Phase(phase)))
    }

    pub(super) fn evaluate_entry_impl(
        &self,
        r: pb::EvaluateEntryRequest,
    ) -> Result<pb::Verdict, Status> {
        self.check_profile(&r.profile)?;
        let entry = entry_from_proto(crate::convert::keys::required("entry", &r.entry)?)
            .map_err(|e| e.under("entry"))?;
        if self.ledger.read(|p, _| p.entry(&entry).is_none()) {
            return Err(Status::not_found(format!(
                "planned entry {entry} is not registered"
            )));
        }
        Ok(self.evaluate_now(&Target::Entry(entry)))
    }

    pub(super) fn evaluate_cycle_impl(
        &self,
        r: pb::EvaluateCycleRequest,
    ) -> Result<pb::Verdict, Status> {
        self.check_profile(&r.profile)?;
        let cycle = CycleId::new(required_text("cycle_id", &r.cycle_id)?);
        if self.ledger.read(|p, _| p.cycle(&cycle).is_none()) {
            return Err(Status::not_found(format!("cycle {cycle} is not defined")));
        }
        Ok(self.evaluate_now(&Target::Cycle(cycle)))
    }

    pub(super) fn what_if_impl(&self, r: pb::WhatIfRequest) -> Result<pb::WhatIfResponse, Status> {
        use pb::what_if_request::Target as T;
        self.check_profile(&r.profile)?;
        let target = match &r.target {
            Some(T::Phase(p)) => Target::Phase(req::phase("phase", &Some(p.clone()))?),
            Some(T::Entry(e)) => {
                Target::Entry(entry_from_proto(e).map_err(|err| err.under("entry"))?)
            }
            Some(T::CycleId(c)) => Target::Cycle(CycleId::new(required_text("cycle_id", c)?)),
            None => {
                return Err(FieldError::new(
                    "target",
                    "one of phase, entry or cycle_id is required",
                )
                .into());
            }
        };
        self.ledger.read(|base, at| {
            let current = verdict_to_proto(&self.evaluate(base, &target), at);
            let mut scenario = base.clone();
            let mut assumptions = Vec::new();
            let mut rejected = Vec::new();
            for (i, hypothetical) in r.events.iter().enumerate() {
                let index = u32::try_from(i).unwrap_or(u32::MAX);
                use pb::hypothetical_event::Event as H;
                let events = match &hypothetical.event {
                    // A regression run is decided against the scenario; a refusal is a rejection.
                    Some(H::Regression(run)) => {
                        let run = crate::convert::keys::required("run", &run.run)
                            .map_err(|e| e.under(&format!("events[{i}].regression")))?;
                        match super::changes::regression_events(
                            run,
                            &scenario,
                            self.ledger.profile(),
                        ) {
                            Ok(events) => events,
                            Err(status) => {
                                rejected.push(pb::HypotheticalRejection {
                                    index,
                                    reason: status.message().to_owned(),
                                });
                                continue;
                            }
                        }
                    }
                    _ => hypothetical_events(hypothetical, &scenario)
                        .map_err(|e| e.under(&format!("events[{i}]")))?,
                };
                // All events of one hypothetical apply together or not at all.
                let mut trial = scenario.clone();
                match events.iter().try_for_each(|e| trial.apply(e)) {
                    Ok(()) => {
                        scenario = trial;
                        assumptions.extend(events.iter().map(Event::describe));
                    }
                    Err(error) => rejected.push(pb::HypotheticalRejection {
                        index,
                        reason: error.to_string(),
                    }),
                }
            }
            let mut verdict = self.evaluate(&scenario, &target);
            verdict.assumptions = assumptions;
            let mut hypothetical = verdict_to_proto(&verdict, at);
            hypothetical.hypothetical = true;
            Ok(pb::WhatIfResponse {
                current: Some(current),
                hypothetical: Some(hypothetical),
                rejected,
            })
        })
    }

    pub(super) fn completion_report_impl(
        &self,
        r: pb::GetCompletionReportRequest,
    ) -> Result<pb::CompletionReport, Status> {
        self.check_profile(&r.profile)?;
        let format = pb::ReportFormat::try_from(r.format).map_err(|_| {
            FieldError::new(
                "format",
                format!("{} is not a valid ReportFormat value", r.format),
            )
        })?;
        let mut phases = r
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| req::phase(&format!("phases[{i}]"), &Some(p.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        let entries = r
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| entry_from_proto(e).map_err(|err| err.under(&format!("entries[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        if phases.is_empty() && entries.is_empty() {
            return Err(
                FieldError::new("phases", "name at least one phase or entry to report on").into(),
            );
        }
        let profile = self.ledger.profile();
        self.ledger.read_attributed(|p, decisions, at| {
            for entry in &entries {
                let state = p.entry(entry).ok_or_else(|| {
                    Status::not_found(format!("planned entry {entry} is not registered"))
                })?;
                phases.extend(state.phases().iter().cloned());
            }
            for phase in &phases {
                if p.phase(phase).is_none() {
                    return Err(Status::not_found(format!(
                        "phase {phase} is not registered"
                    )));
                }
            }
            let report = completion_report(p, profile, "Combined completion report", &phases);
            let options = meterlab_report::RenderOptions {
                generated_at: Some(timestamp_from_ms(now_ms()).to_string()),
                log_head: None,
            };
            let recorded = crate::convert::report::recorded_decisions(decisions);
            let render_failed = |e: meterlab_report::RenderError| Status::internal(e.to_string());
            let (media_type, rendered) = match format {
                pb::ReportFormat::Unspecified | pb::ReportFormat::Structured => {
                    (String::new(), Vec::new())
                }
                pb::ReportFormat::Markdown => (
                    "text/markdown".to_owned(),
                    meterlab_report::completion_markdown(&report, &recorded, &options)
                        .map_err(render_failed)?
                        .into_bytes(),
                ),
                pb::ReportFormat::Html => (
                    "text/html".to_owned(),
                    meterlab_report::completion_html(&report, &recorded, &options)
                        .map_err(render_failed)?
                        .into_bytes(),
                ),
            };
            let sections = report
                .phases
                .iter()
                .filter_map(|v| match &v.subject {
                    meterlab_governance::Subject::PhaseExit(id) if !id.is_regression() => {
                        Some((id, v))
                    }
                    _ => None,
                })
                .map(|(id, v)| phase_section(p, id, v, at))
                .collect();
            let mut tallies = Vec::new();
            for row in &report.issues_by_severity {
                for (status, count) in [
                    (meterlab_governance::model::IssueStatus::Open, row.open),
                    (meterlab_governance::model::IssueStatus::Fixed, row.fixed),
                    (meterlab_governance::model::IssueStatus::Closed, row.closed),
                    (
                        meterlab_governance::model::IssueStatus::KnownDefect,
                        row.known_defect,
                    ),
                ] {
                    if count > 0 {
                        tallies.push(pb::IssueTally {
                            severity: u32::from(row.severity),
                            status: issue_status_to_proto(status).into(),
                            count,
                        });
                    }
                }
            }
            let issues = report
                .issues
                .iter()
                .filter_map(|i| p.issue(i.id))
                .map(issue_to_proto)
                .collect();
            let mut descopes = Vec::new();
            for phase in &phases {
                if let Some(state) = p.phase(phase) {
                    for d in state.descopes() {
                        let by = decisions.iter().rev().find(|x| {
                            x.subject
                                == DecisionSubject::Descoped(
                                    d.request.phase.clone(),
                                    d.request.case.clone(),
                                )
                        });
                        descopes.push(pb::DescopeRecord {
                            case: phase_to_proto(&d.request.phase).map(|ph| pb::CaseRef {
                                phase: Some(ph),
                                case_id: d.request.case.to_string(),
                            }),
                            cited: Some(pb::CitedResult {
                                case: phase_to_proto(&d.request.cited.phase).map(|ph| {
                                    pb::CaseRef {
                                        phase: Some(ph),
                                        case_id: d.request.cited.case.to_string(),
                                    }
                                }),
                                device_id: String::new(),
                                attempt: 0,
                            }),
                            srv: p
                                .case_srv(&d.request.cited)
                                .map(ToString::to_string)
                                .unwrap_or_default(),
                            rationale: d.request.rationale.clone(),
                            actor: by.map(|d| d.actor.clone()).unwrap_or_default(),
                            recorded_at: by.map(|d| timestamp_from_ms(d.timestamp_ms)),
                        });
                    }
                }
            }
            let decisions = decisions
                .iter()
                .filter(|d| match &d.subject {
                    DecisionSubject::Descoped(phase, _) => phases.contains(phase),
                    DecisionSubject::DnbAgreed(doc) => phases.iter().any(|phase| {
                        phase
                            .entry()
                            .is_some_and(|e| e.release == doc.release && e.smso == doc.smso)
                    }),
                    DecisionSubject::IssueClosed(id) => report.issues.iter().any(|i| i.id == *id),
                })
                .map(|d| pb::DecisionRecord {
                    decision: d.subject.to_string(),
                    actor: d.actor.clone(),
                    log_position: d.seq,
                    recorded_at: Some(timestamp_from_ms(d.timestamp_ms)),
                })
                .collect();
            let rendered_sha256 = if rendered.is_empty() {
                Vec::new()
            } else {
                Sha256::digest(&rendered).to_vec()
            };
            Ok(pb::CompletionReport {
                profile: Some(profile_to_proto(profile)),
                phases: sections,
                entry_verdicts: report
                    .entries
                    .iter()
                    .map(|v| verdict_to_proto(v, at))
                    .collect(),
                issue_tallies: tallies,
                issues,
                descopes,
                regressions: report
                    .regressions
                    .iter()
                    .map(|g| regression_section(p, profile, g, at))
                    .collect(),
                audit_required: report.audit.required,
                log_position: at,
                generated_at: Some(timestamp_from_ms(now_ms())),
                media_type,
                rendered,
                rendered_sha256,
                decisions,
            })
        })
    }
}

fn counts_to_proto(c: &CaseCounts) -> pb::CaseCounts {
    pb::CaseCounts {
        planned: c.required,
        passed: c.cases.passed,
        failed: c.cases.failed,
        blocked: c.cases.blocked,
        not_run: c.cases.not_run,
        descoped: c.cases.descoped,
        missing: c.missing,
    }
}

fn doc_version(p: &Projection, id: &PhaseId) -> String {
    p.phase(id)
        .and_then(|state| p.doc(state.doc()))
        .map(|doc| doc.revision.to_string())
        .unwrap_or_default()
}

fn phase_section(p: &Projection, id: &PhaseId, verdict: &Verdict, at: u64) -> pb::PhaseSection {
    pb::PhaseSection {
        phase: phase_to_proto(id),
        verdict: Some(verdict_to_proto(verdict, at)),
        counts: p
            .phase(id)
            .map(|state| counts_to_proto(&case_counts(state))),
        depth_breadth_version: doc_version(p, id),
    }
}

fn regression_section(
    p: &Projection,
    profile: &meterlab_governance::Profile,
    run: &RegressionSummary,
    at: u64,
) -> pb::RegressionSection {
    let id = PhaseId::Regression(run.run.clone());
    let r = &run.results;
    pb::RegressionSection {
        run: Some(regression_to_proto(&run.run)),
        verdict: Some(verdict_to_proto(&evaluate_phase_exit(p, profile, &id), at)),
        counts: Some(counts_to_proto(&run.cases)),
        results: Some(pb::ResultCounts {
            passed: r.passed,
            failed: r.failed,
            blocked: r.blocked,
            not_run: r.not_run,
            descoped: r.descoped,
        }),
        started_at: run.started_at.map(req::instant_to_proto),
        finished_at: run.finished_at.map(req::instant_to_proto),
        exited: run.exited,
        depth_breadth_version: doc_version(p, &id),
    }
}

/// One hypothetical -> the domain events it stands for.
fn hypothetical_events(
    h: &pb::HypotheticalEvent,
    scenario: &Projection,
) -> Result<Vec<Event>, FieldError> {
    use pb::hypothetical_event::Event as H;
    match &h.event {
        Some(H::UpdateIssue(u)) => req::update_issue(u)
            .map(|(_, e)| e)
            .map_err(|e| e.under("update_issue")),
        Some(H::RaiseIssue(r)) => req::raise_issue(r, scenario)
            .map(|e| vec![e])
            .map_err(|e| e.under("raise_issue")),
        Some(H::Descope(d)) => req::descope(d)
            .map(|d| vec![Event::CaseDescoped(d)])
            .map_err(|e| e.under("descope")),
        Some(H::Result(r)) => case_result_from_proto(r)
            .map(|r| vec![Event::ResultRecorded(r)])
            .map_err(|e| e.under("result")),
        Some(H::DepthBreadthStatus(s)) => {
            let doc = crate::convert::keys::dnb_key_from_proto("key", &s.key)
                .map_err(|e| e.under("depth_breadth_status"))?;
            let status = dnb_status_from_proto("depth_breadth_status.status", s.status)?;
            Ok(vec![Event::DnbStatusChanged {
                doc,
                status,
                note: "what-if".to_owned(),
            }])
        }
        Some(H::Regression(_)) => Err(FieldError::new(
            "regression",
            "is decided against the scenario by the caller",
        )),
        None => Err(FieldError::new("event", "no hypothetical event is set")),
    }
}
