//! Resolving connection settings the way libpq does, and opening connections (with TLS).
//!
//! Precedence, as `psql`: the command line's `-h -p -U -d`; then the connection string (`--dsn`,
//! else `DATABASE_URL`); then the connection service it or `PGSERVICE` names (`PGSERVICEFILE` or
//! `~/.pg_service.conf`, then `PGSYSCONFDIR/pg_service.conf`); then the libpq environment
//! (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, `PGSSLMODE`, ...); then libpq's
//! defaults, and the password file last. Every libpq key word is either honoured or refused by
//! name (the table in `pg::conninfo`); the ones tokio-postgres parses are handed to its
//! `Config: FromStr`, the others (TLS files and modes, services, password files, timeouts) are
//! pgdiag's.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config};

use super::Error;
use super::conninfo::{self, Support};

/// Default connect timeout when neither the DSN nor `PGCONNECT_TIMEOUT` sets one: a CLI that
/// hangs forever on a black-holed host is worse than libpq's "wait forever" default.
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How TLS is negotiated, with libpq's meaning for each `sslmode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, certificate not verified (libpq's default).
    Prefer,
    /// TLS or fail; certificate not verified unless a root certificate is given (libpq behaves
    /// like verify-ca then).
    Require,
    /// TLS, certificate chain verified against the root certificate; host name not checked.
    VerifyCa,
    /// TLS, chain and host name verified.
    VerifyFull,
}

impl FromStr for TlsMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "disable" => TlsMode::Disable,
            // `allow` means "plain first, TLS if the server insists"; servers that insist on TLS
            // accept a TLS attempt too, so prefer's order serves it.
            "allow" | "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(Error::Config(format!(
                    "invalid sslmode `{other}` (expected disable, allow, prefer, require, verify-ca or verify-full)"
                )));
            }
        })
    }
}

impl fmt::Display for TlsMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        })
    }
}

/// Where the connection settings came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnSource {
    Flag,
    DatabaseUrl,
    /// No connection string: `-h/-p/-U/-d` on the command line.
    HostFlags,
    Environment,
}

impl fmt::Display for DsnSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DsnSource::Flag => "--dsn",
            DsnSource::DatabaseUrl => "DATABASE_URL",
            DsnSource::HostFlags => "-h/-p/-U/-d",
            DsnSource::Environment => "PG* environment",
        })
    }
}

/// A connection string as the user gave it (`--dsn`), password included. `Debug` and `Display`
/// never show it (`<dsn>`), so argument structs can derive `Debug` safely; it derefs to the raw
/// text for [`ConnectionSettings::resolve`] only.
#[derive(Clone, PartialEq, Eq)]
pub struct Dsn(String);

impl Dsn {
    /// The raw text, password included; for parsing, never for messages.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Dsn {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<String> for Dsn {
    fn from(text: String) -> Self {
        Dsn(text)
    }
}

impl From<&str> for Dsn {
    fn from(text: &str) -> Self {
        Dsn(text.to_owned())
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<dsn>")
    }
}

impl fmt::Debug for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dsn(<redacted>)")
    }
}

/// Settings from the command line (psql's `-h -p -U -d`); they outrank the connection string,
/// the service file and the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub host: Option<String>,
    pub port: Option<String>,
    pub user: Option<String>,
    pub dbname: Option<String>,
}

impl Overrides {
    fn pairs(&self) -> [(&'static str, Option<&String>); 4] {
        [
            ("host", self.host.as_ref()),
            ("port", self.port.as_ref()),
            ("user", self.user.as_ref()),
            ("dbname", self.dbname.as_ref()),
        ]
    }

    fn is_empty(&self) -> bool {
        self.pairs().iter().all(|(_, v)| v.is_none())
    }
}

/// Where one setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Origin {
    Dsn(DsnSource),
    Flag,
    Service(PathBuf),
    Env(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Dsn(source) => write!(f, "{source}"),
            Origin::Flag => f.write_str("the command line"),
            Origin::Service(file) => write!(f, "service file \"{}\"", file.display()),
            Origin::Env(var) => f.write_str(var),
        }
    }
}

/// Where the server's certificate is checked against.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// No root certificate (the default `~/.postgresql/root.crt` absent).
    None,
    File(PathBuf),
    /// `sslrootcert=system`: the operating system's trust store.
    System,
}

/// A client certificate and its private key (`sslcert`, `sslkey`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ClientCert {
    cert: PathBuf,
    key: PathBuf,
}

/// Fully resolved connection settings. `Debug` never shows the password (tokio-postgres redacts
/// it in `Config`, and we hold it nowhere else).
#[derive(Clone)]
pub struct ConnectionSettings {
    config: Config,
    tls: TlsMode,
    roots: Roots,
    client_cert: Option<ClientCert>,
    source: DsnSource,
    warnings: Vec<String>,
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("target", &self.describe())
            .field("tls", &self.tls)
            .field("roots", &self.roots)
            .field("client_cert", &self.client_cert)
            .field("source", &self.source)
            .field(
                "password",
                &self.config.get_password().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The environment to read libpq variables from; a trait so tests can supply their own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl<F: Fn(&str) -> Option<String>> Env for F {
    fn var(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// The environment variables whose settings a connection string can outrank, for the note.
const OUTRANKED_VARS: &[(&str, &str)] = &[
    ("host", "PGHOST"),
    ("hostaddr", "PGHOSTADDR"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("dbname", "PGDATABASE"),
    ("password", "PGPASSWORD"),
    ("sslmode", "PGSSLMODE"),
];

type Params = BTreeMap<&'static str, (String, Origin)>;

impl ConnectionSettings {
    /// Resolve settings from an explicit DSN (`--dsn`), else `DATABASE_URL`, else the libpq
    /// environment alone.
    pub fn resolve(dsn: Option<&str>, env: &dyn Env) -> Result<Self, Error> {
        Self::resolve_with(dsn, &Overrides::default(), env)
    }

    /// [`ConnectionSettings::resolve`] with the command line's `-h -p -U -d` on top.
    pub fn resolve_with(
        dsn: Option<&str>,
        overrides: &Overrides,
        env: &dyn Env,
    ) -> Result<Self, Error> {
        let (text, source) = match dsn {
            Some(d) => (Some(d.to_owned()), DsnSource::Flag),
            None => match env.var("DATABASE_URL") {
                Some(u) => (Some(u), DsnSource::DatabaseUrl),
                None if !overrides.is_empty() => (None, DsnSource::HostFlags),
                None => (None, DsnSource::Environment),
            },
        };
        let mut params = Params::new();
        if let Some(text) = &text {
            let pairs = conninfo::split_conninfo(text).map_err(|msg| invalid_dsn(source, &msg))?;
            for (key, value) in pairs {
                let key = conninfo::keyword(&key).map_err(|e| {
                    Error::Config(format!("{e} in the connection string from {source}"))
                })?;
                params.insert(key, (value, Origin::Dsn(source)));
            }
        }
        for (key, value) in overrides.pairs() {
            if let Some(value) = value {
                params.insert(key, (value.clone(), Origin::Flag));
            }
        }
        Self::complete(params, source, env)
    }

    /// Settings for a known `tokio_postgres::Config` (embedded servers, tests), completed from
    /// the given environment like any other.
    pub fn from_config(config: Config, env: &dyn Env) -> Result<Self, Error> {
        let mut params = Params::new();
        let origin = || Origin::Dsn(DsnSource::Flag);
        let hosts = super::conninfo::host_names(&config);
        if !hosts.is_empty() {
            params.insert("host", (hosts.join(","), origin()));
        }
        let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        if !ports.is_empty() {
            params.insert("port", (ports.join(","), origin()));
        }
        if let Some(user) = config.get_user() {
            params.insert("user", (user.to_owned(), origin()));
        }
        if let Some(db) = config.get_dbname() {
            params.insert("dbname", (db.to_owned(), origin()));
        }
        if let Some(pw) = config.get_password() {
            params.insert(
                "password",
                (String::from_utf8_lossy(pw).into_owned(), origin()),
            );
        }
        if let Some(name) = config.get_application_name() {
            params.insert("application_name", (name.to_owned(), origin()));
        }
        if let Some(options) = config.get_options() {
            params.insert("options", (options.to_owned(), origin()));
        }
        if let Some(timeout) = config.get_connect_timeout() {
            params.insert(
                "connect_timeout",
                (timeout.as_secs().max(1).to_string(), origin()),
            );
        }
        // Prefer is also what a Config says when nobody chose: PGSSLMODE may still decide then.
        match config.get_ssl_mode() {
            SslMode::Disable => {
                params.insert("sslmode", ("disable".to_owned(), origin()));
            }
            SslMode::Require => {
                params.insert("sslmode", ("require".to_owned(), origin()));
            }
            _ => {}
        }
        Self::complete(params, DsnSource::Flag, env)
    }

    fn complete(mut params: Params, source: DsnSource, env: &dyn Env) -> Result<Self, Error> {
        let home = env.var("HOME").map(PathBuf::from);
        let mut warnings = Vec::new();

        // The service file fills what the connection string and the command line leave out.
        let service = params
            .get("service")
            .map(|(v, _)| v.clone())
            .or_else(|| env.var("PGSERVICE"));
        if let Some(name) = service {
            let user_file = env
                .var("PGSERVICEFILE")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".pg_service.conf")));
            let system_file = PathBuf::from(
                env.var("PGSYSCONFDIR")
                    .unwrap_or_else(|| conninfo::DEFAULT_SYSCONFDIR.to_owned()),
            )
            .join("pg_service.conf");
            let (file, entries) = conninfo::service_lookup(&name, user_file, system_file)?;
            for entry in entries {
                params
                    .entry(entry.key)
                    .or_insert_with(|| (entry.value, Origin::Service(file.clone())));
            }
        }
        // Then the environment.
        for (key, var, _) in conninfo::KEYWORDS {
            if let Some(var) = var
                && *key != "service"
                && !params.contains_key(key)
                && let Some(value) = env.var(var)
            {
                params.insert(key, (value, Origin::Env(var)));
            }
        }
        if source == DsnSource::DatabaseUrl {
            let outranked: Vec<&str> = OUTRANKED_VARS
                .iter()
                .filter(|(key, var)| {
                    env.var(var).is_some()
                        && params
                            .get(key)
                            .is_some_and(|(_, o)| *o == Origin::Dsn(DsnSource::DatabaseUrl))
                })
                .map(|(_, var)| *var)
                .collect();
            if !outranked.is_empty() {
                warnings.push(format!(
                    "note: connecting with DATABASE_URL's settings, which outrank {} set in the environment (give --dsn, or unset DATABASE_URL, to choose)",
                    outranked.join(", ")
                ));
            }
        }

        for (key, (value, origin)) in &params {
            match conninfo::support(key) {
                Support::Yes => {}
                Support::OnlyValues(values) if values.contains(&value.as_str()) => {}
                Support::OnlyValues(_) => {
                    return Err(Error::Config(format!(
                        "connection option \"{key}={value}\" (from {origin}) is not supported by pgdiag"
                    )));
                }
                Support::No => {
                    return Err(Error::Config(format!(
                        "connection option \"{key}\" (from {origin}) is not supported by pgdiag"
                    )));
                }
            }
        }

        // The key words tokio-postgres knows go to its parser.
        let mut text = String::new();
        for key in conninfo::PASSED_THROUGH {
            if let Some((value, _)) = params.get(key) {
                let name = if *key == "keepalives_count" {
                    "keepalives_retries"
                } else {
                    key
                };
                text.push_str(name);
                text.push('=');
                text.push_str(&conninfo::quote_kv_value(value));
                text.push(' ');
            }
        }
        let mut config = Config::from_str(&text).map_err(|e| {
            let reason = std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.to_string());
            invalid_dsn(source, &reason)
        })?;

        if config.get_hosts().is_empty() {
            config.host(default_host());
        }
        if config.get_ports().is_empty() {
            config.port(5432);
        }
        if config.get_user().is_none() {
            let user = os_user_name().ok_or_else(|| {
                Error::Config("no user name: set PGUSER, give -U or user= in --dsn".into())
            })?;
            config.user(user);
        }
        if config.get_dbname().is_none() {
            let db = config.get_user().unwrap_or_default().to_owned();
            config.dbname(db);
        }
        let get = |key: &str| params.get(key).map(|(v, _)| v.as_str());
        config.application_name(
            get("application_name")
                .or(get("fallback_application_name"))
                .unwrap_or("pgdiag"),
        );
        match get("connect_timeout") {
            None => {
                config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
            }
            Some(t) => {
                let seconds: i64 = t.trim().parse().map_err(|_| {
                    Error::Config(format!(
                        "invalid integer value \"{t}\" for connection option \"connect_timeout\""
                    ))
                })?;
                // libpq: 0 or less waits for ever; 1 is taken as 2.
                if seconds > 0 {
                    config.connect_timeout(Duration::from_secs(seconds.max(2) as u64));
                }
            }
        }
        match get("gssencmode") {
            None | Some("disable" | "prefer") => {}
            Some("require") => {
                return Err(Error::Config(
                    "gssencmode=require: GSSAPI encryption is not supported by pgdiag (use gssencmode=disable or prefer)".into(),
                ));
            }
            Some(other) => {
                return Err(Error::Config(format!(
                    "invalid gssencmode value: \"{other}\""
                )));
            }
        }

        let roots = match get("sslrootcert") {
            Some("system") => Roots::System,
            Some(file) => Roots::File(PathBuf::from(file)),
            None => home
                .as_ref()
                .map(|h| h.join(".postgresql/root.crt"))
                .filter(|p| p.exists())
                .map_or(Roots::None, Roots::File),
        };
        let tls = match get("sslmode") {
            Some(m) => {
                let mode: TlsMode = m.parse()?;
                if roots == Roots::System && mode != TlsMode::VerifyFull {
                    return Err(Error::Config(format!(
                        "weak sslmode \"{m}\" may not be used with sslrootcert=system (use \"verify-full\")"
                    )));
                }
                mode
            }
            // libpq 16: the system trust store means verifying the host name too.
            None if roots == Roots::System => TlsMode::VerifyFull,
            None => TlsMode::Prefer,
        };
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        });
        let postgresql_dir = home.as_ref().map(|h| h.join(".postgresql"));
        let cert = match get("sslcert") {
            Some(file) => Some(PathBuf::from(file)),
            // libpq sends the default certificate only when it exists.
            None => postgresql_dir
                .as_ref()
                .map(|d| d.join("postgresql.crt"))
                .filter(|p| p.exists()),
        };
        let client_cert = match cert {
            Some(cert) => {
                let key = get("sslkey")
                    .map(PathBuf::from)
                    .or_else(|| postgresql_dir.as_ref().map(|d| d.join("postgresql.key")));
                let key = key.ok_or_else(|| {
                    Error::Tls(format!(
                        "certificate present, but no private key file: give sslkey= for \"{}\"",
                        cert.display()
                    ))
                })?;
                Some(ClientCert { cert, key })
            }
            None => None,
        };

        if config.get_password().is_none() {
            let passfile = get("passfile")
                .map(PathBuf::from)
                .or_else(|| home.as_ref().map(|h| h.join(".pgpass")));
            if let Some(passfile) = passfile {
                let host = match config.get_hosts().first() {
                    Some(Host::Tcp(h)) => h.clone(),
                    // libpq matches socket connections against "localhost".
                    _ => "localhost".to_owned(),
                };
                let found = conninfo::passfile_lookup(
                    &passfile,
                    &host,
                    config.get_ports().first().copied().unwrap_or(5432),
                    config.get_dbname().unwrap_or_default(),
                    config.get_user().unwrap_or_default(),
                );
                warnings.extend(found.warning);
                if let Some(pw) = found.password {
                    config.password(pw);
                }
            }
        }

        Ok(ConnectionSettings {
            config,
            tls,
            roots,
            client_cert,
            source,
            warnings,
        })
    }

    /// `user@host:port/dbname` — what we are connecting to, safe to print (no password).
    pub fn describe(&self) -> String {
        let host = super::conninfo::host_names(&self.config)
            .into_iter()
            .next()
            .unwrap_or_default();
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        format!(
            "{}@{}:{}/{}",
            self.config.get_user().unwrap_or_default(),
            host,
            port,
            self.config.get_dbname().unwrap_or_default()
        )
    }

    /// Lines for standard error that libpq would print while resolving (a password file ignored
    /// for its permissions) and pgdiag's note when `DATABASE_URL` outranks `PG*` variables.
    /// Library code does not print them; commands do.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn source(&self) -> DsnSource {
        self.source
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.tls
    }

    /// The user name the server sees.
    pub fn user(&self) -> &str {
        self.config.get_user().unwrap_or_default()
    }

    /// Whether a password is known (given, from the environment or the password file).
    pub fn has_password(&self) -> bool {
        self.config.get_password().is_some()
    }

    /// Use this password (typed at a prompt).
    pub fn set_password(&mut self, password: &str) {
        self.config.password(password);
    }

    /// The underlying tokio-postgres configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Same settings, another database.
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut s = self.clone();
        s.config.dbname(dbname);
        s
    }

    /// The TLS connector for this mode (also used for cancel requests).
    pub fn tls_connector(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect, Error> {
        let client = match self.tls {
            TlsMode::Disable => None,
            _ => self.client_cert.as_ref(),
        };
        make_tls(self.tls, &self.roots, client)
    }

    /// Open a connection; the connection task runs on the current tokio runtime until the client
    /// is dropped.
    pub async fn connect(&self) -> Result<Client, Error> {
        let tls = self.tls_connector()?;
        let (client, connection) = self
            .config
            .connect(tls)
            .await
            .map_err(|e| self.connect_error(e))?;
        tokio::spawn(async move {
            // Errors here surface on the client's next call; nothing to add by logging them.
            let _ = connection.await;
        });
        Ok(client)
    }

    /// A failed connection attempt, in one line: what, where the settings came from, why, and
    /// psql's hint.
    pub fn connect_error(&self, source: tokio_postgres::Error) -> Error {
        Error::Connect {
            target: format!("{} (from {})", self.describe(), self.source),
            reason: self.connect_reason(&source),
            error: source,
        }
    }

    fn connect_reason(&self, err: &tokio_postgres::Error) -> String {
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let host = self.config.get_hosts().first().cloned();
        if let Some(db) = err.as_db_error() {
            return format!("{} (SQLSTATE {})", db.message(), db.code().code());
        }
        let text = super::describe_client_error(err);
        if text.contains("password missing") {
            return format!(
                "the server asks for a password for user \"{}\" and none was given (set PGPASSWORD, add it to ~/.pgpass, or use -W to be prompted)",
                self.user()
            );
        }
        if text.contains("error parsing response from server")
            || text.contains("unexpected message from server")
            || text.contains("bytes remaining on stream")
            || text.contains("invalid message length")
        {
            let at = match &host {
                Some(Host::Unix(dir)) => format!(
                    "socket \"{}\"",
                    dir.join(format!(".s.PGSQL.{port}")).display()
                ),
                Some(Host::Tcp(h)) => format!("{h}:{port}"),
                None => format!("port {port}"),
            };
            return format!(
                "the server at {at} does not speak the PostgreSQL protocol — is that the right host and port?"
            );
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
        while let Some(e) = cause {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return describe_io_failure(io, host.as_ref(), port, &self.config);
            }
            cause = e.source();
        }
        text
    }
}

/// An I/O failure while connecting, as psql words it.
fn describe_io_failure(
    io: &std::io::Error,
    host: Option<&Host>,
    port: u16,
    config: &Config,
) -> String {
    use std::io::ErrorKind;
    let text = io.to_string();
    match host {
        Some(Host::Unix(dir)) => {
            let socket = dir.join(format!(".s.PGSQL.{port}"));
            let what = match io.kind() {
                ErrorKind::NotFound => format!("socket \"{}\" does not exist", socket.display()),
                ErrorKind::ConnectionRefused => {
                    format!("connection refused on socket \"{}\"", socket.display())
                }
                _ => format!("{text} (socket \"{}\")", socket.display()),
            };
            format!(
                "{what} — is the server running locally and accepting connections on that socket?"
            )
        }
        other => {
            let name = match other {
                Some(Host::Tcp(h)) => h.clone(),
                _ => String::new(),
            };
            match io.kind() {
                ErrorKind::ConnectionRefused => format!(
                    "connection refused — is the server running on host \"{name}\" and accepting TCP/IP connections on port {port}?"
                ),
                ErrorKind::TimedOut => format!(
                    "timeout expired after {}s (connect_timeout) — is host \"{name}\" reachable and port {port} open?",
                    config.get_connect_timeout().map_or(0, |d| d.as_secs())
                ),
                _ if text.contains("lookup address") || text.contains("resolve") => {
                    let why = text.rsplit(": ").next().unwrap_or(&text);
                    format!("could not translate host name \"{name}\" to address: {why}")
                }
                _ => format!("{text} (host \"{name}\", port {port})"),
            }
        }
    }
}

fn invalid_dsn(source: DsnSource, reason: &str) -> Error {
    // The reason comes from the parser and never contains the connection string itself, so a
    // password in it cannot leak through this message.
    Error::Config(format!("invalid connection string from {source}: {reason}"))
}

/// libpq's compiled-in default on Debian is the socket directory `/var/run/postgresql`;
/// elsewhere it is `/tmp`. Fall back to TCP localhost when neither directory exists.
fn default_host() -> String {
    for dir in ["/var/run/postgresql", "/tmp"] {
        if Path::new(dir).join(".s.PGSQL.5432").exists() {
            return dir.to_owned();
        }
    }
    if Path::new("/var/run/postgresql").is_dir() {
        "/var/run/postgresql".to_owned()
    } else {
        "localhost".to_owned()
    }
}

fn os_user_name() -> Option<String> {
    nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten()
        .map(|u| u.name)
}

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn make_tls(
    mode: TlsMode,
    roots: &Roots,
    client: Option<&ClientCert>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, Error> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;

    // libpq: with sslmode=require and a root certificate present, verify like verify-ca.
    let effective = match (mode, roots) {
        (TlsMode::Require, Roots::File(_) | Roots::System) => TlsMode::VerifyCa,
        (m, _) => m,
    };
    let builder = match effective {
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider))),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let store = match roots {
                Roots::File(path) => load_roots(path)?,
                Roots::System => system_roots()?,
                Roots::None => {
                    return Err(Error::Tls(format!(
                        "sslmode={mode} needs a root certificate: set sslrootcert=FILE (or PGSSLROOTCERT, or sslrootcert=system for the system's trust store), or put it in ~/.postgresql/root.crt"
                    )));
                }
            };
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(store),
                provider.clone(),
            )
            .build()
            .map_err(|e| Error::Tls(e.to_string()))?;
            if effective == TlsMode::VerifyFull {
                builder.with_webpki_verifier(webpki)
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(IgnoreHostName(webpki)))
            }
        }
    };
    let config = match client {
        None => builder.with_no_client_auth(),
        Some(client) => {
            let (certs, key) = load_client_cert(client)?;
            builder.with_client_auth_cert(certs, key).map_err(|e| {
                Error::Tls(format!(
                    "client certificate \"{}\" and key \"{}\": {e}",
                    client.cert.display(),
                    client.key.display()
                ))
            })?
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// The operating system's trust store (`sslrootcert=system`), as OpenSSL finds it
/// (`SSL_CERT_FILE` and `SSL_CERT_DIR` are honoured).
fn system_roots() -> Result<RootCertStore, Error> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        return Err(Error::Tls(format!(
            "sslrootcert=system: no certificate found in the system's trust store{why}"
        )));
    }
    Ok(roots)
}

/// A client certificate chain and its private key (PEM; PKCS#8, PKCS#1 RSA or SEC1 EC keys), with
/// libpq's rule on the key file's permissions.
fn load_client_cert(
    client: &ClientCert,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let cert_data = std::fs::read(&client.cert).map_err(|e| {
        Error::Tls(format!(
            "cannot read client certificate \"{}\": {e}",
            client.cert.display()
        ))
    })?;
    let certs = rustls_pemfile::certs(&mut cert_data.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            Error::Tls(format!(
                "invalid PEM in client certificate \"{}\": {e}",
                client.cert.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(Error::Tls(format!(
            "no certificate found in \"{}\"",
            client.cert.display()
        )));
    }
    let meta = std::fs::metadata(&client.key).map_err(|e| {
        Error::Tls(format!(
            "certificate present, but not private key file \"{}\": {e}",
            client.key.display()
        ))
    })?;
    {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let mode = meta.permissions().mode();
        let root_owned_0640 = meta.uid() == 0 && mode & 0o037 == 0;
        if mode & 0o077 != 0 && !root_owned_0640 {
            return Err(Error::Tls(format!(
                "private key file \"{}\" has group or world access; file must have permissions u=rw (0600) or less if owned by the current user, or permissions u=rw,g=r (0640) or less if owned by root",
                client.key.display()
            )));
        }
    }
    let key_data = std::fs::read(&client.key).map_err(|e| {
        Error::Tls(format!(
            "cannot read private key file \"{}\": {e}",
            client.key.display()
        ))
    })?;
    let key = rustls_pemfile::private_key(&mut key_data.as_slice())
        .map_err(|e| {
            Error::Tls(format!(
                "invalid PEM in private key file \"{}\": {e}",
                client.key.display()
            ))
        })?
        .ok_or_else(|| {
            Error::Tls(format!(
                "no private key found in \"{}\" (PKCS#8, RSA or EC in PEM; encrypted keys and sslpassword are not supported)",
                client.key.display()
            ))
        })?;
    Ok((certs, key))
}

fn load_roots(path: &Path) -> Result<RootCertStore, Error> {
    let data = std::fs::read(path).map_err(|e| {
        Error::Tls(format!(
            "cannot read root certificate {}: {e}",
            path.display()
        ))
    })?;
    let mut roots = RootCertStore::empty();
    let mut found = 0;
    for cert in rustls_pemfile::certs(&mut data.as_slice()) {
        let cert = cert.map_err(|e| {
            Error::Tls(format!(
                "invalid PEM in root certificate {}: {e}",
                path.display()
            ))
        })?;
        roots
            .add(cert)
            .map_err(|e| Error::Tls(format!("root certificate {}: {e}", path.display())))?;
        found += 1;
    }
    if found == 0 {
        return Err(Error::Tls(format!(
            "no certificate found in {}",
            path.display()
        )));
    }
    Ok(roots)
}

/// libpq's `prefer`/`require`: encrypt, but do not authenticate the server.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// libpq's `verify-ca`: the chain must lead to the root certificate; the name may differ.
#[derive(Debug)]
struct IgnoreHostName(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for IgnoreHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn dsn_flag_wins_over_database_url_and_env_fills_gaps() {
        let env = env_of(&[
            ("DATABASE_URL", "postgresql://other@elsewhere/otherdb"),
            ("PGPORT", "6543"),
            ("PGPASSWORD", "from-env"),
        ]);
        let s = ConnectionSettings::resolve(Some("host=db.example user=alice dbname=shop"), &env)
            .unwrap();
        assert_eq!(s.describe(), "alice@db.example:6543/shop");
        assert_eq!(s.config().get_password(), Some(&b"from-env"[..]));
        assert_eq!(s.source(), DsnSource::Flag);
    }

    #[test]
    fn database_url_used_without_flag() {
        let env = env_of(&[(
            "DATABASE_URL",
            "postgres://bob:pw@h1:5433/app?sslmode=disable",
        )]);
        let s = ConnectionSettings::resolve(None, &env).unwrap();
        assert_eq!(s.describe(), "bob@h1:5433/app");
        assert_eq!(s.tls_mode(), TlsMode::Disable);
        assert_eq!(s.source(), DsnSource::DatabaseUrl);
    }

    #[test]
    fn libpq_env_only() {
        let env = env_of(&[
            ("PGHOST", "127.0.0.1"),
            ("PGUSER", "carol"),
            ("PGSSLMODE", "require"),
        ]);
        let s = ConnectionSettings::resolve(None, &env).unwrap();
        // libpq: the database defaults to the user name.
        assert_eq!(s.describe(), "carol@127.0.0.1:5432/carol");
        assert_eq!(s.tls_mode(), TlsMode::Require);
        assert_eq!(s.source(), DsnSource::Environment);
    }

    #[test]
    fn verify_modes_and_root_cert_are_lifted_out_of_url_and_key_values() {
        let env = env_of(&[]);
        let s = ConnectionSettings::resolve(
            Some("postgresql://u@h/d?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.pem&application_name=x"),
            &env,
        )
        .unwrap();
        assert_eq!(s.tls_mode(), TlsMode::VerifyFull);
        assert_eq!(s.roots, Roots::File(PathBuf::from("/tmp/ca.pem")));
        assert_eq!(s.config().get_application_name(), Some("x"));

        let s = ConnectionSettings::resolve(
            Some(r"host=h user=u sslmode=verify-ca sslrootcert='/a b/ca.pem' password='it\'s'"),
            &env,
        )
        .unwrap();
        assert_eq!(s.tls_mode(), TlsMode::VerifyCa);
        assert_eq!(s.roots, Roots::File(PathBuf::from("/a b/ca.pem")));
        assert_eq!(s.config().get_password(), Some(&b"it's"[..]));
    }

    #[test]
    fn bad_sslmode_is_a_clear_error() {
        let err = ConnectionSettings::resolve(Some("host=h sslmode=sometimes"), &env_of(&[]))
            .unwrap_err();
        assert!(
            err.to_string().contains("invalid sslmode `sometimes`"),
            "{err}"
        );
    }

    #[test]
    fn password_never_in_debug_or_errors() {
        let secret = "Sup3r-S3cret-pw";
        let s = ConnectionSettings::resolve(
            Some(&format!("postgresql://u:{secret}@h:5/d")),
            &env_of(&[]),
        )
        .unwrap();
        assert!(!format!("{s:?}").contains(secret));
        assert!(!s.describe().contains(secret));
        let err = ConnectionSettings::resolve(
            Some(&format!("postgresql://u:{secret}@h:notaport/d")),
            &env_of(&[]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains(secret), "{err}");
        let err = ConnectionSettings::resolve(
            Some(&format!("host=h password={secret} bogus_option=1")),
            &env_of(&[]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains(secret), "{err}");
        // Every malformed spelling a password can sit in: the error names the problem, never
        // the value.
        for dsn in [
            format!("postgresql://u:{secret}@[::1/d"),
            format!("postgresql://u:{secret}%ZZ@h/d"),
            format!("postgresql://u:{secret}%FF@h/d"),
            format!("postgresql://u:{secret}@h/d?bogus={secret}"),
            format!("postgresql://u@h/d?password={secret}&port=x"),
            format!("postgres://u:{secret}@h:99999/d"),
            format!("host=h password='{secret}"),
            format!("host=h password={secret} port=x"),
            format!("host=h passwd={secret}"),
            format!("host=h password {secret}"),
            format!("password={secret} sslmode=nope"),
        ] {
            match ConnectionSettings::resolve(Some(&dsn), &env_of(&[])) {
                Err(err) => {
                    assert!(!err.to_string().contains(secret), "{dsn}: {err}");
                    assert!(!format!("{err:?}").contains(secret), "{dsn}: {err:?}");
                }
                Ok(s) => assert!(!format!("{s:?}").contains(secret), "{dsn}"),
            }
        }
    }

    #[test]
    fn a_dsn_never_prints_its_text() {
        let dsn = Dsn::from("postgresql://u:Sup3r-S3cret-pw@h/d");
        assert!(!format!("{dsn} {dsn:?} {:?}", Some(dsn.clone())).contains("S3cret"));
        assert_eq!(dsn.expose(), "postgresql://u:Sup3r-S3cret-pw@h/d");
        assert_eq!(
            Some(dsn).as_deref(),
            Some("postgresql://u:Sup3r-S3cret-pw@h/d")
        );
    }

    /// An environment from pairs computed at run time (temp paths).
    fn env_owned(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn unknown_and_unsupported_keys_are_named() {
        let env = env_of(&[]);
        for (dsn, expected) in [
            (
                "host=h foo=1",
                "invalid connection option \"foo\" in the connection string from --dsn",
            ),
            (
                "postgresql://u@h/d?foo=1",
                "invalid connection option \"foo\" in the connection string from --dsn",
            ),
            (
                "host=h sslcrl=/x",
                "connection option \"sslcrl\" (from --dsn) is not supported by pgdiag",
            ),
            (
                "host=h sslsni=0",
                "connection option \"sslsni=0\" (from --dsn) is not supported by pgdiag",
            ),
            (
                "host=h gssencmode=require",
                "gssencmode=require: GSSAPI encryption is not supported by pgdiag (use gssencmode=disable or prefer)",
            ),
            (
                "host=h gssencmode=maybe",
                "invalid gssencmode value: \"maybe\"",
            ),
            (
                "host=h connect_timeout=soon",
                "invalid integer value \"soon\" for connection option \"connect_timeout\"",
            ),
            (
                "host=h sslrootcert=system sslmode=require",
                "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")",
            ),
        ] {
            let err = ConnectionSettings::resolve(Some(dsn), &env).unwrap_err();
            assert_eq!(err.to_string(), expected, "{dsn}");
        }
        let err = ConnectionSettings::resolve(None, &env_of(&[("PGSSLCRL", "/x")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "connection option \"sslcrl\" (from PGSSLCRL) is not supported by pgdiag"
        );
    }

    #[test]
    fn libpq_keys_pgdiag_honours() {
        let env = env_of(&[]);
        let s = ConnectionSettings::resolve(
            Some("host=h user=u gssencmode=prefer fallback_application_name=fb keepalives=1 keepalives_count=3 target_session_attrs=read-write connect_timeout=0 sslsni=1 client_encoding=UTF8"),
            &env,
        )
        .unwrap();
        assert_eq!(s.config().get_application_name(), Some("fb"));
        assert_eq!(s.config().get_keepalives_retries(), Some(3));
        // connect_timeout=0 waits for ever, as in libpq.
        assert_eq!(s.config().get_connect_timeout(), None);
        let s = ConnectionSettings::resolve(
            Some(
                "host=h user=u application_name=app fallback_application_name=fb connect_timeout=1",
            ),
            &env,
        )
        .unwrap();
        assert_eq!(s.config().get_application_name(), Some("app"));
        assert_eq!(
            s.config().get_connect_timeout(),
            Some(&Duration::from_secs(2))
        );
        let s = ConnectionSettings::resolve(Some("host=h user=u"), &env).unwrap();
        assert_eq!(s.config().get_application_name(), Some("pgdiag"));
        // sslrootcert=system makes verify-full the default.
        let s =
            ConnectionSettings::resolve(Some("host=h user=u sslrootcert=system"), &env).unwrap();
        assert_eq!(s.tls_mode(), TlsMode::VerifyFull);
        assert_eq!(s.roots, Roots::System);
    }

    #[test]
    fn service_file_sits_between_the_dsn_and_the_environment() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("services.conf");
        std::fs::write(
            &file,
            "# shop's primary\n[shop]\nhost=svc-host\nport=6000\ndbname=svcdb\nuser=svcuser\n",
        )
        .unwrap();
        let env = env_owned(vec![
            ("PGSERVICEFILE", file.display().to_string()),
            ("PGPORT", "7000".into()),
            ("PGAPPNAME", "from-env".into()),
        ]);
        // The DSN outranks the service, the service outranks PGPORT, the environment fills the rest.
        let s = ConnectionSettings::resolve(Some("service=shop dbname=explicit"), &env).unwrap();
        assert_eq!(s.describe(), "svcuser@svc-host:6000/explicit");
        assert_eq!(s.config().get_application_name(), Some("from-env"));
        // PGSERVICE names it too; the command line's flags outrank everything.
        let env = env_owned(vec![
            ("PGSERVICEFILE", file.display().to_string()),
            ("PGSERVICE", "shop".into()),
        ]);
        let flags = Overrides {
            host: Some("flag-host".into()),
            ..Overrides::default()
        };
        let s = ConnectionSettings::resolve_with(None, &flags, &env).unwrap();
        assert_eq!(s.describe(), "svcuser@flag-host:6000/svcdb");
        assert_eq!(s.source(), DsnSource::HostFlags);
        // Not in the user's file nor the system's: libpq's words.
        let env = env_owned(vec![
            ("PGSERVICEFILE", file.display().to_string()),
            (
                "PGSYSCONFDIR",
                dir.path().join("none").display().to_string(),
            ),
        ]);
        let err = ConnectionSettings::resolve(Some("service=nope"), &env).unwrap_err();
        assert_eq!(err.to_string(), "definition of service \"nope\" not found");
        // PGSYSCONFDIR/pg_service.conf when the user's file lacks it; ~/.pg_service.conf first.
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join(".pg_service.conf"), "[mine]\nhost=home-host\n").unwrap();
        std::fs::write(dir.path().join("pg_service.conf"), "[sys]\nhost=sys-host\n").unwrap();
        let env = env_owned(vec![
            ("HOME", home.display().to_string()),
            ("PGSYSCONFDIR", dir.path().display().to_string()),
            ("PGUSER", "u".into()),
        ]);
        let s = ConnectionSettings::resolve(Some("service=mine"), &env).unwrap();
        assert_eq!(s.describe(), "u@home-host:5432/u");
        let s = ConnectionSettings::resolve(Some("service=sys"), &env).unwrap();
        assert_eq!(s.describe(), "u@sys-host:5432/u");
    }

    #[test]
    fn password_file_with_group_access_is_ignored_with_libpqs_warning() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let pgpass = dir.path().join(".pgpass");
        std::fs::write(&pgpass, "h:5432:*:u:from-pgpass\n").unwrap();
        let env = env_owned(vec![("HOME", dir.path().display().to_string())]);
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = ConnectionSettings::resolve(Some("host=h user=u"), &env).unwrap();
        assert!(!s.has_password());
        assert_eq!(
            s.warnings(),
            [format!(
                "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
                pgpass.display()
            )]
        );
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = ConnectionSettings::resolve(Some("host=h user=u"), &env).unwrap();
        assert_eq!(s.config().get_password(), Some(&b"from-pgpass"[..]));
        assert!(s.warnings().is_empty());
        // passfile= names another file.
        let other = dir.path().join("other");
        std::fs::write(&other, "*:*:*:*:other-pw\n").unwrap();
        std::fs::set_permissions(&other, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = ConnectionSettings::resolve(
            Some(&format!("host=h user=u passfile='{}'", other.display())),
            &env,
        )
        .unwrap();
        assert_eq!(s.config().get_password(), Some(&b"other-pw"[..]));
    }

    #[test]
    fn database_url_outranking_pg_variables_is_noted() {
        let env = env_of(&[
            ("DATABASE_URL", "postgresql://u@url-host/db"),
            ("PGHOST", "env-host"),
            ("PGPORT", "6000"),
        ]);
        let s = ConnectionSettings::resolve(None, &env).unwrap();
        assert_eq!(s.describe(), "u@url-host:6000/db");
        assert_eq!(
            s.warnings(),
            [
                "note: connecting with DATABASE_URL's settings, which outrank PGHOST set in the environment (give --dsn, or unset DATABASE_URL, to choose)"
            ]
        );
    }

    #[test]
    fn verify_full_without_root_cert_explains_what_to_do() {
        let err = make_tls(
            TlsMode::VerifyFull,
            &Roots::File(PathBuf::from("/nonexistent/ca.pem")),
            None,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string().contains("cannot read root certificate"),
            "{err}"
        );
    }
}
