//! A throwaway Redis: `redis-server` as our child on a free loopback port, no persistence, its
//! working dir and log in a temp dir that goes away with it.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::reaper::{Reaper, ReaperTarget, spawn_reaper};
use super::{Error, Result};

const INSTALL_HINT: &str = "apt-get install redis-server";
const PORT_ATTEMPTS: usize = 3;
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Options for [`EmbeddedRedis`]; see [`EmbeddedRedis::builder`].
#[derive(Debug, Clone, Default)]
pub struct EmbeddedRedisBuilder {
    extra_args: Vec<String>,
}

impl EmbeddedRedisBuilder {
    /// An extra `redis-server` argument, after ours (so `--save 60 1` overrides `--save ''`).
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Start and wait until the server answers `PING` (~10 ms). Blocking but brief; usable with
    /// or without a runtime.
    pub fn start(self) -> Result<EmbeddedRedis> {
        EmbeddedRedis::start_with(self)
    }
}

/// A running throwaway Redis. Stop it with [`stop`](Self::stop); dropping it stops it too, and if
/// neither happens its reaper kills it when the process exits.
#[derive(Debug)]
pub struct EmbeddedRedis {
    child: Option<Child>,
    temp_dir: Option<tempfile::TempDir>,
    root: PathBuf,
    log_path: PathBuf,
    port: u16,
    reaper: Option<Reaper>,
}

static SHARED: OnceLock<Result<EmbeddedRedis>> = OnceLock::new();

impl EmbeddedRedis {
    pub fn builder() -> EmbeddedRedisBuilder {
        EmbeddedRedisBuilder::default()
    }

    /// The one Redis shared by every test in this process, started on first use. Callers share
    /// its keyspace: prefix keys or use `SELECT` per test. A start failure is returned to every
    /// caller, so tests fail rather than skip.
    pub fn shared() -> Result<&'static EmbeddedRedis> {
        match SHARED.get_or_init(|| EmbeddedRedis::builder().start()) {
            Ok(redis) => Ok(redis),
            Err(e) => Err(Error::SharedStartFailed {
                message: e.chain_message(),
            }),
        }
    }

    fn start_with(options: EmbeddedRedisBuilder) -> Result<EmbeddedRedis> {
        let binary = find_redis_server()?;
        let mut last_error = None;
        for _ in 0..PORT_ATTEMPTS {
            match Self::start_once(&binary, &options) {
                Ok(redis) => return Ok(redis),
                Err((e, collided)) => {
                    last_error = Some(e);
                    if !collided {
                        break;
                    }
                }
            }
        }
        Err(last_error.unwrap_or_else(|| Error::StartTimeout {
            what: "redis-server".into(),
            log_tail: "(no attempt made)".into(),
        }))
    }

    /// One attempt on one port; the flag says whether the port was taken (worth retrying).
    fn start_once(
        binary: &Path,
        options: &EmbeddedRedisBuilder,
    ) -> std::result::Result<EmbeddedRedis, (Error, bool)> {
        use std::os::unix::process::CommandExt;

        let temp_dir = tempfile::Builder::new()
            .prefix("pgdiag-redis-")
            .tempdir()
            .map_err(|e| (Error::io("creating a temp dir for Redis", e), false))?;
        let root = temp_dir.path().to_path_buf();
        let log_path = root.join("redis.log");
        let port = super::free_loopback_port().map_err(|e| (e, false))?;
        let mut command = Command::new(binary);
        command
            .arg("--port")
            .arg(port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&root)
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            .arg("--logfile")
            .arg(&log_path)
            .args(&options.extra_args)
            .current_dir(&root)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own process group: a terminal Ctrl-C must reach only us, so we (or the reaper)
            // decide how the server goes.
            .process_group(0);
        let child = command.spawn().map_err(|e| {
            (
                Error::io(format!("starting {}", binary.display()), e),
                false,
            )
        })?;
        let reaper = spawn_reaper(ReaperTarget::Pid { pid: child.id() }, &root);
        // From here on `Drop` cleans up any early return.
        let mut redis = EmbeddedRedis {
            child: Some(child),
            temp_dir: Some(temp_dir),
            root,
            log_path,
            port,
            reaper: None,
        };
        redis.reaper = Some(reaper.map_err(|e| (e, false))?);

        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if ping(port).is_ok() {
                return Ok(redis);
            }
            let exited = redis
                .child
                .as_mut()
                .is_some_and(|child| matches!(child.try_wait(), Ok(Some(_))));
            if exited || Instant::now() >= deadline {
                let log_tail = super::log_tail(&redis.log_path, 10);
                let collided = log_tail.contains("Address already in use");
                let what = if exited {
                    format!("redis-server on 127.0.0.1:{port} (it exited)")
                } else {
                    format!("redis-server on 127.0.0.1:{port} (no PONG in {START_TIMEOUT:?})")
                };
                return Err((Error::StartTimeout { what, log_tail }, collided));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// `redis://127.0.0.1:PORT/`
    pub fn url(&self) -> String {
        format!("redis://{}:{}/", self.host(), self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The temp dir (working dir and log); removed on stop.
    pub fn root_dir(&self) -> &Path {
        &self.root
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Check the server answers `PING`.
    pub fn ping(&self) -> Result<()> {
        ping(self.port)
    }

    /// SIGTERM, wait for exit (SIGKILL after 10 s), remove the temp dir.
    pub fn stop(mut self) -> Result<()> {
        self.shutdown();
        match self.temp_dir.take() {
            Some(dir) => dir
                .close()
                .map_err(|e| Error::io(format!("removing {}", self.root.display()), e)),
            None => Ok(()),
        }
    }

    /// Leave the server running after we exit (`pgdiag demo --keep`): disarm the reaper, keep the
    /// temp dir and let go of the child without signalling it. Returns the dir; stop the server
    /// with `redis-cli -p <port> shutdown nosave` and remove the dir afterwards.
    pub fn keep(mut self) -> PathBuf {
        // Dropping a `Child` neither kills nor waits for it; the process is reparented when we exit.
        self.child.take();
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
        let finished = self
            .reaper
            .as_mut()
            .is_some_and(|reaper| reaper.trigger(timeout));
        // The reaper killed our child; collect it so it does not stay a zombie.
        if let Some(mut child) = self.child.take() {
            let _ = child.wait();
        }
        finished
    }

    fn shutdown(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let pid = nix::unistd::Pid::from_raw(child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let exited = super::wait_until(Duration::from_secs(10), || {
            matches!(child.try_wait(), Ok(Some(_)))
        });
        if !exited {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

impl Drop for EmbeddedRedis {
    fn drop(&mut self) {
        self.shutdown();
        // TempDir's drop removes the dir; then the reaper's drop closes its pipe and collects it.
        self.temp_dir.take();
        self.reaper.take();
    }
}

fn find_redis_server() -> Result<PathBuf> {
    super::find_on_path("redis-server")
        .or_else(|| {
            ["/usr/bin/redis-server", "/usr/sbin/redis-server"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| super::is_executable(p))
        })
        .ok_or(Error::BinariesNotFound {
            what: "redis-server",
            install_hint: INSTALL_HINT,
        })
}

/// A raw RESP `PING`, so readiness needs no Redis client crate.
fn ping(port: u16) -> Result<()> {
    let io = |e| Error::io(format!("PING redis on 127.0.0.1:{port}"), e);
    let mut stream =
        TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, port).into(), Duration::from_secs(1))
            .map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .map_err(io)?;
    stream.write_all(b"*1\r\n$4\r\nPING\r\n").map_err(io)?;
    let mut reply = [0u8; 64];
    let n = stream.read(&mut reply).map_err(io)?;
    if reply[..n].starts_with(b"+PONG") {
        Ok(())
    } else {
        Err(io(std::io::Error::other(format!(
            "unexpected reply {:?}",
            String::from_utf8_lossy(&reply[..n])
        ))))
    }
}

const CLUSTER_NODES: usize = 3;
const CLUSTER_READY_TIMEOUT: Duration = Duration::from_secs(20);

/// A throwaway three-master Redis Cluster (no replicas) for tests: three [`EmbeddedRedis`] nodes
/// started with `--cluster-enabled yes`, so each has its own temp dir, reaper and cleanup, joined
/// with `redis-cli --cluster create`. Blocking, like [`EmbeddedRedis::builder`]'s `start`.
#[derive(Debug)]
pub struct EmbeddedRedisCluster {
    nodes: Vec<EmbeddedRedis>,
}

impl EmbeddedRedisCluster {
    /// Start the nodes, assign all 16384 slots, and wait for `cluster_state:ok` on every node.
    pub fn start() -> Result<EmbeddedRedisCluster> {
        let cli = find_redis_cli()?;
        let mut nodes = Vec::with_capacity(CLUSTER_NODES);
        for _ in 0..CLUSTER_NODES {
            nodes.push(start_cluster_node()?);
        }
        let cluster = EmbeddedRedisCluster { nodes };
        let mut create = Command::new(&cli);
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("{}:{}", node.host(), node.port()));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        run_redis_cli(create, "redis-cli --cluster create")?;

        let ready = super::wait_until(CLUSTER_READY_TIMEOUT, || {
            cluster.nodes.iter().all(|node| {
                let mut info = Command::new(&cli);
                info.args(["-h", node.host(), "-p", &node.port().to_string()])
                    .args(["CLUSTER", "INFO"]);
                run_redis_cli(info, "redis-cli CLUSTER INFO")
                    .is_ok_and(|out| out.contains("cluster_state:ok"))
            })
        });
        if !ready {
            let first = &cluster.nodes[0];
            return Err(Error::StartTimeout {
                what: format!("redis cluster (no cluster_state:ok in {CLUSTER_READY_TIMEOUT:?})"),
                log_tail: super::log_tail(first.log_path(), 10),
            });
        }
        Ok(cluster)
    }

    /// `redis://127.0.0.1:PORT/` for each node.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(EmbeddedRedis::url).collect()
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,...`, the form `pgdiag` accepts for a cluster.
    pub fn cluster_url(&self) -> String {
        let nodes: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("{}:{}", n.host(), n.port()))
            .collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    pub fn nodes(&self) -> &[EmbeddedRedis] {
        &self.nodes
    }

    /// Stop every node and remove their dirs.
    pub fn stop(self) -> Result<()> {
        let mut first_error = None;
        for node in self.nodes {
            if let Err(e) = node.stop() {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// One cluster node. The cluster bus port defaults to port + 10000, which can overflow or collide
/// for a random port, so it is picked free too; a collision (rare) is retried with new ports.
fn start_cluster_node() -> Result<EmbeddedRedis> {
    let mut last_error = None;
    for _ in 0..PORT_ATTEMPTS {
        let bus_port = super::free_loopback_port()?;
        let started = EmbeddedRedis::builder()
            .arg("--cluster-enabled")
            .arg("yes")
            .arg("--cluster-config-file")
            .arg("nodes.conf")
            .arg("--cluster-node-timeout")
            .arg("2000")
            .arg("--cluster-port")
            .arg(bus_port.to_string())
            .start();
        match started {
            Ok(node) => return Ok(node),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| Error::StartTimeout {
        what: "redis cluster node".into(),
        log_tail: "(no attempt made)".into(),
    }))
}

fn find_redis_cli() -> Result<PathBuf> {
    super::find_on_path("redis-cli")
        .or_else(|| Some(PathBuf::from("/usr/bin/redis-cli")).filter(|p| super::is_executable(p)))
        .ok_or(Error::BinariesNotFound {
            what: "redis-cli",
            install_hint: INSTALL_HINT,
        })
}

/// Run a `redis-cli` command; its stdout, or an error with its output tail.
fn run_redis_cli(mut command: Command, what: &str) -> Result<String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io(format!("running {what}"), e))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    // redis-cli --cluster reports failures with `[ERR]` and may still exit 0.
    if !output.status.success() || stdout.contains("[ERR]") {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(Error::CommandFailed {
            command: what.to_string(),
            status: output.status.to_string(),
            output_tail: super::tail_lines(&format!("{stdout}\n{stderr}"), 5),
        });
    }
    Ok(stdout)
}
