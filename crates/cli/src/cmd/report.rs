//! `meterlab report`: the combined completion report of a planned entry (Markdown, HTML or
//! JSON), from a local store (`--db`: read the log, project, render) or from a gateway
//! (`--gateway`: GetCompletionReport renders it there), and a sealed evidence bundle
//! (`--bundle DIR`, or `--bundle FILE.zip` for one zip file). From a gateway the bundle is made
//! of one ExportResults snapshot: the report and the stored results as of one log position, so
//! it is consistent while results keep arriving, and it carries the evidence documents the
//! gateway keeps (those of its own runs), laid out as `--evidence DIR` lays out documents found
//! locally. `meterlab report verify BUNDLE` checks a bundle
//! (directory or zip) and names the first file that changed, is missing or is not in its
//! manifest.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use meterlab_governance::model::{DmcId, EntryKey, PhaseId, Release, SmsoId};
use meterlab_governance::report::CompletionReport;
use meterlab_governance::{Profile, completion_report};
use meterlab_proto::v1 as pb;
use meterlab_report::bundle::{BundleFile, verify_bundle, write_bundle, write_bundle_zip};
use meterlab_report::evidence::{EvidenceDocument, StoredAttempt, attempt_files};
use meterlab_report::{RecordedDecision, RenderOptions};
use meterlab_store::LogReader as _;
use prost::Message as _;
use sha2::{Digest as _, Sha256};

use crate::gateway::{GatewayClientArgs, connect};
use meterlab_client::types::ReportFormat;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    command: Option<ReportCommand>,
    #[command(flatten)]
    render: RenderArgs,
}

#[derive(Debug, clap::Subcommand)]
enum ReportCommand {
    /// Check a sealed evidence bundle against its manifest; names the first file that changed,
    /// is missing or is not in the manifest (exit 1), or prints the manifest's SHA-256 (exit 0).
    Verify {
        /// The bundle: a directory, or a zip file.
        bundle: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Format {
    Markdown,
    Html,
    Json,
}

#[derive(Debug, clap::Args)]
struct RenderArgs {
    /// Local store (SQLite) to read the governance log and results from.
    #[arg(long, conflicts_with = "gateway", required_unless_present = "gateway")]
    db: Option<PathBuf>,
    /// Gateway URL, e.g. https://lab-gw:50051 (https implies TLS); Markdown and HTML, and JSON
    /// with --bundle.
    #[arg(long)]
    gateway: Option<String>,
    #[command(flatten)]
    client: GatewayClientArgs,
    /// The planned EPCL entry, as RELEASE/SMSO/DMC (e.g. IOC/smso-a/dmc-1).
    #[arg(long, value_name = "RELEASE/SMSO/DMC")]
    entry: Option<String>,
    #[arg(long, value_enum, default_value = "markdown")]
    format: Format,
    /// Write the report here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Also write a sealed evidence bundle: into this new directory, or, for a path ending in
    /// `.zip`, as this new zip file. From a gateway, the report and the bundle are one snapshot
    /// of its log.
    #[arg(long)]
    bundle: Option<PathBuf>,
    /// Evidence documents of the runs (`meterlab run --evidence-dir`); each is matched to its
    /// stored result by SHA-256 and put in the bundle with its step log and traffic capture.
    /// From a gateway, the documents it keeps (its own runs') come with the export; this adds
    /// those of runs made elsewhere.
    #[arg(long, requires = "bundle")]
    evidence: Option<PathBuf>,
    /// Rule profile (TOML) to evaluate with [default: the shipped illustrative profile].
    #[arg(long, requires = "db")]
    profile: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        Some(ReportCommand::Verify { bundle }) => verify(&bundle),
        None => render(args.render),
    }
}

fn verify(bundle: &Path) -> anyhow::Result<()> {
    let v = verify_bundle(bundle)?;
    match v.first_problem() {
        None => {
            println!(
                "{}: intact, {} file(s); manifest SHA-256 {}",
                bundle.display(),
                v.files,
                v.manifest_sha256
            );
            Ok(())
        }
        Some(first) => {
            for problem in &v.problems {
                eprintln!("{}: {problem}", bundle.display());
            }
            bail!(
                "{}: NOT intact: {first} ({} problem(s) in all)",
                bundle.display(),
                v.problems.len()
            )
        }
    }
}

fn parse_entry(text: &str) -> anyhow::Result<EntryKey> {
    let parts: Vec<&str> = text.split('/').collect();
    let [release, smso, dmc] = parts.as_slice() else {
        bail!("--entry {text:?}: expected RELEASE/SMSO/DMC, e.g. IOC/smso-a/dmc-1");
    };
    let release = Release::parse(release)
        .with_context(|| format!("--entry {text:?}: release {release:?} is not IOC, MOC or FOC"))?;
    if smso.is_empty() || dmc.is_empty() {
        bail!("--entry {text:?}: the SMSO and the DMC must not be empty");
    }
    Ok(EntryKey {
        release,
        smso: SmsoId::new(*smso),
        dmc: DmcId::new(*dmc),
    })
}

fn emit(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(bytes)?;
            Ok(stdout.flush()?)
        }
    }
}

fn render(args: RenderArgs) -> anyhow::Result<()> {
    let entry_text = args
        .entry
        .as_deref()
        .context("--entry RELEASE/SMSO/DMC is required")?;
    let entry = parse_entry(entry_text)?;
    if let Some(gateway) = &args.gateway {
        return remote(gateway, &args, &entry);
    }
    let db = args
        .db
        .as_deref()
        .context("give --db PATH or --gateway URL")?;
    let profile = match &args.profile {
        Some(path) => meterlab_server::load_profile_file(path)?,
        None => super::run::input::default_profile()?,
    };
    let local = read_local(db, &profile, std::slice::from_ref(&entry))?;
    let options = RenderOptions {
        generated_at: Some(now_rfc3339()),
        log_head: local.head.clone(),
    };
    let markdown = meterlab_report::completion_markdown(&local.report, &local.decisions, &options)?;
    let html = meterlab_report::completion_html(&local.report, &local.decisions, &options)?;
    let json = meterlab_report::completion_json(&local.report, &local.decisions, &options)?;
    let chosen = match args.format {
        Format::Markdown => &markdown,
        Format::Html => &html,
        Format::Json => &json,
    };
    emit(args.out.as_deref(), chosen.as_bytes())?;
    if let Some(dir) = &args.bundle {
        let evidence = match &args.evidence {
            Some(dir) => evidence_by_hash(dir)?,
            None => HashMap::new(),
        };
        seal(dir, [markdown, html, json], local.attempts, &evidence)?;
    }
    Ok(())
}

/// Evidence documents by hex SHA-256: where each was found (for messages) and its text.
type EvidenceByHash = HashMap<String, (String, String)>;

/// Writes the sealed evidence bundle: the report in its three formats, and every stored
/// attempt with its evidence document when `evidence` has it; prints what went in.
fn seal(
    dir: &Path,
    [markdown, html, json]: [String; 3],
    attempts: Vec<StoredAttempt>,
    evidence: &EvidenceByHash,
) -> anyhow::Result<meterlab_report::bundle::Sealed> {
    let attempts: Vec<(StoredAttempt, EvidenceDocument)> = attempts
        .into_iter()
        .map(|a| {
            let doc = match evidence.get(&a.evidence_sha256) {
                Some((source, text)) => EvidenceDocument::Found {
                    text: text.clone(),
                    source: source.clone(),
                },
                None => EvidenceDocument::NotSupplied,
            };
            (a, doc)
        })
        .collect();
    let included = attempts
        .iter()
        .filter(|(_, d)| matches!(d, EvidenceDocument::Found { .. }))
        .count();
    let total = attempts.len();
    let mut files = vec![
        BundleFile::new("report.md", markdown),
        BundleFile::new("report.html", html),
        BundleFile::new("report.json", json),
    ];
    files.extend(attempt_files(&attempts)?);
    let sealed = if is_zip_path(dir) {
        write_bundle_zip(dir, &files)?
    } else {
        write_bundle(dir, &files)?
    };
    eprintln!(
        "bundle {}: {} file(s), evidence of {included} of {total} stored attempt(s); manifest SHA-256 {}",
        dir.display(),
        sealed.files,
        sealed.manifest_sha256
    );
    Ok(sealed)
}

/// The combined completion report of every phase of `entries` from the gateway `client` serves,
/// as one ExportResults snapshot: `report.md` and `report.html` written into `out`, and sealed
/// with every stored attempt and its evidence document (found under `evidence`) into the new
/// directory `bundle`. For `meterlab demo`, while its gateway still serves.
pub(crate) async fn report_and_bundle(
    client: &meterlab_client::Client,
    entries: &[EntryKey],
    out: &Path,
    bundle: &Path,
    evidence: &Path,
) -> anyhow::Result<(u64, meterlab_report::bundle::Sealed)> {
    let export = client
        .export_results(entries, None)
        .await
        .map_err(|error| anyhow::anyhow!("{}: {error}", client.url()))?;
    let [markdown, html, json] = exported_documents(client.url(), &export)?;
    emit(Some(&out.join("report.md")), markdown.as_bytes())?;
    emit(Some(&out.join("report.html")), html.as_bytes())?;
    let attempts = export.results.iter().map(stored_attempt).collect();
    let mut found = evidence_by_hash(evidence)?;
    add_exported_evidence(client.url(), &export, &mut found)?;
    let sealed = seal(bundle, [markdown, html, json], attempts, &found)?;
    Ok((export.log_position, sealed))
}

/// A bundle path ending in `.zip` is written as one zip file.
fn is_zip_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zip"))
}

/// Adds the evidence documents an export carried (the client checked each against its hash)
/// to those found locally.
fn add_exported_evidence(
    gateway: &str,
    export: &meterlab_client::export::ResultExport,
    found: &mut EvidenceByHash,
) -> anyhow::Result<()> {
    for (sha256, data) in &export.evidence {
        let text = String::from_utf8(data.clone())
            .with_context(|| format!("{gateway}: evidence {sha256} is not UTF-8"))?;
        found.insert(
            sha256.clone(),
            (format!("{gateway} evidence {sha256}"), text),
        );
    }
    Ok(())
}

/// Every `*.json` under `dir`, by the hex SHA-256 of its bytes.
fn evidence_by_hash(dir: &Path) -> anyhow::Result<EvidenceByHash> {
    let mut out = HashMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        let entries = std::fs::read_dir(&current)
            .with_context(|| format!("--evidence: cannot read {}", current.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let hash = hex::encode(Sha256::digest(&bytes));
                if let Ok(text) = String::from_utf8(bytes) {
                    out.insert(hash, (path.display().to_string(), text));
                }
            }
        }
    }
    Ok(out)
}

struct Local {
    report: CompletionReport,
    decisions: Vec<RecordedDecision>,
    head: Option<String>,
    attempts: Vec<StoredAttempt>,
}

fn read_local(db: &Path, profile: &Profile, entries: &[EntryKey]) -> anyhow::Result<Local> {
    if !db.is_file() {
        bail!("--db {}: no such store", db.display());
    }
    let reader = meterlab_store::SqliteReader::open(db)
        .with_context(|| format!("cannot open the store {}", db.display()))?;
    let mut projector = meterlab_server::GovernanceProjector::new();
    meterlab_store::replay_into(&reader, &mut projector)
        .with_context(|| format!("cannot replay the log of {}", db.display()))?;
    let proj = projector.projection();
    let mut phases: Vec<PhaseId> = Vec::new();
    for entry in entries {
        let state = proj.entry(entry).with_context(|| {
            format!("{}: planned entry {entry} is not registered", db.display())
        })?;
        phases.extend(state.phases().iter().cloned());
    }
    let report = completion_report(
        proj,
        profile,
        &meterlab_server::report_title(entries),
        &phases,
    );
    let decisions = meterlab_server::convert::report::recorded_decisions(projector.decisions());
    let head = reader.head()?.map(|h| hex::encode(h.hash));
    let reported: Vec<String> = report
        .phase_cases
        .iter()
        .map(|p| p.phase.to_string())
        .collect();
    let mut attempts = Vec::new();
    let mut from = 1;
    loop {
        let batch = reader.read_range(from, 1024)?;
        let Some(last) = batch.last() else { break };
        from = last.seq + 1;
        for event in &batch {
            if event.payload.kind != meterlab_server::convert::result::RESULT_KIND {
                continue;
            }
            let submit =
                pb::SubmitResult::decode(event.payload.body.as_slice()).with_context(|| {
                    format!(
                        "{}: stored result {} is not decodable",
                        db.display(),
                        event.seq
                    )
                })?;
            let (Some(key), Some(result)) = (submit.key, submit.result) else {
                continue;
            };
            let Ok(case) = meterlab_server::convert::result::case_result_from_proto(&result) else {
                continue;
            };
            let phase = case.phase.to_string();
            if !reported.contains(&phase) {
                continue;
            }
            attempts.push(StoredAttempt {
                phase,
                case: result.case_id.clone(),
                device: result.device_id.clone(),
                attempt: result.attempt,
                status: case.status.as_str().to_string(),
                srv: result.srv.clone(),
                detail: result.detail.clone(),
                run_id: key.run_id,
                seq: event.seq,
                started_at: result.started_at.map(|t| t.to_string()),
                finished_at: result.finished_at.map(|t| t.to_string()),
                elapsed_ms: result.elapsed.and_then(|d| {
                    u64::try_from(d.seconds)
                        .ok()
                        .map(|s| s * 1000 + u64::try_from(d.nanos / 1_000_000).unwrap_or(0))
                }),
                evidence_sha256: hex::encode(&result.evidence_sha256),
            });
        }
    }
    Ok(Local {
        report,
        decisions,
        head,
        attempts,
    })
}

#[allow(clippy::disallowed_methods)] // the binary is the edge that reads the wall clock
fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    prost_types::Timestamp {
        seconds: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        nanos: 0,
    }
    .to_string()
}

fn remote(gateway: &str, args: &RenderArgs, entry: &EntryKey) -> anyhow::Result<()> {
    if let Some(bundle) = &args.bundle {
        return remote_bundle(gateway, args, entry, bundle);
    }
    let format = match args.format {
        Format::Markdown => ReportFormat::Markdown,
        Format::Html => ReportFormat::Html,
        Format::Json => bail!("--format json is for --db; a gateway renders Markdown or HTML"),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = connect(gateway, &args.client).await?;
        let report = client
            .completion_report(&[], std::slice::from_ref(entry), format, None)
            .await
            .map_err(|error| anyhow::anyhow!("{gateway}: {error}"))?;
        emit(args.out.as_deref(), &report.rendered)
    })
}

/// The report and the bundle from one ExportResults snapshot of the gateway's log.
fn remote_bundle(
    gateway: &str,
    args: &RenderArgs,
    entry: &EntryKey,
    bundle: &Path,
) -> anyhow::Result<()> {
    let evidence = match &args.evidence {
        Some(dir) => evidence_by_hash(dir)?,
        None => HashMap::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let export = runtime.block_on(async {
        let client = connect(gateway, &args.client).await?;
        client
            .export_results(std::slice::from_ref(entry), None)
            .await
            .map_err(|error| anyhow::anyhow!("{gateway}: {error}"))
    })?;
    let [markdown, html, json] = exported_documents(gateway, &export)?;
    let chosen = match args.format {
        Format::Markdown => &markdown,
        Format::Html => &html,
        Format::Json => &json,
    };
    emit(args.out.as_deref(), chosen.as_bytes())?;
    eprintln!(
        "{gateway}: snapshot at log position {}, {} stored result(s) of {entry}, {} evidence document(s) kept there",
        export.log_position,
        export.results.len(),
        export.evidence.len()
    );
    let mut evidence = evidence;
    add_exported_evidence(gateway, &export, &mut evidence)?;
    let attempts = export.results.iter().map(stored_attempt).collect();
    seal(bundle, [markdown, html, json], attempts, &evidence)?;
    Ok(())
}

/// The three report documents of an export, in bundle order.
fn exported_documents(
    gateway: &str,
    export: &meterlab_client::export::ResultExport,
) -> anyhow::Result<[String; 3]> {
    let text = |name: &str| -> anyhow::Result<String> {
        let doc = export
            .document(name)
            .with_context(|| format!("{gateway}: the export has no {name}"))?;
        String::from_utf8(doc.data.clone())
            .with_context(|| format!("{gateway}: the exported {name} is not UTF-8"))
    };
    Ok([
        text("report.md")?,
        text("report.html")?,
        text("report.json")?,
    ])
}

/// A bundle's attempt from an exported result: the same fields `read_local` takes from the log.
pub(crate) fn stored_attempt(r: &meterlab_client::export::ExportedResult) -> StoredAttempt {
    StoredAttempt {
        phase: r.subject.clone(),
        case: r.case_id.clone(),
        device: r.device_id.clone(),
        attempt: r.attempt,
        status: r.status.as_str().to_string(),
        srv: r.srv.clone(),
        detail: r.detail.clone(),
        run_id: r.run_id.clone(),
        seq: r.log_position,
        started_at: r.started_at.clone(),
        finished_at: r.finished_at.clone(),
        elapsed_ms: r.elapsed_ms,
        evidence_sha256: r.evidence_sha256.clone(),
    }
}
