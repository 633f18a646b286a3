//! The real `meterlab` binary, secured: `dev-certs`, `token hash`, `serve --config` with TLS,
//! mutual TLS and bearer tokens, a remote client (`meterlab issues`) with `--ca`, `--cert`,
//! `--key`, `--token-file`; refusal of a non-loopback address without TLS; secret files that
//! others may read are refused; and no secret ever appears in the output at trace level.

use std::io::{BufRead, BufReader, Read as _};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn meterlab() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_meterlab-e2e"));
    command
        .env("RUST_LOG", "trace")
        .env("METERLAB_LOG", "trace");
    for var in [
        "METERLAB_CA",
        "METERLAB_CERT",
        "METERLAB_KEY",
        "METERLAB_TOKEN_FILE",
    ] {
        command.env_remove(var);
    }
    command
}

fn profile_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../suites/profiles/illustrative.toml")
}

fn run(command: &mut Command) -> Output {
    command.output().expect("meterlab runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("file exists")
        .permissions()
        .mode()
        & 0o777
}

/// Starts `meterlab serve --config`; returns it, its address and a thread collecting stderr.
fn serve(config: &Path) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = meterlab()
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let logs = std::thread::spawn(move || {
        let mut all = String::new();
        let _ = stderr.read_to_string(&mut all);
        all
    });
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let addr = line
        .trim()
        .strip_prefix("meterlab serve: listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    std::thread::spawn(move || for _ in stdout.lines() {});
    (child, addr, logs)
}

#[test]
fn a_tls_gateway_admits_tokens_and_client_certificates_and_never_logs_a_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let d = dir.path();

    let certs = run(meterlab()
        .args(["dev-certs"])
        .arg(d.join("certs"))
        .args(["--client", "ci-runner"]));
    assert!(certs.status.success(), "{}", text(&certs));
    assert_eq!(mode(&d.join("certs/server.key")), 0o600);
    assert_eq!(mode(&d.join("certs/ci-runner.key")), 0o600);
    assert!(
        !d.join("certs/ca.key").exists(),
        "the CA key must not be written"
    );

    let token_file = d.join("viewer.token");
    let hashed = run(meterlab().args(["token", "hash", "--out"]).arg(&token_file));
    assert!(hashed.status.success(), "{}", text(&hashed));
    let hash_line = String::from_utf8_lossy(&hashed.stdout).trim().to_owned();
    assert!(hash_line.starts_with("token_sha256 = \""), "{hash_line}");
    assert_eq!(mode(&token_file), 0o600);
    let token = std::fs::read_to_string(&token_file)
        .expect("token")
        .trim()
        .to_owned();
    assert!(
        !hash_line.contains(&token),
        "the token must not be printed with --out"
    );

    let config = d.join("serve.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:0\"\ndb = \"lab.sqlite\"\nprofile = \"{}\"\n\
             [tls]\ncert = \"certs/server.pem\"\nkey = \"certs/server.key\"\nclient_ca = \"certs/ca.pem\"\n\
             [[principal]]\nname = \"vera\"\nrole = \"viewer\"\n{hash_line}\n\
             [[principal]]\nname = \"ci\"\nrole = \"engineer\"\nsubject_cn = \"ci-runner\"\n",
            profile_file().display()
        ),
    )
    .expect("config written");
    let (mut server, addr, logs) = serve(&config);
    let port = addr.rsplit(':').next().expect("port");
    let url = format!("https://localhost:{port}");
    let ca = d.join("certs/ca.pem");

    let mut client_output = String::new();
    let with_token = run(meterlab()
        .args(["issues", "list", "--gateway", &url, "--ca"])
        .arg(&ca)
        .arg("--token-file")
        .arg(&token_file));
    client_output += &text(&with_token);
    assert!(with_token.status.success(), "{}", text(&with_token));
    assert!(String::from_utf8_lossy(&with_token.stdout).contains("0 issue(s)"));

    let from_env = run(meterlab()
        .args(["issues", "list", "--gateway", &url])
        .env("METERLAB_CA", &ca)
        .env("METERLAB_CERT", d.join("certs/ci-runner.pem"))
        .env("METERLAB_KEY", d.join("certs/ci-runner.key")));
    client_output += &text(&from_env);
    assert!(
        from_env.status.success(),
        "mTLS from env: {}",
        text(&from_env)
    );

    let anonymous = run(meterlab()
        .args(["issues", "list", "--gateway", &url, "--ca"])
        .arg(&ca));
    assert!(!anonymous.status.success());
    assert!(
        text(&anonymous).contains("Unauthenticated"),
        "{}",
        text(&anonymous)
    );

    let plaintext = run(meterlab()
        .args(["issues", "list", "--gateway", &format!("http://{addr}")])
        .arg("--token-file")
        .arg(&token_file));
    client_output += &text(&plaintext);
    assert!(
        !plaintext.status.success(),
        "plaintext reached a TLS gateway"
    );

    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let open_token = run(meterlab()
        .args(["issues", "list", "--gateway", &url, "--ca"])
        .arg(&ca)
        .arg("--token-file")
        .arg(&token_file));
    assert!(!open_token.status.success());
    assert!(
        text(&open_token).contains("chmod 600"),
        "{}",
        text(&open_token)
    );

    server.kill().expect("kill serve");
    let _ = server.wait();
    let server_logs = logs.join().expect("logs");
    assert!(
        server_logs.contains("request authorised"),
        "trace logging was not on"
    );
    let key = std::fs::read_to_string(d.join("certs/server.key")).expect("key");
    let key_body = key.lines().nth(1).expect("key body line");
    for (what, output) in [("server", &server_logs), ("client", &client_output)] {
        assert!(
            !output.contains(&token),
            "the token appears in the {what} output"
        );
        assert!(
            !output.contains(key_body),
            "the server key appears in the {what} output"
        );
    }
}

#[test]
fn serve_refuses_a_non_loopback_address_without_tls_unless_insecure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let refused = run(meterlab()
        .args(["serve", "--listen", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("lab.sqlite"))
        .arg("--profile")
        .arg(profile_file()));
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let message: Vec<&str> = stderr.lines().filter(|l| l.contains("refusing")).collect();
    assert_eq!(message.len(), 1, "{stderr}");
    assert!(
        message[0].contains("without TLS") && message[0].contains("--insecure"),
        "{stderr}"
    );
    assert!(
        !dir.path().join("lab.sqlite").exists(),
        "nothing is opened when refused"
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[principal]]\nname = \"x\"\nrole = \"boss\"\n").expect("write");
    let invalid = run(meterlab().args(["serve", "--config"]).arg(&bad));
    assert!(!invalid.status.success());
    let stderr = String::from_utf8_lossy(&invalid.stderr);
    assert!(
        stderr.contains("bad.toml:1:1:") && stderr.contains("bad.toml:3:8: unknown role"),
        "{stderr}"
    );
}

#[test]
fn serve_insecure_on_a_non_loopback_address_starts_with_one_warning_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = meterlab()
        .args(["serve", "--insecure", "--listen", "0.0.0.0:0", "--db"])
        .arg(dir.path().join("lab.sqlite"))
        .arg("--profile")
        .arg(profile_file())
        .env("METERLAB_LOG", "warn")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("serve starts");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    assert!(
        line.starts_with("meterlab serve: listening on 0.0.0.0:"),
        "{line:?}"
    );
    child.kill().expect("kill serve");
    let _ = child.wait();
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr read");
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("--insecure"))
        .collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains("without TLS"), "{stderr}");
}
