//! The completion report as people read it: snapshots of the Markdown and HTML (the generation
//! time redacted), and the properties a reader relies on.

mod common;

use meterlab_report::{RenderOptions, completion_html, completion_markdown, verdict_markdown};

// A real clock on purpose: the snapshots must not depend on when they run.
#[allow(clippy::disallowed_methods)]
fn options() -> RenderOptions {
    RenderOptions {
        // Volatile: redacted in the snapshots.
        generated_at: Some(format!("{:?}", std::time::SystemTime::now())),
        log_head: Some("9f".repeat(32)),
    }
}

fn redact(settings: &mut insta::Settings) {
    settings.add_filter(r"Generated: .*", "Generated: [generated_at]");
    settings.add_filter(
        r#"<span class="generated">[^<]*</span>"#,
        r#"<span class="generated">[generated_at]</span>"#,
    );
}

#[test]
fn markdown_snapshot() {
    let (report, decisions) = common::story();
    let md = completion_markdown(&report, &decisions, &options()).expect("renders");
    let mut settings = insta::Settings::clone_current();
    redact(&mut settings);
    settings.bind(|| insta::assert_snapshot!("completion_markdown", md));
}

#[test]
fn html_snapshot() {
    let (report, decisions) = common::story();
    let html = completion_html(&report, &decisions, &options()).expect("renders");
    let mut settings = insta::Settings::clone_current();
    redact(&mut settings);
    settings.bind(|| insta::assert_snapshot!("completion_html", html));
}

#[test]
fn markdown_lists_who_recorded_each_decision() {
    let (report, decisions) = common::story();
    let md = completion_markdown(&report, &decisions, &RenderOptions::default()).expect("renders");
    for line in [
        "| Depth & Breadth agreed | Depth & Breadth of MT (IOC/S1) | tm.alice |",
        "| case de-scoped | IOC/S1/D1 mt.mixed case M2 | tm.bob |",
        "| Testing Issue closed | issue 2 | tm.alice |",
    ] {
        assert!(md.contains(line), "missing {line:?} in\n{md}");
    }
    assert!(md.contains("— recorded by tm.bob"), "{md}");
}

#[test]
fn only_phases_that_need_attention_get_a_section() {
    let (report, decisions) = common::story();
    let md = completion_markdown(&report, &decisions, &RenderOptions::default()).expect("renders");
    let attention = md
        .split("## What needs attention")
        .nth(1)
        .and_then(|rest| rest.split("## Regression status").next())
        .expect("attention section");
    assert!(
        !attention.contains("mt.active —"),
        "mt.active exits with nothing open:\n{attention}"
    );
    for phase in ["mt.dormant", "mt.mixed", "sit.dormant", "sit.mixed"] {
        assert!(
            attention.contains(&format!("{phase} — ")),
            "{phase} missing:\n{attention}"
        );
    }
    assert!(attention.contains("ESME rejects the tariff switch"));
}

#[test]
fn log_text_cannot_inject_markup() {
    let (report, decisions) = common::story();
    let html = completion_html(&report, &decisions, &RenderOptions::default()).expect("renders");
    assert!(
        !html.contains("<b>truncated</b>"),
        "raw markup from the log"
    );
    assert!(html.contains("&lt;b&gt;truncated&lt;/b&gt; &amp; &quot;retried&quot;"));
    assert!(!html.contains("<script"), "the HTML is script-free");
    let md = completion_markdown(&report, &decisions, &RenderOptions::default()).expect("renders");
    assert!(
        md.contains("&lt;b&gt;truncated&lt;/b&gt; & \"retried\" \\| twice"),
        "{md}"
    );
}

#[test]
fn the_verdict_lists_failing_criteria_first() {
    let (report, _) = common::story();
    let dormant = report
        .phases
        .iter()
        .find(|v| v.subject.to_string().contains("mt.dormant"))
        .expect("mt.dormant verdict");
    let md = verdict_markdown(dormant, &[]).expect("renders");
    let rows: Vec<&str> = md
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| rule"))
        .collect();
    let first_met = rows
        .iter()
        .position(|r| r.contains("`met`"))
        .expect("a met row");
    let last_failing = rows
        .iter()
        .rposition(|r| r.contains("`not_met`") || r.contains("`blocked`"))
        .expect("a failing row");
    assert!(last_failing < first_met, "{md}");
    assert!(md.contains("criterion/criteria failing"), "{md}");
}

#[test]
fn a_verdict_lists_who_recorded_what_it_rests_on() {
    let (report, decisions) = common::story();
    let verdict_of = |kind: &str| {
        report
            .phases
            .iter()
            .find(|v| v.subject.to_string().ends_with(kind))
            .expect("verdict")
    };
    let mixed = verdict_markdown(verdict_of("mt.mixed"), &decisions).expect("renders");
    let rests_on = mixed
        .split("Rests on decisions recorded by:")
        .nth(1)
        .expect("a decisions table");
    assert!(
        rests_on.contains("| Depth & Breadth agreed | Depth & Breadth of MT (IOC/S1) | tm.alice |"),
        "{mixed}"
    );
    assert!(
        rests_on.contains("| case de-scoped | IOC/S1/D1 mt.mixed case M2 | tm.bob |"),
        "{mixed}"
    );
    assert!(
        !rests_on.contains("of SIT"),
        "an MT phase does not rest on the SIT agreement: {mixed}"
    );

    let sit = verdict_markdown(verdict_of("sit.active"), &decisions).expect("renders");
    assert!(
        sit.contains("Depth & Breadth of SIT (IOC/S1) | tm.alice"),
        "{sit}"
    );
    assert!(!sit.contains("case de-scoped"), "{sit}");
}
