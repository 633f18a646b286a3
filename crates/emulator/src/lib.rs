//! Emulated SMETS1 comms hubs and meters (in progress).
#![forbid(unsafe_code)]
