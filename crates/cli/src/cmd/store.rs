//! `meterlab store verify`: checks the hash chain of a store file, from the first event to the
//! last, and names the first event that does not follow from its predecessor.
//!
//! `--db` is an SQLite file or a `postgres://` URL. The store is opened read-only (no writer
//! lock), so a running gateway's store can be checked.
//! Exit status: 0 when the chain is intact, 1 when it is broken or the file cannot be read.

use anyhow::{Context as _, bail};
use meterlab_store::{Store, Verification};

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
        /// SQLite store file or `postgres://user@host:port/db` URL, e.g. the `--db` of
        /// `meterlab serve`.
        #[arg(long)]
        db: String,
        #[arg(long, value_enum, default_value_t)]
        output: OutputFormat,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        StoreCommand::Verify { db, output } => verify(&db, output),
    }
}

fn verify(db: &str, output: OutputFormat) -> anyhow::Result<()> {
    // A URL may carry a password; messages name the reader's location, which never does.
    let shown = if meterlab_store::is_postgres_url(db) {
        "the PostgreSQL store"
    } else {
        db
    };
    let reader = Store::open_reader(db)
        .with_context(|| format!("cannot open {shown} as a meterlab store"))?;
    let db = reader.location().to_owned();
    let db = db.as_str();
    let verification = meterlab_store::chain::verify(reader.as_ref())
        .with_context(|| format!("cannot read the event log of {db}"))?;
    let rendered = match output {
        OutputFormat::Text => render_text(db, &verification),
        OutputFormat::Json => serde_json::to_string_pretty(&render_json(db, &verification))?,
    };
    println!("{rendered}");
    if let Verification::Broken { seq, .. } = verification {
        bail!("the hash chain of {db} is broken at event #{seq}");
    }
    Ok(())
}

fn render_text(db: &str, v: &Verification) -> String {
    match v {
        Verification::Intact { events, head } => match head {
            Some(head) => format!(
                "{}: intact, {events} events, head #{} {}",
                db,
                head.seq,
                hex::encode(head.hash)
            ),
            None => format!("{db}: intact, empty log"),
        },
        Verification::Broken { seq, reason } => {
            format!("{db}: BROKEN at event #{seq}: {reason}")
        }
    }
}

fn render_json(db: &str, v: &Verification) -> serde_json::Value {
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
