//! Everything a client call can fail with, each naming what and where.

/// A failed client operation.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A client option is unusable (URL, TLS files, token file).
    #[error("{0}")]
    Config(String),
    /// A secret or PEM file could not be used.
    #[error("{path}: {problem}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The gateway could not be reached.
    #[error("cannot connect to the gateway at {url}: {source}")]
    Connect {
        /// The gateway URL.
        url: String,
        /// The transport error.
        #[source]
        source: tonic::transport::Error,
    },
    /// The gateway answered an RPC with an error status.
    #[error("{rpc}: {code:?}: {message}")]
    Status {
        /// The RPC, e.g. `EvaluatePhase`.
        rpc: &'static str,
        /// The gRPC status code.
        code: tonic::Code,
        /// The gateway's message (it names the offending field).
        message: String,
    },
    /// The gateway answered with a message this client cannot read.
    #[error("{rpc}: unexpected answer: {field} {problem}")]
    Answer {
        /// The RPC.
        rpc: &'static str,
        /// The field, relative to the answer.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A value given to the client cannot be sent (e.g. a timestamp out of range).
    #[error("{field}: {problem}")]
    Input {
        /// The argument.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The ResultService refused a result.
    #[error("result {seq} of {source_name} rejected ({reason}): {message}")]
    Rejected {
        /// The result stream's source.
        source_name: String,
        /// The result's sequence number.
        seq: u64,
        /// The rejection reason, e.g. `REJECT_REASON_CONFLICT`.
        reason: String,
        /// The gateway's explanation.
        message: String,
    },
    /// A result stream broke and could not be resumed.
    #[error("result stream of {source_name}: {problem}")]
    Stream {
        /// The result stream's source.
        source_name: String,
        /// What happened.
        problem: String,
    },
}

impl ClientError {
    /// The error of `rpc` answered with `status`.
    pub fn status(rpc: &'static str, status: &tonic::Status) -> Self {
        ClientError::Status {
            rpc,
            code: status.code(),
            message: status.message().to_owned(),
        }
    }

    /// The gRPC code, when the gateway answered with an error status.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether the gateway refused the request as bad input (the caller's fault, not the
    /// gateway's): INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION, OUT_OF_RANGE.
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self.code(),
            Some(
                tonic::Code::InvalidArgument
                    | tonic::Code::NotFound
                    | tonic::Code::AlreadyExists
                    | tonic::Code::FailedPrecondition
                    | tonic::Code::OutOfRange
            )
        ) || matches!(self, ClientError::Input { .. })
    }

    pub(crate) fn answer(
        rpc: &'static str,
        field: impl Into<String>,
        problem: impl Into<String>,
    ) -> Self {
        ClientError::Answer {
            rpc,
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// Results of this crate.
pub type Result<T, E = ClientError> = std::result::Result<T, E>;
