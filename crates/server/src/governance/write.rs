//! The writing RPCs: each becomes one or more governance events, appended in one transaction.

use meterlab_governance::event::CaseRef;
use meterlab_governance::model::{CycleId, PhaseKind, SmsoId};
use meterlab_governance::projection::DescopeFailure;
use meterlab_governance::{Event, evaluate_descope, evaluate_start};
use meterlab_proto::v1 as pb;
use tonic::Status;

use super::{GovernanceServiceImpl, recorded};
use crate::convert::keys::{
    dnb_status_from_proto, entry_from_proto, entry_to_proto, issue_status_from_proto, required,
    required_text,
};
use crate::convert::requests::{self as req, plan_date, reason, window};
use crate::convert::verdict::{issue_to_proto, verdict_to_proto};
use crate::error::FieldError;

pub(super) fn last(acks: &[meterlab_store::Ack]) -> Result<pb::RecordedEvent, Status> {
    acks.last()
        .map(recorded)
        .ok_or_else(|| Status::internal("no event was appended"))
}

impl GovernanceServiceImpl {
    pub(super) async fn register_entry_impl(
        &self,
        r: pb::RegisterEntryRequest,
        actor: &str,
    ) -> Result<pb::RegisterEntryResponse, Status> {
        let entry = entry_from_proto(required("entry", &r.entry)?).map_err(|e| e.under("entry"))?;
        let dmc = req::dmc_id(&r)?;
        let components = req::dmc_components("dmc", required("dmc", &r.dmc)?)?;
        let events = self.ledger.read(|p, _| {
            let mut events = Vec::new();
            if p.smso(&entry.smso).is_none() {
                events.push(Event::SmsoRegistered {
                    smso: entry.smso.clone(),
                    name: entry.smso.to_string(),
                });
            }
            match p.dmc(&dmc) {
                None => events.push(Event::DmcRegistered {
                    dmc: dmc.clone(),
                    components: components.clone(),
                    supersedes: None,
                }),
                Some(known) if known.components != components => {
                    return Err(Status::failed_precondition(format!(
                        "DMC {dmc} is registered with other device models; a changed DMC needs \
                         a new id (SVTAD 13.11)"
                    )));
                }
                Some(_) => {}
            }
            events.push(Event::EntryPlanned {
                entry: entry.clone(),
            });
            Ok(events)
        })?;
        let acks = self.ledger.append(events, actor).await?;
        let required_phases = PhaseKind::all()
            .map(|k| pb::PhaseKey {
                entry: Some(entry_to_proto(&entry)),
                test_type: crate::convert::keys::test_type_to_proto(k.test).into(),
                mode: crate::convert::keys::mode_to_proto(k.mode).into(),
            })
            .collect();
        Ok(pb::RegisterEntryResponse {
            recorded: Some(last(&acks)?),
            required_phases,
        })
    }

    pub(super) async fn register_phase_impl(
        &self,
        r: pb::RegisterPhaseRequest,
        actor: &str,
    ) -> Result<pb::RecordedEvent, Status> {
        let phase = req::phase("phase", &r.phase)?;
        let mut events = vec![Event::PhaseRegistered {
            phase: phase.clone(),
        }];
        if let Some((start, end)) = window(&r.planned_start, &r.planned_end)? {
            events.push(Event::TimetablePlanned {
                phase,
                start,
                end,
                reason: reason(&r.meta, "initial plan"),
            });
        }
        last(&self.ledger.append(events, actor).await?)
    }

    pub(super) async fn start_phase_impl(
        &self,
        r: pb::StartPhaseRequest,
        actor: &str,
    ) -> Result<pb::StartPhaseResponse, Status> {
        let phase = req::phase("phase", &r.phase)?;
        let started_at = req::occurred_at(&r.meta, crate::ledger::now_ms())?;
        let (verdict, at) = self
            .ledger
            .read(|p, at| (evaluate_start(p, self.ledger.profile(), &phase), at));
        let mut response = pb::StartPhaseResponse {
            started: false,
            entry_criteria: Some(verdict_to_proto(&verdict, at)),
            recorded: None,
        };
        if verdict.is_exit() {
            let acks = self
                .ledger
                .append(
                    vec![Event::PhaseStarted {
                        phase,
                        at: Some(started_at),
                    }],
                    actor,
                )
                .await?;
            response.started = true;
            response.recorded = Some(last(&acks)?);
        }
        Ok(response)
    }

    pub(super) async fn amend_timetable_impl(
        &self,
        r: pb::AmendTimetableRequest,
        actor: &str,
    ) -> Result<pb::RecordedEvent, Status> {
        let phase = req::phase("phase", &r.phase)?;
        let start = plan_date(
            "planned_start",
            required("planned_start", &r.planned_start)?,
        )?;
        let end = plan_date("planned_end", required("planned_end", &r.planned_end)?)?;
        let reason = required_text("meta.reason", &reason(&r.meta, ""))?;
        let event = Event::TimetableAmended {
            phase,
            start,
            end,
            reason,
        };
        last(&self.ledger.append(vec![event], actor).await?)
    }

    pub(super) async fn define_cycle_impl(
        &self,
        r: pb::DefineCycleRequest,
        actor: &str,
    ) -> Result<pb::RecordedEvent, Status> {
        let cycle = CycleId::new(required_text("cycle_id", &r.cycle_id)?);
        let entries = r
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| entry_from_proto(e).map_err(|err| err.under(&format!("entries[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        let first = entries.first().ok_or_else(|| {
            FieldError::new("entries", "a cycle needs at least one planned entry")
        })?;
        let event = Event::CycleDeclared {
            cycle,
            release: first.release,
            smso: first.smso.clone(),
            entries: entries.clone(),
        };
        last(&self.ledger.append(vec![event], actor).await?)
    }

    pub(super) async fn register_depth_breadth_impl(
        &self,
        r: pb::RegisterDepthBreadthRequest,
        actor: &str,
    ) -> Result<pb::RecordedEvent, Status> {
        let document = required("document", &r.document)?;
        let doc = crate::convert::keys::dnb_key_from_proto("document.key", &document.key)?;
        let revision = req::revision("document.version", &document.version)?;
        let cases = req::case_specs(document)?;
        let mut events = Vec::new();
        if self.ledger.read(|p, _| p.smso(&doc.smso).is_none()) {
            events.push(Event::SmsoRegistered {
                smso: SmsoId::new(doc.smso.as_str()),
                name: doc.smso.to_string(),
            });
        }
        events.push(Event::DnbDrafted {
            doc,
            revision,
            cases,
        });
        last(&self.ledger.append(events, actor).await?)
    }

    pub(super) async fn set_depth_breadth_status_impl(
        &self,
        r: pb::SetDepthBreadthStatusRequest,
        actor: &str,
    ) -> Result<pb::RecordedEvent, Status> {
        let doc = crate::convert::keys::dnb_key_from_proto("key", &r.key)?;
        let status = dnb_status_from_proto("status", r.status)?;
        let revision = req::revision("version", &r.version)?;
        let current = self.ledger.read(|p, _| p.doc(&doc).map(|d| d.revision));
        match current {
            None => return Err(Status::not_found(format!("unknown {doc}"))),
            Some(c) if c != revision => {
                return Err(FieldError::new(
                    "version",
                    format!("revision {revision} is not the latest registered revision {c}"),
                )
                .into());
            }
            Some(_) => {}
        }
        let note = reason(&r.meta, "");
        let disputed = self.ledger.read(|p, _| {
            p.doc(&doc)
                .is_some_and(|d| d.status == meterlab_governance::model::DnbStatus::Disputed)
        });
        let event = if disputed && status == meterlab_governance::model::DnbStatus::Draft {
            // Back to draft from a dispute is a withdrawal: it names who and why.
            let by = if actor.is_empty() {
                r.meta.as_ref().map_or("", |m| m.actor.trim()).to_owned()
            } else {
                actor.to_owned()
            };
            if by.is_empty() {
                return Err(FieldError::new(
                    "meta.actor",
                    "withdrawing a dispute must name who withdrew it",
                )
                .into());
            }
            if note.is_empty() {
                return Err(FieldError::new(
                    "meta.reason",
                    "withdrawing a dispute must say why it is withdrawn",
                )
                .into());
            }
            Event::DnbDisputeWithdrawn {
                doc,
                by,
                reason: note,
            }
        } else {
            Event::DnbStatusChanged { doc, status, note }
        };
        last(&self.ledger.append(vec![event], actor).await?)
    }

    pub(super) async fn raise_issue_impl(
        &self,
        r: pb::RaiseIssueRequest,
        actor: &str,
    ) -> Result<pb::TestingIssue, Status> {
        let event = self.ledger.read(|p, _| req::raise_issue(&r, p))?;
        let Event::IssueRaised { issue, .. } = &event else {
            return Err(Status::internal("RaiseIssue produced an unexpected event"));
        };
        let issue = *issue;
        self.ledger.append(vec![event], actor).await?;
        self.issue(issue)
    }

    pub(super) async fn update_issue_impl(
        &self,
        r: pb::UpdateIssueRequest,
        actor: &str,
    ) -> Result<pb::TestingIssue, Status> {
        let (issue, events) = req::update_issue(&r)?;
        if !events.is_empty() {
            self.ledger.append(events, actor).await?;
        }
        self.issue(issue)
    }

    fn issue(&self, id: u64) -> Result<pb::TestingIssue, Status> {
        self.ledger
            .read(|p, _| p.issue(id).map(issue_to_proto))
            .ok_or_else(|| Status::not_found(format!("Testing Issue {id} is unknown")))
    }

    pub(super) fn list_issues_impl(
        &self,
        r: pb::ListIssuesRequest,
    ) -> Result<pb::ListIssuesResponse, Status> {
        let entry = r
            .entry
            .as_ref()
            .map(|e| entry_from_proto(e).map_err(|err| err.under("entry")))
            .transpose()?;
        let phase = r
            .phase
            .as_ref()
            .map(|_| req::phase("phase", &r.phase))
            .transpose()?;
        let statuses = r
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| issue_status_from_proto(&format!("statuses[{i}]"), *s))
            .collect::<Result<Vec<_>, _>>()?;
        let min = if r.min_severity == 0 {
            1
        } else {
            r.min_severity
        };
        let max = if r.max_severity == 0 {
            5
        } else {
            r.max_severity
        };
        let start = if r.page_token.is_empty() {
            0
        } else {
            r.page_token
                .parse::<u64>()
                .map_err(|_| FieldError::new("page_token", "is not a token this server issued"))?
        };
        let page_size = match r.page_size {
            0 => 100,
            n => n.min(1000) as usize,
        };
        let mut issues: Vec<pb::TestingIssue> = self.ledger.read(|p, _| {
            p.issues()
                .filter(|i| i.id >= start)
                .filter(|i| entry.as_ref().is_none_or(|e| i.entries.contains(e)))
                .filter(|i| phase.as_ref().is_none_or(|ph| i.phases.contains(ph)))
                .filter(|i| statuses.is_empty() || statuses.contains(&i.status))
                .filter(|i| (min..=max).contains(&u32::from(i.severity.level())))
                .take(page_size + 1)
                .map(issue_to_proto)
                .collect()
        });
        let next_page_token = if issues.len() > page_size {
            issues.pop().map(|i| i.id).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListIssuesResponse {
            issues,
            next_page_token,
        })
    }

    pub(super) async fn request_descope_impl(
        &self,
        r: pb::RequestDescopeRequest,
        actor: &str,
    ) -> Result<pb::DescopeDecision, Status> {
        let request = req::descope(&r)?;
        let (verdict, facts) = self.ledger.read(|p, _| {
            (
                evaluate_descope(p, self.ledger.profile(), &request),
                p.descope_facts(&request),
            )
        });
        let checks = descope_checks(&request.cited, &facts.failures);
        let mut decision = pb::DescopeDecision {
            accepted: false,
            checks,
            recorded: None,
        };
        if verdict.is_exit() {
            // Checked again with results for the cited case held back: a retest stored since the
            // first check decides the answer, from the state it was refused by.
            match self
                .ledger
                .append_or_refusal(vec![Event::CaseDescoped(request.clone())], actor)
                .await?
            {
                Ok(acks) => {
                    decision.accepted = true;
                    decision.recorded = Some(last(&acks)?);
                }
                Err(refusal) => {
                    let facts = refusal.state.descope_facts(&request);
                    if facts.failures.is_empty() {
                        // Refused for another reason (e.g. de-scoped meanwhile by another write).
                        return Err(crate::error::domain_status(&refusal.error));
                    }
                    decision.checks = descope_checks(&request.cited, &facts.failures);
                }
            }
        }
        Ok(decision)
    }
}

/// Rule 7's conditions, each satisfied or not, from the failures the projection measured.
fn descope_checks(cited: &CaseRef, failures: &[DescopeFailure]) -> Vec<pb::DescopeCheck> {
    use pb::DescopeCondition as C;
    let failed = |pred: &dyn Fn(&DescopeFailure) -> bool| failures.iter().find(|f| pred(f));
    let check = |condition: C, failure: Option<&DescopeFailure>, ok: String| pb::DescopeCheck {
        condition: condition.into(),
        satisfied: failure.is_none(),
        explanation: failure.map_or(ok, ToString::to_string),
    };
    vec![
        check(
            C::CaseInScope,
            failed(&|f| {
                matches!(
                    f,
                    DescopeFailure::UnknownPhase
                        | DescopeFailure::NotRequired
                        | DescopeFailure::CitesItself
                )
            }),
            "the case is on its phase's Depth & Breadth list".to_owned(),
        ),
        check(
            C::CitedResultExists,
            failed(&|f| matches!(f, DescopeFailure::CitedMissing)),
            format!("a result of {} case {} exists", cited.phase, cited.case),
        ),
        check(
            C::CitedResultPassed,
            failed(&|f| {
                matches!(
                    f,
                    DescopeFailure::CitedNotPassed(_) | DescopeFailure::CitedMissing
                )
            }),
            "the cited result's last attempt passed".to_owned(),
        ),
        check(
            C::SameSrv,
            failed(&|f| {
                matches!(
                    f,
                    DescopeFailure::SrvUnknown | DescopeFailure::SrvMismatch { .. }
                )
            }),
            "both cases exercise the same Service Request Variant".to_owned(),
        ),
        check(
            C::RationaleGiven,
            failed(&|f| matches!(f, DescopeFailure::NoRationale)),
            "a rationale is recorded".to_owned(),
        ),
    ]
}
