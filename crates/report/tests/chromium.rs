//! The HTML report opened in headless Chromium: the summary table and both charts are laid out
//! with a real size (a script added to a copy of the report measures them after layout; the
//! report itself has no script). Chromium comes from `.ci/chromium`, which installs Debian's
//! package when missing under CI=true; without a browser this test fails, it is never skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use meterlab_report::{RenderOptions, completion_html};

fn chromium() -> PathBuf {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/chromium");
    let out = Command::new(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    PathBuf::from(
        stdout
            .lines()
            .last()
            .expect("the script prints the browser path")
            .trim(),
    )
}

const MEASURE: &str = r#"<script>
const size = (el) => { if (!el) return null; const r = el.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
const layout = {
  summary: size(document.getElementById('summary')),
  summaryRows: document.querySelectorAll('#summary tbody tr').length,
  issues: size(document.querySelector('#chart-issues svg')),
  cases: size(document.querySelector('#chart-cases svg')),
  issueBars: [...document.querySelectorAll('#chart-issues rect')].filter(r => r.getBoundingClientRect().height > 0).length,
  caseBars: [...document.querySelectorAll('#chart-cases rect')].filter(r => r.getBoundingClientRect().width > 0).length,
};
document.body.setAttribute('data-layout', JSON.stringify(layout));
</script>"#;

#[test]
fn summary_table_and_charts_render_in_chromium() {
    let browser = chromium();
    let (report, decisions) = common::story();
    let html = completion_html(&report, &decisions, &RenderOptions::default()).expect("renders");
    let dir = tempfile::tempdir().expect("temp dir");
    let page = dir.path().join("report.html");
    std::fs::write(&page, html.replace("</body>", &format!("{MEASURE}</body>"))).expect("write");
    let profile = dir.path().join("profile");
    let out = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--window-size=1280,2000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let start = dom
        .find("data-layout=\"")
        .expect("the measuring script ran")
        + 13;
    let end = start + dom[start..].find('"').expect("attribute end");
    let json = dom[start..end].replace("&quot;", "\"");
    let layout: serde_json::Value = serde_json::from_str(&json).expect("layout JSON");
    let dims = |key: &str| -> (u64, u64) {
        let v = &layout[key];
        (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
    };
    assert_eq!(layout["summaryRows"], 6, "{layout}");
    let (w, h) = dims("summary");
    assert!(w > 300 && h > 100, "summary table laid out at {w}x{h}");
    let (w, h) = dims("issues");
    assert!(w >= 300 && h >= 200, "issues chart laid out at {w}x{h}");
    let (w, h) = dims("cases");
    assert!(w >= 600 && h >= 150, "cases chart laid out at {w}x{h}");
    // Severity 2 and 4 have one outstanding issue each; nine segments across six phases.
    assert_eq!(layout["issueBars"], 2, "{layout}");
    assert_eq!(layout["caseBars"], 9, "{layout}");
}
