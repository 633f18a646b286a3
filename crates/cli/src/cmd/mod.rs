//! One module per subcommand.

pub mod catalog;
pub mod demo;
pub mod dev_certs;
pub mod emulate;
pub mod emulate_ctl;
pub mod fault_args;
pub mod gov;
pub mod plugin;
pub mod report;
pub mod run;
pub mod serve;
pub mod store;
pub mod token;
