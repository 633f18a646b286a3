//! Loads adapter plugins (`.so`) with libloading, checks their ABI declaration, and drives sessions.
//!
//! Must never depend on the server or the runner.
