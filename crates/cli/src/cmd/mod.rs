//! One module per subcommand.

pub mod demo;
pub mod emulate;
pub mod plugin;
pub mod serve;
pub mod store;
