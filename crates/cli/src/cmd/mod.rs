//! One module per subcommand.

pub mod emulate;
pub mod plugin;
pub mod serve;
