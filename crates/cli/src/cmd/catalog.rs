//! `meterlab catalog`: list the test cases with their content hashes (the list a Depth & Breadth
//! document agrees), check suites and print every problem, import DUIS requests as cases.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args as ClapArgs, Subcommand};
use meterlab_catalog::{Catalog, DeviceRole, Mode, Phase, duis};
use meterlab_dmc::DmcDescription;
use serde_json::json;

use crate::output::{OutputFormat, print_table};

#[derive(Debug, ClapArgs)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List cases with their content hashes.
    List(ListArgs),
    /// Load suites and print every problem (file:line:col); exit code 2 when there is any.
    Check(CheckArgs),
    /// Turn DUIS XML service requests into catalogue cases.
    Import(ImportArgs),
}

#[derive(Debug, ClapArgs)]
struct ListArgs {
    /// A case file or directory (repeatable); default: suites/mt and suites/sit.
    #[arg(long = "suite", value_name = "PATH")]
    suites: Vec<PathBuf>,
    /// Only cases of this phase.
    #[arg(long, value_parser = parse_phase)]
    phase: Option<Phase>,
    /// Only cases written for this installation mode.
    #[arg(long, value_parser = parse_mode)]
    mode: Option<Mode>,
    /// Only cases that run on this device type (hub, esme, gsme).
    #[arg(long, value_parser = parse_role)]
    device: Option<DeviceRole>,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    output: OutputFormat,
}

#[derive(Debug, ClapArgs)]
struct CheckArgs {
    /// Case files or directories; default: suites/mt and suites/sit.
    paths: Vec<PathBuf>,
    /// DMC descriptions to check the cases against (warns about steps no DMC offers).
    #[arg(long, value_name = "DIR", default_value = "suites/dmcs")]
    dmcs: PathBuf,
}

#[derive(Debug, ClapArgs)]
struct ImportArgs {
    /// DUIS request documents (XML).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Write one case file per document here (`<stem>.toml`) instead of printing them.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

fn parse_phase(text: &str) -> Result<Phase, String> {
    text.to_ascii_uppercase().parse()
}

fn parse_mode(text: &str) -> Result<Mode, String> {
    text.parse()
}

fn parse_role(text: &str) -> Result<DeviceRole, String> {
    [DeviceRole::Hub, DeviceRole::Esme, DeviceRole::Gsme]
        .into_iter()
        .find(|role| role.as_str() == text)
        .ok_or_else(|| format!("unknown device type {text:?}; expected hub, esme or gsme"))
}

/// Exit code for input that is wrong (a problem in a suite, an unreadable DUIS document).
const BAD_INPUT: u8 = 2;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    match args.command {
        Command::List(args) => list(args),
        Command::Check(args) => check(args),
        Command::Import(args) => import(args),
    }
}

fn default_suites(paths: Vec<PathBuf>) -> Vec<PathBuf> {
    if paths.is_empty() {
        vec![PathBuf::from("suites/mt"), PathBuf::from("suites/sit")]
    } else {
        paths
    }
}

fn load(paths: &[PathBuf]) -> Result<Catalog, ExitCode> {
    Catalog::load(paths).map_err(|errors| {
        for problem in errors.problems() {
            eprintln!("{problem}");
        }
        eprintln!(
            "error: {} problem{} in the suites; nothing was loaded",
            errors.len(),
            if errors.len() == 1 { "" } else { "s" }
        );
        ExitCode::from(BAD_INPUT)
    })
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let paths = default_suites(args.suites);
    let catalog = match load(&paths) {
        Ok(catalog) => catalog,
        Err(code) => return Ok(code),
    };
    let cases = catalog.select(args.phase, args.mode, args.device);
    match args.output {
        OutputFormat::Json => {
            let rendered: Vec<_> = cases
                .iter()
                .map(|case| {
                    json!({
                        "id": case.id,
                        "title": case.title,
                        "phase": case.phase.as_str(),
                        "modes": case.modes.iter().map(|mode| mode.as_str()).collect::<Vec<_>>(),
                        "devices": case.device_types.iter().map(|role| role.as_str()).collect::<Vec<_>>(),
                        "dnb": case.dnb_ref,
                        "severity": case.severity.get(),
                        "srvs": case.steps.iter().map(|step| step.srv.number()).collect::<Vec<_>>(),
                        "hash": case.content_hash.to_hex(),
                        "file": case.location.file,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rendered)?);
        }
        OutputFormat::Text => {
            let rows: Vec<[String; 8]> = cases
                .iter()
                .map(|case| {
                    [
                        case.id.clone(),
                        case.phase.as_str().to_owned(),
                        join(case.modes.iter().map(|mode| mode.as_str())),
                        join(case.device_types.iter().map(|role| role.as_str())),
                        case.severity.get().to_string(),
                        case.dnb_ref.clone(),
                        case.content_hash.to_hex(),
                        case.title.clone(),
                    ]
                })
                .collect();
            print_table(
                [
                    "ID", "PHASE", "MODES", "DEVICES", "SEV", "D&B", "SHA-256", "TITLE",
                ],
                &rows,
            );
            println!("{} of {} cases", cases.len(), catalog.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn join<'a>(words: impl Iterator<Item = &'a str>) -> String {
    words.collect::<Vec<_>>().join(",")
}

fn check(args: CheckArgs) -> anyhow::Result<ExitCode> {
    let paths = default_suites(args.paths);
    let catalog = match load(&paths) {
        Ok(catalog) => catalog,
        Err(code) => return Ok(code),
    };
    let mut files: Vec<&str> = catalog
        .cases()
        .iter()
        .map(|case| case.location.file.as_str())
        .collect();
    files.sort_unstable();
    files.dedup();
    let steps: usize = catalog.cases().iter().map(|case| case.steps.len()).sum();
    let dmcs = match load_dmcs(&args.dmcs) {
        Ok(dmcs) => dmcs,
        Err(code) => return Ok(code),
    };
    let mut warnings = meterlab_catalog::dmc::unsupported_steps(catalog.cases(), &dmcs);
    if !dmcs.is_empty() {
        warnings.extend(meterlab_catalog::dmc::unknown_dmc_expectations(
            catalog.cases(),
            &dmcs,
        ));
    }
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    println!(
        "ok: {} cases, {steps} steps in {} files; {} DMC description{} ({} warning{})",
        catalog.len(),
        files.len(),
        dmcs.len(),
        if dmcs.len() == 1 { "" } else { "s" },
        warnings.len(),
        if warnings.len() == 1 { "" } else { "s" },
    );
    Ok(ExitCode::SUCCESS)
}

/// Every `*.toml` DMC description in `directory`; none when the directory does not exist.
fn load_dmcs(directory: &Path) -> Result<Vec<DmcDescription>, ExitCode> {
    let Ok(entries) = std::fs::read_dir(directory) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "toml")
        })
        .collect();
    paths.sort();
    let mut dmcs = Vec::with_capacity(paths.len());
    let mut failed = false;
    for path in paths {
        match DmcDescription::load(&path) {
            Ok(dmc) => dmcs.push(dmc),
            Err(errors) => {
                eprintln!("{errors}");
                failed = true;
            }
        }
    }
    if failed {
        eprintln!(
            "error: DMC descriptions in {} do not load",
            directory.display()
        );
        return Err(ExitCode::from(BAD_INPUT));
    }
    Ok(dmcs)
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out)
            .with_context(|| format!("cannot create output directory {}", out.display()))?;
    }
    let mut unreadable = false;
    let mut unmapped_total = 0;
    for file in &args.files {
        let label = file.display().to_string();
        let xml = match std::fs::read_to_string(file) {
            Ok(xml) => xml,
            Err(error) => {
                eprintln!("{label}: cannot read: {error}");
                unreadable = true;
                continue;
            }
        };
        let imported = match duis::import(&label, &xml) {
            Ok(imported) => imported,
            Err(error) => {
                eprintln!("{error}");
                unreadable = true;
                continue;
            }
        };
        for mapping in &imported.requests {
            match mapping {
                duis::Mapping::Mapped(step) => eprintln!(
                    "{}: request {} -> step SRV {} {}",
                    step.header.location,
                    step.header.request_id,
                    step.srv.number(),
                    step.srv.title()
                ),
                duis::Mapping::Unmapped(unmapped) => {
                    unmapped_total += 1;
                    eprintln!(
                        "{}: request {} (SRV {}) not imported: {}",
                        unmapped.header.location,
                        unmapped.header.request_id,
                        unmapped.srv,
                        unmapped.reason
                    );
                }
            }
        }
        let text = imported.to_case_file();
        match &args.out {
            Some(out) => {
                let target = out.join(output_name(file));
                if target.exists() {
                    bail!(
                        "{} already exists; refusing to overwrite it",
                        target.display()
                    );
                }
                std::fs::write(&target, text)
                    .with_context(|| format!("cannot write {}", target.display()))?;
                eprintln!("wrote {}", target.display());
            }
            None => print!("{text}"),
        }
    }
    Ok(if unreadable {
        ExitCode::from(BAD_INPUT)
    } else if unmapped_total > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn output_name(file: &Path) -> PathBuf {
    let stem = file
        .file_stem()
        .map_or_else(|| "duis".into(), |stem| stem.to_os_string());
    PathBuf::from(stem).with_extension("toml")
}
