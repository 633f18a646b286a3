//! A case's identity is its id plus the SHA-256 of its canonical form: reformatting the file
//! (whitespace, key order, comments, inline or header tables, integer radix, repeated modes)
//! keeps the hash, any change of meaning changes it.

use meterlab_catalog::Catalog;
use proptest::prelude::*;

#[derive(Debug, Clone)]
struct CaseSpec {
    title: String,
    severity: u8,
    modes: Vec<&'static str>,
    steps: Vec<StepSpec>,
}

#[derive(Debug, Clone)]
struct StepSpec {
    /// At least this much imported energy.
    minimum: i64,
    /// Device clock within this of now.
    tolerance: i64,
    dormant_refuses: bool,
}

fn case_spec() -> impl Strategy<Value = CaseSpec> {
    (
        "[A-Za-z][A-Za-z0-9 ]{0,20}",
        1u8..=5,
        proptest::sample::subsequence(vec!["active", "dormant", "mixed"], 1..=3),
        proptest::collection::vec(
            (0i64..100_000, 0i64..600_000, any::<bool>()).prop_map(
                |(minimum, tolerance, dormant_refuses)| StepSpec {
                    minimum,
                    tolerance,
                    dormant_refuses,
                },
            ),
            1..4,
        ),
    )
        .prop_map(|(title, severity, modes, steps)| CaseSpec {
            title,
            severity,
            modes,
            steps,
        })
}

/// The plain layout: header tables, keys in the documented order.
fn plain(case: &CaseSpec) -> String {
    let modes: Vec<String> = case
        .modes
        .iter()
        .map(|mode| format!("\"{mode}\""))
        .collect();
    let mut text = format!(
        "format = 1\n\n[[case]]\nid = \"H-1\"\ntitle = \"{}\"\nphase = \"SIT\"\nmodes = [{}]\ndevices = [\"esme\"]\ndnb = \"D-1\"\nseverity = {}\n",
        case.title,
        modes.join(", "),
        case.severity
    );
    for step in &case.steps {
        text.push_str(&format!(
            "\n[[case.step]]\nsrv = \"4.1.1\"\n\n[case.step.expect]\noutcome = \"success\"\ncheck = [\n  {{ field = \"total_import.value\", op = \">=\", value = {} }},\n  {{ field = \"device_time_ms\", op = \"within\", value = {{ now = 0 }}, tolerance = {} }},\n]\n",
            step.minimum, step.tolerance
        ));
        if step.dormant_refuses {
            text.push_str("\n[case.step.expect.dormant]\noutcome = \"device_rejected\"\n");
        }
    }
    text
}

/// The same meaning written differently: keys reversed, comments, odd spacing, inline tables,
/// hexadecimal integers, modes reversed and repeated, defaults spelled out or left out.
fn reformatted(case: &CaseSpec) -> String {
    let mut modes: Vec<String> = case
        .modes
        .iter()
        .rev()
        .map(|mode| format!("'{mode}'"))
        .collect();
    modes.push(format!("'{}'", case.modes[0]));
    let mut text = format!(
        "# a comment\nformat=1\n[[ case ]]   # the case\nseverity   =   0x{:x}\ndnb = 'D-1'\ndevices=['esme','esme']\nmodes = [ {} ]\nphase = 'SIT'\ntitle = '{}'\nid = 'H-1'\n",
        case.severity,
        modes.join(" , "),
        case.title
    );
    for step in &case.steps {
        let dormant = if step.dormant_refuses {
            ", dormant = { outcome = 'device_rejected' }"
        } else {
            ""
        };
        // Checks keep their order: they are listed in the verdict in case order.
        text.push_str(&format!(
            "[[case.step]]\nexpect = {{ check = [ {{ value = {}, op = '>=', field = 'total_import.value' }}, {{ tolerance = {}, value = {{ now = 0x0 }}, op = 'within', field = 'device_time_ms' }} ], outcome = 'success'{dormant} }}\nsrv='4.1.1'\nparams = {{}}\n",
            step.minimum, step.tolerance
        ));
    }
    text
}

fn hash(text: &str) -> String {
    let catalog = Catalog::parse_str("case.toml", text)
        .unwrap_or_else(|errors| panic!("{errors}\n--- text ---\n{text}"));
    catalog.cases()[0].content_hash.to_hex()
}

proptest! {
    #[test]
    fn reformatting_keeps_the_hash(case in case_spec()) {
        prop_assert_eq!(hash(&plain(&case)), hash(&reformatted(&case)));
    }

    #[test]
    fn any_edit_of_meaning_changes_the_hash(case in case_spec(), edit in 0usize..5) {
        let mut edited = case.clone();
        match edit {
            0 => edited.title.push('!'),
            1 => edited.severity = edited.severity % 5 + 1,
            2 => edited.steps[0].minimum += 1,
            3 => edited.steps[0].dormant_refuses = !edited.steps[0].dormant_refuses,
            _ => edited.steps.push(edited.steps[0].clone()),
        }
        prop_assert_ne!(hash(&plain(&case)), hash(&plain(&edited)));
    }
}

#[test]
fn the_canonical_form_is_versioned_json_and_the_hash_is_its_sha256() {
    use sha2::Digest as _;
    let text = plain(&CaseSpec {
        title: "t".to_owned(),
        severity: 2,
        modes: vec!["active"],
        steps: vec![StepSpec {
            minimum: 0,
            tolerance: 5,
            dormant_refuses: false,
        }],
    });
    let catalog = Catalog::parse_str("case.toml", &text).expect("valid");
    let case = &catalog.cases()[0];
    let canonical = case.canonical_json();
    assert!(
        canonical.starts_with("meterlab-case/1\n{\"id\":\"H-1\""),
        "{canonical}"
    );
    assert!(
        !canonical.contains("case.toml"),
        "the file name is not part of the identity"
    );
    assert_eq!(
        hex::encode(sha2::Sha256::digest(canonical.as_bytes())),
        case.content_hash.to_hex()
    );
}

#[test]
fn restore_steps_are_part_of_the_identity_and_absent_ones_change_no_hash() {
    let text = plain(&CaseSpec {
        title: "t".to_owned(),
        severity: 2,
        modes: vec!["active"],
        steps: vec![StepSpec {
            minimum: 0,
            tolerance: 5,
            dormant_refuses: false,
        }],
    });
    let without = Catalog::parse_str("case.toml", &text).expect("valid");
    let without = &without.cases()[0];
    assert!(!without.canonical_json().contains("restore"));
    let restoring = format!(
        "{text}\n[[case.restore]]\nsrv = \"7.1\"\n[case.restore.expect]\ncheck = [{{ field = \"state\", op = \"==\", value = \"enabled\" }}]\n"
    );
    let with = Catalog::parse_str("case.toml", &restoring).expect("valid");
    let with = &with.cases()[0];
    assert_eq!(with.restore.len(), 1);
    assert_eq!(with.restore[0].request_id, "H-1/restore-1");
    assert_ne!(with.content_hash, without.content_hash);
    assert!(
        with.canonical_json()
            .contains("\"restore\":[{\"srv\":\"7.1\"")
    );
}
