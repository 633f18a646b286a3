//! Errors of the runner. Device behaviour is never an error here: it is a case result.

use std::time::Duration;

/// A device lease could not be taken or was lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LeaseError {
    #[error("device {device} is leased by {holder} for another {} ms", remaining.as_millis())]
    Held {
        device: String,
        holder: String,
        remaining: Duration,
    },
    #[error("lease on device {device} lost: {reason}")]
    Lost { device: String, reason: String },
}

/// A run cannot be planned from its inputs (bad input: nothing has been executed).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("cannot read DMC directory {dir}: {source}")]
    ReadDmcDir { dir: String, source: std::io::Error },
    #[error("cannot read DMC description {path}: {source}")]
    ReadDmc {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "device {device} belongs to DMC {dmc}, which has no description in {dir} (expected {dir}/{dmc}.toml)"
    )]
    UnknownDmc {
        device: String,
        dmc: String,
        dir: String,
    },
    #[error("device {device} has no {transport} endpoint in the devices file")]
    NoEndpoint {
        device: String,
        transport: &'static str,
    },
    #[error(
        "device {device}: the optical port speaks IEC 62056-21, not DLMS; reach the device over tcp or serial and add its optical port with with_optical_port"
    )]
    OpticalIsNotDlms { device: String },
    #[error("device {device} has no client SAP {sap} in the devices file")]
    NoClient { device: String, sap: u8 },
    #[error("device {device} lists no client SAP")]
    NoClients { device: String },
    #[error("no device named {device} in the devices file")]
    UnknownDevice { device: String },
    #[error("nothing to run: {reason}")]
    Empty { reason: String },
}

/// A link to a device could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach device {device} over {link}: {cause}")]
pub struct ConnectError {
    pub device: String,
    pub link: String,
    pub cause: String,
}
