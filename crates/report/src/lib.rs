//! Reports that people and CI systems read.
//!
//! Owns: rendering the combined completion report and verdicts of `meterlab-governance` as
//! Markdown and self-contained HTML (minijinja templates under `templates/`, embedded at build
//! time, with two inline SVG charts), who recorded the decisions a report rests on
//! ([`RecordedDecision`]), JUnit XML and CTRF JSON for CI systems ([`ci`]), and sealed evidence
//! bundles with a SHA-256 manifest ([`bundle`]).
//!
//! Must never depend on the server, the store or tonic: callers read the log (over gRPC or
//! from a local store) and pass plain data in. The governance engine stays format-free; every
//! text format lives here.
#![forbid(unsafe_code)]

pub mod bundle;
mod chart;
pub mod ci;
mod decision;
pub mod error;
pub mod evidence;
mod render;
mod view;

use meterlab_governance::report::CompletionReport;
use meterlab_governance::verdict::Verdict;

pub use decision::{Decision, RecordedDecision};
pub use error::{BundleError, CiError, RenderError};
pub use view::RenderOptions;

use view::{ReportView, VerdictView};

/// The combined completion report as Markdown (CommonMark; the charts are inline SVG blocks).
pub fn completion_markdown(
    report: &CompletionReport,
    decisions: &[RecordedDecision],
    options: &RenderOptions,
) -> Result<String, RenderError> {
    render::render("completion.md", ReportView::new(report, decisions, options))
}

/// The combined completion report as one self-contained HTML document: inline style and SVG,
/// no script, nothing fetched, every text from the log escaped.
pub fn completion_html(
    report: &CompletionReport,
    decisions: &[RecordedDecision],
    options: &RenderOptions,
) -> Result<String, RenderError> {
    render::render(
        "completion.html",
        ReportView::new(report, decisions, options),
    )
}

/// The completion report as JSON: the structured report, the decisions it rests on with who
/// recorded them, and the options' volatile fields.
pub fn completion_json(
    report: &CompletionReport,
    decisions: &[RecordedDecision],
    options: &RenderOptions,
) -> Result<String, serde_json::Error> {
    let rows: Vec<decision::DecisionRow> = decision::relevant(report, decisions)
        .into_iter()
        .map(decision::DecisionRow::of)
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({
        "report": report,
        "decisions": rows,
        "generated_at": options.generated_at,
        "log_head": options.log_head,
    }))
}

/// One verdict as Markdown: failing criteria first, then information, then the met ones, then
/// who recorded the decisions it rests on (of `decisions`: the agreement of its Depth & Breadth
/// document, its de-scopes, and every issue closure given — pass those of its issues).
pub fn verdict_markdown(
    verdict: &Verdict,
    decisions: &[RecordedDecision],
) -> Result<String, RenderError> {
    render::render("verdict.md", VerdictView::of(verdict, decisions))
}

/// One verdict as an HTML fragment (a section, for embedding), like [`verdict_markdown`].
pub fn verdict_html(
    verdict: &Verdict,
    decisions: &[RecordedDecision],
) -> Result<String, RenderError> {
    render::render("verdict.html", VerdictView::of(verdict, decisions))
}
