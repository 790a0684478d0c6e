//! Command-line definitions (clap), resolved into plain argument structs before dispatch.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Explain before you cache: find where a PostgreSQL query spends its time, and why.
#[derive(Debug, Parser)]
#[command(name = "pgdiag", version, about, long_about = None)]
#[command(after_help = "\
Connection, as psql: -h HOST -p PORT -U USER -d DBNAME outrank --dsn (URL or libpq key=value), \
else DATABASE_URL; then the service it or PGSERVICE names (PGSERVICEFILE or ~/.pg_service.conf, \
then PGSYSCONFDIR/pg_service.conf); then the libpq environment (PGHOST, PGPORT, PGUSER, \
PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGSSLCERT, ...); the password from ~/.pgpass \
(or passfile=, PGPASSFILE) last. -W prompts for the password, -w never does; help is --help or -? \
on commands that connect, where -h is the host.

Exit codes: 0 ok, 1 a gate failed, 2 usage or runtime error.")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// When to colour the text output: auto (on a terminal, unless NO_COLOR is set, TERM=dumb or
    /// CLICOLOR=0; CLICOLOR_FORCE=1 colours pipes too), always or never. Progress bars are shown
    /// only on a terminal whose TERM is not dumb.
    #[arg(long, global = true, value_enum, value_name = "WHEN", default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) safely and show where the time goes.
    ///
    /// Every statement runs in a transaction that is rolled back, so explaining INSERT, UPDATE,
    /// DELETE or MERGE changes no data. Reads SQL files (several statements each), directories
    /// (every .sql file below, sorted), - for standard input, or -c SQL; `-- pgdiag: params 42, 'x'`
    /// before a statement gives its $n values. With --plan, analyse a saved plan without any
    /// database: EXPLAIN JSON or psql's text-format EXPLAIN output, or an auto_explain log.
    #[command(after_help = "\
Examples:
  pgdiag explain query.sql --dsn postgresql://app@db/shop
  pgdiag explain -c 'SELECT * FROM reviews WHERE product_id = $1' --param 42
  pgdiag explain queries/ --fail-on warning --format json > explain.json
  psql -XAtc 'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) ...' | pgdiag explain --plan -
  pgdiag explain --from-pg-stat-statements --top 5")]
    Explain(ExplainArgs),

    /// Record every query's plan into a baseline file to commit (for `pgdiag check`).
    ///
    /// Walks directories for .sql files; several statements per file; `-- pgdiag: params 42, 'x'`
    /// before a statement gives its $n values. Records each plan's shape (node types, relations,
    /// indexes, join order), cost, rows and, with --analyze, timings and findings, plus the server
    /// version, the planner settings and the sizes of the tables the plans read.
    #[command(after_help = "\
Examples:
  pgdiag baseline queries/ --dsn \"$DATABASE_URL\"
  pgdiag baseline queries/ --analyze --runs 5 --out pgdiag-baseline.json")]
    Baseline(BaselineArgs),

    /// Re-plan every query and compare with the baseline: exit 1 on a regression.
    ///
    /// Regressions: a new seq scan on a large table, an index no longer used, a plan shape change,
    /// total cost up by more than the threshold (10%), a new finding, a query newly failing.
    /// Planner-setting or major-version differences make cost comparison advisory; so does a
    /// cost increase in line with the growth of the tables read, plan shape unchanged
    /// (`[check] data_growth = "fail"` in pgdiag.toml makes it a regression). With an --analyze
    /// baseline, findings and timings are judged over every run: a finding is new only when every
    /// run sees it clear of its thresholds by a margin (`finding_margin`), and a significant
    /// slowdown is an advisory unless `timing = "fail"` in pgdiag.toml.
    #[command(after_help = "\
Examples:
  pgdiag check                                  # the files recorded in pgdiag-baseline.json
  pgdiag check queries/ --format junit > pgdiag.xml
  pgdiag check --format markdown > comment.md
  pgdiag check --format html --output check.html   # baseline and current plans side by side
  pgdiag check --update                         # accept the current plans")]
    Check(CheckArgs),

    /// Benchmark a query with no cache and behind Redis cache strategies.
    ///
    /// Runs each strategy (none, cache-aside, swr, xfetch) on the same key sequence: steady load,
    /// a thundering herd after expiry, or writes with stale-read tracking. QUERY.sql holds one
    /// SELECT with $1 = the key. See docs/bench-report.md for the JSON report.
    ///
    /// Once the run has started its report is always printed. Exit 0 when it is complete; 2 when Redis failed during the
    /// run (the strategies answered from the database and counted it: the "fallback" and "errors"
    /// columns), when the run was interrupted (Ctrl-C, SIGTERM, SIGHUP: the strategies that ran are
    /// reported), or when the run could not start.
    #[command(after_help = "\
Examples:
  pgdiag bench product.sql --keys 1000 --duration 30s
  pgdiag bench product.sql --scenario herd --strategies cache-aside,swr --hot-keys 5
  pgdiag bench product.sql --scenario herd --format html --output bench.html
  pgdiag bench price.sql --scenario writes --write-rate 20 \\
    --write \"UPDATE pricing SET price = price + 1 WHERE product_id = $1::int\"")]
    Bench(BenchArgs),

    /// Suggest indexes (and materialized views), prove them, and optionally create them.
    ///
    /// Each statement is explained (EXPLAIN ANALYZE, rolled back; `$n` without values: the generic
    /// plan), diagnosed, and turned into candidate indexes merged across all statements. Candidates
    /// an existing index covers are dropped with the reason. Each one is then verified in a
    /// transaction that is rolled back (--verify hypo: HypoPG, planned cost; --verify build: built
    /// and timed) and kept only if the planner uses it and it pays (--min-improvement).
    /// See docs/suggest-report.md for the JSON report.
    #[command(after_help = "\
Examples:
  pgdiag suggest queries/ --dsn postgresql://app@db/shop
  pgdiag suggest queries/ --verify build --runs 5
  pgdiag suggest queries/ --dry-run --output migrations/0042_indexes.sql
  pgdiag suggest queries/ --apply                # asks before creating anything
  pgdiag suggest --from-pg-stat-statements --top 20 --format markdown")]
    Suggest(SuggestArgs),

    /// Find indexes that can go: unused, duplicate, prefix-redundant and INVALID ones.
    ///
    /// Reads every index of the user's schemas with its definition, what it backs and its scans
    /// since the statistics reset, and lists those that can be dropped, each with its size, the
    /// reason and its DROP INDEX CONCURRENTLY. Indexes backing a primary key, a UNIQUE or
    /// EXCLUSION constraint, a key foreign keys reference, or the replica identity, and unique
    /// indexes, are never proposed. Changes nothing unless --drop, which asks for confirmation
    /// (--yes when not on a terminal) and drops one index at a time, each re-checked first.
    /// Exit 0 (findings are advice; --fail-on-findings exits 1 on one), 2 on an error.
    /// See docs/indexes-report.md for the JSON report.
    #[command(after_help = "\
Examples:
  pgdiag indexes --dsn postgresql://app@db/shop
  pgdiag indexes --only duplicate,redundant,invalid --format json
  pgdiag indexes --only invalid --drop --yes --lock-timeout 2s")]
    Indexes(IndexesArgs),
    /// Replay the seed story on a throwaway PostgreSQL and Redis, with this machine's numbers.
    ///
    /// Loads fixtures/seed/ (1.2 M reviews at scale 1.0), explains the product page and category
    /// listing, benches a naive cache-aside layer (hits, the herd, stale prices), applies pgdiag's
    /// suggestions and times every query before and after, benches swr on the recommendations
    /// query, and ends with a summary. Both servers are removed at the end (or on Ctrl-C) unless
    /// --keep. See docs/demo-report.md for the JSON document.
    #[command(after_help = "\
Examples:
  pgdiag demo
  pgdiag demo --scale 0.1 --format json > demo.json
  pgdiag demo --format html --output demo.html   # the whole story on one page
  pgdiag demo --keep                             # leave the servers running to explore")]
    Demo(DemoArgs),

    /// Rank the statements the database spent its time on, from pg_stat_statements.
    ///
    /// Reads pg_stat_statements (PostgreSQL 13+; the library must be in shared_preload_libraries
    /// and the extension created in the database connected to: without them pgdiag prints the
    /// exact steps and exits 2). Top-level statements of the database connected to (--database
    /// another, --all-databases every one), summed over the roles that ran them, ranked by
    /// --order-by: each one's share of all the time recorded, calls, total / mean / stddev time,
    /// rows, shared blocks hit and read, temp blocks and its normalized text.
    /// See docs/top-report.md for the JSON report.
    #[command(after_help = "\
Examples:
  pgdiag top --dsn postgresql://app@db/shop
  pgdiag top --order-by mean-time --min-calls 100 --limit 10
  pgdiag top --order-by io --all-databases --format json")]
    Top(TopArgs),

    /// Which statements deserve a cache (strategy, TTLs, invalidation), and which to fix in the
    /// database instead.
    ///
    /// Reads a workload (--from-pg-stat-statements, --from-log, or query files whose statements
    /// state their expected call rate in a `-- pgdiag: calls=120/min` comment or take --calls;
    /// their time is measured with EXPLAIN ANALYZE, rolled back), runs pgdiag's suggestions on
    /// it (proved as `suggest` proves them, rolled back), reads how often the tables each
    /// statement reads change and how many keys it is read with, then gives each statement one
    /// verdict with its numbers: fix it in the database (a suggestion brings it within
    /// --fast-enough), don't cache (its result depends on the caller or the moment, its tables
    /// change about as fast as it is read, or it is cheap and rare), or cache it: cache-aside,
    /// swr with a refresh lock or xfetch, soft and hard TTL from --max-staleness, invalidation on
    /// write (a NOTIFY trigger) on the keyed table, the expected hit rate, the database time
    /// saved per hour and the reads per hour served stale. Changes nothing.
    /// See docs/cache-advice-report.md for the JSON report.
    #[command(after_help = "\
Examples:
  pgdiag cache-advice --from-pg-stat-statements --dsn postgresql://app@db/shop
  pgdiag cache-advice --from-pg-stat-statements --max-staleness 5s --fast-enough 2ms
  pgdiag cache-advice --from-log /var/log/postgresql/postgresql.log --format json
  pgdiag cache-advice queries/ --calls 60/min --max-staleness 30s
  pgdiag cache-advice product_page.sql   (a `-- pgdiag: calls=120/min` line above each statement)
  pgdiag cache-advice --from-pg-stat-statements --verify --allow-writes --dsn postgresql://app@copy/shop")]
    CacheAdvice(CacheAdviceArgs),

    /// List the diagnosis rules, or print one rule's page (what it finds, why, what to do).
    ///
    /// The pages are built into the binary: `pgdiag rules seq-scan` works wherever pgdiag runs.
    #[command(after_help = "\
Examples:
  pgdiag rules
  pgdiag rules misestimate")]
    Rules(RulesArgs),

    /// Print a shell completion script to standard output.
    #[command(after_help = "\
Examples:
  pgdiag completions bash > /etc/bash_completion.d/pgdiag
  pgdiag completions zsh > ~/.zfunc/_pgdiag
  pgdiag completions fish > ~/.config/fish/completions/pgdiag.fish")]
    Completions(CompletionsArgs),

    /// Print the man page (roff) to standard output, or write one page per command to a directory.
    #[command(after_help = "\
Examples:
  pgdiag man | man -l -
  pgdiag man --dir /usr/local/share/man/man1")]
    Man(ManArgs),

    /// Print the JSON Schema of a JSON document pgdiag writes, or list the documents.
    ///
    /// One schema (draft 2020-12) per `--format json` document and for the baseline file, the
    /// same as docs/schemas/DOCUMENT.schema.json, generated from the types that write them.
    #[command(after_help = "\
Examples:
  pgdiag schema
  pgdiag schema explain > explain.schema.json")]
    Schema(SchemaArgs),
}

#[derive(Debug, Clone, Args)]
#[command(group(clap::ArgGroup::new("workload").required(true).args(["from_pg_stat_statements", "from_log", "files"])))]
#[command(disable_help_flag = true)]
pub struct CacheAdviceArgs {
    /// Query files or directories (every .sql file below them, sorted), `-` for standard input:
    /// each statement with its expected call rate in a `-- pgdiag: calls=120/min` comment (per
    /// s, min or h) or --calls, its `$n` values in a `-- pgdiag: params` comment (else sampled
    /// from pg_stats); its time is measured with EXPLAIN ANALYZE, rolled back.
    #[arg(value_name = "FILES", conflicts_with_all = ["from_pg_stat_statements", "from_log"])]
    pub files: Vec<PathBuf>,

    /// With FILES: the expected call rate of each statement without a `-- pgdiag: calls`
    /// comment, e.g. 120/min, 2.5/s, 1000/h.
    #[arg(long, value_name = "RATE", requires = "files", conflicts_with_all = ["from_pg_stat_statements", "from_log"], value_parser = parse_call_rate)]
    pub calls: Option<crate::input::CallRate>,

    /// Take the statements from pg_stat_statements (of the database connected to), the first
    /// --top by total time, with their calls per hour since the statistics were reset.
    #[arg(long)]
    pub from_pg_stat_statements: bool,

    /// Take the statements from a PostgreSQL server log (stderr, csvlog or jsonlog), with their
    /// calls per hour over the log's span.
    #[arg(long, value_name = "FILE", conflicts_with = "from_pg_stat_statements")]
    pub from_log: Option<PathBuf>,

    /// With a workload: how many statements to judge, by total time (query files: all of them).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub top: u32,

    /// How old a value served from a cache may be: the hard TTL without invalidation, what swr
    /// may serve while it refreshes.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub max_staleness: Duration,

    /// A statement that pgdiag's suggestions bring to this time or less is fixed in the
    /// database instead of cached.
    #[arg(long, value_name = "DURATION", default_value = "5ms", value_parser = parse_duration)]
    pub fast_enough: Duration,

    /// Below this expected hit rate (percent) a cache is not advised.
    #[arg(long, value_name = "PCT", default_value_t = 50.0, value_parser = parse_non_negative)]
    pub min_hit_rate: f64,

    /// How to prove the suggestions [default: hypo when the hypopg extension is available, else
    /// none: statements are then judged as they run now].
    #[arg(long, value_enum, value_name = "MODE")]
    pub prove: Option<VerifyChoice>,

    /// Benchmark each statement advised to be cached on the advised configuration, at the
    /// workload's rates scaled to the machine, and report predicted against measured hit rate,
    /// staleness and p99.
    #[arg(long)]
    pub verify: bool,

    /// With --verify: measured time per statement (after a warm-up of up to as long).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, requires = "verify")]
    pub verify_duration: Duration,

    /// With --verify: reads per second to aim for (lowered so that an expensive statement's
    /// misses cost the database at most a quarter of a core).
    #[arg(long, value_name = "R", default_value_t = 200.0, value_parser = parse_positive, requires = "verify")]
    pub verify_rate: f64,

    /// With --verify: let the benchmark write, rewriting rows of the keyed table unchanged at the
    /// scaled write rate and installing the invalidation trigger for its run; without it only
    /// reads run and staleness is not verified. Use on a copy, never on production.
    #[arg(long, requires = "verify")]
    pub allow_writes: bool,

    /// With --verify: Redis URL [default: REDIS_URL, else a throwaway Redis started for the run].
    #[arg(long, value_name = "URL", requires = "verify")]
    pub redis_url: Option<crate::cache::RedisUrl>,

    /// statement_timeout per statement, e.g. 60s (0 disables).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Output format: text, json (the cache-advice report: docs/cache-advice-report.md, schema
    /// docs/schemas/cache-advice.schema.json) or html (one self-contained page).
    #[arg(long, value_enum, default_value_t = CacheAdviceFormat::Text)]
    pub format: CacheAdviceFormat,

    /// Write the report (any `--format`) to this file instead of standard output.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Clone, Args)]
pub struct RulesArgs {
    /// A rule id (e.g. seq-scan); without one, every rule is listed.
    #[arg(value_name = "RULE")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// The document whose schema to print; without one, the documents are listed.
    #[arg(
        value_name = "DOCUMENT",
        value_parser = clap::builder::PossibleValuesParser::new(
            crate::schema::Document::ALL.map(crate::schema::Document::as_str)
        )
    )]
    pub document: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write pgdiag.1 and one pgdiag-COMMAND.1 per command into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Human-readable text.
    Text,
    /// The command's versioned JSON document, named above.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CacheAdviceFormat {
    /// Human-readable text.
    Text,
    /// The cache-advice report, named above.
    Json,
    /// One self-contained HTML page: each statement's verdict with its reasons, the cache plan
    /// and what to expect of it.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExplainFormat {
    /// Human-readable plan tree.
    Text,
    /// The explain report, named above.
    Json,
    /// One self-contained HTML page: each plan as a flame graph and a tree, findings on their
    /// nodes.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DemoFormat {
    /// Each step as it finishes.
    Text,
    /// The demo document, named above.
    Json,
    /// One self-contained HTML page: the whole story, its plans, suggestions and cache
    /// benchmarks as pictures.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, as NO_COLOR, CLICOLOR, CLICOLOR_FORCE and TERM say.
    Auto,
    /// Always colour, even into a pipe or a file.
    Always,
    /// Never colour.
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// A finding above 10% of execution time and 1 ms at stake (the ms tiers are thresholds).
    Notice,
    /// A finding above 40% of execution time and 10 ms at stake.
    Warning,
    /// A finding above 90% of execution time and 100 ms at stake.
    Critical,
}

impl FailOn {
    pub fn severity(self) -> crate::diagnose::Severity {
        match self {
            FailOn::Notice => crate::diagnose::Severity::Notice,
            FailOn::Warning => crate::diagnose::Severity::Warning,
            FailOn::Critical => crate::diagnose::Severity::Critical,
        }
    }
}

/// Connection options shared by every command that talks to PostgreSQL, with psql's short flags
/// (`-h` is the host there, so help is `--help` or `-?`, as in psql and pg_dump).
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// Connection string: postgresql://user@host:port/db?sslmode=require or "host=... dbname=...".
    #[arg(long, value_name = "DSN")]
    pub dsn: Option<crate::pg::Dsn>,

    /// Database server host or socket directory (outranks --dsn, DATABASE_URL and PGHOST).
    #[arg(short = 'h', long, value_name = "HOSTNAME")]
    pub host: Option<String>,

    /// Database server port (outranks --dsn, DATABASE_URL and PGPORT).
    #[arg(short = 'p', long, value_name = "PORT")]
    pub port: Option<String>,

    /// Database user name (outranks --dsn, DATABASE_URL and PGUSER).
    #[arg(short = 'U', long, value_name = "USERNAME")]
    pub username: Option<String>,

    /// Database name, or a whole connection string as psql takes it (outranks --dsn,
    /// DATABASE_URL and PGDATABASE).
    #[arg(short = 'd', long, value_name = "DBNAME")]
    pub dbname: Option<String>,

    /// Never prompt for a password.
    #[arg(short = 'w', long, conflicts_with = "password")]
    pub no_password: bool,

    /// Prompt for a password before connecting.
    #[arg(short = 'W', long)]
    pub password: bool,

    /// Print help.
    #[arg(short = '?', long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
}

/// Workload input shared by `explain` and `suggest`: statements from what the database ran
/// instead of SQL files.
#[derive(Debug, Clone, Args)]
pub struct WorkloadArgs {
    /// Take the statements from pg_stat_statements (of the database connected to): the first
    /// --top by total time, each weighed by its calls per hour. Statements with $n run with
    /// values sampled from pg_stats of the columns they are compared with (else their generic
    /// plan).
    #[arg(long, conflicts_with_all = ["files", "command", "param", "params_json"])]
    pub from_pg_stat_statements: bool,

    /// Take the statements from a PostgreSQL server log (stderr, csvlog or jsonlog, detected):
    /// `duration:` lines of log_min_duration_statement and auto_explain, constants normalized to
    /// $n, the values seen kept; the first --top by total time.
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with_all = ["files", "command", "param", "params_json", "from_pg_stat_statements"]
    )]
    pub from_log: Option<PathBuf>,

    /// With --from-pg-stat-statements or --from-log: how many statements to take, by total time.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub top: u32,
}

impl WorkloadArgs {
    /// A workload was asked for.
    pub fn given(&self) -> bool {
        self.from_pg_stat_statements || self.from_log.is_some()
    }
}

/// Diagnosis settings: `pgdiag.toml` and the flags that override it.
#[derive(Debug, Clone, Args)]
pub struct DiagnoseArgs {
    /// Settings file (default: ./pgdiag.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a diagnosis threshold, e.g. --threshold seq_scan_min_rows=50000 (repeatable;
    /// --help lists the names and their defaults).
    #[arg(long = "threshold", value_name = "NAME=VALUE", long_help = threshold_help())]
    pub thresholds: Vec<String>,
    /// Do not run this rule (repeatable), e.g. --disable-rule jit-overhead; `pgdiag rules` says
    /// what each one finds.
    #[arg(long = "disable-rule", value_name = "RULE", value_parser = rule_ids())]
    pub disabled_rules: Vec<String>,
}

/// `--threshold`'s long help: every name with its default.
fn threshold_help() -> String {
    let defaults = serde_json::to_value(crate::diagnose::Thresholds::default())
        .ok()
        .and_then(|v| v.as_object().cloned())
        .unwrap_or_default();
    let names: Vec<String> = defaults
        .iter()
        .map(|(name, value)| format!("  {name} = {value}"))
        .collect();
    format!(
        "Override a diagnosis threshold (repeatable), e.g. --threshold seq_scan_min_rows=50000. \
         The same names go under [diagnose.thresholds] in pgdiag.toml. Names and defaults:\n{}",
        names.join("\n")
    )
}

/// The rule ids `--disable-rule` takes (listed by `--help`, completed by the shells).
fn rule_ids() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        crate::diagnose::RuleId::ALL
            .iter()
            .map(|id| clap::builder::PossibleValue::new(id.as_str()).help(id.summary())),
    )
}

impl DiagnoseArgs {
    /// The file's diagnosis settings with the flags applied.
    pub fn resolve(&self) -> Result<crate::diagnose::DiagnoseConfig, crate::config::ConfigError> {
        Ok(self.resolve_all()?.diagnose)
    }

    /// The whole settings file, with the diagnosis flags applied.
    pub fn resolve_all(&self) -> Result<crate::config::Config, crate::config::ConfigError> {
        let mut config = crate::config::Config::load(self.config.as_deref())?;
        config
            .diagnose
            .apply_flags(&self.thresholds, &self.disabled_rules)?;
        Ok(config)
    }
}

/// Output options of `explain`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format: text, json (the explain report: docs/json-report.md, schema
    /// docs/schemas/explain.schema.json or `pgdiag schema explain`) or html (one self-contained
    /// page; see --output).
    #[arg(long, value_enum, default_value_t = ExplainFormat::Text)]
    pub format: ExplainFormat,
    /// Also show what the diagnosis rules checked and why it is not a finding.
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
#[command(group(clap::ArgGroup::new("input").required(true).args(["files", "command", "plan", "from_pg_stat_statements", "from_log"])))]
pub struct ExplainArgs {
    /// SQL files (several statements each allowed), directories (every .sql file below, sorted),
    /// or - for standard input.
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// SQL to explain, given inline.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    pub command: Option<String>,

    /// Analyse a saved plan offline, no database: EXPLAIN (FORMAT JSON) output, psql's default
    /// text-format EXPLAIN or EXPLAIN ANALYZE output as pasted (with or without its header and
    /// footer), or a server log with auto_explain entries (JSON or text); - for stdin.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["param", "params_json", "no_analyze", "timeout"])]
    pub plan: Option<PathBuf>,

    /// Value for the next $n parameter (repeat in order: --param 42 --param abc); applies to
    /// statements without a `-- pgdiag: params` comment.
    #[arg(long = "param", value_name = "VALUE")]
    pub param: Vec<String>,

    /// All parameters as a JSON array, e.g. '[42, "abc", null]' (null gives SQL NULL).
    #[arg(long, value_name = "JSON", conflicts_with = "param")]
    pub params_json: Option<String>,

    /// Show the estimated plan only; do not execute the statement. A statement with $n and no
    /// values gets its generic plan (EXPLAIN (GENERIC_PLAN) on PostgreSQL 16+).
    #[arg(long)]
    pub no_analyze: bool,

    /// Run statements that call functions whose effects survive the rollback (setval, nextval,
    /// pg_terminate_backend, pg_stat_reset*, replication slots, dblink*, ...; refused otherwise),
    /// and statements that write nothing in a read-write transaction instead of a READ ONLY one.
    /// Still rolled back; the report lists what may have survived.
    #[arg(long, conflicts_with = "plan")]
    pub allow_side_effects: bool,

    /// Exit 1 when a finding reaches this severity (for scripts and CI). Findings below notice
    /// are `info`: shown, never failing.
    #[arg(long, value_enum, value_name = "SEVERITY")]
    pub fail_on: Option<FailOn>,

    /// statement_timeout per statement, e.g. 60s, 500ms, 1m30s (0 disables).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Write the report (any `--format`) to this file instead of standard output.
    #[arg(long = "output", value_name = "FILE")]
    pub output_file: Option<PathBuf>,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub diagnose: DiagnoseArgs,

    #[command(flatten)]
    pub output: OutputArgs,
}

/// Options shared by `baseline` and `check` for running the queries.
#[derive(Debug, Clone, Args)]
pub struct GateRunArgs {
    /// Connections used in parallel.
    #[arg(long, short = 'j', value_name = "N", default_value_t = 4, value_parser = at_least_one())]
    pub jobs: usize,

    /// statement_timeout per statement, e.g. 60s, 500ms, 1m30s (0 disables).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct BaselineArgs {
    /// .sql files or directories to walk.
    #[arg(value_name = "PATHS", required = true)]
    pub paths: Vec<PathBuf>,

    /// Where to write the baseline.
    #[arg(long, value_name = "FILE", default_value = "pgdiag-baseline.json")]
    pub out: PathBuf,

    /// Also run each query (EXPLAIN ANALYZE, rolled back) to record timings and findings.
    #[arg(long)]
    pub analyze: bool,

    /// With --analyze: runs per query; the median is recorded.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "analyze", value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    #[command(flatten)]
    pub run: GateRunArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub diagnose: DiagnoseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CheckFormat {
    /// Human-readable, with a side-by-side plan diff of each regressed query.
    Text,
    /// The versioned check report (docs/check-report.md).
    Json,
    /// JUnit XML, one testcase per query, for CI dashboards.
    Junit,
    /// GitHub Actions annotations on the query files (the default when GITHUB_ACTIONS=true).
    Github,
    /// GitHub-flavoured Markdown, for a pull-request comment.
    Markdown,
    /// One self-contained HTML page: each query's changes, the baseline and current plan side by side.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SuggestFormat {
    /// Human-readable tables.
    Text,
    /// The versioned suggest report (docs/suggest-report.md).
    Json,
    /// GitHub-flavoured Markdown, for a pull-request comment.
    Markdown,
    /// One self-contained HTML page: each suggestion with its DDL, its proof and the plans before
    /// and after.
    Html,
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct CheckArgs {
    /// .sql files or directories to check (default: the files recorded in the baseline).
    #[arg(value_name = "PATHS")]
    pub paths: Vec<PathBuf>,

    /// The baseline to compare with.
    #[arg(long, value_name = "FILE", default_value = "pgdiag-baseline.json")]
    pub baseline: PathBuf,

    /// Accept the current plans: rewrite the baseline, exit 0.
    #[arg(long)]
    pub update: bool,

    /// Output format [default: github when GITHUB_ACTIONS=true, else text]; json is the check
    /// report of docs/check-report.md (schema docs/schemas/check.schema.json). Under GitHub Actions
    /// the Markdown summary is also appended to `$GITHUB_STEP_SUMMARY`, whatever the format.
    #[arg(long, value_enum)]
    pub format: Option<CheckFormat>,

    /// Write the report (any `--format`) to this file instead of standard output.
    #[arg(long = "output", value_name = "FILE")]
    pub output_file: Option<PathBuf>,

    /// Also list unchanged queries.
    #[arg(short, long)]
    pub verbose: bool,

    /// EXPLAIN ANALYZE runs per query [default: the baseline's]; needs a baseline recorded with
    /// --analyze. More runs judge timings and findings near a threshold more surely.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: Option<u32>,

    #[command(flatten)]
    pub run: GateRunArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub diagnose: DiagnoseArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchScenario {
    /// C clients for the duration, after the warm-up.
    Steady,
    /// Expire the hot keys at once and release C readers on them together.
    Herd,
    /// Steady reads while a writer updates keys: stale reads and staleness per write.
    Writes,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InvalidateMode {
    /// Only the TTL.
    None,
    /// A trigger does pg_notify; pgdiag deletes the key in Redis (trigger dropped afterwards; one
    /// a killed run left is dropped by the next run).
    Notify,
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct BenchArgs {
    /// SQL file with one SELECT; $1 is the key (text). - reads it from standard input.
    #[arg(value_name = "QUERY.sql")]
    pub query: PathBuf,

    /// The load: steady reads, a thundering herd after expiry, or reads beside writes.
    #[arg(long, value_enum, default_value_t = BenchScenario::Steady)]
    pub scenario: BenchScenario,

    /// Concurrent clients (herd: readers released together).
    #[arg(long, value_name = "C", default_value_t = 32, value_parser = at_least_one())]
    pub clients: usize,

    /// Measured phase of each strategy, e.g. 10s, 1m.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,

    /// Unmeasured phase before it (fills the cache, warms the connections).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub warmup: Duration,

    /// Number of distinct keys.
    #[arg(long, value_name = "K", default_value_t = 1000, value_parser = at_least_one())]
    pub keys: usize,

    /// Query whose first column gives the keys, hottest first (default: 1..=K).
    #[arg(long, value_name = "SQL")]
    pub keys_from: Option<String>,

    /// Zipf exponent of key popularity (0 = uniform).
    #[arg(long, value_name = "S", default_value_t = 1.0, value_parser = parse_non_negative)]
    pub zipf: f64,

    /// Strategies to run, comma-separated [default: none,cache-aside,swr,xfetch].
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub strategies: Vec<String>,

    /// Hard TTL: how long a key lives in Redis.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub ttl: Duration,

    /// Soft TTL (swr, xfetch): after it a read is served stale while one caller refreshes.
    #[arg(long, value_name = "DURATION", default_value = "45s", value_parser = parse_duration)]
    pub soft_ttl: Duration,

    /// Redis URL [default: REDIS_URL, else a throwaway Redis started for the run].
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<crate::cache::RedisUrl>,

    /// Database connections the loader uses.
    #[arg(long, value_name = "N", default_value_t = 16, value_parser = at_least_one())]
    pub pool: usize,

    /// Herd: expiry rounds.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = at_least_one())]
    pub expiries: usize,

    /// Herd: how many of the hottest keys expire each round.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = at_least_one())]
    pub hot_keys: usize,

    /// Writes: the statement, $1 = the key, e.g. "UPDATE pricing SET price = price + 0.01 WHERE product_id = $1".
    #[arg(long, value_name = "SQL")]
    pub write: Option<String>,

    /// Writes per second.
    #[arg(long, value_name = "W", default_value_t = 10.0, value_parser = parse_positive)]
    pub write_rate: f64,

    /// How writes reach the cache: only through the TTL, or a NOTIFY trigger that deletes keys.
    #[arg(long, value_enum, default_value_t = InvalidateMode::None)]
    pub invalidate: InvalidateMode,

    /// With --invalidate notify: the table whose changes invalidate keys.
    #[arg(long, value_name = "TABLE", required_if_eq("invalidate", "notify"))]
    pub invalidate_table: Option<String>,

    /// With --invalidate notify: the column holding the key.
    #[arg(long, value_name = "COLUMN", required_if_eq("invalidate", "notify"))]
    pub invalidate_key_column: Option<String>,

    /// Seed of the key sequence (the same for every strategy).
    #[arg(long, value_name = "N", default_value_t = 42)]
    pub seed: u64,

    /// Output format: text, json (the bench report: docs/bench-report.md, schema
    /// docs/schemas/bench.schema.json), or html (one self-contained page of charts).
    #[arg(long, value_enum, default_value_t = BenchFormat::Text)]
    pub format: BenchFormat,

    /// Write the report (any `--format`) to this file instead of standard output.
    #[arg(long = "output", value_name = "FILE")]
    pub output_file: Option<PathBuf>,

    /// Also write the results in the Prometheus text format to FILE.
    #[arg(long, value_name = "FILE")]
    pub metrics_out: Option<PathBuf>,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// The comparison table.
    Text,
    /// The bench report, named above.
    Json,
    /// One self-contained HTML page: latency distributions, requests and database calls over
    /// time, staleness per write, and the table.
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerifyChoice {
    /// HypoPG hypothetical indexes and plain EXPLAIN: planned cost, nothing built.
    Hypo,
    /// Build each index in a rolled-back transaction and time EXPLAIN ANALYZE (locks writes meanwhile).
    Build,
    /// No proof: suggestions are listed unverified.
    None,
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
#[command(group(clap::ArgGroup::new("input").required(true).multiple(true).args(["files", "command", "from_pg_stat_statements", "from_log"])))]
pub struct SuggestArgs {
    /// SQL files (several statements each allowed), directories (every .sql file below, sorted),
    /// or - for standard input.
    #[arg(value_name = "FILES")]
    pub files: Vec<PathBuf>,

    /// SQL given inline.
    #[arg(
        short = 'c',
        long = "command",
        value_name = "SQL",
        conflicts_with = "files"
    )]
    pub command: Option<String>,

    /// Value for the next $n parameter (repeat in order); applies to statements without a
    /// `-- pgdiag: params` comment. Without values, statements with $n are planned generically.
    #[arg(long = "param", value_name = "VALUE")]
    pub param: Vec<String>,

    /// All parameters as a JSON array, e.g. '[42, "abc", null]'.
    #[arg(long, value_name = "JSON", conflicts_with = "param")]
    pub params_json: Option<String>,

    /// How to prove suggestions [default: hypo when the hypopg extension is available, else none].
    #[arg(long, value_enum, value_name = "MODE")]
    pub verify: Option<VerifyChoice>,

    /// Keep a suggestion only if it improves some statement by at least PCT percent
    /// [default: `[suggest] min_improvement` in pgdiag.toml, else 10].
    #[arg(long, value_name = "PCT")]
    pub min_improvement: Option<f64>,

    /// How much an index's size must buy: one is kept only if it makes the workload (beside those
    /// kept before it) at least as many times faster as it makes the data the statements read
    /// larger, raised to WEIGHT; 0 leaves size out [default: `[suggest] size_weight` in
    /// pgdiag.toml, else 1].
    #[arg(long, value_name = "WEIGHT")]
    pub size_weight: Option<f64>,

    /// statement_timeout per statement and per verification build, e.g. 60s, 500ms, 2m (0
    /// disables). A statement that runs longer under EXPLAIN ANALYZE is advised from its estimated
    /// plan (plain EXPLAIN), judged on planned cost. --apply's concurrent builds are not
    /// time-limited: they let writes go on.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// EXPLAIN ANALYZE runs per measurement, after one unmeasured warm-up run: --verify build,
    /// and each statement before and after --apply (the median is kept, the spread shown).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,

    /// lock_timeout for building (--verify build) and creating (--apply) indexes.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lock_timeout: Duration,

    /// With --apply: how long each index build may wait, in all, for transactions older than it
    /// to end (CREATE INDEX CONCURRENTLY waits for every older snapshot of the database).
    #[arg(long, value_name = "DURATION", default_value = "3m", value_parser = parse_duration)]
    pub build_wait: Duration,

    /// Create the kept suggestions (CREATE INDEX CONCURRENTLY) after confirmation.
    #[arg(long)]
    pub apply: bool,

    /// With --apply: do not ask for confirmation (required when not on a terminal).
    #[arg(long, requires = "apply")]
    pub yes: bool,

    /// Also create materialized views (with --apply) and write them (with --dry-run / --output).
    #[arg(long)]
    pub with_matviews: bool,

    /// Print only the DDL script of the kept suggestions; change nothing.
    #[arg(long, conflicts_with = "apply")]
    pub dry_run: bool,

    /// Write the DDL as a migration file (with what each change serves and gains).
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Output format: text, json (the suggest report: docs/suggest-report.md, schema
    /// docs/schemas/suggest.schema.json) or markdown. Under
    /// GitHub Actions the Markdown summary is also appended to `$GITHUB_STEP_SUMMARY`, whatever
    /// the format.
    #[arg(long, value_enum, default_value_t = SuggestFormat::Text)]
    pub format: SuggestFormat,

    /// Exit 1 when something is suggested (for CI: "this query needs an index").
    #[arg(long)]
    pub fail_on_suggestions: bool,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    #[command(flatten)]
    pub connection: ConnectionArgs,

    #[command(flatten)]
    pub diagnose: DiagnoseArgs,
}

/// What `pgdiag top` ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TopOrder {
    /// Execution time in all: what the database spends on the statement.
    TotalTime,
    /// Execution time per call.
    MeanTime,
    Calls,
    /// Rows returned or affected, in all.
    Rows,
    /// Shared blocks read (not found in cache) plus temporary blocks read and written.
    Io,
}

impl TopOrder {
    pub fn order_by(self) -> crate::input::OrderBy {
        match self {
            TopOrder::TotalTime => crate::input::OrderBy::TotalTime,
            TopOrder::MeanTime => crate::input::OrderBy::MeanTime,
            TopOrder::Calls => crate::input::OrderBy::Calls,
            TopOrder::Rows => crate::input::OrderBy::Rows,
            TopOrder::Io => crate::input::OrderBy::Io,
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct TopArgs {
    /// What to rank by.
    #[arg(long, value_enum, value_name = "MEASURE", default_value_t = TopOrder::TotalTime)]
    pub order_by: TopOrder,

    /// How many statements to show (0: all).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub limit: usize,

    /// Only statements called at least N times.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub min_calls: u64,

    /// The database whose statements to rank [default: the one connected to]. The extension
    /// must exist in the database connected to, which may be another.
    #[arg(long, value_name = "NAME", conflicts_with = "all_databases")]
    pub database: Option<String>,

    /// Rank the statements of every database of the server together (a database column is
    /// shown).
    #[arg(long)]
    pub all_databases: bool,

    /// Output format: text, or json (the top report: docs/top-report.md, schema
    /// docs/schemas/top.schema.json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

#[derive(Debug, Clone, Args)]
#[command(disable_help_flag = true)]
pub struct IndexesArgs {
    /// Only these kinds, comma-separated: unused, duplicate, redundant, invalid [default: all].
    #[arg(long, value_name = "KINDS", value_delimiter = ',', value_parser = parse_hygiene_kind)]
    pub only: Vec<crate::advise::hygiene::HygieneKind>,

    /// Drop the findings (DROP INDEX CONCURRENTLY, one at a time) after confirmation.
    #[arg(long)]
    pub drop: bool,

    /// With --drop: do not ask for confirmation (required when not on a terminal).
    #[arg(long, requires = "drop")]
    pub yes: bool,

    /// With --drop: how long each drop may wait for its lock (the transactions using the table).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lock_timeout: Duration,

    /// Exit 1 when an index can go (for CI).
    #[arg(long)]
    pub fail_on_findings: bool,

    /// Output format: text, or json (the indexes report: docs/indexes-report.md, schema
    /// docs/schemas/indexes.schema.json).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,

    #[command(flatten)]
    pub connection: ConnectionArgs,
}

fn parse_hygiene_kind(text: &str) -> Result<crate::advise::hygiene::HygieneKind, String> {
    text.parse()
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Leave the embedded PostgreSQL and Redis running at the end and print their URLs.
    #[arg(long)]
    pub keep: bool,

    /// Data size: 1.0 = 50,000 products, 1.2 M reviews (about 10 s to load on 2 cores).
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_scale)]
    pub scale: f64,

    /// Measured phase of each cache benchmark [default: 3s; 1.2s below scale 0.25].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub bench_duration: Option<Duration>,

    /// Output format: text (each step as it finishes), json (the demo document:
    /// docs/demo-report.md, schema docs/schemas/demo.schema.json), or html (the whole story on one
    /// page).
    #[arg(long, value_enum, default_value_t = DemoFormat::Text)]
    pub format: DemoFormat,

    /// Write the report (any `--format`) to this file instead of standard output.
    #[arg(long = "output", value_name = "FILE")]
    pub output_file: Option<PathBuf>,

    /// Use this PostgreSQL database instead of a throwaway one; it must not hold the seed's
    /// tables (products, pricing, inventory, reviews, recommendations).
    #[arg(long, value_name = "DSN")]
    pub dsn: Option<crate::pg::Dsn>,

    /// Use this Redis instead of a throwaway one (the demo's keys are removed afterwards).
    #[arg(long, value_name = "URL")]
    pub redis_url: Option<crate::cache::RedisUrl>,
}

/// A seed scale: a number above 0 and at most `seed::MAX_SCALE`.
pub fn parse_scale(text: &str) -> Result<f64, String> {
    let scale: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("invalid scale `{text}`: use a number such as 0.1 or 1"))?;
    if scale.is_finite() && scale > 0.0 && scale <= crate::seed::MAX_SCALE {
        Ok(scale)
    } else {
        Err(format!(
            "invalid scale `{text}`: use a number above 0 and at most {}",
            crate::seed::MAX_SCALE
        ))
    }
}

/// The longest duration any flag takes: PostgreSQL's limit for `statement_timeout` and
/// `lock_timeout` (a 32-bit count of milliseconds, about 24.8 days), which also keeps every timer
/// and deadline computed from a duration far from overflowing.
pub const MAX_DURATION: Duration = Duration::from_millis(i32::MAX as u64);

/// A duration: `60s`, `500ms`, `2m`, `1h`, `1m30s`, `1h 30m`, `1.5s` (units ns, us, ms, s, m, h,
/// d and their long forms, as the `humantime` crate reads them), or a bare number of seconds
/// (`5`, `0.5`). At most [`MAX_DURATION`]; 0 or at least 1ms; never negative.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let examples = "examples: 60s, 500ms, 2m, 1m30s";
    let duration = if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit() || c == '.') {
        // A bare number is seconds, as before units were required.
        let seconds: f64 = text
            .parse()
            .map_err(|_| format!("invalid duration `{text}` ({examples})"))?;
        Duration::try_from_secs_f64(seconds).map_err(|_| too_long(text))?
    } else {
        match humantime::parse_duration(text) {
            Ok(duration) => duration,
            Err(humantime::DurationError::NumberOverflow) => return Err(too_long(text)),
            Err(error) => decimal_duration(text)
                .ok_or_else(|| format!("invalid duration `{text}`: {error} ({examples})"))?,
        }
    };
    if duration > MAX_DURATION {
        return Err(too_long(text));
    }
    if !duration.is_zero() && duration < Duration::from_millis(1) {
        // Timeouts and TTLs count milliseconds: a shorter one would become 0, which disables.
        return Err(format!(
            "duration `{text}` is too short: use 0 or at least 1ms"
        ));
    }
    Ok(duration)
}

fn too_long(text: &str) -> String {
    format!(
        "duration `{text}` is too long: at most {}ms (about 24 days, PostgreSQL's limit for timeouts)",
        MAX_DURATION.as_millis()
    )
}

/// `1.5s`, `0.5m`: one decimal number and one unit, which humantime does not read.
fn decimal_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "s" | "sec" | "secs" => value,
        "ms" => value / 1000.0,
        "m" | "min" | "mins" => value * 60.0,
        "h" | "hr" | "hrs" => value * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// A count of at least 1 (clients, connections, keys, runs): 0 is refused by clap with its usual
/// message instead of being bumped to 1 or accepted.
fn at_least_one() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
}

/// A finite number ≥ 0 (the Zipf exponent).
/// `--calls`: a call rate (`120/min`, `2.5/s`, `1000/h`).
pub fn parse_call_rate(text: &str) -> Result<crate::input::CallRate, String> {
    text.parse()
}

pub fn parse_non_negative(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
        _ => Err(format!("`{text}` is not a number ≥ 0")),
    }
}

/// A finite number > 0 (a rate).
pub fn parse_positive(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!("`{text}` is not a number above 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every subcommand shows examples, and every flag and argument says what it is (issue 14).
    #[test]
    fn every_command_has_examples_and_every_flag_a_description() {
        let cli = Cli::command();
        for command in cli.get_subcommands() {
            let name = command.get_name();
            let after = command
                .get_after_help()
                .map(ToString::to_string)
                .unwrap_or_default();
            assert!(
                after.starts_with("Examples:\n  pgdiag "),
                "`{name}` has no Examples section"
            );
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                assert!(
                    help.len() > 10,
                    "`pgdiag {name}`: `{id}` has no description"
                );
            }
        }
    }

    #[test]
    fn rule_ids_and_threshold_names_are_listed() {
        let mut cli = Cli::command();
        let explain = cli.find_subcommand_mut("explain").unwrap();
        let help = explain.render_long_help().to_string();
        assert!(help.contains("seq_scan_min_rows = "), "{help}");
        assert!(help.contains("jit-overhead"), "{help}");
        assert!(
            Cli::try_parse_from([
                "pgdiag",
                "explain",
                "-c",
                "SELECT 1",
                "--disable-rule",
                "nope"
            ])
            .is_err()
        );
    }

    #[test]
    fn psqls_connection_flags_on_every_command_that_connects() {
        for command in [
            vec!["explain", "-c", "SELECT 1"],
            vec!["suggest", "-c", "SELECT 1"],
            vec!["baseline", "q.sql"],
            vec!["check"],
            vec!["bench", "q.sql"],
            vec!["top"],
            vec!["indexes"],
            vec!["cache-advice", "--from-pg-stat-statements"],
        ] {
            let mut argv = vec!["pgdiag"];
            argv.extend(&command);
            argv.extend(["-h", "db", "-p", "5433", "-U", "app", "-d", "shop", "-w"]);
            let cli = Cli::try_parse_from(&argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
            let connection = match &cli.command {
                Command::Explain(a) => &a.connection,
                Command::Suggest(a) => &a.connection,
                Command::Baseline(a) => &a.connection,
                Command::Check(a) => &a.connection,
                Command::Bench(a) => &a.connection,
                Command::Top(a) => &a.connection,
                Command::Indexes(a) => &a.connection,
                Command::CacheAdvice(a) => &a.connection,
                other => panic!("{other:?}"),
            };
            assert_eq!(connection.host.as_deref(), Some("db"));
            assert_eq!(connection.port.as_deref(), Some("5433"));
            assert_eq!(connection.username.as_deref(), Some("app"));
            assert_eq!(connection.dbname.as_deref(), Some("shop"));
            assert!(connection.no_password && !connection.password);
            // Help is --help or -? there, as in psql.
            for help in ["--help", "-?"] {
                let mut argv = vec!["pgdiag", command[0], help];
                argv.truncate(3);
                let err = Cli::try_parse_from(&argv).unwrap_err();
                assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp, "{argv:?}");
            }
        }
        let err = Cli::try_parse_from(["pgdiag", "top", "-w", "-W"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("60s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("5").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1h 30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration(" 10s ").unwrap(), Duration::from_secs(10));
        assert_eq!(
            parse_duration("24d").unwrap(),
            Duration::from_secs(24 * 86400)
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1..5").is_err());
        assert!(parse_duration("500us").unwrap_err().contains("too short"));
        for huge in [
            "99999999999999999999",
            "99999999999999999999s",
            "99999999999999999999ms",
            "1e400",
            "25d",
            "100000000h",
            "18446744073709551615s",
            "1.7976931348623157e308",
        ] {
            let error = parse_duration(huge).unwrap_err();
            assert!(
                error.contains("too long") || error.contains("invalid"),
                "{huge}: {error}"
            );
        }
        assert!(
            parse_duration("99999999999999999999")
                .unwrap_err()
                .contains("too long")
        );
    }

    #[test]
    fn counts_must_be_at_least_one() {
        for args in [
            &["pgdiag", "bench", "q.sql", "--clients", "0"][..],
            &["pgdiag", "bench", "q.sql", "--keys", "0"],
            &["pgdiag", "bench", "q.sql", "--pool", "0"],
            &["pgdiag", "bench", "q.sql", "--hot-keys", "0"],
            &["pgdiag", "bench", "q.sql", "--expiries", "0"],
            &["pgdiag", "bench", "q.sql", "--write-rate", "0"],
            &["pgdiag", "bench", "q.sql", "--zipf", "nan"],
            &[
                "pgdiag",
                "bench",
                "q.sql",
                "--duration",
                "99999999999999999999",
            ],
            &["pgdiag", "check", "q.sql", "--jobs", "0"],
            &["pgdiag", "baseline", "q.sql", "--jobs", "0"],
            &["pgdiag", "baseline", "q.sql", "--analyze", "--runs", "0"],
            &[
                "pgdiag",
                "explain",
                "q.sql",
                "--timeout",
                "99999999999999999999",
            ],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(
                error.kind(),
                clap::error::ErrorKind::ValueValidation,
                "{args:?}"
            );
        }
        let cli =
            Cli::try_parse_from(["pgdiag", "explain", "q.sql", "--timeout", "1m30s"]).unwrap();
        let Command::Explain(explain) = cli.command else {
            panic!("explain");
        };
        assert_eq!(explain.timeout, Duration::from_secs(90));
    }

    #[test]
    fn scales() {
        assert_eq!(parse_scale("0.02").unwrap(), 0.02);
        assert_eq!(parse_scale("1").unwrap(), 1.0);
        for bad in ["0", "-1", "nan", "inf", "1000", "big"] {
            assert!(parse_scale(bad).is_err(), "{bad}");
        }
    }
}
