//! Shared test helpers: the per-binary embedded PostgreSQL, one cluster per supported major for
//! the version tests, fresh databases, and running the `pgdiag` binary hermetically (no PG*
//! variables from the developer's shell leak in). Every run that prints a `--format json`
//! document has it validated against the document's committed JSON Schema (`docs/schemas/`).

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};

use pgdiag::embedded::EmbeddedPostgres;
use pgdiag::schema::Document;

/// The cluster shared by every test of this binary. Fails the test (never skips) when it cannot
/// start, with the error telling what to install.
pub fn pg() -> &'static EmbeddedPostgres {
    match EmbeddedPostgres::shared() {
        Ok(pg) => pg,
        Err(e) => panic!(
            "embedded PostgreSQL could not start: {e}\n(run scripts/test, which installs what is missing)"
        ),
    }
}

/// The PostgreSQL majors every version test runs against.
pub const MAJORS: [u32; 5] = [14, 15, 16, 17, 18];

/// `MAJOR=BINDIR[:LIBDIR]` entries, space-separated: the server binaries of each major and the
/// shared libraries they bring. scripts/test (via scripts/fetch-postgres) exports it.
pub const BINDIRS_ENV: &str = "PGDIAG_TEST_PG_BINDIRS";

/// One cluster per major, shared by that major's tests, started on first use. The major the
/// shared cluster ([`pg`]) runs (Debian's 15, with HypoPG) is that cluster itself. Fails the test
/// (never skips) when the binaries are missing, saying how to fetch them.
pub fn pg_major(major: u32) -> &'static EmbeddedPostgres {
    static CLUSTERS: [OnceLock<Result<EmbeddedPostgres, String>>; 5] =
        [const { OnceLock::new() }; 5];
    let shared = pg();
    if shared.major_version() == major {
        return shared;
    }
    let slot = MAJORS
        .iter()
        .position(|m| *m == major)
        .unwrap_or_else(|| panic!("PostgreSQL {major} is not one of the tested majors {MAJORS:?}"));
    let started = CLUSTERS[slot].get_or_init(|| {
        let (bin, lib) = server_dirs(major)?;
        let mut builder = EmbeddedPostgres::builder().bin_dir(&bin);
        if let Some(lib) = lib {
            builder = builder.library_dir(lib);
        }
        let postgres = builder.start_blocking().map_err(|e| {
            format!(
                "PostgreSQL {major} from {} did not start: {e}",
                bin.display()
            )
        })?;
        if postgres.major_version() != major {
            return Err(format!(
                "{} runs PostgreSQL {}, not {major}: fix {BINDIRS_ENV}",
                bin.display(),
                postgres.server_version()
            ));
        }
        Ok(postgres)
    });
    match started {
        Ok(postgres) => postgres,
        Err(message) => panic!("{message}"),
    }
}

/// Where the binaries of `major` are: `PGDIAG_TEST_PG_BINDIRS`, else the cache scripts/fetch-postgres
/// fills (as scripts/lib.sh computes it), else Debian's `/usr/lib/postgresql/MAJOR/bin`.
pub fn server_dirs(major: u32) -> Result<(PathBuf, Option<PathBuf>), String> {
    let wanted = format!("{major}=");
    if let Ok(entries) = std::env::var(BINDIRS_ENV)
        && let Some(entry) = entries.split_whitespace().find(|e| e.starts_with(&wanted))
    {
        let dirs = &entry[wanted.len()..];
        return Ok(match dirs.split_once(':') {
            Some((bin, lib)) => (PathBuf::from(bin), Some(PathBuf::from(lib))),
            None => (PathBuf::from(dirs), None),
        });
    }
    let cache = fetch_cache_dir();
    let native = cache.join(major.to_string()).join("native");
    if native.join("bin/initdb").exists() {
        return Ok((native.join("bin"), Some(native.join("lib"))));
    }
    let debian = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    if debian.join("initdb").exists() {
        return Ok((debian, None));
    }
    Err(format!(
        "PostgreSQL {major} binaries not found: {BINDIRS_ENV} has no `{major}=` entry and {} is missing. \
         Fetch them with `bash scripts/fetch-postgres` (scripts/test does), or set \
         {BINDIRS_ENV}=\"{major}=/path/to/bin[:/path/to/lib] ...\"",
        cache.join(major.to_string()).display()
    ))
}

/// scripts/lib.sh's `pg_cache_dir`: PGDIAG_PG_CACHE, else /var/cache/pgdiag/postgres as root,
/// else `${XDG_CACHE_HOME:-$HOME/.cache}/pgdiag/postgres`.
fn fetch_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PGDIAG_PG_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/cache/pgdiag/postgres");
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(&std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
    base.join("pgdiag/postgres")
}

/// A fresh database on `major`'s cluster, set up with `setup` SQL; returns its URL.
pub async fn database_on(
    major: u32,
    prefix: &str,
    setup: &str,
) -> (String, tokio_postgres::Client) {
    database_in(pg_major(major), prefix, setup).await
}

/// A fresh database on the shared cluster, set up with `setup` SQL; returns its URL.
pub async fn database(prefix: &str, setup: &str) -> (String, tokio_postgres::Client) {
    database_in(pg(), prefix, setup).await
}

async fn database_in(
    pg: &EmbeddedPostgres,
    prefix: &str,
    setup: &str,
) -> (String, tokio_postgres::Client) {
    let name = pg
        .fresh_database(prefix)
        .await
        .expect("create test database");
    let client = pg.connect(&name).await.expect("connect to test database");
    if !setup.is_empty() {
        client.batch_execute(setup).await.expect("test setup SQL");
    }
    (pg.url(&name), client)
}

/// Result of one `pgdiag` run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// No Rust panic, whatever the exit code: bad input must never crash the tool.
    pub fn assert_no_panic(&self) {
        assert!(
            !self.stderr.contains("panicked"),
            "pgdiag panicked:\n{}",
            self.stderr
        );
    }
}

/// A `pgdiag` command with a clean environment: no PG*, DATABASE_URL, NO_COLOR, CLICOLOR or
/// CLICOLOR_FORCE from outside.
pub fn pgdiag_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgdiag"));
    for (key, _) in std::env::vars_os() {
        let key_str = key.to_string_lossy();
        if key_str.starts_with("PG")
            || key_str.starts_with("CLICOLOR")
            || key_str == "DATABASE_URL"
            || key_str == "NO_COLOR"
            || key_str == "COLUMNS"
        {
            cmd.env_remove(&key);
        }
    }
    // Point libpq defaults somewhere that cannot accidentally be a real server.
    cmd.env("PGHOST", "/nonexistent-pgdiag-test-socket-dir");
    cmd.env("HOME", std::env::temp_dir());
    cmd
}

pub fn run_with(mut cmd: Command, stdin: Option<&[u8]>) -> Run {
    let document = json_document_of(&cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn pgdiag");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input)
            .expect("write stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for pgdiag");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    if let Some(document) = document {
        // A run that failed before writing its document prints nothing on stdout; whatever it
        // did print must be the document, and a valid one.
        if !run.stdout.trim().is_empty() {
            assert_matches_schema(document, &run.stdout);
        }
    }
    run
}

/// The document a command prints: its subcommand's, when it was given `--format json`.
pub fn json_document_of(cmd: &Command) -> Option<Document> {
    let args: Vec<String> = cmd
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let json = args
        .windows(2)
        .any(|pair| pair[0] == "--format" && pair[1] == "json")
        || args.iter().any(|a| a == "--format=json");
    if !json {
        return None;
    }
    let subcommand = args.first()?;
    match subcommand.parse::<Document>() {
        Ok(Document::Baseline) | Err(_) => None,
        Ok(document) => Some(document),
    }
}

/// Fails the test, naming every violation, unless `json` is a valid `document` by its committed
/// schema (`docs/schemas/<document>.schema.json`), read strictly: a property the schema does not
/// name is a violation too, so output and schema cannot drift apart unseen.
pub fn assert_matches_schema(document: Document, json: &str) {
    let errors = schema_violations(document, json);
    assert!(
        errors.is_empty(),
        "{document} document does not match docs/schemas/{}:\n{}",
        document.file_name(),
        errors.join("\n")
    );
}

/// What makes `json` an invalid `document`, one line each (`at /path: message`); empty when it
/// is valid. See [`assert_matches_schema`].
pub fn schema_violations(document: Document, json: &str) -> Vec<String> {
    let instance = document_value(document, json).unwrap_or_else(|e| {
        panic!("{document} output is not one JSON document ({e}):\n{json:.2000}")
    });
    static VALIDATORS: OnceLock<Mutex<HashMap<Document, &'static jsonschema::Validator>>> =
        OnceLock::new();
    let validator = *VALIDATORS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(document)
        .or_insert_with(|| Box::leak(Box::new(strict_validator(document))));
    validator
        .iter_errors(&instance)
        .map(|e| format!("at {}: {e}", e.instance_path()))
        .collect()
}

/// The document as a value to validate. An explain statement's `plan` is the server's EXPLAIN
/// JSON, free-form in the schema and as deep as the plan (a 1,000-level plan would overflow the
/// stack as a value): it is checked to be JSON and stands in as an empty container of its kind.
fn document_value(document: Document, json: &str) -> Result<serde_json::Value, serde_json::Error> {
    use serde::Deserialize;
    use serde_json::value::RawValue;
    use serde_json::{Map, Value};

    fn unlimited<'a, T: Deserialize<'a>>(text: &'a str) -> Result<T, serde_json::Error> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        deserializer.disable_recursion_limit();
        let value = T::deserialize(&mut deserializer)?;
        deserializer.end()?;
        Ok(value)
    }
    fn stand_in(raw: &RawValue) -> Result<Value, serde_json::Error> {
        Ok(match raw.get().trim_start().as_bytes().first() {
            Some(b'[') => Value::Array(Vec::new()),
            Some(b'{') => Value::Object(Map::new()),
            _ => serde_json::from_str(raw.get())?,
        })
    }

    if document != Document::Explain {
        return serde_json::from_str(json);
    }
    let top: std::collections::BTreeMap<String, Box<RawValue>> = unlimited(json)?;
    let mut object = Map::new();
    for (key, raw) in top {
        let value = if key == "statements" {
            let statements: Vec<std::collections::BTreeMap<String, Box<RawValue>>> =
                unlimited(raw.get())?;
            let mut items = Vec::new();
            for statement in statements {
                let mut item = Map::new();
                for (field, raw) in statement {
                    let value = if field == "plan" {
                        stand_in(&raw)?
                    } else {
                        serde_json::from_str(raw.get())?
                    };
                    item.insert(field, value);
                }
                items.push(Value::Object(item));
            }
            Value::Array(items)
        } else {
            serde_json::from_str(raw.get())?
        };
        object.insert(key, value);
    }
    Ok(Value::Object(object))
}

/// The committed schema, with every object type that lists its properties closed to others (not
/// the conditions of a `oneOf`, which name only the properties they constrain).
fn strict_validator(document: Document) -> jsonschema::Validator {
    let path = fixture("docs/schemas").join(document.file_name());
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut schema: serde_json::Value = serde_json::from_str(&text).expect("a schema is JSON");
    close_objects(&mut schema);
    jsonschema::validator_for(&schema)
        .unwrap_or_else(|e| panic!("{} is not a valid schema: {e}", path.display()))
}

fn close_objects(schema: &mut serde_json::Value) {
    match schema {
        serde_json::Value::Object(map) => {
            let object = map.get("type").is_some_and(|t| t == "object");
            if object && map.contains_key("properties") && !map.contains_key("additionalProperties")
            {
                map.insert("additionalProperties".into(), false.into());
            }
            map.values_mut().for_each(close_objects);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(close_objects),
        _ => {}
    }
}

/// Run `pgdiag ARGS...` hermetically.
pub fn pgdiag(args: &[&str]) -> Run {
    let mut cmd = pgdiag_command();
    cmd.args(args);
    run_with(cmd, None)
}

/// A file in a fresh temp dir that lives as long as the returned guard.
pub fn temp_file(name: &str, contents: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join(name);
    std::fs::write(&path, contents).expect("write temp file");
    (dir, path)
}

pub fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path)
}
