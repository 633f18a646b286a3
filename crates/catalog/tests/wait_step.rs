//! The wait step (`[[case.step]] wait_ms = N`): its model, its errors with positions, its place
//! in the identity — and that cases without one keep the hashes they had before it existed.

use meterlab_catalog::{Catalog, Wait};

const HEADER: &str = "format = 1\n\n[[case]]\nid = \"T-1\"\ntitle = \"t\"\nphase = \"MT\"\nmodes = [\"dormant\"]\ndevices = [\"esme\"]\ndnb = \"D-1\"\nseverity = 2\n";

const READ: &str = "[[case.step]]\nsrv = \"11.2\"\n";

fn case_with_steps(steps: &str) -> String {
    format!("{HEADER}\n{steps}")
}

fn load(text: &str) -> Catalog {
    Catalog::parse_str("case.toml", text).unwrap_or_else(|errors| panic!("{errors}\n---\n{text}"))
}

fn position(text: &str, needle: &str) -> (usize, usize) {
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("needle {needle:?} not in the test text"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, column)
}

#[test]
fn a_wait_sits_between_srv_steps_and_keeps_the_file_numbering() {
    let text = case_with_steps(&format!(
        "{READ}\n[[case.step]]\ntitle = \"let the schedule come due\"\nwait_ms = 3_000\n\n{READ}"
    ));
    let catalog = load(&text);
    let case = &catalog.cases()[0];
    assert_eq!(case.steps.len(), 2, "two SRV steps");
    assert_eq!(
        case.waits,
        vec![Wait {
            after_steps: 1,
            wait_ms: 3000,
            title: Some("let the schedule come due".to_owned()),
            index: 1,
            location: case.waits[0].location.clone(),
        }]
    );
    assert_eq!(case.waits[0].location.line, 15);
    // Request ids follow the file's step numbers: the wait is step 2.
    assert_eq!(case.steps[0].request_id, "T-1/1");
    assert_eq!(case.steps[1].request_id, "T-1/3");
}

#[test]
fn a_wait_is_part_of_the_identity_and_its_layout_is_not() {
    let hash = |steps: &str| load(&case_with_steps(steps)).cases()[0].content_hash;
    let without = hash(&format!("{READ}\n{READ}"));
    let with = hash(&format!("{READ}\n[[case.step]]\nwait_ms = 3000\n\n{READ}"));
    let longer = hash(&format!("{READ}\n[[case.step]]\nwait_ms = 4000\n\n{READ}"));
    let earlier = hash(&format!("[[case.step]]\nwait_ms = 3000\n\n{READ}\n{READ}"));
    let reformatted = hash(&format!(
        "{READ}\n[[case.step]]\n# the same wait\nwait_ms = 0xBB8\n\n{READ}"
    ));
    assert_ne!(with, without);
    assert_ne!(with, longer);
    assert_ne!(with, earlier);
    assert_eq!(with, reformatted);
    let catalog = load(&case_with_steps(&format!(
        "{READ}\n[[case.step]]\nwait_ms = 3000\n\n{READ}"
    )));
    let canonical = catalog.cases()[0].canonical_json();
    assert!(
        canonical.ends_with(",\"waits\":[{\"after_steps\":1,\"wait_ms\":3000,\"title\":null}]}"),
        "{canonical}"
    );
    let catalog = load(&case_with_steps(&format!("{READ}\n{READ}")));
    assert!(!catalog.cases()[0].canonical_json().contains("waits"));
}

/// (name, steps text, message fragment, the text the problem points at)
const ERRORS: &[(&str, &str, &str, &str)] = &[
    (
        "zero",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = 0\n",
        "`wait_ms` of step 2 of case T-1 (a wait) is 0; a wait is 1 to 600000 ms",
        "0\n",
    ),
    (
        "negative",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = -5\n",
        "is -5; a wait is 1 to 600000 ms",
        "-5",
    ),
    (
        "over ten minutes",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = 600001\n",
        "is 600001; a wait is 1 to 600000 ms (ten minutes)",
        "600001",
    ),
    (
        "a string",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = \"3s\"\n",
        "`wait_ms` of step 2 of case T-1 (a wait) must be an integer, found string \"3s\"",
        "\"3s\"",
    ),
    (
        "a float",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = 1.5\n",
        "must be an integer, found float 1.5",
        "1.5",
    ),
    (
        "a wait that also sends",
        "[[case.step]]\nsrv = \"11.2\"\nwait_ms = 100\n",
        "`srv` in step 1 of case T-1 (a wait): a step either waits (`wait_ms`) or sends an SRV",
        "\"11.2\"",
    ),
    (
        "a wait with expectations",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = 100\nexpect = { outcome = \"success\" }\n",
        "`expect` in step 2 of case T-1 (a wait)",
        "{ outcome",
    ),
    (
        "an unknown key",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.step]]\nwait_ms = 100\nuntil = \"x\"\n",
        "unknown key \"until\" in step 2 of case T-1 (a wait)",
        "until",
    ),
    (
        "a restore step that waits",
        "[[case.step]]\nsrv = \"11.2\"\n\n[[case.restore]]\nwait_ms = 100\n",
        "restore step 1 of case T-1 waits: restore steps put state back at once",
        "100",
    ),
    (
        "a case that only waits",
        "[[case.step]]\nwait_ms = 100\n",
        "case T-1 only waits: it needs at least one step with an `srv`",
        "[[case]]",
    ),
];

#[test]
fn bad_waits_are_refused_naming_file_line_and_column() {
    for (name, steps, message, at) in ERRORS {
        let text = case_with_steps(steps);
        let errors =
            Catalog::parse_str("case.toml", &text).expect_err(&format!("{name}: must be refused"));
        let problem = errors
            .problems()
            .iter()
            .find(|problem| problem.message.contains(message))
            .unwrap_or_else(|| panic!("{name}: no problem containing {message:?}:\n{errors}"));
        let (line, column) = position(&text, at);
        assert_eq!(
            (problem.location.line, problem.location.column),
            (line, column),
            "{name}: {errors}"
        );
        assert!(
            errors
                .to_string()
                .contains(&format!("case.toml:{line}:{column}")),
            "{name}: {errors}"
        );
    }
}

/// Content hashes of shipped cases as they were before wait steps existed: adding the step
/// kind must not change the identity of any case that does not use it (Depth & Breadth
/// documents agreed on these hashes).
const SHIPPED_HASHES: &[(&str, &str)] = &[
    (
        "MT-DOR-003",
        "77e3a830aa66445b9c4a0c5dc6490d5f85e018e1542a37b15b1ee3a6f0f0cde7",
    ),
    (
        "MT-DOR-901",
        "cc3c9fefe54786e6ca6db6d0e9a5b33fd1f46480f8381be06df0e308da05b75e",
    ),
    (
        "SIT-SUP-002",
        "bc1a8a834d38a3504fc0a1a5c5e619ccbb3b8a86127a15a9a3a4acd70634fa56",
    ),
];

#[test]
fn shipped_cases_without_waits_keep_their_hashes() {
    let suites = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../suites");
    let catalog = Catalog::load(&[suites]).unwrap_or_else(|errors| panic!("{errors}"));
    for (id, expected) in SHIPPED_HASHES {
        let case = catalog
            .cases()
            .iter()
            .find(|case| case.id == *id)
            .unwrap_or_else(|| panic!("no shipped case {id}"));
        assert!(case.waits.is_empty(), "{id} has no wait");
        assert_eq!(case.content_hash.to_hex(), *expected, "{id}");
    }
}
