//! ExportResults: the completion report and every stored result of some entries, as of one log
//! position, for an evidence bundle made away from the store.
//!
//! The position is fixed first: the projection is brought up to the log's head, and the report is
//! computed and rendered under the projection's lock at the position it reflects. The results are
//! then read from the log up to that position only, so results arriving during the export are
//! not in it and the bundle is one consistent snapshot. Last come the evidence documents the
//! gateway keeps for those results (its own runs', see [`crate::evidence`]), each once, in parts.
//! Everything goes out in messages of at most [`EXPORT_MESSAGE_BYTES`] through a small bounded
//! channel: a client that stops reading holds back only the reading thread, never the whole log
//! (or more than one evidence document) in memory.

use std::collections::HashSet;
use std::pin::Pin;

use meterlab_governance::completion_report;
use meterlab_proto::v1 as pb;
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;

use super::GovernanceServiceImpl;
use crate::convert::keys::entry_from_proto;
use crate::convert::result::{RESULT_KIND, case_result_from_proto};
use crate::convert::timestamp_from_ms;
use crate::convert::verdict::profile_to_proto;
use crate::error::FieldError;
use crate::evidence::EvidenceStore;
use crate::ledger::{Ledger, now_ms};

/// Largest encoded `ExportResultsResponse` the export sends. A stored result is bounded by the
/// result stream's message limit (64 KiB by default), so a batch always holds at least one; a
/// result larger than this (a gateway configured with a bigger result limit) goes alone.
pub const EXPORT_MESSAGE_BYTES: usize = 256 * 1024;

/// Messages queued ahead of a slow reader.
const QUEUE: usize = 4;

/// Log events read per store query.
const READ_BATCH: usize = 1024;

/// The export stream.
pub type ExportStream =
    Pin<Box<dyn Stream<Item = Result<pb::ExportResultsResponse, Status>> + Send>>;

/// The title both `meterlab report --db` and the export give a combined report of `entries`.
pub fn report_title(entries: &[meterlab_governance::model::EntryKey]) -> String {
    let names: Vec<String> = entries.iter().map(ToString::to_string).collect();
    format!("Combined completion report — {}", names.join(", "))
}

/// What is fixed at the start of an export.
struct Snapshot {
    first: pb::ExportSnapshot,
    documents: [(&'static str, &'static str, String); 3],
    /// The phases reported, as results name them.
    subjects: HashSet<String>,
}

impl GovernanceServiceImpl {
    pub(super) async fn export_results_impl(
        &self,
        r: pb::ExportResultsRequest,
    ) -> Result<ExportStream, Status> {
        self.check_profile(&r.profile)?;
        let entries = r
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| entry_from_proto(e).map_err(|err| err.under(&format!("entries[{i}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        if entries.is_empty() {
            return Err(FieldError::new("entries", "name at least one entry to export").into());
        }
        let ledger = self.ledger.clone();
        let (tx, rx) = mpsc::channel(QUEUE);
        // The first answer (or the refusal) comes before the stream starts, so an unknown entry is
        // a status of the call, not an error in the middle of a stream.
        let snapshot = {
            let ledger = ledger.clone();
            tokio::task::spawn_blocking(move || snapshot(&ledger, &entries))
                .await
                .map_err(|e| Status::internal(format!("the export snapshot failed: {e}")))??
        };
        let evidence = self.evidence.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(status) = send_all(&ledger, evidence.as_deref(), snapshot, &tx) {
                let _ = tx.blocking_send(Err(status));
            }
        });
        Ok(Box::pin(ReceiverStream::new(rx)))
    }
}

fn store_failed(e: impl std::fmt::Display) -> Status {
    Status::unavailable(format!("the log cannot be read: {e}"))
}

/// Fixes the position and renders the report at it. Blocking (reads the log).
fn snapshot(
    ledger: &Ledger,
    entries: &[meterlab_governance::model::EntryKey],
) -> Result<Snapshot, Status> {
    ledger.sync().map_err(store_failed)?;
    // Whole seconds: the documents carry the same stamp `meterlab report --db` writes.
    let generated_at = timestamp_from_ms(now_ms().div_euclid(1000) * 1000);
    let profile = ledger.profile();
    let (report, recorded, at) = ledger.read_attributed(|p, decisions, at| {
        let mut phases = Vec::new();
        for entry in entries {
            let state = p.entry(entry).ok_or_else(|| {
                Status::not_found(format!("planned entry {entry} is not registered"))
            })?;
            phases.extend(state.phases().iter().cloned());
        }
        let report = completion_report(p, profile, &report_title(entries), &phases);
        Ok::<_, Status>((
            report,
            crate::convert::report::recorded_decisions(decisions),
            at,
        ))
    })?;
    let head = if at == 0 {
        Vec::new()
    } else {
        let events = ledger.store().read_range(at, 1).map_err(store_failed)?;
        let event = events
            .first()
            .ok_or_else(|| Status::internal(format!("log position {at} cannot be read back")))?;
        event.hash.to_vec()
    };
    let options = meterlab_report::RenderOptions {
        generated_at: Some(generated_at.to_string()),
        log_head: (!head.is_empty()).then(|| hex::encode(&head)),
    };
    let render_failed = |e: meterlab_report::RenderError| Status::internal(e.to_string());
    let documents = [
        (
            "report.md",
            "text/markdown",
            meterlab_report::completion_markdown(&report, &recorded, &options)
                .map_err(render_failed)?,
        ),
        (
            "report.html",
            "text/html",
            meterlab_report::completion_html(&report, &recorded, &options)
                .map_err(render_failed)?,
        ),
        (
            "report.json",
            "application/json",
            meterlab_report::completion_json(&report, &recorded, &options)
                .map_err(|e| Status::internal(e.to_string()))?,
        ),
    ];
    Ok(Snapshot {
        first: pb::ExportSnapshot {
            log_position: at,
            log_head_sha256: head,
            profile: Some(profile_to_proto(profile)),
            generated_at: Some(generated_at),
            max_message_bytes: u32::try_from(EXPORT_MESSAGE_BYTES).unwrap_or(u32::MAX),
        },
        documents,
        subjects: report
            .phase_cases
            .iter()
            .map(|p| p.phase.to_string())
            .collect(),
    })
}

/// Sends the snapshot, the documents in parts, the results up to the snapshot's position, then
/// the evidence `evidence` keeps for them. Stops quietly when the client has gone.
fn send_all(
    ledger: &Ledger,
    evidence: Option<&EvidenceStore>,
    snapshot: Snapshot,
    tx: &mpsc::Sender<Result<pb::ExportResultsResponse, Status>>,
) -> Result<(), Status> {
    use pb::export_results_response::Kind;
    let send = |kind: Kind| {
        tx.blocking_send(Ok(pb::ExportResultsResponse { kind: Some(kind) }))
            .is_ok()
    };
    let at = snapshot.first.log_position;
    if !send(Kind::Snapshot(snapshot.first)) {
        return Ok(());
    }
    // Room for the part's name, media type and framing.
    let part = EXPORT_MESSAGE_BYTES - 1024;
    for (name, media_type, text) in snapshot.documents {
        let bytes = text.into_bytes();
        let mut chunks = bytes.chunks(part).peekable();
        if chunks.peek().is_none() {
            let empty = pb::ExportDocument {
                name: name.to_owned(),
                media_type: media_type.to_owned(),
                data: Vec::new(),
                last: true,
            };
            if !send(Kind::Document(empty)) {
                return Ok(());
            }
        }
        while let Some(chunk) = chunks.next() {
            let document = pb::ExportDocument {
                name: name.to_owned(),
                media_type: media_type.to_owned(),
                data: chunk.to_vec(),
                last: chunks.peek().is_none(),
            };
            if !send(Kind::Document(document)) {
                return Ok(());
            }
        }
    }
    let mut batch = pb::ExportedResults::default();
    // The evidence hashes of the exported results, each once, in the order first named.
    let mut hashes = Vec::new();
    let mut seen = HashSet::new();
    let mut from = 1;
    while from <= at {
        let limit = usize::try_from(at - from + 1).map_or(READ_BATCH, |n| n.min(READ_BATCH));
        let events = ledger
            .store()
            .read_range(from, limit)
            .map_err(store_failed)?;
        let Some(last) = events.last() else { break };
        from = last.seq + 1;
        for event in events.iter().filter(|e| e.seq <= at) {
            if event.payload.kind != RESULT_KIND {
                continue;
            }
            let Some(exported) = exported(event, &snapshot.subjects) else {
                continue;
            };
            if let Some(result) = &exported.result
                && !result.evidence_sha256.is_empty()
                && seen.insert(result.evidence_sha256.clone())
            {
                hashes.push(result.evidence_sha256.clone());
            }
            // A length-delimited field of a length-delimited message: the item, its tag and
            // length, and the same again around the batch.
            let grown = batch.encoded_len() + exported.encoded_len() + 16;
            if !batch.results.is_empty()
                && grown > EXPORT_MESSAGE_BYTES
                && !send(Kind::Results(std::mem::take(&mut batch)))
            {
                return Ok(());
            }
            batch.results.push(exported);
        }
    }
    if !batch.results.is_empty() && !send(Kind::Results(batch)) {
        return Ok(());
    }
    let Some(evidence) = evidence else {
        return Ok(());
    };
    for sha256 in hashes {
        let name = hex::encode(&sha256);
        // A kept document that no longer matches its hash is reported, not left out: the
        // bundle would otherwise silently lack evidence the gateway claims to keep.
        let document = evidence
            .get(&name)
            .map_err(|e| Status::data_loss(e.to_string()))?;
        let Some(document) = document else { continue };
        // An empty document still goes out, as one empty last part.
        let chunks: Vec<&[u8]> = if document.is_empty() {
            vec![&[]]
        } else {
            document.chunks(part).collect()
        };
        let count = chunks.len();
        for (i, chunk) in chunks.into_iter().enumerate() {
            let message = pb::ExportEvidence {
                sha256: sha256.clone(),
                data: chunk.to_vec(),
                last: i + 1 == count,
            };
            if !send(Kind::Evidence(message)) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// A stored result of a reported phase, as exported; `None` for any other.
fn exported(
    event: &meterlab_store::StoredEvent,
    subjects: &HashSet<String>,
) -> Option<pb::ExportedResult> {
    // Stored bodies were checked on the way in; one that no longer decodes is the store's
    // problem, found by `meterlab store verify`, and the projection skips it as well.
    let submit = pb::SubmitResult::decode(event.payload.body.as_slice()).ok()?;
    let result = submit.result?;
    let case = case_result_from_proto(&result).ok()?;
    let subject = case.phase.to_string();
    if !subjects.contains(&subject) {
        return None;
    }
    let key = event.key.as_ref();
    Some(pb::ExportedResult {
        log_position: event.seq,
        key: Some(pb::ResultKey {
            source: key.map(|k| k.source.clone()).unwrap_or_default(),
            run_id: submit.key.map(|k| k.run_id).unwrap_or_default(),
            seq: key.map_or(0, |k| k.seq),
        }),
        result: Some(result),
        subject,
    })
}
