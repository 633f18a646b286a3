//! GovernanceService over a real loopback socket: registration, D&B, results through the
//! ResultService, issues, evaluation with criteria, what-if, de-scope, report, and the projection
//! rebuilt from the log after a restart. Also health and reflection.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_proto::v1 as pb;
use meterlab_server::StreamLimits;
use tonic::Code;

async fn stream_results(server: &TestServer, statuses: &[(&str, pb::CaseStatus)]) {
    let mut client = server.results().await;
    let (mut stream, opened) = ResultStream::open(&mut client, "lab-1").await;
    let start = opened.watermark.unwrap().acked_seq + 1;
    for (i, (case, status)) in statuses.iter().enumerate() {
        stream
            .send(submit("lab-1", start + i as u64, result(case, 1, *status)))
            .await;
    }
    for _ in statuses {
        stream.ack().await;
    }
}

fn criterion<'a>(verdict: &'a pb::Verdict, needle: &str) -> Vec<&'a pb::Criterion> {
    verdict
        .criteria
        .iter()
        .filter(|c| c.rule_id.contains(needle))
        .collect()
}

#[tokio::test]
async fn a_phase_is_evaluated_with_every_criterion_and_what_if_writes_nothing() {
    let server = TestServer::start(StreamLimits::default()).await;
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    stream_results(
        &server,
        &[
            (CASES[0], pb::CaseStatus::Passed),
            (CASES[1], pb::CaseStatus::Passed),
            (CASES[2], pb::CaseStatus::Failed),
        ],
    )
    .await;
    let issue = gov
        .raise_issue(pb::RaiseIssueRequest {
            severity: 2,
            title: "register read times out".into(),
            cases: vec![pb::CaseRef {
                phase: Some(mt_active()),
                case_id: CASES[2].into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((issue.id.as_str(), issue.severity), ("1", 2));
    assert_eq!(issue.status(), pb::IssueStatus::Open);

    let verdict = gov
        .evaluate_phase(pb::EvaluatePhaseRequest {
            phase: Some(mt_active()),
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verdict.outcome(), pb::VerdictOutcome::NotMet);
    assert!(verdict.profile.as_ref().unwrap().illustrative);
    assert!(!verdict.hypothetical);
    assert!(verdict.log_position > 0);
    assert!(!verdict.criteria.is_empty());
    for c in &verdict.criteria {
        assert!(!c.rule_id.is_empty() && !c.clause.is_empty() && !c.explanation.is_empty());
        assert!(c.measured.is_some() && c.limit.is_some());
    }
    let sev2 = criterion(&verdict, "sev2");
    assert!(
        sev2.iter()
            .any(|c| c.outcome() == pb::CriterionOutcome::NotMet),
        "{sev2:?}"
    );

    // What if the issue were closed and MT-003 passed on a retest?
    let what_if = gov
        .what_if(pb::WhatIfRequest {
            target: Some(pb::what_if_request::Target::Phase(mt_active())),
            events: vec![
                pb::HypotheticalEvent {
                    event: Some(pb::hypothetical_event::Event::UpdateIssue(
                        pb::UpdateIssueRequest {
                            id: "1".into(),
                            status: Some(pb::IssueStatus::Closed.into()),
                            ..Default::default()
                        },
                    )),
                },
                pb::HypotheticalEvent {
                    event: Some(pb::hypothetical_event::Event::Result(result(
                        CASES[2],
                        2,
                        pb::CaseStatus::Passed,
                    ))),
                },
                pb::HypotheticalEvent {
                    event: Some(pb::hypothetical_event::Event::UpdateIssue(
                        pb::UpdateIssueRequest {
                            id: "999".into(),
                            severity: Some(4),
                            ..Default::default()
                        },
                    )),
                },
            ],
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        what_if.current.unwrap().outcome(),
        pb::VerdictOutcome::NotMet
    );
    let hypothetical = what_if.hypothetical.unwrap();
    assert!(hypothetical.hypothetical);
    assert_eq!(
        hypothetical.outcome(),
        pb::VerdictOutcome::Exit,
        "{hypothetical:?}"
    );
    assert_eq!(what_if.rejected.len(), 1);
    assert_eq!(what_if.rejected[0].index, 2);

    // Nothing was written: the real verdict is unchanged.
    let again = gov
        .evaluate_phase(pb::EvaluatePhaseRequest {
            phase: Some(mt_active()),
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, verdict);

    // A de-scope without a rationale is refused with the failing condition named.
    let decision = gov
        .request_descope(pb::RequestDescopeRequest {
            case: Some(pb::CaseRef {
                phase: Some(mt_active()),
                case_id: CASES[2].into(),
            }),
            cited: Some(pb::CitedResult {
                case: Some(pb::CaseRef {
                    phase: Some(mt_active()),
                    case_id: CASES[0].into(),
                }),
                ..Default::default()
            }),
            rationale: String::new(),
            meta: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!decision.accepted);
    let unmet: Vec<_> = decision.checks.iter().filter(|c| !c.satisfied).collect();
    assert_eq!(unmet.len(), 1, "{:?}", decision.checks);
    assert_eq!(unmet[0].condition(), pb::DescopeCondition::RationaleGiven);

    // Close the issue for real and retest: the phase exits.
    gov.update_issue(pb::UpdateIssueRequest {
        id: "1".into(),
        status: Some(pb::IssueStatus::Closed.into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let mut client = server.results().await;
    let (mut stream, opened) = ResultStream::open(&mut client, "lab-1").await;
    let next = opened.watermark.unwrap().acked_seq + 1;
    stream
        .send(submit(
            "lab-1",
            next,
            result(CASES[2], 2, pb::CaseStatus::Passed),
        ))
        .await;
    stream.ack().await;
    let exit = gov
        .evaluate_phase(pb::EvaluatePhaseRequest {
            phase: Some(mt_active()),
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exit.outcome(), pb::VerdictOutcome::Exit, "{exit:?}");

    let issues = gov
        .list_issues(pb::ListIssuesRequest {
            statuses: vec![pb::IssueStatus::Closed.into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(issues.issues.len(), 1);

    let report = gov
        .get_completion_report(pb::GetCompletionReportRequest {
            phases: vec![mt_active()],
            format: pb::ReportFormat::Markdown.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.phases.len(), 1);
    let counts = report.phases[0].counts.unwrap();
    assert_eq!((counts.planned, counts.passed), (3, 3));
    assert!(report.audit_required, "IOC requires independent audit");
    assert_eq!(report.media_type, "text/markdown");
    let markdown = String::from_utf8(report.rendered).unwrap();
    assert!(
        markdown.starts_with("# Combined completion report"),
        "{markdown}"
    );
    assert_eq!(report.rendered_sha256.len(), 32);
    server.stop().await;
}

#[tokio::test]
async fn invalid_governance_requests_are_refused_and_nothing_is_written() {
    let server = TestServer::start(StreamLimits::default()).await;
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;

    let bad_severity = gov
        .raise_issue(pb::RaiseIssueRequest {
            severity: 7,
            title: "x".into(),
            phases: vec![mt_active()],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_severity.code(), Code::InvalidArgument);
    assert!(bad_severity.message().contains("severity"));

    let mut no_mode = mt_active();
    no_mode.mode = 0;
    let missing = gov
        .evaluate_phase(pb::EvaluatePhaseRequest {
            phase: Some(no_mode),
            profile: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        missing.message().contains("phase.mode"),
        "{}",
        missing.message()
    );

    // Agreed -> referred is not a legal transition.
    let transition = gov
        .set_depth_breadth_status(pb::SetDepthBreadthStatusRequest {
            key: Some(pb::DepthBreadthKey {
                release: pb::CapabilityRelease::Ioc.into(),
                smso_id: "smso-a".into(),
                test_type: pb::TestType::Mt.into(),
                regression: false,
            }),
            status: pb::DepthBreadthStatus::Referred.into(),
            version: "1".into(),
            meta: None,
        })
        .await
        .unwrap_err();
    assert_eq!(
        transition.code(),
        Code::FailedPrecondition,
        "{transition:?}"
    );

    let duplicate = gov
        .register_phase(pb::RegisterPhaseRequest {
            phase: Some(mt_active()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(duplicate.code(), Code::AlreadyExists);

    let other_profile = gov
        .evaluate_phase(pb::EvaluatePhaseRequest {
            phase: Some(mt_active()),
            profile: "no-such-profile".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(other_profile.code(), Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn the_projection_is_rebuilt_from_the_log_after_a_restart() {
    let server = TestServer::start(StreamLimits::default()).await;
    let dir = server.dir.clone();
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    stream_results(
        &server,
        &[
            (CASES[0], pb::CaseStatus::Passed),
            (CASES[1], pb::CaseStatus::Blocked),
        ],
    )
    .await;
    let request = pb::EvaluatePhaseRequest {
        phase: Some(mt_active()),
        profile: String::new(),
    };
    let before = gov
        .evaluate_phase(request.clone())
        .await
        .unwrap()
        .into_inner();
    drop(gov);
    server.stop().await;

    let server = TestServer::start_in(dir, StreamLimits::default()).await;
    let mut gov = server.governance().await;
    let after = gov.evaluate_phase(request).await.unwrap().into_inner();
    assert_eq!(after, before);
    let watermark = server
        .results()
        .await
        .get_watermark(pb::GetWatermarkRequest {
            source: "lab-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(watermark.acked_seq, 2);
    server.stop().await;
}

#[tokio::test]
async fn health_and_reflection_are_served() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let server = TestServer::start(StreamLimits::default()).await;
    let mut health = HealthClient::new(server.channel().await);
    for service in ["meterlab.v1.ResultService", "meterlab.v1.GovernanceService"] {
        let status = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(status.status(), ServingStatus::Serving, "{service}");
    }

    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(tokio_stream::iter(vec![request]))
        .await
        .unwrap()
        .into_inner();
    let response = responses.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
        panic!("unexpected reflection answer {response:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(names.contains(&"meterlab.v1.ResultService"), "{names:?}");
    assert!(
        names.contains(&"meterlab.v1.GovernanceService"),
        "{names:?}"
    );
    server.stop().await;
}
