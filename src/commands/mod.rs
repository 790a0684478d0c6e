//! One module per subcommand; each takes resolved arguments and writers, and returns an
//! [`Outcome`] that the binary maps to an exit code.

pub mod baseline;
pub mod bench;
pub mod cache_advice;
pub mod check;
pub mod completions;
pub mod demo;
pub mod explain;
pub mod indexes;
pub mod rules;
pub mod schema;
pub mod suggest;
pub mod top;

/// Connection settings for a command, as psql resolves them: `-h -p -U -d` over `--dsn` (or a
/// connection string given to `-d`), `DATABASE_URL`, the service file and the environment.
/// Prints libpq's warnings and pgdiag's note to standard error, prompts for the password with
/// `-W`, or when the server asks for one that is not known and standard input is a terminal
/// (unless `-w`).
pub(crate) async fn connection_settings(
    args: &crate::cli::ConnectionArgs,
) -> anyhow::Result<crate::pg::ConnectionSettings> {
    use std::io::IsTerminal;

    use crate::pg::{ConnectionSettings, Overrides, ProcessEnv};
    // psql: a -d value with `=` or a URL prefix is a whole connection string.
    let dbname_is_conninfo = args.dbname.as_deref().is_some_and(|d| {
        d.contains('=') || d.starts_with("postgres://") || d.starts_with("postgresql://")
    });
    let (dsn, dbname) = if dbname_is_conninfo {
        if args.dsn.is_some() {
            anyhow::bail!("give the connection string once: with --dsn or with -d, not both");
        }
        (args.dbname.as_deref(), None)
    } else {
        (args.dsn.as_deref(), args.dbname.clone())
    };
    let overrides = Overrides {
        host: args.host.clone(),
        port: args.port.clone(),
        user: args.username.clone(),
        dbname,
    };
    let mut settings = ConnectionSettings::resolve_with(dsn, &overrides, &ProcessEnv)?;
    for line in settings.warnings() {
        eprintln!("{line}");
    }
    let prompt = |settings: &mut ConnectionSettings| -> anyhow::Result<()> {
        let password =
            rpassword::prompt_password(format!("Password for user {}: ", settings.user()))
                .map_err(|e| anyhow::anyhow!("cannot read the password: {e}"))?;
        settings.set_password(&password);
        Ok(())
    };
    if args.password {
        prompt(&mut settings)?;
    } else if !args.no_password && !settings.has_password() && std::io::stdin().is_terminal() {
        match settings.connect().await {
            Ok(_) => {}
            Err(e) if e.asks_for_password() => prompt(&mut settings)?,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(settings)
}

/// The workload `--from-pg-stat-statements` / `--from-log` asks for: `pg_stat_statements` of the
/// database `settings` connect to, read through `runner`, or the log file (with a progress bar on
/// a terminal).
pub(crate) async fn read_workload(
    args: &crate::cli::WorkloadArgs,
    settings: &crate::pg::ConnectionSettings,
    runner: &crate::pg::Runner,
) -> anyhow::Result<crate::input::Workload> {
    use anyhow::Context;
    if let Some(path) = &args.from_log {
        let bar = shown_on_terminal(indicatif::ProgressBar::new(0));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "reading {msg} {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style);
        }
        bar.set_message(path.display().to_string());
        let read = crate::input::log::read_log(path, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        });
        bar.finish_and_clear();
        return read.with_context(|| format!("reading the log {}", path.display()));
    }
    let query = crate::pg::stat_statements::StatStatementsQuery {
        database: Some(
            settings
                .config()
                .get_dbname()
                .unwrap_or_default()
                .to_owned(),
        ),
        min_calls: 0,
    };
    let read = tokio::select! {
        r = crate::pg::stat_statements::read(runner.client(), runner.server_version_num(), &query) => r?,
        () = interrupted() => return Err(crate::pg::Error::Interrupted.into()),
    };
    Ok(crate::input::workload::from_stat_statements(&read))
}

/// How a command ended when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Exit 1: findings or regressions that fail a gate.
    GateFailed,
    /// Exit 2: some of the work could not be done; already reported.
    Failed,
}

impl Outcome {
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Ok => 0,
            Outcome::GateFailed => 1,
            Outcome::Failed => 2,
        }
    }
}

/// The signals that stop pgdiag the way Ctrl-C does: SIGINT (Ctrl-C), SIGTERM (what CI runners,
/// `timeout` and `kill` send) and SIGHUP (the terminal went away).
const STOP_SIGNALS: [(&str, nix::sys::signal::Signal); 3] = [
    ("SIGINT", nix::sys::signal::Signal::SIGINT),
    ("SIGTERM", nix::sys::signal::Signal::SIGTERM),
    ("SIGHUP", nix::sys::signal::Signal::SIGHUP),
];

/// The latch every [`interrupted`] future waits on: `None` until the first stop signal, then its
/// name. One listener per process, installed once, so a signal that arrives between two
/// statements (when no future happens to be waiting) is not lost.
static STOP: std::sync::OnceLock<tokio::sync::watch::Sender<Option<&'static str>>> =
    std::sync::OnceLock::new();

/// Install the signal listener (idempotent). Call it early, inside the runtime: from then on
/// SIGINT, SIGTERM and SIGHUP no longer end the process at once; they set the latch, and each
/// command cancels what runs on the server, cleans up and exits 2. A second Ctrl-C exits at once,
/// without waiting for the cleanup. Outside a runtime, or when a handler cannot be installed, the
/// signals keep their default action.
pub fn listen_for_signals() {
    stop_latch();
}

fn stop_latch() -> &'static tokio::sync::watch::Sender<Option<&'static str>> {
    STOP.get_or_init(|| {
        let (sender, _) = tokio::sync::watch::channel(None);
        if tokio::runtime::Handle::try_current().is_err() {
            return sender;
        }
        use tokio::signal::unix::{SignalKind, signal};
        // Registered here, before returning, so no signal slips by between install and listen.
        let mut streams = Vec::new();
        for (name, number) in STOP_SIGNALS {
            // `nohup` (SIGHUP) and a non-interactive shell's `&` (SIGINT) start us with the
            // signal ignored: the user asked not to be stopped by it, so it stays ignored.
            if ignored_at_start(number) {
                continue;
            }
            if let Ok(stream) = signal(SignalKind::from_raw(number as i32)) {
                streams.push((name, stream));
            }
        }
        if streams.is_empty() {
            // Nothing to listen to (every signal ignored): `interrupted` never resolves.
            return sender;
        }
        let latch = sender.clone();
        tokio::spawn(async move {
            let mut streams = streams;
            loop {
                let received =
                    futures_util::future::select_all(streams.iter_mut().map(|(name, stream)| {
                        Box::pin(async move { stream.recv().await.map(|_| *name) })
                    }))
                    .await
                    .0;
                let Some(name) = received else {
                    return;
                };
                let first = latch.borrow().is_none();
                if first {
                    latch.send_replace(Some(name));
                } else if name == "SIGINT" {
                    // Pressed again: the user does not want to wait for the cleanup.
                    eprintln!("pgdiag: interrupted again; exiting without waiting for cleanup");
                    std::process::exit(2);
                }
            }
        });
        sender
    })
}

/// Whether `signal` is ignored by this process, from the `SigIgn` mask of `/proc/self/status`
/// (Linux; elsewhere nothing is taken as ignored).
fn ignored_at_start(signal: nix::sys::signal::Signal) -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    sig_ignored(&status, signal as i32)
}

fn sig_ignored(status: &str, number: i32) -> bool {
    status
        .lines()
        .find_map(|line| line.strip_prefix("SigIgn:"))
        .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
        .is_some_and(|mask| (1..=64).contains(&number) && mask & (1u64 << (number - 1)) != 0)
}

/// The stop signal received so far (`SIGINT`, `SIGTERM`, `SIGHUP`), if any.
pub fn stop_signal() -> Option<&'static str> {
    *stop_latch().borrow()
}

/// Resolves when pgdiag is asked to stop: SIGINT (Ctrl-C), SIGTERM or SIGHUP, received now or
/// earlier in the run (resolves at once then). Every command selects on it to cancel the
/// server-side statement and clean up. If the listener cannot be installed the future never
/// resolves, leaving the signals' default behaviour.
pub async fn interrupted() {
    let mut receiver = stop_latch().subscribe();
    if receiver.wait_for(Option::is_some).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// A bar on stderr while `baseline` or `check` plans the statements (hidden when stderr is not a
/// terminal, so pipes, files and CI logs stay clean).
fn record_progress(
    files: &[crate::gate::QueryFile],
    options: &crate::gate::RecordOptions,
) -> indicatif::ProgressBar {
    let total: usize = files.iter().map(|f| f.statements.len()).sum();
    let progress = shown_on_terminal(indicatif::ProgressBar::new(total as u64));
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} {msg} [{bar:30}] {pos}/{len} queries ({elapsed}, eta {eta})",
    ) {
        progress.set_style(style.progress_chars("=> "));
    }
    progress.set_message(if options.analyze_runs.is_some() {
        "running"
    } else {
        "planning"
    });
    progress
}

/// Under GitHub Actions (`GITHUB_ACTIONS=true` and `GITHUB_STEP_SUMMARY` set), append the
/// Markdown `render` writes to the job summary file, as GitHub documents it; elsewhere nothing.
/// A summary that cannot be written is a warning on `err`, never a failed gate.
pub(crate) fn write_step_summary(
    err: &mut impl std::io::Write,
    render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    if std::env::var("GITHUB_ACTIONS").ok().as_deref() != Some("true") {
        return Ok(());
    }
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|p| !p.is_empty()) else {
        return Ok(());
    };
    let mut markdown = Vec::new();
    render(&mut markdown)?;
    markdown.push(b'\n');
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, &markdown));
    if let Err(error) = written {
        writeln!(
            err,
            "pgdiag: warning: cannot append the job summary to GITHUB_STEP_SUMMARY ({}): {error}",
            std::path::Path::new(&path).display()
        )?;
    }
    Ok(())
}

/// Run the suggest pipeline with a spinner saying which statement runs (warnings printed above
/// it); Ctrl-C cancels what runs on the server (an EXPLAIN ANALYZE, an index build), then stops:
/// the connection closing rolls the verification transaction back.
pub(crate) async fn suggest_with_progress(
    runner: &mut crate::pg::Runner,
    settings: &crate::pg::ConnectionSettings,
    server: crate::pg::ServerInfo,
    inputs: &[crate::suggest::StatementInput],
    options: &crate::suggest::SuggestOptions,
    err: &mut impl std::io::Write,
) -> anyhow::Result<crate::suggest::report::SuggestReport> {
    use crate::suggest::SuggestEvent;
    let spinner = shown_on_terminal(indicatif::ProgressBar::new_spinner());
    if let Ok(style) = indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}") {
        spinner.set_style(style);
    }
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    let report = {
        let mut on_event = |event: SuggestEvent<'_>| match event {
            SuggestEvent::Planning {
                statement,
                total,
                line,
            } => spinner.set_message(format!(
                "running statement {statement}/{total} (line {line})"
            )),
            SuggestEvent::Verifying(what) => spinner.set_message(what.to_owned()),
            SuggestEvent::Warning(text) => {
                spinner.suspend(|| {
                    let _ = writeln!(err, "pgdiag: warning: {text}");
                });
            }
        };
        let cancel = runner.client().cancel_token();
        let tls = settings.tls_connector()?;
        let work = crate::suggest::suggest(runner, server, inputs, options, &mut on_event);
        tokio::select! {
            r = work => r?,
            () = interrupted() => {
                let _ = cancel.cancel_query(tls).await;
                return Err(crate::pg::Error::Interrupted.into());
            }
        }
    };
    spinner.finish_and_clear();
    Ok(report)
}

/// `--output FILE`: where a command writes its report instead of standard output. Created before
/// the work starts, so a path that cannot be written fails at once rather than after a long run;
/// [`ReportFile::finish`] flushes it, an error naming the file. A file is no terminal: the
/// commands write no colour codes to it and fit their text to the default width.
pub(crate) struct ReportFile {
    path: std::path::PathBuf,
    writer: std::io::BufWriter<std::fs::File>,
}

impl ReportFile {
    pub(crate) fn create(path: &std::path::Path) -> anyhow::Result<ReportFile> {
        use anyhow::Context;
        let file = std::fs::File::create(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(ReportFile {
            path: path.to_path_buf(),
            writer: std::io::BufWriter::new(file),
        })
    }

    /// Everything written is on disk, or the error says which file it could not reach.
    pub(crate) fn finish(mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        std::io::Write::flush(&mut self.writer)
            .with_context(|| format!("cannot write {}", self.path.display()))
    }
}

impl std::io::Write for ReportFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.writer.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// Progress bars and spinners are drawn only on a terminal that can take them: stderr is a
/// terminal and `TERM` is not `dumb` (Emacs shells, some CI consoles), so pipes, files, CI logs and
/// dumb terminals get no cursor movement.
pub(crate) fn progress_visible() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("TERM").is_none_or(|term| term != "dumb")
}

/// `bar`, hidden unless [`progress_visible`].
pub(crate) fn shown_on_terminal(bar: indicatif::ProgressBar) -> indicatif::ProgressBar {
    if !progress_visible() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    bar
}

#[cfg(test)]
mod tests {
    use super::sig_ignored;

    #[test]
    fn ignored_signals_are_read_from_the_sigign_mask() {
        // SIGHUP (1) and SIGPIPE (13) ignored, as under nohup.
        let status = "Name:\tpgdiag\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\n";
        assert!(sig_ignored(status, 1));
        assert!(sig_ignored(status, 13));
        assert!(!sig_ignored(status, 2));
        assert!(!sig_ignored(status, 15));
        assert!(!sig_ignored("no such line", 1));
    }
}
