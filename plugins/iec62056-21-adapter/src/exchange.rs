//! One service request as a mode C exchange: sign-on, identification, option select with the
//! baud-rate switch, then either the data readout or programming mode (P1 password, R1 reads,
//! W1 clock writes, B0), collecting the data sets the SRV needs.

use std::collections::{HashMap, VecDeque};

use meterlab_iec62056_21::message::{
    ClientMessage, Command, CommandKind, MeterMessage, Mode, OptionSelect,
};
use meterlab_iec62056_21::{BaudRate, DataSet, FrameError, clock};
use meterlab_plugin::pb::{LogLevel, Parity, ReconfigureLink, StopBits};

use crate::params::SessionParams;

/// What the exchange did with one event.
#[derive(Debug, Default)]
pub struct Effects {
    /// Line actions, in order.
    pub line: Vec<LineAction>,
    pub logs: Vec<(LogLevel, String)>,
    /// Set when the exchange is over.
    pub finished: Option<Result<HashMap<String, DataSet>, Failure>>,
}

/// An action on the line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineAction {
    Transmit(Vec<u8>),
    /// Switch the line: 7E1 at this rate.
    Switch(BaudRate),
}

impl LineAction {
    pub fn reconfigure(baud: BaudRate) -> ReconfigureLink {
        ReconfigureLink {
            baud: baud.bits_per_second(),
            parity: Parity::Even.into(),
            data_bits: 7,
            stop_bits: StopBits::One.into(),
        }
    }
}

/// Why an exchange ended without its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The meter did not answer in time.
    Timeout { waiting_for: &'static str },
    /// The meter answered and refused (NAK, an error message, a missing data set).
    Rejected { code: u32, reason: String },
    /// Frames kept arriving damaged.
    Garbled(String),
    /// The adapter cannot go on (a value it must send cannot be encoded).
    Fault(String),
}

/// One step of programming mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Read(String),
    Write { address: String, value: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Identification,
    Readout,
    PasswordPrompt,
    PasswordAck,
    Read,
    WriteAck,
}

impl Phase {
    fn waiting_for(self) -> &'static str {
        match self {
            Self::Identification => "the identification message",
            Self::Readout => "the data readout",
            Self::PasswordPrompt => "the password prompt (P0)",
            Self::PasswordAck => "the password acknowledgement",
            Self::Read => "the answer to R1",
            Self::WriteAck => "the acknowledgement of W1",
        }
    }
}

/// Damaged frames tolerated per exchange; each is answered with NAK (repeat).
const MAX_REPEATS: u8 = 2;

/// The exchange of one request.
#[derive(Debug)]
pub struct Exchange {
    programming: bool,
    phase: Phase,
    /// Programming-mode operations still to send (the first is outstanding in `Read`/`WriteAck`).
    ops: VecDeque<Op>,
    /// The data sets read so far, by address.
    values: HashMap<String, DataSet>,
    repeats: u8,
    /// Whether the line is at the switched rate (so ending must bring it back to 300).
    switched: bool,
}

fn transmit(message: &ClientMessage, effects: &mut Effects) -> Result<(), Failure> {
    let bytes = message
        .encode()
        .map_err(|error| Failure::Fault(format!("cannot encode {message:?}: {error}")))?;
    effects.line.push(LineAction::Transmit(bytes));
    Ok(())
}

impl Exchange {
    /// Starts an exchange: the line back at 300 baud 7E1, then the sign-on.
    pub fn start(params: &SessionParams, ops: Vec<Op>) -> (Self, Effects) {
        let mut effects = Effects::default();
        let exchange = Self {
            programming: params.programming(),
            phase: Phase::Identification,
            ops: ops.into(),
            values: HashMap::new(),
            repeats: 0,
            switched: false,
        };
        effects.line.push(LineAction::Switch(BaudRate::INITIAL));
        let sign_on = ClientMessage::SignOn {
            address: params.device_address.clone(),
        };
        if let Err(failure) = transmit(&sign_on, &mut effects) {
            effects.finished = Some(Err(failure));
        }
        (exchange, effects)
    }

    /// What the exchange is waiting for (for a time-out's report).
    pub fn waiting_for(&self) -> &'static str {
        self.phase.waiting_for()
    }

    /// Adds programming-mode operations after those queued (6.11 adds its clock writes).
    pub fn queue(&mut self, ops: impl IntoIterator<Item = Op>) {
        self.ops.extend(ops);
    }

    /// Ends the exchange: B0 in programming mode, and the line back at 300 baud.
    pub fn end(&mut self, effects: &mut Effects) {
        if self.switched {
            if self.programming
                && self.phase != Phase::Identification
                && self.phase != Phase::Readout
            {
                // Best effort: a meter that already left programming mode ignores it.
                let _ = transmit(&ClientMessage::Command(Command::break_off()), effects);
            }
            effects.line.push(LineAction::Switch(BaudRate::INITIAL));
            self.switched = false;
        }
    }

    /// The response time-out fired.
    pub fn timed_out(&mut self) -> Effects {
        let mut effects = Effects::default();
        let waiting_for = self.phase.waiting_for();
        self.end(&mut effects);
        effects.finished = Some(Err(Failure::Timeout { waiting_for }));
        effects
    }

    /// A frame the decoder refused.
    pub fn frame_error(&mut self, error: FrameError) -> Effects {
        let mut effects = Effects::default();
        if let FrameError::Garbage { .. } = error {
            effects
                .logs
                .push((LogLevel::Debug, format!("line noise: {error}")));
            return effects;
        }
        // After its readout the meter is back at 300 baud and idle: a damaged readout cannot
        // be asked for again (only programming-mode answers can).
        if self.phase != Phase::Readout && self.repeats < MAX_REPEATS {
            self.repeats += 1;
            effects.logs.push((
                LogLevel::Warn,
                format!(
                    "damaged frame while waiting for {}: {error}; asking for a repeat",
                    self.phase.waiting_for()
                ),
            ));
            if let Err(failure) = transmit(&ClientMessage::Nak, &mut effects) {
                effects.finished = Some(Err(failure));
            }
        } else {
            self.end(&mut effects);
            effects.finished = Some(Err(Failure::Garbled(format!(
                "damaged frames while waiting for {}: {error}",
                self.phase.waiting_for()
            ))));
        }
        effects
    }

    /// A message from the meter. `max_baud` caps the rate the session switches to.
    pub fn message(
        &mut self,
        message: MeterMessage,
        max_baud: BaudRate,
        password: Option<&str>,
    ) -> Effects {
        let mut effects = Effects::default();
        if let Err(failure) = self.advance(message, max_baud, password, &mut effects) {
            self.end(&mut effects);
            effects.finished = Some(Err(failure));
        }
        effects
    }

    fn advance(
        &mut self,
        message: MeterMessage,
        max_baud: BaudRate,
        password: Option<&str>,
        effects: &mut Effects,
    ) -> Result<(), Failure> {
        match (self.phase, message) {
            (Phase::Identification, MeterMessage::Identification(identification)) => {
                let baud = identification.baud.min(max_baud);
                effects.logs.push((
                    LogLevel::Debug,
                    format!(
                        "identified /{}{}{}: switching to {} baud",
                        identification.manufacturer,
                        char::from(identification.baud.character()),
                        identification.ident,
                        baud.bits_per_second()
                    ),
                ));
                let mode = if self.programming {
                    Mode::Programming
                } else {
                    Mode::DataReadout
                };
                let select = ClientMessage::OptionSelect(OptionSelect {
                    protocol: b'0',
                    baud,
                    mode,
                });
                transmit(&select, effects)?;
                // The switch comes right after the option select has left at 300 baud, before
                // the meter answers at the new rate (the host performs actions in order, and a
                // serial link waits for its transmitter to drain before changing the rate).
                effects.line.push(LineAction::Switch(baud));
                self.switched = true;
                self.phase = if self.programming {
                    Phase::PasswordPrompt
                } else {
                    Phase::Readout
                };
                Ok(())
            }
            (Phase::Readout, MeterMessage::Readout(sets)) => {
                for set in sets {
                    self.values.insert(set.address.clone(), set);
                }
                // The meter returns to 300 baud after its readout; so does the line.
                effects.line.push(LineAction::Switch(BaudRate::INITIAL));
                self.switched = false;
                effects.finished = Some(Ok(self.values.clone()));
                Ok(())
            }
            (Phase::PasswordPrompt, MeterMessage::Command(command))
                if command.kind == CommandKind::Password =>
            {
                let password = password.unwrap_or_default();
                transmit(
                    &ClientMessage::Command(Command::password(password)),
                    effects,
                )?;
                self.phase = Phase::PasswordAck;
                Ok(())
            }
            (Phase::PasswordPrompt, MeterMessage::Nak) => Err(Failure::Rejected {
                code: u32::from(meterlab_iec62056_21::NAK),
                reason: "the meter refused programming mode".to_owned(),
            }),
            (Phase::PasswordAck, MeterMessage::Ack) => self.next_op(effects),
            (Phase::PasswordAck, MeterMessage::Nak) => Err(Failure::Rejected {
                code: u32::from(meterlab_iec62056_21::NAK),
                reason: "the meter refused the password (P1 answered NAK)".to_owned(),
            }),
            (Phase::Read, reply @ MeterMessage::Data(_)) => {
                let Some(Op::Read(address)) = self.ops.pop_front() else {
                    return Err(Failure::Fault(
                        "a read answer with no read outstanding".to_owned(),
                    ));
                };
                if let Some(text) = reply.error_text() {
                    return Err(Failure::Rejected {
                        code: 0,
                        reason: format!("R1 {address}: the meter answered ({text})"),
                    });
                }
                let MeterMessage::Data(sets) = reply else {
                    return Err(Failure::Fault("unreachable reply shape".to_owned()));
                };
                match sets.into_iter().find(|set| set.address == address) {
                    Some(set) => {
                        self.values.insert(address, set);
                        self.next_op(effects)
                    }
                    None => Err(Failure::Rejected {
                        code: 0,
                        reason: format!("R1 {address}: the answer has no data set {address}"),
                    }),
                }
            }
            (Phase::WriteAck, MeterMessage::Ack) => {
                self.ops.pop_front();
                self.next_op(effects)
            }
            (Phase::WriteAck, reply) => {
                let address = match self.ops.front() {
                    Some(Op::Write { address, .. }) => address.clone(),
                    _ => String::new(),
                };
                let reason = reply
                    .error_text()
                    .map_or_else(|| format!("{reply:?}"), |text| format!("({text})"));
                Err(Failure::Rejected {
                    code: 0,
                    reason: format!("W1 {address}: the meter answered {reason}"),
                })
            }
            (phase, message) => {
                effects.logs.push((
                    LogLevel::Debug,
                    format!(
                        "{message:?} ignored while waiting for {}",
                        phase.waiting_for()
                    ),
                ));
                Ok(())
            }
        }
    }

    /// Sends the next programming-mode operation, or reports the values when none is left
    /// (the line stays in programming mode: the caller may queue more, then calls `resume`).
    fn next_op(&mut self, effects: &mut Effects) -> Result<(), Failure> {
        self.repeats = 0;
        match self.ops.front() {
            Some(Op::Read(address)) => {
                transmit(&ClientMessage::Command(Command::read(address)), effects)?;
                self.phase = Phase::Read;
            }
            Some(Op::Write { address, value }) => {
                transmit(
                    &ClientMessage::Command(Command::write(address, value)),
                    effects,
                )?;
                self.phase = Phase::WriteAck;
            }
            None => {
                effects.finished = Some(Ok(self.values.clone()));
            }
        }
        Ok(())
    }

    /// Continues in programming mode after the caller queued more operations.
    pub fn resume(&mut self) -> Effects {
        let mut effects = Effects::default();
        if let Err(failure) = self.next_op(&mut effects) {
            self.end(&mut effects);
            effects.finished = Some(Err(failure));
        }
        effects
    }

    /// Whether more operations can be sent on this exchange (programming mode, still open).
    pub fn can_continue(&self) -> bool {
        self.programming && self.switched
    }
}

/// The programming-mode writes that set the clock to `reference_ms`.
pub fn clock_writes(reference_ms: i64) -> Option<[Op; 2]> {
    Some([
        Op::Write {
            address: clock::DATE_ADDRESS.to_owned(),
            value: clock::date_value(reference_ms)?,
        },
        Op::Write {
            address: clock::TIME_ADDRESS.to_owned(),
            value: clock::time_value(reference_ms),
        },
    ])
}
