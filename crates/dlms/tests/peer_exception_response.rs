//! ExceptionResponse service-error numbering checked against two independent DLMS libraries
//! (issue 15): Gurux's encodings decode to what Gurux meant, and ours decode in Gurux and
//! dlms-cosem to what we meant.
//!
//! The peers are the pinned Python virtual environment of `.ci/python-peers` (run here; it returns
//! at once when already installed). A missing or broken installation fails the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use meterlab_dlms::apdu::notification::StateError;
use meterlab_dlms::apdu::{Apdu, ExceptionResponse, ServiceError};
use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn peers_python() -> PathBuf {
    let script = repo_root().join(".ci/python-peers");
    let output = Command::new("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
        .expect("cannot run .ci/python-peers");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let python = stdout.lines().last().map(PathBuf::from);
    match python {
        Some(python) if output.status.success() && python.is_file() => python,
        _ => panic!(
            "{} could not install the Python DLMS peers ({}):\n{stdout}\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex from the peer script"))
        .collect()
}

fn ours(state_error: StateError, service_error: ServiceError) -> Vec<u8> {
    Apdu::ExceptionResponse(ExceptionResponse {
        state_error,
        service_error,
    })
    .to_bytes()
}

/// Every service error with the standard's CHOICE number (IEC 62056-5-3 ExceptionResponse).
const STANDARD_NUMBERS: [(ServiceError, u64); 6] = [
    (ServiceError::OperationNotPossible, 1),
    (ServiceError::ServiceNotSupported, 2),
    (ServiceError::OtherReason, 3),
    (ServiceError::PduTooLong, 4),
    (ServiceError::DecipheringError, 5),
    (ServiceError::InvocationCounterError(0x0102_0304), 6),
];

#[test]
fn exception_responses_mean_the_same_in_gurux_and_dlms_cosem() {
    let mut ours_hex = Vec::new();
    for state in [StateError::ServiceNotAllowed, StateError::ServiceUnknown] {
        for (service, _) in STANDARD_NUMBERS {
            ours_hex.push((state, service, hex(&ours(state, service))));
        }
    }
    let output = Command::new(peers_python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/exception_response.py"))
        .args(ours_hex.iter().map(|(_, _, h)| h))
        .stdin(Stdio::null())
        .output()
        .expect("cannot run the peer script");
    assert!(
        output.status.success(),
        "peer script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");

    // What Gurux builds from its XML form decodes to what the XML named.
    let encoded = report["gurux_encoded"].as_object().unwrap();
    assert_eq!(encoded.len(), 6, "{report:#}");
    for (name, bytes) in encoded {
        let (state, service) = name.split_once('/').unwrap();
        let expected_state = match state {
            "ServiceNotAllowed" => StateError::ServiceNotAllowed,
            "ServiceUnknown" => StateError::ServiceUnknown,
            other => panic!("unexpected state {other}"),
        };
        let expected_service = match service {
            "OperationNotPossible" => ServiceError::OperationNotPossible,
            "ServiceNotSupported" => ServiceError::ServiceNotSupported,
            "OtherReason" => ServiceError::OtherReason,
            other => panic!("unexpected service error {other}"),
        };
        let bytes = unhex(bytes.as_str().unwrap());
        assert_eq!(
            Apdu::decode(&bytes).unwrap(),
            Apdu::ExceptionResponse(ExceptionResponse {
                state_error: expected_state,
                service_error: expected_service,
            }),
            "Gurux's {name} = {}",
            hex(&bytes)
        );
    }

    // What we send decodes in both peers to the standard's numbers.
    for (state, service, text) in &ours_hex {
        let number = STANDARD_NUMBERS
            .iter()
            .find(|(s, _)| s == service)
            .map(|(_, n)| *n)
            .unwrap();
        let value = match service {
            ServiceError::InvocationCounterError(ic) => Value::from(*ic),
            _ => Value::Null,
        };
        for peer in ["gurux", "dlms_cosem"] {
            let seen = &report["decoded"][text][peer];
            assert_eq!(
                (&seen["state"], &seen["service"], &seen["value"]),
                (&Value::from(state.code()), &Value::from(number), &value),
                "{peer} decoding our {state:?}/{service:?} = {text}: {seen}"
            );
        }
    }
}

#[test]
fn exception_response_vectors_follow_the_standard_numbering() {
    // (state-error, service-error) → bytes, numbered as IEC 62056-5-3's ASN.1 numbers them.
    let vectors: [(StateError, ServiceError, &[u8]); 7] = [
        (
            StateError::ServiceNotAllowed,
            ServiceError::OperationNotPossible,
            &[0xD8, 0x01, 0x01],
        ),
        (
            StateError::ServiceUnknown,
            ServiceError::ServiceNotSupported,
            &[0xD8, 0x02, 0x02],
        ),
        (
            StateError::ServiceNotAllowed,
            ServiceError::OtherReason,
            &[0xD8, 0x01, 0x03],
        ),
        (
            StateError::ServiceNotAllowed,
            ServiceError::PduTooLong,
            &[0xD8, 0x01, 0x04],
        ),
        (
            StateError::ServiceNotAllowed,
            ServiceError::DecipheringError,
            &[0xD8, 0x01, 0x05],
        ),
        (
            StateError::ServiceNotAllowed,
            ServiceError::InvocationCounterError(0x0000_002A),
            &[0xD8, 0x01, 0x06, 0x00, 0x00, 0x00, 0x2A],
        ),
        (
            StateError::ServiceUnknown,
            ServiceError::OperationNotPossible,
            &[0xD8, 0x02, 0x01],
        ),
    ];
    for (state_error, service_error, bytes) in vectors {
        let apdu = Apdu::ExceptionResponse(ExceptionResponse {
            state_error,
            service_error,
        });
        assert_eq!(apdu.to_bytes(), bytes, "encoding {apdu:?}");
        assert_eq!(Apdu::decode(bytes).unwrap(), apdu, "decoding {bytes:02x?}");
    }
    // 0 is no service error in the standard's numbering, and 7 is past the last.
    assert!(Apdu::decode(&[0xD8, 0x01, 0x00]).is_err());
    assert!(Apdu::decode(&[0xD8, 0x01, 0x07]).is_err());
}
