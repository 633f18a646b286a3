//! Terminal rendering of the demo's results and verdicts.

use super::plan::Summary;
use crate::cmd::run::report::{self, Collected};
use crate::verdicts::{self, Style};

/// The verdict of every case on every device, as `meterlab run` prints them.
pub fn results(collected: &Collected) {
    println!();
    report::print_text(collected);
}

/// Every phase and entry verdict, failing criteria first.
pub fn verdicts(summary: &Summary) {
    let style = Style::for_stdout();
    for verdict in summary.phase_verdicts.iter().chain(&summary.entry_verdicts) {
        println!();
        verdicts::print(verdict, false, style);
    }
}
