//! The one error type of the server crate, and how errors become gRPC statuses.

use meterlab_governance::DomainError;
use meterlab_governance::model::{CaseId, PhaseId};
use meterlab_store::{IngestKey, StoreError};
use tonic::{Code, Status};

/// Everything that can stop the gateway from starting or serving. Every variant names what and
/// where; per-request problems are gRPC statuses, not `ServerError`s.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The store could not be opened, replayed or written.
    #[error("store: {0}")]
    Store(#[from] StoreError),

    /// The rule profile file could not be read.
    #[error("{path}: cannot read rule profile: {source}")]
    ProfileRead {
        /// The profile file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The rule profile is invalid.
    #[error(transparent)]
    Profile(#[from] meterlab_governance::ProfileError),

    /// The listening socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// gRPC reflection could not be built from the descriptor set.
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),

    /// The transport failed while serving.
    #[error("gRPC transport: {0}")]
    Transport(#[from] tonic::transport::Error),

    /// The TLS identity or client CA could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] SecretFileError),

    /// The bench's DMC descriptions could not be read.
    #[error("bench: {0}")]
    Bench(#[from] meterlab_runner::PlanError),

    /// The plugin directory cannot be used.
    #[error("plugins: {0}")]
    Plugins(#[from] meterlab_plugin_host::LoadError),

    /// The evidence directory of the gateway's runs cannot be used.
    #[error("evidence directory: {0}")]
    Evidence(#[from] crate::evidence::EvidenceError),

    /// A bench is served (its runs write evidence) but the gateway has no evidence directory:
    /// the store is PostgreSQL and no `evidence_dir` was configured.
    #[error(
        "the bench's runs need an evidence directory: the store is not an SQLite file (whose \
         evidence would be kept beside it), so set `evidence_dir` in the serve config"
    )]
    NoEvidenceDir,

    /// A blocking task (projection replay) panicked or was cancelled.
    #[error("background task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// A serve config that cannot be used: unreadable, or every problem found in it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read serve config: {source}")]
    Read {
        /// The config file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The problems found, in file order.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<ConfigProblem>),
}

/// One problem in a config file, with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {message}")]
pub struct ConfigProblem {
    /// The config file.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

/// A secret or certificate file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A secret file that others than its owner may read.
    #[error(
        "{path}: secret file is readable by group or others (mode {mode:o}); run `chmod 600 {path}`"
    )]
    TooOpen {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is empty or has no PEM block where one is needed.
    #[error("{path}: {problem}")]
    Content {
        /// The file.
        path: String,
        /// What is wrong.
        problem: String,
    },
}

/// Why the ledger did not write (or could not project) governance events. Mapped to a gRPC
/// status only at the service edge (`impl From<LedgerError> for Status`).
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The governance rules refuse an event; nothing was written.
    #[error(transparent)]
    Rule(DomainError),
    /// A result stream is writing an attempt the events record.
    #[error(
        "attempt {} of case {} on device {} in {} is being recorded through ResultService \
         (as {}); nothing was appended",
        .0.attempt, .0.case, .0.device, .0.phase, .0.stream
    )]
    AttemptInFlight(Box<AttemptInFlight>),
    /// A governance event could not be serialised.
    #[error("cannot encode governance event: {0}")]
    Encode(#[from] serde_json::Error),
    /// An event was stored but the projection refused it (the state changed concurrently).
    #[error(
        "event #{seq} was written but the projection refused it (state changed concurrently): \
         {reason}"
    )]
    RefusedAfterWrite {
        /// Its log position.
        seq: u64,
        /// The projection's reason.
        reason: String,
    },
}

/// An attempt a result stream is writing.
#[derive(Debug)]
pub struct AttemptInFlight {
    /// The phase.
    pub phase: PhaseId,
    /// The case.
    pub case: CaseId,
    /// The device.
    pub device: String,
    /// The attempt number.
    pub attempt: u32,
    /// The stream writing it.
    pub stream: IngestKey,
}

impl From<LedgerError> for Status {
    fn from(error: LedgerError) -> Self {
        match &error {
            LedgerError::Store(store) => store_status(store),
            LedgerError::Rule(domain) => domain_status(domain),
            LedgerError::AttemptInFlight(_) => Status::already_exists(error.to_string()),
            LedgerError::Encode(_) => Status::internal(error.to_string()),
            LedgerError::RefusedAfterWrite { .. } => Status::failed_precondition(error.to_string()),
        }
    }
}

/// Why a stored event could not be decoded for the governance projection.
#[derive(Debug, thiserror::Error)]
pub enum StoredEventError {
    /// A governance event's body is not a versioned event.
    #[error("governance event does not decode: {0}")]
    Governance(#[from] serde_json::Error),
    /// A result's body is not a `SubmitResult`.
    #[error("stored result does not decode: {0}")]
    ResultBody(#[from] prost::DecodeError),
    /// A result's body has no `result`.
    #[error("stored result has no `result`")]
    ResultMissing,
    /// A result's body fails the field checks.
    #[error("stored result is invalid: {0}")]
    ResultInvalid(FieldError),
}

/// A request field that is missing or malformed: the dotted path of the field and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// Dotted path, e.g. `result.phase.mode`.
    pub field: String,
    /// One sentence.
    pub message: String,
}

impl FieldError {
    /// A field error at `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error one level deeper, e.g. `phase.mode` under `result` is `result.phase.mode`.
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() {
            parent.to_owned()
        } else {
            format!("{parent}.{}", self.field)
        };
        self
    }
}

impl From<FieldError> for Status {
    fn from(e: FieldError) -> Self {
        Status::invalid_argument(format!("invalid field {}: {}", e.field, e.message))
    }
}

/// A governance event the projection refuses: NOT_FOUND for unknown things, ALREADY_EXISTS for
/// duplicates, FAILED_PRECONDITION for the rest (illegal transitions, rejected de-scopes).
pub fn domain_status(error: &DomainError) -> Status {
    use DomainError::*;
    let code = match error {
        UnknownSmso(_) | UnknownDmc(_) | UnknownEntry(_) | UnknownCycle(_) | UnknownPhase(_)
        | UnknownDnb(_) | UnknownIssue(_) | NotPlanned(_) => Code::NotFound,
        DuplicateSmso(_)
        | DuplicateDmc(_)
        | DuplicateEntry(_)
        | DuplicateCycle(_)
        | DuplicatePhase(_)
        | DuplicateIssue(_)
        | DuplicateAttempt { .. }
        | AlreadyDescoped { .. }
        | AlreadyPlanned(_) => Code::AlreadyExists,
        BadSeverity(_)
        | Empty { .. }
        | BadDate(_)
        | BadTimestamp(_)
        | ZeroAttempt { .. }
        | WindowReversed { .. }
        | DuplicateCaseSpec { .. }
        | IssueWithoutPhase(_)
        | KnownDefectWithoutWorkaround(_) => Code::InvalidArgument,
        _ => Code::FailedPrecondition,
    };
    Status::new(code, error.to_string())
}

/// A store failure seen by a request: the store itself is unavailable (the client may retry).
pub fn store_status(error: &StoreError) -> Status {
    match error {
        StoreError::InvalidEvent { .. } => Status::invalid_argument(error.to_string()),
        StoreError::Conflict { .. } => Status::already_exists(error.to_string()),
        _ => Status::unavailable(format!("the result store failed; retry later: {error}")),
    }
}
