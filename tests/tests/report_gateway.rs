//! `meterlab report --gateway URL --bundle` on the real binary: a sealed evidence bundle made
//! from `meterlab serve`'s ExportResults holds exactly what the bundle of the same store made
//! locally holds (the time of writing aside), `report verify` accepts it, as a directory and as
//! one zip; a caller without credentials is refused and gets no bundle.

mod cli_support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output};

use cli_support::{meterlab, repo, text};

const ENTRY: &str = "MOC/smso-north/acme-ch1-e470-g4";

fn run(command: &mut Command) -> Output {
    command.output().expect("meterlab runs")
}

/// `meterlab serve --config` over `db` with one viewer token; returns it and its address.
fn serve(dir: &Path, db: &Path, token_hash_line: &str) -> (Child, String) {
    let config = dir.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndb = \"{}\"\nprofile = \"{}\"\n\
             [[principal]]\nname = \"vera\"\nrole = \"viewer\"\n{token_hash_line}\n",
            db.display(),
            repo("suites/profiles/illustrative.toml").display()
        ),
    )
    .expect("config written");
    cli_support::serve(&config)
}

/// Every file of a bundle directory by its path inside it.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path
                    .strip_prefix(root)
                    .expect("inside")
                    .to_string_lossy()
                    .into_owned();
                out.insert(name, std::fs::read(&path).expect("readable"));
            }
        }
    }
    out
}

/// A report document without the time it was written (the one thing two renderings of the same
/// log differ in): the whole-second RFC 3339 stamp after each marker the templates write.
fn without_generated_at(name: &str, bytes: &[u8]) -> String {
    let mut text = String::from_utf8(bytes.to_vec()).unwrap_or_else(|_| panic!("{name} is UTF-8"));
    let mut redacted = 0;
    for marker in [
        "Generated: ",
        "<span class=\"generated\">",
        "\"generated_at\": \"",
        "\"generated_at\":\"",
    ] {
        let mut from = 0;
        while let Some(found) = text[from..].find(marker) {
            let at = from + found + marker.len();
            let stamp = text.get(at..at + 20).unwrap_or_default();
            let shaped = stamp.len() == 20 && stamp.as_bytes()[10] == b'T' && stamp.ends_with('Z');
            // The HTML's "Generated: " label is followed by its span marker, not the stamp.
            if shaped {
                text.replace_range(at..at + 20, "<generated-at-stamp>");
                redacted += 1;
            }
            from = at;
        }
    }
    assert!(redacted > 0, "{name} names no time of writing");
    text
}

#[test]
fn a_bundle_from_a_gateway_equals_the_bundle_of_its_store() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();
    let demo_dir = d.join("demo");
    let demo = run(meterlab()
        .args(["demo", "--phase", "mt.active", "--log", "error", "--dir"])
        .arg(&demo_dir));
    assert!(demo.status.success(), "{}", text(&demo));
    let db = demo_dir.join("meterlab.sqlite");
    let evidence = demo_dir.join("evidence");

    let token_file = d.join("vera.token");
    let hashed = run(meterlab().args(["token", "hash", "--out"]).arg(&token_file));
    assert!(hashed.status.success(), "{}", text(&hashed));
    let hash_line = String::from_utf8_lossy(&hashed.stdout).trim().to_owned();
    let (mut server, addr) = serve(d, &db, &hash_line);
    let url = format!("http://{addr}");

    // Without credentials: refused, and nothing is written.
    let refused_bundle = d.join("refused");
    let anonymous = run(meterlab()
        .args(["report", "--gateway", &url, "--entry", ENTRY, "--bundle"])
        .arg(&refused_bundle)
        .args(["--out"])
        .arg(d.join("refused.md")));
    assert_eq!(anonymous.status.code(), Some(1), "{}", text(&anonymous));
    assert!(
        text(&anonymous).contains("ExportResults: Unauthenticated"),
        "{}",
        text(&anonymous)
    );
    assert!(!refused_bundle.exists() && !d.join("refused.md").exists());

    let remote = d.join("remote");
    let exported = run(meterlab()
        .args([
            "report",
            "--gateway",
            &url,
            "--entry",
            ENTRY,
            "--token-file",
        ])
        .arg(&token_file)
        .arg("--bundle")
        .arg(&remote)
        .arg("--evidence")
        .arg(&evidence)
        .arg("--out")
        .arg(d.join("remote.md")));
    assert!(exported.status.success(), "{}", text(&exported));
    let said = text(&exported);
    assert!(said.contains("snapshot at log position "), "{said}");

    // The same store, bundled locally while the gateway serves it (nothing writes meanwhile).
    let local = d.join("local");
    let made = run(meterlab()
        .args(["report", "--db"])
        .arg(&db)
        .args(["--entry", ENTRY, "--bundle"])
        .arg(&local)
        .arg("--evidence")
        .arg(&evidence)
        .arg("--out")
        .arg(d.join("local.md")));
    assert!(made.status.success(), "{}", text(&made));

    for bundle in [&remote, &local] {
        let verified = run(meterlab().arg("report").arg("verify").arg(bundle));
        assert!(verified.status.success(), "{}", text(&verified));
    }
    let remote_files = files(&remote);
    let local_files = files(&local);
    assert_eq!(
        remote_files.keys().collect::<Vec<_>>(),
        local_files.keys().collect::<Vec<_>>(),
        "the two bundles hold different files"
    );
    let steps = remote_files
        .keys()
        .filter(|name| name.starts_with("steps/"))
        .count();
    assert!(steps > 0, "no step logs: {:?}", remote_files.keys());
    for (name, bytes) in &remote_files {
        let theirs = &local_files[name];
        if name.starts_with("report.") {
            assert_eq!(
                without_generated_at(name, bytes),
                without_generated_at(name, theirs),
                "{name} differs"
            );
        } else if name != "manifest.sha256" && name != "MANIFEST.sha256" {
            assert_eq!(bytes, theirs, "{name} differs");
        }
    }
    // The report written with --out is the bundle's.
    assert_eq!(
        std::fs::read(d.join("remote.md")).expect("report"),
        remote_files["report.md"]
    );

    // As one zip, verified the same way.
    let zipped = d.join("remote.zip");
    let exported = run(meterlab()
        .args([
            "report",
            "--gateway",
            &url,
            "--entry",
            ENTRY,
            "--token-file",
        ])
        .arg(&token_file)
        .arg("--bundle")
        .arg(&zipped)
        .arg("--evidence")
        .arg(&evidence)
        .arg("--out")
        .arg(d.join("remote-2.md")));
    assert!(exported.status.success(), "{}", text(&exported));
    let verified = run(meterlab().arg("report").arg("verify").arg(&zipped));
    assert!(verified.status.success(), "{}", text(&verified));

    // An entry the gateway does not know is refused by name.
    let unknown = run(meterlab()
        .args([
            "report",
            "--gateway",
            &url,
            "--entry",
            "MOC/smso-north/no-such-dmc",
            "--token-file",
        ])
        .arg(&token_file)
        .arg("--bundle")
        .arg(d.join("unknown")));
    assert_eq!(unknown.status.code(), Some(1), "{}", text(&unknown));
    assert!(
        text(&unknown).contains("planned entry MOC/smso-north/no-such-dmc is not registered"),
        "{}",
        text(&unknown)
    );
    server.kill().expect("kill serve");
    let _ = server.wait();
}
