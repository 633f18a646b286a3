//! The mode C messages of each direction and their encodings.

use crate::{ACK, BaudRate, CR, DataSet, ETX, EncodeError, LF, NAK, SOH, STX, bcc};

/// Longest device address a sign-on may carry.
pub const MAX_DEVICE_ADDRESS_LEN: usize = 32;
/// Longest identification (after the baud character) the standard allows.
pub const MAX_IDENT_LEN: usize = 16;

/// What the client asks for in the option select message (`Y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `0`: the meter sends its data readout and returns to 300 baud.
    DataReadout,
    /// `1`: programming mode (password, single reads and writes).
    Programming,
}

impl Mode {
    pub fn character(self) -> u8 {
        match self {
            Self::DataReadout => b'0',
            Self::Programming => b'1',
        }
    }

    pub fn from_character(character: u8) -> Option<Self> {
        match character {
            b'0' => Some(Self::DataReadout),
            b'1' => Some(Self::Programming),
            _ => None,
        }
    }
}

/// `/XXXZ<ident>CR LF`: the meter's answer to a sign-on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identification {
    /// The three-letter manufacturer flag (`XXX`).
    pub manufacturer: String,
    /// The fastest rate the meter offers (`Z`).
    pub baud: BaudRate,
    /// The identification text.
    pub ident: String,
}

/// `ACK V Z Y CR LF`: the client's choice after the identification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionSelect {
    /// Protocol control character `V` (`0`: normal protocol).
    pub protocol: u8,
    /// The rate both ends switch to (`Z`).
    pub baud: BaudRate,
    /// Readout or programming (`Y`).
    pub mode: Mode,
}

/// A programming-mode command letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `P`: password (the meter's `P0` prompt, the client's `P1` answer).
    Password,
    /// `W`: write.
    Write,
    /// `R`: read.
    Read,
    /// `B`: break, ends the exchange.
    Break,
}

impl CommandKind {
    pub fn character(self) -> u8 {
        match self {
            Self::Password => b'P',
            Self::Write => b'W',
            Self::Read => b'R',
            Self::Break => b'B',
        }
    }

    pub fn from_character(character: u8) -> Option<Self> {
        match character {
            b'P' => Some(Self::Password),
            b'W' => Some(Self::Write),
            b'R' => Some(Self::Read),
            b'B' => Some(Self::Break),
            _ => None,
        }
    }
}

/// `SOH C D STX data ETX BCC` (or `SOH C D ETX BCC` without data, as the break `B0`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Command {
    pub kind: CommandKind,
    /// The command type digit `D` (`1` for P1/R1/W1, `0` for P0/B0), as an ASCII digit.
    pub variant: u8,
    pub data: Option<DataSet>,
}

impl Command {
    /// `P1 (password)`.
    pub fn password(password: &str) -> Self {
        Self {
            kind: CommandKind::Password,
            variant: b'1',
            data: Some(DataSet::bare(password)),
        }
    }

    /// `R1 address()`.
    pub fn read(address: &str) -> Self {
        Self {
            kind: CommandKind::Read,
            variant: b'1',
            data: Some(DataSet::new(address, "", None)),
        }
    }

    /// `W1 address(value)`.
    pub fn write(address: &str, value: &str) -> Self {
        Self {
            kind: CommandKind::Write,
            variant: b'1',
            data: Some(DataSet::new(address, value, None)),
        }
    }

    /// `B0`: complete sign-off.
    pub fn break_off() -> Self {
        Self {
            kind: CommandKind::Break,
            variant: b'0',
            data: None,
        }
    }

    /// Encodes the command with its BCC.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        if !self.variant.is_ascii_digit() {
            return Err(EncodeError::Invalid {
                field: "command type",
                value: char::from(self.variant).to_string(),
                reason: "must be a digit",
            });
        }
        let mut out = vec![SOH, self.kind.character(), self.variant];
        if let Some(data) = &self.data {
            out.push(STX);
            data.encode_into(&mut out)?;
        }
        out.push(ETX);
        let check = bcc(&out[1..]);
        out.push(check);
        Ok(out)
    }
}

/// What a client (the head-end side, the adapter) sends to the meter.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ClientMessage {
    /// `/?<address>!CR LF`; an empty address calls any meter on the port.
    SignOn {
        address: String,
    },
    OptionSelect(OptionSelect),
    Command(Command),
    /// Asks the meter to repeat its last message.
    Nak,
}

impl ClientMessage {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::SignOn { address } => {
                if address.len() > MAX_DEVICE_ADDRESS_LEN {
                    return Err(EncodeError::TooLong {
                        field: "device address",
                        value: address.clone(),
                        limit: MAX_DEVICE_ADDRESS_LEN,
                    });
                }
                if let Some(character) = address
                    .chars()
                    .find(|c| !(c.is_ascii_alphanumeric() || *c == ' '))
                {
                    return Err(EncodeError::ReservedCharacter {
                        field: "device address",
                        value: address.clone(),
                        character,
                    });
                }
                let mut out = b"/?".to_vec();
                out.extend_from_slice(address.as_bytes());
                out.extend_from_slice(b"!\r\n");
                Ok(out)
            }
            Self::OptionSelect(select) => {
                if !select.protocol.is_ascii_digit() {
                    return Err(EncodeError::Invalid {
                        field: "protocol control character",
                        value: char::from(select.protocol).to_string(),
                        reason: "must be a digit",
                    });
                }
                Ok(vec![
                    ACK,
                    select.protocol,
                    select.baud.character(),
                    select.mode.character(),
                    CR,
                    LF,
                ])
            }
            Self::Command(command) => command.encode(),
            Self::Nak => Ok(vec![NAK]),
        }
    }
}

/// What the meter sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MeterMessage {
    Identification(Identification),
    /// The data readout block `STX <data lines> ! CR LF ETX BCC`, one data set per line.
    Readout(Vec<DataSet>),
    /// A programming-mode data message `STX <data sets> ETX BCC`: the answer to a read, or an
    /// error message (`(ERROR)`: one data set with an empty address).
    Data(Vec<DataSet>),
    /// A command from the meter: the password prompt `P0`, or a break `B0`.
    Command(Command),
    Ack,
    Nak,
}

impl MeterMessage {
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        match self {
            Self::Identification(identification) => encode_identification(identification),
            Self::Readout(sets) => {
                let mut out = vec![STX];
                for set in sets {
                    set.encode_into(&mut out)?;
                    out.extend_from_slice(&[CR, LF]);
                }
                out.extend_from_slice(&[b'!', CR, LF, ETX]);
                let check = bcc(&out[1..]);
                out.push(check);
                Ok(out)
            }
            Self::Data(sets) => {
                let mut out = vec![STX];
                for set in sets {
                    set.encode_into(&mut out)?;
                }
                out.push(ETX);
                let check = bcc(&out[1..]);
                out.push(check);
                Ok(out)
            }
            Self::Command(command) => command.encode(),
            Self::Ack => Ok(vec![ACK]),
            Self::Nak => Ok(vec![NAK]),
        }
    }

    /// An error message answering a programming-mode command: `STX (text) ETX BCC`.
    pub fn error(text: impl Into<String>) -> Self {
        Self::Data(vec![DataSet::bare(text)])
    }

    /// The error text when this is an error message (one data set without an address).
    pub fn error_text(&self) -> Option<&str> {
        match self {
            Self::Data(sets) => match sets.as_slice() {
                [only] if only.address.is_empty() => Some(&only.value),
                _ => None,
            },
            _ => None,
        }
    }
}

fn encode_identification(identification: &Identification) -> Result<Vec<u8>, EncodeError> {
    let manufacturer = &identification.manufacturer;
    if manufacturer.len() != 3 || !manufacturer.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(EncodeError::Invalid {
            field: "manufacturer",
            value: manufacturer.clone(),
            reason: "must be three letters",
        });
    }
    let ident = &identification.ident;
    if ident.len() > MAX_IDENT_LEN {
        return Err(EncodeError::TooLong {
            field: "identification",
            value: ident.clone(),
            limit: MAX_IDENT_LEN,
        });
    }
    if let Some(character) = ident
        .chars()
        .find(|c| !c.is_ascii() || c.is_ascii_control() || *c == '/' || *c == '!')
    {
        return Err(EncodeError::ReservedCharacter {
            field: "identification",
            value: ident.clone(),
            character,
        });
    }
    let mut out = vec![b'/'];
    out.extend_from_slice(manufacturer.as_bytes());
    out.push(identification.baud.character());
    out.extend_from_slice(ident.as_bytes());
    out.extend_from_slice(&[CR, LF]);
    Ok(out)
}
