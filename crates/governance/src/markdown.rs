//! Plain Markdown rendering of verdicts and completion reports.

use std::fmt::Write;

use crate::report::{CompletionReport, RegressionSummary};
use crate::verdict::Verdict;

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Renders one verdict as a heading line and a criteria table.
pub fn verdict_markdown(v: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "**{}**: `{}`", v.subject, v.outcome);
    let _ = writeln!(
        out,
        "\nProfile {} {}{}, after event {}.",
        v.profile.name,
        v.profile.version,
        if v.illustrative_profile {
            " (ILLUSTRATIVE)"
        } else {
            ""
        },
        v.at_seq
    );
    if !v.assumptions.is_empty() {
        let _ = writeln!(out, "\nWhat-if, assuming: {}.", v.assumptions.join("; "));
    }
    let _ = writeln!(
        out,
        "\n| rule | criterion | clause | measured | limit | outcome | explanation |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|---|");
    for c in &v.criteria {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} |",
            c.rule,
            cell(&c.id),
            cell(&c.clause),
            cell(&c.measured.to_string()),
            cell(&c.limit.to_string()),
            c.outcome.as_str(),
            cell(&c.explanation)
        );
    }
    out
}

fn instant(t: Option<crate::date::Timestamp>) -> String {
    t.map_or_else(|| "—".to_string(), |t| t.to_string())
}

/// The regression runs table (rule 6): timing, exit, results recorded and cases covered.
fn regressions_markdown(out: &mut String, runs: &[RegressionSummary]) {
    let _ = writeln!(out, "\n## Regression runs\n");
    if runs.is_empty() {
        let _ = writeln!(out, "None.");
        return;
    }
    let _ = writeln!(
        out,
        "| run | started | finished | exited | outcome | results passed / failed / blocked / not run / descoped | cases satisfied / required |\n|---|---|---|---|---|---|---|"
    );
    for g in runs {
        let res = &g.results;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | `{}` | {} / {} / {} / {} / {} | {} / {} |",
            cell(&format!(
                "{} regression {}",
                g.run.scope,
                g.run.kind.as_str()
            )),
            instant(g.started_at),
            instant(g.finished_at),
            if g.exited { "yes" } else { "no" },
            g.outcome,
            res.passed,
            res.failed,
            res.blocked,
            res.not_run,
            res.descoped,
            g.cases.cases.passed + g.cases.cases.descoped,
            g.cases.required
        );
    }
}

/// Renders a combined completion report.
pub fn report_markdown(r: &CompletionReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# {}\n", r.title);
    if r.illustrative_profile {
        let _ = writeln!(
            out,
            "> **Illustrative profile.** The limits used here were not verified against the SVTAD; this report shows the method, not an agreed decision.\n"
        );
    }
    let _ = writeln!(out, "- Outcome: `{}`", r.outcome);
    let _ = writeln!(
        out,
        "- Rule profile: {} version {} — {}",
        r.profile.name, r.profile.version, r.profile_description
    );
    let releases: Vec<&str> = r.releases.iter().map(|x| x.as_str()).collect();
    let _ = writeln!(out, "- Capability release(s): {}", releases.join(", "));
    let _ = writeln!(out, "- State after event: {}", r.at_seq);
    let _ = writeln!(out, "- Combined reporting: {}", r.clause);
    let _ = writeln!(
        out,
        "- Independent audit: {} ({}) — {}",
        if r.audit.required {
            "required"
        } else {
            "not required"
        },
        r.audit.clause,
        r.audit.explanation
    );
    if !r.assumptions.is_empty() {
        let _ = writeln!(out, "- What-if assumptions: {}", r.assumptions.join("; "));
    }

    let _ = writeln!(out, "\n## Phases\n\n| phase | outcome |\n|---|---|");
    for v in &r.phases {
        let _ = writeln!(
            out,
            "| {} | `{}` |",
            cell(&v.subject.to_string()),
            v.outcome
        );
    }
    for v in &r.phases {
        let _ = writeln!(out, "\n### {}\n", v.subject);
        out.push_str(&verdict_markdown(v));
    }
    regressions_markdown(&mut out, &r.regressions);
    let _ = writeln!(out, "\n## Planned entries\n");
    for v in &r.entries {
        out.push_str(&verdict_markdown(v));
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "## Testing Issues by severity and status\n\n| severity | open | fixed | known defect | closed |\n|---|---|---|---|---|"
    );
    for row in &r.issues_by_severity {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} |",
            row.severity, row.open, row.fixed, row.known_defect, row.closed
        );
    }
    if !r.issues.is_empty() {
        let _ = writeln!(
            out,
            "\n| issue | severity | status | title | description | workaround |\n|---|---|---|---|---|---|"
        );
        for i in &r.issues {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                i.id,
                i.severity,
                i.status.as_str(),
                cell(&i.title),
                cell(&i.description),
                cell(i.workaround.as_deref().unwrap_or(""))
            );
        }
    }

    let _ = writeln!(out, "\n## De-scoped cases\n");
    if r.descopes.is_empty() {
        let _ = writeln!(out, "None.");
    } else {
        let _ = writeln!(
            out,
            "| phase | case | equivalent passed test | rationale | still valid |\n|---|---|---|---|---|"
        );
        for d in &r.descopes {
            let _ = writeln!(
                out,
                "| {} | {} | {} case {} | {} | {} |",
                cell(&d.phase),
                cell(&d.case),
                cell(&d.cited_phase),
                cell(&d.cited_case),
                cell(&d.rationale),
                if d.valid { "yes" } else { "no" }
            );
        }
    }
    out
}
