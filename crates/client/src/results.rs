//! Streaming results to the ResultService with watermark resume.
//!
//! A [`ResultStreamer`] submits results under `(source, run id, seq)` and counts a result as
//! stored only when the gateway acknowledges it (or, after a reconnect, when the watermark the
//! gateway reports covers it). When the stream breaks it reconnects, asks `GetWatermark` how far
//! the gateway got, and resends exactly the results past it — byte-identical, so one that did
//! arrive is a replay, never a duplicate.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use meterlab_governance::model::TestPhase;
use meterlab_proto::v1 as pb;
use meterlab_runner::{CaseResult, CaseStatus};
use prost::Message as _;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::Client;
use crate::convert::phase_to_proto;
use crate::error::{ClientError, Result};

/// How many times a broken stream is reopened before giving up, and the first pause between
/// attempts (doubled each time).
const RECONNECTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

fn timestamp(at: SystemTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp::from(at))
}

/// The wire form of one attempt of a case in `phase`.
pub fn case_result_to_proto(result: &CaseResult, phase: &TestPhase) -> pb::TestCaseResult {
    let status = match result.status {
        CaseStatus::Passed => pb::CaseStatus::Passed,
        CaseStatus::Failed => pb::CaseStatus::Failed,
        CaseStatus::Blocked => pb::CaseStatus::Blocked,
        CaseStatus::NotRun => pb::CaseStatus::NotRun,
    };
    pb::TestCaseResult {
        phase: Some(phase_to_proto(phase)),
        case_id: result.case_id.clone(),
        case_content_sha256: result.case_sha256.to_vec(),
        device_id: result.device_id.clone(),
        attempt: result.attempt,
        status: status.into(),
        started_at: timestamp(result.started_at),
        finished_at: timestamp(result.finished_at),
        elapsed: prost_types::Duration::try_from(result.elapsed).ok(),
        evidence_sha256: result.evidence_sha256.to_vec(),
        srv: result.srv.clone(),
        detail: result.detail.clone(),
        regression: None,
    }
}

/// The exact bytes submitted for one attempt (what a journal keeps to resend byte-identical).
pub fn encode_result(result: &CaseResult, phase: &TestPhase) -> Vec<u8> {
    case_result_to_proto(result, phase).encode_to_vec()
}

/// What a stream stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StreamStats {
    pub source: String,
    /// Results acknowledged durable (new and replayed, and those a resumed watermark covered).
    pub acknowledged: u64,
    /// Of those, already stored before (a resend).
    pub replayed: u64,
    /// The gateway's watermark for the source: every seq up to it is stored.
    pub watermark: u64,
    /// Times the stream was reopened after breaking.
    pub reconnects: u32,
}

struct OpenStream {
    requests: mpsc::UnboundedSender<pb::ResultStreamRequest>,
    responses: tonic::Streaming<pb::ResultStreamResponse>,
}

/// A result stream for one source and run.
pub struct ResultStreamer {
    client: Client,
    source: String,
    run_id: String,
    stream: Option<OpenStream>,
    /// Submitted, not yet acknowledged: what a reconnect may have to resend.
    unacked: BTreeMap<u64, pb::TestCaseResult>,
    max_in_flight: u64,
    stats: StreamStats,
}

impl std::fmt::Debug for ResultStreamer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResultStreamer")
            .field("source", &self.source)
            .field("run_id", &self.run_id)
            .field("unacked", &self.unacked.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl ResultStreamer {
    /// Opens a stream for `source`; [`ResultStreamer::watermark`] then says how far the gateway
    /// already got.
    pub async fn open(client: &Client, source: &str, run_id: &str) -> Result<ResultStreamer> {
        let mut streamer = ResultStreamer {
            client: client.clone(),
            source: source.to_owned(),
            run_id: run_id.to_owned(),
            stream: None,
            unacked: BTreeMap::new(),
            max_in_flight: 1,
            stats: StreamStats {
                source: source.to_owned(),
                ..StreamStats::default()
            },
        };
        streamer.open_stream().await?;
        Ok(streamer)
    }

    /// Every result with a seq up to this is stored by the gateway.
    pub fn watermark(&self) -> u64 {
        self.stats.watermark
    }

    /// Submitted results the gateway has not yet acknowledged.
    pub fn unacknowledged(&self) -> usize {
        self.unacked.len()
    }

    fn broken(&self, problem: impl Into<String>) -> ClientError {
        ClientError::Stream {
            source_name: self.source.clone(),
            problem: problem.into(),
        }
    }

    async fn open_stream(&mut self) -> Result<()> {
        let (requests, outgoing) = mpsc::unbounded_channel();
        requests
            .send(pb::ResultStreamRequest {
                kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
                    source: self.source.clone(),
                })),
            })
            .map_err(|_| self.broken("closed before it opened"))?;
        let mut responses = self
            .client
            .results()
            .stream_results(UnboundedReceiverStream::new(outgoing))
            .await
            .map_err(|s| ClientError::status("StreamResults", &s))?
            .into_inner();
        match responses
            .message()
            .await
            .map_err(|s| ClientError::status("StreamResults", &s))?
        {
            Some(pb::ResultStreamResponse {
                kind: Some(pb::result_stream_response::Kind::Opened(opened)),
            }) => {
                self.max_in_flight = u64::from(opened.max_in_flight.max(1));
                let watermark = opened.watermark.map_or(0, |w| w.acked_seq);
                self.covered_by(watermark);
            }
            other => {
                return Err(self.broken(format!("the gateway answered the opening with {other:?}")));
            }
        }
        self.stream = Some(OpenStream {
            requests,
            responses,
        });
        Ok(())
    }

    /// The gateway says everything up to `watermark` is stored: results still unacknowledged
    /// at or below it are acknowledged now.
    fn covered_by(&mut self, watermark: u64) {
        let still = self.unacked.split_off(&watermark.saturating_add(1));
        self.stats.acknowledged += self.unacked.len() as u64;
        self.unacked = still;
        self.stats.watermark = self.stats.watermark.max(watermark);
    }

    /// Reopens a broken stream: asks GetWatermark how far the gateway got, then resends every
    /// unacknowledged result past it, in order.
    pub async fn reconnect(&mut self) -> Result<()> {
        self.stream = None;
        let mut backoff = FIRST_BACKOFF;
        let mut last_error = None;
        for _ in 0..RECONNECTS {
            match self.try_reconnect().await {
                Ok(()) => {
                    self.stats.reconnects += 1;
                    return Ok(());
                }
                Err(error @ ClientError::Rejected { .. }) => return Err(error),
                Err(error) => {
                    tracing::debug!(source = %self.source, %error, "result stream reconnect failed");
                    last_error = Some(error);
                    self.stream = None;
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
        Err(self.broken(format!(
            "could not resume after {RECONNECTS} attempts: {}",
            last_error.map_or_else(String::new, |e| e.to_string())
        )))
    }

    async fn try_reconnect(&mut self) -> Result<()> {
        let watermark = self
            .client
            .results()
            .get_watermark(pb::GetWatermarkRequest {
                source: self.source.clone(),
            })
            .await
            .map_err(|s| ClientError::status("GetWatermark", &s))?
            .into_inner();
        self.covered_by(watermark.acked_seq);
        self.open_stream().await?;
        // At most max_in_flight are unacknowledged (send waits before adding one), so the
        // resend fits the window without waiting for answers.
        for (seq, result) in &self.unacked {
            if !self.push(*seq, result) {
                return Err(self.broken("closed while resending"));
            }
        }
        Ok(())
    }

    /// Queues one submission on the open stream; false when there is none or it closed.
    fn push(&self, seq: u64, result: &pb::TestCaseResult) -> bool {
        let request = pb::ResultStreamRequest {
            kind: Some(pb::result_stream_request::Kind::Result(pb::SubmitResult {
                key: Some(pb::ResultKey {
                    source: self.source.clone(),
                    run_id: self.run_id.clone(),
                    seq,
                }),
                result: Some(result.clone()),
            })),
        };
        self.stream
            .as_ref()
            .is_some_and(|stream| stream.requests.send(request).is_ok())
    }

    /// Submits one result of an attempt in `phase` under `seq`.
    pub async fn submit(&mut self, seq: u64, result: &CaseResult, phase: &TestPhase) -> Result<()> {
        self.send(seq, case_result_to_proto(result, phase)).await
    }

    /// Resubmits a result from the bytes [`encode_result`] gave (e.g. read back from a journal).
    pub async fn resubmit(&mut self, seq: u64, encoded: &[u8]) -> Result<()> {
        let result = pb::TestCaseResult::decode(encoded).map_err(|error| ClientError::Input {
            field: format!("result {seq}"),
            problem: format!("not a TestCaseResult: {error}"),
        })?;
        self.send(seq, result).await
    }

    /// [`ResultStreamer::resubmit`], sent even when the watermark already covers `seq`: the
    /// gateway then compares it with what it holds and answers a replay, or a conflict (an
    /// error) when another writer stored something else under the key. A store-and-forward
    /// gateway checks with it that what the upstream holds is what it forwarded. (After a
    /// reconnect, results the new watermark covers are counted as stored without that check:
    /// see [`ResultStreamer::reconnects`].)
    pub async fn resubmit_checked(&mut self, seq: u64, encoded: &[u8]) -> Result<()> {
        let result = pb::TestCaseResult::decode(encoded).map_err(|error| ClientError::Input {
            field: format!("result {seq}"),
            problem: format!("not a TestCaseResult: {error}"),
        })?;
        self.send_checked(seq, result, true).await
    }

    /// Times the stream was reopened after breaking.
    pub fn reconnects(&self) -> u32 {
        self.stats.reconnects
    }

    async fn send(&mut self, seq: u64, result: pb::TestCaseResult) -> Result<()> {
        self.send_checked(seq, result, false).await
    }

    async fn send_checked(
        &mut self,
        seq: u64,
        result: pb::TestCaseResult,
        even_if_stored: bool,
    ) -> Result<()> {
        while self.unacked.len() as u64 >= self.max_in_flight {
            self.receive_one().await?;
        }
        if seq <= self.stats.watermark && !even_if_stored {
            // Already stored: the gateway would answer a replay; nothing to wait for.
            return Ok(());
        }
        let sent = self.push(seq, &result);
        self.unacked.insert(seq, result);
        if !sent {
            // The reconnect resends it with every other unacknowledged result.
            self.reconnect().await?;
        }
        Ok(())
    }

    /// Waits until every submitted result is acknowledged, then submits the next ones under
    /// `run_id`. Waiting first means a resend after a reconnect never moves a result to another
    /// run (which the gateway would answer as a conflict). A store-and-forward gateway uses it
    /// to forward one source's results, which may belong to several runs, on one stream.
    pub async fn continue_in_run(&mut self, run_id: &str) -> Result<()> {
        while !self.unacked.is_empty() {
            self.receive_one().await?;
        }
        run_id.clone_into(&mut self.run_id);
        Ok(())
    }

    /// The run the next submissions belong to.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Waits until every submitted result is acknowledged; a rejection is an error.
    pub async fn finish(mut self) -> Result<StreamStats> {
        while !self.unacked.is_empty() {
            self.receive_one().await?;
        }
        Ok(self.stats)
    }

    async fn receive_one(&mut self) -> Result<()> {
        let Some(stream) = self.stream.as_mut() else {
            return self.reconnect().await;
        };
        let response = match stream.responses.message().await {
            Ok(Some(response)) => response,
            Ok(None) => {
                tracing::warn!(source = %self.source, unacked = self.unacked.len(), "result stream closed by the gateway; resuming");
                return self.reconnect().await;
            }
            Err(status) => {
                tracing::warn!(source = %self.source, code = ?status.code(), "result stream broke; resuming");
                return self.reconnect().await;
            }
        };
        match response.kind {
            Some(pb::result_stream_response::Kind::Ack(ack)) => {
                let seq = ack.key.as_ref().map_or(0, |k| k.seq);
                if self.unacked.remove(&seq).is_some() {
                    self.stats.acknowledged += 1;
                    if ack.replay {
                        self.stats.replayed += 1;
                    }
                }
                self.stats.watermark = self.stats.watermark.max(ack.watermark);
                Ok(())
            }
            Some(pb::result_stream_response::Kind::Rejection(rejection)) => {
                Err(ClientError::Rejected {
                    source_name: self.source.clone(),
                    seq: rejection.key.as_ref().map_or(0, |k| k.seq),
                    reason: rejection.reason().as_str_name().to_owned(),
                    message: rejection.message,
                })
            }
            Some(pb::result_stream_response::Kind::Opened(_)) | None => Ok(()),
        }
    }
}
