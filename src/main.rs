//! The `pgdiag` binary: parse arguments, dispatch, map the outcome to an exit code
//! (0 ok, 1 a gate failed, 2 usage or runtime error).

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use pgdiag::cli::{Cli, ColorChoice, Command};
use pgdiag::commands;
use pgdiag::report::TextStyle;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors; everything else is a usage error (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pgdiag: error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        // Before any work: a SIGTERM or SIGHUP that arrives while connecting is then handled like
        // Ctrl-C instead of ending the process with a statement still running on the server.
        commands::listen_for_signals();
        tokio::select! {
            result = run(cli) => result,
            signal = stop_after_grace() => Err(anyhow::anyhow!(
                "{signal}: stopped after waiting {}s for the command to cancel and clean up",
                STOP_GRACE.as_secs()
            )),
        }
    });
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        // Printed exactly once, here: commands that report an error themselves return an
        // outcome, not the error.
        Err(e) => {
            eprintln!("pgdiag: error: {}", error_chain(&e));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, `: `-separated like anyhow's `{:#}`, without a cause whose text is
/// already said: our messages quote the server's (`cannot connect to ...: <reason>`), and the
/// driver's own error, kept as the source, would otherwise repeat it.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let own = cause.to_string();
        let db = cause
            .downcast_ref::<tokio_postgres::Error>()
            .and_then(|pg| pg.as_db_error())
            .or_else(|| cause.downcast_ref::<tokio_postgres::error::DbError>());
        let said = match db {
            Some(db) => text.contains(db.message()),
            None => text.contains(&own),
        };
        if said || own.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&own);
    }
    text
}

/// How long a command may take, after a stop signal, to cancel its server-side statement and
/// clean up before the binary stops waiting for it (every command listens for the signal; this
/// bounds one that is stuck).
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// Resolves [`STOP_GRACE`] after the first stop signal, with the signal's name.
async fn stop_after_grace() -> &'static str {
    commands::interrupted().await;
    tokio::time::sleep(STOP_GRACE).await;
    commands::stop_signal().unwrap_or("interrupted")
}

async fn run(cli: Cli) -> anyhow::Result<commands::Outcome> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut err = io::stderr();
    let outcome = match &cli.command {
        Command::Explain(args) => {
            let style = text_style(cli.color, args.output.verbose);
            commands::explain::run(args, &mut out, &mut err, style).await
        }
        Command::Baseline(args) => commands::baseline::run(args, &mut out).await,
        Command::Check(args) => {
            let style = text_style(cli.color, args.verbose);
            commands::check::run(args, &mut out, &mut err, style).await
        }
        Command::Bench(args) => {
            commands::bench::run(args, &mut out, &mut err, output_width()).await
        }
        Command::Suggest(args) => {
            let width = output_width();
            commands::suggest::run(args, &mut out, &mut err, width).await
        }
        Command::Indexes(args) => {
            let width = output_width();
            commands::indexes::run(args, &mut out, &mut err, width).await
        }
        Command::Demo(args) => commands::demo::run(args, &mut out, &mut err, output_width()).await,
        Command::CacheAdvice(args) => {
            commands::cache_advice::run(args, &mut out, &mut err, output_width()).await
        }
        Command::Top(args) => {
            let width = output_width();
            commands::top::run(args, &mut out, width).await
        }
        Command::Rules(args) => commands::rules::run(args, &mut out),
        Command::Completions(args) => commands::completions::completions(args, &mut out),
        Command::Man(args) => commands::completions::man(args, &mut out),
        Command::Schema(args) => commands::schema::run(args, &mut out),
    };
    out.flush()?;
    outcome
}

fn text_style(color: ColorChoice, verbose: bool) -> TextStyle {
    let color = match color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => colour_auto(),
    };
    let width = output_width();
    TextStyle {
        color,
        width,
        verbose,
    }
}

/// `--color auto`: anstream's reading of the terminal and of NO_COLOR, CLICOLOR, CLICOLOR_FORCE
/// and TERM (dumb).
fn colour_auto() -> bool {
    // anstream takes a CI environment (`CI`) for a colour terminal even when TERM says dumb; a
    // dumb terminal gets no colour unless CLICOLOR_FORCE asks for it.
    let dumb = std::env::var_os("TERM").is_some_and(|term| term == "dumb");
    let forced = std::env::var_os("CLICOLOR_FORCE").is_some_and(|v| !v.is_empty() && v != "0");
    if dumb && !forced {
        return false;
    }
    anstream::AutoStream::choice(&io::stdout()) != anstream::ColorChoice::Never
}

/// The width text output fits: `COLUMNS` when set (on a terminal or not, as `ls` does), else
/// the terminal's; `None` when neither gives a usable width (piped without `COLUMNS`, a pty
/// reporting 0×0, `COLUMNS=0`), and the text reports then fit
/// [`pgdiag::report::text::DEFAULT_WIDTH`].
fn output_width() -> Option<u16> {
    use pgdiag::report::text::usable_width;
    let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
    usable_width(columns).or_else(|| {
        if io::stdout().is_terminal() {
            usable_width(comfy_table::Table::new().width())
        } else {
            None
        }
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}
