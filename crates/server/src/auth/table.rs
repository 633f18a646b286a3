//! The one authorisation table: every RPC's full path and who may call it. A path that is not
//! in the table is refused for everyone (PERMISSION_DENIED), so a new RPC is closed until it is
//! listed here; a test checks that every RPC of every `meterlab.v1` service is listed.

use super::Role;

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Anyone, without credentials (gRPC health only).
    Public,
    /// Authenticated principals with at least this role.
    AtLeast(Role),
}

const GOV: &str = "/meterlab.v1.GovernanceService/";
const RES: &str = "/meterlab.v1.ResultService/";
const DEV: &str = "/meterlab.v1.DeviceService/";
const RUN: &str = "/meterlab.v1.RunService/";
const OUTBOX: &str = "/meterlab.v1.OutboxService/";

/// RPC (service path prefix, method) → rule.
pub const AUTHORISATION: &[(&str, &str, Rule)] = {
    use Role::{Engineer, TestManager, Viewer};
    use Rule::{AtLeast, Public};
    &[
        ("/grpc.health.v1.Health/", "Check", Public),
        ("/grpc.health.v1.Health/", "Watch", Public),
        (
            "/grpc.reflection.v1.ServerReflection/",
            "ServerReflectionInfo",
            AtLeast(Viewer),
        ),
        // results
        (RES, "StreamResults", AtLeast(Engineer)),
        (RES, "GetWatermark", AtLeast(Viewer)),
        // a lab gateway's forwarding status (every gateway answers it)
        (OUTBOX, "GetOutboxStatus", AtLeast(Viewer)),
        // governance: planning and decisions
        (GOV, "RegisterEntry", AtLeast(TestManager)),
        (GOV, "RegisterPhase", AtLeast(TestManager)),
        (GOV, "StartPhase", AtLeast(TestManager)),
        (GOV, "AmendTimetable", AtLeast(TestManager)),
        (GOV, "DefineCycle", AtLeast(TestManager)),
        (GOV, "RegisterDepthBreadth", AtLeast(TestManager)),
        (GOV, "SetDepthBreadthStatus", AtLeast(TestManager)),
        (GOV, "RaiseIssue", AtLeast(TestManager)),
        (GOV, "UpdateIssue", AtLeast(TestManager)),
        (GOV, "RequestDescope", AtLeast(TestManager)),
        (GOV, "RecordRegressionRun", AtLeast(TestManager)),
        (GOV, "RecordDmcChange", AtLeast(TestManager)),
        // governance: reading
        (GOV, "ListIssues", AtLeast(Viewer)),
        (GOV, "EvaluatePhase", AtLeast(Viewer)),
        (GOV, "EvaluateEntry", AtLeast(Viewer)),
        (GOV, "EvaluateCycle", AtLeast(Viewer)),
        (GOV, "WhatIf", AtLeast(Viewer)),
        (GOV, "GetCompletionReport", AtLeast(Viewer)),
        // The report and the stored results behind it: whoever may read the report may take
        // its evidence away as a bundle.
        (GOV, "ExportResults", AtLeast(Viewer)),
        // devices and runs (served when the serve config has a bench)
        (DEV, "ListDevices", AtLeast(Viewer)),
        (DEV, "LeaseDevice", AtLeast(Engineer)),
        (DEV, "RenewLease", AtLeast(Engineer)),
        (DEV, "ReleaseDevice", AtLeast(Engineer)),
        // Talks to the device (associates, reads its clock) under a short lease.
        (DEV, "CheckHealth", AtLeast(Engineer)),
        (RUN, "StartRun", AtLeast(Engineer)),
        (RUN, "WatchRun", AtLeast(Viewer)),
        (RUN, "CancelRun", AtLeast(Engineer)),
        (RUN, "GetRun", AtLeast(Viewer)),
        (RUN, "ListRuns", AtLeast(Viewer)),
    ]
};

/// The rule for an HTTP/2 request path (`/package.Service/Method`), `None` when unlisted.
pub fn rule_for(path: &str) -> Option<Rule> {
    AUTHORISATION
        .iter()
        .find(|(service, method, _)| {
            path.strip_prefix(service)
                .is_some_and(|rest| rest == *method)
        })
        .map(|(_, _, rule)| *rule)
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    #[test]
    fn every_rpc_of_every_meterlab_service_has_exactly_one_rule() {
        let set = prost_types::FileDescriptorSet::decode(meterlab_proto::FILE_DESCRIPTOR_SET)
            .expect("the compiled descriptor set decodes");
        let mut seen = 0;
        for file in &set.file {
            let package = file.package();
            if package != "meterlab.v1" {
                continue;
            }
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/{package}.{}/{}", service.name(), method.name());
                    let rules = AUTHORISATION
                        .iter()
                        .filter(|(s, m, _)| format!("{s}{m}") == path)
                        .count();
                    assert_eq!(rules, 1, "{path} must have exactly one rule");
                    assert!(
                        matches!(rule_for(&path), Some(Rule::AtLeast(_))),
                        "{path} must need credentials"
                    );
                    seen += 1;
                }
            }
        }
        let listed = AUTHORISATION
            .iter()
            .filter(|(s, _, _)| s.starts_with("/meterlab.v1."))
            .count();
        assert!(seen > 20, "only {seen} RPCs found in the descriptor set");
        assert_eq!(listed, seen, "the table lists RPCs that do not exist");
    }

    #[test]
    fn unlisted_paths_and_prefix_tricks_have_no_rule() {
        assert_eq!(rule_for("/meterlab.v1.GovernanceService/Nope"), None);
        assert_eq!(rule_for("/meterlab.v1.GovernanceService/ListIssuesX"), None);
        assert_eq!(rule_for("/grpc.health.v1.Health/Check/../x"), None);
        assert_eq!(rule_for("/grpc.health.v1.Health/Check"), Some(Rule::Public));
    }
}
