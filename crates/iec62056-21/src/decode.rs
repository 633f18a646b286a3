//! Incremental decoders, one per direction: bytes in as they arrive, whole messages out.
//!
//! A frame with a bad BCC, a malformed field or an eighth bit set is consumed and reported as
//! one [`FrameError`]; bytes outside any frame are skipped and reported once per run. The
//! decoder then carries on with the next frame, so nothing after a bad frame is lost.

use crate::dataset::parse_data_sets;
use crate::message::{
    ClientMessage, Command, CommandKind, Identification, MAX_DEVICE_ADDRESS_LEN, MAX_IDENT_LEN,
    MeterMessage, Mode, OptionSelect,
};
use crate::{ACK, BaudRate, CR, ETX, FrameError, LF, NAK, SOH, STX, bcc};

/// Longest block (STX … ETX BCC or SOH … ETX BCC) accepted; a readout of a few dozen data
/// lines fits many times over.
pub const MAX_BLOCK_LEN: usize = 8192;
/// Longest `/…CR LF` line accepted (sign-on or identification).
pub const MAX_LINE_LEN: usize = 64;

/// Decodes what a meter sends (used by the client side).
#[derive(Debug, Default, Clone)]
pub struct MeterDecoder {
    buffer: Vec<u8>,
}

/// Decodes what a client sends (used by the meter side).
#[derive(Debug, Default, Clone)]
pub struct ClientDecoder {
    buffer: Vec<u8>,
}

impl MeterDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// Drops everything buffered (e.g. after a baud-rate change on a line that garbled it).
    pub fn clear(&mut self) {
        self.buffer.clear();
    }

    /// Bytes buffered but not yet decoded.
    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete message, an error for a frame that was skipped, or `None` until more
    /// bytes arrive.
    pub fn next_message(&mut self) -> Option<Result<MeterMessage, FrameError>> {
        let frame = next_frame(&mut self.buffer, false)?;
        Some(frame.and_then(|frame| match frame {
            Frame::Line(line) => parse_identification(&line).map(MeterMessage::Identification),
            Frame::Block(content) => parse_block(&content),
            Frame::Command(body) => parse_command(&body).map(MeterMessage::Command),
            Frame::Ack(_) => Ok(MeterMessage::Ack),
            Frame::Nak => Ok(MeterMessage::Nak),
        }))
    }
}

impl ClientDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    pub fn clear(&mut self) {
        self.buffer.clear();
    }

    pub fn pending(&self) -> usize {
        self.buffer.len()
    }

    /// The next complete message, an error for a frame that was skipped, or `None` until more
    /// bytes arrive.
    pub fn next_message(&mut self) -> Option<Result<ClientMessage, FrameError>> {
        let frame = next_frame(&mut self.buffer, true)?;
        Some(frame.and_then(|frame| match frame {
            Frame::Line(line) => parse_sign_on(&line),
            Frame::Block(_) => Err(FrameError::malformed(
                "client message",
                "a client does not send STX blocks",
            )),
            Frame::Command(body) => parse_command(&body).map(ClientMessage::Command),
            Frame::Ack(select) => parse_option_select(&select).map(ClientMessage::OptionSelect),
            Frame::Nak => Ok(ClientMessage::Nak),
        }))
    }
}

enum Frame {
    /// `/` up to and including CR LF.
    Line(Vec<u8>),
    /// Between STX and ETX, exclusive (BCC checked).
    Block(Vec<u8>),
    /// Between SOH and ETX, exclusive (BCC checked).
    Command(Vec<u8>),
    /// The option select after its ACK (client side), or nothing (meter side).
    Ack(Vec<u8>),
    Nak,
}

fn is_start(byte: u8) -> bool {
    matches!(byte, b'/' | SOH | STX | ACK | NAK)
}

fn take(buffer: &mut Vec<u8>, count: usize) -> Vec<u8> {
    buffer.drain(..count).collect()
}

/// Splits the next frame off `buffer`. `ack_opens_option_select`: the meter side reads ACK as
/// the start of `ACK V Z Y CR LF`; the client side reads it as a lone acknowledgement.
fn next_frame(
    buffer: &mut Vec<u8>,
    ack_opens_option_select: bool,
) -> Option<Result<Frame, FrameError>> {
    let first = *buffer.first()?;
    match first {
        b'/' => {
            let Some(lf) = buffer.iter().position(|byte| *byte == LF) else {
                if buffer.len() > MAX_LINE_LEN {
                    buffer.clear();
                    return Some(Err(FrameError::TooLong {
                        limit: MAX_LINE_LEN,
                    }));
                }
                // A start character inside an unterminated line: the line was cut short.
                return interrupted(buffer, 1);
            };
            if let Some(cut) = buffer[1..lf].iter().position(|byte| is_start(*byte)) {
                take(buffer, cut + 1);
                return Some(Err(FrameError::malformed(
                    "line",
                    "cut short by a new frame",
                )));
            }
            let line = take(buffer, lf + 1);
            Some(check_seven_bit(&line).map(|()| Frame::Line(line)))
        }
        SOH | STX => {
            let Some(etx) = buffer.iter().position(|byte| *byte == ETX) else {
                if buffer.len() > MAX_BLOCK_LEN {
                    buffer.clear();
                    return Some(Err(FrameError::TooLong {
                        limit: MAX_BLOCK_LEN,
                    }));
                }
                return interrupted(buffer, 1);
            };
            // A command carries one STX after its type; a new SOH, or an STX in a block, means
            // the frame before was cut short.
            let cut = buffer[1..etx]
                .iter()
                .position(|byte| *byte == SOH || *byte == b'/' || (first == STX && *byte == STX));
            if let Some(cut) = cut {
                take(buffer, cut + 1);
                return Some(Err(FrameError::malformed(
                    "block",
                    "cut short by a new frame",
                )));
            }
            if buffer.len() < etx + 2 {
                return None;
            }
            let frame = take(buffer, etx + 2);
            let received = frame[etx + 1];
            let computed = bcc(&frame[1..=etx]);
            if let Err(error) = check_seven_bit(&frame) {
                return Some(Err(error));
            }
            if received != computed {
                return Some(Err(FrameError::BadBcc { received, computed }));
            }
            let content = frame[1..etx].to_vec();
            Some(Ok(if first == STX {
                Frame::Block(content)
            } else {
                Frame::Command(content)
            }))
        }
        ACK if ack_opens_option_select => {
            const LEN: usize = 6;
            let available = buffer.len().min(LEN);
            let shape_ok =
                buffer[1..available]
                    .iter()
                    .enumerate()
                    .all(|(index, byte)| match index {
                        0..=2 => byte.is_ascii_digit(),
                        3 => *byte == CR,
                        _ => *byte == LF,
                    });
            if !shape_ok {
                let skip = buffer[1..]
                    .iter()
                    .position(|byte| is_start(*byte))
                    .map_or(buffer.len(), |at| at + 1);
                take(buffer, skip);
                return Some(Err(FrameError::malformed(
                    "option select",
                    "expected ACK, three digits, CR LF",
                )));
            }
            if available < LEN {
                return None;
            }
            let frame = take(buffer, LEN);
            Some(Ok(Frame::Ack(frame[1..4].to_vec())))
        }
        ACK => {
            take(buffer, 1);
            Some(Ok(Frame::Ack(Vec::new())))
        }
        NAK => {
            take(buffer, 1);
            Some(Ok(Frame::Nak))
        }
        _ => {
            let count = buffer
                .iter()
                .position(|byte| is_start(*byte))
                .unwrap_or(buffer.len());
            take(buffer, count);
            if first > 0x7f {
                Some(Err(FrameError::EighthBitSet { byte: first }))
            } else {
                Some(Err(FrameError::Garbage { count, first }))
            }
        }
    }
}

/// An unterminated frame: when a later start character shows it was cut short, drops it up to
/// that character; otherwise waits for more bytes.
fn interrupted(buffer: &mut Vec<u8>, from: usize) -> Option<Result<Frame, FrameError>> {
    let first = buffer[0];
    let cut = buffer[from..].iter().position(|byte| match first {
        b'/' => is_start(*byte),
        SOH => *byte == SOH || *byte == b'/',
        _ => *byte == SOH || *byte == STX || *byte == b'/',
    })?;
    take(buffer, from + cut);
    Some(Err(FrameError::malformed(
        "frame",
        "cut short by a new frame",
    )))
}

fn check_seven_bit(frame: &[u8]) -> Result<(), FrameError> {
    match frame.iter().find(|byte| **byte > 0x7f) {
        Some(byte) => Err(FrameError::EighthBitSet { byte: *byte }),
        None => Ok(()),
    }
}

fn printable(bytes: &[u8]) -> bool {
    bytes.iter().all(|byte| (0x20..0x7f).contains(byte))
}

fn text(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| char::from(*byte)).collect()
}

/// `/XXXZ<ident>CR LF`.
fn parse_identification(line: &[u8]) -> Result<Identification, FrameError> {
    const WHAT: &str = "identification";
    let Some(body) = line
        .strip_prefix(b"/")
        .and_then(|rest| rest.strip_suffix(b"\r\n"))
    else {
        return Err(FrameError::malformed(WHAT, "must end with CR LF"));
    };
    if body.len() < 4 {
        return Err(FrameError::malformed(
            WHAT,
            "shorter than a manufacturer flag and a baud character",
        ));
    }
    let (manufacturer, rest) = body.split_at(3);
    if !manufacturer.iter().all(u8::is_ascii_alphabetic) {
        return Err(FrameError::malformed(
            WHAT,
            format!(
                "manufacturer flag {:?} is not three letters",
                text(manufacturer)
            ),
        ));
    }
    let baud = BaudRate::from_character(rest[0]).ok_or_else(|| {
        FrameError::malformed(
            WHAT,
            format!(
                "baud character {:?} is not a mode C rate (0-6)",
                char::from(rest[0])
            ),
        )
    })?;
    let ident = &rest[1..];
    if ident.len() > MAX_IDENT_LEN || !printable(ident) || ident.contains(&b'!') {
        return Err(FrameError::malformed(
            WHAT,
            format!(
                "identification {:?} is not 0-{MAX_IDENT_LEN} printable characters",
                text(ident)
            ),
        ));
    }
    Ok(Identification {
        manufacturer: text(manufacturer),
        baud,
        ident: text(ident),
    })
}

/// `/?<address>!CR LF`.
fn parse_sign_on(line: &[u8]) -> Result<ClientMessage, FrameError> {
    const WHAT: &str = "sign-on";
    let Some(address) = line
        .strip_prefix(b"/?")
        .and_then(|rest| rest.strip_suffix(b"!\r\n"))
    else {
        return Err(FrameError::malformed(WHAT, "expected /?<address>!CR LF"));
    };
    if address.len() > MAX_DEVICE_ADDRESS_LEN
        || !address
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || *byte == b' ')
    {
        return Err(FrameError::malformed(
            WHAT,
            format!(
                "device address {:?} is not 0-{MAX_DEVICE_ADDRESS_LEN} letters, digits or spaces",
                text(address)
            ),
        ));
    }
    Ok(ClientMessage::SignOn {
        address: text(address),
    })
}

/// The three characters `V Z Y` after ACK (their shape is already checked).
fn parse_option_select(select: &[u8]) -> Result<OptionSelect, FrameError> {
    const WHAT: &str = "option select";
    let [protocol, baud, mode] = select else {
        return Err(FrameError::malformed(WHAT, "expected three characters"));
    };
    let baud = BaudRate::from_character(*baud).ok_or_else(|| {
        FrameError::malformed(
            WHAT,
            format!(
                "baud character {:?} is not a mode C rate",
                char::from(*baud)
            ),
        )
    })?;
    let mode = Mode::from_character(*mode).ok_or_else(|| {
        FrameError::malformed(
            WHAT,
            format!(
                "mode {:?} is neither 0 (readout) nor 1 (programming)",
                char::from(*mode)
            ),
        )
    })?;
    Ok(OptionSelect {
        protocol: *protocol,
        baud,
        mode,
    })
}

/// `C D [STX data]` between SOH and ETX.
fn parse_command(body: &[u8]) -> Result<Command, FrameError> {
    const WHAT: &str = "command";
    let [kind, variant, rest @ ..] = body else {
        return Err(FrameError::malformed(
            WHAT,
            "shorter than a command letter and type",
        ));
    };
    let kind = CommandKind::from_character(*kind).ok_or_else(|| {
        FrameError::malformed(
            WHAT,
            format!("unknown command letter {:?}", char::from(*kind)),
        )
    })?;
    if !variant.is_ascii_digit() {
        return Err(FrameError::malformed(
            WHAT,
            format!("command type {:?} is not a digit", char::from(*variant)),
        ));
    }
    let data = match rest {
        [] => None,
        [STX, data @ ..] => {
            let mut sets = parse_data_sets(data)?;
            if sets.len() != 1 {
                return Err(FrameError::malformed(
                    WHAT,
                    format!("carries {} data sets, expected one", sets.len()),
                ));
            }
            sets.pop()
        }
        _ => return Err(FrameError::malformed(WHAT, "data must follow STX")),
    };
    Ok(Command {
        kind,
        variant: *variant,
        data,
    })
}

/// STX content: a readout when it ends with `! CR LF`, a data message otherwise.
fn parse_block(content: &[u8]) -> Result<MeterMessage, FrameError> {
    match content.strip_suffix(b"!\r\n") {
        Some(lines) => {
            if !lines.is_empty() && !lines.ends_with(b"\r\n") {
                return Err(FrameError::malformed(
                    "data block",
                    "the last data line must end with CR LF before '!'",
                ));
            }
            parse_data_sets(lines).map(MeterMessage::Readout)
        }
        None => parse_data_sets(content).map(MeterMessage::Data),
    }
}
