//! The cluster under test: where it listens, connections (as any role, keeping NOTICEs), databases, its server log, PostgreSQL's programs, and clusters of a test's own.

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use tokio_postgres::{AsyncMessage, Client, NoTls};

/// Where a cluster listens (unix-socket directory and port).
#[derive(Clone, Debug)]
pub struct Target {
    pub host: String,
    pub port: String,
}

impl Target {
    /// The cluster started by pg_test/run.sh.
    pub fn from_env() -> Self {
        Target {
            host: std::env::var("CX_PGHOST").expect("CX_PGHOST: run through pg_test/run.sh"),
            port: std::env::var("CX_PGPORT").expect("CX_PGPORT: run through pg_test/run.sh"),
        }
    }
    pub fn conninfo(&self, user: &str, db: &str, application_name: &str) -> String {
        format!(
            "host={} port={} user={user} dbname={db} application_name={application_name}",
            self.host, self.port
        )
    }
    /// The server log of a cluster started by scripts/cluster.sh.
    pub fn server_log(&self) -> String {
        format!("{}/server.log", self.host)
    }
    /// A new connection to `db` as the superuser, with `extra` appended to
    /// the connection string (e.g. `options='-c name=value'`).
    pub async fn connect_with(&self, db: &str, extra: &str) -> Client {
        let conninfo = format!(
            "host={} port={} user=postgres dbname={db} {extra}",
            self.host, self.port
        );
        let (client, connection) = tokio_postgres::connect(&conninfo, NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {db} ({extra}): {e}"));
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
    }
}

/// A new connection to `db` of the run.sh cluster as the superuser.
pub async fn connect(db: &str) -> Client {
    Target::from_env().connect_with(db, "").await
}

/// [`connect`] with `extra` appended to the connection string.
pub async fn connect_with(db: &str, extra: &str) -> Client {
    Target::from_env().connect_with(db, extra).await
}

/// NOTICE (and WARNING) messages the server sent on one connection, in order.
#[derive(Clone, Default)]
pub struct Notices(Arc<Mutex<Vec<String>>>);

impl Notices {
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
    pub fn clear(&self) {
        self.0.lock().unwrap().clear();
    }
}

/// Connects as `user` and keeps every notice the server sends. The connection
/// task handles messages in arrival order, so a notice raised by a statement
/// is recorded before that statement's result reaches the caller.
pub async fn connect_as(
    target: &Target,
    user: &str,
    db: &str,
    application_name: &str,
) -> Result<(Client, Notices), tokio_postgres::Error> {
    let (client, mut connection) =
        tokio_postgres::connect(&target.conninfo(user, db, application_name), NoTls).await?;
    let notices = Notices::default();
    let sink = notices.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notice(n)) => {
                    let mut text = n.message().to_string();
                    if let Some(d) = n.detail() {
                        text.push_str(" DETAIL: ");
                        text.push_str(d);
                    }
                    sink.0.lock().unwrap().push(text);
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    Ok((client, notices))
}

/// The notifications (channel, payload) one connection received, in order.
#[derive(Clone, Default)]
pub struct Heard(Arc<Mutex<Vec<(String, String)>>>);

impl Heard {
    pub fn take(&self) -> Vec<(String, String)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// A new connection to `db` of the run.sh cluster as the superuser that keeps
/// every notification it receives (after `LISTEN`). Notifications reach a
/// client between statements: run one (`SELECT 1`) before reading them.
pub async fn connect_listening(db: &str) -> (Client, Heard) {
    let target = Target::from_env();
    let (client, mut connection) =
        tokio_postgres::connect(&target.conninfo("postgres", db, "cx_listener"), NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {db}: {e}"));
    let heard = Heard::default();
    let sink = heard.clone();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => sink
                    .0
                    .lock()
                    .unwrap()
                    .push((n.channel().to_string(), n.payload().to_string())),
                Ok(_) => {}
                Err(_) => break,
            }
        }
    });
    (client, heard)
}

/// Drops and recreates an empty database `db` (`options`: e.g. an ENCODING
/// clause) and returns the admin connection used.
pub async fn recreate_database(db: &str, options: &str) -> Client {
    let admin = recreate_database_on(&Target::from_env(), db, options).await;
    crate::citus::make_cluster_database(db, options).await;
    admin
}

/// [`recreate_database`] on the cluster `target` (a single server).
pub async fn recreate_database_on(target: &Target, db: &str, options: &str) -> Client {
    let admin = target.connect_with("postgres", "").await;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {db} {options}"))
        .await
        .unwrap();
    admin
}

/// The installed version of conversations_ext in the connected database.
pub async fn extension_version(c: &Client) -> Option<String> {
    c.query_opt(
        "SELECT extversion FROM pg_extension WHERE extname = 'conversations_ext'",
        &[],
    )
    .await
    .unwrap()
    .map(|r| r.get(0))
}

/// The version `CREATE EXTENSION conversations_ext` installs (the control
/// file's default_version): the version under test.
pub async fn default_version(c: &Client) -> String {
    c.query_one(
        "SELECT default_version FROM pg_available_extensions WHERE name = 'conversations_ext'",
        &[],
    )
    .await
    .expect("conversations_ext is not installed (make install)")
    .get(0)
}

/// Lines of a server log that show a crash: a backend killed by a signal
/// (the postmaster then restarts every backend), a PANIC, or a failed assertion.
pub fn crash_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            l.contains("terminated by signal")
                || l.contains("PANIC:")
                || l.contains("TRAP:")
                || l.contains("was terminated by exception")
                || l.contains("all server processes terminated; reinitializing")
        })
        .map(|l| l.to_string())
        .collect()
}

/// The checkout's scripts/ directory.
pub fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../scripts")
        .join(name)
}

/// PostgreSQL's programs: `CX_PG_BINDIR` (exported by pg_test/run.sh from
/// scripts/pg_env.sh, the one place that finds PostgreSQL), else what
/// `pg_config --bindir` says (`PG_CONFIG` names another pg_config).
pub fn pg_bindir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CX_PG_BINDIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let pg_config = std::env::var("PG_CONFIG").unwrap_or_else(|_| "pg_config".into());
    let out = Command::new(&pg_config)
        .arg("--bindir")
        .output()
        .unwrap_or_else(|e| panic!("{pg_config} --bindir: {e} (set CX_PG_BINDIR or PG_CONFIG)"));
    assert!(out.status.success(), "{pg_config} --bindir failed");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// `program` (a PostgreSQL program, from [`pg_bindir`]) run as the postgres
/// user from `/`, a directory postgres can always enter (the checkout may be
/// in a directory only root can read).
pub fn as_postgres(program: &str) -> Command {
    let mut cmd = Command::new("runuser");
    cmd.args(["-u", "postgres", "--"])
        .arg(pg_bindir().join(program))
        .current_dir("/");
    cmd
}

/// Runs `cmd`; panics unless it succeeds; returns its trimmed stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A cluster of a test's own (scripts/cluster.sh), stopped and removed when
/// dropped (also when the test panics).
pub struct OwnCluster {
    pub dir: String,
    pub target: Target,
    /// The installation it runs from (None: the one under test).
    pub pg_config: Option<String>,
}

impl OwnCluster {
    /// Starts a cluster in a new directory under /tmp named `prefix`.XXXXXX.
    pub fn start(prefix: &str) -> Self {
        Self::start_with(prefix, None)
    }

    /// [`OwnCluster::start`] from the installation of `pg_config` (None: the
    /// one under test).
    pub fn start_with(prefix: &str, pg_config: Option<&str>) -> Self {
        let dir = run(Command::new("mktemp").args(["-d", &format!("/tmp/{prefix}.XXXXXX")]));
        let cluster = OwnCluster {
            target: Target {
                host: dir.clone(),
                port: run(&mut Command::new(script("free_port.sh"))),
            },
            dir,
            pg_config: pg_config.map(str::to_owned),
        };
        cluster.start_again();
        cluster
    }

    /// scripts/cluster.sh with this cluster's installation.
    fn script(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(script("cluster.sh"));
        cmd.args(args);
        if let Some(pg_config) = &self.pg_config {
            cmd.env("PG_CONFIG", pg_config);
        }
        cmd
    }

    /// Starts the cluster (its data directory is `dir`/data; initdb when it has none).
    pub fn start_again(&self) {
        run(&mut self.script(&["start", &self.dir, &self.target.port]));
    }

    /// Stops the server and keeps the directory (fast shutdown).
    pub fn stop_only(&self) {
        let pg_ctl = match &self.pg_config {
            Some(pg_config) => PathBuf::from(run(Command::new(pg_config).arg("--bindir"))),
            None => pg_bindir(),
        }
        .join("pg_ctl");
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"])
            .arg(pg_ctl)
            .args([
                "-D",
                &format!("{}/data", self.dir),
                "-m",
                "fast",
                "-w",
                "stop",
            ])
            .current_dir("/");
        run(&mut cmd);
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.script(&["stop", &self.dir]).status();
    }
}

/// The major version of the PostgreSQL under test (`pg_config --version` of
/// [`pg_bindir`]).
pub fn pg_major() -> u32 {
    static MAJOR: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *MAJOR.get_or_init(|| {
        let version = run(Command::new(pg_bindir().join("pg_config")).arg("--version"));
        version
            .trim_start_matches("PostgreSQL ")
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or_else(|| panic!("pg_config --version: {version}"))
    })
}

/// `SET LOCAL`s that force a parallel plan wherever one is possible. The
/// setting was `force_parallel_mode` until PostgreSQL 15, and is
/// `debug_parallel_query` since 16.
pub fn force_parallel_settings() -> &'static str {
    if pg_major() >= 16 {
        "SET LOCAL debug_parallel_query = on; SET LOCAL parallel_setup_cost = 0; \
         SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0;"
    } else {
        "SET LOCAL force_parallel_mode = on; SET LOCAL parallel_setup_cost = 0; \
         SET LOCAL parallel_tuple_cost = 0; SET LOCAL min_parallel_table_scan_size = 0;"
    }
}
