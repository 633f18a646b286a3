//! The files of a sealed evidence bundle, from a report's stored results and the runs' evidence
//! documents (`meterlab-evidence/1`, written by `meterlab run --evidence-dir`).
//!
//! A stored result carries only the SHA-256 of its evidence; the document itself is supplied
//! by the caller and refused when its hash differs, so a bundle never holds evidence that is
//! not the evidence the log recorded. From each document the bundle keeps the document, a
//! per-step log people read and the raw traffic capture (hex, one frame per line).

use std::fmt::Write as _;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::bundle::BundleFile;
use crate::error::BundleError;

/// One stored attempt of a reported phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredAttempt {
    pub phase: String,
    pub case: String,
    pub device: String,
    pub attempt: u32,
    pub status: String,
    pub srv: String,
    pub detail: String,
    pub run_id: String,
    /// Position of the result in the log.
    pub seq: u64,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub elapsed_ms: Option<u64>,
    /// Hex SHA-256 of the attempt's evidence document, as recorded.
    pub evidence_sha256: String,
}

impl StoredAttempt {
    /// `<phase>/<device>/<case>.attempt-<n>`, safe as a bundle path.
    pub fn stem(&self) -> String {
        format!(
            "{}/{}/{}.attempt-{}",
            segment(&self.phase),
            segment(&self.device),
            segment(&self.case),
            self.attempt
        )
    }
}

/// A path segment from an identifier: `/`, `\` and leading dots cannot escape the bundle.
fn segment(id: &str) -> String {
    let s: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = s.trim_start_matches('.');
    if trimmed.is_empty() {
        "_".to_string()
    } else {
        trimmed.to_string()
    }
}

/// What the caller found for one attempt's evidence.
#[derive(Debug, Clone)]
pub enum EvidenceDocument {
    /// The document's text and where it was read from (for errors).
    Found {
        text: String,
        source: String,
    },
    NotSupplied,
}

fn text_of(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// The per-step log of an evidence document.
fn steps_log(attempt: &StoredAttempt, doc: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} case {} on {} attempt {}: {} ({})",
        attempt.phase, attempt.case, attempt.device, attempt.attempt, attempt.status, attempt.srv
    );
    if !attempt.detail.is_empty() {
        let _ = writeln!(out, "detail: {}", attempt.detail);
    }
    for step in doc
        .get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            out,
            "\nstep {} ({}): {}, {} ns",
            step.get("index")
                .and_then(Value::as_u64)
                .map_or(0, |i| i + 1),
            text_of(step, "srv"),
            text_of(step, "status"),
            text_of(step, "elapsed_ns"),
        );
        for key in ["detail", "error", "request", "response"] {
            let value = text_of(step, key);
            if !value.is_empty() {
                let _ = writeln!(out, "  {key}: {value}");
            }
        }
        for check in step
            .get("checks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let ok = check.get("ok").and_then(Value::as_bool).unwrap_or(false);
            let _ = writeln!(
                out,
                "  [{}] {}: expected {}, actual {}",
                if ok { "ok" } else { "FAILED" },
                text_of(check, "expectation"),
                text_of(check, "expected"),
                text_of(check, "actual"),
            );
        }
    }
    out
}

/// The raw traffic capture: `<offset ns> <tx|rx|event> <hex bytes or event text>` per line.
fn capture(doc: &Value) -> String {
    let mut out = String::new();
    for record in doc
        .get("traffic")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let _ = writeln!(
            out,
            "{} {} {}",
            text_of(record, "offset_ns"),
            text_of(record, "direction"),
            text_of(record, "data"),
        );
    }
    out
}

/// The bundle files of the stored attempts (with their evidence where supplied), and an index
/// (`results.tsv`) listing every attempt and whether its evidence is in the bundle.
pub fn attempt_files(
    attempts: &[(StoredAttempt, EvidenceDocument)],
) -> Result<Vec<BundleFile>, BundleError> {
    let mut files = Vec::new();
    let mut index = String::from(
        "seq\trun\tphase\tcase\tdevice\tattempt\tstatus\tsrv\tstarted\tfinished\telapsed_ms\tevidence_sha256\tevidence\tdetail\n",
    );
    for (a, document) in attempts {
        let stem = a.stem();
        let evidence = match document {
            EvidenceDocument::Found { text, source } => {
                let actual = hex::encode(Sha256::digest(text.as_bytes()));
                if !actual.eq_ignore_ascii_case(&a.evidence_sha256) {
                    return Err(BundleError::EvidenceMismatch {
                        source_name: source.clone(),
                        expected: a.evidence_sha256.clone(),
                        actual,
                    });
                }
                let doc: Value =
                    serde_json::from_str(text).map_err(|e| BundleError::EvidenceUnreadable {
                        source_name: source.clone(),
                        message: e.to_string(),
                    })?;
                files.push(BundleFile::new(
                    format!("evidence/{stem}.json"),
                    text.clone(),
                ));
                files.push(BundleFile::new(
                    format!("steps/{stem}.log"),
                    steps_log(a, &doc),
                ));
                files.push(BundleFile::new(
                    format!("captures/{stem}.traffic"),
                    capture(&doc),
                ));
                "included"
            }
            EvidenceDocument::NotSupplied => "not supplied",
        };
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let _ = writeln!(
            index,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
            a.seq,
            clean(&a.run_id),
            clean(&a.phase),
            clean(&a.case),
            clean(&a.device),
            a.attempt,
            a.status,
            clean(&a.srv),
            a.started_at.as_deref().unwrap_or(""),
            a.finished_at.as_deref().unwrap_or(""),
            a.elapsed_ms.map_or_else(String::new, |m| m.to_string()),
            a.evidence_sha256,
            evidence,
            clean(&a.detail),
        );
    }
    files.push(BundleFile::new("results.tsv", index));
    Ok(files)
}
