//! A JSON writer for the evidence document, byte for byte what `serde_json::to_string` of the
//! same fields would write (compact, keys in declaration order, serde_json's escaping), but
//! without serde's per-field machinery: keys are literals, hex and numbers need no escaping,
//! and text is scanned eight bytes at a time for the few bytes JSON escapes. The evidence is
//! written once per attempt and was the runner's largest cost per step.

use std::fmt;

/// The document being written. Only `&str` goes in, so it is UTF-8 by construction.
pub(super) struct JsonOut {
    text: String,
}

impl JsonOut {
    pub(super) fn with_capacity(capacity: usize) -> Self {
        Self {
            text: String::with_capacity(capacity),
        }
    }

    pub(super) fn into_string(self) -> String {
        self.text
    }

    /// JSON structure written as is: punctuation and keys (which need no escaping).
    pub(super) fn raw(&mut self, structure: &str) {
        self.text.push_str(structure);
    }

    /// `"…"`, escaped as serde_json escapes.
    pub(super) fn string(&mut self, value: &str) {
        self.text.push('"');
        escape_into(&mut self.text, value);
        self.text.push('"');
    }

    /// The string, or `null`.
    pub(super) fn optional_string(&mut self, value: Option<&str>) {
        match value {
            Some(value) => self.string(value),
            None => self.raw("null"),
        }
    }

    /// `"…"` holding `format!("{value:?}")`, escaped as it is formatted: no intermediate copy.
    pub(super) fn debug_string(&mut self, value: &impl fmt::Debug) {
        use fmt::Write as _;
        self.text.push('"');
        // Writing into a `String` cannot fail.
        let _ = write!(Escaping(&mut self.text), "{value:?}");
        self.text.push('"');
    }

    /// `"…"` holding the lowercase hex of `bytes` (hex digits need no escaping).
    pub(super) fn hex_string(&mut self, bytes: &[u8]) {
        const CHUNK: usize = 256;
        self.text.push('"');
        let mut digits = [0u8; 2 * CHUNK];
        for chunk in bytes.chunks(CHUNK) {
            let digits = &mut digits[..2 * chunk.len()];
            // The output is exactly twice the input, as `encode_to_slice` requires, and hex
            // digits are ASCII: neither branch can fail.
            if hex::encode_to_slice(chunk, digits).is_ok()
                && let Ok(text) = std::str::from_utf8(digits)
            {
                self.text.push_str(text);
            } else {
                self.text.push_str(&hex::encode(chunk));
            }
        }
        self.text.push('"');
    }

    pub(super) fn number(&mut self, value: u64) {
        let mut digits = [0u8; 20];
        let mut start = digits.len();
        let mut rest = value;
        loop {
            start -= 1;
            // `rest % 10` is a single decimal digit.
            digits[start] = b'0' + (rest % 10) as u8;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        // Decimal digits are ASCII.
        if let Ok(text) = std::str::from_utf8(&digits[start..]) {
            self.text.push_str(text);
        }
    }

    pub(super) fn boolean(&mut self, value: bool) {
        self.raw(if value { "true" } else { "false" });
    }
}

/// Escapes everything written through it into the document.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, piece: &str) -> fmt::Result {
        // `Debug` writes many tiny pieces (field names, `: `, `{ `): a short clean one is
        // copied without the word-at-a-time scan's set-up, which cost more than the piece.
        if piece.len() < 8 && !piece.bytes().any(escaped) {
            self.0.push_str(piece);
        } else {
            escape_into(self.0, piece);
        }
        Ok(())
    }
}

/// Appends `value` with `"`, `\` and the control characters below 0x20 escaped exactly as
/// serde_json escapes them (`\b \t \n \f \r`, otherwise `\u00xx` in lowercase hex); every other
/// character, non-ASCII included, is copied.
pub(super) fn escape_into(out: &mut String, value: &str) {
    let bytes = value.as_bytes();
    let mut copied = 0;
    let mut at = 0;
    while at < bytes.len() {
        // Skip eight clean bytes at a time; the byte loop finds which one of a word escapes.
        if let Some(word) = bytes.get(at..at + 8)
            && let Ok(word) = <[u8; 8]>::try_from(word)
            && !needs_escape(u64::from_le_bytes(word))
        {
            at += 8;
            continue;
        }
        let byte = bytes[at];
        let escape: &str = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            b'\t' => "\\t",
            b'\n' => "\\n",
            0x0c => "\\f",
            b'\r' => "\\r",
            0x00..=0x1f => {
                // A control character, ASCII: what comes before it ends on a char boundary.
                out.push_str(&value[copied..at]);
                out.push_str("\\u00");
                out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
                out.push(char::from(HEX_DIGITS[usize::from(byte & 0xf)]));
                at += 1;
                copied = at;
                continue;
            }
            _ => {
                at += 1;
                continue;
            }
        };
        out.push_str(&value[copied..at]);
        out.push_str(escape);
        at += 1;
        copied = at;
    }
    out.push_str(&value[copied..]);
}

const HEX_DIGITS: [u8; 16] = *b"0123456789abcdef";

/// Whether JSON escapes this byte (as serde_json does: `"`, `\\` and the controls below 0x20).
fn escaped(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Whether any of the eight bytes is `"`, `\` or below 0x20 (bytes of a UTF-8 sequence are
/// all ≥ 0x80, so they never match).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // A byte below 0x20: subtracting 0x20 borrows into its high bit while its own high bit
    // was clear. The same test on `word ^ c` finds a byte equal to `c`.
    let below_space = word.wrapping_sub(0x20 * ONES) & !word;
    let quote = word ^ (u64::from(b'"') * ONES);
    let backslash = word ^ (u64::from(b'\\') * ONES);
    let is_quote = quote.wrapping_sub(ONES) & !quote;
    let is_backslash = backslash.wrapping_sub(ONES) & !backslash;
    (below_space | is_quote | is_backslash) & HIGHS != 0
}
