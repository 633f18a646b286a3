//! The evidence of one attempt: its steps (requests and responses decoded and as protobuf
//! bytes), checks and the link traffic, as one JSON document whose SHA-256 a result carries.

mod json;

use meterlab_link::CaptureEntry;
use meterlab_plugin::prost::{self, Message as _};
use sha2::{Digest as _, Sha256};

use self::json::JsonOut;

use crate::case::Check;
use crate::result::{CaseStatus, StepRecord, TrafficData, TrafficRecord};

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
                data: TrafficData::Bytes(record.bytes),
            },
            CaptureEntry::Event(event) => TrafficRecord {
                offset_ns: nanos(event.offset),
                direction: "event",
                data: TrafficData::Text(event.text),
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

/// Serialises `bytes` as the string of their lowercase hex: a [`TrafficRecord`]'s serde form,
/// the same text the evidence document holds for it (which is written by [`seal`], not serde).
pub(crate) fn serialize_hex<S: serde::Serializer>(
    bytes: &[u8],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&lower_hex(bytes))
}

fn nanos(offset: std::time::Duration) -> u64 {
    u64::try_from(offset.as_nanos()).unwrap_or(u64::MAX)
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

/// The evidence JSON and its SHA-256. The document is what `serde_json` writes for these
/// fields in this order (the unit tests hold it to that, byte for byte): changing a byte of
/// it changes the meaning of every evidence hash already recorded.
pub(crate) fn seal(
    key: &EvidenceKey<'_>,
    status: CaseStatus,
    detail: &str,
    steps: &[StepRecord],
    traffic: &[TrafficRecord],
) -> (String, [u8; 32]) {
    let mut out = JsonOut::with_capacity(estimated_len(steps, traffic));
    out.raw("{\"format\":\"meterlab-evidence/1\",\"run_id\":");
    out.string(key.run_id);
    out.raw(",\"case_id\":");
    out.string(key.case_id);
    out.raw(",\"case_sha256\":");
    out.hex_string(key.case_sha256);
    out.raw(",\"device_id\":");
    out.string(key.device_id);
    out.raw(",\"dmc_id\":");
    out.string(key.dmc_id);
    out.raw(",\"attempt\":");
    out.number(u64::from(key.attempt));
    out.raw(",\"status\":");
    out.string(status.as_str());
    out.raw(",\"detail\":");
    out.string(detail);
    out.raw(",\"steps\":[");
    for (n, step) in steps.iter().enumerate() {
        if n > 0 {
            out.raw(",");
        }
        write_step(&mut out, step);
    }
    out.raw("],\"traffic\":[");
    for (n, record) in traffic.iter().enumerate() {
        if n > 0 {
            out.raw(",");
        }
        out.raw("{\"offset_ns\":");
        out.number(record.offset_ns);
        out.raw(",\"direction\":");
        out.string(record.direction);
        out.raw(",\"data\":");
        match &record.data {
            TrafficData::Bytes(bytes) => out.hex_string(bytes),
            TrafficData::Text(text) => out.string(text),
        }
        out.raw("}");
    }
    out.raw("]}");
    let json = out.into_string();
    let hash = Sha256::digest(json.as_bytes()).into();
    (json, hash)
}

/// One step: `request`/`response` as their `Debug` text and as protobuf hex.
fn write_step(out: &mut JsonOut, step: &StepRecord) {
    out.raw("{\"index\":");
    out.number(u64::from(step.index));
    out.raw(",\"srv\":");
    out.string(&step.srv);
    out.raw(",\"status\":");
    out.string(step.status.as_str());
    out.raw(",\"detail\":");
    out.string(&step.detail);
    out.raw(",\"elapsed_ns\":");
    out.number(nanos(step.elapsed));
    out.raw(",\"request\":");
    match &step.request {
        Some(request) => out.debug_string(request),
        None => out.raw("null"),
    }
    out.raw(",\"request_protobuf_hex\":");
    match &step.request {
        Some(request) => protobuf_hex(out, request),
        None => out.raw("null"),
    }
    out.raw(",\"response\":");
    match &step.response {
        Some(response) => out.debug_string(response),
        None => out.raw("null"),
    }
    out.raw(",\"response_protobuf_hex\":");
    match &step.response {
        Some(response) => protobuf_hex(out, response),
        None => out.raw("null"),
    }
    out.raw(",\"error\":");
    out.optional_string(step.error.as_deref());
    out.raw(",\"checks\":[");
    for (n, check) in step.checks.iter().enumerate() {
        if n > 0 {
            out.raw(",");
        }
        write_check(out, check);
    }
    out.raw("]}");
}

/// A [`Check`] in the order of its fields (as its `Serialize` derive writes it).
fn write_check(out: &mut JsonOut, check: &Check) {
    let Check {
        expectation,
        expected,
        actual,
        ok,
        note,
    } = check;
    out.raw("{\"expectation\":");
    out.string(expectation);
    out.raw(",\"expected\":");
    out.string(expected);
    out.raw(",\"actual\":");
    out.string(actual);
    out.raw(",\"ok\":");
    out.boolean(*ok);
    out.raw(",\"note\":");
    out.optional_string(note.as_deref());
    out.raw("}");
}

/// The message's protobuf encoding as a hex string, through a stack buffer for messages up to
/// `STACK` bytes (every step's request and response, in practice).
fn protobuf_hex(out: &mut JsonOut, message: &impl prost::Message) {
    const STACK: usize = 512;
    let len = message.encoded_len();
    if len <= STACK {
        let mut bytes = [0u8; STACK];
        let mut slot = &mut bytes[..len];
        // `encode` fills exactly `encoded_len` bytes.
        if message.encode(&mut slot).is_ok() {
            out.hex_string(&bytes[..len]);
            return;
        }
    }
    out.hex_string(&message.encode_to_vec());
}

/// The document is mostly the traffic and the steps' hex and debug text: sized up front, it is
/// written without the reallocations (and copies) of a buffer grown from empty.
fn estimated_len(steps: &[StepRecord], traffic: &[TrafficRecord]) -> usize {
    1024 + traffic
        .iter()
        .map(|record| match &record.data {
            TrafficData::Bytes(bytes) => 2 * bytes.len() + 48,
            TrafficData::Text(text) => text.len() + 48,
        })
        .sum::<usize>()
        + steps
            .iter()
            .map(|step| {
                // Hex is twice the protobuf; debug text, with its field names, about four
                // times (an estimate only: a short one costs a regrowth, not a wrong byte).
                let request = step.request.as_ref().map_or(0, |r| r.encoded_len());
                let response = step.response.as_ref().map_or(0, |r| r.encoded_len());
                256 + 6 * (request + response)
            })
            .sum::<usize>()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
