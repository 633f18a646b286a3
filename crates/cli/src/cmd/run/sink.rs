//! Results to the store through the ResultService (over `meterlab_client::ResultStreamer`, which
//! resumes from the gateway's watermark when the stream breaks) — the same durable, idempotent
//! path remote clients use (a gateway given with `--gateway`, or the embedded store of `--db` served
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

use anyhow::{Context as _, bail};
use meterlab_client::results::encode_result;
use meterlab_client::{Client, ResultStreamer};
use meterlab_governance::model::TestPhase;
use meterlab_runner::{CaseResult, CaseStatus};
use serde::{Deserialize, Serialize};

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

/// A journalled result stream to the ResultService.
#[derive(Debug)]
pub struct ResultSink {
    phase: TestPhase,
    journal: Journal,
    streamer: ResultStreamer,
    next_seq: u64,
}

impl ResultSink {
    /// Opens the stream, reads the watermark and resends journalled results past it.
    pub async fn open(
        client: &Client,
        run_id: &str,
        phase: TestPhase,
        journal: Journal,
    ) -> anyhow::Result<Self> {
        let source = format!("meterlab-run/{run_id}");
        let mut streamer = ResultStreamer::open(client, &source, run_id)
            .await
            .context("StreamResults")?;
        let watermark = streamer.watermark();
        let journalled = journal.lines.len() as u64;
        if watermark > journalled {
            bail!(
                "the store holds {watermark} results of run {run_id} but its journal {} has only \
                 {journalled}: give a new --run-id, or the journal of that run",
                journal.path().display()
            );
        }
        for line in journal.lines.iter().filter(|line| line.seq > watermark) {
            let bytes = hex::decode(&line.result)
                .with_context(|| format!("journal line {} is not hex", line.seq))?;
            streamer
                .resubmit(line.seq, &bytes)
                .await
                .with_context(|| format!("journal line {}", line.seq))?;
        }
        Ok(Self {
            phase,
            next_seq: journalled + 1,
            journal,
            streamer,
        })
    }

    /// Journals and submits one attempt.
    pub async fn push(&mut self, result: &CaseResult) -> anyhow::Result<()> {
        let seq = self.next_seq;
        self.journal.append(JournalLine {
            seq,
            case_id: result.case_id.clone(),
            device_id: result.device_id.clone(),
            attempt: result.attempt,
            status: result.status.as_str().to_owned(),
            result: hex::encode(encode_result(result, &self.phase)),
        })?;
        self.next_seq += 1;
        Ok(self.streamer.submit(seq, result, &self.phase).await?)
    }

    /// Waits until every submitted result is acknowledged; a rejection is an error.
    pub async fn finish(self) -> anyhow::Result<Stored> {
        let journal = self.journal.path().display().to_string();
        let stats = self.streamer.finish().await?;
        Ok(Stored {
            source: stats.source,
            acknowledged: stats.acknowledged,
            replayed: stats.replayed,
            watermark: stats.watermark,
            journal,
        })
    }
}
