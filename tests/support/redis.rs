//! A throwaway `redis-server` per test, and a tiny hand-written RESP client to inspect it.
//!
//! [`RedisServer::start`] (or [`RedisServer::builder`], for `--maxmemory`) picks a free loopback port,
//! starts `redis-server` on it with no persistence and a temporary `--dir`, and waits until it answers
//! `PING`. [`RedisServer::url`] is what the service under test is given. [`RedisServer::kill`] SIGKILLs
//! it (an outage), [`RedisServer::restart`] starts an empty one again on the same port, and dropping it
//! kills it; when the test is failing, the end of the server's log is printed then.
//!
//! [`RedisServer::command`] sends one command and renders the reply as text (`DBSIZE`, `KEYS ragd:*`,
//! `TTL key`, `PUBLISH channel message`…); [`RedisServer::reply`] gives the typed [`Reply`] and I/O
//! errors instead of panicking (a killed server refuses connections), and [`RedisServer::connect`] a
//! [`Connection`] that stays open (`SUBSCRIBE`, then [`Connection::read`] the messages).
//!
//! These servers never use port 6379: the machine's own Redis listens there and tests must not touch it.
//! `redis-server` comes from the Debian package of that name; scripts/test.sh installs it when missing.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// How long a server may take to answer `PING` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(15);
/// How many times a start is tried again when the server exits at once (its port was taken meanwhile,
/// or still held after a kill).
const START_ATTEMPTS: u32 = 5;
/// Read and write timeout of the helper's connections.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The machine's own Redis: never ours to start, query or stop.
const SYSTEM_REDIS_PORT: u16 = 6379;

/// Options of a server to start.
#[derive(Debug, Default, Clone)]
pub struct RedisBuilder {
    maxmemory: Option<String>,
    maxmemory_policy: Option<String>,
}

impl RedisBuilder {
    /// `--maxmemory` (`"2mb"`, `"1048576"`…).
    pub fn maxmemory(mut self, limit: &str) -> Self {
        self.maxmemory = Some(limit.to_owned());
        self
    }

    /// `--maxmemory-policy` (`"allkeys-lru"`, `"noeviction"`…).
    pub fn maxmemory_policy(mut self, policy: &str) -> Self {
        self.maxmemory_policy = Some(policy.to_owned());
        self
    }

    pub fn start(self) -> RedisServer {
        let dir = tempfile::tempdir().expect("a temporary dir for redis-server");
        let log_path = dir.path().join("redis.log");
        let mut server = RedisServer {
            port: 0,
            options: self,
            log_path,
            dir,
            child: None,
        };
        let mut ports = Vec::new();
        let mut failure = String::new();
        for _ in 0..START_ATTEMPTS {
            server.port = free_port();
            ports.push(server.port);
            match server.spawn() {
                Ok(child) => {
                    server.child = Some(child);
                    return server;
                }
                // Another process took the port between our probe and the server's bind: take another.
                Err(why) => failure = why,
            }
        }
        // Dropped before the panic, so that the log is not printed twice.
        drop(server);
        panic!(
            "redis-server did not start (tried the ports {ports:?}); the last attempt: {failure}"
        );
    }
}

/// A running (or killed, until [`RedisServer::restart`]) `redis-server` of this test.
pub struct RedisServer {
    port: u16,
    options: RedisBuilder,
    log_path: PathBuf,
    /// The server's `--dir` and log; kept across restarts.
    dir: TempDir,
    child: Option<Child>,
}

impl RedisServer {
    pub fn builder() -> RedisBuilder {
        RedisBuilder::default()
    }

    /// A server with the default options.
    pub fn start() -> Self {
        Self::builder().start()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The server's log so far (of every start on this port).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Kills the server with SIGKILL and waits for it to exit: a Redis outage. Its data is gone (nothing
    /// is persisted); [`RedisServer::restart`] brings an empty server back on the same port.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (killing it first if it still runs), empty, and waits
    /// until it answers `PING`.
    pub fn restart(&mut self) {
        self.kill();
        let mut failure = String::new();
        for attempt in 0..START_ATTEMPTS {
            if attempt > 0 {
                // The port may still be held for a moment (it should not: redis sets SO_REUSEADDR).
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
            match self.spawn() {
                Ok(child) => {
                    self.child = Some(child);
                    return;
                }
                Err(why) => failure = why,
            }
        }
        panic!(
            "redis-server did not restart on port {} in {START_ATTEMPTS} attempts; the last one: {failure}",
            self.port
        );
    }

    /// Sends one command and returns the reply as text (see [`Reply::text`]): `command(&["DBSIZE"])` is
    /// `"3"`, `command(&["KEYS", "ragd:*"])` the keys one a line, an error reply its message
    /// (`"ERR …"`, `"WRONGTYPE …"`). Panics when the server cannot be reached.
    pub fn command(&self, args: &[&str]) -> String {
        match self.reply(args) {
            Ok(reply) => reply.text(),
            Err(e) => panic!(
                "redis command {args:?} on port {}: {e}; server log:\n{}",
                self.port,
                self.log()
            ),
        }
    }

    /// Sends one command on a new connection and returns the typed reply; I/O errors (connection
    /// refused after [`RedisServer::kill`]) are returned, not panicked on.
    pub fn reply(&self, args: &[&str]) -> io::Result<Reply> {
        self.connect()?.command(args)
    }

    /// A connection to the server that stays open, for `SUBSCRIBE` or `MULTI`.
    pub fn connect(&self) -> io::Result<Connection> {
        Connection::open(self.port)
    }

    /// The keys matching `pattern` (`KEYS`), sorted.
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let mut keys: Vec<String> = self
            .command(&["KEYS", pattern])
            .lines()
            .map(str::to_owned)
            .collect();
        keys.sort();
        keys
    }

    /// Starts `redis-server` on `self.port` and waits until it answers `PING` as this process; on
    /// failure the process is gone and the error says why, with the log.
    fn spawn(&self) -> Result<Child, String> {
        assert_ne!(
            self.port, SYSTEM_REDIS_PORT,
            "tests never start a Redis on the system Redis' port"
        );
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .expect("the redis-server log opens");
        // What this start logs: the log is kept across starts.
        let log_start = log.metadata().map_or(0, |m| m.len());
        let this_log = || {
            let log = self.log();
            let start = usize::try_from(log_start).unwrap_or(0);
            log.get(start..).unwrap_or(&log).to_owned()
        };
        let log_err = log.try_clone().expect("the redis-server log handle clones");
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--protected-mode", "no", "--daemonize", "no"]);
        if let Some(limit) = &self.options.maxmemory {
            command.args(["--maxmemory", limit]);
        }
        if let Some(policy) = &self.options.maxmemory_policy {
            command.args(["--maxmemory-policy", policy]);
        }
        command
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == io::ErrorKind::NotFound => panic!(
                "redis-server is not installed (not on PATH); run scripts/test.sh, which installs it \
                 (Debian package redis-server)"
            ),
            Err(e) => panic!("starting redis-server: {e}"),
        };
        let pid = child.id();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "redis-server on port {} exited at start ({status}); log:\n{}",
                    self.port,
                    this_log()
                ));
            }
            // A PONG only counts from our own process: another server may have taken the port.
            if self.answers_as(pid) {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "redis-server on port {} did not answer PING within {START_TIMEOUT:?}; log:\n{}",
                    self.port,
                    this_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server on the port answers `PING` with `PONG` and is the process `pid`.
    fn answers_as(&self, pid: u32) -> bool {
        let Ok(mut connection) = self.connect() else {
            return false;
        };
        if !matches!(connection.command(&["PING"]), Ok(Reply::Simple(pong)) if pong == "PONG") {
            return false;
        }
        let Ok(info) = connection.command(&["INFO", "server"]) else {
            return false;
        };
        info.text()
            .lines()
            .any(|line| line.trim() == format!("process_id:{pid}"))
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = lines[lines.len().saturating_sub(20)..].join("\n");
            eprintln!(
                "--- last lines of the redis-server log (port {}) ---\n{tail}",
                self.port
            );
        }
    }
}

/// A free loopback port other than 6379: bound on 127.0.0.1:0, read, released.
fn free_port() -> u16 {
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("binding 127.0.0.1:0");
        let port = listener.local_addr().expect("a bound address").port();
        if port != SYSTEM_REDIS_PORT {
            return port;
        }
    }
}

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR message`: the whole message, code included.
    Error(String),
    /// `:42`.
    Integer(i64),
    /// `$…`; `None` for the nil bulk string (`GET` of a missing key).
    Bulk(Option<Vec<u8>>),
    /// `*…`; `None` for the nil array.
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The reply as text: simple strings and error messages as they are, integers in decimal, bulk
    /// strings as (lossy) UTF-8, nil as `(nil)`, arrays as their elements' texts one a line (an empty
    /// array is `""`).
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(text) | Reply::Error(text) => text.clone(),
            Reply::Integer(n) => n.to_string(),
            Reply::Bulk(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
            Reply::Bulk(None) | Reply::Array(None) => "(nil)".to_owned(),
            Reply::Array(Some(items)) => {
                items.iter().map(Reply::text).collect::<Vec<_>>().join("\n")
            }
        }
    }

    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// An open RESP connection to a test server (10 s read and write timeouts).
pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Connection {
    fn open(port: u16) -> io::Result<Self> {
        assert_ne!(
            port, SYSTEM_REDIS_PORT,
            "tests never talk to the system Redis"
        );
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let stream = TcpStream::connect_timeout(&address, IO_TIMEOUT)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Self {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    /// Sends one command (an array of bulk strings) and reads its reply.
    pub fn command<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Reply> {
        self.send(args)?;
        self.read()
    }

    /// Sends one command without reading the reply.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        let mut frame = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            let arg = arg.as_ref();
            frame.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            frame.extend_from_slice(arg);
            frame.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&frame)?;
        self.writer.flush()
    }

    /// Reads the next reply (or pushed message, after `SUBSCRIBE`).
    pub fn read(&mut self) -> io::Result<Reply> {
        let line = self.line()?;
        let Some((kind, rest)) = line.split_at_checked(1) else {
            return Err(invalid(format!("an unknown RESP2 reply: {line:?}")));
        };
        match kind {
            "+" => Ok(Reply::Simple(rest.to_owned())),
            "-" => Ok(Reply::Error(rest.to_owned())),
            ":" => Ok(Reply::Integer(parse(rest)?)),
            "$" => {
                let len: i64 = parse(rest)?;
                if len < 0 {
                    return Ok(Reply::Bulk(None));
                }
                let mut bytes = vec![0; usize::try_from(len).map_err(invalid)? + 2];
                self.reader.read_exact(&mut bytes)?;
                if !bytes.ends_with(b"\r\n") {
                    return Err(invalid("a bulk string not followed by CRLF"));
                }
                bytes.truncate(bytes.len() - 2);
                Ok(Reply::Bulk(Some(bytes)))
            }
            "*" => {
                let len: i64 = parse(rest)?;
                if len < 0 {
                    return Ok(Reply::Array(None));
                }
                let items = (0..len).map(|_| self.read()).collect::<io::Result<_>>()?;
                Ok(Reply::Array(Some(items)))
            }
            _ => Err(invalid(format!("an unknown RESP2 reply: {line:?}"))),
        }
    }

    /// Sets the read timeout (`None`: block), e.g. to wait longer for a pushed message.
    pub fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        self.reader.get_ref().set_read_timeout(timeout)
    }

    /// One CRLF-terminated line, without the CRLF; never empty.
    fn line(&mut self) -> io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        let line = line
            .strip_suffix("\r\n")
            .ok_or_else(|| invalid(format!("a reply line without CRLF: {line:?}")))?;
        if line.is_empty() {
            return Err(invalid("an empty reply line"));
        }
        Ok(line.to_owned())
    }
}

fn parse<T: std::str::FromStr>(text: &str) -> io::Result<T> {
    text.parse()
        .map_err(|_| invalid(format!("not a number in a reply: {text:?}")))
}

fn invalid(error: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error.to_string())
}
