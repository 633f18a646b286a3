//! Errors of the devices file: every one names the file, line and column it is about.

use crate::location::Location;

/// Why a devices file could not be read, parsed or validated.
#[derive(Debug, thiserror::Error)]
pub enum DevicesError {
    /// The file could not be read at all.
    #[error("cannot read devices file {path}")]
    Read {
        /// The path that was read.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written.
    #[error("cannot write devices file {path}")]
    Write {
        /// The path that was written.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid TOML, or a value has the wrong type or an unknown key.
    #[error("{location}: {message}")]
    Syntax {
        /// Where the parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// The TOML is well formed but a value is not acceptable (duplicate name, bad key length, …).
    #[error("{location}: {message}")]
    Invalid {
        /// The offending value.
        location: Location,
        /// What is wrong and what is expected.
        message: String,
    },
    /// The in-memory devices could not be rendered as TOML (a bug, not a user error).
    #[error("cannot render devices file: {0}")]
    Render(String),
}

impl DevicesError {
    /// Where in the file the error is, when it is about the file's content.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Syntax { location, .. } | Self::Invalid { location, .. } => Some(location),
            Self::Read { .. } | Self::Write { .. } | Self::Render(_) => None,
        }
    }
}
