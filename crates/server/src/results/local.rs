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

/// Stores one result durably, or says why not (a field, an unknown phase, a conflict, the store).
pub(crate) async fn ingest_local(
    ledger: &Arc<Ledger>,
    submit: pb::SubmitResult,
    principal: &str,
) -> Result<pb::ResultAck, String> {
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
            Err(format!("{key} is already stored with different content"))
        };
    }
    ledger
        .reserve_result(&checked.case, &key)
        .map_err(|refusal| match refusal {
            ResultRefusal::UnknownPhase(m) | ResultRefusal::DuplicateAttempt(m) => m,
        })?;
    match ingest(ledger.clone(), key, key_pb, checked, true).await {
        Answer::Reply(reply) => match reply.kind {
            Some(ResponseKind::Ack(ack)) => Ok(ack),
            Some(ResponseKind::Rejection(r)) => Err(r.message),
            _ => Err("the store gave no answer".to_owned()),
        },
        Answer::Fatal(status) => Err(status.message().to_owned()),
    }
}
