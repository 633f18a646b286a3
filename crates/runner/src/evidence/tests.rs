//! The evidence document is held, byte for byte, to what `serde_json` writes for the same
//! fields from owned strings (`format!("{:?}")`, `hex::encode`): the form the first evidence
//! was written in, whose SHA-256 values are already recorded.

use std::time::Duration;

use meterlab_plugin::pb::{
    FirmwareVersion, ReadFirmwareVersion, ServiceRequest, ServiceResponse, service_request::Body,
    service_response::Outcome,
};
use meterlab_plugin::prost::Message as _;
use proptest::prelude::*;
use serde::Serialize;

use super::json::{JsonOut, escape_into};
use super::{EvidenceKey, lower_hex, seal};
use crate::case::Check;
use crate::result::{CaseStatus, StepRecord, TrafficData, TrafficRecord};

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

#[derive(Serialize)]
struct OwnedTraffic {
    offset_ns: u64,
    direction: &'static str,
    data: String,
}

/// The document as `serde_json` writes it from owned strings.
fn owned_document(
    key: &EvidenceKey<'_>,
    status: CaseStatus,
    detail: &str,
    steps: &[StepRecord],
    traffic: &[TrafficRecord],
) -> String {
    let owned = OwnedEvidence {
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
    serde_json::to_string(&owned).unwrap()
}

fn assert_sealed_as_owned(
    key: &EvidenceKey<'_>,
    status: CaseStatus,
    detail: &str,
    steps: &[StepRecord],
    traffic: &[TrafficRecord],
) {
    let (json, hash) = seal(key, status, detail, steps, traffic);
    let expected = owned_document(key, status, detail, steps, traffic);
    assert_eq!(json, expected);
    let digest: [u8; 32] = <sha2::Sha256 as sha2::Digest>::digest(expected.as_bytes()).into();
    assert_eq!(hash, digest);
}

fn check(expected: &str, actual: &str, note: Option<&str>) -> Check {
    Check {
        expectation: format!("firmware {expected:?}"),
        expected: expected.to_owned(),
        actual: actual.to_owned(),
        ok: expected == actual,
        note: note.map(str::to_owned),
    }
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
        checks: vec![check("2.0.1", "2.0.1", None)],
        status: CaseStatus::Passed,
        detail: String::new(),
        elapsed: Duration::from_micros(1500 + u64::from(index)),
    }
}

const KEY: EvidenceKey<'static> = EvidenceKey {
    run_id: "run",
    case_id: "C-1",
    case_sha256: &[7; 32],
    device_id: "m1",
    dmc_id: "acme",
    attempt: 2,
};

#[test]
fn the_evidence_is_the_document_of_owned_strings() {
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
        StepRecord {
            request: None,
            checks: vec![
                check("2.0.1", "1.9.0", Some("the DMC declares \"old\" firmware")),
                check("x", "x", None),
            ],
            status: CaseStatus::Failed,
            detail: "firmware \"2.0.1\" expected".to_owned(),
            ..step(4, "read-4".to_owned(), Some("1.9.0".to_owned()))
        },
        StepRecord {
            status: CaseStatus::NotRun,
            elapsed: Duration::from_secs(u64::MAX / 2_000_000_000),
            ..step(u32::MAX, "r".to_owned(), None)
        },
    ];
    let every_control: String = (0u8..0x20).map(char::from).chain(['\u{7f}']).collect();
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
        TrafficRecord {
            offset_ns: 0,
            direction: "event",
            data: TrafficData::Text(every_control),
        },
        // Bigger than the hex chunk: written in pieces.
        TrafficRecord {
            offset_ns: u64::MAX,
            direction: "rx",
            data: TrafficData::Bytes((0..=255).cycle().take(700).collect()),
        },
        TrafficRecord {
            offset_ns: 20,
            direction: "rx",
            data: TrafficData::Bytes(Vec::new()),
        },
    ];
    assert_sealed_as_owned(&KEY, CaseStatus::Blocked, "why \"\\", &steps, &traffic);
    assert_sealed_as_owned(&KEY, CaseStatus::Passed, "", &[], &[]);
}

#[test]
fn escaping_is_serde_json_escaping_for_every_byte_position_in_a_word() {
    // Each escaped byte at each offset of an eight-byte word, after clean and multi-byte text.
    for special in (0u8..0x20).chain([b'"', b'\\', 0x7f]) {
        for offset in 0..16 {
            let text: String = "a\u{e9}bcdefghijklmnop"
                .chars()
                .take(offset)
                .chain([char::from(special)])
                .chain("tail \u{1f600} more".chars())
                .collect();
            let mut out = String::new();
            escape_into(&mut out, &text);
            let expected = serde_json::to_string(&text).unwrap();
            assert_eq!(format!("\"{out}\""), expected, "{text:?}");
        }
    }
}

#[test]
fn numbers_are_written_as_serde_json_writes_them() {
    for value in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
        let mut out = JsonOut::with_capacity(0);
        out.number(value);
        assert_eq!(out.into_string(), value.to_string());
    }
}

#[test]
fn a_traffic_record_serialises_its_bytes_as_the_evidence_writes_them() {
    let record = TrafficRecord {
        offset_ns: 7,
        direction: "tx",
        data: TrafficData::Bytes(vec![0x7e, 0xa0, 0x0f]),
    };
    assert_eq!(
        serde_json::to_string(&record).unwrap(),
        r#"{"offset_ns":7,"direction":"tx","data":"7ea00f"}"#
    );
}

#[test]
fn lower_hex_is_hex_encode() {
    let bytes: Vec<u8> = (0..=255).collect();
    assert_eq!(lower_hex(&bytes), hex::encode(&bytes));
    assert_eq!(lower_hex(&[]), "");
    assert_eq!(lower_hex(&[0x7e, 0xa0, 0x0f]), "7ea00f");
}

fn any_status() -> impl Strategy<Value = CaseStatus> {
    prop_oneof![
        Just(CaseStatus::Passed),
        Just(CaseStatus::Failed),
        Just(CaseStatus::Blocked),
        Just(CaseStatus::NotRun),
    ]
}

prop_compose! {
    fn any_step()(
        index in any::<u32>(),
        srv in any::<String>(),
        request_id in any::<String>(),
        version in proptest::option::of(any::<String>()),
        with_request in any::<bool>(),
        error in proptest::option::of(any::<String>()),
        checks in proptest::collection::vec(
            (any::<String>(), any::<String>(), any::<String>(), any::<bool>(),
             proptest::option::of(any::<String>())),
            0..3,
        ),
        status in any_status(),
        detail in any::<String>(),
        elapsed_ns in any::<u64>(),
    ) -> StepRecord {
        let base = step(index, request_id, version);
        StepRecord {
            srv,
            request: base.request.filter(|_| with_request),
            error,
            checks: checks
                .into_iter()
                .map(|(expectation, expected, actual, ok, note)| Check {
                    expectation, expected, actual, ok, note,
                })
                .collect(),
            status,
            detail,
            elapsed: Duration::from_nanos(elapsed_ns),
            ..base
        }
    }
}

fn any_traffic() -> impl Strategy<Value = TrafficRecord> {
    (
        any::<u64>(),
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..600)
                .prop_map(|bytes| ("rx", TrafficData::Bytes(bytes))),
            any::<String>().prop_map(|text| ("event", TrafficData::Text(text))),
        ],
    )
        .prop_map(|(offset_ns, (direction, data))| TrafficRecord {
            offset_ns,
            direction,
            data,
        })
}

proptest! {
    #[test]
    fn any_evidence_is_the_document_of_owned_strings(
        ids in proptest::collection::vec(any::<String>(), 4),
        case_sha256 in any::<[u8; 32]>(),
        attempt in any::<u32>(),
        status in any_status(),
        detail in any::<String>(),
        steps in proptest::collection::vec(any_step(), 0..4),
        traffic in proptest::collection::vec(any_traffic(), 0..4),
    ) {
        let key = EvidenceKey {
            run_id: &ids[0],
            case_id: &ids[1],
            case_sha256: &case_sha256,
            device_id: &ids[2],
            dmc_id: &ids[3],
            attempt,
        };
        assert_sealed_as_owned(&key, status, &detail, &steps, &traffic);
    }

    #[test]
    fn any_text_is_escaped_as_serde_json_escapes_it(text in any::<String>()) {
        let mut out = String::new();
        escape_into(&mut out, &text);
        prop_assert_eq!(format!("\"{out}\""), serde_json::to_string(&text).unwrap());
    }
}
