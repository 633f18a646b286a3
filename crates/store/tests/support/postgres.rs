//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary directory owned by the
//! `postgres` user, `pg_ctl start` on a free loopback port, one fresh database per test, stopped
//! (and its directory removed) when the test process exits.
//!
//! Missing PostgreSQL is installed with `.ci/postgres` (as CI does); if that fails, the test fails
//! loudly (never skips).
#![allow(dead_code, clippy::expect_used, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DB: AtomicU32 = AtomicU32::new(0);

/// The cluster of this test process, started on first use.
pub fn cluster() -> &'static Cluster {
    CLUSTER.get_or_init(Cluster::start)
}

/// A URL to a new, empty database on the test cluster.
pub fn fresh_database() -> String {
    let cluster = cluster();
    let name = format!(
        "meterlab_{}_{}",
        std::process::id(),
        NEXT_DB.fetch_add(1, Ordering::Relaxed)
    );
    cluster.psql(&format!("CREATE DATABASE {name}"));
    cluster.url(&name)
}

fn find_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("METERLAB_PG_BIN") {
        return Some(PathBuf::from(bin));
    }
    let mut bins: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    bins.sort();
    bins.pop().map(|(_, bin)| bin)
}

/// Runs `.ci/postgres` (installs Debian's `postgresql` when root and missing; prints the bin
/// directory last), so `cargo test --workspace` works on a fresh machine as CI does.
fn install_with_ci_script() -> Option<PathBuf> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.ci/postgres");
    let output = Command::new("bash").arg(&script).output().ok()?;
    if !output.status.success() {
        eprintln!(
            "{} failed ({}):\n{}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        return None;
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let bin = PathBuf::from(stdout.lines().last()?.trim());
    bin.join("initdb").exists().then_some(bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Cluster {
    fn start() -> Cluster {
        let Some(bin) = find_bin().or_else(install_with_ci_script) else {
            panic!(
                "\n\n*** PostgreSQL is not installed: the store's PostgreSQL tests cannot run. ***\n\
                 `.ci/postgres` could not install it (Debian's `postgresql` package); install it, or point \
                 METERLAB_PG_BIN at a directory holding initdb and pg_ctl.\n\
                 These tests fail rather than skip (CI={}).\n",
                std::env::var("CI").unwrap_or_default()
            );
        };
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("meterlab-pg-")
            .tempdir()
            .expect("create the cluster's temporary directory")
            .keep();
        if as_postgres {
            // initdb refuses to run as root; the cluster belongs to the `postgres` user.
            run(Command::new("chown").arg("postgres:postgres").arg(&dir));
        }
        let cluster = Cluster {
            bin,
            dir,
            port: free_port(),
            as_postgres,
        };
        cluster.watch_parent();
        let data = cluster.data();
        run(cluster
            .pg_command("initdb")
            .args([
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
                "-D",
            ])
            .arg(&data));
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on",
            cluster.port,
            cluster.dir.display()
        );
        run(cluster
            .pg_command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(cluster.dir.join("server.log"))
            .args(["-o", &options]));
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Stops the server and removes its directory once this test process has gone, however it
    /// ends (statics are never dropped, and a panicking test must not leak a server).
    // The watchdog must outlive this process, so it is deliberately never waited for.
    #[allow(clippy::zombie_processes)]
    fn watch_parent(&self) {
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             {ctl} stop -D {data} -m immediate >/dev/null 2>&1; rm -rf {dir}",
            pid = std::process::id(),
            ctl = self.run_as(&self.bin.join("pg_ctl")),
            data = self.data().display(),
            dir = self.dir.display(),
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster watchdog");
    }

    fn run_as(&self, program: &Path) -> String {
        if self.as_postgres {
            format!("runuser -u postgres -- {}", program.display())
        } else {
            program.display().to_string()
        }
    }

    fn pg_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd.current_dir(&self.dir);
            cmd
        } else {
            Command::new(path)
        }
    }

    /// Runs SQL as the superuser in the `postgres` database; panics if it fails.
    pub fn psql(&self, sql: &str) {
        self.psql_in("postgres", sql);
    }

    /// Runs SQL as the superuser in `database`; panics if it fails.
    pub fn psql_in(&self, database: &str, sql: &str) {
        self.query_in(database, sql);
    }

    /// Runs SQL in `database` and returns its unaligned, tuples-only output.
    pub fn query_in(&self, database: &str, sql: &str) -> String {
        let mut cmd = self.pg_command("psql");
        cmd.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .args([
            "-U",
            "postgres",
            "-p",
            &self.port.to_string(),
            "-d",
            database,
        ])
        .args(["-c", sql]);
        run(&mut cmd).trim().to_owned()
    }

    /// Stops the server at once (as a crash would).
    pub fn stop_immediate(&self) {
        run(self
            .pg_command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(self.data()));
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

fn run(cmd: &mut Command) -> String {
    let output = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        output.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
