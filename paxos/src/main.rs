//! The `paxos` command: create a cluster, run a node, run a local cluster, talk to a node.

#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use clap::{Parser, Subcommand};
use paxos::client::Client;
use paxos::core::{ClusterId, Config};
use paxos::runtime::resp::{Limits, Reply};
use paxos::runtime::setup::{self, NodeFile};
use paxos::runtime::{DiskMode, NodeOptions, Timing, TokioNet};
use paxos::storage::fs::StdFs;
use paxos::storage::StorageOptions;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

#[derive(Subcommand)]
enum Command {
    /// Create a cluster: its id, its members, and one data directory per member.
    Init {
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
    },
    /// Run a local cluster of `paxos node` processes (created on first use, restarted after).
    Cluster {
        /// Members.
        #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=63))]
        nodes: u8,
        /// The cluster directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Node i serves clients on PORT+i-1.
        #[arg(long, default_value_t = 6379)]
        port: u16,
        /// Node i listens to its peers on PEER_PORT+i-1 (default PORT+1000).
        #[arg(long)]
        peer_port: Option<u16>,
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
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Init { nodes, data_dir, port, peer_port, host } => {
                init(nodes, &data_dir, port, peer_port, &host)
            }
            Command::Node { data_dir, request_timeout_ms, max_value_bytes } => {
                node(&data_dir, request_timeout_ms, max_value_bytes).await
            }
            Command::Cluster { nodes, data_dir, port, peer_port } => {
                cluster(nodes, &data_dir, port, peer_port).await
            }
            Command::Client { addr, command } => client(&addr, command).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(message) => fail(&message),
    }
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

fn init(
    nodes: u8,
    dir: &Path,
    port: u16,
    peer_port_flag: Option<u16>,
    host: &str,
) -> Result<ExitCode, String> {
    let peer_port = peer_port(port, peer_port_flag, nodes)?;
    let cluster = setup::local_cluster(ClusterId(seed() | 1), nodes, host, port, peer_port);
    setup::init(dir, &cluster)?;
    println!("created cluster {} in {}", cluster.cluster, dir.display());
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

async fn node(dir: &Path, request_timeout_ms: u64, max_value_bytes: usize) -> Result<ExitCode, String> {
    let NodeFile { node, cluster } = setup::read_node(dir)?;
    let member =
        cluster.members.iter().find(|member| member.id == node).expect("checked by read_node").clone();
    let timing =
        Timing { request_deadline: Duration::from_millis(request_timeout_ms.max(1)), ..Timing::default() };
    let options = NodeOptions {
        client_bind: resolve(&member.client, "client")?,
        peer_bind: resolve(&member.peer, "peer")?,
        cluster,
        node,
        data_dir: dir.to_path_buf(),
        timing,
        limits: Limits { bulk_bytes: max_value_bytes.max(1 << 20) * 2, ..Limits::default() },
        value_bytes: max_value_bytes,
        operations_max: 1024,
        core: Config::new(node, Vec::new()),
        peer: Default::default(),
        storage: StorageOptions::default(),
        disk: DiskMode::Thread,
        seed: seed(),
    };
    eprintln!(
        "node {node}: serving clients on {}, peers on {}, data in {}",
        member.client,
        member.peer,
        dir.display()
    );
    let shutdown = async {
        let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            Some(()) = async { match terminate.as_mut() { Some(signal) => signal.recv().await, None => std::future::pending().await } } => {}
        }
    };
    paxos::runtime::run(TokioNet, Arc::new(StdFs), options, shutdown)
        .await
        .map_err(|error| format!("node {node}: {error}"))?;
    eprintln!("node {node}: stopped");
    Ok(ExitCode::SUCCESS)
}

async fn cluster(nodes: u8, dir: &Path, port: u16, peer_port_flag: Option<u16>) -> Result<ExitCode, String> {
    let config = match setup::read_cluster(dir) {
        Ok(config) => {
            if config.members.len() != usize::from(nodes) {
                return Err(format!(
                    "{} holds a cluster of {} nodes, not {nodes}",
                    dir.display(),
                    config.members.len()
                ));
            }
            println!("restarting cluster {} from {}", config.cluster, dir.display());
            config
        }
        Err(_) if !dir.join(setup::CLUSTER_FILE).exists() => {
            init(nodes, dir, port, peer_port_flag, "127.0.0.1")?;
            setup::read_cluster(dir)?
        }
        Err(error) => return Err(error),
    };
    let exe =
        std::env::current_exe().map_err(|error| format!("cannot find the paxos executable: {error}"))?;
    let mut children = Vec::new();
    for member in &config.members {
        let child = tokio::process::Command::new(&exe)
            .arg("node")
            .arg("--data-dir")
            .arg(setup::node_dir(dir, member.id))
            .kill_on_drop(true)
            .spawn()
            .map_err(|error| format!("cannot start node {}: {error}", member.id))?;
        println!(
            "node {}: redis-cli -p {} (peers on {})",
            member.id,
            member.client.rsplit(':').next().unwrap_or(""),
            member.peer
        );
        children.push((member.id, child));
    }
    println!("cluster {} running; Ctrl-C stops it", config.cluster);
    let mut exited = None;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        (id, status) = async {
            let waits = children.iter_mut().map(|(id, child)| Box::pin(async move { (*id, child.wait().await) }));
            futures_util::future::select_all(waits).await.0
        } => exited = Some((id, status)),
    }
    if let Some((id, status)) = &exited {
        eprintln!("node {id} exited ({status:?}); stopping the others");
    }
    // Ctrl-C reaches every process of the terminal's group; stop the rest with SIGTERM.
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
