//! libpq's connection parameters as text: the key words it knows, the environment variable
//! behind each, connection strings split into pairs, the connection service file and the password
//! file. Pure text and file reading; what the settings mean is [`super::connect`]'s business.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio_postgres::Config;
use tokio_postgres::config::Host;

use super::Error;

/// How pgdiag treats a libpq key word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Support {
    /// Honoured.
    Yes,
    /// Accepted when its value is one of these (libpq's default behaviour), refused otherwise.
    OnlyValues(&'static [&'static str]),
    /// Refused by name: pgdiag cannot do what it asks.
    No,
}

/// Every key word libpq (up to 17) accepts, with its environment variable and pgdiag's support.
pub(crate) const KEYWORDS: &[(&str, Option<&str>, Support)] = &[
    ("host", Some("PGHOST"), Support::Yes),
    ("hostaddr", Some("PGHOSTADDR"), Support::Yes),
    ("port", Some("PGPORT"), Support::Yes),
    ("dbname", Some("PGDATABASE"), Support::Yes),
    ("user", Some("PGUSER"), Support::Yes),
    ("password", Some("PGPASSWORD"), Support::Yes),
    ("passfile", Some("PGPASSFILE"), Support::Yes),
    ("service", Some("PGSERVICE"), Support::Yes),
    ("options", Some("PGOPTIONS"), Support::Yes),
    ("application_name", Some("PGAPPNAME"), Support::Yes),
    ("fallback_application_name", None, Support::Yes),
    ("connect_timeout", Some("PGCONNECT_TIMEOUT"), Support::Yes),
    (
        "client_encoding",
        Some("PGCLIENTENCODING"),
        Support::OnlyValues(&["UTF8", "utf8", "auto"]),
    ),
    ("keepalives", None, Support::Yes),
    ("keepalives_idle", None, Support::Yes),
    ("keepalives_interval", None, Support::Yes),
    ("keepalives_count", None, Support::Yes),
    ("tcp_user_timeout", None, Support::Yes),
    (
        "target_session_attrs",
        Some("PGTARGETSESSIONATTRS"),
        Support::Yes,
    ),
    (
        "load_balance_hosts",
        Some("PGLOADBALANCEHOSTS"),
        Support::Yes,
    ),
    ("channel_binding", Some("PGCHANNELBINDING"), Support::Yes),
    ("sslmode", Some("PGSSLMODE"), Support::Yes),
    (
        "requiressl",
        Some("PGREQUIRESSL"),
        Support::OnlyValues(&["0"]),
    ),
    ("sslnegotiation", Some("PGSSLNEGOTIATION"), Support::Yes),
    ("sslrootcert", Some("PGSSLROOTCERT"), Support::Yes),
    ("sslcert", Some("PGSSLCERT"), Support::Yes),
    ("sslkey", Some("PGSSLKEY"), Support::Yes),
    ("sslsni", Some("PGSSLSNI"), Support::OnlyValues(&["1"])),
    (
        "sslcompression",
        Some("PGSSLCOMPRESSION"),
        Support::OnlyValues(&["0"]),
    ),
    (
        "ssl_min_protocol_version",
        Some("PGSSLMINPROTOCOLVERSION"),
        Support::OnlyValues(&["TLSv1.2"]),
    ),
    (
        "ssl_max_protocol_version",
        Some("PGSSLMAXPROTOCOLVERSION"),
        Support::OnlyValues(&["", "TLSv1.3"]),
    ),
    ("gssencmode", Some("PGGSSENCMODE"), Support::Yes),
    ("sslpassword", None, Support::No),
    ("sslcertmode", Some("PGSSLCERTMODE"), Support::No),
    ("sslcrl", Some("PGSSLCRL"), Support::No),
    ("sslcrldir", Some("PGSSLCRLDIR"), Support::No),
    ("requirepeer", Some("PGREQUIREPEER"), Support::No),
    ("require_auth", Some("PGREQUIREAUTH"), Support::No),
    ("krbsrvname", Some("PGKRBSRVNAME"), Support::No),
    ("gsslib", Some("PGGSSLIB"), Support::No),
    ("gssdelegation", Some("PGGSSDELEGATION"), Support::No),
    ("replication", None, Support::No),
];

/// The key words tokio-postgres parses itself (`keepalives_count` is its `keepalives_retries`).
pub(crate) const PASSED_THROUGH: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "user",
    "password",
    "dbname",
    "options",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "target_session_attrs",
    "load_balance_hosts",
    "channel_binding",
    "sslnegotiation",
];

/// The canonical spelling of a libpq key word, or libpq's own error for an unknown one.
pub(crate) fn keyword(key: &str) -> Result<&'static str, Error> {
    KEYWORDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|(k, _, _)| *k)
        .ok_or_else(|| Error::Config(format!("invalid connection option \"{key}\"")))
}

/// How pgdiag supports a key word (the key must be one of [`KEYWORDS`]).
pub(crate) fn support(key: &str) -> Support {
    KEYWORDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or(Support::No, |(_, _, s)| *s)
}

/// Split a connection string, URL or `key=value` form, into libpq key words and values in the
/// order given. Keys are not checked here. A URL's user, password, hosts, ports and database are
/// read by tokio-postgres's own parser (`Config: FromStr`), its query by the `url` crate.
pub(crate) fn split_conninfo(text: &str) -> Result<Vec<(String, String)>, String> {
    if text.starts_with("postgres://") || text.starts_with("postgresql://") {
        let (base, query) = match text.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (text, None),
        };
        let config = Config::from_str(base).map_err(|e| e.to_string())?;
        let mut pairs = Vec::new();
        let hosts = host_names(&config);
        if !hosts.is_empty() {
            pairs.push(("host".to_owned(), hosts.join(",")));
        }
        // tokio-postgres fills 5432 for a host without a port; libpq leaves it to PGPORT.
        let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        if !ports.is_empty() && url_gives_port(base) {
            pairs.push(("port".to_owned(), ports.join(",")));
        }
        if let Some(user) = config.get_user() {
            pairs.push(("user".to_owned(), user.to_owned()));
        }
        if let Some(password) = config.get_password() {
            let password = String::from_utf8(password.to_vec())
                .map_err(|_| "the password is not valid UTF-8".to_owned())?;
            pairs.push(("password".to_owned(), password));
        }
        if let Some(db) = config.get_dbname() {
            pairs.push(("dbname".to_owned(), db.to_owned()));
        }
        if let Some(query) = query {
            for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
                pairs.push((k.into_owned(), v.into_owned()));
            }
        }
        Ok(pairs)
    } else {
        split_key_values(text)
    }
}

/// Whether a URL's host list names a port (`h:5433`, `[::1]:5433`), not only hosts.
fn url_gives_port(url: &str) -> bool {
    let rest = url.split_once("://").map_or("", |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    hosts.split(',').any(|h| {
        h.rsplit_once(']')
            .map_or(h, |(_, after)| after)
            .contains(':')
    })
}

/// Split a libpq `key=value key2='quoted \' value'` string into pairs.
pub(crate) fn split_key_values(text: &str) -> Result<Vec<(String, String)>, String> {
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

/// A value quoted for a `key=value` connection string.
pub(crate) fn quote_kv_value(value: &str) -> String {
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

/// libpq's system configuration directory where `PGSYSCONFDIR` is unset (Debian's).
pub(crate) const DEFAULT_SYSCONFDIR: &str = "/etc/postgresql-common";

/// One setting read from a service file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceEntry {
    pub key: &'static str,
    pub value: String,
}

/// The settings of service `name`, looked up as libpq does: the user's file (`PGSERVICEFILE`,
/// else `~/.pg_service.conf`), then `PGSYSCONFDIR/pg_service.conf`. Returns the file it was found
/// in with its settings.
pub(crate) fn service_lookup(
    name: &str,
    user_file: Option<PathBuf>,
    system_file: PathBuf,
) -> Result<(PathBuf, Vec<ServiceEntry>), Error> {
    for file in user_file.into_iter().chain([system_file]) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Some(entries) = parse_service_file(&text, name, &file)? {
            return Ok((file, entries));
        }
    }
    Err(Error::Config(format!(
        "definition of service \"{name}\" not found"
    )))
}

/// Parse a service file as libpq does: lines trimmed of surrounding white space, `#` comments and
/// empty lines skipped, `[name]` opening a section, `key=value` split at the first `=` with
/// nothing else trimmed. `None` when the file has no section for `name`; inside it the first
/// setting of a key wins.
pub(crate) fn parse_service_file(
    text: &str,
    name: &str,
    file: &Path,
) -> Result<Option<Vec<ServiceEntry>>, Error> {
    let syntax = |line: usize, why: String| {
        Error::Config(format!(
            "syntax error in service file \"{}\", line {line}: {why}",
            file.display()
        ))
    };
    let mut found = false;
    let mut entries: Vec<ServiceEntry> = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            if found {
                break;
            }
            found = rest.strip_prefix(name).is_some_and(|r| r.starts_with(']'));
            continue;
        }
        if !found {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(syntax(
                line_no,
                format!("expected key=value, found `{line}`"),
            ));
        };
        if key == "service" {
            return Err(Error::Config(format!(
                "nested service specifications not supported in service file \"{}\", line {line_no}",
                file.display()
            )));
        }
        let key = keyword(key).map_err(|e| syntax(line_no, e.to_string()))?;
        if !entries.iter().any(|e| e.key == key) {
            entries.push(ServiceEntry {
                key,
                value: value.to_owned(),
            });
        }
    }
    Ok(found.then_some(entries))
}

/// What reading the password file gave.
#[derive(Debug, Default)]
pub(crate) struct PassfileLookup {
    pub password: Option<String>,
    /// libpq's warning when the file was ignored (group or world access, not a plain file).
    pub warning: Option<String>,
}

/// Look the password up in a password file, as libpq does (lines of
/// `host:port:database:user:password`, `*` matches anything, `\:` and `\\` escape). A file that is
/// not a plain file, or that group or others can access, is ignored with libpq's warning.
pub(crate) fn passfile_lookup(
    path: &Path,
    host: &str,
    port: u16,
    db: &str,
    user: &str,
) -> PassfileLookup {
    let Ok(meta) = std::fs::metadata(path) else {
        return PassfileLookup::default();
    };
    if !meta.is_file() {
        return PassfileLookup {
            password: None,
            warning: Some(format!(
                "WARNING: password file \"{}\" is not a plain file",
                path.display()
            )),
        };
    }
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return PassfileLookup {
                password: None,
                warning: Some(format!(
                    "WARNING: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less",
                    path.display()
                )),
            };
        }
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return PassfileLookup::default();
    };
    let port = port.to_string();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass_line(line);
        if fields.len() != 5 {
            continue;
        }
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(&fields[0], host)
            && matches(&fields[1], &port)
            && matches(&fields[2], db)
            && matches(&fields[3], user)
        {
            return PassfileLookup {
                password: Some(fields[4].clone()),
                warning: None,
            };
        }
    }
    PassfileLookup::default()
}

pub(crate) fn split_pgpass_line(line: &str) -> Vec<String> {
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

/// The hosts of `config` as libpq writes them: a name, or a socket directory.
pub(crate) fn host_names(config: &Config) -> Vec<String> {
    config
        .get_hosts()
        .iter()
        .map(|h| match h {
            Host::Tcp(name) => name.clone(),
            Host::Unix(path) => path.display().to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_keyword_is_known_and_unknown_ones_are_named() {
        assert_eq!(keyword("sslcert").unwrap(), "sslcert");
        assert_eq!(
            keyword("foo").unwrap_err().to_string(),
            "invalid connection option \"foo\""
        );
        for key in PASSED_THROUGH {
            assert_eq!(support(key), Support::Yes, "{key}");
        }
    }

    #[test]
    fn url_parts_become_keywords() {
        let pairs = split_conninfo(
            "postgresql://al%40ice:p%3Ass@h1:5433,h2:5434/shop?sslmode=require&service=x",
        )
        .unwrap();
        let get = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("host"), Some("h1,h2"));
        assert_eq!(get("port"), Some("5433,5434"));
        assert_eq!(get("user"), Some("al@ice"));
        assert_eq!(get("password"), Some("p:ss"));
        assert_eq!(get("dbname"), Some("shop"));
        assert_eq!(get("sslmode"), Some("require"));
        assert_eq!(get("service"), Some("x"));
        // No port in the URL: PGPORT may give it, as in libpq.
        let pairs = split_conninfo("postgresql://u@h/d").unwrap();
        assert!(!pairs.iter().any(|(k, _)| k == "port"), "{pairs:?}");
        assert!(url_gives_port("postgresql://u@[::1]:5433/d"));
        assert!(!url_gives_port("postgresql://u:p@[::1]/d"));
    }

    #[test]
    fn service_file_parsed_like_libpq() {
        let text = "# comment\n\n  [other]\nhost=nope\n[shop]  \n  host=db.example\nport=5433\n# c\nuser=app\nhost=second-ignored\n[after]\nhost=x\n";
        let entries = parse_service_file(text, "shop", Path::new("f"))
            .unwrap()
            .unwrap();
        assert_eq!(
            entries,
            vec![
                ServiceEntry {
                    key: "host",
                    value: "db.example".into()
                },
                ServiceEntry {
                    key: "port",
                    value: "5433".into()
                },
                ServiceEntry {
                    key: "user",
                    value: "app".into()
                },
            ]
        );
        // `[shopx]` is not `[shop]`.
        assert_eq!(
            parse_service_file("[shopx]\nhost=a\n", "shop", Path::new("f")).unwrap(),
            None
        );
        let err = parse_service_file("[shop]\nhost = a\n", "shop", Path::new("/s.conf"))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "syntax error in service file \"/s.conf\", line 2: invalid connection option \"host \""
        );
        let err = parse_service_file("[shop]\nhost\n", "shop", Path::new("/s.conf"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("syntax error in service file \"/s.conf\", line 2"),
            "{err}"
        );
        let err = parse_service_file("[shop]\nservice=other\n", "shop", Path::new("/s.conf"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("nested service specifications"), "{err}");
        // A syntax error in another service's section does not matter.
        assert!(
            parse_service_file("[a]\nbogus\n[shop]\nport=1\n", "shop", Path::new("f"))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn pgpass_lines_split_with_escapes() {
        assert_eq!(
            split_pgpass_line(r"db\:host:5432:*:me:pa\:ss:word"),
            vec!["db:host", "5432", "*", "me", "pa:ss:word"]
        );
    }
}
