//! `meterlab store verify`: checks the hash chain of a store file, from the first event to the
//! last, and names the first event that does not follow from its predecessor.
//!
//! The file is opened read-only (no writer lock), so a running gateway's store can be checked.
//! Exit status: 0 when the chain is intact, 1 when it is broken or the file cannot be read.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use meterlab_store::{SqliteReader, Verification};

use crate::output::OutputFormat;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: StoreCommand,
}

#[derive(Debug, clap::Subcommand)]
enum StoreCommand {
    /// Verify the hash chain of a store: intact (events, head hash) or the first broken event.
    Verify {
        /// SQLite store file, e.g. the `--db` of `meterlab serve`.
        #[arg(long)]
        db: PathBuf,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        StoreCommand::Verify { db, output } => verify(&db, output),
    }
}

fn verify(db: &Path, output: OutputFormat) -> anyhow::Result<()> {
    let reader = SqliteReader::open(db)
        .with_context(|| format!("cannot open {} as a meterlab store", db.display()))?;
    let verification = meterlab_store::chain::verify(&reader)
        .with_context(|| format!("cannot read the event log of {}", db.display()))?;
    let rendered = match output {
        OutputFormat::Text => render_text(db, &verification),
        OutputFormat::Json => serde_json::to_string_pretty(&render_json(db, &verification))?,
    };
    println!("{rendered}");
    if let Verification::Broken { seq, .. } = verification {
        bail!(
            "the hash chain of {} is broken at event #{seq}",
            db.display()
        );
    }
    Ok(())
}

fn render_text(db: &Path, v: &Verification) -> String {
    match v {
        Verification::Intact { events, head } => match head {
            Some(head) => format!(
                "{}: intact, {events} events, head #{} {}",
                db.display(),
                head.seq,
                hex::encode(head.hash)
            ),
            None => format!("{}: intact, empty log", db.display()),
        },
        Verification::Broken { seq, reason } => {
            format!("{}: BROKEN at event #{seq}: {reason}", db.display())
        }
    }
}

fn render_json(db: &Path, v: &Verification) -> serde_json::Value {
    let db = db.display().to_string();
    match v {
        Verification::Intact { events, head } => serde_json::json!({
            "db": db,
            "intact": true,
            "events": events,
            "head_seq": head.map(|h| h.seq),
            "head_hash": head.map(|h| hex::encode(h.hash)),
        }),
        Verification::Broken { seq, reason } => serde_json::json!({
            "db": db,
            "intact": false,
            "broken_seq": seq,
            "reason": reason,
        }),
    }
}
