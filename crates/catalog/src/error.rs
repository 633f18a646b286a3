//! Errors of the catalogue: load problems (every one with `file:line:column`), request-building
//! errors, and DUIS import errors.

use std::fmt;

use meterlab_devices::Location;

/// One problem found while loading case files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Where it is (for an unreadable file: line 1, column 1 of that file).
    pub location: Location,
    /// What is wrong and what is expected.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem of a load, in file then position order. A load with any problem yields no
/// catalogue at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct CatalogErrors {
    problems: Vec<Problem>,
}

impl CatalogErrors {
    pub(crate) fn new(mut problems: Vec<Problem>) -> Self {
        problems.sort_by(|a, b| {
            (&a.location.file, a.location.line, a.location.column).cmp(&(
                &b.location.file,
                b.location.line,
                b.location.column,
            ))
        });
        Self { problems }
    }

    /// The problems, sorted by file, line and column.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// How many problems.
    pub fn len(&self) -> usize {
        self.problems.len()
    }

    /// Never true for an error returned by a load; here for completeness.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for CatalogErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, problem) in self.problems.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

/// Why a step's request could not be built for a device (a bench configuration problem, not a
/// device defect).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{request_id}: {cause}")]
pub struct StepError {
    /// The request id of the step (`"<case id>/<step number>"`).
    pub request_id: String,
    /// What is missing or wrong.
    #[source]
    pub cause: StepCause,
}

/// What is missing or wrong in a step's request for this device (the cause of a [`StepError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepCause {
    /// The step names no SRV.
    #[error("step has no SRV")]
    NoSrv,
    /// A parameter does not give the value the request needs.
    #[error(transparent)]
    Param(#[from] ParamError),
    /// New keys are wrapped under the device's master key, which the devices file lacks.
    #[error(
        "device {device} has no client with a master key in the devices file, so new keys cannot be wrapped"
    )]
    NoMasterKey { device: String },
    /// A new key's value did not resolve.
    #[error("key {kind}: {why}")]
    KeyUnresolved { kind: String, why: ResolveError },
    /// A new key is not an AES-128 key.
    #[error("key {kind} is not 16 bytes: {value}")]
    KeyNotSixteenBytes { kind: String, value: String },
    /// RFC 3394 key wrapping refused the key.
    #[error("key {kind} could not be wrapped: {why}")]
    KeyWrap { kind: String, why: String },
    /// The model or version of a firmware image did not resolve.
    #[error("image {what}: {why}")]
    ImageUnresolved {
        what: &'static str,
        why: ResolveError,
    },
    /// The model or version of a firmware image is not text.
    #[error("image {what} {value} is not a string")]
    ImageNotText { what: &'static str, value: String },
    /// The image format holds the model and version in at most 255 bytes each.
    #[error("image {what} {text:?} is longer than 255 bytes")]
    ImageFieldTooLong { what: &'static str, text: String },
}

/// Why an operand (a capture or a devices-file field) has no value for this attempt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The step that takes the capture did not succeed (or has not run).
    #[error("capture {name:?} is not available: the step that takes it did not succeed")]
    CaptureMissing { name: String },
    /// The device's record lacks the field.
    #[error("device {device} has no {what} in the devices file")]
    DeviceFieldMissing { device: String, what: &'static str },
}

/// Why a step parameter could not give the value a request needs (the message of a
/// [`StepError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// The step does not have the parameter.
    #[error("parameter `{name}` is missing")]
    Missing { name: String },
    /// A capture or device-record reference did not resolve.
    #[error("parameter `{name}`: {why}")]
    Unresolved { name: String, why: ResolveError },
    /// The parameter is not the kind of value the request field takes.
    #[error("parameter `{name}` = {value} is not {expected}")]
    WrongType {
        name: String,
        value: String,
        expected: &'static str,
    },
    /// The parameter is not a single value (a key list or an image where a value is needed).
    #[error("parameter `{name}` is not {expected}")]
    WrongShape {
        name: String,
        expected: &'static str,
    },
}

/// A DUIS date-time that is not `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)` or names no real
/// instant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a date-time like 2026-12-01T00:00:00Z")]
pub struct DateTimeError {
    /// The text as found.
    pub text: String,
}

/// Why a DUIS XML document could not be read at all (requests that parse but map to no SRV are
/// reported per request, see [`crate::duis::Unmapped`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct DuisError {
    pub location: Location,
    pub message: String,
}
