//! The governance projection as a store [`Projector`]: how stored events become governance state.
//!
//! Two kinds of event feed it: governance events written by the GovernanceService
//! ([`GOVERNANCE_KIND`], the serde form of `meterlab_governance::VersionedEvent`) and results
//! ingested by the ResultService ([`RESULT_KIND`]). Events of other kinds belong to other
//! projections and are counted, not applied.
//!
//! An event the domain refuses (it would make the state inconsistent) is recorded as *refused*
//! with its reason instead of stopping the replay: the server validates every event before
//! appending it, so a refusal only arises from a race it documents (a de-scope whose cited result
//! changed while it was being written). Because refusal is a pure function of the log order, a
//! rebuild refuses exactly the same events and the fingerprint still matches.

use std::collections::BTreeMap;

use meterlab_governance::model::CaseStatus;
use meterlab_governance::model::{CaseId, DnbKey, DnbStatus, IssueId, IssueStatus, PhaseId};
use meterlab_governance::{DomainError, Event, Projection, VersionedEvent};
use meterlab_store::{Hash, Projector, StoredEvent};
use sha2::{Digest, Sha256};

use crate::convert::result::{RESULT_KIND, case_result_from_body};
use crate::error::StoredEventError;

/// Store `kind` of a governance event.
pub const GOVERNANCE_KIND: &str = "meterlab.governance/1";
/// Name of the projection's checkpoints in the store.
/// v2: the fingerprint covers start and finish times and result tallies; checkpoints of v1 (a
/// different fingerprint of the same state) are not compared.
/// v3: a new revision of a disputed Depth & Breadth document is refused (a dispute ends only by
/// agreement, determination or a recorded withdrawal), so an old log that redrafted one projects
/// differently; v2 checkpoints are not compared.
pub const PROJECTION_NAME: &str = "meterlab-server.governance.v3";

/// The top-level payload field naming the principal that caused a governance event. Logs
/// written before attribution lack it and still decode (it is optional), and the chain hashes
/// the payload bytes, so the principal is inside the hash chain.
pub const ACTOR_FIELD: &str = "actor";

/// The stored body of a governance event: its versioned serde form, plus `"actor"` when known.
pub fn encode_governance(event: Event, actor: &str) -> Result<Vec<u8>, serde_json::Error> {
    let mut body = serde_json::to_vec(&VersionedEvent::from(event))?;
    if !actor.is_empty() && body.last() == Some(&b'}') {
        // Appended in place so the event's own fields keep their serialised order.
        body.pop();
        body.extend_from_slice(b",\"");
        body.extend_from_slice(ACTOR_FIELD.as_bytes());
        body.extend_from_slice(b"\":");
        body.extend_from_slice(&serde_json::to_vec(actor)?);
        body.push(b'}');
    }
    Ok(body)
}

#[derive(serde::Deserialize)]
struct ActorOnly {
    #[serde(default)]
    actor: String,
}

/// The principal recorded in a governance event's body; empty for events written before
/// attribution or without a principal.
pub fn governance_actor(body: &[u8]) -> Result<String, serde_json::Error> {
    Ok(serde_json::from_slice::<ActorOnly>(body)?.actor)
}

/// A decision a verdict rests on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionSubject {
    /// A Depth & Breadth document was agreed.
    DnbAgreed(DnbKey),
    /// A case of a phase was de-scoped.
    Descoped(PhaseId, CaseId),
    /// A Testing Issue was closed.
    IssueClosed(IssueId),
}

impl std::fmt::Display for DecisionSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecisionSubject::DnbAgreed(doc) => write!(f, "dnb-agreed {doc}"),
            DecisionSubject::Descoped(phase, case) => write!(f, "descoped {phase} {case}"),
            DecisionSubject::IssueClosed(issue) => write!(f, "issue-closed {issue}"),
        }
    }
}

/// Who recorded a decision, where and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub subject: DecisionSubject,
    /// Empty when the event carries no principal (written before attribution).
    pub actor: String,
    pub seq: u64,
    pub timestamp_ms: i64,
}

/// Governance state derived from the log.
#[derive(Debug, Clone, Default)]
pub struct GovernanceProjector {
    projection: Projection,
    refused: BTreeMap<u64, String>,
    foreign: u64,
    /// Results of phases this log does not register, stored by a lab gateway for its upstream.
    governed_upstream: u64,
    decisions: Vec<Decision>,
}

impl GovernanceProjector {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn projection(&self) -> &Projection {
        &self.projection
    }

    /// Why the event at log position `seq` was refused, if it was.
    pub fn refusal(&self, seq: u64) -> Option<&str> {
        self.refused.get(&seq).map(String::as_str)
    }

    /// The attributed decisions applied so far, in log order.
    pub fn decisions(&self) -> &[Decision] {
        &self.decisions
    }

    /// Results a lab gateway stored for phases governed upstream (not in this log).
    pub fn governed_upstream_count(&self) -> u64 {
        self.governed_upstream
    }

    /// Number of refused events.
    pub fn refused_count(&self) -> usize {
        self.refused.len()
    }

    /// Decodes a stored event into its governance event; `None` for other kinds.
    pub fn decode(event: &StoredEvent) -> Result<Option<Event>, StoredEventError> {
        match event.payload.kind.as_str() {
            GOVERNANCE_KIND => Ok(Some(
                serde_json::from_slice::<VersionedEvent>(&event.payload.body)?.into_event(),
            )),
            RESULT_KIND => {
                case_result_from_body(&event.payload.body).map(|r| Some(Event::ResultRecorded(r)))
            }
            _ => Ok(None),
        }
    }
}

fn decision_subject(event: &Event) -> Option<DecisionSubject> {
    match event {
        Event::DnbStatusChanged {
            doc,
            status: DnbStatus::Agreed,
            ..
        } => Some(DecisionSubject::DnbAgreed(doc.clone())),
        Event::CaseDescoped(request) => Some(DecisionSubject::Descoped(
            request.phase.clone(),
            request.case.clone(),
        )),
        Event::IssueStatusChanged {
            issue,
            status: IssueStatus::Closed,
            ..
        } => Some(DecisionSubject::IssueClosed(*issue)),
        _ => None,
    }
}

impl Projector for GovernanceProjector {
    type Error = StoredEventError;

    fn name(&self) -> &str {
        PROJECTION_NAME
    }

    fn apply(&mut self, event: &StoredEvent) -> Result<(), StoredEventError> {
        match Self::decode(event)? {
            None => self.foreign += 1,
            Some(domain) => match self.projection.apply(&domain) {
                // Only a lab gateway (`serve --upstream`) stores results of phases its log does
                // not register (every other path checks the phase before writing): they are
                // governed upstream, so counted here, not refused one warning at a time.
                Err(DomainError::UnknownPhase(_)) if matches!(domain, Event::ResultRecorded(_)) => {
                    self.governed_upstream += 1;
                }
                Err(error) => {
                    tracing::warn!(seq = event.seq, %error, "governance projection refused a stored event");
                    self.refused.insert(event.seq, error.to_string());
                }
                Ok(()) => {
                    if let Some(subject) = decision_subject(&domain) {
                        self.decisions.push(Decision {
                            subject,
                            actor: governance_actor(&event.payload.body)?,
                            seq: event.seq,
                            timestamp_ms: event.timestamp_ms,
                        });
                    }
                }
            },
        }
        Ok(())
    }

    fn fingerprint(&self) -> Hash {
        let p = &self.projection;
        let mut h = Sha256::new();
        let mut line = |text: String| {
            h.update(text.as_bytes());
            h.update(b"\n");
        };
        line(format!("applied {} foreign {}", p.seq(), self.foreign));
        if self.governed_upstream > 0 {
            // Only in a lab gateway's log, so the fingerprints of other logs stay as they were.
            line(format!("governed upstream {}", self.governed_upstream));
        }
        for (seq, reason) in &self.refused {
            line(format!("refused {seq} {reason}"));
        }
        for (key, entry) in p.entries() {
            line(format!(
                "entry {key} phases {} issues {:?} changes {}",
                entry.phases().len(),
                entry.issue_counts().0,
                entry.changes().len()
            ));
        }
        for id in p.phase_ids() {
            if let Some(phase) = p.phase(id) {
                let c = phase.coverage();
                let tally = phase.result_tally();
                line(format!(
                    "phase {id} started {:?} at {:?} exited {:?} at {:?} results {:?} \
                     coverage {}/{}/{} issues {:?} descopes {} timetable {} unsatisfied {:?}",
                    phase.started(),
                    phase.started_at().map(|t| t.to_string()),
                    phase.exited().map(|(seq, _)| *seq),
                    phase.exited_at().map(|t| t.to_string()),
                    CaseStatus::ALL.map(|s| tally.get(s)),
                    c.required,
                    c.passed,
                    c.descoped,
                    phase.issue_counts().0,
                    phase.descopes().count(),
                    phase.timetable().len(),
                    phase.unsatisfied(),
                ));
                if let Some(doc) = p.doc(phase.doc()) {
                    line(format!(
                        "doc {} {} rev {} cases {}",
                        phase.doc(),
                        doc.status.as_str(),
                        doc.revision,
                        doc.cases.len()
                    ));
                }
            }
        }
        for issue in p.issues() {
            line(format!(
                "issue {} {} {} links {} history {}",
                issue.id,
                issue.severity,
                issue.status.as_str(),
                issue.links.len(),
                issue.history.len()
            ));
        }
        h.finalize().into()
    }
}

#[cfg(test)]
mod attribution_tests {
    use meterlab_governance::Event;
    use meterlab_governance::model::SmsoId;
    use meterlab_store::{Payload, StoredEvent};

    use super::*;

    fn stored(body: Vec<u8>) -> StoredEvent {
        StoredEvent {
            seq: 1,
            timestamp_ms: 0,
            key: None,
            payload: Payload::new(GOVERNANCE_KIND, body),
            hash: [0; 32],
        }
    }

    #[test]
    fn events_with_and_without_an_actor_decode_to_the_same_event() {
        let event = Event::SmsoRegistered {
            smso: SmsoId::new("smso-a"),
            name: "A".into(),
        };
        // The form written before attribution (no `actor`).
        let old = serde_json::to_vec(&VersionedEvent::from(event.clone())).expect("encodes");
        let new = encode_governance(event.clone(), "maria \"the\" manager").expect("encodes");
        assert!(
            new.starts_with(&old[..old.len() - 1]),
            "fields keep their order"
        );
        for (body, actor) in [(old, ""), (new, "maria \"the\" manager")] {
            let decoded = GovernanceProjector::decode(&stored(body.clone())).expect("decodes");
            assert_eq!(decoded, Some(event.clone()));
            assert_eq!(governance_actor(&body).expect("actor"), actor);
        }
    }
}
