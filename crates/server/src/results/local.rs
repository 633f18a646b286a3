//! Results of the gateway's own runs: the same checks, reservation and durable ingest as a
//! streamed result (idempotent by `(source, run, seq)`), attributed to the principal who started
//! the run.

use std::sync::Arc;

use meterlab_proto::v1 as pb;
use meterlab_proto::v1::result_stream_response::Kind as ResponseKind;
use meterlab_store::IngestKey;

use super::RESULTS_RUN;
use super::session::{Answer, ack_from_stored, ingest};
use crate::convert::result::{RESULT_KIND, attribute, check_submission, same_content};
use crate::ledger::{Ledger, ResultRefusal};

/// Why a run's result was not stored.
#[derive(Debug)]
pub(crate) enum LocalRefusal {
    /// Its attempt number is recorded, or being recorded, under another key (another run on
    /// the device, a remote stream): nothing was written, and the next number may be free.
    AttemptTaken(String),
    /// A field, an unknown phase, a conflict of its key, the store.
    Other(String),
}

impl From<String> for LocalRefusal {
    fn from(message: String) -> Self {
        LocalRefusal::Other(message)
    }
}

impl std::fmt::Display for LocalRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LocalRefusal::AttemptTaken(m) | LocalRefusal::Other(m) => f.write_str(m),
        }
    }
}

/// Stores one result durably, or says why not (a field, an unknown phase, a conflict, the store).
pub(crate) async fn ingest_local(
    ledger: &Arc<Ledger>,
    submit: pb::SubmitResult,
    principal: &str,
) -> Result<pb::ResultAck, LocalRefusal> {
    let mut checked = check_submission(&submit)
        .map_err(|e| format!("invalid field {}: {}", e.field, e.message))?;
    attribute(&mut checked, principal);
    let key_pb = pb::ResultKey {
        source: checked.source.clone(),
        run_id: checked.run_id.clone(),
        seq: checked.seq,
    };
    let key = IngestKey::new(checked.source.clone(), RESULTS_RUN, checked.seq);
    let stored = ledger.store().get(&key).map_err(|e| e.to_string())?;
    if let Some(stored) = stored {
        return if stored.payload.kind == RESULT_KIND
            && same_content(&stored.payload.body, &checked.body)
        {
            Ok(ack_from_stored(key_pb, &stored, true))
        } else {
            Err(format!("{key} is already stored with different content").into())
        };
    }
    ledger
        .reserve_result(&checked.case, &key)
        .map_err(|refusal| match refusal {
            ResultRefusal::UnknownPhase(m) => LocalRefusal::Other(m),
            ResultRefusal::DuplicateAttempt(m) => LocalRefusal::AttemptTaken(m),
        })?;
    match ingest(ledger.clone(), key, key_pb, checked, true).await {
        Answer::Reply(reply) => match reply.kind {
            Some(ResponseKind::Ack(ack)) => Ok(ack),
            Some(ResponseKind::Rejection(r)) => Err(r.message.into()),
            _ => Err("the store gave no answer".to_owned().into()),
        },
        Answer::Fatal(status) => Err(status.message().to_owned().into()),
    }
}
