//! `meterlab dev-certs DIR`: a throwaway CA, a localhost server certificate and client
//! certificates for local use and tests. Never for a lab network: the CA is generated here and
//! its key is discarded.

use std::path::PathBuf;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Directory to write ca.pem, server.pem/.key and <client>.pem/.key into.
    dir: PathBuf,
    /// Subject common name of a client certificate to issue (repeatable).
    #[arg(long = "client", default_value = "dev-client")]
    clients: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    for name in &args.clients {
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            anyhow::bail!(
                "--client {name:?}: use letters, digits, '-', '_' or '.' (it names files)"
            );
        }
    }
    let names: Vec<&str> = args.clients.iter().map(String::as_str).collect();
    let certs = meterlab_server::dev_certs::generate("meterlab dev CA", &names)
        .context("cannot generate certificates")?;
    for path in certs.write(&args.dir)? {
        println!("{}", path.display());
    }
    Ok(())
}
