//! `TestCaseResult` -> the governance `CaseResult`, and the stored form of an ingested result.
//!
//! The stored body of a result is the protobuf encoding of
//! `SubmitResult { key: { run_id }, result }` as re-encoded by the server (fields in field-number
//! order, unknown fields dropped): exactly the "content" of the idempotency contract in
//! `result.proto`, so the store's byte comparison is the contract's content comparison and
//! `content_sha256` is the SHA-256 of the body.
//!
//! Since results are attributed, the stored body also carries the principal that submitted it
//! (field [`RECORDED_BY_TAG`], unknown to `SubmitResult`, so decoding ignores it and bodies
//! stored before attribution read and verify as before). It is not part of the content: the
//! same result resent by another principal is a replay, not a conflict, and keeps its first
//! attribution.

use meterlab_governance::event::CaseResult;
use meterlab_governance::model::{CaseId, PhaseId};
use meterlab_proto::v1 as pb;
use prost::Message;
use sha2::{Digest, Sha256};

use super::keys::{
    case_status_from_proto, phase_from_proto, regression_from_proto, required, required_text,
    sha256_hex,
};
use crate::error::{FieldError, StoredEventError};

/// The field number of the submitting principal appended to a stored result body.
pub const RECORDED_BY_TAG: u32 = 100;

/// The attribution appended to a stored result body.
#[derive(Clone, PartialEq, Message)]
struct Attribution {
    #[prost(string, tag = "100")]
    recorded_by: String,
}

/// Appends who submitted the result to its stored body (nothing for an unknown principal).
pub fn attribute(checked: &mut CheckedResult, principal: &str) {
    if !principal.is_empty() {
        Attribution {
            recorded_by: principal.to_owned(),
        }
        .encode_raw(&mut checked.body);
    }
}

/// The principal recorded with a stored result body; `None` for bodies stored before
/// attribution (or by an unauthenticated in-process writer).
pub fn recorded_by(body: &[u8]) -> Option<String> {
    Attribution::decode(body)
        .ok()
        .map(|a| a.recorded_by)
        .filter(|p| !p.is_empty())
}

/// The content of a stored result body: the body without its attribution.
pub fn content_of(body: &[u8]) -> Option<Vec<u8>> {
    pb::SubmitResult::decode(body)
        .ok()
        .map(|submit| submit.encode_to_vec())
}

/// Whether two stored bodies hold the same result, whoever submitted them.
pub fn same_content(a: &[u8], b: &[u8]) -> bool {
    a == b || matches!((content_of(a), content_of(b)), (Some(x), Some(y)) if x == y)
}

/// Store `kind` of an ingested result.
pub const RESULT_KIND: &str = "meterlab.v1.TestCaseResult";

/// A submitted result that passed every field check.
#[derive(Debug, Clone)]
pub struct CheckedResult {
    pub source: String,
    pub run_id: String,
    pub seq: u64,
    /// The governance event body.
    pub case: CaseResult,
    /// The stored body (see the module docs).
    pub body: Vec<u8>,
    pub content_sha256: [u8; 32],
}

/// Checks every field of a submission; the error names the first bad field by its dotted path
/// from `SubmitResult` (e.g. `result.phase.mode`).
pub fn check_submission(submit: &pb::SubmitResult) -> Result<CheckedResult, FieldError> {
    let key = required("key", &submit.key)?;
    let source = required_text("key.source", &key.source)?;
    let run_id = required_text("key.run_id", &key.run_id)?;
    if key.seq == 0 || key.seq > i64::MAX as u64 {
        return Err(FieldError::new(
            "key.seq",
            format!("must be in 1..={}, got {}", i64::MAX, key.seq),
        ));
    }
    let result = required("result", &submit.result)?;
    let case = case_result_from_proto(result).map_err(|e| e.under("result"))?;
    let body = content_body(&run_id, result);
    let content_sha256 = Sha256::digest(&body).into();
    Ok(CheckedResult {
        source,
        run_id,
        seq: key.seq,
        case,
        body,
        content_sha256,
    })
}

/// The stored body of a result: the idempotency "content".
pub fn content_body(run_id: &str, result: &pb::TestCaseResult) -> Vec<u8> {
    pb::SubmitResult {
        key: Some(pb::ResultKey {
            source: String::new(),
            run_id: run_id.to_owned(),
            seq: 0,
        }),
        result: Some(result.clone()),
    }
    .encode_to_vec()
}

/// Decodes a stored result body back into its governance event (used by the projection replay).
pub fn case_result_from_body(body: &[u8]) -> Result<CaseResult, StoredEventError> {
    let submit = pb::SubmitResult::decode(body)?;
    let result = submit
        .result
        .as_ref()
        .ok_or(StoredEventError::ResultMissing)?;
    case_result_from_proto(result).map_err(StoredEventError::ResultInvalid)
}

/// Field checks of one `TestCaseResult`; paths are relative to it.
pub fn case_result_from_proto(r: &pb::TestCaseResult) -> Result<CaseResult, FieldError> {
    let phase = match (&r.phase, &r.regression) {
        (Some(_), Some(_)) => {
            return Err(FieldError::new(
                "regression",
                "must not be set together with phase: a result belongs to one phase or run",
            ));
        }
        (None, Some(_)) => regression_from_proto("regression", &r.regression)?,
        _ => phase_from_proto("phase", &r.phase)?,
    };
    case_result_in(phase, r)
}

/// Field checks of one `TestCaseResult` whose phase (or regression run) is already resolved.
pub fn case_result_in(phase: PhaseId, r: &pb::TestCaseResult) -> Result<CaseResult, FieldError> {
    let case = CaseId::new(required_text("case_id", &r.case_id)?);
    let case_hash = sha256_hex("case_content_sha256", &r.case_content_sha256)?;
    let device = required_text("device_id", &r.device_id)?;
    if r.attempt == 0 {
        return Err(FieldError::new(
            "attempt",
            "attempts are numbered from 1, got 0",
        ));
    }
    let status = case_status_from_proto("status", r.status)?;
    if !r.evidence_sha256.is_empty() {
        sha256_hex("evidence_sha256", &r.evidence_sha256)?;
    }
    if let Some(elapsed) = &r.elapsed
        && (elapsed.seconds < 0 || elapsed.nanos < 0 || elapsed.nanos >= 1_000_000_000)
    {
        return Err(FieldError::new(
            "elapsed",
            format!(
                "must be a non-negative duration, got {}s {}ns",
                elapsed.seconds, elapsed.nanos
            ),
        ));
    }
    for (field, ts) in [
        ("started_at", &r.started_at),
        ("finished_at", &r.finished_at),
    ] {
        if let Some(ts) = ts
            && !(0..1_000_000_000).contains(&ts.nanos)
        {
            return Err(FieldError::new(
                field,
                format!("nanos {} is out of range", ts.nanos),
            ));
        }
    }
    if let (Some(start), Some(end)) = (&r.started_at, &r.finished_at)
        && (end.seconds, end.nanos) < (start.seconds, start.nanos)
    {
        return Err(FieldError::new("finished_at", "is before started_at"));
    }
    Ok(CaseResult {
        phase,
        case,
        case_hash,
        device,
        attempt: r.attempt,
        status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked() -> CheckedResult {
        let submit = pb::SubmitResult {
            key: Some(pb::ResultKey {
                source: "rig".into(),
                run_id: "run-1".into(),
                seq: 1,
            }),
            result: Some(pb::TestCaseResult {
                phase: Some(pb::PhaseKey {
                    entry: Some(pb::EntryKey {
                        release: pb::CapabilityRelease::Moc.into(),
                        smso_id: "smso".into(),
                        dmc_id: "dmc".into(),
                    }),
                    test_type: pb::TestType::Mt.into(),
                    mode: pb::InstallationMode::Active.into(),
                }),
                case_id: "C-1".into(),
                case_content_sha256: vec![1; 32],
                device_id: "esme".into(),
                attempt: 1,
                status: pb::CaseStatus::Passed.into(),
                ..Default::default()
            }),
        };
        check_submission(&submit).expect("a valid submission")
    }

    #[test]
    fn the_principal_is_stored_with_a_result_but_is_not_part_of_its_content() {
        let old = checked();
        let mut alice = checked();
        attribute(&mut alice, "alice");
        let mut bob = checked();
        attribute(&mut bob, "bob");
        assert_eq!(recorded_by(&alice.body).as_deref(), Some("alice"));
        assert_eq!(
            recorded_by(&old.body),
            None,
            "a body stored before attribution"
        );
        assert_ne!(alice.body, bob.body);
        assert!(same_content(&alice.body, &bob.body));
        assert!(same_content(&old.body, &alice.body));
        assert_eq!(content_of(&alice.body), Some(old.body.clone()));
        assert_eq!(alice.content_sha256, old.content_sha256);
        // Replaying the projection reads an attributed body as the same event.
        assert_eq!(
            case_result_from_body(&alice.body).expect("decodes"),
            case_result_from_body(&old.body).expect("decodes")
        );
    }
}
