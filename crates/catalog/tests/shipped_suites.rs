//! The suites shipped under `suites/mt` and `suites/sit` load, and cover what the catalogue
//! promises a test manager.

use std::path::PathBuf;

use meterlab_catalog::{Catalog, ExpectedOutcome, Phase};

fn suites() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../suites")
}

fn load(dirs: &[&str]) -> Catalog {
    let paths: Vec<PathBuf> = dirs.iter().map(|dir| suites().join(dir)).collect();
    Catalog::load(&paths).unwrap_or_else(|errors| panic!("shipped suites must load:\n{errors}"))
}

#[test]
fn the_sit_suite_loads() {
    let catalog = load(&["sit"]);
    assert!(catalog.cases().iter().all(|case| case.phase == Phase::Sit));
    assert!(
        catalog
            .cases()
            .iter()
            .any(|case| case.steps.iter().any(|step| {
                matches!(
                    step.expect.dormant.as_ref().map(|e| e.outcome),
                    Some(ExpectedOutcome::DeviceRejected { .. })
                )
            }))
    );
}
