//! Errors a plugin reports through the safe API.

/// `Adapter::open` refused a session configuration; the host shows the reason to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct OpenError {
    reason: String,
}

impl OpenError {
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    pub fn reason(&self) -> &str {
        &self.reason
    }
}
