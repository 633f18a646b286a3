//! GovernanceService calls: planning, Depth & Breadth, Testing Issues, de-scoping, regression
//! runs, DMC changes and evaluations, in governance domain values.

use meterlab_governance::Verdict;
use meterlab_governance::model::{DmcComponents, DnbKey, DnbStatus, EntryKey, TestPhase};
use meterlab_proto::v1 as pb;

use crate::convert::{
    self, FieldProblem, VerdictKind, case_ref_to_proto, dmc_to_proto, dnb_key_to_proto,
    entry_to_proto, issue_status_to_proto, phase_to_proto,
};
use crate::error::{ClientError, Result};
use crate::types::{
    DescopeCheck, DescopeDecision, DescopeRequest, DmcChangeKind, DmcChangeOutcome,
    DmcChangeRequest, DnbDocument, Hypothetical, IssueFilter, IssueUpdate, NewIssue, PhaseCase,
    PhaseStart, PlannedEntry, Recorded, RegressionRecord, TestingIssue, WhatIf,
};
use crate::{Client, convert::regression_kind_to_proto};

/// Reads an answer's field, naming the RPC on failure.
pub(crate) fn read<T>(rpc: &'static str, value: Result<T, FieldProblem>) -> Result<T> {
    value.map_err(|(field, problem)| ClientError::answer(rpc, field, problem))
}

pub(crate) fn recorded(recorded: Option<&pb::RecordedEvent>) -> Option<Recorded> {
    recorded.map(|r| Recorded {
        log_position: r.log_position,
        event_sha256: r.event_sha256.iter().map(|b| format!("{b:02x}")).collect(),
    })
}

fn required_recorded(rpc: &'static str, value: Option<&pb::RecordedEvent>) -> Result<Recorded> {
    recorded(value).ok_or_else(|| ClientError::answer(rpc, "recorded", "is missing"))
}

fn phases_from_proto(
    rpc: &'static str,
    field: &str,
    phases: &[pb::PhaseKey],
) -> Result<Vec<TestPhase>> {
    phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            read(
                rpc,
                convert::phase_from_proto(p).map_err(|(f, e)| (format!("{field}[{i}].{f}"), e)),
            )
        })
        .collect()
}

pub(crate) fn issue_from_proto(issue: &pb::TestingIssue) -> Result<TestingIssue, FieldProblem> {
    let phases = issue
        .phases
        .iter()
        .enumerate()
        .map(|(i, p)| {
            convert::phase_from_proto(p).map_err(|(f, e)| (format!("phases[{i}].{f}"), e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cases = issue
        .cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let phase = c
                .phase
                .as_ref()
                .ok_or_else(|| (format!("cases[{i}].phase"), "is missing".to_owned()))?;
            Ok(PhaseCase {
                phase: convert::phase_from_proto(phase)
                    .map_err(|(f, e)| (format!("cases[{i}].phase.{f}"), e))?,
                case: meterlab_governance::model::CaseId::new(c.case_id.clone()),
            })
        })
        .collect::<Result<Vec<_>, FieldProblem>>()?;
    Ok(TestingIssue {
        id: issue.id.clone(),
        severity: convert::severity_from_proto("severity", issue.severity)?,
        status: convert::issue_status_from_proto("status", issue.status)?,
        title: issue.title.clone(),
        description: issue.description.clone(),
        workaround: Some(issue.workaround.clone()).filter(|w| !w.is_empty()),
        phases,
        cases,
        log_position: issue.log_position,
    })
}

fn case_refs(cases: &[PhaseCase]) -> Vec<pb::CaseRef> {
    cases
        .iter()
        .map(|c| case_ref_to_proto(&c.phase, &c.case))
        .collect()
}

fn timestamp(at: std::time::SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(at)
}

impl Client {
    /// Plans an EPCL entry for a DMC; answers with the phases rule 1 requires.
    pub async fn register_entry(
        &self,
        entry: &EntryKey,
        dmc: &DmcComponents,
        reason: &str,
    ) -> Result<PlannedEntry> {
        const RPC: &str = "RegisterEntry";
        let answer = self
            .governance()
            .register_entry(pb::RegisterEntryRequest {
                entry: Some(entry_to_proto(entry)),
                dmc: Some(dmc_to_proto(&entry.dmc, dmc)),
                meta: self.meta(reason),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        Ok(PlannedEntry {
            recorded: required_recorded(RPC, answer.recorded.as_ref())?,
            required_phases: phases_from_proto(RPC, "required_phases", &answer.required_phases)?,
        })
    }

    /// Plans a phase, optionally with its planned window.
    pub async fn register_phase(
        &self,
        phase: &TestPhase,
        window: Option<(std::time::SystemTime, std::time::SystemTime)>,
        reason: &str,
    ) -> Result<Recorded> {
        const RPC: &str = "RegisterPhase";
        let (planned_start, planned_end) = match window {
            Some((start, end)) => (Some(timestamp(start)), Some(timestamp(end))),
            None => (None, None),
        };
        let answer = self
            .governance()
            .register_phase(pb::RegisterPhaseRequest {
                phase: Some(phase_to_proto(phase)),
                planned_start,
                planned_end,
                meta: self.meta(reason),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        required_recorded(RPC, Some(&answer))
    }

    /// Starts a phase if its entry criteria (rule 3) are met; a refusal is an answer.
    pub async fn start_phase(&self, phase: &TestPhase, reason: &str) -> Result<PhaseStart> {
        const RPC: &str = "StartPhase";
        let answer = self
            .governance()
            .start_phase(pb::StartPhaseRequest {
                phase: Some(phase_to_proto(phase)),
                meta: self.meta(reason),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        let verdict = answer
            .entry_criteria
            .as_ref()
            .ok_or_else(|| ClientError::answer(RPC, "entry_criteria", "is missing"))?;
        Ok(PhaseStart {
            started: answer.started,
            entry_criteria: read(
                RPC,
                convert::verdict_from_proto(verdict, VerdictKind::PhaseStart, &[]),
            )?,
            recorded: recorded(answer.recorded.as_ref()),
        })
    }

    /// Groups planned entries into a test cycle.
    pub async fn define_cycle(
        &self,
        cycle_id: &str,
        entries: &[EntryKey],
        reason: &str,
    ) -> Result<Recorded> {
        const RPC: &str = "DefineCycle";
        let answer = self
            .governance()
            .define_cycle(pb::DefineCycleRequest {
                cycle_id: cycle_id.to_owned(),
                entries: entries.iter().map(entry_to_proto).collect(),
                meta: self.meta(reason),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        required_recorded(RPC, Some(&answer))
    }

    /// Registers a Depth & Breadth document (a new document or version starts as draft).
    pub async fn register_depth_breadth(
        &self,
        document: &DnbDocument,
        reason: &str,
    ) -> Result<Recorded> {
        const RPC: &str = "RegisterDepthBreadth";
        let answer = self
            .governance()
            .register_depth_breadth(pb::RegisterDepthBreadthRequest {
                document: Some(pb::DepthBreadthDocument {
                    key: Some(dnb_key_to_proto(&document.key)),
                    version: document.version.clone(),
                    cases: document
                        .cases
                        .iter()
                        .map(|case| pb::DepthBreadthCase {
                            case_id: case.spec.case.to_string(),
                            case_content_sha256: case.content_sha256.to_vec(),
                            srv: case.spec.srv.to_string(),
                            modes: case
                                .spec
                                .modes
                                .iter()
                                .map(|m| i32::from(convert::mode_to_proto(*m)))
                                .collect(),
                        })
                        .collect(),
                    status: pb::DepthBreadthStatus::Draft.into(),
                }),
                meta: self.meta(reason),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        required_recorded(RPC, Some(&answer))
    }

    /// Records a Depth & Breadth status (agree, dispute, refer, determine) of `version`.
    pub async fn set_depth_breadth_status(
        &self,
        key: &DnbKey,
        version: &str,
        status: DnbStatus,
        reason: &str,
    ) -> Result<Recorded> {
        const RPC: &str = "SetDepthBreadthStatus";
        let answer = self
            .governance()
            .set_depth_breadth_status(pb::SetDepthBreadthStatusRequest {
                key: Some(dnb_key_to_proto(key)),
                status: convert::dnb_status_to_proto(status).into(),
                version: version.to_owned(),
                meta: self.meta(reason),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        required_recorded(RPC, Some(&answer))
    }

    /// Raises a Testing Issue.
    pub async fn raise_issue(&self, issue: &NewIssue, reason: &str) -> Result<TestingIssue> {
        const RPC: &str = "RaiseIssue";
        let answer = self
            .governance()
            .raise_issue(raise_request(issue, self.meta(reason)))
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        read(RPC, issue_from_proto(&answer))
    }

    /// Updates a Testing Issue (status, severity, text, links added).
    pub async fn update_issue(
        &self,
        id: &str,
        update: &IssueUpdate,
        reason: &str,
    ) -> Result<TestingIssue> {
        const RPC: &str = "UpdateIssue";
        let answer = self
            .governance()
            .update_issue(update_request(id, update, self.meta(reason)))
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        read(RPC, issue_from_proto(&answer))
    }

    /// Every Testing Issue matching `filter` (all pages).
    pub async fn list_issues(&self, filter: &IssueFilter) -> Result<Vec<TestingIssue>> {
        const RPC: &str = "ListIssues";
        let mut issues = Vec::new();
        let mut page_token = String::new();
        loop {
            let answer = self
                .governance()
                .list_issues(pb::ListIssuesRequest {
                    entry: filter.entry.as_ref().map(entry_to_proto),
                    phase: filter.phase.as_ref().map(phase_to_proto),
                    statuses: filter
                        .statuses
                        .iter()
                        .map(|s| i32::from(issue_status_to_proto(*s)))
                        .collect(),
                    min_severity: filter.min_severity.map_or(0, |s| u32::from(s.level())),
                    max_severity: filter.max_severity.map_or(0, |s| u32::from(s.level())),
                    page_size: 0,
                    page_token: page_token.clone(),
                })
                .await
                .map_err(|s| ClientError::status(RPC, &s))?
                .into_inner();
            for (index, issue) in answer.issues.iter().enumerate() {
                issues.push(read(
                    RPC,
                    issue_from_proto(issue).map_err(|(f, e)| (format!("issues[{index}].{f}"), e)),
                )?);
            }
            if answer.next_page_token.is_empty() || answer.next_page_token == page_token {
                return Ok(issues);
            }
            page_token = answer.next_page_token;
        }
    }

    /// Asks to de-scope a case (rule 7); a refusal is an answer listing the unmet conditions.
    pub async fn request_descope(
        &self,
        request: &DescopeRequest,
        reason: &str,
    ) -> Result<DescopeDecision> {
        const RPC: &str = "RequestDescope";
        let answer = self
            .governance()
            .request_descope(descope_request(request, self.meta(reason)))
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        Ok(DescopeDecision {
            accepted: answer.accepted,
            checks: answer
                .checks
                .iter()
                .map(|c| DescopeCheck {
                    condition: descope_condition(c.condition),
                    satisfied: c.satisfied,
                    explanation: c.explanation.clone(),
                })
                .collect(),
            recorded: recorded(answer.recorded.as_ref()),
        })
    }

    /// Records a regression run (registration, start, exit) in one transaction (rule 6).
    pub async fn record_regression_run(
        &self,
        run: &RegressionRecord,
        reason: &str,
    ) -> Result<Recorded> {
        const RPC: &str = "RecordRegressionRun";
        use pb::regression_run::Scope;
        let scope = match &run.scope {
            meterlab_governance::model::RegressionScope::Entry(e) => {
                Scope::Entry(entry_to_proto(e))
            }
            meterlab_governance::model::RegressionScope::Cycle(c) => Scope::CycleId(c.to_string()),
        };
        let request = pb::RecordRegressionRunRequest {
            run: Some(pb::RegressionRun {
                regression_id: run.regression_id.clone(),
                scope: Some(scope),
                kind: regression_kind_to_proto(run.kind).into(),
                run_id: run.run_id.clone(),
                on_migrated_devices: run.on_migrated_devices,
                case_ids: run.case_ids.iter().map(ToString::to_string).collect(),
                started_at: run.started_at.map(timestamp),
                finished_at: run.finished_at.map(timestamp),
                results: Vec::new(),
            }),
            meta: self.meta(reason),
        };
        let answer = self
            .governance()
            .record_regression_run(request)
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        required_recorded(RPC, Some(&answer))
    }

    /// Records a DMC de-selection, reintroduction, firmware or model change (rule 8).
    pub async fn record_dmc_change(
        &self,
        change: &DmcChangeRequest,
        reason: &str,
    ) -> Result<DmcChangeOutcome> {
        const RPC: &str = "RecordDmcChange";
        let (kind, changed) = match &change.kind {
            DmcChangeKind::Deselected => (pb::DmcChangeKind::Deselected, None),
            DmcChangeKind::Reintroduced { changed } => (
                pb::DmcChangeKind::Reintroduced,
                Some(dmc_to_proto(&change.dmc, changed)),
            ),
            DmcChangeKind::FirmwareOnly { changed } => (
                pb::DmcChangeKind::FirmwareOnly,
                Some(dmc_to_proto(&change.dmc, changed)),
            ),
            DmcChangeKind::ModelChange { new_id, changed } => (
                pb::DmcChangeKind::ModelChange,
                Some(dmc_to_proto(new_id, changed)),
            ),
        };
        let answer = self
            .governance()
            .record_dmc_change(pb::RecordDmcChangeRequest {
                dmc_id: change.dmc.to_string(),
                kind: kind.into(),
                changed,
                major: change.major,
                meta: self.meta(reason),
                reason: change.reason.clone(),
                tag_consultation: change.tag_consultation.clone(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        Ok(DmcChangeOutcome {
            recorded: required_recorded(RPC, answer.recorded.as_ref())?,
            route: match answer.route() {
                pb::ConsultationRoute::Tag => "tag",
                pb::ConsultationRoute::Full => "full",
                pb::ConsultationRoute::None | pb::ConsultationRoute::Unspecified => "none",
            }
            .to_owned(),
            required_phases: phases_from_proto(RPC, "required_phases", &answer.required_phases)?,
        })
    }

    /// The exit verdict of a phase (rules 4 and 5) under `profile` (the gateway's when `None`).
    pub async fn evaluate_phase(
        &self,
        phase: &TestPhase,
        profile: Option<&str>,
    ) -> Result<Verdict> {
        const RPC: &str = "EvaluatePhase";
        let answer = self
            .governance()
            .evaluate_phase(pb::EvaluatePhaseRequest {
                phase: Some(phase_to_proto(phase)),
                profile: profile.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        read(
            RPC,
            convert::verdict_from_proto(&answer, VerdictKind::PhaseExit, &[]),
        )
    }

    /// The aggregate verdict of a planned entry (rule 5).
    pub async fn evaluate_entry(&self, entry: &EntryKey, profile: Option<&str>) -> Result<Verdict> {
        const RPC: &str = "EvaluateEntry";
        let answer = self
            .governance()
            .evaluate_entry(pb::EvaluateEntryRequest {
                entry: Some(entry_to_proto(entry)),
                profile: profile.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        read(
            RPC,
            convert::verdict_from_proto(&answer, VerdictKind::Aggregate, &[]),
        )
    }

    /// The verdict of a test cycle (rule 6).
    pub async fn evaluate_cycle(&self, cycle_id: &str, profile: Option<&str>) -> Result<Verdict> {
        const RPC: &str = "EvaluateCycle";
        let answer = self
            .governance()
            .evaluate_cycle(pb::EvaluateCycleRequest {
                cycle_id: cycle_id.to_owned(),
                profile: profile.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        read(
            RPC,
            convert::verdict_from_proto(&answer, VerdictKind::Aggregate, &[]),
        )
    }

    /// The exit verdict of `phase` now and as if `events` had been recorded; nothing is written.
    pub async fn what_if_phase(
        &self,
        phase: &TestPhase,
        events: &[Hypothetical],
        profile: Option<&str>,
    ) -> Result<WhatIf> {
        self.what_if(
            pb::what_if_request::Target::Phase(phase_to_proto(phase)),
            VerdictKind::PhaseExit,
            events,
            profile,
        )
        .await
    }

    /// An entry's aggregate verdict now and as if `events` had been recorded (nothing is).
    pub async fn what_if_entry(
        &self,
        entry: &EntryKey,
        events: &[Hypothetical],
        profile: Option<&str>,
    ) -> Result<WhatIf> {
        self.what_if(
            pb::what_if_request::Target::Entry(entry_to_proto(entry)),
            VerdictKind::Aggregate,
            events,
            profile,
        )
        .await
    }

    async fn what_if(
        &self,
        target: pb::what_if_request::Target,
        kind: VerdictKind,
        events: &[Hypothetical],
        profile: Option<&str>,
    ) -> Result<WhatIf> {
        const RPC: &str = "WhatIf";
        let meta = self.meta("what-if");
        let answer = self
            .governance()
            .what_if(pb::WhatIfRequest {
                target: Some(target),
                events: events
                    .iter()
                    .map(|event| hypothetical_to_proto(event, meta.clone()))
                    .collect(),
                profile: profile.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        let assumptions: Vec<String> = events.iter().map(describe_hypothetical).collect();
        let verdict = |field: &'static str, v: Option<&pb::Verdict>, assumptions: &[String]| {
            let v = v.ok_or_else(|| ClientError::answer(RPC, field, "is missing"))?;
            read(
                RPC,
                convert::verdict_from_proto(v, kind, assumptions)
                    .map_err(|(f, e)| (format!("{field}.{f}"), e)),
            )
        };
        Ok(WhatIf {
            current: verdict("current", answer.current.as_ref(), &[])?,
            hypothetical: verdict("hypothetical", answer.hypothetical.as_ref(), &assumptions)?,
            rejected: answer
                .rejected
                .iter()
                .map(|r| (r.index, r.reason.clone()))
                .collect(),
        })
    }
}

fn raise_request(issue: &NewIssue, meta: Option<pb::EventMeta>) -> pb::RaiseIssueRequest {
    pb::RaiseIssueRequest {
        id: issue.id.clone().unwrap_or_default(),
        severity: u32::from(issue.severity.level()),
        title: issue.title.clone(),
        description: issue.description.clone(),
        phases: issue.phases.iter().map(phase_to_proto).collect(),
        cases: case_refs(&issue.cases),
        meta,
    }
}

fn update_request(
    id: &str,
    update: &IssueUpdate,
    meta: Option<pb::EventMeta>,
) -> pb::UpdateIssueRequest {
    pb::UpdateIssueRequest {
        id: id.to_owned(),
        severity: update.severity.map(|s| u32::from(s.level())),
        status: update.status.map(|s| i32::from(issue_status_to_proto(s))),
        title: update.title.clone(),
        description: update.description.clone(),
        workaround: update.workaround.clone(),
        add_phases: update.add_phases.iter().map(phase_to_proto).collect(),
        add_cases: case_refs(&update.add_cases),
        meta,
    }
}

fn descope_request(
    request: &DescopeRequest,
    meta: Option<pb::EventMeta>,
) -> pb::RequestDescopeRequest {
    let (device_id, attempt) = request.cited.device_and_attempt.clone().unwrap_or_default();
    pb::RequestDescopeRequest {
        case: Some(case_ref_to_proto(&request.case.phase, &request.case.case)),
        cited: Some(pb::CitedResult {
            case: Some(case_ref_to_proto(
                &request.cited.case.phase,
                &request.cited.case.case,
            )),
            device_id,
            attempt,
        }),
        rationale: request.rationale.clone(),
        meta,
    }
}

fn hypothetical_to_proto(
    event: &Hypothetical,
    meta: Option<pb::EventMeta>,
) -> pb::HypotheticalEvent {
    use pb::hypothetical_event::Event;
    pb::HypotheticalEvent {
        event: Some(match event {
            Hypothetical::UpdateIssue { id, update } => {
                Event::UpdateIssue(update_request(id, update, meta))
            }
            Hypothetical::RaiseIssue(issue) => Event::RaiseIssue(raise_request(issue, meta)),
            Hypothetical::Descope(request) => Event::Descope(descope_request(request, meta)),
        }),
    }
}

fn describe_hypothetical(event: &Hypothetical) -> String {
    match event {
        Hypothetical::UpdateIssue { id, update } => {
            let mut what = vec![format!("issue {id}")];
            if let Some(status) = update.status {
                what.push(format!("status {}", status.as_str()));
            }
            if let Some(severity) = update.severity {
                what.push(format!("severity {severity}"));
            }
            what.join(" ")
        }
        Hypothetical::RaiseIssue(issue) => {
            format!("new {} issue {:?}", issue.severity, issue.title)
        }
        Hypothetical::Descope(request) => format!(
            "de-scope of {} in {}",
            request.case.case, request.case.phase.kind
        ),
    }
}

fn descope_condition(raw: i32) -> String {
    match pb::DescopeCondition::try_from(raw) {
        Ok(pb::DescopeCondition::CaseInScope) => "case_in_scope",
        Ok(pb::DescopeCondition::CitedResultExists) => "cited_result_exists",
        Ok(pb::DescopeCondition::CitedResultPassed) => "cited_result_passed",
        Ok(pb::DescopeCondition::SameSrv) => "same_srv",
        Ok(pb::DescopeCondition::RationaleGiven) => "rationale_given",
        _ => "unspecified",
    }
    .to_owned()
}
