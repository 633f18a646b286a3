//! The completion report lists regression runs over gRPC: started and finished instants, result
//! counts per status and exit, in the structured response, the Markdown and the HTML, and the
//! same after a restart (the projection rebuilt from the log).
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_server::StreamLimits;
use tonic::Code;
use tonic::transport::Channel;

type Gov = GovernanceServiceClient<Channel>;

const STARTED: prost_types::Timestamp = prost_types::Timestamp {
    seconds: 1_764_400_000,
    nanos: 250_000_000,
};
const FINISHED: prost_types::Timestamp = prost_types::Timestamp {
    seconds: 1_764_403_600,
    nanos: 0,
};

fn mt_end_key() -> pb::RegressionKey {
    pb::RegressionKey {
        scope: Some(pb::regression_key::Scope::Entry(entry())),
        kind: pb::RegressionKind::MtEnd.into(),
    }
}

fn run_result(
    case: &str,
    device: &str,
    attempt: u32,
    status: pb::CaseStatus,
) -> pb::TestCaseResult {
    pb::TestCaseResult {
        phase: None,
        regression: None,
        device_id: device.into(),
        ..result(case, attempt, status)
    }
}

fn mt_end(
    started_at: Option<prost_types::Timestamp>,
    finished_at: Option<prost_types::Timestamp>,
    results: Vec<pb::TestCaseResult>,
) -> pb::RecordRegressionRunRequest {
    pb::RecordRegressionRunRequest {
        run: Some(pb::RegressionRun {
            regression_id: "mt-end-1".into(),
            scope: Some(pb::regression_run::Scope::Entry(entry())),
            kind: pb::RegressionKind::MtEnd.into(),
            started_at,
            finished_at,
            results,
            ..Default::default()
        }),
        meta: None,
    }
}

async fn report(gov: &mut Gov, format: pb::ReportFormat) -> pb::CompletionReport {
    gov.get_completion_report(pb::GetCompletionReportRequest {
        phases: vec![],
        entries: vec![entry()],
        format: format.into(),
        profile: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

fn check_structured(report: &pb::CompletionReport) {
    assert_eq!(
        report.phases.len(),
        6,
        "test phases only: {:?}",
        report.phases
    );
    assert!(report.phases.iter().all(|s| s.phase.is_some()));
    let [run] = report.regressions.as_slice() else {
        panic!("expected one regression run: {:?}", report.regressions);
    };
    assert_eq!(run.run, Some(mt_end_key()));
    assert_eq!(run.started_at, Some(STARTED));
    assert_eq!(run.finished_at, Some(FINISHED));
    assert!(run.exited);
    assert_eq!(
        run.results,
        Some(pb::ResultCounts {
            passed: 3,
            failed: 1,
            blocked: 0,
            not_run: 0,
            descoped: 0,
        })
    );
    let counts = run.counts.unwrap();
    assert_eq!((counts.planned, counts.passed, counts.missing), (2, 2, 0));
    assert_eq!(
        run.verdict.as_ref().unwrap().outcome(),
        pb::VerdictOutcome::Exit
    );
    assert_eq!(run.depth_breadth_version, "1");
}

async fn check_all_formats(gov: &mut Gov) {
    let structured = report(gov, pb::ReportFormat::Structured).await;
    check_structured(&structured);

    let markdown = report(gov, pb::ReportFormat::Markdown).await;
    check_structured(&markdown);
    assert_eq!(markdown.media_type, "text/markdown");
    let text = String::from_utf8(markdown.rendered).unwrap();
    // The run's row of the "Regression status" table (the summary table lists it too).
    let row = text
        .lines()
        .skip_while(|l| !l.starts_with("## Regression status"))
        .find(|l| l.starts_with("| entry IOC/smso-a/dmc-1 regression mt_end |"))
        .unwrap_or_else(|| panic!("no regression row in\n{text}"));
    for needle in [
        "| 2025-11-29T07:06:40.250Z | 2025-11-29T08:06:40Z | yes | `exit` |",
        "| 3 / 1 / 0 / 0 / 0 | 2 / 2 |",
    ] {
        assert!(row.contains(needle), "{needle:?} missing from {row}");
    }

    let html = report(gov, pb::ReportFormat::Html).await;
    check_structured(&html);
    assert_eq!(html.media_type, "text/html");
    let text = String::from_utf8(html.rendered).unwrap();
    assert!(
        text.contains(
            "<tr><td>entry IOC/smso-a/dmc-1 regression mt_end</td>\
             <td>2025-11-29T07:06:40.250Z</td><td>2025-11-29T08:06:40Z</td><td>yes</td>\
             <td class=\"exit\">exit</td><td>3 / 1 / 0 / 0 / 0</td><td>2 / 2</td></tr>"
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_finished_regression_run_appears_in_the_report_with_times_counts_and_exit() {
    let server = TestServer::start(StreamLimits::default()).await;
    let dir = server.dir.clone();
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    agree_regression_list(&server.client().await).await;

    // Before any run the section is empty, and says so in the documents.
    let empty = report(&mut gov, pb::ReportFormat::Markdown).await;
    assert!(empty.regressions.is_empty());
    let text = String::from_utf8(empty.rendered).unwrap();
    assert!(
        text.contains(
            "## Regression status\n\nNo regression run is recorded for the phases or entries of this report."
        ),
        "{text}"
    );

    // Started with results inline: a failure then a pass on one meter, a pass of the other case.
    gov.record_regression_run(mt_end(
        Some(STARTED),
        None,
        vec![
            run_result(REGRESSION_CASES[0], "esme-m1", 1, pb::CaseStatus::Failed),
            run_result(REGRESSION_CASES[0], "esme-m1", 2, pb::CaseStatus::Passed),
            run_result(REGRESSION_CASES[1], "esme-m1", 1, pb::CaseStatus::Passed),
        ],
    ))
    .await
    .unwrap();
    // A second meter's result arrives through ResultService, naming the run.
    let mut results = server.results().await;
    let (mut stream, _) = ResultStream::open(&mut results, "bench-1").await;
    stream
        .send(submit(
            "bench-1",
            1,
            pb::TestCaseResult {
                regression: Some(mt_end_key()),
                ..run_result(REGRESSION_CASES[1], "esme-m2", 1, pb::CaseStatus::Passed)
            },
        ))
        .await;
    stream.ack().await;

    let running = report(&mut gov, pb::ReportFormat::Structured).await;
    let [run] = running.regressions.as_slice() else {
        panic!("{:?}", running.regressions);
    };
    assert_eq!(run.started_at, Some(STARTED));
    assert_eq!(run.finished_at, None);
    assert!(!run.exited);

    // A finish before the start is refused, nothing is recorded.
    let early = prost_types::Timestamp {
        seconds: STARTED.seconds - 1,
        nanos: 0,
    };
    let refused = gov
        .record_regression_run(mt_end(None, Some(early), vec![]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("run.finished_at"), "{refused:?}");

    gov.record_regression_run(mt_end(None, Some(FINISHED), vec![]))
        .await
        .unwrap();
    check_all_formats(&mut gov).await;

    drop(stream);
    server.stop().await;
    let server = TestServer::start_in(dir, StreamLimits::default()).await;
    let mut gov = server.governance().await;
    check_all_formats(&mut gov).await;
    server.stop().await;
}
