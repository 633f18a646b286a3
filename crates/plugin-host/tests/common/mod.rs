//! Finds the fixture plugins' `.so` files for the running test (or bench). The fixtures are
//! dev-dependencies (crate-type cdylib + rlib), so cargo has built them into `<profile>/deps`
//! together with the test, with the same features; a test binary without them builds them
//! with the same cargo, target directory and profile, so `cargo test` on a fresh clone always
//! loads real libraries.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const FIXTURES: [&str; 9] = [
    "fixture-echo",
    "fixture-panic",
    "fixture-wrong-abi",
    "fixture-garbage",
    "fixture-no-symbol",
    "fixture-segfault",
    "fixture-abort",
    "fixture-spin",
    "fixture-leak",
];

/// The worker executable for `isolation = "process"`, from the same target directory and
/// profile as this test. `cargo test --workspace` has already built it with the workspace's
/// features (plugin-worker's own integration test needs it), after the libraries it links, so
/// a worker newer than those libraries is taken as it is. Otherwise (e.g. `cargo test -p
/// meterlab-plugin-host` after an edit) the harness asks cargo for it: a dev-dependency cannot
/// build another package's binary. Never a stale worker.
pub fn worker_path() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let file = format!("meterlab-plugin-worker{}", std::env::consts::EXE_SUFFIX);
        if let Some(path) = profile_dir()
            .map(|dir| dir.join(&file))
            .filter(|path| newer_than_what_it_links(path))
        {
            return path;
        }
        let path = cargo_build(&["meterlab-plugin-worker"]).join(&file);
        assert!(path.is_file(), "cargo built no {}", path.display());
        path
    })
}

/// Whether `worker` exists and was linked after every build of the libraries it is made of
/// (plugin protocol, host, worker) that sits in `<profile>/deps`, and after the last edit of
/// the worker's sources.
fn newer_than_what_it_links(worker: &Path) -> bool {
    let modified = |path: &Path| path.metadata().and_then(|meta| meta.modified()).ok();
    let Some(linked) = modified(worker) else {
        return false;
    };
    let Some(deps) = worker.parent().map(|dir| dir.join("deps")) else {
        return false;
    };
    let Ok(entries) = std::fs::read_dir(&deps) else {
        return false;
    };
    let parts = [
        "libmeterlab_plugin-",
        "libmeterlab_plugin_host-",
        "libmeterlab_plugin_worker-",
    ];
    let mut newest_part = None;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".rlib") && parts.iter().any(|part| name.starts_with(part)) {
            newest_part = newest_part.max(modified(&entry.path()));
        }
    }
    // The worker's own sources: a `cargo test -p meterlab-plugin-host` does not rebuild it.
    // This file is also included by the end-to-end crate (`tests/`), one level higher up.
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(worker_crate) = ["../plugin-worker", "../crates/plugin-worker"]
        .iter()
        .map(|relative| manifest_dir.join(relative))
        .find(|dir| dir.join("Cargo.toml").is_file())
    else {
        return false;
    };
    let mut sources = vec![worker_crate.join("Cargo.toml")];
    if let Ok(entries) = std::fs::read_dir(worker_crate.join("src")) {
        sources.extend(entries.flatten().map(|entry| entry.path()));
    }
    let edited_since = sources
        .iter()
        .any(|source| modified(source).is_none_or(|edited| edited > linked));
    !edited_since && newest_part.is_some_and(|part| part <= linked)
}

/// `<target-dir>[/<triple>]/<profile>`: the directory above this test executable's `deps`.
fn profile_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_owned())
}

/// The directory holding the built fixture libraries.
pub fn fixture_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| built_as_dependencies().unwrap_or_else(build_fixtures))
}

/// `<profile>/deps`, where cargo puts the fixtures it built as this test's dev-dependencies.
fn built_as_dependencies() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let deps = exe.parent()?.to_owned();
    FIXTURES
        .iter()
        .all(|fixture| deps.join(fixture_file(fixture)).is_file())
        .then_some(deps)
}

/// The file name of a fixture's library, e.g. `libfixture_echo.so`.
pub fn fixture_file(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

pub fn fixture_path(name: &str) -> PathBuf {
    fixture_dir().join(fixture_file(name))
}

fn build_fixtures() -> PathBuf {
    let profile_dir = cargo_build(&FIXTURES);
    for fixture in FIXTURES {
        let path = profile_dir.join(fixture_file(fixture));
        assert!(path.exists(), "cargo built no {}", path.display());
    }
    profile_dir
}

/// Builds `packages` into this test's target directory and profile; returns the profile dir.
fn cargo_build(packages: &[&str]) -> PathBuf {
    // The test executable lives in <target-dir>[/<triple>]/<profile-dir>/deps/.
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable is inside <profile>/deps")
        .to_owned();
    let mut target_dir = profile_dir
        .parent()
        .expect("profile dir has a parent")
        .to_owned();
    let mut command = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    command.current_dir(env!("CARGO_MANIFEST_DIR")).arg("build");
    // Cargo marks the root of a target directory with CACHEDIR.TAG; without it here, the
    // level above is a `--target <triple>` directory.
    if !target_dir.join("CACHEDIR.TAG").exists()
        && let Some(root) = target_dir
            .parent()
            .filter(|root| root.join("CACHEDIR.TAG").exists())
    {
        let triple = target_dir.file_name().expect("triple dir").to_owned();
        command.arg("--target").arg(triple);
        target_dir = root.to_owned();
    }
    match profile_dir.file_name().and_then(|name| name.to_str()) {
        Some("debug") => {}
        Some("release") => {
            command.arg("--release");
        }
        Some(other) => {
            command.args(["--profile", other]);
        }
        None => panic!(
            "cannot tell the cargo profile from {}",
            profile_dir.display()
        ),
    }
    for package in packages {
        command.args(["-p", package]);
    }
    command.arg("--target-dir").arg(&target_dir);
    let status = command.status().expect("run cargo to build test artefacts");
    assert!(
        status.success(),
        "building {packages:?} failed: {command:?}"
    );
    profile_dir
}
