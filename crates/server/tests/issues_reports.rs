//! GovernanceService over a real loopback socket: Testing Issue descriptions (raised, listed,
//! updated, rebuilt after a restart), results of two meters with the same attempt number, and the
//! self-contained, escaped HTML completion report.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_server::StreamLimits;
use sha2::{Digest, Sha256};
use tonic::transport::Channel;

fn criterion<'a>(verdict: &'a pb::Verdict, needle: &str) -> &'a pb::Criterion {
    verdict
        .criteria
        .iter()
        .find(|c| c.rule_id.contains(needle))
        .unwrap_or_else(|| panic!("no criterion {needle} in {verdict:?}"))
}

fn text(m: &Option<pb::Measure>) -> String {
    match m.as_ref().and_then(|m| m.value.clone()) {
        Some(pb::measure::Value::Text(t)) => t,
        other => format!("{other:?}"),
    }
}

async fn evaluate_mt_active(gov: &mut GovernanceServiceClient<Channel>) -> pb::Verdict {
    gov.evaluate_phase(pb::EvaluatePhaseRequest {
        phase: Some(mt_active()),
        profile: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn issue_descriptions_are_recorded_listed_updated_and_rebuilt() {
    let server = TestServer::start(StreamLimits::default()).await;
    let dir = server.dir.clone();
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    let raised = gov
        .raise_issue(pb::RaiseIssueRequest {
            severity: 3,
            title: "clock drift".into(),
            description: "ESME clock runs 4 s/day fast after a firmware update".into(),
            phases: vec![mt_active()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(raised.description.starts_with("ESME clock"), "{raised:?}");
    let listed = gov
        .list_issues(pb::ListIssuesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.issues.len(), 1);
    assert_eq!(listed.issues[0].description, raised.description);

    let updated = gov
        .update_issue(pb::UpdateIssueRequest {
            id: raised.id.clone(),
            description: Some("drift is 4 s/day; reproduced on two meters".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        updated.description,
        "drift is 4 s/day; reproduced on two meters"
    );
    drop(gov);
    server.stop().await;

    let server = TestServer::start_in(dir, StreamLimits::default()).await;
    let mut gov = server.governance().await;
    let listed = gov
        .list_issues(pb::ListIssuesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.issues[0].description, updated.description);
    server.stop().await;
}

fn on_device(case: &str, device: &str, attempt: u32, status: pb::CaseStatus) -> pb::TestCaseResult {
    pb::TestCaseResult {
        device_id: device.into(),
        ..result(case, attempt, status)
    }
}

#[tokio::test]
async fn two_meters_with_the_same_attempt_number_are_both_counted() {
    let server = TestServer::start(StreamLimits::default()).await;
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    let mut client = server.results().await;
    let (mut stream, _) = ResultStream::open(&mut client, "lab-2").await;
    let sent = [
        on_device(CASES[0], "esme-1", 1, pb::CaseStatus::Passed),
        on_device(CASES[0], "esme-2", 1, pb::CaseStatus::Failed),
        on_device(CASES[1], "esme-1", 1, pb::CaseStatus::Passed),
        on_device(CASES[1], "esme-2", 1, pb::CaseStatus::Passed),
        on_device(CASES[2], "esme-1", 1, pb::CaseStatus::Passed),
    ];
    for (i, r) in sent.into_iter().enumerate() {
        stream.send(submit("lab-2", i as u64 + 1, r)).await;
        stream.ack().await;
    }
    // esme-2 failed MT-001: the case is not passed although esme-1 passed it.
    let verdict = evaluate_mt_active(&mut gov).await;
    let coverage = criterion(&verdict, "4.coverage");
    assert_eq!(text(&coverage.measured), "2/3", "{coverage:?}");
    assert!(
        coverage.explanation.contains("MT-001 (failed)"),
        "{coverage:?}"
    );

    // The same device and attempt under another key is still a duplicate.
    stream
        .send(submit(
            "lab-2",
            6,
            on_device(CASES[0], "esme-2", 1, pb::CaseStatus::Passed),
        ))
        .await;
    let rejection = stream.rejection().await;
    assert!(rejection.message.contains("esme-2"), "{rejection:?}");

    stream
        .send(submit(
            "lab-2",
            6,
            on_device(CASES[0], "esme-2", 2, pb::CaseStatus::Passed),
        ))
        .await;
    stream.ack().await;
    let verdict = evaluate_mt_active(&mut gov).await;
    let coverage = criterion(&verdict, "4.coverage");
    assert_eq!(text(&coverage.measured), "3/3", "{coverage:?}");
    assert_eq!(coverage.outcome(), pb::CriterionOutcome::Met);
    drop((stream, client));
    server.stop().await;
}

#[tokio::test]
async fn the_html_report_is_self_contained_and_escapes_what_the_log_holds() {
    let server = TestServer::start(StreamLimits::default()).await;
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    gov.raise_issue(pb::RaiseIssueRequest {
        severity: 2,
        title: "<script>alert('x')</script>".into(),
        description: "a & b <b>bold</b>".into(),
        phases: vec![mt_active()],
        ..Default::default()
    })
    .await
    .unwrap();
    let report = gov
        .get_completion_report(pb::GetCompletionReportRequest {
            phases: vec![mt_active()],
            format: pb::ReportFormat::Html.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.media_type, "text/html");
    assert_eq!(
        report.rendered_sha256,
        Sha256::digest(&report.rendered).to_vec()
    );
    let html = String::from_utf8(report.rendered).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"),
        "{html}"
    );
    assert!(html.contains("a &amp; b &lt;b&gt;bold&lt;/b&gt;"), "{html}");
    assert!(!html.contains("<script"), "{html}");
    assert!(!html.contains("<b>"), "{html}");
    // Self-contained: nothing is fetched (links are anchors within the document).
    assert!(!html.contains("src="), "{html}");
    assert!(!html.contains("url("), "{html}");
    assert!(
        html.matches("href=\"").count() == html.matches("href=\"#").count(),
        "{html}"
    );
    assert!(html.contains("Illustrative profile"), "{html}");
    assert!(html.contains("R4") || html.contains("4.coverage"), "{html}");
    assert!(html.ends_with("</html>\n"));
    server.stop().await;
}
