//! Every governance command on the real `meterlab` binary (also `entry --what-if`, `cycle`,
//! `regression` and `dmc`), one table of steps run twice: on a
//! local store (`--db`, served in-process) and against `meterlab serve` over TCP with a bearer
//! token (test-manager). Each step checks the exit code (0 done, 2 bad input, 3 "no") and what a
//! user reads; a few check the `--output json` document.

mod cli_support;

use std::path::Path;
use std::process::Child;

use cli_support::{meterlab, repo, text};

const ENTRY: &str = "MOC/smso-north/acme-ch1-e470-g4";

/// One command: its arguments (the target is appended), the exit code, and what stdout (or,
/// for errors, stderr) must contain.
struct Step {
    args: Vec<String>,
    code: i32,
    contains: Vec<&'static str>,
    lacks: Vec<&'static str>,
}

fn step(args: &[&str], code: i32, contains: &[&'static str]) -> Step {
    Step {
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        code,
        contains: contains.to_vec(),
        lacks: Vec::new(),
    }
}

fn steps() -> Vec<Step> {
    let dmc_file = repo("suites/dmcs/acme-ch1-e470-g4.toml");
    let dmc_arg = dmc_file.display().to_string();
    let suite = repo("suites/mt");
    let dnb = |verb: &str| -> Vec<String> {
        [
            "dnb",
            verb,
            "--release",
            "MOC",
            "--smso",
            "smso-north",
            "--type",
            "mt",
            "--version",
            "1",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
    };
    let sit_suite = repo("suites/sit");
    let sit = |verb: &str| -> Vec<String> {
        [
            "dnb",
            verb,
            "--release",
            "MOC",
            "--smso",
            "smso-north",
            "--type",
            "sit",
            "--version",
            "1",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .collect()
    };
    let with = |mut base: Vec<String>, more: &[&str]| {
        base.extend(more.iter().map(|a| (*a).to_owned()));
        base
    };
    vec![
        Step {
            args: with(
                vec![
                    "plan".into(),
                    "entry".into(),
                    "--entry".into(),
                    ENTRY.into(),
                    "--dmc-file".into(),
                ],
                &[dmc_file.to_str().expect("utf-8 path")],
            ),
            code: 0,
            contains: vec!["planned entry MOC/smso-north/acme-ch1-e470-g4", "sit.mixed"],
            lacks: vec![],
        },
        // Rule 3: no agreed Depth & Breadth yet, so the phase may not start.
        step(
            &["plan", "start", "--entry", ENTRY, "mt.active"],
            3,
            &["NOT started", "[not met]"],
        ),
        Step {
            args: with(
                dnb("register"),
                &["--suite", suite.to_str().expect("utf-8 path")],
            ),
            code: 0,
            contains: vec![
                "Depth & Breadth of MT (MOC/smso-north) version 1 with",
                "draft",
            ],
            lacks: vec![],
        },
        Step {
            args: with(dnb("agree"), &["--reason", "TAG minutes 12"]),
            code: 0,
            contains: vec!["agreed"],
            lacks: vec![],
        },
        // Rule 10: an agreed document cannot become disputed; the gateway names both statuses.
        Step {
            args: with(dnb("dispute"), &["--reason", "late objection"]),
            code: 2,
            contains: vec!["from agreed to disputed"],
            lacks: vec![],
        },
        step(
            &["plan", "start", "--entry", ENTRY, "mt.active"],
            0,
            &["started", "EXIT"],
        ),
        step(
            &[
                "issues",
                "add",
                "--severity",
                "2",
                "--title",
                "clock drift",
                "--entry",
                ENTRY,
                "--phase",
                "mt.active",
            ],
            0,
            &["raised issue 1: sev2 open \"clock drift\""],
        ),
        step(
            &["issues", "list", "--entry", ENTRY],
            0,
            &["clock drift", "1 issue(s)"],
        ),
        // Failing criteria first, met ones counted.
        Step {
            args: vec![
                "exit".into(),
                "--entry".into(),
                ENTRY.into(),
                "mt.active".into(),
            ],
            code: 3,
            contains: vec![
                "NOT MET",
                "[not met] R4 4.issues.sev2",
                // The entry's aggregate (rule 5) is information on a phase verdict under the
                // illustrative profile's `aggregate_gates = "entry"`.
                "criteria met, 5 for information (--verbose lists them)",
                // Who recorded what the verdict rests on (issue 12).
                "recorded: dnb-agreed Depth & Breadth of MT (MOC/smso-north) by ",
            ],
            lacks: vec!["[met    ]", "[info   ]"],
        },
        step(
            &["exit", "--entry", ENTRY, "mt.active", "--verbose"],
            3,
            &["[met    ] R4 4.started", "[info   ] R5 5.aggregate.sev2"],
        ),
        Step {
            args: [
                "exit",
                "--entry",
                ENTRY,
                "mt.active",
                "--what-if",
                "close:1",
            ]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
            code: 3,
            contains: vec!["assuming issue 1 status closed", "4.coverage"],
            lacks: vec!["[not met] R4 4.issues.sev2"],
        },
        step(
            &["status", "--entry", ENTRY],
            0,
            &[
                "mt.active    NOT MET  0/13",
                "sev2 1/0 OVER",
                "entry aggregate: NOT MET",
            ],
        ),
        step(
            &["entry", "--entry", ENTRY],
            3,
            &[
                "entry MOC/smso-north/acme-ch1-e470-g4 — NOT MET",
                "[blocked] R5 5.aggregate.sev2",
                "recorded: dnb-agreed Depth & Breadth of MT (MOC/smso-north) by ",
            ],
        ),
        // What-if on an entry: the same vocabulary as on a phase; the aggregate limit it breaks
        // goes, the failing criteria that stay come first.
        Step {
            args: ["entry", "--entry", ENTRY, "--what-if", "close:1"]
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            code: 3,
            contains: vec![
                "now: MOC/smso-north/acme-ch1-e470-g4 — NOT MET",
                "assuming issue 1 status closed",
                "[not met] R4 4.phase.mt.active",
            ],
            lacks: vec!["5.aggregate.sev2", "[met    ]"],
        },
        step(
            &["entry", "--entry", ENTRY, "--what-if", "raise:1"],
            2,
            &["name the phase the new issue is in", "raise:1@mt.active"],
        ),
        step(
            &[
                "entry",
                "--entry",
                ENTRY,
                "--what-if",
                "raise:1@sit.mixed",
                "--what-if",
                "close:77",
            ],
            3,
            &[
                "assuming new sev1 issue",
                "[blocked] R5 5.aggregate.sev1",
                "--what-if #2 would be refused: Testing Issue 77 is unknown",
            ],
        ),
        step(
            &[
                "issues",
                "update",
                "1",
                "--status",
                "closed",
                "--reason",
                "fixed in 1.4.1, verified",
            ],
            0,
            &["updated issue 1: sev2 closed"],
        ),
        step(&["issues", "list", "--status", "open"], 0, &["0 issue(s)"]),
        Step {
            args: ["status", "--entry", ENTRY]
                .iter()
                .map(|a| (*a).to_owned())
                .collect(),
            code: 0,
            contains: vec!["mt.active", "none"],
            lacks: vec!["1/0 OVER"],
        },
        step(
            &[
                "descope",
                "--entry",
                ENTRY,
                "--phase",
                "mt.active",
                "--case",
                "MT-ACT-001",
                "--cite-case",
                "MT-ACT-002",
                "--rationale",
                "same SRV on the same meter",
            ],
            3,
            &[
                "REFUSED",
                "[not met] cited_result_exists",
                "[met    ] rationale_given",
            ],
        ),
        // Rule 10's dispute route on the SIT document: disputed (the phase is pending), referred,
        // determined — then the phase may start.
        Step {
            args: with(
                sit("register"),
                &["--suite", sit_suite.to_str().expect("utf-8 path")],
            ),
            code: 0,
            contains: vec![
                "Depth & Breadth of SIT (MOC/smso-north) version 1 with",
                "draft",
            ],
            lacks: vec![],
        },
        Step {
            args: with(sit("dispute"), &["--reason", "scope of SRV 7.4"]),
            code: 0,
            contains: vec!["disputed"],
            lacks: vec![],
        },
        step(
            &["exit", "--entry", ENTRY, "sit.active"],
            3,
            &["PENDING", "[pending] R10 10.dnb_status"],
        ),
        Step {
            args: with(
                sit("refer"),
                &["--reason", "referred to the Secretary of State"],
            ),
            code: 0,
            contains: vec!["referred"],
            lacks: vec![],
        },
        Step {
            args: with(sit("determine"), &["--reason", "determination 2026-11"]),
            code: 0,
            contains: vec!["determined"],
            lacks: vec![],
        },
        step(
            &["plan", "start", "--entry", ENTRY, "sit.active"],
            0,
            &["started"],
        ),
        // Cycles, regression runs (rule 6) and DMC changes (rule 8).
        step(
            &["cycle", "define", "--cycle", "c1", "--entry", ENTRY],
            0,
            &["defined cycle c1 of MOC/smso-north/acme-ch1-e470-g4"],
        ),
        step(
            &["cycle", "exit", "--cycle", "c1"],
            3,
            &[
                "regression of cycle c1 — NOT MET",
                "[not met] R6 6.run.mt_end",
            ],
        ),
        step(
            &[
                "regression",
                "record",
                "--entry",
                ENTRY,
                "--kind",
                "mt-end",
                "--id",
                "rg-1",
            ],
            0,
            &["regression rg-1 (mt_end of entry MOC/smso-north/acme-ch1-e470-g4): registered"],
        ),
        // Rule 3 for regression: no agreed regression list, so it may not start; said why.
        step(
            &[
                "regression",
                "record",
                "--entry",
                ENTRY,
                "--kind",
                "mt-end",
                "--id",
                "rg-1",
                "--start",
            ],
            2,
            &["RecordRegressionRun: FailedPrecondition", "may not start"],
        ),
        step(
            &[
                "regression",
                "record",
                "--cycle",
                "c1",
                "--kind",
                "combined",
                "--id",
                "rg-2",
            ],
            2,
            &["must be true for COMBINED"],
        ),
        step(
            &[
                "regression",
                "record",
                "--cycle",
                "c1",
                "--kind",
                "weekly",
                "--id",
                "rg-2",
            ],
            2,
            &["expected mt-end, sit-end or combined"],
        ),
        step(
            &[
                "dmc",
                "deselect",
                "--dmc",
                "acme-ch1-e470-g4",
                "--reason",
                "supplier withdrew the hub",
            ],
            0,
            &["DMC acme-ch1-e470-g4 deselected", "consultation: none"],
        ),
        Step {
            args: with(
                vec![
                    "dmc".into(),
                    "firmware".into(),
                    "--dmc".into(),
                    "acme-ch1-e470-g4".into(),
                ],
                &[
                    "--tag-consultation",
                    "TAG-7",
                    "--dmc-file",
                    dmc_arg.as_str(),
                ],
            ),
            code: 2,
            contains: vec!["FIRMWARE_ONLY needs at least one firmware version change"],
            lacks: vec![],
        },
        Step {
            args: with(
                vec![
                    "dmc".into(),
                    "reintroduce".into(),
                    "--dmc".into(),
                    "acme-ch1-e470-g4".into(),
                ],
                &["--tag-consultation", "", "--dmc-file", dmc_arg.as_str()],
            ),
            code: 2,
            contains: vec!["--tag-consultation must name the TAG consultation"],
            lacks: vec![],
        },
        Step {
            args: with(
                vec![
                    "dmc".into(),
                    "reintroduce".into(),
                    "--dmc".into(),
                    "acme-ch1-e470-g4".into(),
                ],
                &[
                    "--tag-consultation",
                    "TAG-7",
                    "--dmc-file",
                    dmc_arg.as_str(),
                ],
            ),
            code: 0,
            contains: vec!["DMC acme-ch1-e470-g4 reintroduced", "consultation: tag"],
            lacks: vec![],
        },
        Step {
            args: with(
                vec![
                    "dmc".into(),
                    "model-change".into(),
                    "--dmc".into(),
                    "acme-ch1-e470-g4".into(),
                ],
                &["--new-dmc", "acme-ch3", "--dmc-file", dmc_arg.as_str()],
            ),
            code: 2,
            contains: vec![
                "describes DMC \"acme-ch1-e470-g4\", but --new-dmc names DMC \"acme-ch3\"",
            ],
            lacks: vec![],
        },
        step(
            &[
                "dmc",
                "model-change",
                "--dmc",
                "acme-ch1-e470-g4",
                "--new-dmc",
                "acme-ch2-e470-g4",
                "--hub",
                "Acme:CH-2:2.0",
            ],
            0,
            &[
                "DMC acme-ch1-e470-g4 model-change",
                "consultation: full",
                "must (re)run: MOC/smso-north/acme-ch2-e470-g4 sit.mixed",
            ],
        ),
        // Bad input, named: a phase that does not exist, an issue that does not, no change.
        step(
            &["exit", "--entry", ENTRY, "mt.asleep"],
            2,
            &["expected TEST.MODE"],
        ),
        step(
            &["exit", "--entry", "MOC/smso-north", "mt.active"],
            2,
            &["RELEASE/SMSO/DMC"],
        ),
        step(
            &[
                "issues", "update", "99", "--status", "closed", "--reason", "x",
            ],
            2,
            &["UpdateIssue"],
        ),
        step(
            &["issues", "update", "1", "--reason", "x"],
            2,
            &["nothing to change"],
        ),
        step(
            &["exit", "--entry", "MOC/smso-north/unplanned", "mt.active"],
            2,
            &["EvaluatePhase: NotFound"],
        ),
    ]
}

fn check(target: &[String], label: &str) {
    for (index, step) in steps().iter().enumerate() {
        let output = meterlab()
            .args(&step.args)
            .args(target)
            .output()
            .expect("meterlab runs");
        let shown = text(&output);
        let what = format!("{label} step {index} `meterlab {}`", step.args.join(" "));
        assert_eq!(output.status.code(), Some(step.code), "{what}:\n{shown}");
        let read = if step.code == 0 || step.code == 3 {
            String::from_utf8_lossy(&output.stdout).into_owned()
        } else {
            shown.clone()
        };
        for wanted in &step.contains {
            assert!(read.contains(wanted), "{what}: no {wanted:?} in\n{shown}");
        }
        for unwanted in &step.lacks {
            assert!(!read.contains(unwanted), "{what}: {unwanted:?} in\n{shown}");
        }
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains('\x1b'),
            "{what}: colour codes in a pipe"
        );
    }
    json_answers(target, label);
}

/// `--output json` is one document scripts can read.
fn json_answers(target: &[String], label: &str) {
    let json = |args: &[&str]| -> serde_json::Value {
        let output = meterlab()
            .args(args)
            .args(["--output", "json"])
            .args(target)
            .output()
            .expect("meterlab runs");
        serde_json::from_slice(&output.stdout).unwrap_or_else(|error| {
            panic!("{label} {args:?}: not JSON ({error}):\n{}", text(&output))
        })
    };
    let status = json(&["status", "--entry", ENTRY]);
    let phases = status["phases"].as_array().expect("phases");
    assert_eq!(phases.len(), 6, "{label}: {status}");
    assert_eq!(phases[0]["phase"], "mt.active");
    assert_eq!(phases[0]["outcome"], "not_met");
    assert_eq!(phases[0]["counts"]["planned"], 13);
    let verdict = json(&["exit", "--entry", ENTRY, "mt.active"]);
    assert_eq!(verdict["outcome"], "not_met", "{label}: {verdict}");
    assert!(
        verdict["criteria"]
            .as_array()
            .is_some_and(|c| !c.is_empty())
    );
    let what_if = json(&["entry", "--entry", ENTRY, "--what-if", "raise:1@mt.active"]);
    assert_eq!(
        what_if["current"]["outcome"], "not_met",
        "{label}: {what_if}"
    );
    let hypothetical = what_if["hypothetical"]["criteria"]
        .as_array()
        .expect("criteria");
    assert!(
        hypothetical
            .iter()
            .any(|c| c["id"] == "5.aggregate.sev1" && c["outcome"] == "blocked"),
        "{label}: {what_if}"
    );
    let cycle = json(&["cycle", "exit", "--cycle", "c1"]);
    assert_eq!(cycle["outcome"], "not_met", "{label}: {cycle}");
    let recorded = json(&[
        "regression",
        "record",
        "--entry",
        ENTRY,
        "--kind",
        "sit-end",
        "--id",
        "rg-9",
    ]);
    assert_eq!(recorded["kind"], "sit_end", "{label}: {recorded}");
    assert!(
        recorded["recorded"]["log_position"]
            .as_u64()
            .is_some_and(|p| p > 0)
    );
    let issues = json(&["issues", "list"]);
    assert_eq!(issues[0]["id"], "1", "{label}: {issues}");
    assert_eq!(issues[0]["status"], "closed");
}

#[test]
fn every_governance_command_on_a_local_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("lab.sqlite");
    // Only planning creates a store.
    let missing = meterlab()
        .args(["status", "--entry", ENTRY, "--db"])
        .arg(&db)
        .output()
        .expect("meterlab runs");
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(
        text(&missing).contains("no such store"),
        "{}",
        text(&missing)
    );
    check(&["--db".to_owned(), db.display().to_string()], "--db");
    // A local store serves no devices, and says so.
    let devices = meterlab()
        .args(["devices", "--db"])
        .arg(&db)
        .output()
        .expect("runs");
    assert_eq!(devices.status.code(), Some(1), "{}", text(&devices));
    assert!(
        text(&devices).contains("does not serve DeviceService"),
        "{}",
        text(&devices)
    );
}

/// `meterlab serve --config` with one test-manager token; returns it and its address.
fn serve(dir: &Path, token_hash_line: &str) -> (Child, String) {
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndb = \"lab.sqlite\"\nprofile = \"{}\"\n\
             [[principal]]\nname = \"tess\"\nrole = \"test-manager\"\n{token_hash_line}\n",
            repo("suites/profiles/illustrative.toml").display()
        ),
    )
    .expect("config written");
    cli_support::serve(&config)
}

#[test]
fn every_governance_command_against_a_gateway_with_a_token() {
    let dir = tempfile::tempdir().expect("temp dir");
    let token_file = dir.path().join("tess.token");
    let hashed = meterlab()
        .args(["token", "hash", "--out"])
        .arg(&token_file)
        .output()
        .expect("token hash runs");
    assert!(hashed.status.success(), "{}", text(&hashed));
    let hash_line = String::from_utf8_lossy(&hashed.stdout).trim().to_owned();
    let (mut server, addr) = serve(dir.path(), &hash_line);
    let url = format!("http://{addr}");

    // Without the token the gateway refuses, and the CLI says so (not bad input: exit 1).
    let anonymous = meterlab()
        .args(["issues", "list", "--gateway", &url])
        .output()
        .expect("runs");
    assert_eq!(anonymous.status.code(), Some(1), "{}", text(&anonymous));
    assert!(
        text(&anonymous).contains("Unauthenticated"),
        "{}",
        text(&anonymous)
    );

    check(
        &[
            "--gateway".to_owned(),
            url.clone(),
            "--token-file".to_owned(),
            token_file.display().to_string(),
        ],
        "--gateway",
    );
    server.kill().expect("kill serve");
    let _ = server.wait();
}
