//! TOML errors as a user reads them: the field they are about, what was expected in words (not a
//! Rust type name), once. Shared by the devices file and the emulator's scenario file.

use std::ops::Range;

/// Rewrites the TOML parser's `message` about the value at `span` of `text`: prefixed with the
/// key the value belongs to when the message does not name it already, and with Rust type names
/// (`u32`, `i64`, …) replaced by the range of whole numbers they accept.
pub fn describe(text: &str, span: Option<Range<usize>>, message: &str) -> String {
    let message = plain_expectation(message.trim());
    let names_a_field =
        message.contains("field `") || message.contains("key `") || message.contains("duplicate");
    match span.and_then(|span| key_of_value(text, span.start)) {
        Some(key) if !names_a_field && !message.starts_with(&format!("{key}:")) => {
            format!("{key}: {message}")
        }
        _ => message,
    }
}

/// The key of a `key = value` pair whose value starts at byte `start`, in a table or an inline
/// table: the last (dotted) key before the `=` that precedes the value.
fn key_of_value(text: &str, start: usize) -> Option<String> {
    let before = text.get(..start)?.trim_end();
    let before = before.strip_suffix('=')?.trim_end();
    let key_start = before
        .char_indices()
        .rev()
        .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.'))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let key = &before[key_start..];
    (!key.is_empty()).then(|| key.to_owned())
}

fn plain_expectation(message: &str) -> String {
    const WHOLE: [(&str, &str); 10] = [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a whole number of 0 or more"),
        ("usize", "a whole number of 0 or more"),
        ("i8", "a whole number from -128 to 127"),
        ("i16", "a whole number from -32768 to 32767"),
        ("i32", "a whole number from -2147483648 to 2147483647"),
        ("i64", "a whole number"),
        ("bool", "true or false"),
    ];
    for (rust, words) in WHOLE {
        if let Some(head) = message.strip_suffix(&format!("expected {rust}")) {
            return format!("{head}expected {words}");
        }
    }
    message.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_type_error_names_its_key_and_the_range_in_words() {
        let text = "[[hub]]\nbaud = \"fast\"\n";
        let start = text.find("\"fast\"").unwrap_or_default();
        assert_eq!(
            describe(
                text,
                Some(start..start + 6),
                "invalid type: string \"fast\", expected u32\n"
            ),
            "baud: invalid type: string \"fast\", expected a whole number from 0 to 4294967295"
        );
    }

    #[test]
    fn keys_inside_inline_tables_are_found() {
        let text = "esme = { mpxn = \"1\", consumption = -5 }";
        let start = text.find("-5").unwrap_or_default();
        assert_eq!(
            describe(text, Some(start..start + 2), "invalid value"),
            "consumption: invalid value"
        );
    }

    #[test]
    fn multi_byte_characters_before_a_value_are_stepped_over() {
        let text = "\"ꦎ\"=1";
        let start = text.find('1').unwrap_or_default();
        assert_eq!(describe(text, Some(start..start + 1), "bad"), "bad");
    }

    #[test]
    fn messages_that_name_their_field_are_left_alone() {
        let text = "colour = 1";
        assert_eq!(
            describe(text, Some(0..6), "unknown field `colour`, expected `seed`"),
            "unknown field `colour`, expected `seed`"
        );
    }
}
