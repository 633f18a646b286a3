//! Errors of a DMC description: every problem names `file:line:column` and the field.

use std::fmt;

pub use meterlab_devices::Location;

/// One problem in a DMC description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DmcError {
    /// The file could not be read.
    #[error("cannot read DMC description {path}: {message}")]
    Read {
        /// The path that was read.
        path: String,
        /// The I/O error, as text (so errors stay comparable and cloneable).
        message: String,
    },
    /// The text is not TOML, a value has the wrong type, a key is unknown or missing.
    #[error("{location}: {message}")]
    Syntax {
        /// Where the TOML parser stopped.
        location: Location,
        /// The parser's message.
        message: String,
    },
    /// Well-formed TOML with a value that is not acceptable.
    #[error("{location}: {field}: {message}")]
    Invalid {
        /// The offending value.
        location: Location,
        /// The field, as a path: `esme.object[2].obis`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

impl DmcError {
    /// Where in the file the problem is, when it is about the file's content.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Syntax { location, .. } | Self::Invalid { location, .. } => Some(location),
            Self::Read { .. } => None,
        }
    }

    /// The field path of an `Invalid` error.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } => Some(field),
            Self::Read { .. } | Self::Syntax { .. } => None,
        }
    }
}

/// Every problem found in one DMC description (never empty), in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmcErrors(Vec<DmcError>);

impl DmcErrors {
    /// Wraps the problems found; callers only build this with at least one.
    pub(crate) fn new(errors: Vec<DmcError>) -> Self {
        Self(errors)
    }

    /// The problems, in file order.
    pub fn errors(&self) -> &[DmcError] {
        &self.0
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Always false: a `DmcErrors` holds at least one problem.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for DmcErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for DmcErrors {}

impl IntoIterator for DmcErrors {
    type Item = DmcError;
    type IntoIter = std::vec::IntoIter<DmcError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}
