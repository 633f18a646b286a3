//! The generated types encode and decode losslessly, and the descriptor set describes every service.
#![allow(clippy::unwrap_used)]

use meterlab_proto::FILE_DESCRIPTOR_SET;
use meterlab_proto::v1::{
    self, CapabilityRelease, CaseStatus, EntryKey, InstallationMode, PhaseKey, ResultKey,
    ResultStreamRequest, SubmitResult, TestCaseResult, TestType, result_stream_request,
};
use prost::Message;

fn sample_result() -> TestCaseResult {
    TestCaseResult {
        phase: Some(PhaseKey {
            entry: Some(EntryKey {
                release: CapabilityRelease::Ioc as i32,
                smso_id: "smso-a".into(),
                dmc_id: "dmc-42".into(),
            }),
            test_type: TestType::Sit as i32,
            mode: InstallationMode::Dormant as i32,
        }),
        case_id: "SIT-11.2-001".into(),
        case_content_sha256: vec![0xab; 32],
        device_id: "esme-7".into(),
        attempt: 2,
        status: CaseStatus::Passed as i32,
        started_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_000,
            nanos: 5,
        }),
        finished_at: Some(prost_types::Timestamp {
            seconds: 1_700_000_003,
            nanos: 0,
        }),
        elapsed: Some(prost_types::Duration {
            seconds: 2,
            nanos: 999_999_995,
        }),
        evidence_sha256: vec![0x01; 32],
        srv: "11.2".into(),
        detail: String::new(),
        regression: None,
    }
}

#[test]
fn submit_result_round_trips_through_the_wire_encoding() {
    let request = ResultStreamRequest {
        kind: Some(result_stream_request::Kind::Result(SubmitResult {
            key: Some(ResultKey {
                source: "ci/nightly".into(),
                run_id: "run-1".into(),
                seq: 17,
            }),
            result: Some(sample_result()),
        })),
    };
    let bytes = request.encode_to_vec();
    let decoded = ResultStreamRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(decoded, request);

    let Some(result_stream_request::Kind::Result(submit)) = decoded.kind else {
        panic!("decoded the wrong oneof arm: {decoded:?}");
    };
    let result = submit.result.unwrap();
    assert_eq!(result.status(), CaseStatus::Passed);
    assert_eq!(result.phase.unwrap().mode(), InstallationMode::Dormant);
}

#[test]
fn truncated_bytes_are_rejected() {
    let bytes = sample_result().encode_to_vec();
    assert!(TestCaseResult::decode(&bytes[..bytes.len() - 3]).is_err());
}

#[test]
fn descriptor_set_names_every_service() {
    let pool = prost_reflect::DescriptorPool::decode(FILE_DESCRIPTOR_SET).unwrap();
    let mut services: Vec<String> = pool.services().map(|s| s.full_name().to_owned()).collect();
    services.sort();
    assert_eq!(
        services,
        [
            "meterlab.v1.DeviceService",
            "meterlab.v1.GovernanceService",
            "meterlab.v1.OutboxService",
            "meterlab.v1.ResultService",
            "meterlab.v1.RunService",
        ]
    );
    let verdict = pool.get_message_by_name("meterlab.v1.Verdict").unwrap();
    let criterion = pool.get_message_by_name("meterlab.v1.Criterion").unwrap();
    assert!(verdict.get_field_by_name("profile").is_some());
    for field in [
        "rule_id",
        "clause",
        "measured",
        "limit",
        "outcome",
        "explanation",
    ] {
        assert!(criterion.get_field_by_name(field).is_some(), "{field}");
    }
}

#[test]
fn governance_verdict_round_trips() {
    let verdict = v1::Verdict {
        outcome: v1::VerdictOutcome::NotMet as i32,
        profile: Some(v1::RuleProfileRef {
            name: "illustrative-2019".into(),
            version: "1".into(),
            illustrative: true,
        }),
        subject: Some(v1::verdict::Subject::CycleId("cycle-3".into())),
        criteria: vec![v1::Criterion {
            rule_id: "R4.phase_limit.sev3".into(),
            clause: "SVTAD Table 13.3".into(),
            measured: Some(v1::Measure {
                value: Some(v1::measure::Value::Count(6)),
                unit: "open severity 3 issues".into(),
            }),
            limit: Some(v1::Measure {
                value: Some(v1::measure::Value::Count(5)),
                unit: "open severity 3 issues".into(),
            }),
            outcome: v1::CriterionOutcome::NotMet as i32,
            explanation: "6 open severity 3 issues exceed the limit of 5.".into(),
        }],
        log_position: 99,
        hypothetical: false,
    };
    let decoded = v1::Verdict::decode(verdict.encode_to_vec().as_slice()).unwrap();
    assert_eq!(decoded, verdict);
}
