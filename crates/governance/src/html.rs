//! Self-contained HTML rendering of completion reports: one document, inline style, no scripts
//! and nothing fetched, so it can be archived and opened offline. It renders the same
//! [`CompletionReport`] as [`crate::markdown`]; every text that comes from the log (titles,
//! descriptions, rationales, ids) is escaped.

use std::fmt::Write;

use crate::report::{CompletionReport, RegressionSummary};
use crate::verdict::{CriterionOutcome, Outcome, Verdict};

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;max-width:75em;color:#222}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}\
th{background:#eee}.exit,.met{color:#075e07}.not_met{color:#9a1010}\
.blocked{color:#8a4b00}.pending{color:#444;font-style:italic}\
.warning{border:2px solid #9a1010;padding:.5em 1em;background:#fff4f4}";

fn outcome_class(o: Outcome) -> &'static str {
    match o {
        Outcome::Exit => "exit",
        Outcome::NotMet => "not_met",
        Outcome::Blocked => "blocked",
        Outcome::Pending => "pending",
    }
}

fn criterion_class(o: CriterionOutcome) -> &'static str {
    match o {
        CriterionOutcome::Met => "met",
        CriterionOutcome::NotMet => "not_met",
        CriterionOutcome::Blocked => "blocked",
        CriterionOutcome::Pending => "pending",
        CriterionOutcome::Information => "information",
    }
}

/// One verdict: its outcome, profile and criteria table.
pub fn verdict_html(v: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<p><strong>{}</strong>: <span class=\"{}\">{}</span><br>Profile {} {}{}, after event {}.</p>",
        escape(&v.subject.to_string()),
        outcome_class(v.outcome),
        escape(&v.outcome.to_string()),
        escape(&v.profile.name),
        escape(&v.profile.version),
        if v.illustrative_profile {
            " (ILLUSTRATIVE)"
        } else {
            ""
        },
        v.at_seq
    );
    if !v.assumptions.is_empty() {
        let _ = writeln!(
            out,
            "<p>What-if, assuming: {}.</p>",
            escape(&v.assumptions.join("; "))
        );
    }
    out.push_str(
        "<table><tr><th>rule</th><th>criterion</th><th>clause</th><th>measured</th>\
         <th>limit</th><th>outcome</th><th>explanation</th></tr>\n",
    );
    for c in &v.criteria {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td></tr>",
            c.rule,
            escape(&c.id),
            escape(&c.clause),
            escape(&c.measured.to_string()),
            escape(&c.limit.to_string()),
            criterion_class(c.outcome),
            c.outcome.as_str(),
            escape(&c.explanation)
        );
    }
    out.push_str("</table>\n");
    out
}

fn instant(t: Option<crate::date::Timestamp>) -> String {
    t.map_or_else(|| "—".to_string(), |t| t.to_string())
}

/// The regression runs table (rule 6): timing, exit, results recorded and cases covered.
fn regressions_html(out: &mut String, runs: &[RegressionSummary]) {
    out.push_str("<h2>Regression runs</h2>\n");
    if runs.is_empty() {
        out.push_str("<p>None.</p>\n");
        return;
    }
    out.push_str(
        "<table><tr><th>run</th><th>started</th><th>finished</th><th>exited</th>\
         <th>outcome</th><th>results passed</th><th>failed</th><th>blocked</th><th>not run</th>\
         <th>descoped</th><th>cases satisfied</th><th>required</th></tr>\n",
    );
    for g in runs {
        let res = &g.results;
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&format!(
                "{} regression {}",
                g.run.scope,
                g.run.kind.as_str()
            )),
            escape(&instant(g.started_at)),
            escape(&instant(g.finished_at)),
            if g.exited { "yes" } else { "no" },
            outcome_class(g.outcome),
            escape(&g.outcome.to_string()),
            res.passed,
            res.failed,
            res.blocked,
            res.not_run,
            res.descoped,
            g.cases.cases.passed + g.cases.cases.descoped,
            g.cases.required
        );
    }
    out.push_str("</table>\n");
}

/// Renders a combined completion report as one HTML document.
pub fn report_html(r: &CompletionReport) -> String {
    let mut out = String::new();
    let title = escape(&r.title);
    let _ = writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>"
    );
    if r.illustrative_profile {
        out.push_str(
            "<p class=\"warning\"><strong>Illustrative profile.</strong> The limits used here were \
             not verified against the SVTAD; this report shows the method, not an agreed \
             decision.</p>\n",
        );
    }
    let releases: Vec<&str> = r.releases.iter().map(|x| x.as_str()).collect();
    let _ = writeln!(
        out,
        "<ul><li>Outcome: <span class=\"{}\">{}</span></li>\
         <li>Rule profile: {} version {} — {}</li>\
         <li>Capability release(s): {}</li><li>State after event: {}</li>\
         <li>Combined reporting: {}</li><li>Independent audit: {} ({}) — {}</li>",
        outcome_class(r.outcome),
        escape(&r.outcome.to_string()),
        escape(&r.profile.name),
        escape(&r.profile.version),
        escape(&r.profile_description),
        escape(&releases.join(", ")),
        r.at_seq,
        escape(&r.clause),
        if r.audit.required {
            "required"
        } else {
            "not required"
        },
        escape(&r.audit.clause),
        escape(&r.audit.explanation)
    );
    if !r.assumptions.is_empty() {
        let _ = write!(
            out,
            "<li>What-if assumptions: {}</li>",
            escape(&r.assumptions.join("; "))
        );
    }
    out.push_str("</ul>\n<h2>Phases</h2>\n<table><tr><th>phase</th><th>outcome</th></tr>\n");
    for v in &r.phases {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td class=\"{}\">{}</td></tr>",
            escape(&v.subject.to_string()),
            outcome_class(v.outcome),
            escape(&v.outcome.to_string())
        );
    }
    out.push_str("</table>\n");
    for v in &r.phases {
        let _ = writeln!(out, "<h3>{}</h3>", escape(&v.subject.to_string()));
        out.push_str(&verdict_html(v));
    }
    regressions_html(&mut out, &r.regressions);
    out.push_str("<h2>Planned entries</h2>\n");
    for v in &r.entries {
        out.push_str(&verdict_html(v));
    }

    out.push_str(
        "<h2>Testing Issues by severity and status</h2>\n<table><tr><th>severity</th>\
         <th>open</th><th>fixed</th><th>known defect</th><th>closed</th></tr>\n",
    );
    for row in &r.issues_by_severity {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            row.severity, row.open, row.fixed, row.known_defect, row.closed
        );
    }
    out.push_str("</table>\n");
    if !r.issues.is_empty() {
        out.push_str(
            "<table><tr><th>issue</th><th>severity</th><th>status</th><th>title</th>\
             <th>description</th><th>workaround</th><th>phases</th></tr>\n",
        );
        for i in &r.issues {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                i.id,
                i.severity,
                i.status.as_str(),
                escape(&i.title),
                escape(&i.description),
                escape(i.workaround.as_deref().unwrap_or("")),
                escape(&i.phases.join("; "))
            );
        }
        out.push_str("</table>\n");
    }

    out.push_str("<h2>De-scoped cases</h2>\n");
    if r.descopes.is_empty() {
        out.push_str("<p>None.</p>\n");
    } else {
        out.push_str(
            "<table><tr><th>phase</th><th>case</th><th>equivalent passed test</th>\
             <th>rationale</th><th>still valid</th></tr>\n",
        );
        for d in &r.descopes {
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{} case {}</td><td>{}</td><td>{}</td></tr>",
                escape(&d.phase),
                escape(&d.case),
                escape(&d.cited_phase),
                escape(&d.cited_case),
                escape(&d.rationale),
                if d.valid { "yes" } else { "no" }
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(escape("plain text"), "plain text");
    }
}
