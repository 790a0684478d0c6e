//! Resolving connection settings the way libpq does, and opening connections (with TLS).
//!
//! Precedence: `--dsn`, else `DATABASE_URL`, else nothing; then every setting the DSN leaves out is
//! filled from the libpq environment (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`,
//! `PGSSLMODE`, ...) and finally from libpq's defaults, exactly as `psql` behaves. Parsing is
//! `tokio_postgres::Config`'s; we only lift out the few libpq options it does not know
//! (`sslmode=verify-ca|verify-full`, `sslrootcert`) before handing the string over.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::{Host, SslMode};
use tokio_postgres::{Client, Config};

use super::Error;

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
    Environment,
}

impl fmt::Display for DsnSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DsnSource::Flag => "--dsn",
            DsnSource::DatabaseUrl => "DATABASE_URL",
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

/// Fully resolved connection settings. `Debug` never shows the password (tokio-postgres redacts
/// it in `Config`, and we hold it nowhere else).
#[derive(Clone)]
pub struct ConnectionSettings {
    config: Config,
    tls: TlsMode,
    root_cert: Option<PathBuf>,
    source: DsnSource,
}

impl fmt::Debug for ConnectionSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionSettings")
            .field("target", &self.describe())
            .field("tls", &self.tls)
            .field("root_cert", &self.root_cert)
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

impl ConnectionSettings {
    /// Resolve settings from an explicit DSN (`--dsn`), else `DATABASE_URL`, else the libpq
    /// environment alone.
    pub fn resolve(dsn: Option<&str>, env: &dyn Env) -> Result<Self, Error> {
        let (text, source) = match dsn {
            Some(d) => (Some(d.to_owned()), DsnSource::Flag),
            None => match env.var("DATABASE_URL") {
                Some(u) => (Some(u), DsnSource::DatabaseUrl),
                None => (None, DsnSource::Environment),
            },
        };
        let (config, extras) = match &text {
            Some(t) => parse_dsn(t, source)?,
            None => (Config::new(), LibpqExtras::default()),
        };
        Self::complete(config, extras, source, env)
    }

    /// Settings for a known `tokio_postgres::Config` (embedded servers, tests), completed from
    /// the given environment like any other.
    pub fn from_config(config: Config, env: &dyn Env) -> Result<Self, Error> {
        Self::complete(config, LibpqExtras::default(), DsnSource::Flag, env)
    }

    fn complete(
        mut config: Config,
        extras: LibpqExtras,
        source: DsnSource,
        env: &dyn Env,
    ) -> Result<Self, Error> {
        if config.get_hosts().is_empty() {
            match env.var("PGHOST") {
                Some(hosts) => {
                    for h in hosts.split(',') {
                        config.host(h);
                    }
                }
                None => {
                    config.host(default_host());
                }
            }
        }
        if config.get_hostaddrs().is_empty()
            && let Some(addrs) = env.var("PGHOSTADDR")
        {
            for a in addrs.split(',') {
                let ip = a
                    .parse()
                    .map_err(|_| Error::Config(format!("invalid PGHOSTADDR `{a}`")))?;
                config.hostaddr(ip);
            }
        }
        if config.get_ports().is_empty() {
            let ports = env.var("PGPORT").unwrap_or_else(|| "5432".into());
            for p in ports.split(',') {
                let port = p
                    .trim()
                    .parse()
                    .map_err(|_| Error::Config(format!("invalid PGPORT `{p}`")))?;
                config.port(port);
            }
        }
        if config.get_user().is_none() {
            let user = env.var("PGUSER").or_else(os_user_name).ok_or_else(|| {
                Error::Config("no user name: set PGUSER or give user= in --dsn".into())
            })?;
            config.user(user);
        }
        if config.get_dbname().is_none() {
            let db = env
                .var("PGDATABASE")
                .unwrap_or_else(|| config.get_user().unwrap_or_default().to_owned());
            config.dbname(db);
        }
        if config.get_application_name().is_none() {
            config.application_name(env.var("PGAPPNAME").unwrap_or_else(|| "pgdiag".into()));
        }
        if config.get_options().is_none()
            && let Some(options) = env.var("PGOPTIONS")
        {
            config.options(options);
        }
        if config.get_connect_timeout().is_none() {
            let timeout = match env.var("PGCONNECT_TIMEOUT") {
                Some(t) => Duration::from_secs(t.trim().parse().map_err(|_| {
                    Error::Config(format!("invalid PGCONNECT_TIMEOUT `{t}` (whole seconds)"))
                })?),
                None => DEFAULT_CONNECT_TIMEOUT,
            };
            config.connect_timeout(timeout);
        }

        let tls = match extras.ssl_mode {
            Some(mode) => mode,
            None => match env.var("PGSSLMODE") {
                Some(m) => m.parse()?,
                None => TlsMode::Prefer,
            },
        };
        let root_cert = extras
            .ssl_root_cert
            .or_else(|| env.var("PGSSLROOTCERT"))
            .map(PathBuf::from);
        config.ssl_mode(match tls {
            TlsMode::Disable => SslMode::Disable,
            TlsMode::Prefer => SslMode::Prefer,
            TlsMode::Require | TlsMode::VerifyCa | TlsMode::VerifyFull => SslMode::Require,
        });

        if config.get_password().is_none() {
            if let Some(pw) = env.var("PGPASSWORD") {
                config.password(pw);
            } else if let Some(pw) = pgpass_lookup(&config, env) {
                config.password(pw);
            }
        }

        Ok(ConnectionSettings {
            config,
            tls,
            root_cert,
            source,
        })
    }

    /// `user@host:port/dbname` — what we are connecting to, safe to print (no password).
    pub fn describe(&self) -> String {
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|h| match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string(),
            })
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

    pub fn source(&self) -> DsnSource {
        self.source
    }

    pub fn tls_mode(&self) -> TlsMode {
        self.tls
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
        make_tls(self.tls, self.root_cert.as_deref())
    }

    /// Open a connection; the connection task runs on the current tokio runtime until the client
    /// is dropped.
    pub async fn connect(&self) -> Result<Client, Error> {
        let tls = self.tls_connector()?;
        let (client, connection) = self.config.connect(tls).await.map_err(|e| Error::Connect {
            target: self.describe(),
            source: e,
        })?;
        tokio::spawn(async move {
            // Errors here surface on the client's next call; nothing to add by logging them.
            let _ = connection.await;
        });
        Ok(client)
    }
}

/// libpq options tokio-postgres does not parse; lifted out of the DSN before parsing.
#[derive(Debug, Default)]
struct LibpqExtras {
    ssl_mode: Option<TlsMode>,
    ssl_root_cert: Option<String>,
}

/// Keys we take out of the DSN ourselves; everything else goes to tokio-postgres unchanged.
fn take_extra(key: &str, value: &str, extras: &mut LibpqExtras) -> Result<bool, Error> {
    match key {
        "sslmode" => {
            extras.ssl_mode = Some(value.parse()?);
            Ok(true)
        }
        "sslrootcert" => {
            extras.ssl_root_cert = Some(value.to_owned());
            Ok(true)
        }
        _ => Ok(false),
    }
}

fn parse_dsn(text: &str, source: DsnSource) -> Result<(Config, LibpqExtras), Error> {
    let mut extras = LibpqExtras::default();
    let rewritten = if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        match text.split_once('?') {
            None => text.to_owned(),
            Some((base, query)) => {
                let mut kept = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                    if !take_extra(&k, &v, &mut extras)? {
                        kept.append_pair(&k, &v);
                    }
                }
                let kept = kept.finish();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{kept}")
                }
            }
        }
    } else {
        let mut kept = String::new();
        for (k, v) in split_key_values(text).map_err(|msg| invalid_dsn(source, &msg))? {
            if !take_extra(&k, &v, &mut extras)? {
                kept.push_str(&k);
                kept.push('=');
                kept.push_str(&quote_kv_value(&v));
                kept.push(' ');
            }
        }
        kept
    };
    let config = Config::from_str(&rewritten).map_err(|e| invalid_dsn(source, &e.to_string()))?;
    Ok((config, extras))
}

fn invalid_dsn(source: DsnSource, reason: &str) -> Error {
    // The reason comes from the parser and never contains the connection string itself, so a
    // password in it cannot leak through this message.
    Error::Config(format!("invalid connection string from {source}: {reason}"))
}

/// Split a libpq `key=value key2='quoted \' value'` string into pairs. Only tokenizes: the
/// meaning of each key is tokio-postgres's business.
fn split_key_values(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c.is_whitespace() {
                break;
            }
            key.push(c);
            chars.next();
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') {
            return Err(format!("missing \"=\" after `{key}`"));
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'\'') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(format!("unterminated quoted value for `{key}`")),
                    Some('\'') => break,
                    Some('\\') => match chars.next() {
                        Some(c) => value.push(c),
                        None => return Err(format!("unterminated quoted value for `{key}`")),
                    },
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                chars.next();
                if c == '\\' {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

fn quote_kv_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
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

/// Look the password up in `PGPASSFILE` or `~/.pgpass`, as libpq does (lines of
/// `host:port:database:user:password`, `*` matches anything, `\:` and `\\` escape). Like libpq we
/// ignore a file others can read.
fn pgpass_lookup(config: &Config, env: &dyn Env) -> Option<String> {
    let path = match env.var("PGPASSFILE") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env.var("HOME")?).join(".pgpass"),
    };
    let meta = std::fs::metadata(&path).ok()?;
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return None;
        }
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let host = match config.get_hosts().first()? {
        Host::Tcp(h) => h.clone(),
        // libpq matches socket connections against "localhost".
        Host::Unix(_) => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let db = config.get_dbname().unwrap_or_default();
    let user = config.get_user().unwrap_or_default();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() != 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], &host)
            && matches(&fields[1], &port)
            && matches(&fields[2], db)
            && matches(&fields[3], user)
        {
            return Some(fields[4].clone());
        }
    }
    None
}

fn split_pgpass_line(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    fields.last_mut().unwrap().push(n);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

fn crypto_provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn make_tls(
    mode: TlsMode,
    root_cert: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, Error> {
    let provider = crypto_provider();
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;

    // libpq: with sslmode=require and a root certificate present, verify like verify-ca.
    let default_root = || {
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".postgresql/root.crt"))
            .filter(|p| p.exists())
    };
    let effective = match (mode, root_cert) {
        (TlsMode::Require, Some(_)) => TlsMode::VerifyCa,
        (m, _) => m,
    };
    let config = match effective {
        TlsMode::Disable | TlsMode::Prefer | TlsMode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth(),
        TlsMode::VerifyCa | TlsMode::VerifyFull => {
            let path = root_cert.map(Path::to_path_buf).or_else(default_root).ok_or_else(|| {
                Error::Tls(format!(
                    "sslmode={mode} needs a root certificate: set sslrootcert=FILE (or PGSSLROOTCERT), or put it in ~/.postgresql/root.crt"
                ))
            })?;
            let roots = load_roots(&path)?;
            let webpki = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| Error::Tls(e.to_string()))?;
            if effective == TlsMode::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(IgnoreHostName(webpki)))
                    .with_no_client_auth()
            }
        }
    };
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
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
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/tmp/ca.pem")));
        assert_eq!(s.config().get_application_name(), Some("x"));

        let s = ConnectionSettings::resolve(
            Some(r"host=h user=u sslmode=verify-ca sslrootcert='/a b/ca.pem' password='it\'s'"),
            &env,
        )
        .unwrap();
        assert_eq!(s.tls_mode(), TlsMode::VerifyCa);
        assert_eq!(s.root_cert.as_deref(), Some(Path::new("/a b/ca.pem")));
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

    #[test]
    fn pgpass_lines_split_with_escapes() {
        assert_eq!(
            split_pgpass_line(r"db\:host:5432:*:me:pa\:ss:word"),
            vec!["db:host", "5432", "*", "me", "pa:ss:word"]
        );
    }

    #[test]
    fn verify_full_without_root_cert_explains_what_to_do() {
        let err = make_tls(TlsMode::VerifyFull, Some(Path::new("/nonexistent/ca.pem")))
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("cannot read root certificate"),
            "{err}"
        );
    }
}
