//! Gateway answers as the typed client reads them: arbitrary bytes decoded as a `Verdict`,
//! `PhaseKey`, `Dmc` or `DepthBreadthKey` must be read or refused naming a field — never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meterlab_client::convert::{
    VerdictKind, dmc_from_proto, dnb_key_from_proto, phase_from_proto, verdict_from_proto,
};
use meterlab_proto::v1 as pb;
use prost::Message as _;

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    let refused_by_field = |problem: (String, String)| assert!(!problem.0.is_empty());
    match which % 4 {
        0 => {
            if let Ok(verdict) = pb::Verdict::decode(bytes) {
                for kind in [VerdictKind::PhaseExit, VerdictKind::PhaseStart, VerdictKind::Aggregate] {
                    if let Err(problem) = verdict_from_proto(&verdict, kind, &[]) {
                        refused_by_field(problem);
                    }
                }
            }
        }
        1 => {
            if let Ok(phase) = pb::PhaseKey::decode(bytes) {
                if let Err(problem) = phase_from_proto(&phase) {
                    refused_by_field(problem);
                }
            }
        }
        2 => {
            if let Ok(dmc) = pb::Dmc::decode(bytes) {
                if let Err(problem) = dmc_from_proto(&dmc) {
                    refused_by_field(problem);
                }
            }
        }
        _ => {
            if let Ok(key) = pb::DepthBreadthKey::decode(bytes) {
                if let Err(problem) = dnb_key_from_proto(&key) {
                    refused_by_field(problem);
                }
            }
        }
    }
});
