//! How a verdict reads on a terminal: the outcome, the failing criteria first (not met, blocked,
//! pending), then one line counting the met ones — `--verbose` lists those too. Colour only when
//! stdout is a terminal.

use std::io::IsTerminal as _;

use meterlab_governance::model::{EntryKey, PhaseId, TestPhase};
use meterlab_governance::{Criterion, CriterionOutcome, Outcome, Subject, Verdict};

/// ANSI colours, or none.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    colour: bool,
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    pub fn for_stdout() -> Style {
        Style {
            colour: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
        }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// The outcome in capitals, green for an exit, red for not met, yellow otherwise.
    pub fn outcome(self, outcome: Outcome) -> String {
        let (code, text) = match outcome {
            Outcome::Exit => ("32", "EXIT"),
            Outcome::NotMet => ("31", "NOT MET"),
            Outcome::Blocked => ("33", "BLOCKED"),
            Outcome::Pending => ("33", "PENDING"),
        };
        self.paint(code, text)
    }

    fn criterion(self, outcome: CriterionOutcome) -> String {
        let (code, text) = match outcome {
            CriterionOutcome::Met => ("32", "met"),
            CriterionOutcome::NotMet => ("31", "not met"),
            CriterionOutcome::Blocked => ("33", "blocked"),
            CriterionOutcome::Pending => ("33", "pending"),
            CriterionOutcome::Information => ("36", "info"),
        };
        self.paint(code, &format!("{text:<7}"))
    }
}

pub fn entry_name(entry: &EntryKey) -> String {
    format!("{}/{}/{}", entry.release, entry.smso, entry.dmc)
}

pub fn phase_name(phase: &TestPhase) -> String {
    format!("{} {}", entry_name(&phase.entry), phase.kind)
}

/// What a verdict is about, for its heading.
pub fn subject(subject: &Subject) -> String {
    let phase = |p: &PhaseId| match p {
        PhaseId::Test(t) => phase_name(t),
        other => other.to_string(),
    };
    match subject {
        Subject::PhaseExit(p) => format!("exit of {}", phase(p)),
        Subject::PhaseStart(p) => format!("start of {}", phase(p)),
        Subject::Entry(e) => format!("entry {}", entry_name(e)),
        other => other.to_string(),
    }
}

fn criterion_line(style: Style, c: &Criterion) -> String {
    let clause = if c.clause.is_empty() {
        String::new()
    } else {
        format!(" ({})", c.clause)
    };
    format!(
        "  [{}] R{} {}{clause}: measured {}, limit {} — {}",
        style.criterion(c.outcome),
        c.rule,
        c.id,
        c.measured,
        c.limit,
        c.explanation
    )
}

/// The verdict as lines: heading, failing criteria, then the met ones counted (or listed).
pub fn render(verdict: &Verdict, verbose: bool, style: Style) -> Vec<String> {
    let illustrative = if verdict.illustrative_profile {
        ", ILLUSTRATIVE limits"
    } else {
        ""
    };
    let mut lines = vec![format!(
        "{} — {} (profile {} {}{illustrative}, log position {})",
        subject(&verdict.subject),
        style.outcome(verdict.outcome),
        verdict.profile.name,
        verdict.profile.version,
        verdict.at_seq
    )];
    for assumption in &verdict.assumptions {
        lines.push(format!("  assuming {assumption}"));
    }
    lines.extend(verdict.failing().map(|c| criterion_line(style, c)));
    let met: Vec<&Criterion> = verdict
        .criteria
        .iter()
        .filter(|c| c.outcome == CriterionOutcome::Met)
        .collect();
    // Information never decides (e.g. an entry's aggregate on a phase verdict under
    // `aggregate_gates = "entry"`); the entry verdict shows it as met or not met.
    let information: Vec<&Criterion> = verdict
        .criteria
        .iter()
        .filter(|c| c.outcome == CriterionOutcome::Information)
        .collect();
    if verbose {
        lines.extend(met.iter().map(|c| criterion_line(style, c)));
        lines.extend(information.iter().map(|c| criterion_line(style, c)));
    } else if !met.is_empty() || !information.is_empty() {
        let mut summary = format!(
            "  {} criteri{} met",
            met.len(),
            if met.len() == 1 { "on" } else { "a" }
        );
        if !information.is_empty() {
            summary.push_str(&format!(", {} for information", information.len()));
        }
        let shown = met.len() + information.len();
        summary.push_str(if shown == 1 {
            " (--verbose lists it)"
        } else {
            " (--verbose lists them)"
        });
        lines.push(summary);
    }
    lines
}

/// Prints [`render`]'s lines.
pub fn print(verdict: &Verdict, verbose: bool, style: Style) {
    for line in render(verdict, verbose, style) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use meterlab_governance::Quantity;
    use meterlab_governance::event::ProfileRef;
    use meterlab_governance::model::{DmcId, Release, SmsoId};

    use super::*;

    fn criterion(id: &str, outcome: CriterionOutcome) -> Criterion {
        Criterion {
            rule: 4,
            id: id.to_owned(),
            clause: String::new(),
            measured: Quantity::Count(1),
            limit: Quantity::Count(0),
            outcome,
            explanation: format!("{id} explained"),
        }
    }

    #[test]
    fn failing_criteria_come_first_and_met_ones_are_counted_unless_verbose() {
        let verdict = Verdict {
            subject: Subject::Entry(EntryKey {
                release: Release::Moc,
                smso: SmsoId::new("s"),
                dmc: DmcId::new("d"),
            }),
            outcome: Outcome::NotMet,
            profile: ProfileRef {
                name: "p".into(),
                version: "1".into(),
            },
            illustrative_profile: false,
            at_seq: 3,
            assumptions: vec![],
            criteria: vec![
                criterion("a.met", CriterionOutcome::Met),
                criterion("b.failing", CriterionOutcome::NotMet),
                criterion("c.met", CriterionOutcome::Met),
                criterion("d.pending", CriterionOutcome::Pending),
            ],
        };
        let style = Style { colour: false };
        let lines = render(&verdict, false, style);
        assert!(lines[0].contains("entry MOC/s/d — NOT MET"), "{lines:?}");
        assert!(lines[1].contains("b.failing"), "{lines:?}");
        assert!(lines[2].contains("d.pending"), "{lines:?}");
        assert_eq!(lines[3], "  2 criteria met (--verbose lists them)");
        assert_eq!(lines.len(), 4);
        let verbose = render(&verdict, true, style);
        assert_eq!(verbose.len(), 5);
        assert!(verbose[3].contains("a.met") && verbose[4].contains("c.met"));
        assert!(!verbose.iter().any(|l| l.contains('\x1b')));
    }

    #[test]
    fn information_is_counted_beside_the_met_criteria_and_listed_when_verbose() {
        let verdict = Verdict {
            subject: Subject::Entry(EntryKey {
                release: Release::Moc,
                smso: SmsoId::new("s"),
                dmc: DmcId::new("d"),
            }),
            outcome: Outcome::Exit,
            profile: ProfileRef {
                name: "p".into(),
                version: "1".into(),
            },
            illustrative_profile: false,
            at_seq: 3,
            assumptions: vec![],
            criteria: vec![
                criterion("a.met", CriterionOutcome::Met),
                criterion("5.aggregate.sev1", CriterionOutcome::Information),
            ],
        };
        let style = Style { colour: false };
        let lines = render(&verdict, false, style);
        assert_eq!(
            lines[1..],
            ["  1 criterion met, 1 for information (--verbose lists them)"]
        );
        let verbose = render(&verdict, true, style);
        assert_eq!(verbose.len(), 3);
        assert!(verbose[2].contains("5.aggregate.sev1") && verbose[2].contains("info"));
    }
}
