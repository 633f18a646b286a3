//! The suites shipped under `suites/mt` and `suites/sit` load, and cover what the catalogue
//! promises a test manager: at least 60 cases, MT for every installation mode, and every SRV of
//! the vocabulary exercised in SIT both positively and negatively.

use std::collections::BTreeSet;
use std::path::PathBuf;

use meterlab_catalog::schema::SRVS;
use meterlab_catalog::{Case, Catalog, ExpectedOutcome, Mode, Phase, Srv, Step};

fn suites() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../suites")
}

fn load(dirs: &[&str]) -> Catalog {
    let paths: Vec<PathBuf> = dirs.iter().map(|dir| suites().join(dir)).collect();
    Catalog::load(&paths).unwrap_or_else(|errors| panic!("shipped suites must load:\n{errors}"))
}

fn expects_refusal(step: &Step) -> bool {
    step.expect
        .all()
        .any(|expectation| expectation.outcome != ExpectedOutcome::Success)
}

fn expects_success(step: &Step) -> bool {
    let chosen = step.expect.active.as_ref().unwrap_or(&step.expect.default);
    chosen.outcome == ExpectedOutcome::Success
}

/// A step of `srv` tests it negatively when it expects a refusal itself, or when it checks the
/// state after an earlier refused command of the same case (e.g. the firmware version after a
/// refused image).
fn negative_srvs(case: &Case) -> BTreeSet<Srv> {
    let mut srvs = BTreeSet::new();
    let mut refused_before = false;
    for step in &case.steps {
        if expects_refusal(step) || refused_before {
            srvs.insert(step.srv);
        }
        refused_before |= expects_refusal(step);
    }
    srvs
}

#[test]
fn every_shipped_suite_loads_with_at_least_sixty_cases() {
    let catalog = load(&["mt", "sit"]);
    assert!(catalog.len() >= 60, "only {} cases", catalog.len());
    let mt = catalog.select(Some(Phase::Mt), None, None);
    let sit = catalog.select(Some(Phase::Sit), None, None);
    assert_eq!(mt.len() + sit.len(), catalog.len());
    for mode in [Mode::Active, Mode::Dormant, Mode::Mixed] {
        assert!(
            !catalog.select(Some(Phase::Mt), Some(mode), None).is_empty(),
            "no MT case for {mode} installations"
        );
        assert!(
            !catalog
                .select(Some(Phase::Sit), Some(mode), None)
                .is_empty(),
            "no SIT case for {mode} installations"
        );
    }
    // Hashes identify cases: no two shipped cases share one.
    let hashes: BTreeSet<_> = catalog
        .cases()
        .iter()
        .map(|case| case.content_hash)
        .collect();
    assert_eq!(hashes.len(), catalog.len());
}

#[test]
fn every_srv_appears_positively_and_negatively_in_sit() {
    let catalog = load(&["sit"]);
    let sit = catalog.select(Some(Phase::Sit), None, None);
    let mut missing = Vec::new();
    for schema in &SRVS {
        let srv = schema.srv;
        let positive = sit.iter().any(|case| {
            case.steps
                .iter()
                .any(|step| step.srv == srv && expects_success(step))
        });
        let negative = sit.iter().any(|case| negative_srvs(case).contains(&srv));
        if !positive {
            missing.push(format!(
                "{} {} has no positive SIT case",
                srv.number(),
                srv.title()
            ));
        }
        if !negative {
            missing.push(format!(
                "{} {} has no negative SIT case",
                srv.number(),
                srv.title()
            ));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn dormant_refusals_are_written_in_the_cases() {
    let catalog = load(&["mt", "sit"]);
    let dormant_refusals = catalog
        .cases()
        .iter()
        .flat_map(|case| &case.steps)
        .filter(|step| step.srv == Srv::Srv72DisableSupply)
        .filter(|step| {
            matches!(
                step.expect
                    .dormant
                    .as_ref()
                    .unwrap_or(&step.expect.default)
                    .outcome,
                ExpectedOutcome::DeviceRejected { .. }
            )
        })
        .count();
    assert!(dormant_refusals >= 3, "{dormant_refusals}");
}
