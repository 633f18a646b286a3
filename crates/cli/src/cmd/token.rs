//! `meterlab token hash`: a new random bearer token and the SHA-256 hash the serve config
//! stores (`token_sha256`). The gateway never holds the token itself.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::PathBuf;

use anyhow::Context as _;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Make a new random token; print its hash (and the token, unless --out is given).
    Hash {
        /// Write the token to this new file (mode 0600) instead of printing it.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Command::Hash { out } = args.command;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no system randomness: {e}"))?;
    let token = secrecy::SecretString::from(format!("mlt_{}", hex::encode(bytes)));
    let hash = hex::encode(meterlab_server::auth::token_hash(
        secrecy::ExposeSecret::expose_secret(&token),
    ));
    match out {
        Some(path) => {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("{}: cannot create the token file", path.display()))?;
            writeln!(file, "{}", secrecy::ExposeSecret::expose_secret(&token))
                .with_context(|| format!("{}: cannot write the token", path.display()))?;
            println!("token_sha256 = \"{hash}\"");
        }
        None => {
            println!("token = {}", secrecy::ExposeSecret::expose_secret(&token));
            println!("token_sha256 = \"{hash}\"");
        }
    }
    Ok(())
}
