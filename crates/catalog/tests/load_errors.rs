//! Every kind of load problem, table-driven: the message says what is wrong, the location points
//! at the offending text (file:line:column), and a load with problems yields no catalogue.

use meterlab_catalog::Catalog;

const HEADER: &str = "format = 1\n\n[[case]]\nid = \"T-1\"\ntitle = \"t\"\nphase = \"SIT\"\nmodes = [\"active\"]\ndevices = [\"esme\"]\ndnb = \"D-1\"\nseverity = 3\n";

fn case_with_steps(steps: &str) -> String {
    format!("{HEADER}\n{steps}")
}

const READ_STATUS: &str = "[[case.step]]\nsrv = \"7.4\"\n";

struct Row {
    name: &'static str,
    text: String,
    /// The problem's message contains this.
    message: &'static str,
    /// The problem points at the first occurrence of this text.
    at: &'static str,
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

fn rows() -> Vec<Row> {
    vec![
        Row {
            name: "restore step using a capture of the case",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"7.4\"\ncapture = { before = \"state\" }\n\n[[case.restore]]\nsrv = \"7.4\"\n[case.restore.expect]\ncheck = [{ field = \"state\", op = \"==\", value = { capture = \"before\" } }]\n",
            ),
            message: "unknown capture \"before\": no earlier step captures it (captured so far: none); restore steps run whatever the case's outcome, so they see none of its captures",
            at: "\"before\" }",
        },
        Row {
            name: "restore step with an unknown SRV",
            text: case_with_steps(&format!("{READ_STATUS}\n[[case.restore]]\nsrv = \"7.9\"\n")),
            message: "unknown SRV \"7.9\"",
            at: "\"7.9\"",
        },
        Row {
            name: "unknown SRV",
            text: case_with_steps("[[case.step]]\nsrv = \"9.9\"\n"),
            message: "unknown SRV \"9.9\"",
            at: "\"9.9\"",
        },
        Row {
            name: "SRV written as a number",
            text: case_with_steps("[[case.step]]\nsrv = 7.2\n"),
            message: "must be a string",
            at: "7.2",
        },
        Row {
            name: "parameter of the wrong type",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"6.11\"\nparams = { utc_ms = \"soon\" }\n",
            ),
            message: "must be integer, found string \"soon\"",
            at: "\"soon\"",
        },
        Row {
            name: "unknown parameter",
            text: case_with_steps("[[case.step]]\nsrv = \"7.4\"\nparams = { force = true }\n"),
            message: "unknown parameter \"force\" for SRV 7.4: it takes no parameters",
            at: "force",
        },
        Row {
            name: "missing required parameter",
            text: case_with_steps("[[case.step]]\nsrv = \"11.3\"\n"),
            message: "needs parameter `image_identifier`",
            at: "\"11.3\"",
        },
        Row {
            name: "expectation on a field the response does not have",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\ncheck = [{{ field = \"stat\", op = \"==\", value = \"enabled\" }}]\n"
            )),
            message: "SupplyStatus has no field \"stat\" (fields: state)",
            at: "\"stat\"",
        },
        Row {
            name: "nested field that does not exist",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"4.1.1\"\n[case.step.expect]\ncheck = [{ field = \"total_import.amount\", op = \">\", value = 0 }]\n",
            ),
            message: "Reading has no field \"amount\"",
            at: "\"total_import.amount\"",
        },
        Row {
            name: "unknown capture",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\ncheck = [{{ field = \"state\", op = \"==\", value = {{ capture = \"before\" }} }}]\n"
            )),
            message: "unknown capture \"before\": no earlier step captures it (captured so far: none)",
            at: "\"before\"",
        },
        Row {
            name: "capture used in the step that takes it",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"7.4\"\ncapture = { s = \"state\" }\n[case.step.expect]\ncheck = [{ field = \"state\", op = \"==\", value = { capture = \"s\" } }]\n",
            ),
            message: "unknown capture \"s\"",
            at: "\"s\" }",
        },
        Row {
            name: "capture of an unknown field",
            text: case_with_steps("[[case.step]]\nsrv = \"7.4\"\ncapture = { s = \"status\" }\n"),
            message: "has no field \"status\"",
            at: "\"status\"",
        },
        Row {
            name: "capture compared with a field of another type",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"11.2\"\ncapture = { v = \"version\" }\n[[case.step]]\nsrv = \"4.1.1\"\n[case.step.expect]\ncheck = [{ field = \"device_time_ms\", op = \"==\", value = { capture = \"v\" } }]\n",
            ),
            message: "must be integer, found capture \"v\" of type string",
            at: "{ capture = \"v\" }",
        },
        Row {
            name: "bad mode",
            text: HEADER.replace("[\"active\"]", "[\"active\", \"sleepy\"]") + READ_STATUS,
            message: "unknown mode \"sleepy\"; expected active, dormant or mixed",
            at: "\"sleepy\"",
        },
        Row {
            name: "bad phase",
            text: HEADER.replace("\"SIT\"", "\"UAT\"") + READ_STATUS,
            message: "unknown phase \"UAT\"; expected MT or SIT",
            at: "\"UAT\"",
        },
        Row {
            name: "severity out of range",
            text: HEADER.replace("severity = 3", "severity = 7") + READ_STATUS,
            message: "severity 7 is out of range",
            at: "7",
        },
        Row {
            name: "bad device type",
            text: HEADER.replace("[\"esme\"]", "[\"ppmid\"]") + READ_STATUS,
            message: "unknown device type \"ppmid\"",
            at: "\"ppmid\"",
        },
        Row {
            name: "unknown key in a case",
            text: HEADER.replace("severity = 3\n", "severity = 3\ncolour = \"red\"\n")
                + READ_STATUS,
            message: "unknown key \"colour\" in case T-1",
            at: "colour",
        },
        Row {
            name: "unknown key in a step",
            text: case_with_steps("[[case.step]]\nsrv = \"7.4\"\nretries = 3\n"),
            message: "unknown key \"retries\" in step 1 of case T-1",
            at: "retries",
        },
        Row {
            name: "unknown key in a check",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\ncheck = [{{ field = \"state\", op = \"==\", value = \"enabled\", why = \"x\" }}]\n"
            )),
            message: "unknown key \"why\"",
            at: "why",
        },
        Row {
            name: "missing title",
            text: HEADER.replace("title = \"t\"\n", "") + READ_STATUS,
            message: "case T-1 has no `title`",
            at: "[[case]]",
        },
        Row {
            name: "case without steps",
            text: HEADER.to_owned(),
            message: "case T-1 has no steps",
            at: "[[case]]",
        },
        Row {
            name: "unknown enum value",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\ncheck = [{{ field = \"state\", op = \"==\", value = \"off\" }}]\n"
            )),
            message: "must be SupplyState (one of enabled, disabled, armed), found string \"off\"",
            at: "\"off\"",
        },
        Row {
            name: "ordering a string field",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"11.2\"\n[case.step.expect]\ncheck = [{ field = \"version\", op = \">\", value = \"1.0\" }]\n",
            ),
            message: "`>` compares integers, and version is string",
            at: "\"version\"",
        },
        Row {
            name: "within without tolerance",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"4.1.1\"\n[case.step.expect]\ncheck = [{ field = \"device_time_ms\", op = \"within\", value = { now = 0 } }]\n",
            ),
            message: "`within` needs a `tolerance`",
            at: "{ field",
        },
        Row {
            name: "tolerance on another operator",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"4.1.1\"\n[case.step.expect]\ncheck = [{ field = \"device_time_ms\", op = \">\", value = 0, tolerance = 5 }]\n",
            ),
            message: "`tolerance` applies to `within` only",
            at: "5 }",
        },
        Row {
            name: "contains on a single value",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\ncheck = [{{ field = \"state\", op = \"contains\", value = \"enabled\" }}]\n"
            )),
            message: "`contains` needs a repeated field or a `[*]` path",
            at: "\"state\"",
        },
        Row {
            name: "unknown operator",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\ncheck = [{{ field = \"state\", op = \"=\", value = \"enabled\" }}]\n"
            )),
            message: "unknown operator \"=\"",
            at: "\"=\"",
        },
        Row {
            name: "unknown outcome",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\noutcome = \"refused\"\n"
            )),
            message: "unknown outcome \"refused\"",
            at: "\"refused\"",
        },
        Row {
            name: "code with a success outcome",
            text: case_with_steps(&format!("{READ_STATUS}[case.step.expect]\ncode = 4\n")),
            message: "`code` applies to outcome device_rejected, not success",
            at: "4\n",
        },
        Row {
            name: "field checks on a refusal",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect.dormant]\noutcome = \"device_rejected\"\ncheck = [{{ field = \"state\", op = \"==\", value = \"enabled\" }}]\n"
            )),
            message: "field checks need outcome success, not device_rejected",
            at: "[{ field",
        },
        Row {
            name: "unknown installation state in an expectation",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect.mixed]\noutcome = \"success\"\n"
            )),
            message: "unknown key \"mixed\"",
            at: "mixed",
        },
        Row {
            name: "unknown device record field",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"11.2\"\n[case.step.expect]\ncheck = [{ field = \"version\", op = \"==\", value = { device = \"firmware_version\" } }]\n",
            ),
            message: "the device record has no field \"firmware_version\"",
            at: "\"firmware_version\"",
        },
        Row {
            name: "key of the wrong length",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"6.15.1\"\nparams = { keys = [{ kind = \"global_unicast_encryption\", key = \"0011\" }] }\n",
            ),
            message: "an AES-128 key is 16 bytes (32 hex digits), found 2",
            at: "\"0011\"",
        },
        Row {
            name: "unknown key kind",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"6.15.1\"\nparams = { keys = [{ kind = \"gold\", key = \"000102030405060708090a0b0c0d0e0f\" }] }\n",
            ),
            message: "unknown key kind \"gold\"",
            at: "\"gold\"",
        },
        Row {
            name: "unsupported format",
            text: HEADER.replace("format = 1", "format = 2") + READ_STATUS,
            message: "case file format 2 is not supported",
            at: "2",
        },
        Row {
            name: "TOML syntax error",
            text: HEADER.replace("title = \"t\"", "title = \"t") + READ_STATUS,
            message: "invalid basic string",
            at: "\nphase",
        },
        Row {
            name: "bad id characters",
            text: HEADER.replace("\"T-1\"", "\"T 1\"") + READ_STATUS,
            message: "case id \"T 1\" may hold only letters, digits",
            at: "\"T 1\"",
        },
        Row {
            name: "alerts not a list",
            text: case_with_steps(&format!(
                "{READ_STATUS}[case.step.expect]\nalerts = \"18\"\n"
            )),
            message: "must be an array of strings, found string",
            at: "\"18\"",
        },
        Row {
            name: "index into a single field",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"4.1.1\"\n[case.step.expect]\ncheck = [{ field = \"device_time_ms[0]\", op = \">\", value = 0 }]\n",
            ),
            message: "device_time_ms is not a repeated field",
            at: "\"device_time_ms[0]\"",
        },
        Row {
            name: "unknown port",
            text: case_with_steps("[[case.step]]\nsrv = \"4.1.1\"\nvia = \"infrared\"\n"),
            message: "unknown port \"infrared\"",
            at: "\"infrared\"",
        },
        Row {
            name: "an SRV the optical port cannot carry",
            text: case_with_steps("[[case.step]]\nsrv = \"7.2\"\nvia = \"optical\"\n"),
            message: "SRV 7.2 cannot go through an optical port",
            at: "\"optical\"",
        },
        Row {
            name: "normalising what is not a reading",
            text: case_with_steps(
                "[[case.step]]\nsrv = \"4.1.1\"\ncapture = { t = \"device_time_ms.normalised\" }\n",
            ),
            message: "`normalised` applies to a Reading",
            at: "\"device_time_ms.normalised\"",
        },
    ]
}

/// `via` chooses the port; the default port is left out of the canonical form, so a case
/// written before `via` existed keeps its hash, and choosing the optical port changes it.
#[test]
fn a_step_names_its_port_and_only_a_chosen_port_changes_the_hash() {
    let read = "[[case.step]]\nsrv = \"4.1.1\"\n";
    let load = |steps: &str| {
        Catalog::parse_str("suite.toml", &case_with_steps(steps))
            .unwrap_or_else(|errors| panic!("{steps}: {errors}"))
    };
    let plain = load(read);
    let run = load(&format!("{read}via = \"run\"\n"));
    let optical = load(&format!("{read}via = \"optical\"\n"));
    let [plain, run, optical] =
        [&plain, &run, &optical].map(|catalog| catalog.get("T-1").expect("the case").clone());
    assert_eq!(plain.steps[0].via, meterlab_catalog::Via::Run);
    assert!(!plain.uses_optical());
    assert_eq!(optical.steps[0].via, meterlab_catalog::Via::Optical);
    assert!(optical.uses_optical());
    assert_eq!(plain.content_hash, run.content_hash);
    assert!(!plain.canonical_json().contains("via"));
    assert_ne!(plain.content_hash, optical.content_hash);
    assert!(optical.canonical_json().contains(r#""via":"optical""#));
}

#[test]
fn each_problem_is_reported_with_its_location() {
    let mut failures = Vec::new();
    for row in rows() {
        let Err(errors) = Catalog::parse_str("suite.toml", &row.text) else {
            failures.push(format!("{}: the load was accepted", row.name));
            continue;
        };
        let (line, column) = position(&row.text, row.at);
        let Some(problem) = errors
            .problems()
            .iter()
            .find(|problem| problem.message.contains(row.message))
        else {
            failures.push(format!(
                "{}: no problem says {:?}; got:\n{errors}",
                row.name, row.message
            ));
            continue;
        };
        if problem.location.file != "suite.toml"
            || (problem.location.line, problem.location.column) != (line, column)
        {
            failures.push(format!(
                "{}: {problem} should point at {:?} (line {line}, column {column})",
                row.name, row.at
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_base_case_of_the_table_loads() {
    let catalog = Catalog::parse_str("suite.toml", &case_with_steps(READ_STATUS))
        .expect("the unmodified case is valid");
    assert_eq!(catalog.len(), 1);
}

#[test]
fn every_problem_of_a_file_is_reported_at_once() {
    let text = HEADER
        .replace("\"SIT\"", "\"UAT\"")
        .replace("severity = 3", "severity = 0")
        + "[[case.step]]\nsrv = \"9.9\"\n[[case.step]]\nsrv = \"7.4\"\nretries = 1\n[case.step.expect]\ncheck = [{ field = \"stat\", op = \"==\", value = \"enabled\" }]\n";
    let errors = Catalog::parse_str("suite.toml", &text).expect_err("four problems");
    let messages: Vec<&str> = errors
        .problems()
        .iter()
        .map(|p| p.message.as_str())
        .collect();
    assert_eq!(errors.len(), 5, "{errors}");
    for expected in [
        "unknown phase",
        "severity 0",
        "unknown SRV",
        "retries",
        "no field \"stat\"",
    ] {
        assert!(
            messages.iter().any(|message| message.contains(expected)),
            "{expected:?} missing from:\n{errors}"
        );
    }
    // Sorted by position, and Display prints one `file:line:col: message` per line.
    let lines: Vec<usize> = errors.problems().iter().map(|p| p.location.line).collect();
    let mut sorted = lines.clone();
    sorted.sort();
    assert_eq!(lines, sorted);
    assert_eq!(errors.to_string().lines().count(), 5);
    assert!(errors.to_string().starts_with("suite.toml:"));
}

#[test]
fn a_duplicate_id_names_both_places() {
    let first = case_with_steps(READ_STATUS);
    let second = format!("\n\n{}", case_with_steps(READ_STATUS));
    let errors = Catalog::parse_sources(&[("a.toml", &first), ("b.toml", &second)])
        .expect_err("duplicate id");
    assert_eq!(errors.len(), 1, "{errors}");
    let problem = &errors.problems()[0];
    assert_eq!(problem.location.to_string(), "b.toml:5:1");
    assert!(
        problem
            .message
            .contains("duplicate case id \"T-1\": first defined at a.toml:3:1"),
        "{problem}"
    );
}

#[test]
fn a_bad_file_fails_the_whole_load_even_when_others_are_fine() {
    let good = case_with_steps(READ_STATUS);
    let bad = HEADER.replace("T-1", "T-2").replace("\"SIT\"", "\"X\"") + READ_STATUS;
    let errors = Catalog::parse_sources(&[("good.toml", &good), ("bad.toml", &bad)])
        .expect_err("one bad file");
    assert!(
        errors
            .problems()
            .iter()
            .all(|p| p.location.file == "bad.toml")
    );
}

#[test]
fn missing_paths_and_empty_directories_are_problems() {
    let directory = tempfile::tempdir().expect("temp dir");
    let missing = directory.path().join("nope");
    let errors =
        Catalog::load(&[missing.as_path(), directory.path()]).expect_err("nothing to load");
    assert_eq!(errors.len(), 2, "{errors}");
    assert!(errors.to_string().contains("cannot read case path"));
    assert!(errors.to_string().contains("no case files"));
}

proptest::proptest! {
    /// Any text, and any valid file with a slice cut out or a character changed, loads or
    /// yields located problems: never a panic, never a catalogue together with problems.
    #[test]
    fn any_text_loads_or_reports_located_problems(
        noise in "\\PC{0,200}",
        cut in 0usize..400,
        length in 0usize..40,
        replacement in "[\\[\\]{}=\"',.a-z0-9 \n]{0,3}",
    ) {
        let valid = case_with_steps(&format!(
            "{READ_STATUS}[case.step.expect]\ncheck = [{{ field = \"state\", op = \"==\", value = \"enabled\" }}]\n"
        ));
        let start = cut.min(valid.len());
        let end = (start + length).min(valid.len());
        let mutated = format!("{}{replacement}{}", &valid[..start], &valid[end..]);
        for text in [noise.as_str(), mutated.as_str()] {
            if let Err(errors) = Catalog::parse_str("fuzz.toml", text) {
                proptest::prop_assert!(!errors.is_empty());
                for problem in errors.problems() {
                    proptest::prop_assert_eq!(&problem.location.file, "fuzz.toml");
                    proptest::prop_assert!(problem.location.line >= 1 && problem.location.column >= 1);
                }
            }
        }
    }
}

#[test]
fn a_directory_walk_skips_other_suite_data_and_does_not_follow_directory_links() {
    let directory = tempfile::tempdir().expect("temp dir");
    let root = directory.path();
    std::fs::create_dir_all(root.join("sit/nested")).expect("dirs");
    std::fs::create_dir_all(root.join("dmcs")).expect("dirs");
    std::fs::write(root.join("sit/nested/a.toml"), case_with_steps(READ_STATUS)).expect("write");
    std::fs::write(
        root.join("dmcs/not-a-case.toml"),
        "format = 1\nid = \"x\"\n",
    )
    .expect("write");
    std::fs::write(root.join("sit/notes.txt"), "not toml").expect("write");
    #[cfg(unix)]
    std::os::unix::fs::symlink(root, root.join("sit/loop")).expect("symlink");
    let catalog = Catalog::load(&[root]).unwrap_or_else(|errors| panic!("{errors}"));
    assert_eq!(catalog.len(), 1);
}
