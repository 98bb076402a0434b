//! `paxos bench` (part of the `paxos` command, not of the library: the store's crate holds only the
//! store): a closed-loop load generator for this store (RESP) and, for comparison in the
//! same run, for etcd (its v3 JSON gateway over HTTP/1.1 keep-alive connections).
//!
//! Each client has one connection and one request outstanding; latencies are recorded per request.
//! A request answered `UNAVAILABLE` (or a dropped connection) has an unknown outcome: it is counted
//! apart, never as a failure of the store and never as a completed operation.

use paxos::client::resp::Reply;
use paxos::client::Client;
use serde::Serialize;
use std::io;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Which store is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Target {
    /// This store, over RESP.
    Paxos,
    /// etcd 3.4, over its JSON gateway (`/v3/kv/put`, `/v3/kv/range`: linearizable reads).
    Etcd,
}

/// What the clients do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
pub enum Workload {
    /// Puts only.
    Write,
    /// Linearizable gets only (of keys written before the run).
    Read,
    /// Half gets, half puts.
    Mixed,
}

/// One row of the result table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// Concurrent clients.
    pub clients: usize,
    /// Operations completed.
    pub ops: u64,
    /// Completed per second.
    pub ops_per_sec: f64,
    /// Latency percentiles, microseconds.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// 99.9th percentile.
    pub p999_us: u64,
    /// Requests with an unknown outcome (timeouts, UNAVAILABLE, lost connections).
    pub unknown: u64,
    /// Requests refused (BUSY and other errors).
    pub errors: u64,
}

/// One connection to the store under test.
enum Connection {
    Paxos(Client),
    Etcd(etcd_gateway::Client),
}

enum Answer {
    Done,
    Unknown,
    Refused,
}

impl Connection {
    async fn open(target: Target, addr: &str) -> io::Result<Connection> {
        Ok(match target {
            Target::Paxos => Connection::Paxos(Client::connect(addr).await?),
            Target::Etcd => Connection::Etcd(etcd_gateway::Client::connect(addr).await?),
        })
    }

    async fn put(&mut self, key: &[u8], value: &[u8]) -> io::Result<Answer> {
        match self {
            Connection::Paxos(client) => Ok(resp_answer(client.command(&[b"SET", key, value]).await?)),
            Connection::Etcd(etcd) => Ok(etcd_answer(&etcd.put(key, value).await?)),
        }
    }

    async fn get(&mut self, key: &[u8]) -> io::Result<Answer> {
        match self {
            Connection::Paxos(client) => Ok(resp_answer(client.command(&[b"GET", key]).await?)),
            Connection::Etcd(etcd) => Ok(etcd_answer(&etcd.get(key).await?)),
        }
    }
}

fn resp_answer(reply: Reply) -> Answer {
    match reply {
        Reply::Error(text) if text.starts_with("UNAVAILABLE") => Answer::Unknown,
        Reply::Error(_) => Answer::Refused,
        _ => Answer::Done,
    }
}

/// etcd's answer: done, or by its status, unknown (503, 504: the request may have been applied)
/// or refused.
fn etcd_answer<T>(answer: &etcd_gateway::Answer<T>) -> Answer {
    match answer {
        Ok(_) => Answer::Done,
        Err(response) if matches!(response.status, 503 | 504) => Answer::Unknown,
        Err(_) => Answer::Refused,
    }
}

/// What one run measures.
#[derive(Clone, Debug)]
pub struct Options {
    /// The store.
    pub target: Target,
    /// Its addresses; client i uses `addrs[i % len]`.
    pub addrs: Vec<String>,
    /// Keys used (`key000000`...).
    pub keys: u64,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Length of each measurement.
    pub duration: Duration,
    /// What the clients do.
    pub workload: Workload,
}

/// Writes every key once (so that reads find values).
pub async fn preload(options: &Options) -> io::Result<()> {
    let mut connection = Connection::open(options.target, &options.addrs[0]).await?;
    let value = vec![b'v'; options.value_bytes];
    for key in 0..options.keys {
        connection.put(format!("key{key:06}").as_bytes(), &value).await?;
    }
    Ok(())
}

/// Runs `clients` closed-loop clients for the duration; `progress` is called about once a second
/// with the operations completed so far.
pub async fn measure(options: &Options, clients: usize, progress: impl Fn(u64)) -> io::Result<Row> {
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let deadline = Instant::now() + options.duration;
    let mut tasks = Vec::new();
    for index in 0..clients {
        let addr = options.addrs[index % options.addrs.len()].clone();
        let (target, workload, keys, value_bytes) =
            (options.target, options.workload, options.keys, options.value_bytes);
        let counter = counter.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(target, &addr).await?;
            let value = vec![b'v'; value_bytes];
            let mut latencies = Vec::with_capacity(1 << 16);
            let (mut unknown, mut errors) = (0u64, 0u64);
            let mut n = index as u64 * 7919;
            while Instant::now() < deadline {
                n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                let key = format!("key{:06}", (n >> 33) % keys);
                let write = match workload {
                    Workload::Write => true,
                    Workload::Read => false,
                    Workload::Mixed => (n >> 20) & 1 == 0,
                };
                let started = Instant::now();
                let answer = if write {
                    connection.put(key.as_bytes(), &value).await
                } else {
                    connection.get(key.as_bytes()).await
                };
                match answer {
                    Ok(Answer::Done) => {
                        latencies.push(started.elapsed().as_micros() as u32);
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(Answer::Unknown) => unknown += 1,
                    Ok(Answer::Refused) => errors += 1,
                    Err(_) => {
                        unknown += 1;
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        connection = match Connection::open(target, &addr).await {
                            Ok(connection) => connection,
                            Err(_) => continue,
                        };
                    }
                }
            }
            Ok::<_, io::Error>((latencies, unknown, errors))
        }));
    }
    let started = Instant::now();
    let watcher = {
        let counter = counter.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                progress(counter.load(std::sync::atomic::Ordering::Relaxed));
            }
        }
    };
    let joined = tokio::select! {
        joined = futures_util::future::join_all(tasks) => joined,
        () = watcher => unreachable!("the watcher never ends"),
    };
    let elapsed = started.elapsed();
    let (mut latencies, mut unknown, mut errors) = (Vec::new(), 0, 0);
    for result in joined {
        let (task_latencies, task_unknown, task_errors) = result.map_err(io::Error::other)??;
        latencies.extend(task_latencies);
        unknown += task_unknown;
        errors += task_errors;
    }
    latencies.sort_unstable();
    let percentile = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0) as u64
    };
    Ok(Row {
        clients,
        ops: latencies.len() as u64,
        ops_per_sec: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50_us: percentile(0.5),
        p99_us: percentile(0.99),
        p999_us: percentile(0.999),
        unknown,
        errors,
    })
}

/// What the floor of one client's write is made of, each the median of 2,000 measured here and now.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    /// A loopback round trip to an echo in another process on the same core: the receiver is
    /// woken each way by a switch on that core.
    pub rtt: Duration,
    /// The same round trip with the echo on another core (none on one core, or off Linux): each way
    /// wakes the other core, which on a virtual machine whose idle cores halt costs an interrupt
    /// and an exit to the hypervisor. The nodes are not pinned: their hops cross cores or not as
    /// the scheduler places them.
    pub rtt_across_cores: Option<Duration>,
    /// A 100-byte write and `fdatasync` into reserved space, as the log writes.
    pub fdatasync: Duration,
}

impl Floor {
    /// Two round trips (client to leader, leader to follower) on one core, and one `fdatasync`.
    pub fn total(&self) -> Duration {
        self.rtt * 2 + self.fdatasync
    }

    /// The same with the round trips across cores.
    pub fn total_across_cores(&self) -> Option<Duration> {
        self.rtt_across_cores.map(|rtt| rtt * 2 + self.fdatasync)
    }
}

/// The floor of one client's write: two loopback round trips between processes plus one
/// `fdatasync` of a 100-byte write in `dir`, into space reserved ahead as the log writes (see
/// [`StorageOptions::reserve_bytes`](paxos::storage::StorageOptions::reserve_bytes)).
///
/// `echo(core)` starts the other process of a round trip, on that core if given: it must print the
/// port it listens on (one line, on 127.0.0.1) and then serve [`echo`] (`paxos floor-echo` does).
/// The calling thread measures the round trips pinned to the first core it may use, with the echo
/// on the same core and then on the next one (on Linux; elsewhere unpinned, once), and is unpinned
/// again afterwards. It must run on a current-thread runtime, so that the pinned thread is the one
/// that runs it.
pub async fn floor(
    dir: &std::path::Path,
    mut echo: impl FnMut(Option<usize>) -> tokio::process::Command,
) -> io::Result<Floor> {
    if tokio::runtime::Handle::current().runtime_flavor() != tokio::runtime::RuntimeFlavor::CurrentThread {
        return Err(io::Error::other(
            "the floor is measured on a current-thread runtime (a pinned worker thread need not be the one that runs it)",
        ));
    }
    let cores = cores::allowed()?;
    let (rtt, rtt_across_cores) = match cores.as_slice() {
        [] => (round_trip_to(echo(None)).await?, None),
        [first, rest @ ..] => {
            let pinned = cores::pin(*first)?;
            let measured = async {
                let same = round_trip_to(echo(Some(*first))).await?;
                let across = match rest.first() {
                    Some(other) => Some(round_trip_to(echo(Some(*other))).await?),
                    None => None,
                };
                Ok::<_, io::Error>((same, across))
            }
            .await;
            cores::unpin(pinned)?;
            measured?
        }
    };
    let path = dir.join(format!("paxos-floor-{}.tmp", std::process::id()));
    let syncs = tokio::task::spawn_blocking(move || {
        use paxos::storage::fs::{AppendFile, FileSystem, StdFs};
        let mut file = StdFs.create(&path)?;
        file.reserve(1 << 20)?;
        let mut syncs = Vec::new();
        for _ in 0..2_000 {
            let started = Instant::now();
            file.append(&[b'f'; 100])?;
            file.sync_data()?;
            syncs.push(started.elapsed());
        }
        let _ = std::fs::remove_file(&path);
        Ok::<_, io::Error>(syncs)
    })
    .await
    .map_err(io::Error::other)??;
    Ok(Floor { rtt, rtt_across_cores, fdatasync: median(syncs) })
}

/// The echo of [`floor`]'s other process: pinned to `core` if given, listens on 127.0.0.1, prints
/// the port, echoes the bytes of one connection until it closes.
pub async fn echo(core: Option<usize>) -> io::Result<()> {
    if let Some(core) = core {
        cores::pin(core)?;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?.port());
    let (mut stream, _) = listener.accept().await?;
    stream.set_nodelay(true)?;
    let mut byte = [0u8; 1];
    while stream.read_exact(&mut byte).await.is_ok() {
        stream.write_all(&byte).await?;
    }
    Ok(())
}

/// The median round trip to the echo process `command` starts.
async fn round_trip_to(mut command: tokio::process::Command) -> io::Result<Duration> {
    use tokio::io::AsyncBufReadExt;
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let stdout = child.stdout.take().ok_or_else(|| io::Error::other("the echo process has no stdout"))?;
    let mut line = String::new();
    tokio::io::BufReader::new(stdout).read_line(&mut line).await?;
    let port: u16 = line.trim().parse().map_err(|_| {
        io::Error::other(format!("the echo process printed {line:?}, expected the port it listens on"))
    })?;
    let rtt = round_trips(TcpStream::connect(("127.0.0.1", port)).await?).await?;
    child.wait().await?;
    Ok(rtt)
}

/// Pinning the calling thread to a core (Linux only: elsewhere no cores are listed, and nothing is
/// pinned).
mod cores {
    use std::io;

    #[cfg(target_os = "linux")]
    pub type Mask = nix::sched::CpuSet;
    #[cfg(not(target_os = "linux"))]
    pub type Mask = ();

    /// The cores this thread may run on.
    #[cfg(target_os = "linux")]
    pub fn allowed() -> io::Result<Vec<usize>> {
        let mask = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).map_err(io::Error::from)?;
        Ok((0..nix::sched::CpuSet::count()).filter(|&core| mask.is_set(core).unwrap_or(false)).collect())
    }

    /// Pins this thread to `core`; returns what it was allowed before.
    #[cfg(target_os = "linux")]
    pub fn pin(core: usize) -> io::Result<Mask> {
        let this = nix::unistd::Pid::from_raw(0);
        let before = nix::sched::sched_getaffinity(this).map_err(io::Error::from)?;
        let mut only = nix::sched::CpuSet::new();
        only.set(core).map_err(io::Error::from)?;
        nix::sched::sched_setaffinity(this, &only).map_err(io::Error::from)?;
        Ok(before)
    }

    /// Gives this thread back the cores it was allowed before [`pin`].
    #[cfg(target_os = "linux")]
    pub fn unpin(before: Mask) -> io::Result<()> {
        nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &before).map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    pub fn allowed() -> io::Result<Vec<usize>> {
        Ok(Vec::new())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn pin(_core: usize) -> io::Result<Mask> {
        Ok(())
    }

    #[cfg(not(target_os = "linux"))]
    pub fn unpin(_before: Mask) -> io::Result<()> {
        Ok(())
    }
}

/// The median of 2,000 one-byte round trips on `stream`, which it then closes.
async fn round_trips(mut stream: TcpStream) -> io::Result<Duration> {
    stream.set_nodelay(true)?;
    let mut rtts = Vec::new();
    let mut byte = [1u8; 1];
    for _ in 0..2_000 {
        let started = Instant::now();
        stream.write_all(&byte).await?;
        stream.read_exact(&mut byte).await?;
        rtts.push(started.elapsed());
    }
    Ok(median(rtts))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

#[cfg(test)]
mod tests {
    /// An echo process that does not say its port gets one clear error, not a hang.
    #[tokio::test(flavor = "current_thread")]
    async fn an_echo_that_does_not_print_its_port_is_refused_with_what_it_printed() {
        let dir = std::env::temp_dir().join(format!("paxos-floor-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let silent = |_core: Option<usize>| {
            let mut command = tokio::process::Command::new("echo");
            command.arg("not a port");
            command
        };
        let error = super::floor(&dir, silent).await.expect_err("no port, no floor");
        assert_eq!(
            error.to_string(),
            "the echo process printed \"not a port\\n\", expected the port it listens on"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
