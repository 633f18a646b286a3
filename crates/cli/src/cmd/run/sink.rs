//! Results to the store through the ResultService — the same durable, idempotent path remote
//! clients use (a gateway given with `--gateway`, or the embedded store of `--db` served
//! in-process on loopback and reached through the same client).
//!
//! Every result is first appended to the run's journal (one JSON line with the exact protobuf
//! bytes submitted), then submitted under the key `(meterlab-run/<run id>, run id, seq)`. A
//! restarted run with the same `--run-id` reads the journal, resends what the watermark says is
//! not yet stored (byte-identical, so a result that did arrive is a replay, never a duplicate),
//! skips cases whose device verdict (passed or failed) is already journalled, and re-runs the
//! rest with attempt numbers that continue.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context as _, bail};
use meterlab_plugin::prost::Message as _;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::result_service_client::ResultServiceClient;
use meterlab_runner::{CaseResult, CaseStatus};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tonic::transport::Channel;

/// One journalled result.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JournalLine {
    pub seq: u64,
    pub case_id: String,
    pub device_id: String,
    pub attempt: u32,
    pub status: String,
    /// The `TestCaseResult` exactly as submitted (protobuf, hex).
    pub result: String,
}

/// The run's journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    pub lines: Vec<JournalLine>,
}

impl Journal {
    /// Reads the journal at `path` (empty if it does not exist yet).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let mut lines = Vec::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for (number, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let parsed: JournalLine = serde_json::from_str(line).with_context(|| {
                        format!("{}:{}: not a journal line", path.display(), number + 1)
                    })?;
                    lines.push(parsed);
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        }
        Ok(Self {
            path: path.to_owned(),
            lines,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Per (case, device): the highest attempt journalled, and whether the device already gave
    /// its verdict (passed or failed), so the case need not run again.
    pub fn progress(&self) -> HashMap<(String, String), (u32, bool)> {
        let mut progress: HashMap<(String, String), (u32, bool)> = HashMap::new();
        for line in &self.lines {
            let entry = progress
                .entry((line.case_id.clone(), line.device_id.clone()))
                .or_insert((0, false));
            if line.attempt >= entry.0 {
                entry.0 = line.attempt;
                entry.1 = line.status == CaseStatus::Passed.as_str()
                    || line.status == CaseStatus::Failed.as_str();
            }
        }
        progress
    }

    fn append(&mut self, line: JournalLine) -> anyhow::Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .with_context(|| format!("cannot open {}", self.path.display()))?;
        let mut text = serde_json::to_string(&line)?;
        text.push('\n');
        file.write_all(text.as_bytes())
            .and_then(|()| file.sync_data())
            .with_context(|| format!("cannot append to {}", self.path.display()))?;
        self.lines.push(line);
        Ok(())
    }
}

fn timestamp(at: SystemTime) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp::from(at))
}

/// The wire form of one attempt.
pub fn to_proto(result: &CaseResult, phase: &pb::PhaseKey) -> pb::TestCaseResult {
    let status = match result.status {
        CaseStatus::Passed => pb::CaseStatus::Passed,
        CaseStatus::Failed => pb::CaseStatus::Failed,
        CaseStatus::Blocked => pb::CaseStatus::Blocked,
        CaseStatus::NotRun => pb::CaseStatus::NotRun,
    };
    pb::TestCaseResult {
        phase: Some(phase.clone()),
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

/// What the sink stored.
#[derive(Debug, Default, Serialize)]
pub struct Stored {
    pub source: String,
    /// Results acknowledged durable (new and replayed).
    pub acknowledged: u64,
    /// Of those, already stored before (a resend after a restart).
    pub replayed: u64,
    pub watermark: u64,
    pub journal: String,
}

/// A result stream to the ResultService.
#[derive(Debug)]
pub struct ResultSink {
    source: String,
    run_id: String,
    phase: pb::PhaseKey,
    journal: Journal,
    requests: mpsc::UnboundedSender<pb::ResultStreamRequest>,
    responses: tonic::Streaming<pb::ResultStreamResponse>,
    next_seq: u64,
    outstanding: u64,
    max_in_flight: u64,
    stored: Stored,
}

impl ResultSink {
    /// Opens the stream, reads the watermark and resends journalled results past it.
    pub async fn open(
        channel: Channel,
        run_id: &str,
        phase: pb::PhaseKey,
        journal: Journal,
    ) -> anyhow::Result<Self> {
        let source = format!("meterlab-run/{run_id}");
        let (requests, outgoing) = mpsc::unbounded_channel();
        let mut client = ResultServiceClient::new(channel);
        requests
            .send(pb::ResultStreamRequest {
                kind: Some(pb::result_stream_request::Kind::Open(pb::OpenStream {
                    source: source.clone(),
                })),
            })
            .context("the result stream closed before it opened")?;
        let mut responses = client
            .stream_results(UnboundedReceiverStream::new(outgoing))
            .await
            .context("StreamResults")?
            .into_inner();
        let (watermark, max_in_flight) = match responses.message().await.context("StreamResults")? {
            Some(pb::ResultStreamResponse {
                kind: Some(pb::result_stream_response::Kind::Opened(opened)),
            }) => (
                opened.watermark.map_or(0, |w| w.acked_seq),
                u64::from(opened.max_in_flight.max(1)),
            ),
            other => bail!("the ResultService answered the stream opening with {other:?}"),
        };
        let journalled = journal.lines.len() as u64;
        if watermark > journalled {
            bail!(
                "the store holds {watermark} results of run {run_id} but its journal {} has only \
                 {journalled}: give a new --run-id, or the journal of that run",
                journal.path().display()
            );
        }
        let mut sink = Self {
            stored: Stored {
                source: source.clone(),
                journal: journal.path().display().to_string(),
                watermark,
                ..Stored::default()
            },
            source,
            run_id: run_id.to_owned(),
            phase,
            next_seq: journalled + 1,
            journal,
            requests,
            responses,
            outstanding: 0,
            max_in_flight,
        };
        let resend: Vec<JournalLine> = sink
            .journal
            .lines
            .iter()
            .filter(|line| line.seq > watermark)
            .cloned()
            .collect();
        for line in resend {
            let bytes = hex::decode(&line.result)
                .with_context(|| format!("journal line {} is not hex", line.seq))?;
            let result = pb::TestCaseResult::decode(bytes.as_slice())
                .with_context(|| format!("journal line {} is not a TestCaseResult", line.seq))?;
            sink.submit(line.seq, result).await?;
        }
        Ok(sink)
    }

    async fn submit(&mut self, seq: u64, result: pb::TestCaseResult) -> anyhow::Result<()> {
        while self.outstanding >= self.max_in_flight {
            self.receive_one().await?;
        }
        self.requests
            .send(pb::ResultStreamRequest {
                kind: Some(pb::result_stream_request::Kind::Result(pb::SubmitResult {
                    key: Some(pb::ResultKey {
                        source: self.source.clone(),
                        run_id: self.run_id.clone(),
                        seq,
                    }),
                    result: Some(result),
                })),
            })
            .context("the result stream closed")?;
        self.outstanding += 1;
        Ok(())
    }

    /// Journals and submits one attempt.
    pub async fn push(&mut self, result: &CaseResult) -> anyhow::Result<()> {
        let proto = to_proto(result, &self.phase);
        let seq = self.next_seq;
        self.journal.append(JournalLine {
            seq,
            case_id: result.case_id.clone(),
            device_id: result.device_id.clone(),
            attempt: result.attempt,
            status: result.status.as_str().to_owned(),
            result: hex::encode(proto.encode_to_vec()),
        })?;
        self.next_seq += 1;
        self.submit(seq, proto).await
    }

    /// Waits until every submitted result is acknowledged; a rejection is an error.
    pub async fn finish(mut self) -> anyhow::Result<Stored> {
        while self.outstanding > 0 {
            self.receive_one().await?;
        }
        Ok(self.stored)
    }

    async fn receive_one(&mut self) -> anyhow::Result<()> {
        let Some(response) = self.responses.message().await.context("StreamResults")? else {
            bail!(
                "the ResultService closed the stream with {} results unacknowledged",
                self.outstanding
            );
        };
        match response.kind {
            Some(pb::result_stream_response::Kind::Ack(ack)) => {
                self.outstanding -= 1;
                self.stored.acknowledged += 1;
                if ack.replay {
                    self.stored.replayed += 1;
                }
                self.stored.watermark = ack.watermark;
                Ok(())
            }
            Some(pb::result_stream_response::Kind::Rejection(rejection)) => bail!(
                "the ResultService rejected result {} ({:?}): {}",
                rejection.key.as_ref().map_or(0, |key| key.seq),
                rejection.reason(),
                rejection.message
            ),
            Some(pb::result_stream_response::Kind::Opened(_)) | None => Ok(()),
        }
    }
}
