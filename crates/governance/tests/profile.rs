//! Rule profiles: the shipped ones load; a bad one reports every problem with its line.
#![allow(clippy::unwrap_used)]

use meterlab_governance::model::{PhaseKind, Release, Severity};
use meterlab_governance::profile::{ILLUSTRATIVE_TOML, Limit, STRICT_TOML};
use meterlab_governance::*;

fn sev(n: u8) -> Severity {
    Severity::new(n).unwrap()
}

#[test]
fn shipped_profiles_load() {
    let ill = load_profile("illustrative.toml", ILLUSTRATIVE_TOML).unwrap();
    assert_eq!(ill.name, "illustrative");
    assert!(ill.illustrative);
    assert_eq!(
        ill.phase_limit(PhaseKind::parse("sit.mixed").unwrap(), sev(3)),
        Limit::Max(5)
    );
    assert_eq!(ill.phase_limits.get(sev(5)), Limit::Unlimited);
    assert_eq!(ill.aggregate_limits.get(sev(4)), Limit::Max(30));
    assert!(ill.known_defects.count_in_regression_exit);
    assert!(!ill.known_defects.count_in_phase_exit);
    assert!(ill.precursors.is_empty());
    assert!(ill.audit_required(Release::Ioc) && !ill.audit_required(Release::Moc));
    assert_eq!(ill.aggregate_gates, profile::AggregateGates::Entry);

    let strict = load_profile("strict.toml", STRICT_TOML).unwrap();
    let sit_d = PhaseKind::parse("sit.dormant").unwrap();
    let mt_d = PhaseKind::parse("mt.dormant").unwrap();
    assert_eq!(strict.phase_limit(sit_d, sev(5)), Limit::Max(30));
    assert_eq!(strict.phase_limit(mt_d, sev(5)), Limit::Max(20));
    assert_eq!(
        strict.precursors_of(sit_d),
        [PhaseKind::parse("sit.active").unwrap()]
    );
    // Stricter than the illustrative profile at every severity and in every context.
    for s in Severity::ALL {
        let tighter = |a: Limit, b: Limit| match (a, b) {
            (_, Limit::Unlimited) => true,
            (Limit::Max(x), Limit::Max(y)) => x <= y,
            (Limit::Unlimited, Limit::Max(_)) => false,
        };
        for kind in PhaseKind::all() {
            assert!(
                tighter(strict.phase_limit(kind, s), ill.phase_limit(kind, s))
                    || kind.to_string().starts_with("sit")
            );
        }
        assert!(tighter(
            strict.aggregate_limits.get(s),
            ill.aggregate_limits.get(s)
        ));
        assert!(tighter(
            strict.regression_limits.get(s),
            ill.regression_limits.get(s)
        ));
    }
}

const BAD: &str = r#"name = "bad"
version = ""
illustrative = "yes"
description = "many problems"
colour = "blue"

[phase_limits]
sev1 = 0
sev2 = -1
sev3 = "lots"
sev4 = 3

[phase_limits."sit.sleepy"]
sev1 = 1

[phase_limits.mt]
sev9 = 1

[regression_limits]
sev1 = 0
sev2 = 0
sev3 = 0
sev4 = 0
sev5 = 0

[aggregate_limits]
sev1 = 0

[known_defects]
count_in_phase_exit = false
count_in_regression_exit = 1

[precursors]
"mt.active" = ["mt.dormant"]
"mt.dormant" = ["mt.active"]
"sit.mixed" = ["sit.mixed"]
"sit.active" = ["bogus"]

[audit]
required_for = ["IOC", "XOC"]
"#;

#[test]
fn every_error_is_reported_with_its_line() {
    let err = load_profile("bad.toml", BAD).unwrap_err();
    let found: Vec<(usize, &str)> = err
        .issues
        .iter()
        .map(|i| (i.line, i.message.as_str()))
        .collect();
    let expect: &[(usize, &str)] = &[
        (2, "version must not be empty"),
        (3, "illustrative must be true or false"),
        (5, "unknown key colour"),
        (7, "missing key phase_limits.sev5"),
        (9, "phase_limits.sev2 must be a count"),
        (10, "phase_limits.sev3 must be a count or \"unlimited\""),
        (13, "unknown key phase_limits.sit.sleepy"),
        (17, "unknown key phase_limits.mt.sev9"),
        (26, "missing key aggregate_limits.sev2"),
        (29, "missing key known_defects.count_in_aggregate"),
        (31, "count_in_regression_exit must be true or false"),
        (34, "precursors.mt.active is part of a cycle"),
        (35, "precursors.mt.dormant is part of a cycle"),
        (36, "precursors.sit.mixed names itself"),
        (37, "not a phase kind"),
        (40, "expected \"IOC\", \"MOC\" or \"FOC\""),
    ];
    for (line, text) in expect {
        assert!(
            found.iter().any(|(l, m)| l == line && m.contains(text)),
            "missing line {line}: {text:?}\nfound: {found:#?}"
        );
    }
    let rendered = err.to_string();
    assert!(rendered.contains("bad.toml:9:"), "{rendered}");
}

#[test]
fn syntax_errors_carry_their_line() {
    let err = load_profile(
        "broken.toml",
        "name = \"x\"\nversion = \"1\"\n[phase_limits\nsev1 = 0\n",
    )
    .unwrap_err();
    assert!(!err.issues.is_empty());
    assert_eq!(err.issues[0].line, 3, "{err}");
    assert!(err.issues[0].message.starts_with("TOML syntax"), "{err}");
}

#[test]
fn missing_tables_are_reported() {
    let err = load_profile("empty.toml", "").unwrap_err();
    let msgs: Vec<&str> = err.issues.iter().map(|i| i.message.as_str()).collect();
    for key in [
        "name",
        "version",
        "phase_limits",
        "aggregate_limits",
        "known_defects",
        "precursors",
        "audit",
    ] {
        assert!(
            msgs.iter().any(|m| m == &format!("missing key {key}")),
            "{key}: {msgs:?}"
        );
    }
}

#[test]
fn aggregate_gates_defaults_to_entry_and_rejects_other_words() {
    let strict = load_profile("strict.toml", STRICT_TOML).unwrap();
    assert_eq!(strict.aggregate_gates, profile::AggregateGates::Phase);

    let without = ILLUSTRATIVE_TOML.replace("aggregate_gates = \"entry\"\n", "");
    assert!(!without.contains("aggregate_gates ="));
    let p = load_profile("old.toml", &without).unwrap();
    assert_eq!(p.aggregate_gates, profile::AggregateGates::Entry);

    let bad =
        ILLUSTRATIVE_TOML.replace("aggregate_gates = \"entry\"", "aggregate_gates = \"board\"");
    let err = load_profile("bad.toml", &bad).unwrap_err();
    let line = bad
        .lines()
        .position(|l| l.starts_with("aggregate_gates"))
        .unwrap()
        + 1;
    assert_eq!(err.issues.len(), 1, "{err}");
    assert_eq!(err.issues[0].line, line);
    assert!(
        err.issues[0].message.contains("\"entry\" or \"phase\""),
        "{err}"
    );
}
