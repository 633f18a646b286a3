//! The tariff device's side of mode C as a state machine: decoded client messages in, bytes
//! and baud-rate changes out. The device's data comes from a [`MeterData`] the caller
//! implements (the emulator answers from its COSEM object model).

use crate::message::{ClientMessage, Command, CommandKind, Identification, MeterMessage, Mode};
use crate::{BaudRate, DataSet};

/// Error text of a read of an address the meter does not have.
pub const ERROR_UNKNOWN_ADDRESS: &str = "ERROR";
/// Error text of a read or write before the password was accepted.
pub const ERROR_NO_ACCESS: &str = "NO ACCESS";
/// Error text of a command the meter does not offer.
pub const ERROR_UNSUPPORTED: &str = "UNSUPPORTED";

/// What the meter says about itself on the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeterConfig {
    /// The address a sign-on must carry (an empty sign-on address reaches any meter).
    pub address: String,
    /// Three-letter manufacturer flag.
    pub manufacturer: String,
    /// Fastest rate offered in the identification.
    pub max_baud: BaudRate,
    /// Identification text.
    pub ident: String,
    /// The programming-mode password; `None`: programming mode is refused.
    pub password: Option<String>,
}

/// The device data behind the port.
pub trait MeterData {
    /// Every data set of the data readout, in order.
    fn readout(&mut self) -> Vec<DataSet>;
    /// The data set at `address`, when the meter has one.
    fn read(&mut self, address: &str) -> Option<DataSet>;
    /// Writes `data` (`address(value)`), or refuses with a short reason (at most 32 characters,
    /// no parentheses).
    fn write(&mut self, data: &DataSet) -> Result<(), String>;
}

/// What the meter does, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MeterAction {
    /// Send these bytes at the current rate.
    Send(Vec<u8>),
    /// Switch the line to this rate; bytes sent before it go out at the old rate.
    SetBaud(BaudRate),
    /// Something worth a log line (a data set the line cannot carry, a refused sign-on).
    Note(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Identified,
    Programming { authorised: bool },
}

/// One optical port's protocol state.
#[derive(Debug, Clone)]
pub struct Meter {
    config: MeterConfig,
    state: State,
    baud: BaudRate,
    last_sent: Option<Vec<u8>>,
}

impl Meter {
    pub fn new(config: MeterConfig) -> Self {
        Self {
            config,
            state: State::Idle,
            baud: BaudRate::INITIAL,
            last_sent: None,
        }
    }

    /// The rate the meter is listening and talking at.
    pub fn baud(&self) -> BaudRate {
        self.baud
    }

    /// Whether an exchange is under way (the inactivity time-out applies).
    pub fn is_busy(&self) -> bool {
        self.state != State::Idle
    }

    /// Ends any exchange (inactivity time-out, a garbled line): back to idle at 300 baud.
    pub fn reset(&mut self) -> Vec<MeterAction> {
        self.state = State::Idle;
        self.last_sent = None;
        self.switch(BaudRate::INITIAL).into_iter().collect()
    }

    fn switch(&mut self, baud: BaudRate) -> Option<MeterAction> {
        (self.baud != baud).then(|| {
            self.baud = baud;
            MeterAction::SetBaud(baud)
        })
    }

    fn send(&mut self, message: &MeterMessage, actions: &mut Vec<MeterAction>) {
        match message.encode() {
            Ok(bytes) => {
                self.last_sent = Some(bytes.clone());
                actions.push(MeterAction::Send(bytes));
            }
            Err(error) => {
                actions.push(MeterAction::Note(format!("answer not encodable: {error}")));
                if let Ok(bytes) = MeterMessage::error(ERROR_UNKNOWN_ADDRESS).encode() {
                    self.last_sent = Some(bytes.clone());
                    actions.push(MeterAction::Send(bytes));
                }
            }
        }
    }

    /// Reacts to one message from the client.
    pub fn handle(
        &mut self,
        message: ClientMessage,
        data: &mut impl MeterData,
    ) -> Vec<MeterAction> {
        let mut actions = Vec::new();
        match (message, self.state) {
            (ClientMessage::SignOn { address }, _) => {
                actions.extend(self.reset());
                if address.is_empty() || address == self.config.address {
                    self.state = State::Identified;
                    let identification = MeterMessage::Identification(Identification {
                        manufacturer: self.config.manufacturer.clone(),
                        baud: self.config.max_baud,
                        ident: self.config.ident.clone(),
                    });
                    self.send(&identification, &mut actions);
                } else {
                    actions.push(MeterAction::Note(format!(
                        "sign-on for address {address:?} is not for this meter"
                    )));
                }
            }
            (ClientMessage::OptionSelect(select), State::Identified) => {
                if select.baud > self.config.max_baud {
                    actions.push(MeterAction::Note(format!(
                        "option select asks for {} baud, more than the {} offered",
                        select.baud.bits_per_second(),
                        self.config.max_baud.bits_per_second()
                    )));
                    actions.extend(self.reset());
                    return actions;
                }
                match select.mode {
                    Mode::DataReadout => {
                        actions.extend(self.switch(select.baud));
                        let mut sets = Vec::new();
                        for set in data.readout() {
                            // One data set the line cannot carry must not cost the others.
                            match set.encode_into(&mut Vec::new()) {
                                Ok(()) => sets.push(set),
                                Err(error) => actions.push(MeterAction::Note(format!(
                                    "readout line left out: {error}"
                                ))),
                            }
                        }
                        self.send(&MeterMessage::Readout(sets), &mut actions);
                        self.state = State::Idle;
                        actions.extend(self.switch(BaudRate::INITIAL));
                    }
                    Mode::Programming if self.config.password.is_some() => {
                        actions.extend(self.switch(select.baud));
                        let prompt = Command {
                            kind: CommandKind::Password,
                            variant: b'0',
                            data: Some(DataSet::bare("")),
                        };
                        self.send(&MeterMessage::Command(prompt), &mut actions);
                        self.state = State::Programming { authorised: false };
                    }
                    Mode::Programming => {
                        self.send(&MeterMessage::Nak, &mut actions);
                        actions.extend(self.reset());
                    }
                }
            }
            (ClientMessage::Command(command), State::Programming { authorised }) => {
                self.command(command, authorised, data, &mut actions);
            }
            (ClientMessage::Nak, State::Identified | State::Programming { .. }) => {
                if let Some(bytes) = self.last_sent.clone() {
                    actions.push(MeterAction::Send(bytes));
                }
            }
            (message, state) => actions.push(MeterAction::Note(format!(
                "{message:?} ignored in state {state:?}"
            ))),
        }
        actions
    }

    fn command(
        &mut self,
        command: Command,
        authorised: bool,
        data: &mut impl MeterData,
        actions: &mut Vec<MeterAction>,
    ) {
        match (command.kind, command.variant, command.data) {
            (CommandKind::Break, _, _) => {
                // B0: the client signs off; no answer.
                actions.extend(self.reset());
            }
            (CommandKind::Password, b'1', Some(given)) => {
                if self.config.password.as_deref() == Some(given.value.as_str()) {
                    self.state = State::Programming { authorised: true };
                    self.send(&MeterMessage::Ack, actions);
                } else {
                    self.send(&MeterMessage::Nak, actions);
                }
            }
            (CommandKind::Read | CommandKind::Write, _, _) if !authorised => {
                self.send(&MeterMessage::error(ERROR_NO_ACCESS), actions);
            }
            (CommandKind::Read, b'1', Some(asked)) => match data.read(&asked.address) {
                Some(set) => self.send(&MeterMessage::Data(vec![set]), actions),
                None => self.send(&MeterMessage::error(ERROR_UNKNOWN_ADDRESS), actions),
            },
            (CommandKind::Write, b'1', Some(written)) => match data.write(&written) {
                Ok(()) => self.send(&MeterMessage::Ack, actions),
                Err(reason) => self.send(&MeterMessage::error(reason), actions),
            },
            _ => self.send(&MeterMessage::error(ERROR_UNSUPPORTED), actions),
        }
    }
}
