//! Positions in a text file, for errors that name `file:line:column`.

use std::fmt;
use std::ops::Range;

/// A 1-based line and column in a named source (a file path, or a label such as `<stdin>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file path or label the text came from.
    pub file: String,
    /// 1-based line number.
    pub line: usize,
    /// 1-based column, counted in characters.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text`; offsets past the end point just after the last
    /// character, and offsets inside a multi-byte character point at that character.
    pub fn at_offset(file: &str, text: &str, offset: usize) -> Self {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |newline| newline + 1);
        let column = before[line_start..].chars().count() + 1;
        Self {
            file: file.to_owned(),
            line,
            column,
        }
    }

    /// The location of the start of `span`, or of the start of the file when there is no span.
    pub fn at_span(file: &str, text: &str, span: Option<Range<usize>>) -> Self {
        Self::at_offset(file, text, span.map_or(0, |span| span.start))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_character_is_line_one_column_one() {
        let location = Location::at_offset("a.toml", "abc\ndef", 0);
        assert_eq!((location.line, location.column), (1, 1));
    }

    #[test]
    fn offsets_after_a_newline_start_the_next_line() {
        let location = Location::at_offset("a.toml", "abc\ndef\nxyz", 9);
        assert_eq!((location.line, location.column), (3, 2));
        assert_eq!(location.to_string(), "a.toml:3:2");
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let text = "name = \"é\" x";
        let offset = text.find('x').unwrap_or_default();
        assert_eq!(Location::at_offset("f", text, offset).column, 12);
        // An offset inside the two-byte character clamps to that character.
        assert_eq!(Location::at_offset("f", text, 9).column, 9);
    }

    #[test]
    fn offsets_past_the_end_point_after_the_last_character() {
        let location = Location::at_offset("f", "ab\n", 99);
        assert_eq!((location.line, location.column), (2, 1));
    }
}
