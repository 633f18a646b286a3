//! The gateway's protobuf → governance-domain conversion (`meterlab_server::convert`) on any
//! message a client can send: the first byte picks the message type, the rest is its protobuf
//! encoding. Every message that decodes converts to a domain value or to a `FieldError` naming a
//! field, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_governance::projection::Projection;
use meterlab_proto::v1 as pb;
use meterlab_server::convert::{keys, requests, result};
use prost::Message;

fn decode<M: Message + Default>(bytes: &[u8]) -> Option<M> {
    M::decode(bytes).ok()
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 8 {
        0 => {
            if let Some(m) = decode::<pb::SubmitResult>(bytes) {
                let _ = result::check_submission(&m);
                if let Some(r) = &m.result {
                    let _ = result::case_result_from_proto(r);
                }
            }
            let _ = result::case_result_from_body(bytes);
        }
        1 => {
            if let Some(m) = decode::<pb::RaiseIssueRequest>(bytes) {
                let _ = requests::raise_issue(&m, &Projection::new());
            }
        }
        2 => {
            if let Some(m) = decode::<pb::UpdateIssueRequest>(bytes) {
                let _ = requests::update_issue(&m);
            }
        }
        3 => {
            if let Some(m) = decode::<pb::RequestDescopeRequest>(bytes) {
                let _ = requests::descope(&m);
                let _ = requests::occurred_at(&m.meta, 0);
                let _ = requests::reason(&m.meta, "fallback");
            }
        }
        4 => {
            if let Some(m) = decode::<pb::RegisterEntryRequest>(bytes) {
                let _ = requests::dmc_id(&m);
                if let Some(dmc) = &m.dmc {
                    let _ = requests::dmc_components("dmc", dmc);
                }
                if let Some(entry) = &m.entry {
                    let _ = keys::entry_from_proto(entry);
                }
            }
        }
        5 => {
            if let Some(m) = decode::<pb::DepthBreadthDocument>(bytes) {
                let _ = requests::case_specs(&m);
            }
        }
        6 => {
            if let Some(m) = decode::<pb::RegressionKey>(bytes) {
                let _ = keys::regression_from_proto("regression", &Some(m));
            }
            if let Some(m) = decode::<pb::DepthBreadthKey>(bytes) {
                let _ = keys::dnb_key_from_proto("document", &Some(m));
            }
            if let Some(m) = decode::<pb::PhaseKey>(bytes) {
                let _ = requests::phase("phase", &Some(m));
            }
        }
        _ => {
            if let Some(m) = decode::<prost_types::Timestamp>(bytes) {
                let _ = requests::plan_date("planned_start", &m);
                let _ = requests::instant("occurred_at", &m);
                let _ = requests::window(&Some(m.clone()), &Some(m));
            }
            // Every enum converter on every raw value a client could send.
            let raw = bytes
                .get(..4)
                .map_or(0, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
            let _ = keys::release_from_proto("release", raw);
            let _ = keys::test_type_from_proto("test_type", raw);
            let _ = keys::mode_from_proto("mode", raw);
            let _ = keys::case_status_from_proto("status", raw);
            let _ = keys::issue_status_from_proto("status", raw);
            let _ = keys::dnb_status_from_proto("status", raw);
            let _ = keys::regression_kind_from_proto("kind", raw);
            let _ = requests::severity("severity", raw as u32);
        }
    }
});
