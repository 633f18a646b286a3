use meterlab_governance::model::{
    DeviceModel, DmcComponents, DmcId, DnbKey, DocType, EntryKey, Mode, PhaseId, PhaseKind,
    Release, SmsoId, TestPhase, TestType,
};
use meterlab_governance::profile::Limit;
use meterlab_governance::{CriterionOutcome, Outcome, Quantity, Subject};
use meterlab_proto::v1 as pb;
use proptest::prelude::*;

use super::*;

fn release() -> impl Strategy<Value = Release> {
    prop::sample::select(Release::ALL.to_vec())
}

fn entry() -> impl Strategy<Value = EntryKey> {
    (release(), "[a-z0-9-]{1,12}", "[A-Za-z0-9 ._-]{1,16}").prop_map(|(release, smso, dmc)| {
        EntryKey {
            release,
            smso: SmsoId::new(smso),
            dmc: DmcId::new(dmc),
        }
    })
}

fn phase() -> impl Strategy<Value = TestPhase> {
    (
        entry(),
        prop::sample::select(TestType::ALL.to_vec()),
        prop::sample::select(Mode::ALL.to_vec()),
    )
        .prop_map(|(entry, test, mode)| TestPhase {
            entry,
            kind: PhaseKind { test, mode },
        })
}

fn model() -> impl Strategy<Value = DeviceModel> {
    ("[A-Za-z]{1,8}", "[A-Z0-9-]{1,8}", "[0-9.]{1,6}").prop_map(
        |(manufacturer, model, firmware)| DeviceModel {
            manufacturer,
            model,
            firmware,
        },
    )
}

fn components() -> impl Strategy<Value = DmcComponents> {
    (
        model(),
        prop::option::of(model()),
        prop::option::of(model()),
        prop::option::of(model()),
        prop::option::of(model()),
    )
        .prop_map(|(comms_hub, esme, gsme, ppmid, ihd)| DmcComponents {
            comms_hub,
            esme,
            gsme,
            ppmid,
            ihd,
        })
}

proptest! {
    #[test]
    fn phases_round_trip(phase in phase()) {
        prop_assert_eq!(phase_from_proto(&phase_to_proto(&phase)).expect("reads back"), phase);
    }

    #[test]
    fn dmcs_round_trip(id in "[A-Z0-9-]{1,10}", dmc in components()) {
        let id = DmcId::new(id);
        let (back_id, back) = dmc_from_proto(&dmc_to_proto(&id, &dmc)).expect("reads back");
        prop_assert_eq!(back_id, id);
        prop_assert_eq!(back, dmc);
    }

    #[test]
    fn depth_breadth_keys_round_trip(
        release in release(),
        smso in "[a-z0-9-]{1,12}",
        doc_type in prop::sample::select(vec![DocType::Mt, DocType::Sit, DocType::Regression]),
    ) {
        let key = DnbKey { release, smso: SmsoId::new(smso), doc_type };
        prop_assert_eq!(dnb_key_from_proto(&dnb_key_to_proto(&key)).expect("reads back"), key);
    }

    /// Any answer, however malformed, is read or refused with a field name: never a panic.
    #[test]
    fn arbitrary_verdicts_are_read_or_refused_by_field(
        outcome in -2i32..7,
        rule_id in "R?[0-9]{0,2}\\.?[a-z.0-9]{0,8}",
        count in any::<u64>(),
        criterion_outcome in -1i32..7,
        with_subject in any::<bool>(),
    ) {
        let verdict = pb::Verdict {
            outcome,
            profile: Some(pb::RuleProfileRef::default()),
            subject: with_subject.then(|| pb::verdict::Subject::CycleId("c".into())),
            criteria: vec![pb::Criterion {
                rule_id,
                measured: Some(pb::Measure { value: Some(pb::measure::Value::Count(count)), unit: String::new() }),
                limit: Some(pb::Measure { value: Some(pb::measure::Value::Count(count)), unit: String::new() }),
                outcome: criterion_outcome,
                ..Default::default()
            }],
            ..Default::default()
        };
        if let Err((field, problem)) = verdict_from_proto(&verdict, VerdictKind::Aggregate, &[]) {
            prop_assert!(!field.is_empty() && !problem.is_empty());
        }
    }
}

fn sample_phase() -> TestPhase {
    TestPhase {
        entry: EntryKey {
            release: Release::Ioc,
            smso: SmsoId::new("smso-a"),
            dmc: DmcId::new("dmc-1"),
        },
        kind: PhaseKind {
            test: TestType::Mt,
            mode: Mode::Active,
        },
    }
}

#[test]
fn a_gateway_verdict_reads_back_as_the_engine_verdict() {
    use pb::measure::Value;
    let measure = |value: Value| pb::Measure {
        value: Some(value),
        unit: String::new(),
    };
    let verdict = pb::Verdict {
        outcome: pb::VerdictOutcome::NotMet.into(),
        profile: Some(pb::RuleProfileRef {
            name: "illustrative".into(),
            version: "1".into(),
            illustrative: true,
        }),
        subject: Some(pb::verdict::Subject::Phase(phase_to_proto(&sample_phase()))),
        criteria: vec![
            pb::Criterion {
                rule_id: "R4.4.issues.sev3".into(),
                clause: "SVTAD Table 13.3".into(),
                measured: Some(measure(Value::Count(2))),
                limit: Some(measure(Value::Count(1))),
                outcome: pb::CriterionOutcome::NotMet.into(),
                explanation: "two open sev3 issues".into(),
            },
            pb::Criterion {
                rule_id: "R4.4.coverage".into(),
                clause: String::new(),
                measured: Some(measure(Value::Text("3/3".into()))),
                limit: Some(measure(Value::Unlimited(pb::Unlimited {}))),
                outcome: pb::CriterionOutcome::Met.into(),
                explanation: String::new(),
            },
        ],
        log_position: 17,
        hypothetical: false,
    };
    let read = verdict_from_proto(&verdict, VerdictKind::PhaseExit, &[]).expect("reads");
    assert_eq!(read.outcome, Outcome::NotMet);
    assert_eq!(
        read.subject,
        Subject::PhaseExit(PhaseId::Test(sample_phase()))
    );
    assert_eq!(read.at_seq, 17);
    assert!(read.illustrative_profile);
    assert!(read.assumptions.is_empty());
    let first = &read.criteria[0];
    assert_eq!((first.rule, first.id.as_str()), (4, "4.issues.sev3"));
    assert_eq!(first.measured, Quantity::Count(2));
    assert_eq!(first.limit, Quantity::Limit(Limit::Max(1)));
    assert_eq!(first.outcome, CriterionOutcome::NotMet);
    let second = &read.criteria[1];
    assert_eq!(second.measured, Quantity::Fraction { num: 3, den: 3 });
    assert_eq!(second.limit, Quantity::Limit(Limit::Unlimited));
    assert_eq!(read.failing().count(), 1);

    let start = verdict_from_proto(&verdict, VerdictKind::PhaseStart, &[]).expect("reads");
    assert_eq!(
        start.subject,
        Subject::PhaseStart(PhaseId::Test(sample_phase()))
    );
    let hypothetical = pb::Verdict {
        hypothetical: true,
        ..verdict
    };
    let what_if = verdict_from_proto(&hypothetical, VerdictKind::PhaseExit, &[]).expect("reads");
    assert!(!what_if.assumptions.is_empty());
}

#[test]
fn unreadable_answers_name_the_field() {
    let mut phase = phase_to_proto(&sample_phase());
    phase.mode = 42;
    assert_eq!(phase_from_proto(&phase).expect_err("bad mode").0, "mode");
    phase.mode = pb::InstallationMode::Active.into();
    if let Some(entry) = phase.entry.as_mut() {
        entry.smso_id.clear();
    }
    assert_eq!(
        phase_from_proto(&phase).expect_err("no smso").0,
        "entry.smso_id"
    );
    let dmc = pb::Dmc {
        id: "d".into(),
        models: vec![pb::DeviceModelRef {
            kind: pb::DeviceKind::Esme.into(),
            ..Default::default()
        }],
    };
    assert_eq!(dmc_from_proto(&dmc).expect_err("no hub").0, "models");
}
