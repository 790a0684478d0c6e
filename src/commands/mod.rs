//! One module per subcommand; each takes resolved arguments and writers, and returns an
//! [`Outcome`] that the binary maps to an exit code.

pub mod baseline;
pub mod bench;
pub mod check;
pub mod demo;
pub mod explain;
pub mod suggest;

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

/// Resolves when the user presses Ctrl-C (SIGINT). If the handler cannot be installed the future
/// never resolves, leaving the default behaviour.
pub async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
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
    let progress = indicatif::ProgressBar::new(total as u64);
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
