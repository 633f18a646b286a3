//! The crate boundaries ARCHITECTURE.md states, checked against `cargo metadata`: a crate's
//! normal dependencies, followed transitively (dev- and build-dependencies, and what a
//! procedural macro uses to run, are not linked into it and do not count), must not include what
//! its row of the rules table forbids.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use serde_json::Value;

/// (crate, what it must never depend on, why).
const RULES: &[(&str, &[&str], &str)] = &[
    (
        "meterlab-governance",
        &[
            "tokio",
            "mio",
            "prost",
            "prost-types",
            "tonic",
            "rusqlite",
            "anyhow",
            "minijinja",
        ],
        "the governance engine is pure: no I/O, no tokio, no protobuf",
    ),
    (
        "meterlab-report",
        &[
            "meterlab-server",
            "meterlab-store",
            "tonic",
            "rusqlite",
            "anyhow",
        ],
        "reports render plain data: callers read the log, over gRPC or from a store",
    ),
    (
        "meterlab-dlms",
        &[
            "tokio",
            "mio",
            "socket2",
            "tokio-serial",
            "serialport",
            "nix",
            "rusqlite",
            "hyper",
            "tonic",
            "anyhow",
        ],
        "the DLMS stack is sans-IO (and builds for wasm32)",
    ),
    (
        "meterlab-iec62056-21",
        &[
            "tokio",
            "mio",
            "socket2",
            "tokio-serial",
            "serialport",
            "nix",
            "meterlab-plugin",
            "meterlab-emulator",
            "anyhow",
        ],
        "the IEC 62056-21 codec is sans-IO, shared by the adapter plugin and the emulator",
    ),
    (
        "meterlab-iec62056-21-adapter",
        &[
            "tokio",
            "mio",
            "tokio-serial",
            "meterlab-plugin-host",
            "meterlab-emulator",
            "meterlab-link",
            "anyhow",
        ],
        "an adapter plugin is sans-IO: plugin ABI, protocol crate and DMC descriptions only",
    ),
    (
        "meterlab-store",
        &["meterlab-governance", "meterlab-server", "tonic", "anyhow"],
        "payloads are opaque to the store; anyhow stays in binaries",
    ),
    (
        "meterlab-emulator",
        &["meterlab-plugin-host", "meterlab-server", "anyhow"],
        "the emulator is a device, not a lab",
    ),
    (
        "meterlab-runner",
        &["meterlab-server", "meterlab-store", "anyhow"],
        "the runner reports through the public API only",
    ),
    (
        "meterlab-client",
        &["meterlab-server", "meterlab-store", "rusqlite", "anyhow"],
        "the client speaks the public API only, as a remote lab tool would",
    ),
    (
        "meterlab-plugin-host",
        &["meterlab-server", "meterlab-runner", "anyhow"],
        "the host knows plugins, not who drives them",
    ),
    (
        "meterlab-server",
        &["meterlab", "anyhow"],
        "the gateway is a library the CLI drives; anyhow stays in binaries",
    ),
    (
        "meterlab-devices",
        &["tokio", "mio", "tonic", "meterlab-runner", "anyhow"],
        "the devices file is pure data and validation",
    ),
    (
        "meterlab-plugin",
        &["tokio", "tonic", "anyhow"],
        "the plugin ABI is runtime-free",
    ),
    (
        "meterlab-plugin-worker",
        &["meterlab-server", "meterlab-runner", "tonic", "anyhow"],
        "the worker is a small shell around the host's loader",
    ),
    (
        "fixture-segfault",
        &["meterlab-plugin-host", "tokio", "anyhow"],
        "a fixture plugin is built on meterlab-plugin alone",
    ),
    (
        "fixture-abort",
        &["meterlab-plugin-host", "tokio", "anyhow"],
        "a fixture plugin is built on meterlab-plugin alone",
    ),
    (
        "fixture-spin",
        &["meterlab-plugin-host", "tokio", "anyhow"],
        "a fixture plugin is built on meterlab-plugin alone",
    ),
    (
        "fixture-leak",
        &["meterlab-plugin-host", "tokio", "anyhow"],
        "a fixture plugin is built on meterlab-plugin alone",
    ),
    (
        "meterlab-dmc",
        &["tokio", "anyhow"],
        "DMC descriptions are pure data",
    ),
    (
        "meterlab-proto",
        &[
            "meterlab-plugin",
            "meterlab-plugin-host",
            "meterlab-dlms",
            "meterlab-governance",
            "meterlab-store",
            "meterlab-server",
            "meterlab-emulator",
        ],
        "edge types depend on no meterlab crate",
    ),
];

/// Normal-dependency edges of the resolved workspace graph, by package name.
#[derive(Debug, Default)]
struct Graph {
    edges: HashMap<String, BTreeSet<String>>,
    /// Procedural macros: they run in the compiler, their dependencies are not linked.
    proc_macros: BTreeSet<String>,
}

impl Graph {
    fn from_metadata(metadata: &Value) -> Self {
        let names: HashMap<&str, &str> = metadata["packages"]
            .as_array()
            .expect("packages")
            .iter()
            .map(|package| {
                (
                    package["id"].as_str().expect("package id"),
                    package["name"].as_str().expect("package name"),
                )
            })
            .collect();
        let mut graph = Self::default();
        for package in metadata["packages"].as_array().expect("packages") {
            let proc_macro = package["targets"].as_array().is_some_and(|targets| {
                targets.iter().any(|target| {
                    target["kind"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|kind| kind == "proc-macro"))
                })
            });
            if proc_macro {
                graph
                    .proc_macros
                    .insert(package["name"].as_str().expect("package name").to_owned());
            }
        }
        for node in metadata["resolve"]["nodes"].as_array().expect("nodes") {
            let name = names[node["id"].as_str().expect("node id")];
            let deps = graph.edges.entry(name.to_owned()).or_default();
            for dep in node["deps"].as_array().expect("deps") {
                let normal = dep["dep_kinds"]
                    .as_array()
                    .expect("dep_kinds")
                    .iter()
                    .any(|kind| kind["kind"].is_null());
                if normal {
                    deps.insert(names[dep["pkg"].as_str().expect("dep pkg")].to_owned());
                }
            }
        }
        graph
    }

    /// Every crate `name` links, directly or not.
    fn closure(&self, name: &str) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![name.to_owned()];
        while let Some(next) = stack.pop() {
            for dep in self.edges.get(&next).into_iter().flatten() {
                if seen.insert(dep.clone()) && !self.proc_macros.contains(dep) {
                    stack.push(dep.clone());
                }
            }
        }
        seen
    }

    /// One line per broken rule; crates absent from the graph have nothing to break.
    fn violations(&self, rules: &[(&str, &[&str], &str)]) -> Vec<String> {
        let mut found = Vec::new();
        for (krate, forbidden, why) in rules {
            if !self.edges.contains_key(*krate) {
                continue;
            }
            let linked = self.closure(krate);
            for banned in forbidden.iter().filter(|banned| linked.contains(**banned)) {
                found.push(format!("{krate} depends on {banned} ({why})"));
            }
        }
        found
    }
}

/// The platform this is built on (`host:` of `rustc -vV`): the graph is resolved for it, so
/// dependencies only other platforms use neither count nor need downloading.
fn host_triple() -> String {
    let output = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("rustc -vV runs");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_owned()
}

fn workspace_metadata() -> Value {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .arg("--filter-platform")
        .arg(host_triple())
        .arg("--manifest-path")
        .arg(root)
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON")
}

#[test]
fn no_crate_depends_on_what_architecture_md_forbids() {
    let graph = Graph::from_metadata(&workspace_metadata());
    // The rules must bite: the crates they are about are in this workspace.
    for present in ["meterlab-governance", "meterlab-dlms", "meterlab-store"] {
        assert!(graph.edges.contains_key(present), "{present} not found");
    }
    let violations = graph.violations(RULES);
    assert!(violations.is_empty(), "{}", violations.join("\n"));
}

#[test]
fn only_binaries_depend_on_anyhow() {
    let graph = Graph::from_metadata(&workspace_metadata());
    // meterlab-e2e builds the `meterlab` program as its own binary for the end-to-end tests.
    let binaries = ["meterlab", "meterlab-store-ingestd", "meterlab-e2e"];
    let offenders: Vec<&String> = graph
        .edges
        .keys()
        .filter(|name| name.starts_with("meterlab-") && !binaries.contains(&name.as_str()))
        .filter(|name| graph.closure(name).contains("anyhow"))
        .collect();
    assert!(
        offenders.is_empty(),
        "libraries using anyhow: {offenders:?}"
    );
}

#[test]
fn only_the_end_to_end_crate_depends_on_the_command_line() {
    let graph = Graph::from_metadata(&workspace_metadata());
    let dependants: Vec<&String> = graph
        .edges
        .iter()
        .filter(|(_, deps)| deps.contains("meterlab"))
        .map(|(name, _)| name)
        .collect();
    assert_eq!(
        dependants,
        ["meterlab-e2e"],
        "crates depending on `meterlab`"
    );
}

/// The checker itself: a transitive forbidden dependency is found; a dev-dependency and what a
/// procedural macro depends on are not.
#[test]
fn a_transitive_forbidden_dependency_is_reported_and_build_time_ones_are_not() {
    let metadata = serde_json::json!({
        "packages": [
            {"id": "g", "name": "meterlab-governance"},
            {"id": "h", "name": "helper"},
            {"id": "t", "name": "tokio"},
            {"id": "p", "name": "prost"},
            {"id": "m", "name": "derive", "targets": [{"kind": ["proc-macro"]}]},
            {"id": "a", "name": "anyhow"},
        ],
        "resolve": {"nodes": [
            {"id": "g", "deps": [
                {"pkg": "h", "dep_kinds": [{"kind": null, "target": null}]},
                {"pkg": "p", "dep_kinds": [{"kind": "dev", "target": null}]},
                {"pkg": "m", "dep_kinds": [{"kind": null, "target": null}]},
            ]},
            {"id": "m", "deps": [{"pkg": "a", "dep_kinds": [{"kind": null, "target": null}]}]},
            {"id": "a", "deps": []},
            {"id": "h", "deps": [{"pkg": "t", "dep_kinds": [{"kind": null, "target": null}]}]},
            {"id": "t", "deps": []},
            {"id": "p", "deps": []},
        ]},
    });
    let graph = Graph::from_metadata(&metadata);
    assert_eq!(
        graph.violations(RULES),
        [
            "meterlab-governance depends on tokio (the governance engine is pure: no I/O, no tokio, no protobuf)"
        ]
    );
}
