//! The evidence of one attempt: its steps (requests and responses decoded and as protobuf
//! bytes), checks and the link traffic, as one JSON document whose SHA-256 a result carries.

use meterlab_link::CaptureEntry;
use meterlab_plugin::prost::Message as _;
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::case::Check;
use crate::result::{CaseStatus, StepRecord, TrafficRecord};

/// Traffic records from capture entries.
pub(crate) fn traffic(entries: Vec<CaptureEntry>) -> Vec<TrafficRecord> {
    entries
        .into_iter()
        .map(|entry| match entry {
            CaptureEntry::Bytes(record) => TrafficRecord {
                offset_ns: nanos(record.offset),
                direction: match record.direction {
                    meterlab_link::Direction::Tx => "tx",
                    meterlab_link::Direction::Rx => "rx",
                },
                data: lower_hex(&record.bytes),
            },
            CaptureEntry::Event(event) => TrafficRecord {
                offset_ns: nanos(event.offset),
                direction: "event",
                data: event.text,
            },
        })
        .collect()
}

/// `hex::encode(bytes)` (lowercase), through `encode_to_slice`: the same text without
/// `encode`'s char-by-char `String` building, which showed in the runner's profile (every
/// byte of every case's traffic goes through here).
fn lower_hex(bytes: &[u8]) -> String {
    let mut out = vec![0u8; bytes.len() * 2];
    // The output is exactly twice the input, as `encode_to_slice` requires.
    if hex::encode_to_slice(bytes, &mut out).is_err() {
        return hex::encode(bytes);
    }
    // Hex digits are ASCII.
    String::from_utf8(out).unwrap_or_else(|_| hex::encode(bytes))
}

/// `format!("{value:?}")` into a buffer that starts at a typical message's size: `format!`
/// cannot estimate a `{:?}` and would grow from empty, reallocating several times per message.
fn debug_text(value: &impl std::fmt::Debug) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(256);
    // Writing into a String cannot fail.
    let _ = write!(text, "{value:?}");
    text
}

fn nanos(offset: std::time::Duration) -> u64 {
    u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX)
}

#[derive(Serialize)]
struct EvidenceStep<'a> {
    index: u32,
    srv: &'a str,
    status: CaseStatus,
    detail: &'a str,
    elapsed_ns: u64,
    request: Option<String>,
    request_protobuf_hex: Option<String>,
    response: Option<String>,
    response_protobuf_hex: Option<String>,
    error: Option<&'a str>,
    checks: &'a [Check],
}

#[derive(Serialize)]
struct Evidence<'a> {
    format: &'static str,
    run_id: &'a str,
    case_id: &'a str,
    case_sha256: String,
    device_id: &'a str,
    dmc_id: &'a str,
    attempt: u32,
    status: CaseStatus,
    detail: &'a str,
    steps: Vec<EvidenceStep<'a>>,
    traffic: &'a [TrafficRecord],
}

/// Identity of the attempt the evidence belongs to.
pub(crate) struct EvidenceKey<'a> {
    pub run_id: &'a str,
    pub case_id: &'a str,
    pub case_sha256: &'a [u8; 32],
    pub device_id: &'a str,
    pub dmc_id: &'a str,
    pub attempt: u32,
}

/// The evidence JSON and its SHA-256.
pub(crate) fn seal(
    key: &EvidenceKey<'_>,
    status: CaseStatus,
    detail: &str,
    steps: &[StepRecord],
    traffic: &[TrafficRecord],
) -> (String, [u8; 32]) {
    let evidence = Evidence {
        format: "meterlab-evidence/1",
        run_id: key.run_id,
        case_id: key.case_id,
        case_sha256: hex::encode(key.case_sha256),
        device_id: key.device_id,
        dmc_id: key.dmc_id,
        attempt: key.attempt,
        status,
        detail,
        steps: steps
            .iter()
            .map(|step| EvidenceStep {
                index: step.index,
                srv: &step.srv,
                status: step.status,
                detail: &step.detail,
                elapsed_ns: nanos(step.elapsed),
                request: step.request.as_ref().map(debug_text),
                request_protobuf_hex: step.request.as_ref().map(|r| lower_hex(&r.encode_to_vec())),
                response: step.response.as_ref().map(debug_text),
                response_protobuf_hex: step
                    .response
                    .as_ref()
                    .map(|r| lower_hex(&r.encode_to_vec())),
                error: step.error.as_deref(),
                checks: &step.checks,
            })
            .collect(),
        traffic,
    };
    // The document is mostly the traffic and the steps' hex and debug text: sized up front, it
    // is written without the reallocations (and copies) of a buffer grown from empty.
    let estimate = 1024
        + traffic
            .iter()
            .map(|record| record.data.len() + 48)
            .sum::<usize>()
        + evidence
            .steps
            .iter()
            .map(|step| {
                128 + [&step.request, &step.request_protobuf_hex, &step.response]
                    .into_iter()
                    .chain([&step.response_protobuf_hex])
                    .map(|text| text.as_ref().map_or(0, String::len))
                    .sum::<usize>()
            })
            .sum::<usize>();
    let mut buffer = Vec::with_capacity(estimate);
    // Serialising plain structs of strings and numbers cannot fail.
    let json = match serde_json::to_writer(&mut buffer, &evidence) {
        Ok(()) => String::from_utf8(buffer).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let hash = Sha256::digest(json.as_bytes()).into();
    (json, hash)
}

#[cfg(test)]
mod tests {
    use super::lower_hex;

    #[test]
    fn debug_text_is_format_debug() {
        let value = (1, "two", [3u8; 40], Some(vec!["x"; 30]));
        assert_eq!(super::debug_text(&value), format!("{value:?}"));
    }

    #[test]
    fn lower_hex_is_hex_encode() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
        assert_eq!(lower_hex(&[]), "");
        assert_eq!(lower_hex(&[0x7e, 0xa0, 0x0f]), "7ea00f");
    }
}
