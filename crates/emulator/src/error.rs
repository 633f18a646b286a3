//! Errors of the emulator library.

use meterlab_devices::Location;
use meterlab_dlms::cosem::disconnect::RemoteCommandRefused;
use meterlab_dlms::cosem::image_transfer::ImageTransferError;

/// Why the emulator could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A COSEM date-time that cannot be turned into an instant.
    #[error("invalid date-time: {0}")]
    InvalidDateTime(String),
    /// A scenario file could not be read.
    #[error("cannot read scenario {path}: {source}")]
    ReadScenario {
        /// The path read.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A scenario file is malformed or inconsistent.
    #[error("{location}: {message}")]
    Scenario {
        /// The offending value.
        location: Location,
        /// What is wrong and what is expected.
        message: String,
    },
    /// More hubs than wPorts can address.
    #[error("{hubs} hubs is more than one emulation can address ({max}: three wPorts each)")]
    TooManyHubs {
        /// Hubs asked for.
        hubs: usize,
        /// The limit.
        max: usize,
    },
    /// A scenario built in code names a DMC or SMSO it does not define.
    #[error("the scenario names an undefined {0}")]
    UnknownReference(String),
    /// A firmware image that cannot be used.
    #[error("firmware image rejected: {0}")]
    FirmwareImage(String),
}

impl EmulatorError {
    /// Where in a file the error is, when it is about a file's content.
    pub fn location(&self) -> Option<&Location> {
        match self {
            Self::Scenario { location, .. } => Some(location),
            _ => None,
        }
    }
}

/// Data-Access-Result and Action-Result codes a COSEM server returns (IEC 62056-5-3); the numeric
/// values are the same in both enumerations for the codes used here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AccessError {
    /// The hardware (or its emulation) failed.
    #[error("hardware fault")]
    HardwareFault,
    /// Not possible now (e.g. the image transfer is in the wrong state); may succeed later.
    #[error("temporary failure")]
    TemporaryFailure,
    /// Not allowed for this client or in this installation state.
    #[error("read-write denied")]
    ReadWriteDenied,
    /// No such object, attribute or method in this logical device.
    #[error("object undefined")]
    ObjectUndefined,
    /// The class id does not match the object.
    #[error("object class inconsistent")]
    ObjectClassInconsistent,
    /// The object exists but is not available.
    #[error("object unavailable")]
    ObjectUnavailable,
    /// The value or parameter has the wrong type or is out of range.
    #[error("type unmatched")]
    TypeUnmatched,
    /// Selective access parameters out of scope.
    #[error("scope of access violated")]
    ScopeOfAccessViolated,
    /// Anything else.
    #[error("other reason")]
    OtherReason,
}

impl AccessError {
    /// The numeric Data-Access-Result / Action-Result code.
    pub fn code(self) -> u8 {
        match self {
            Self::HardwareFault => 1,
            Self::TemporaryFailure => 2,
            Self::ReadWriteDenied => 3,
            Self::ObjectUndefined => 4,
            Self::ObjectClassInconsistent => 9,
            Self::ObjectUnavailable => 11,
            Self::TypeUnmatched => 12,
            Self::ScopeOfAccessViolated => 13,
            Self::OtherReason => 250,
        }
    }
}

impl From<RemoteCommandRefused> for AccessError {
    fn from(_: RemoteCommandRefused) -> Self {
        Self::ReadWriteDenied
    }
}

impl From<ImageTransferError> for AccessError {
    fn from(error: ImageTransferError) -> Self {
        match error {
            ImageTransferError::Disabled => Self::ReadWriteDenied,
            ImageTransferError::InvalidInitiate | ImageTransferError::WrongBlockLength => {
                Self::TypeUnmatched
            }
            ImageTransferError::WrongState | ImageTransferError::Incomplete => {
                Self::TemporaryFailure
            }
            ImageTransferError::BlockOutOfRange => Self::ScopeOfAccessViolated,
            ImageTransferError::VerificationFailed => Self::OtherReason,
        }
    }
}
