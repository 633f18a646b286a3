//! The geometry of the two inline SVG charts; the templates draw what is computed here, so the
//! charts need no script and no external file.

use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Rect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
    pub class: &'static str,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Line {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
    pub class: &'static str,
    pub title: String,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Label {
    pub x: u32,
    pub y: u32,
    /// `start`, `middle` or `end`.
    pub anchor: &'static str,
    pub text: String,
}

/// One chart: an SVG of `width` × `height` with an accessible title.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Chart {
    pub id: &'static str,
    pub title: String,
    pub width: u32,
    pub height: u32,
    pub rects: Vec<Rect>,
    pub lines: Vec<Line>,
    pub labels: Vec<Label>,
    /// Legend entries: (CSS class, text).
    pub legend: Vec<(&'static str, &'static str)>,
}

/// Outstanding issues of one severity in one series (a planned entry), with its limit.
#[derive(Debug, Clone)]
pub(crate) struct SeverityBar {
    pub series: String,
    pub severity: u8,
    pub count: u64,
    /// `None` is unlimited.
    pub limit: Option<u64>,
}

fn scaled(value: u64, max: u64, span: u32) -> u32 {
    if max == 0 {
        return 0;
    }
    let v = value.min(max) as u128 * u128::from(span) / u128::from(max);
    u32::try_from(v).unwrap_or(span)
}

const PLOT_TOP: u32 = 30;
const PLOT_HEIGHT: u32 = 160;
const AXIS_Y: u32 = PLOT_TOP + PLOT_HEIGHT;

/// Chart 1: for each severity, a bar per series (entry) of outstanding issues, and a line at
/// the limit (none when unlimited). A bar over its limit is drawn in the `over` class.
pub(crate) fn issues_by_severity(bars: &[SeverityBar], series: &[String]) -> Chart {
    let n_series = u32::try_from(series.len().max(1)).unwrap_or(1);
    let bar_w: u32 = 28;
    let group_w = bar_w * n_series + 24;
    let left: u32 = 40;
    let width = left + group_w * 5 + 20;
    let max = bars
        .iter()
        .flat_map(|b| [Some(b.count), b.limit])
        .flatten()
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = Chart {
        id: "chart-issues",
        title: "Outstanding Testing Issues by severity against the aggregate limit".to_string(),
        width,
        height: AXIS_Y + 40,
        rects: Vec::new(),
        lines: vec![Line {
            x1: left,
            y1: AXIS_Y,
            x2: width - 10,
            y2: AXIS_Y,
            class: "axis",
            title: String::new(),
        }],
        labels: Vec::new(),
        legend: vec![
            ("within", "within the limit"),
            ("over", "over the limit"),
            ("limit", "limit"),
        ],
    };
    for severity in 1..=5u8 {
        let gx = left + group_w * u32::from(severity - 1) + 12;
        chart.labels.push(Label {
            x: gx + bar_w * n_series / 2,
            y: AXIS_Y + 16,
            anchor: "middle",
            text: format!("sev {severity}"),
        });
        let mut limit_drawn = false;
        for (i, name) in series.iter().enumerate() {
            let Some(bar) = bars
                .iter()
                .find(|b| b.severity == severity && &b.series == name)
            else {
                continue;
            };
            let x = gx + bar_w * u32::try_from(i).unwrap_or(0);
            let h = scaled(bar.count, max, PLOT_HEIGHT);
            let over = bar.limit.is_some_and(|l| bar.count > l);
            let limit_text = bar.limit.map_or("unlimited".to_string(), |l| l.to_string());
            chart.rects.push(Rect {
                x: x + 2,
                y: AXIS_Y - h,
                w: bar_w - 4,
                h,
                class: if over { "over" } else { "within" },
                title: format!(
                    "{name}: {} outstanding severity {severity} issue(s), limit {limit_text}",
                    bar.count
                ),
            });
            chart.labels.push(Label {
                x: x + bar_w / 2,
                y: AXIS_Y - h - 4,
                anchor: "middle",
                text: bar.count.to_string(),
            });
            if let (Some(limit), false) = (bar.limit, limit_drawn) {
                let y = AXIS_Y - scaled(limit, max, PLOT_HEIGHT);
                chart.lines.push(Line {
                    x1: gx - 4,
                    y1: y,
                    x2: gx + bar_w * n_series + 4,
                    y2: y,
                    class: "limit",
                    title: format!("severity {severity} limit {limit}"),
                });
                limit_drawn = true;
            }
        }
        if !limit_drawn {
            chart.labels.push(Label {
                x: gx + bar_w * n_series / 2,
                y: PLOT_TOP - 8,
                anchor: "middle",
                text: "no limit".to_string(),
            });
        }
    }
    chart
}

/// Case counts of one phase for chart 2.
#[derive(Debug, Clone)]
pub(crate) struct CaseBar {
    pub phase: String,
    pub passed: u64,
    pub failed: u64,
    pub blocked: u64,
    pub descoped: u64,
    /// Not run, or no result yet.
    pub other: u64,
}

/// Chart 2: one stacked horizontal bar per phase: passed, failed, blocked, de-scoped, other.
pub(crate) fn cases_per_phase(bars: &[CaseBar]) -> Chart {
    let left: u32 = 230;
    let span: u32 = 420;
    let row_h: u32 = 24;
    let top: u32 = 10;
    let rows = u32::try_from(bars.len()).unwrap_or(u32::MAX / row_h);
    let max = bars
        .iter()
        .map(|b| b.passed + b.failed + b.blocked + b.descoped + b.other)
        .max()
        .unwrap_or(0)
        .max(1);
    let mut chart = Chart {
        id: "chart-cases",
        title: "Required cases per phase: passed, failed, blocked, de-scoped, other".to_string(),
        width: left + span + 70,
        height: top + rows.saturating_mul(row_h) + 20,
        rects: Vec::new(),
        lines: Vec::new(),
        labels: Vec::new(),
        legend: vec![
            ("passed", "passed"),
            ("failed", "failed"),
            ("blocked", "blocked"),
            ("descoped", "de-scoped"),
            ("other", "not run or no result"),
        ],
    };
    for (i, bar) in bars.iter().enumerate() {
        let y = top + row_h * u32::try_from(i).unwrap_or(0);
        chart.labels.push(Label {
            x: left - 6,
            y: y + 15,
            anchor: "end",
            text: bar.phase.clone(),
        });
        let mut x = left;
        let mut total = 0;
        for (count, class, name) in [
            (bar.passed, "passed", "passed"),
            (bar.failed, "failed", "failed"),
            (bar.blocked, "blocked", "blocked"),
            (bar.descoped, "descoped", "de-scoped"),
            (bar.other, "other", "not run or no result"),
        ] {
            total += count;
            if count == 0 {
                continue;
            }
            let w = scaled(count, max, span).max(1);
            chart.rects.push(Rect {
                x,
                y: y + 3,
                w,
                h: row_h - 6,
                class,
                title: format!("{}: {count} {name}", bar.phase),
            });
            x += w;
        }
        chart.labels.push(Label {
            x: x + 6,
            y: y + 15,
            anchor: "start",
            text: total.to_string(),
        });
    }
    chart
}
