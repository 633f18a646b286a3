//! Live progress on stderr: a bar per device on a terminal (indicatif), plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use meterlab_runner::{CaseStatus, RunEvent, RunEventKind};

/// Follows the run's events and shows them.
pub enum Progress {
    Bars(Box<Bars>),
    Lines,
    Quiet,
}

/// A bar per device.
pub struct Bars {
    multi: MultiProgress,
    bars: HashMap<String, ProgressBar>,
    style: ProgressStyle,
    per_device: HashMap<String, u64>,
}

impl Progress {
    /// Bars when stderr is a terminal, lines otherwise; `per_device` is how many cases each
    /// device will run.
    pub fn new(quiet: bool, per_device: HashMap<String, u64>) -> Self {
        if quiet {
            return Self::Quiet;
        }
        if !std::io::stderr().is_terminal() {
            return Self::Lines;
        }
        let style =
            ProgressStyle::with_template("{prefix:<24!} [{bar:30}] {pos:>3}/{len:3} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> ");
        Self::Bars(Box::new(Bars {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: HashMap::new(),
            style,
            per_device,
        }))
    }

    pub fn show(&mut self, event: &RunEvent) {
        match self {
            Self::Quiet => {}
            Self::Lines => print_line(event),
            Self::Bars(state) => {
                let Bars {
                    multi,
                    bars,
                    style,
                    per_device,
                } = &mut **state;
                let device = match &event.kind {
                    RunEventKind::DeviceChecked(health) => Some(&health.device_id),
                    RunEventKind::CaseStarted { device_id, .. }
                    | RunEventKind::StepFinished { device_id, .. } => Some(device_id),
                    RunEventKind::CaseFinished(result) => Some(&result.device_id),
                    _ => None,
                };
                let Some(device) = device else {
                    if let RunEventKind::Log { message, .. } = &event.kind {
                        multi.suspend(|| eprintln!("{message}"));
                    }
                    return;
                };
                let bar = bars.entry(device.clone()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(
                        per_device.get(device).copied().unwrap_or(0),
                    ));
                    bar.set_style(style.clone());
                    bar.set_prefix(device.clone());
                    bar
                });
                match &event.kind {
                    RunEventKind::DeviceChecked(health) => bar.set_message(health.describe()),
                    RunEventKind::CaseStarted {
                        case_id, attempt, ..
                    } => bar.set_message(format!("{case_id} (attempt {attempt})")),
                    RunEventKind::CaseFinished(result) => {
                        let counted =
                            matches!(result.status, CaseStatus::Passed | CaseStatus::NotRun)
                                || result.attempt >= result.max_attempts;
                        if counted {
                            bar.inc(1);
                        }
                        bar.set_message(format!("{} {}", result.case_id, result.status));
                        if bar.length().is_some_and(|len| bar.position() >= len) {
                            bar.finish();
                        }
                    }
                    _ => {}
                }
            }
        }
    }

    pub fn finish(&mut self) {
        if let Self::Bars(state) = self {
            for bar in state.bars.values() {
                bar.finish();
            }
            let _ = state.multi.clear();
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bars(_) => "Progress::Bars",
            Self::Lines => "Progress::Lines",
            Self::Quiet => "Progress::Quiet",
        })
    }
}

fn print_line(event: &RunEvent) {
    match &event.kind {
        RunEventKind::Started {
            cases_total,
            device_ids,
        } => eprintln!(
            "run {}: {cases_total} cases on {} devices",
            event.run_id,
            device_ids.len()
        ),
        RunEventKind::DeviceChecked(health) => {
            eprintln!("{}: {}", health.device_id, health.describe());
        }
        RunEventKind::CaseFinished(result) => {
            let detail = if result.status == CaseStatus::Passed {
                String::new()
            } else {
                format!(": {}", super::report::explain(result))
            };
            eprintln!(
                "{} {} attempt {}/{} {}{detail}",
                result.device_id,
                result.case_id,
                result.attempt,
                result.max_attempts,
                result.status
            );
        }
        RunEventKind::Log { message, .. } => eprintln!("{message}"),
        _ => {}
    }
}
