//! The reaper: a tiny `sh` process per server that cleans up after us when we cannot.
//!
//! `Drop` never runs for a `static` (the shared test servers), on SIGKILL, or when a signal's
//! default action ends the process (Ctrl-C). So every server gets a watcher whose stdin is a pipe
//! we hold the write end of. The script blocks on `read`; whenever our process ends, for any reason,
//! the kernel closes the pipe, `read` returns, and the script kills the server and removes its temp
//! dir. On a normal `stop()` or drop the owner cleans up itself and writes `stopped` first, so the
//! script knows not to wait for a half-started server, nor to signal a pid that may be reused.
//!
//! The reaper runs in its own process group so a terminal Ctrl-C (sent to the foreground group)
//! does not kill it before it has done its job. Paths and pids reach the script as positional
//! arguments, never spliced into the script text.

use std::io::Write;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use super::{Error, Result};

/// Shared shell helpers. `alive` treats a zombie as gone: our servers are reparented to PID 1 once
/// we die, and that PID 1 may never reap them.
const PRELUDE: &str = r#"
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        state=$(sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f1)
        [ "$state" != Z ] && [ "$state" != X ]
    fi
}
# kill_and_wait SIGNAL PID: signal, wait up to 10 s, then SIGKILL.
kill_and_wait() {
    kill -"$1" "$2" 2>/dev/null || return 0
    i=0
    while alive "$2" && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    if alive "$2"; then kill -KILL "$2" 2>/dev/null; fi
}
# Block until our parent writes "stopped" (it cleaned up itself) or the pipe closes without it
# (our parent died, or a test simulates that).
read -r how || how=died
# Our parent handed the server over to the user (`pgdiag demo --keep`): nothing to clean up.
[ "$how" = kept ] && exit 0
"#;

/// `$1` = data dir, `$2` = temp dir. SIGQUIT is PostgreSQL's immediate shutdown: the postmaster
/// takes its backends down with it, which SIGKILL would not.
const POSTGRES_SCRIPT: &str = r#"
pidfile="$1/postmaster.pid"
if [ "$how" = died ] && [ -d "$1" ] && [ ! -f "$pidfile" ]; then
    # Our parent may have died inside `pg_ctl start`, leaving a postmaster about to write its pid
    # file; give it a moment rather than leave it running.
    i=0
    while [ ! -f "$pidfile" ] && [ "$i" -lt 30 ]; do sleep 0.1; i=$((i + 1)); done
fi
if [ -f "$pidfile" ]; then
    pid=$(head -n 1 "$pidfile")
    case "$pid" in
        ''|*[!0-9]*) ;;
        *) kill_and_wait QUIT "$pid" ;;
    esac
fi
rm -rf -- "$2"
"#;

/// `$1` = server pid, `$2` = temp dir. After an orderly stop the owner has already collected the
/// server, so its pid may belong to someone else by now: leave it alone.
const PID_SCRIPT: &str = r#"
case "$how:$1" in
    stopped:*|*:|*:*[!0-9]*) ;;
    *) kill_and_wait TERM "$1" ;;
esac
rm -rf -- "$2"
"#;

/// What the reaper must clean up once our process is gone.
#[derive(Debug, Clone, Copy)]
pub enum ReaperTarget<'a> {
    /// A PostgreSQL cluster: the postmaster pid is read from `data_dir/postmaster.pid` at reap time
    /// (so a restart on another pid is still covered).
    Postgres { data_dir: &'a Path },
    /// Any single server process, by pid.
    Pid { pid: u32 },
}

/// A running reaper. Dropping it closes the pipe, which triggers the cleanup.
#[derive(Debug)]
pub struct Reaper {
    child: Child,
    pipe: Option<ChildStdin>,
}

/// Start a reaper that removes `temp_dir` (and kills `target`) once our process exits or the
/// returned [`Reaper`] is dropped or [`Reaper::trigger`]ed.
pub fn spawn_reaper(target: ReaperTarget<'_>, temp_dir: &Path) -> Result<Reaper> {
    use std::os::unix::process::CommandExt;

    let mut command = Command::new("/bin/sh");
    match target {
        ReaperTarget::Postgres { data_dir } => {
            command
                .arg("-c")
                .arg(format!("{PRELUDE}{POSTGRES_SCRIPT}"))
                .arg("pgdiag-reaper")
                .arg(data_dir)
                .arg(temp_dir);
        }
        ReaperTarget::Pid { pid } => {
            command
                .arg("-c")
                .arg(format!("{PRELUDE}{PID_SCRIPT}"))
                .arg("pgdiag-reaper")
                .arg(pid.to_string())
                .arg(temp_dir);
        }
    }
    // Null stdout/stderr: a reaper outliving us must not hold our caller's pipes open (think
    // `pgdiag demo | tee`).
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .map_err(|e| Error::io("spawning the cleanup reaper (/bin/sh)", e))?;
    let pipe = child.stdin.take();
    Ok(Reaper { child, pipe })
}

impl Reaper {
    /// The reaper's pid (tests use it to watch it finish).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Close the pipe now, as if our process had died, and wait (bounded) for the reaper to finish.
    /// Returns whether it finished within `timeout`.
    pub fn trigger(&mut self, timeout: Duration) -> bool {
        self.pipe.take();
        self.wait(timeout)
    }

    /// Tell the reaper its owner cleaned up, then collect it. The script still checks for a
    /// server and the dir, but skips the grace period it gives a start-up its owner died in.
    fn finish(&mut self, timeout: Duration) -> bool {
        if let Some(mut pipe) = self.pipe.take() {
            // A failed write only costs the grace period.
            let _ = pipe.write_all(b"stopped\n");
        }
        self.wait(timeout)
    }

    /// Tell the reaper the server is handed over to the user and must outlive us, then collect
    /// it. Returns whether it finished within `timeout`.
    pub fn disarm(&mut self, timeout: Duration) -> bool {
        if let Some(mut pipe) = self.pipe.take() {
            // If the write fails the reaper sees a closed pipe and cleans up: the safe failure.
            let _ = pipe.write_all(b"kept\n");
        }
        self.wait(timeout)
    }

    fn wait(&mut self, timeout: Duration) -> bool {
        super::wait_until(timeout, || matches!(self.child.try_wait(), Ok(Some(_))))
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        // By now the owner has stopped the server and removed the dir, so the script exits at
        // once; collect it so it does not linger as our zombie. Bounded: Drop must not hang.
        self.finish(Duration::from_secs(2));
    }
}
