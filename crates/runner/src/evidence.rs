//! The evidence of one attempt: its steps (requests and responses decoded and as protobuf
//! bytes), checks and the link traffic, as one JSON document whose SHA-256 a result carries.

use meterlab_link::CaptureEntry;
use meterlab_plugin::pb::{ServiceRequest, ServiceResponse};
use meterlab_plugin::prost::{self, Message as _};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

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

thread_local! {
    /// The debug text of the message being serialised, reused from one to the next.
    static DEBUG_TEXT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Serialises as the JSON string `format!("{:?}", message)`. The text is formatted into a
/// buffer kept by the thread and escaped in one pass: `collect_str` would escape each of the
/// formatter's many small pieces (field names, punctuation) separately, and a `String` per
/// request and response would cost an allocation each.
struct DebugText<'a, M>(&'a M);

impl<M: std::fmt::Debug> Serialize for DebugText<'_, M> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use std::fmt::Write as _;
        DEBUG_TEXT.with(|buffer| match buffer.try_borrow_mut() {
            Ok(mut text) => {
                text.clear();
                // Writing into a `String` cannot fail.
                let _ = write!(text, "{:?}", self.0);
                serializer.serialize_str(&text)
            }
            // Only a `Debug` that serialises evidence itself could get here.
            Err(_) => serializer.collect_str(&format_args!("{:?}", self.0)),
        })
    }
}

/// Serialises `bytes` as the JSON string of their lowercase hex, through a stack buffer for
/// up to `STACK` bytes (nearly every frame): no hex `String` per frame.
pub(crate) fn serialize_hex<S: serde::Serializer>(
    bytes: &[u8],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    const STACK: usize = 512;
    if bytes.len() > STACK {
        return serializer.serialize_str(&lower_hex(bytes));
    }
    let mut hex = [0u8; 2 * STACK];
    let hex = &mut hex[..2 * bytes.len()];
    match hex::encode_to_slice(bytes, hex).map(|()| std::str::from_utf8(hex)) {
        // Hex digits are ASCII.
        Ok(Ok(text)) => serializer.serialize_str(text),
        _ => serializer.serialize_str(&lower_hex(bytes)),
    }
}

/// Serialises as the JSON string `hex::encode(message.encode_to_vec())`, through stack buffers
/// for messages up to `STACK` bytes (every step's request and response, in practice): neither
/// the protobuf bytes nor their hex are allocated per step.
struct ProtobufHex<'a, M>(&'a M);

impl<M: prost::Message> Serialize for ProtobufHex<'_, M> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const STACK: usize = 512;
        let len = self.0.encoded_len();
        if len > STACK {
            return serializer.serialize_str(&lower_hex(&self.0.encode_to_vec()));
        }
        let mut bytes = [0u8; STACK];
        let bytes = &mut bytes[..len];
        // `encode` fills exactly `encoded_len` bytes.
        if self.0.encode(&mut &mut bytes[..]).is_err() {
            return serializer.serialize_str(&lower_hex(&self.0.encode_to_vec()));
        }
        serialize_hex(bytes, serializer)
    }
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
    request: Option<DebugText<'a, ServiceRequest>>,
    request_protobuf_hex: Option<ProtobufHex<'a, ServiceRequest>>,
    response: Option<DebugText<'a, ServiceResponse>>,
    response_protobuf_hex: Option<ProtobufHex<'a, ServiceResponse>>,
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
                request: step.request.as_ref().map(DebugText),
                request_protobuf_hex: step.request.as_ref().map(ProtobufHex),
                response: step.response.as_ref().map(DebugText),
                response_protobuf_hex: step.response.as_ref().map(ProtobufHex),
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
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use meterlab_plugin::pb::{
        FirmwareVersion, ReadFirmwareVersion, ServiceRequest, ServiceResponse,
        service_request::Body, service_response::Outcome,
    };
    use meterlab_plugin::prost::Message as _;
    use serde::Serialize;

    use super::{EvidenceKey, lower_hex, seal};
    use crate::case::Check;
    use crate::result::{CaseStatus, StepRecord, TrafficData, TrafficRecord};

    /// The evidence step as it was written before the text and hex were streamed: owned
    /// strings from `format!` and `hex::encode`. The streamed document must be byte for byte
    /// this one (the SHA-256 of evidence already kept must not change meaning).
    #[derive(Serialize)]
    struct OwnedStep<'a> {
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
    struct OwnedEvidence<'a> {
        format: &'static str,
        run_id: &'a str,
        case_id: &'a str,
        case_sha256: String,
        device_id: &'a str,
        dmc_id: &'a str,
        attempt: u32,
        status: CaseStatus,
        detail: &'a str,
        steps: Vec<OwnedStep<'a>>,
        traffic: Vec<OwnedTraffic>,
    }

    /// A traffic record as it was written when it held the hex as a `String`.
    #[derive(Serialize)]
    struct OwnedTraffic {
        offset_ns: u64,
        direction: &'static str,
        data: String,
    }

    fn step(index: u32, request_id: String, version: Option<String>) -> StepRecord {
        StepRecord {
            index,
            srv: "11.2".to_owned(),
            request: Some(ServiceRequest {
                request_id: request_id.clone(),
                body: Some(Body::ReadFirmwareVersion(ReadFirmwareVersion {})),
            }),
            response: version.map(|version| ServiceResponse {
                request_id,
                outcome: Some(Outcome::FirmwareVersion(FirmwareVersion { version })),
            }),
            error: None,
            checks: vec![Check {
                expectation: "firmware \"2.0.1\"".to_owned(),
                expected: "2.0.1".to_owned(),
                actual: "2.0.1".to_owned(),
                ok: true,
                note: None,
            }],
            status: CaseStatus::Passed,
            detail: String::new(),
            elapsed: Duration::from_micros(1500 + u64::from(index)),
        }
    }

    #[test]
    fn streamed_evidence_is_the_document_of_owned_strings() {
        let steps = vec![
            step(0, "read-0".to_owned(), Some("2.0.1".to_owned())),
            // Quotes, a backslash, control and non-ASCII characters: escaped as JSON both ways.
            step(
                1,
                "r\"1\\\u{1}".to_owned(),
                Some("v\u{e9}\n\t\u{1f600}".to_owned()),
            ),
            // Bigger than the stack buffers: the allocated path.
            step(2, "x".repeat(700), Some("y".repeat(900))),
            StepRecord {
                response: None,
                error: Some("link down".to_owned()),
                status: CaseStatus::Blocked,
                detail: "step 4 (11.2): link down".to_owned(),
                ..step(3, String::new(), None)
            },
        ];
        let traffic = vec![
            TrafficRecord {
                offset_ns: 12,
                direction: "tx",
                data: TrafficData::Bytes(vec![0x00, 0x01, 0xfe, 0xff]),
            },
            TrafficRecord {
                offset_ns: 15,
                direction: "event",
                data: TrafficData::Text("link \"down\"\n".to_owned()),
            },
            // Bigger than the stack buffer: the allocated path.
            TrafficRecord {
                offset_ns: 19,
                direction: "rx",
                data: TrafficData::Bytes((0..=255).cycle().take(700).collect()),
            },
        ];
        let key = EvidenceKey {
            run_id: "run",
            case_id: "C-1",
            case_sha256: &[7; 32],
            device_id: "m1",
            dmc_id: "acme",
            attempt: 2,
        };
        let (json, hash) = seal(&key, CaseStatus::Blocked, "why", &steps, &traffic);
        let owned = OwnedEvidence {
            format: "meterlab-evidence/1",
            run_id: "run",
            case_id: "C-1",
            case_sha256: hex::encode([7; 32]),
            device_id: "m1",
            dmc_id: "acme",
            attempt: 2,
            status: CaseStatus::Blocked,
            detail: "why",
            steps: steps
                .iter()
                .map(|step| OwnedStep {
                    index: step.index,
                    srv: &step.srv,
                    status: step.status,
                    detail: &step.detail,
                    elapsed_ns: u64::try_from(step.elapsed.as_nanos()).unwrap(),
                    request: step.request.as_ref().map(|r| format!("{r:?}")),
                    request_protobuf_hex: step
                        .request
                        .as_ref()
                        .map(|r| hex::encode(r.encode_to_vec())),
                    response: step.response.as_ref().map(|r| format!("{r:?}")),
                    response_protobuf_hex: step
                        .response
                        .as_ref()
                        .map(|r| hex::encode(r.encode_to_vec())),
                    error: step.error.as_deref(),
                    checks: &step.checks,
                })
                .collect(),
            traffic: traffic
                .iter()
                .map(|record| OwnedTraffic {
                    offset_ns: record.offset_ns,
                    direction: record.direction,
                    data: record.data.to_text(),
                })
                .collect(),
        };
        let expected = serde_json::to_string(&owned).unwrap();
        assert_eq!(json, expected);
        let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(expected.as_bytes()).into();
        assert_eq!(hash, digest);
    }

    #[test]
    fn lower_hex_is_hex_encode() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
        assert_eq!(lower_hex(&[]), "");
        assert_eq!(lower_hex(&[0x7e, 0xa0, 0x0f]), "7ea00f");
    }
}
