//! ExportResults: the completion report and the stored results of some entries as of one log
//! position — what an evidence bundle is made of when the store is a gateway away — with the
//! evidence documents the gateway keeps for those results (those of its own runs).

use std::collections::{BTreeMap, HashSet};

use meterlab_governance::model::{CaseStatus, EntryKey};
use meterlab_proto::v1 as pb;
use pb::export_results_response::Kind;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::Client;
use crate::convert::entry_to_proto;
use crate::error::{ClientError, Result};

const RPC: &str = "ExportResults";

/// One rendered report document of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportedDocument {
    /// `report.md`, `report.html` or `report.json`.
    pub name: String,
    pub media_type: String,
    pub data: Vec<u8>,
}

/// One stored result of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExportedResult {
    /// Position of the stored result in the log.
    pub log_position: u64,
    pub source: String,
    pub run_id: String,
    pub seq: u64,
    /// The phase (or regression run) it counts for, as the report names it.
    pub subject: String,
    pub case_id: String,
    pub device_id: String,
    pub attempt: u32,
    pub status: CaseStatus,
    pub srv: String,
    pub detail: String,
    /// RFC 3339.
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<u64>,
    /// Hex SHA-256 of the attempt's evidence document.
    pub evidence_sha256: String,
}

/// Everything an export returned: one consistent snapshot of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultExport {
    /// The log position the report was computed at; every result is at or before it.
    pub log_position: u64,
    /// Hex SHA-256 of the event at `log_position`; `None` for an empty log.
    pub log_head_sha256: Option<String>,
    pub profile_name: String,
    pub profile_version: String,
    /// When the documents were rendered (RFC 3339), as written in them.
    pub generated_at: Option<String>,
    pub documents: Vec<ExportedDocument>,
    pub results: Vec<ExportedResult>,
    /// The evidence documents the gateway keeps for these results, by hex SHA-256 (each checked
    /// to hash to its name). Results of remote runs have none here: their documents stay with
    /// the client that ran them.
    pub evidence: BTreeMap<String, Vec<u8>>,
}

impl ResultExport {
    /// The document called `name`.
    pub fn document(&self, name: &str) -> Option<&ExportedDocument> {
        self.documents.iter().find(|d| d.name == name)
    }
}

fn answer(field: impl Into<String>, problem: impl Into<String>) -> ClientError {
    ClientError::answer(RPC, field, problem)
}

impl Client {
    /// The completion report (Markdown, HTML, JSON) of every phase of `entries` and every stored
    /// result of those phases, as of the log position the gateway fixed when the call started.
    /// The answer is checked as it arrives: the snapshot first, documents whole, every result at
    /// or before the snapshot's position, in log order, then each evidence document whole, once,
    /// of an exported result, and hashing to the SHA-256 it is sent under (a mismatch is an
    /// error naming the hash).
    pub async fn export_results(
        &self,
        entries: &[EntryKey],
        profile: Option<&str>,
    ) -> Result<ResultExport> {
        let mut stream = self
            .governance()
            .export_results(pb::ExportResultsRequest {
                entries: entries.iter().map(entry_to_proto).collect(),
                profile: profile.unwrap_or_default().to_owned(),
            })
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .into_inner();
        let first = stream
            .message()
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
            .ok_or_else(|| answer("snapshot", "is missing: the stream ended at once"))?;
        let Some(Kind::Snapshot(snapshot)) = first.kind else {
            return Err(answer("snapshot", "is not the first message"));
        };
        let mut assembly = Assembly::new(snapshot);
        while let Some(message) = stream
            .message()
            .await
            .map_err(|s| ClientError::status(RPC, &s))?
        {
            assembly.take(message)?;
        }
        assembly.finish()
    }
}

/// A whole evidence document: of an exported result, not sent before, and hashing to its name.
fn check_evidence(
    name: &str,
    data: &[u8],
    named: &HashSet<String>,
    kept: &BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let actual = hex(&Sha256::digest(data));
    if actual != name {
        return Err(answer(
            "evidence",
            format!("{name} does not hash to its name: its bytes hash to {actual}"),
        ));
    }
    if !named.contains(name) {
        return Err(answer(
            "evidence",
            format!("{name} is the evidence of no exported result"),
        ));
    }
    if kept.contains_key(name) {
        return Err(answer("evidence", format!("{name} arrived twice")));
    }
    Ok(())
}

/// An export as its messages arrive after the snapshot, checked one by one.
struct Assembly {
    export: ResultExport,
    /// The document being received, until its last part.
    open: Option<ExportedDocument>,
    /// The evidence document being received (hex SHA-256, bytes so far), until its last part.
    open_evidence: Option<(String, Vec<u8>)>,
    /// The evidence hashes the results name.
    named: HashSet<String>,
}

impl Assembly {
    fn new(snapshot: pb::ExportSnapshot) -> Self {
        let profile = snapshot.profile.unwrap_or_default();
        Self {
            export: ResultExport {
                log_position: snapshot.log_position,
                log_head_sha256: (!snapshot.log_head_sha256.is_empty())
                    .then(|| hex(&snapshot.log_head_sha256)),
                profile_name: profile.name,
                profile_version: profile.version,
                generated_at: snapshot.generated_at.map(|t| t.to_string()),
                documents: Vec::new(),
                results: Vec::new(),
                evidence: BTreeMap::new(),
            },
            open: None,
            open_evidence: None,
            named: HashSet::new(),
        }
    }

    fn unfinished_document(&self) -> Result<()> {
        match &self.open {
            Some(doc) => Err(answer(
                "document",
                format!("{:?} has no last part", doc.name),
            )),
            None => Ok(()),
        }
    }

    fn take(&mut self, message: pb::ExportResultsResponse) -> Result<()> {
        let export = &mut self.export;
        match message.kind {
            Some(Kind::Snapshot(_)) => return Err(answer("snapshot", "arrived twice")),
            Some(Kind::Document(part)) => {
                if !export.results.is_empty() {
                    return Err(answer("document", "arrived after the results"));
                }
                let doc = self.open.get_or_insert_with(|| ExportedDocument {
                    name: part.name.clone(),
                    media_type: part.media_type.clone(),
                    data: Vec::new(),
                });
                if doc.name != part.name {
                    return Err(answer(
                        "document.name",
                        format!("{:?} began before {:?} ended", part.name, doc.name),
                    ));
                }
                doc.data.extend_from_slice(&part.data);
                if part.last {
                    export.documents.extend(self.open.take());
                }
            }
            Some(Kind::Results(batch)) => {
                if self.open_evidence.is_some() || !export.evidence.is_empty() {
                    return Err(answer("results", "arrived after the evidence"));
                }
                self.unfinished_document()?;
                let export = &mut self.export;
                for (i, r) in batch.results.into_iter().enumerate() {
                    let previous = export.results.last().map_or(0, |p| p.log_position);
                    let result = exported(r, export.log_position, previous).map_err(
                        |(field, problem)| answer(format!("results.results[{i}].{field}"), problem),
                    )?;
                    if !result.evidence_sha256.is_empty() {
                        self.named.insert(result.evidence_sha256.clone());
                    }
                    export.results.push(result);
                }
            }
            Some(Kind::Evidence(part)) => {
                self.unfinished_document()?;
                let name = hex(&part.sha256);
                let (open_name, data) = self
                    .open_evidence
                    .get_or_insert_with(|| (name.clone(), Vec::new()));
                if *open_name != name {
                    return Err(answer(
                        "evidence.sha256",
                        format!("{name} began before {open_name} ended"),
                    ));
                }
                data.extend_from_slice(&part.data);
                if part.last
                    && let Some((name, data)) = self.open_evidence.take()
                {
                    check_evidence(&name, &data, &self.named, &self.export.evidence)?;
                    self.export.evidence.insert(name, data);
                }
            }
            None => return Err(answer("kind", "is not set")),
        }
        Ok(())
    }

    fn finish(self) -> Result<ResultExport> {
        self.unfinished_document()?;
        if let Some((name, _)) = self.open_evidence {
            return Err(answer("evidence", format!("{name} has no last part")));
        }
        Ok(self.export)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn exported(
    r: pb::ExportedResult,
    at: u64,
    previous: u64,
) -> std::result::Result<ExportedResult, (String, String)> {
    let problem = |field: &str, text: String| (field.to_owned(), text);
    if r.log_position > at {
        return Err(problem(
            "log_position",
            format!(
                "{} is after the snapshot's position {at}: not a consistent snapshot",
                r.log_position
            ),
        ));
    }
    if r.log_position <= previous {
        return Err(problem(
            "log_position",
            format!("{} does not follow {previous}", r.log_position),
        ));
    }
    let key = r.key.unwrap_or_default();
    let result = r
        .result
        .ok_or_else(|| problem("result", "is missing".to_owned()))?;
    let status = match pb::CaseStatus::try_from(result.status) {
        Ok(pb::CaseStatus::Passed) => CaseStatus::Passed,
        Ok(pb::CaseStatus::Failed) => CaseStatus::Failed,
        Ok(pb::CaseStatus::Blocked) => CaseStatus::Blocked,
        Ok(pb::CaseStatus::NotRun) => CaseStatus::NotRun,
        _ => {
            return Err(problem(
                "result.status",
                format!("{} is not a result status", result.status),
            ));
        }
    };
    Ok(ExportedResult {
        log_position: r.log_position,
        source: key.source,
        run_id: key.run_id,
        seq: key.seq,
        subject: r.subject,
        case_id: result.case_id,
        device_id: result.device_id,
        attempt: result.attempt,
        status,
        srv: result.srv,
        detail: result.detail,
        started_at: result.started_at.map(|t| t.to_string()),
        finished_at: result.finished_at.map(|t| t.to_string()),
        elapsed_ms: result.elapsed.and_then(|d| {
            u64::try_from(d.seconds)
                .ok()
                .map(|s| s * 1000 + u64::try_from(d.nanos / 1_000_000).unwrap_or(0))
        }),
        evidence_sha256: hex(&result.evidence_sha256),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn message(kind: Kind) -> pb::ExportResultsResponse {
        pb::ExportResultsResponse { kind: Some(kind) }
    }

    /// An export at position 5 with one result naming the evidence `doc` hashes to.
    fn with_result(doc: &[u8]) -> Assembly {
        let mut assembly = Assembly::new(pb::ExportSnapshot {
            log_position: 5,
            ..Default::default()
        });
        let result = pb::ExportedResult {
            log_position: 3,
            key: None,
            result: Some(pb::TestCaseResult {
                case_id: "MT-001".into(),
                status: pb::CaseStatus::Passed.into(),
                evidence_sha256: Sha256::digest(doc).to_vec(),
                ..Default::default()
            }),
            subject: "IOC/smso-a/dmc-1 mt.active".into(),
        };
        assembly
            .take(message(Kind::Results(pb::ExportedResults {
                results: vec![result],
            })))
            .unwrap();
        assembly
    }

    fn part(sha256: &[u8], data: &[u8], last: bool) -> pb::ExportResultsResponse {
        message(Kind::Evidence(pb::ExportEvidence {
            sha256: sha256.to_vec(),
            data: data.to_vec(),
            last,
        }))
    }

    #[test]
    fn evidence_in_parts_is_kept_by_its_hash() {
        let doc = b"{\"steps\":[],\"traffic\":[]}";
        let hash = Sha256::digest(doc);
        let mut assembly = with_result(doc);
        assembly.take(part(&hash, &doc[..10], false)).unwrap();
        assembly.take(part(&hash, &doc[10..], true)).unwrap();
        let export = assembly.finish().unwrap();
        assert_eq!(export.evidence.len(), 1);
        assert_eq!(export.evidence[&hex(&hash)], doc);
    }

    #[test]
    fn evidence_that_does_not_hash_to_its_name_is_an_error_naming_the_hash() {
        let doc = b"{\"steps\":[]}";
        let hash = Sha256::digest(doc);
        let mut assembly = with_result(doc);
        let error = assembly
            .take(part(&hash, b"{\"steps\":[1]}", true))
            .expect_err("a changed document");
        let text = error.to_string();
        assert!(text.contains(&hex(&hash)), "{text}");
        assert!(text.contains("does not hash to its name"), "{text}");
    }

    #[test]
    fn evidence_of_no_result_twice_unfinished_or_before_results_is_refused() {
        let doc = b"{}";
        let hash = Sha256::digest(doc);
        let other = b"{ }";
        let mut assembly = with_result(doc);
        let error = assembly
            .take(part(&Sha256::digest(other), other, true))
            .expect_err("of no result");
        assert!(error.to_string().contains("no exported result"), "{error}");

        let mut assembly = with_result(doc);
        assembly.take(part(&hash, doc, true)).unwrap();
        let error = assembly.take(part(&hash, doc, true)).expect_err("twice");
        assert!(error.to_string().contains("arrived twice"), "{error}");
        let error = assembly
            .take(message(Kind::Results(pb::ExportedResults::default())))
            .expect_err("results after evidence");
        assert!(error.to_string().contains("after the evidence"), "{error}");

        let mut assembly = with_result(doc);
        assembly.take(part(&hash, &doc[..1], false)).unwrap();
        let error = assembly.finish().expect_err("no last part");
        assert!(error.to_string().contains(&hex(&hash)), "{error}");
    }
}
