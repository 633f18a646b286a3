//! The fault flags shared by `meterlab emulate` (faults from the start) and `meterlab
//! emulate-ctl faults` (faults changed at run time): one set of names, one set of checks (the
//! control endpoint's [`Faults::overlay`]).

use meterlab_emulator::serve::control::Faults;

/// Fault flags; each one given sets that fault, the others stay as they are.
#[derive(Debug, clap::Args)]
pub struct FaultArgs {
    /// Fraction of frames dropped (0.0-1.0).
    #[arg(long)]
    pub drop: Option<f64>,
    /// Fraction of frames with one bit flipped (0.0-1.0): anywhere in an HDLC frame (its FCS
    /// catches it); on TCP only in the wrapper's wPort addressing, so the frame is discarded.
    #[arg(long)]
    pub corrupt: Option<f64>,
    /// Extra milliseconds before each reply.
    #[arg(long)]
    pub latency_ms: Option<u32>,
    /// Answer nothing (`--silent false` to undo).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub silent: Option<bool>,
    /// Reject association requests (`--refuse-associations false` to undo).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub refuse_associations: Option<bool>,
    /// Reboot every this many seconds (0: never).
    #[arg(long)]
    pub reboot_every_s: Option<u32>,
    /// Run the serial line at this baud rate (0: the configured one).
    #[arg(long)]
    pub serial_baud: Option<u32>,
}

impl FaultArgs {
    /// The fault fields these flags give, unchecked.
    pub fn faults(&self) -> Faults {
        Faults {
            drop: self.drop,
            corrupt: self.corrupt,
            latency_ms: self.latency_ms,
            silent: self.silent,
            refuse_associations: self.refuse_associations,
            reboot_every_s: self.reboot_every_s,
            serial_baud: self.serial_baud,
        }
    }
}
