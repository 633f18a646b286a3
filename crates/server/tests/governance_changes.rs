//! GovernanceService over a real loopback socket: regression runs (RecordRegressionRun, results
//! naming a run through ResultService, what-if) and DMC de-selection / reintroduction / model
//! change (RecordDmcChange). Every write is checked again after a restart, from the projection
//! rebuilt from the log.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use meterlab_proto::v1 as pb;
use meterlab_proto::v1::governance_service_client::GovernanceServiceClient;
use meterlab_server::StreamLimits;
use tonic::Code;
use tonic::transport::Channel;

type Gov = GovernanceServiceClient<Channel>;

fn ts() -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: 1_764_400_000,
        nanos: 0,
    })
}

fn criterion<'a>(verdict: &'a pb::Verdict, needle: &str) -> &'a pb::Criterion {
    verdict
        .criteria
        .iter()
        .find(|c| c.rule_id.contains(needle))
        .unwrap_or_else(|| panic!("no criterion {needle} in {verdict:?}"))
}

async fn evaluate_mt_active(gov: &mut Gov) -> pb::Verdict {
    gov.evaluate_phase(pb::EvaluatePhaseRequest {
        phase: Some(mt_active()),
        profile: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

/// A regression result: no phase, optionally naming its run.
fn regression_result(
    case: &str,
    regression: Option<pb::RegressionKey>,
    status: pb::CaseStatus,
) -> pb::TestCaseResult {
    pb::TestCaseResult {
        phase: None,
        regression,
        device_id: "esme-migrated-1".into(),
        ..result(case, 1, status)
    }
}

fn cycle_run(kind: pb::RegressionKind, results: Vec<pb::TestCaseResult>) -> pb::RegressionRun {
    pb::RegressionRun {
        regression_id: format!("c1-{}", kind.as_str_name()),
        scope: Some(pb::regression_run::Scope::CycleId("c1".into())),
        kind: kind.into(),
        on_migrated_devices: kind == pb::RegressionKind::Combined,
        case_ids: REGRESSION_CASES.iter().map(|c| (*c).to_owned()).collect(),
        started_at: ts(),
        finished_at: ts(),
        results,
        ..Default::default()
    }
}

fn passing(kind: pb::RegressionKind) -> pb::RegressionRun {
    cycle_run(
        kind,
        REGRESSION_CASES
            .iter()
            .map(|c| regression_result(c, None, pb::CaseStatus::Passed))
            .collect(),
    )
}

async fn evaluate_cycle(gov: &mut Gov) -> pb::Verdict {
    gov.evaluate_cycle(pb::EvaluateCycleRequest {
        cycle_id: "c1".into(),
        profile: String::new(),
    })
    .await
    .unwrap()
    .into_inner()
}

#[tokio::test]
async fn regression_runs_are_recorded_with_results_from_both_paths_and_complete_a_cycle() {
    let server = TestServer::start(StreamLimits::default()).await;
    let dir = server.dir.clone();
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;
    gov.define_cycle(pb::DefineCycleRequest {
        cycle_id: "c1".into(),
        entries: vec![entry()],
        meta: None,
    })
    .await
    .unwrap();

    // No regression list yet: the start is refused and nothing (not even the registration) stays.
    let refused = gov
        .record_regression_run(pb::RecordRegressionRunRequest {
            run: Some(pb::RegressionRun {
                finished_at: None,
                results: vec![],
                ..passing(pb::RegressionKind::MtEnd)
            }),
            meta: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(refused.message().contains("run.case_ids"), "{refused:?}");
    let refused = gov
        .record_regression_run(pb::RecordRegressionRunRequest {
            run: Some(pb::RegressionRun {
                case_ids: vec![],
                finished_at: None,
                results: vec![],
                ..passing(pb::RegressionKind::MtEnd)
            }),
            meta: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("may not start"), "{refused:?}");

    agree_regression_list(&server.client().await).await;
    // A combined regression runs on migrated devices.
    let refused = gov
        .record_regression_run(pb::RecordRegressionRunRequest {
            run: Some(pb::RegressionRun {
                on_migrated_devices: false,
                ..passing(pb::RegressionKind::Combined)
            }),
            meta: None,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains("run.on_migrated_devices"),
        "{refused:?}"
    );

    let before = evaluate_cycle(&mut gov).await;
    assert_eq!(before.outcome(), pb::VerdictOutcome::NotMet);
    assert_eq!(
        criterion(&before, "6.run.mt_end").outcome(),
        pb::CriterionOutcome::NotMet
    );

    // What-if: the three runs passing would complete the cycle; nothing is written.
    let what_if = gov
        .what_if(pb::WhatIfRequest {
            target: Some(pb::what_if_request::Target::CycleId("c1".into())),
            events: [
                pb::RegressionKind::MtEnd,
                pb::RegressionKind::SitEnd,
                pb::RegressionKind::Combined,
            ]
            .into_iter()
            .map(|kind| pb::HypotheticalEvent {
                event: Some(pb::hypothetical_event::Event::Regression(
                    pb::RecordRegressionRunRequest {
                        run: Some(passing(kind)),
                        meta: None,
                    },
                )),
            })
            .collect(),
            profile: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(what_if.rejected.is_empty(), "{:?}", what_if.rejected);
    assert_eq!(
        what_if.hypothetical.unwrap().outcome(),
        pb::VerdictOutcome::Exit
    );
    assert_eq!(evaluate_cycle(&mut gov).await, before);

    // MT end-of-cycle: started with one result inline, the other streamed through ResultService
    // naming the run by its key.
    let mt_end = gov
        .record_regression_run(pb::RecordRegressionRunRequest {
            run: Some(pb::RegressionRun {
                finished_at: None,
                results: vec![regression_result(
                    REGRESSION_CASES[0],
                    None,
                    pb::CaseStatus::Passed,
                )],
                ..passing(pb::RegressionKind::MtEnd)
            }),
            meta: None,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(mt_end.log_position > 0 && mt_end.event_sha256.len() == 32);
    let finish_mt_end = pb::RecordRegressionRunRequest {
        run: Some(pb::RegressionRun {
            started_at: None,
            results: vec![],
            ..passing(pb::RegressionKind::MtEnd)
        }),
        meta: None,
    };
    let refused = gov
        .record_regression_run(finish_mt_end.clone())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("RG-002"), "{refused:?}");

    let mut results = server.results().await;
    let (mut stream, _) = ResultStream::open(&mut results, "lab-r").await;
    let key = pb::RegressionKey {
        scope: Some(pb::regression_key::Scope::CycleId("c1".into())),
        kind: pb::RegressionKind::MtEnd.into(),
    };
    stream
        .send(submit(
            "lab-r",
            1,
            regression_result(REGRESSION_CASES[1], Some(key), pb::CaseStatus::Passed),
        ))
        .await;
    stream.ack().await;
    // A result naming both a phase and a run is refused, naming the field.
    let both = pb::TestCaseResult {
        phase: Some(mt_active()),
        ..regression_result(
            REGRESSION_CASES[0],
            Some(pb::RegressionKey {
                scope: Some(pb::regression_key::Scope::CycleId("c1".into())),
                kind: pb::RegressionKind::MtEnd.into(),
            }),
            pb::CaseStatus::Passed,
        )
    };
    stream.send(submit("lab-r", 2, both)).await;
    let rejection = stream.rejection().await;
    assert_eq!(rejection.field, "result.regression", "{rejection:?}");

    gov.record_regression_run(finish_mt_end.clone())
        .await
        .unwrap();
    let again = gov.record_regression_run(finish_mt_end).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition, "{again:?}");

    for kind in [pb::RegressionKind::SitEnd, pb::RegressionKind::Combined] {
        gov.record_regression_run(pb::RecordRegressionRunRequest {
            run: Some(passing(kind)),
            meta: None,
        })
        .await
        .unwrap();
    }
    let after = evaluate_cycle(&mut gov).await;
    assert_eq!(after.outcome(), pb::VerdictOutcome::Exit, "{after:?}");
    drop((gov, results, stream));
    server.stop().await;

    let server = TestServer::start_in(dir, StreamLimits::default()).await;
    let mut gov = server.governance().await;
    let rebuilt = evaluate_cycle(&mut gov).await;
    assert_eq!(rebuilt.outcome(), pb::VerdictOutcome::Exit);
    assert_eq!(rebuilt.criteria, after.criteria);
    server.stop().await;
}

fn dmc(id: &str, esme_model: &str, esme_firmware: &str) -> pb::Dmc {
    let model = |kind: pb::DeviceKind, model: &str, firmware: &str| pb::DeviceModelRef {
        kind: kind.into(),
        manufacturer: "Acme".into(),
        model: model.into(),
        firmware_version: firmware.into(),
    };
    pb::Dmc {
        id: id.into(),
        models: vec![
            model(pb::DeviceKind::CommsHub, "CH-1", "1.0"),
            model(pb::DeviceKind::Esme, esme_model, esme_firmware),
        ],
    }
}

fn change(kind: pb::DmcChangeKind) -> pb::RecordDmcChangeRequest {
    pb::RecordDmcChangeRequest {
        dmc_id: "dmc-1".into(),
        kind: kind.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn dmc_changes_deselect_reintroduce_and_supersede_and_survive_a_restart() {
    let server = TestServer::start(StreamLimits::default()).await;
    let dir = server.dir.clone();
    let mut gov = server.governance().await;
    setup_governance(&server.client().await).await;

    let missing = gov
        .record_dmc_change(change(pb::DmcChangeKind::Deselected))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(missing.message().contains("reason"), "{missing:?}");
    let deselected = gov
        .record_dmc_change(pb::RecordDmcChangeRequest {
            reason: "ESME fails to join the HAN after a power cycle".into(),
            ..change(pb::DmcChangeKind::Deselected)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(deselected.route(), pb::ConsultationRoute::None);
    let verdict = evaluate_mt_active(&mut gov).await;
    let selected = criterion(&verdict, "8.dmc_selected");
    assert_eq!(selected.outcome(), pb::CriterionOutcome::Blocked);
    assert!(selected.explanation.contains("HAN"), "{selected:?}");

    // A model change cannot come back under the same id.
    let refused = gov
        .record_dmc_change(pb::RecordDmcChangeRequest {
            changed: Some(dmc("dmc-1", "E-2", "1.0")),
            tag_consultation: "TAG-2026-14".into(),
            ..change(pb::DmcChangeKind::Reintroduced)
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
    assert!(refused.message().contains("model"), "{refused:?}");
    let no_tag = gov
        .record_dmc_change(pb::RecordDmcChangeRequest {
            changed: Some(dmc("dmc-1", "E-1", "1.1")),
            ..change(pb::DmcChangeKind::FirmwareOnly)
        })
        .await
        .unwrap_err();
    assert_eq!(no_tag.code(), Code::InvalidArgument);
    assert!(no_tag.message().contains("tag_consultation"), "{no_tag:?}");

    let firmware = gov
        .record_dmc_change(pb::RecordDmcChangeRequest {
            changed: Some(dmc("dmc-1", "E-1", "1.1")),
            tag_consultation: "TAG-2026-14".into(),
            ..change(pb::DmcChangeKind::FirmwareOnly)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(firmware.route(), pb::ConsultationRoute::Tag);
    // A minor firmware change re-requires MT only (rule 6).
    assert_eq!(firmware.required_phases.len(), 3);
    assert!(
        firmware
            .required_phases
            .iter()
            .all(|p| p.test_type() == pb::TestType::Mt)
    );
    let verdict = evaluate_mt_active(&mut gov).await;
    assert_eq!(
        criterion(&verdict, "8.dmc_selected").outcome(),
        pb::CriterionOutcome::Met
    );

    let model = gov
        .record_dmc_change(pb::RecordDmcChangeRequest {
            changed: Some(dmc("dmc-2", "E-2", "1.0")),
            major: true,
            ..change(pb::DmcChangeKind::ModelChange)
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(model.route(), pb::ConsultationRoute::Full);
    assert_eq!(model.required_phases.len(), 6);
    assert!(
        model
            .required_phases
            .iter()
            .all(|p| p.entry.as_ref().unwrap().dmc_id == "dmc-2")
    );
    // The new DMC is registered with its models: planning its entry with them is accepted.
    gov.register_entry(pb::RegisterEntryRequest {
        entry: Some(pb::EntryKey {
            dmc_id: "dmc-2".into(),
            ..entry()
        }),
        dmc: Some(dmc("dmc-2", "E-2", "1.0")),
        meta: None,
    })
    .await
    .unwrap();
    gov.record_dmc_change(pb::RecordDmcChangeRequest {
        reason: "withdrawn by the manufacturer".into(),
        ..change(pb::DmcChangeKind::Deselected)
    })
    .await
    .unwrap();
    let before = evaluate_mt_active(&mut gov).await;
    drop(gov);
    server.stop().await;

    let server = TestServer::start_in(dir, StreamLimits::default()).await;
    let mut gov = server.governance().await;
    let after = evaluate_mt_active(&mut gov).await;
    assert_eq!(after, before);
    assert!(
        criterion(&after, "8.dmc_selected")
            .explanation
            .contains("withdrawn")
    );
    server.stop().await;
}
