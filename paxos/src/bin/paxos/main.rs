//! The `paxos` command: create a cluster, run a node, run a local cluster, talk to a node.

mod bench;

use bench::{Target, Workload};
use clap::{Parser, Subcommand};
use paxos::client::resp::{Limits, Reply};
use paxos::client::Client;
use paxos::core::{ClusterId, Config, NodeId, ReadMode};
use paxos::runtime::clock::Clock;
use paxos::runtime::setup::{self, NodeFile};
use paxos::runtime::{ClusterConfig, DiskMode, Member, NodeOptions, Timing, TokioNet};
use paxos::storage::fs::StdFs;
use paxos::storage::StorageOptions;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Opts this process (and the nodes `paxos cluster` starts, which inherit it) out of transparent
/// huge pages, as Redis does: the allocator asks for huge pages, and every one it faults in is 2 MiB
/// that the kernel zeroes on the request path, again after each purge. Measured with
/// `paxos bench --clients 64` on a 3-node cluster: 46k -> 52k writes/s, p99 5.9 -> 1.9 ms.
fn disable_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(error) = nix::sys::prctl::set_thp_disable(true) {
        // Only slower, never wrong: say so and go on.
        eprintln!("paxos: cannot opt out of transparent huge pages ({error}); latency may suffer");
    }
}

#[derive(Parser)]
#[command(
    name = "paxos",
    version,
    about = "A Multi-Paxos replicated key-value store that speaks the Redis protocol"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The members and directory of a local cluster (`init` and `cluster`).
#[derive(clap::Args)]
struct Shape {
    /// Members.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=63))]
    nodes: u8,
    /// The cluster directory (DIR/cluster.json, DIR/node-i/).
    #[arg(long)]
    data_dir: PathBuf,
    /// Node i serves clients on PORT+i-1.
    #[arg(long, default_value_t = 6379)]
    port: u16,
    /// Node i listens to its peers on PEER_PORT+i-1 (default PORT+1000).
    #[arg(long)]
    peer_port: Option<u16>,
    /// Paxos groups every node runs (default 1): keys are spread over them by
    /// fmix32(crc32c(key)) mod GROUPS, each group with its own log and leader, the leaders spread
    /// over the nodes, one write-ahead log and one fsync per node for all. Fixed when the cluster
    /// is created. At most 64: the node loop looks through every group's armed timers for the next
    /// one on each step.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    groups: Option<u16>,
}

/// `--read-mode` of `paxos node`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ReadModeFlag {
    /// A quorum round confirms leadership for each batch of reads.
    ReadIndex,
    /// A leader lease that followers honour.
    Lease,
}

#[derive(Subcommand)]
enum Command {
    /// Create a cluster: its id, its members, and one data directory per member.
    Init {
        #[command(flatten)]
        shape: Shape,
        /// The host the members listen on and are reached at.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
    },
    /// Run one node from its data directory (created by `paxos init`).
    Node {
        /// The node's data directory (holds node.json).
        #[arg(long)]
        data_dir: PathBuf,
        /// Milliseconds a client request may wait before it is answered UNAVAILABLE.
        #[arg(long, default_value_t = 5000)]
        request_timeout_ms: u64,
        /// The largest value a client may write, in bytes.
        #[arg(long, default_value_t = 1 << 20)]
        max_value_bytes: usize,
        /// How reads are made linearizable: read-index (a quorum round per batch of reads, no
        /// clock involved) or lease (the leader answers alone while its lease holds: safe only
        /// while clock rates differ by less than 25%).
        #[arg(long, value_enum, default_value_t = ReadModeFlag::ReadIndex)]
        read_mode: ReadModeFlag,
        /// Slots the leader may have in flight at once. One (the default) batches every request
        /// that arrives during a round into the next; more pipeline the rounds, which pays where a
        /// round trip is long against a round's work.
        #[arg(long, default_value_t = Config::new(paxos::core::NodeId(1), Vec::new()).window_slots,
              value_parser = clap::value_parser!(u64).range(1..=4096))]
        window_slots: u64,
        /// Memory for replication, in MiB: half for the applied log kept for lagging peers (and
        /// the values between two snapshots, as a snapshot is taken whenever that half fills),
        /// half for the writes waiting at the leader for a slot (past it, clients get BUSY); a
        /// slot holds at most an eighth of it (4 MiB at most). The state machine and the client
        /// connections come on top.
        #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
        memory_budget_mb: u64,
        /// Client connections open at once, at most; one more is answered `ERR max number of
        /// clients reached` and closed (Redis's maxclients).
        #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
        max_clients: u64,
        /// Seconds a client connection may stay silent before it is closed, which also reaps
        /// half-open ones (Redis's timeout); 0: never.
        #[arg(long, default_value_t = 300)]
        client_idle_timeout_s: u64,
        /// Serve Prometheus metrics at http://ADDR/metrics (host:port; off when not given).
        #[arg(long)]
        metrics_addr: Option<String>,
        /// Fault injection: every 50 ms, read "RATE OFFSET_SECONDS" from this file and run the
        /// node's clock at RATE times real time, stepped by OFFSET_SECONDS in all (how `chaos
        /// real` skews clocks: libfaketime cannot fake the monotonic clock under tokio).
        #[arg(long)]
        fault_clock: Option<PathBuf>,
    },
    /// Run a local cluster of `paxos node` processes (created on first use, restarted after).
    Cluster {
        #[command(flatten)]
        shape: Shape,
        /// Node i serves Prometheus metrics on http://127.0.0.1:METRICS_PORT+i-1/metrics (default
        /// PORT+2000; 0: no metrics).
        #[arg(long)]
        metrics_port: Option<u16>,
    },
    /// Measure the floor of one write on this machine: two loopback round trips between processes
    /// (on one core, and across two) and one fdatasync of a 100-byte write into reserved space in
    /// DIR, as the log writes. `paxos bench --floor DIR` prints it beside the measurements.
    Floor {
        /// Where the sync file goes (use the data directory's file system); it is removed after.
        dir: PathBuf,
        /// Write the figures as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// The other process of `paxos bench --floor`'s round trip: prints the port it listens on
    /// (127.0.0.1), then echoes one connection's bytes until it closes.
    #[command(hide = true)]
    FloorEcho {
        /// Run on this core (Linux).
        #[arg(long)]
        core: Option<usize>,
    },
    /// A closed-loop load generator: ops/s and latency percentiles per client count.
    Bench {
        /// The nodes (comma-separated host:port); client i uses the i-th modulo their number.
        #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:6379")]
        addr: Vec<String>,
        /// The store under test.
        #[arg(long, value_enum, default_value_t = Target::Paxos)]
        target: Target,
        /// Client counts to measure, in order (comma-separated).
        #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
        clients: Vec<usize>,
        /// Bytes per value.
        #[arg(long, default_value_t = 100)]
        value_bytes: usize,
        /// Length of each measurement (e.g. 10s, 500ms).
        #[arg(long, default_value = "10s", value_parser = parse_duration)]
        duration: Duration,
        /// What the clients do.
        #[arg(long, value_enum, default_value_t = Workload::Write)]
        workload: Workload,
        /// Distinct keys.
        #[arg(long, default_value_t = 1000)]
        keys: u64,
        /// Send everything to the leader (found with INFO among --addr; paxos only).
        #[arg(long)]
        leader: bool,
        /// Also measure the floor of one write: two loopback round trips between processes and one
        /// fdatasync of a 100-byte write into reserved space in this directory, as the log writes.
        #[arg(long)]
        floor: Option<PathBuf>,
        /// Write the results as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Change or show the membership through any node (the same as `MEMBER ...` over RESP, so
    /// redis-cli can do it too). A new node joins with `paxos join`, catches up as a learner, and
    /// votes once promoted; `replace` swaps a voter for a caught-up learner in one change.
    Member {
        /// A node of the cluster (host:port, its client address).
        #[arg(long, default_value = "127.0.0.1:6379")]
        addr: String,
        #[command(subcommand)]
        command: MemberCommand,
    },
    /// Create the data directory of a new node from a running cluster (its id and members fetched
    /// from ADDR, not typed) and add the node as a learner; then start it with `paxos node
    /// --data-dir DIR` and, once it caught up, `paxos member promote ID` (or `replace`).
    Join {
        /// A node of the running cluster (host:port, its client address).
        #[arg(long, default_value = "127.0.0.1:6379")]
        addr: String,
        /// The new node's id (1 to 63, never used in this cluster).
        #[arg(long)]
        id: u8,
        /// Where the new node will serve clients (host:port).
        #[arg(long)]
        client: String,
        /// Where the new node will listen to its peers (host:port).
        #[arg(long)]
        peer: String,
        /// The new node's data directory (must not hold a node).
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Send one command to a node.
    Client {
        /// The node (host:port).
        #[arg(long, default_value = "127.0.0.1:6379")]
        addr: String,
        #[command(subcommand)]
        command: ClientCommand,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// The members: role (voter, learner), addresses, and at the leader how far behind each is.
    List,
    /// Add a learner: it receives the log but does not vote.
    Add {
        /// Its id (1 to 63, never used in this cluster).
        id: u8,
        /// Its client address (host:port).
        client: String,
        /// Its peer address (host:port).
        peer: String,
    },
    /// Make a caught-up learner a voter.
    Promote {
        /// The learner.
        id: u8,
    },
    /// Remove a member (a leader that removes itself hands leadership over).
    Remove {
        /// The member.
        id: u8,
    },
    /// In one change, the learner NEW becomes a voter and the voter OLD leaves.
    Replace {
        /// The voter that leaves.
        old: u8,
        /// The caught-up learner that takes its place.
        new: u8,
    },
    /// Hand leadership to a voter (to drain the current leader's node).
    TransferLeader {
        /// The voter that should lead.
        id: u8,
    },
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Read a key.
    Get { key: String },
    /// Write a key.
    Put { key: String, value: String },
    /// Remove a key.
    Del { key: String },
    /// Write NEW if the key holds EXPECTED (`__absent__`: if the key is missing); prints 1 or 0.
    Cas { key: String, expected: String, new: String },
    /// The node's status.
    Info,
    /// The members and their roles.
    Nodes,
}

fn main() -> ExitCode {
    disable_transparent_huge_pages();
    let cli = Cli::parse();
    logs();
    // A node is one event loop plus its connections and a storage thread: one runtime thread keeps
    // every hand-off between them on one core (measured: 64-client writes 23-25k/s against 19k/s
    // with two workers). The load generator too: it shares the cores with the servers it measures,
    // and with two workers it took enough from them to move the comparison (etcd 7.8k -> 9.7k
    // writes/s at 64 clients with one thread, ours 45-49k -> 49-52k).
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init { shape, host } => init(&shape, &host),
            Command::Node {
                data_dir,
                request_timeout_ms,
                max_value_bytes,
                read_mode,
                window_slots,
                memory_budget_mb,
                max_clients,
                client_idle_timeout_s,
                metrics_addr,
                fault_clock,
            } => {
                let read_mode = match read_mode {
                    ReadModeFlag::ReadIndex => ReadMode::ReadIndex,
                    ReadModeFlag::Lease => ReadMode::Lease,
                };
                let budget = memory_budget_mb << 20;
                let core = Config {
                    read_mode,
                    window_slots,
                    log_retain_bytes: budget / 2,
                    proposals_bytes_max: budget / 2,
                    batch_bytes_max: (budget / 8).min(4 << 20),
                    ..Config::new(paxos::core::NodeId(1), Vec::new())
                };
                let clients = Limits {
                    connections: usize::try_from(max_clients).unwrap_or(usize::MAX),
                    idle: (client_idle_timeout_s > 0).then(|| Duration::from_secs(client_idle_timeout_s)),
                    ..Limits::default()
                };
                let extras = NodeExtras { fault_clock, metrics_addr };
                node(&data_dir, request_timeout_ms, max_value_bytes, clients, core, extras).await
            }
            Command::Cluster { shape, metrics_port } => {
                let metrics_port = metrics_port.unwrap_or(shape.port.wrapping_add(2000));
                cluster(&shape, metrics_port).await
            }
            Command::Client { addr, command } => client(&addr, command).await,
            Command::Member { addr, command } => member(&addr, command).await,
            Command::Join { addr, id, client, peer, data_dir } => {
                join(&addr, id, Member { id: NodeId(id), client, peer }, &data_dir).await
            }
            Command::Floor { dir, json } => run_floor(&dir, json.as_deref()).await,
            Command::FloorEcho { core } => {
                bench::echo(core).await.map_err(|error| format!("floor-echo: {error}"))?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Bench {
                addr,
                target,
                clients,
                value_bytes,
                duration,
                workload,
                keys,
                leader,
                floor,
                json,
            } => {
                let options = bench::Options {
                    target,
                    addrs: addr,
                    keys: keys.max(1),
                    value_bytes,
                    duration,
                    workload,
                };
                run_bench(options, &clients, leader, floor.as_deref(), json.as_deref()).await
            }
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => fail(&message),
    }
}

/// The node's log: one line per event to standard error, with its level and fields, filtered
/// by `RUST_LOG` as `tracing-subscriber` reads it (default `info`; `RUST_LOG=paxos=debug` for
/// more, `RUST_LOG=warn` for less).
fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_target(false)
        .try_init();
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32)
}

fn peer_port(port: u16, peer_port: Option<u16>, nodes: u8) -> Result<u16, String> {
    let peer_port = peer_port.unwrap_or(port.wrapping_add(1000));
    let top = |base: u16| u32::from(base) + u32::from(nodes) - 1;
    if top(port) > 65_535 || top(peer_port) > 65_535 {
        return Err(format!("--port {port} / --peer-port {peer_port}: {nodes} nodes need ports up to 65535"));
    }
    let clients = u32::from(port)..=top(port);
    if clients.contains(&u32::from(peer_port)) || clients.contains(&top(peer_port)) {
        return Err(format!("--peer-port {peer_port} overlaps the client ports {port}..={}", top(port)));
    }
    Ok(peer_port)
}

fn init(shape: &Shape, host: &str) -> Result<ExitCode, String> {
    create(&shape.data_dir, &planned(shape, host)?)
}

/// The cluster that `shape` describes, with a new id.
fn planned(shape: &Shape, host: &str) -> Result<ClusterConfig, String> {
    let (nodes, port) = (shape.nodes, shape.port);
    let peer_port = peer_port(port, shape.peer_port, nodes)?;
    Ok(ClusterConfig {
        groups: shape.groups.unwrap_or(1),
        ..setup::local_cluster(ClusterId(seed() | 1), nodes, host, port, peer_port)
    })
}

/// Creates the cluster's directory and its members' (`paxos init`) and says what it made.
fn create(dir: &Path, cluster: &ClusterConfig) -> Result<ExitCode, String> {
    setup::init(dir, cluster)?;
    let groups =
        if cluster.groups > 1 { format!(" with {} Paxos groups", cluster.groups) } else { String::new() };
    println!("created cluster {}{groups} in {}", cluster.cluster, dir.display());
    for member in &cluster.members {
        println!(
            "  node {}: clients {}, peers {}, data {}",
            member.id,
            member.client,
            member.peer,
            setup::node_dir(dir, member.id).display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn resolve(addr: &str, what: &str) -> Result<SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|error| format!("{what} address {addr:?}: {error}"))?
        .next()
        .ok_or_else(|| format!("{what} address {addr:?} resolves to nothing"))
}

/// What `paxos node` runs beside the node: fault injection, the metrics endpoint.
struct NodeExtras {
    fault_clock: Option<PathBuf>,
    metrics_addr: Option<String>,
}

async fn node(
    dir: &Path,
    request_timeout_ms: u64,
    max_value_bytes: usize,
    clients: Limits,
    core: Config,
    extras: NodeExtras,
) -> Result<ExitCode, String> {
    let file = setup::read_node(dir)?;
    let member = file.me().expect("checked by read_node").clone();
    let NodeFile { node, cluster, peers, listen_peer } = file;
    let clock = match extras.fault_clock.as_deref() {
        None => None,
        Some(path) => {
            let clock = Arc::new(Clock::new());
            // Read once now so that a bad file is reported before the node starts.
            let first = read_fault_clock(path)?;
            tokio::spawn(follow_fault_clock(path.to_path_buf(), clock.clone(), first));
            Some(clock)
        }
    };
    let metrics = match &extras.metrics_addr {
        None => None,
        Some(addr) => {
            let metrics = Arc::new(paxos::metrics::Metrics::new());
            paxos::metrics::serve(resolve(addr, "metrics")?, metrics.clone())?;
            Some(metrics)
        }
    };
    let timing =
        Timing { request_deadline: Duration::from_millis(request_timeout_ms.max(1)), ..Timing::default() };
    let options = NodeOptions {
        client_bind: resolve(&member.client, "client")?,
        peer_bind: resolve(listen_peer.as_deref().unwrap_or(&member.peer), "peer")?,
        cluster,
        peers,
        node,
        data_dir: dir.to_path_buf(),
        timing,
        limits: Limits { bulk_bytes: max_value_bytes.max(1 << 20) * 2, ..clients },
        value_bytes: max_value_bytes,
        operations_max: 1024,
        core: Config { node, ..core },
        peer: Default::default(),
        storage: StorageOptions::default(),
        disk: DiskMode::Thread,
        seed: seed(),
        observer: None,
        clock,
        pause: None,
        metrics,
    };
    let metrics = extras.metrics_addr.as_deref().map(|addr| format!(", metrics on http://{addr}/metrics"));
    tracing::info!(
        node = %node,
        "serving clients on {}, peers on {}{}, data in {}",
        member.client,
        member.peer,
        metrics.unwrap_or_default(),
        dir.display()
    );
    paxos::runtime::run(TokioNet, Arc::new(StdFs), options, stop_signal())
        .await
        .map_err(|error| format!("node {node}: {error}"))?;
    tracing::info!(node = %node, "stopped");
    Ok(ExitCode::SUCCESS)
}

/// Reads `RATE OFFSET_SECONDS` from a `--fault-clock` file.
fn read_fault_clock(path: &Path) -> Result<(f64, f64), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("--fault-clock {}: {error}", path.display()))?;
    let bad = || {
        format!(
            "--fault-clock {}: {:?}: expected \"RATE OFFSET_SECONDS\", such as \"1.5 -2\"",
            path.display(),
            text.trim()
        )
    };
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(rate)), Some(Ok(offset)), None) if rate.is_finite() && rate > 0.0 && offset.is_finite() => {
            Ok((rate, offset))
        }
        _ => Err(bad()),
    }
}

/// Applies the `--fault-clock` file to the node's clock as it changes. An unreadable or bad file
/// keeps the clock as it was (the injector writes it by rename, so a torn read is rare).
async fn follow_fault_clock(path: PathBuf, clock: Arc<Clock>, first: (f64, f64)) {
    // Only changes are applied: each one wakes the node to look at its timers again.
    let (mut rate_applied, mut offset_applied) = (1.0, 0.0);
    let mut apply = |(rate, offset): (f64, f64)| {
        if rate != rate_applied {
            clock.set_rate(rate);
            rate_applied = rate;
        }
        if offset != offset_applied {
            clock.jump(offset - offset_applied);
            offset_applied = offset;
        }
    };
    apply(first);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let Ok(setting) = read_fault_clock(&path) {
            apply(setting);
        }
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn stop_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(signal) => {
                signal.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminated => {}
    }
}

/// Refuses a `--metrics-port` whose range takes a port a member serves clients or peers on (the
/// node would find it taken and stop, and the cluster with it).
fn metrics_ports_free(metrics_port: u16, config: &ClusterConfig) -> Result<(), String> {
    if metrics_port == 0 {
        return Ok(());
    }
    let nodes = u32::try_from(config.members.len()).unwrap_or(u32::MAX);
    let metrics = u32::from(metrics_port)..u32::from(metrics_port).saturating_add(nodes);
    for member in &config.members {
        for (what, addr) in [("client", &member.client), ("peer", &member.peer)] {
            let port = addr.rsplit(':').next().and_then(|port| port.parse::<u32>().ok());
            if let Some(port) = port.filter(|port| metrics.contains(port)) {
                return Err(format!(
                    "--metrics-port {metrics_port}: the metrics ports {}..={} take {} port {port} \
                     of {}; choose another",
                    metrics.start,
                    metrics.end - 1,
                    what,
                    member.id
                ));
            }
        }
    }
    Ok(())
}

async fn cluster(shape: &Shape, metrics_port: u16) -> Result<ExitCode, String> {
    let (nodes, dir) = (shape.nodes, &shape.data_dir);
    if metrics_port != 0 && u32::from(metrics_port) + u32::from(nodes) - 1 > 65_535 {
        return Err(format!("--metrics-port {metrics_port}: {nodes} nodes need ports up to 65535"));
    }
    let config = match setup::read_cluster(dir) {
        Ok(config) => {
            if config.members.len() != usize::from(nodes) {
                return Err(format!(
                    "{} holds a cluster of {} nodes, not {nodes}",
                    dir.display(),
                    config.members.len()
                ));
            }
            if let Some(groups) = shape.groups.filter(|&groups| groups != config.groups) {
                return Err(format!(
                    "--groups {groups}: {} holds a cluster of {} groups, fixed when it was created",
                    dir.display(),
                    config.groups
                ));
            }
            metrics_ports_free(metrics_port, &config)?;
            println!("restarting cluster {} from {}", config.cluster, dir.display());
            config
        }
        Err(_) if !dir.join(setup::CLUSTER_FILE).exists() => {
            let cluster = planned(shape, "127.0.0.1")?;
            metrics_ports_free(metrics_port, &cluster)?;
            create(dir, &cluster)?;
            setup::read_cluster(dir)?
        }
        Err(error) => return Err(error),
    };
    let exe =
        std::env::current_exe().map_err(|error| format!("cannot find the paxos executable: {error}"))?;
    let mut children = Vec::new();
    for member in &config.members {
        let mut command = tokio::process::Command::new(&exe);
        command.arg("node").arg("--data-dir").arg(setup::node_dir(dir, member.id));
        let metrics = (metrics_port != 0).then(|| {
            let addr = format!("127.0.0.1:{}", u32::from(metrics_port) + u32::from(member.id.0) - 1);
            command.arg("--metrics-addr").arg(&addr);
            format!(", metrics http://{addr}/metrics")
        });
        let child = command
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start node {}: {error}", member.id))?;
        println!(
            "node {}: redis-cli -p {} (peers on {}{})",
            member.id,
            member.client.rsplit(':').next().unwrap_or(""),
            member.peer,
            metrics.unwrap_or_default()
        );
        children.push((member.id, child));
    }
    println!("cluster {} running; Ctrl-C stops it", config.cluster);
    let mut exited = None;
    tokio::select! {
        () = stop_signal() => {}
        (id, status) = async {
            let waits = children.iter_mut().map(|(id, child)| Box::pin(async move { (*id, child.wait().await) }));
            futures_util::future::select_all(waits).await.0
        } => exited = Some((id, status)),
    }
    if let Some((id, status)) = &exited {
        eprintln!("node {id} exited ({status:?}); stopping the others");
    }
    // Ctrl-C reaches every process of the terminal's group, SIGTERM only this one: stop every
    // node with SIGTERM (a graceful stop), and kill those that do not stop.
    for (_, child) in &children {
        if let Some(pid) = child.id() {
            let _ = std::process::Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        }
    }
    for (id, child) in &mut children {
        match tokio::time::timeout(Duration::from_secs(10), child.wait()).await {
            Ok(_) => {}
            Err(_) => {
                eprintln!("node {id} did not stop within 10 s; killing it");
                let _ = child.kill().await;
            }
        }
    }
    println!("cluster stopped");
    Ok(if exited.is_some() { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

fn show(reply: &Reply) -> String {
    match reply {
        Reply::Simple(text) => text.clone(),
        Reply::Error(text) => format!("(error) {text}"),
        Reply::Integer(n) => n.to_string(),
        Reply::Bulk(None) => "(nil)".to_string(),
        Reply::Bulk(Some(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
        Reply::Array(items) => items.iter().map(show).collect::<Vec<_>>().join("\n"),
    }
}

async fn client(addr: &str, command: ClientCommand) -> Result<ExitCode, String> {
    let mut client =
        Client::connect(addr).await.map_err(|error| format!("cannot connect to {addr}: {error}"))?;
    let arguments: Vec<&[u8]> = match &command {
        ClientCommand::Get { key } => vec![b"GET", key.as_bytes()],
        ClientCommand::Put { key, value } => vec![b"SET", key.as_bytes(), value.as_bytes()],
        ClientCommand::Del { key } => vec![b"DEL", key.as_bytes()],
        ClientCommand::Cas { key, expected, new } => {
            vec![b"CAS", key.as_bytes(), expected.as_bytes(), new.as_bytes()]
        }
        ClientCommand::Info => vec![b"INFO"],
        ClientCommand::Nodes => vec![b"CLUSTER", b"NODES"],
    };
    let reply = client.command(&arguments).await.map_err(|error| format!("{addr}: {error}"))?;
    println!("{}", show(&reply).trim_end());
    Ok(if matches!(reply, Reply::Error(_)) { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// Sends `arguments` to the node at `addr`; an error reply is an error.
async fn command(addr: &str, arguments: &[&[u8]]) -> Result<Reply, String> {
    let mut client =
        Client::connect(addr).await.map_err(|error| format!("cannot connect to {addr}: {error}"))?;
    match client.command(arguments).await.map_err(|error| format!("{addr}: {error}"))? {
        Reply::Error(error) => Err(format!("{addr}: {error}")),
        reply => Ok(reply),
    }
}

async fn member(addr: &str, change: MemberCommand) -> Result<ExitCode, String> {
    let ids = |ids: &[u8]| ids.iter().map(u8::to_string).collect::<Vec<_>>();
    let words: Vec<String> = match change {
        MemberCommand::List => vec!["LIST".into()],
        MemberCommand::Add { id, client, peer } => vec!["ADD".into(), id.to_string(), client, peer],
        MemberCommand::Promote { id } => [vec!["PROMOTE".into()], ids(&[id])].concat(),
        MemberCommand::Remove { id } => [vec!["REMOVE".into()], ids(&[id])].concat(),
        MemberCommand::Replace { old, new } => [vec!["REPLACE".into()], ids(&[old, new])].concat(),
        MemberCommand::TransferLeader { id } => [vec!["TRANSFER-LEADER".into()], ids(&[id])].concat(),
    };
    let mut arguments: Vec<&[u8]> = vec![b"MEMBER"];
    arguments.extend(words.iter().map(|word| word.as_bytes()));
    let reply = command(addr, &arguments).await?;
    println!("{}", show(&reply).trim_end());
    Ok(ExitCode::SUCCESS)
}

/// `paxos join`: fetch the cluster's id and members, write the new node's directory, add it.
async fn join(addr: &str, id: u8, me: Member, dir: &Path) -> Result<ExitCode, String> {
    if !(1..64).contains(&id) {
        return Err(format!("--id {id}: expected a number from 1 to 63"));
    }
    resolve(&me.client, "--client")?;
    resolve(&me.peer, "--peer")?;
    if dir.join(setup::NODE_FILE).exists() {
        return Err(format!("--data-dir {}: already holds a node; choose another directory", dir.display()));
    }
    let Reply::Bulk(Some(json)) = command(addr, &[b"MEMBER", b"CONFIG"]).await? else {
        return Err(format!("{addr}: MEMBER CONFIG answered something other than a JSON text"));
    };
    let config: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|error| format!("{addr}: MEMBER CONFIG is not valid JSON: {error}"))?;
    let cluster = config["cluster"]
        .as_u64()
        .map(ClusterId)
        .ok_or_else(|| format!("{addr}: MEMBER CONFIG names no cluster id"))?;
    let first: Vec<Member> = serde_json::from_value(config["first"].clone())
        .map_err(|error| format!("{addr}: MEMBER CONFIG's first members: {error}"))?;
    let groups = match config.get("groups") {
        None => 1,
        Some(groups) => groups
            .as_u64()
            .and_then(|groups| u16::try_from(groups).ok())
            .filter(|&groups| groups > 0)
            .ok_or_else(|| format!("{addr}: MEMBER CONFIG's groups {groups}: expected a number from 1"))?,
    };
    let mut peers = Vec::new();
    for member in config["members"].as_array().into_iter().flatten() {
        let (Some(other), Some(client), Some(peer)) =
            (member["id"].as_u64(), member["client"].as_str(), member["peer"].as_str())
        else {
            return Err(format!("{addr}: MEMBER CONFIG lists a member without id or addresses: {member}"));
        };
        if other == u64::from(id) {
            return Err(format!("--id {id}: node {id} is already a member of cluster {cluster}"));
        }
        if client == me.client || peer == me.peer {
            return Err(format!("node {other} already uses {client} / {peer}: choose other addresses"));
        }
        peers.push(Member { id: NodeId(other as u8), client: client.to_string(), peer: peer.to_string() });
    }
    if first.iter().any(|member| member.id == me.id) {
        return Err(format!(
            "--id {id}: node {id} was a first member of cluster {cluster}; ids are never reused"
        ));
    }
    peers.push(me.clone());
    let file = NodeFile {
        node: me.id,
        cluster: ClusterConfig { cluster, members: first, groups },
        peers,
        listen_peer: None,
    };
    let id_text = id.to_string();
    setup::join_running(dir, &file)?;
    let arguments: [&[u8]; 5] =
        [b"MEMBER", b"ADD", id_text.as_bytes(), me.client.as_bytes(), me.peer.as_bytes()];
    match command(addr, &arguments).await {
        Ok(reply) => {
            println!("{}", show(&reply).trim_end());
            println!("node {id} joined cluster {cluster} as a learner; data in {}", dir.display());
            println!("start it: paxos node --data-dir {}", dir.display());
            println!("once it caught up (paxos member list): paxos member --addr {addr} promote {id}");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            // Nothing joined: leave nothing behind that could start as a member.
            let _ = std::fs::remove_dir_all(dir);
            Err(error)
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 =
        number.parse().map_err(|_| format!("{text:?}: expected a duration such as 10s or 500ms"))?;
    let seconds = match unit {
        "s" => value,
        "ms" => value / 1000.0,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: expected a duration such as 10s or 500ms (units: ms, s, m)")),
    };
    if seconds <= 0.0 {
        return Err(format!("{text:?}: the duration must be positive"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[derive(tabled::Tabled)]
struct BenchLine {
    clients: usize,
    #[tabled(rename = "ops/s")]
    rate: String,
    #[tabled(rename = "p50 ms")]
    p50: String,
    #[tabled(rename = "p99 ms")]
    p99: String,
    #[tabled(rename = "p99.9 ms")]
    p999: String,
    unknown: u64,
    errors: u64,
}

async fn run_bench(
    mut options: bench::Options,
    clients: &[usize],
    leader: bool,
    floor: Option<&Path>,
    json: Option<&Path>,
) -> Result<ExitCode, String> {
    if clients.is_empty() || clients.contains(&0) {
        return Err(
            "--clients: expected a comma-separated list of positive counts, such as 1,16,64".to_string()
        );
    }
    if leader {
        if options.target != Target::Paxos {
            return Err("--leader: only for --target paxos (give etcd's leader as --addr)".to_string());
        }
        let mut found = None;
        for addr in &options.addrs {
            let mut client =
                Client::connect(addr).await.map_err(|error| format!("cannot connect to {addr}: {error}"))?;
            if let Ok(Reply::Bulk(Some(text))) = client.command(&[b"INFO"]).await {
                if String::from_utf8_lossy(&text).contains("role:leader") {
                    found = Some(addr.clone());
                }
            }
        }
        options.addrs =
            vec![found.ok_or_else(|| format!("--leader: none of {:?} is the leader", options.addrs))?];
    }
    eprintln!(
        "{:?} {:?} on {}: {}-byte values, {} keys, {:?} per client count",
        options.target,
        options.workload,
        options.addrs.join(","),
        options.value_bytes,
        options.keys,
        options.duration
    );
    if options.workload != Workload::Write {
        bench::preload(&options).await.map_err(|error| format!("preloading the keys: {error}"))?;
    }
    let mut rows = Vec::new();
    for &count in clients {
        let started = std::time::Instant::now();
        let row = bench::measure(&options, count, |done| {
            eprint!("\r{count} clients: {:>3.0} s, {done} ops      ", started.elapsed().as_secs_f64());
        })
        .await
        .map_err(|error| format!("{count} clients: {error}"))?;
        eprintln!(
            "\r{count} clients: {:.0} ops/s, p50 {:.2} ms          ",
            row.ops_per_sec,
            row.p50_us as f64 / 1000.0
        );
        rows.push(row);
    }
    let ms = |us: u64| format!("{:.2}", us as f64 / 1000.0);
    let lines: Vec<BenchLine> = rows
        .iter()
        .map(|row| BenchLine {
            clients: row.clients,
            rate: format!("{:.0}", row.ops_per_sec),
            p50: ms(row.p50_us),
            p99: ms(row.p99_us),
            p999: ms(row.p999_us),
            unknown: row.unknown,
            errors: row.errors,
        })
        .collect();
    println!("{}", tabled::Table::new(lines).with(tabled::settings::Style::markdown()));
    let mut floor_json = serde_json::Value::Null;
    if let Some(dir) = floor {
        let floor = measure_floor(dir).await.map_err(|error| format!("--floor {error}"))?;
        print_floor(&floor);
        if let Some(single) = rows.iter().find(|row| row.clients == 1) {
            let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
            let p50 = single.p50_us as f64 / 1e3;
            print!("single-client p50: {:.2}x the floor", p50 / ms(floor.total()));
            match floor.total_across_cores() {
                Some(total) => println!(" ({:.2}x with the round trips across cores)", p50 / ms(total)),
                None => println!(),
            }
        }
        floor_json = json_of_floor(&floor);
    }
    if let Some(path) = json {
        let document = serde_json::json!({
            "target": options.target, "workload": options.workload, "addrs": options.addrs,
            "value_bytes": options.value_bytes, "duration_s": options.duration.as_secs_f64(), "rows": rows, "floor": floor_json,
        });
        std::fs::write(path, serde_json::to_string_pretty(&document).expect("serializes") + "\n")
            .map_err(|error| format!("--json {}: {error}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Measures the floor in `dir`, with `paxos floor-echo` processes as the other end of the round
/// trips.
async fn measure_floor(dir: &Path) -> Result<bench::Floor, String> {
    let exe =
        std::env::current_exe().map_err(|error| format!("cannot find the paxos executable: {error}"))?;
    let echo = |core: Option<usize>| {
        let mut command = tokio::process::Command::new(&exe);
        command.arg("floor-echo");
        if let Some(core) = core {
            command.arg("--core").arg(core.to_string());
        }
        command
    };
    bench::floor(dir, echo).await.map_err(|error| format!("{}: {error}", dir.display()))
}

fn print_floor(floor: &bench::Floor) {
    let ms = |duration: Duration| duration.as_secs_f64() * 1e3;
    println!(
        "floor of one write: 2 x {:.3} ms loopback round trip between processes on one core + {:.3} ms \
         fdatasync = {:.3} ms",
        ms(floor.rtt),
        ms(floor.fdatasync),
        ms(floor.total()),
    );
    if let (Some(rtt), Some(total)) = (floor.rtt_across_cores, floor.total_across_cores()) {
        println!(
            "  with the round trips across two cores: 2 x {:.3} ms + {:.3} ms = {:.3} ms",
            ms(rtt),
            ms(floor.fdatasync),
            ms(total)
        );
    }
}

fn json_of_floor(floor: &bench::Floor) -> serde_json::Value {
    let micros = |duration: Duration| duration.as_micros() as u64;
    serde_json::json!({
        "rtt_us": micros(floor.rtt),
        "rtt_across_cores_us": floor.rtt_across_cores.map(micros),
        "fdatasync_us": micros(floor.fdatasync),
        "total_us": micros(floor.total()),
    })
}

/// `paxos floor DIR`: the floor alone, printed, and as JSON with `--json`.
async fn run_floor(dir: &Path, json: Option<&Path>) -> Result<ExitCode, String> {
    let floor = measure_floor(dir).await?;
    print_floor(&floor);
    if let Some(path) = json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json_of_floor(&floor)).expect("serializes") + "\n",
        )
        .map_err(|error| format!("--json {}: {error}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}
