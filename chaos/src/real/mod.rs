//! Chaos on real clusters: `paxos node` processes on loopback, the same scenarios and workload as
//! in simulation through real RESP connections, real faults (SIGKILL, SIGSTOP/SIGCONT, a removed
//! data directory, a userspace proxy on every peer link, each node's clock through its
//! `--fault-clock` file), histories with real monotonic timestamps, and the same checks and report.
//! The same for etcd and Redis with Sentinel ([`foreign`]). `--attach` records a history against
//! any running cluster, without faults.
//!
//! Fidelity, compared with the simulation: a machine crash is a SIGKILL with the node kept down
//! (the page cache survives: unsynced writes are not lost); a partition holds traffic in the
//! proxies (connections hang, then deliver late or are abandoned, as with a black-holing
//! firewall); clocks are skewed through the node's own clock, which every timer of the node reads
//! (libfaketime cannot fake the monotonic clock under tokio: tokio#8358, libfaketime#545). Runs
//! are not replayable: the seed fixes the schedule's and the clients' choices, not the operating
//! system's.

pub mod foreign;
pub mod process;
pub mod proxy;
pub mod target;

use crate::checks;
use crate::cluster::{Cluster, MembershipView};
use crate::error::{ChaosError, Liveness};
use crate::run::{Faults, Outcome};
use crate::workload;
use crate::workload::FinalValues;
use paxos::client::resp::Reply;
use paxos::client::Client;
use paxos::core::NodeId;
use paxos::runtime::setup::{self, NodeFile};
use process::NodeProcess;
use proxy::{LinkFaults, Links};
use scenarios::{Build, Scenario};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
pub use target::{Reach, Target};

/// How long a client waits for a reply before it records an unknown outcome.
const CLIENT_DEADLINE: Duration = Duration::from_millis(2500);

/// The node's own request deadline (`--request-timeout-ms`).
const REQUEST_TIMEOUT_MS: u64 = 2000;

/// Where and how to run a real cluster.
#[derive(Clone, Debug)]
pub struct RealOptions {
    /// The `paxos` binary (found next to this one, or built, when `None`).
    pub paxos: Option<PathBuf>,
    /// Node i serves clients on `port + i - 1`, peers on `port + 100 + i - 1`; the proxies listen
    /// from `port + 200`.
    pub port: u16,
    /// The working directory: the cluster's data, each node's log, the clock files.
    pub dir: PathBuf,
    /// The system to start and inject faults into.
    pub target: Target,
}

/// What a node last answered to `INFO` about one of its groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeInfo {
    /// Leading.
    pub leader: bool,
    /// The ballot it leads or follows: (round, node).
    pub ballot: Option<(u64, u8)>,
    /// Every slot below it is applied.
    pub applied: u64,
    /// Recovering from storage loss.
    pub recovering: bool,
    /// The membership's version.
    pub membership_version: u64,
    /// Its voters and learners, one bit per node id.
    pub voters: u64,
    /// Its learners.
    pub learners: u64,
}

fn id_bits(ids: &str) -> Option<u64> {
    ids.split([',', '/']).filter(|id| !id.is_empty()).try_fold(0u64, |bits, id| {
        let id: u32 = id.parse().ok()?;
        Some(bits | 1u64.checked_shl(id)?)
    })
}

fn bit_ids(bits: u64) -> Vec<u8> {
    (0..64u8).filter(|&id| bits & (1 << id) != 0).collect()
}

/// Parses the text of `INFO` (our node's fields): one [`NodeInfo`] per group, from the `# Groups`
/// lines (`group1:role=leader,...,voter_ids=1/2/3,learner_ids=`) of a node that runs several, or
/// from the replication section.
pub fn parse_info(text: &str) -> Option<Vec<NodeInfo>> {
    let lines: Vec<&str> =
        text.lines().filter(|line| line.starts_with("group") && line.contains(":role=")).collect();
    if lines.is_empty() {
        return parse_replication(text).map(|info| vec![info]);
    }
    lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let (name, fields) = line.trim_end().split_once(':')?;
            if name != format!("group{index}") {
                return None;
            }
            let field = |wanted: &str| {
                fields.split(',').find_map(|pair| {
                    pair.split_once('=').filter(|(key, _)| *key == wanted).map(|(_, value)| value)
                })
            };
            Some(NodeInfo {
                leader: field("role")? == "leader",
                ballot: ballot(field("ballot")?),
                applied: field("applied_slot")?.parse().ok()?,
                recovering: field("role")? == "recovering",
                membership_version: field("membership_version")?.parse().ok()?,
                voters: id_bits(field("voter_ids")?)?,
                learners: id_bits(field("learner_ids")?)?,
            })
        })
        .collect()
}

/// `3.2`: round 3 of node 2; `none`.
fn ballot(text: &str) -> Option<(u64, u8)> {
    let (round, node) = text.split_once('.')?;
    Some((round.parse().ok()?, node.parse().ok()?))
}

/// The replication section of `INFO`: group 0.
fn parse_replication(text: &str) -> Option<NodeInfo> {
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.trim_end().strip_prefix(name).and_then(|rest| rest.strip_prefix(':')))
    };
    let role = field("role")?;
    Some(NodeInfo {
        leader: role == "leader",
        ballot: field("ballot").and_then(ballot),
        applied: field("applied_slot")?.parse().ok()?,
        recovering: role == "recovering",
        membership_version: field("membership_version").and_then(|version| version.parse().ok()).unwrap_or(0),
        voters: field("voter_ids").and_then(id_bits).unwrap_or(0),
        learners: field("learner_ids").and_then(id_bits).unwrap_or(0),
    })
}

/// What the clients, the observers and the harness share.
#[derive(Default)]
struct Shared {
    history: Vec<String>,
    /// Per machine, per group.
    observed: Vec<Option<Vec<NodeInfo>>>,
    stop: bool,
    finished: usize,
    /// The machines in the cluster now (clients connect to them).
    members: Vec<u8>,
}

/// The workload of a run: the scenario's, with a key prefix.
#[derive(Clone, Debug)]
struct Workload {
    reach: Reach,
    workload: scenarios::Workload,
    prefix: String,
    seed: u64,
}

/// A real cluster under fault injection.
pub struct RealCluster {
    runtime: tokio::runtime::Runtime,
    started: Instant,
    /// The first members.
    nodes: u8,
    /// First members and spares.
    machines: u8,
    /// The cluster as `init` wrote it, and where its directory is.
    config: setup::ClusterConfig,
    cluster_dir: PathBuf,
    /// The first port of the run (see [`RealOptions::port`]).
    port: u16,
    claimed: Vec<bool>,
    gone: Vec<bool>,
    replies: Arc<Mutex<BTreeMap<u64, String>>>,
    tickets: u64,
    processes: Vec<NodeProcess>,
    pids: Arc<Mutex<Vec<Option<u32>>>>,
    faults: LinkFaults,
    down: Vec<bool>,
    paused: Vec<bool>,
    clocks: Vec<(f64, f64)>,
    clock_files: Vec<PathBuf>,
    data_dirs: Vec<PathBuf>,
    shared: Arc<Mutex<Shared>>,
    trace: Arc<Mutex<Vec<String>>>,
    addresses: Vec<String>,
    clients: usize,
}

/// The port of the proxy on link (i, j) to a first member j (all links fit below `port + 300`).
fn link_port(port: u16, i: u8, j: u8) -> u16 {
    port + 200 + u16::from(i - 1) * 10 + u16::from(j - 1)
}

/// The port of the proxy in front of new member j's peer port (its address in the membership).
fn inbound_port(port: u16, j: u8) -> u16 {
    port + 300 + u16::from(j) - 1
}

/// The cluster as node `i` sees it: every other first member through the proxy of its link.
fn proxied(config: &setup::ClusterConfig, i: u8, port: u16) -> setup::ClusterConfig {
    let mut view = config.clone();
    for member in &mut view.members {
        let j = member.id.0;
        if j != i {
            member.peer = format!("127.0.0.1:{}", link_port(port, i, j));
        }
    }
    view
}

fn runtime() -> Result<tokio::runtime::Runtime, ChaosError> {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|error| {
        ChaosError::Process { command: "the tokio runtime".to_string(), reason: error.to_string() }
    })
}

impl RealCluster {
    /// Creates and starts a cluster of `scenario.nodes` nodes in `options.dir`, its proxies, its
    /// observers and its clients; spare machines get their ports and proxies, and start when an
    /// operator brings them in.
    ///
    /// # Errors
    ///
    /// A directory or file that cannot be written, a port in use, a node that cannot start.
    pub fn start(scenario: &Scenario, seed: u64, options: &RealOptions) -> Result<RealCluster, ChaosError> {
        let binary = process::locate_paxos(options.paxos.as_deref())?;
        let nodes = scenario.nodes;
        let machines = nodes + scenario.spares;
        if options.port.checked_add(300 + u16::from(machines)).is_none() {
            return Err(ChaosError::Input(format!("--port {}: too high", options.port)));
        }
        let cluster_dir = options.dir.join("cluster");
        if cluster_dir.exists() {
            std::fs::remove_dir_all(&cluster_dir).map_err(ChaosError::io(&cluster_dir))?;
        }
        std::fs::create_dir_all(&cluster_dir).map_err(ChaosError::io(&cluster_dir))?;
        let config = setup::ClusterConfig {
            groups: scenario.groups,
            ..setup::local_cluster(
                paxos::core::ClusterId(seed.wrapping_mul(0x9E37_79B9) | 1),
                nodes,
                "127.0.0.1",
                options.port,
                options.port + 100,
            )
        };
        setup::init(&cluster_dir, &config).map_err(ChaosError::Setup)?;
        let runtime = runtime()?;
        let links = Arc::new(Links::new(machines));
        let mut processes = Vec::new();
        let (mut clock_files, mut data_dirs) = (Vec::new(), Vec::new());
        for i in 1..=machines {
            let dir = setup::node_dir(&cluster_dir, NodeId(i));
            if i <= nodes {
                let file = NodeFile {
                    node: NodeId(i),
                    cluster: proxied(&config, i, options.port),
                    peers: Vec::new(),
                    listen_peer: None,
                };
                let node_file = dir.join(setup::NODE_FILE);
                std::fs::write(&node_file, serde_json::to_string_pretty(&file).expect("json"))
                    .map_err(ChaosError::io(&node_file))?;
            }
            let clock = options.dir.join(format!("clock-{i}"));
            std::fs::write(&clock, "1 0\n").map_err(ChaosError::io(&clock))?;
            let arguments = vec![
                "node".to_string(),
                "--data-dir".to_string(),
                dir.display().to_string(),
                "--request-timeout-ms".to_string(),
                REQUEST_TIMEOUT_MS.to_string(),
                "--read-mode".to_string(),
                scenario.read_mode.as_str().to_string(),
                "--fault-clock".to_string(),
                clock.display().to_string(),
            ];
            processes.push(NodeProcess::new(&binary, arguments, options.dir.join(format!("node-{i}.log"))));
            clock_files.push(clock);
            data_dirs.push(dir);
        }
        let bind = |listen: u16, what: String| {
            runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", listen))).map_err(|error| {
                ChaosError::Process {
                    command: format!("{what} on 127.0.0.1:{listen}"),
                    reason: format!("{error} (choose another --port)"),
                }
            })
        };
        for i in 1..=machines {
            for j in 1..=nodes {
                if i != j {
                    let listener =
                        bind(link_port(options.port, i, j), format!("the proxy of link n{i}->n{j}"))?;
                    let target =
                        std::net::SocketAddr::from(([127, 0, 0, 1], options.port + 100 + u16::from(j) - 1));
                    runtime.spawn(proxy::serve(listener, target, links.clone(), i, j, seed));
                }
            }
        }
        // A new member is reached at the address its `MEMBER ADD` gave, the same for every node:
        // a proxy that learns who dialled from the connection's hello.
        for j in nodes + 1..=machines {
            let listener = bind(inbound_port(options.port, j), format!("the inbound proxy of n{j}"))?;
            let target = std::net::SocketAddr::from(([127, 0, 0, 1], options.port + 100 + u16::from(j) - 1));
            runtime.spawn(proxy::serve_inbound(listener, target, links.clone(), j, seed));
        }
        let addresses: Vec<String> =
            (1..=machines).map(|i| format!("127.0.0.1:{}", options.port + u16::from(i) - 1)).collect();
        let shared = Arc::new(Mutex::new(Shared {
            observed: vec![None; usize::from(machines)],
            members: (1..=nodes).collect(),
            ..Shared::default()
        }));
        let pids = Arc::new(Mutex::new(vec![None; usize::from(machines)]));
        let mut cluster = RealCluster {
            runtime,
            started: Instant::now(),
            nodes,
            machines,
            config,
            cluster_dir,
            port: options.port,
            claimed: vec![false; usize::from(machines)],
            gone: vec![false; usize::from(machines)],
            replies: Arc::new(Mutex::new(BTreeMap::new())),
            tickets: 0,
            processes,
            pids,
            faults: LinkFaults::new(links),
            down: (1..=machines).map(|i| i > nodes).collect(),
            paused: vec![false; usize::from(machines)],
            clocks: vec![(1.0, 0.0); usize::from(machines)],
            clock_files,
            data_dirs,
            shared,
            trace: Arc::new(Mutex::new(Vec::new())),
            addresses,
            clients: scenario.workload.clients,
        };
        for i in 1..=nodes {
            cluster.launch(i)?;
        }
        cluster.stop_on_interrupt();
        spawn_observers(&cluster.runtime, &cluster.addresses, &cluster.shared);
        let workload = Workload {
            reach: Reach::Direct(Target::Paxos, cluster.addresses.clone()),
            workload: scenario.workload.clone(),
            prefix: String::new(),
            seed,
        };
        spawn_clients(&cluster.runtime, &cluster.shared, &workload, cluster.started);
        Ok(cluster)
    }

    fn launch(&mut self, node: u8) -> Result<(), ChaosError> {
        let process = &mut self.processes[usize::from(node) - 1];
        process.start()?;
        self.pids.lock().expect("pids")[usize::from(node) - 1] = process.pid();
        Ok(())
    }

    fn kill(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        self.processes[index].kill();
        self.pids.lock().expect("pids")[index] = None;
        self.paused[index] = false;
        self.shared.lock().expect("shared").observed[index] = None;
    }

    /// On Ctrl-C, kills every node process by pid and exits.
    fn stop_on_interrupt(&self) {
        let pids = self.pids.clone();
        self.runtime.spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                for pid in pids.lock().expect("pids").iter().flatten() {
                    let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
                }
                eprintln!("\ninterrupted: every node process stopped");
                std::process::exit(130);
            }
        });
    }

    fn write_clock(&self, node: u8) {
        let (rate, offset) = self.clocks[usize::from(node) - 1];
        let path = &self.clock_files[usize::from(node) - 1];
        let temporary = path.with_extension("tmp");
        // Written by rename, so that the node never reads half a file.
        if std::fs::write(&temporary, format!("{rate} {offset}\n")).is_ok() {
            let _ = std::fs::rename(&temporary, path);
        }
    }

    /// Stops the clients, then runs until every client stopped and every node answers `INFO`
    /// with the same applied slot, with a leader (at most `within`).
    fn converge(&mut self, within: Duration) -> Result<Duration, ChaosError> {
        self.shared.lock().expect("shared").stop = true;
        let started = Instant::now();
        converge(&self.shared, self.clients, within).map(|()| started.elapsed())
    }

    /// Every node's output, for a failed run.
    pub fn logs(&self) -> Vec<PathBuf> {
        self.processes.iter().map(|process| process.log().to_path_buf()).collect()
    }
}

fn converge(shared: &Mutex<Shared>, clients: usize, within: Duration) -> Result<(), ChaosError> {
    let deadline = Instant::now() + within;
    loop {
        {
            let shared = shared.lock().expect("shared");
            let all: Option<Vec<&Vec<NodeInfo>>> =
                shared.members.iter().map(|&node| shared.observed[usize::from(node) - 1].as_ref()).collect();
            // Every group: applied alike on every member, none recovering, one leading; and on
            // every member every group with the same members.
            if let Some(all) = &all {
                let groups = all.first().map_or(0, |first| first.len());
                if shared.finished == clients
                    && all.iter().all(|node| node.len() == groups)
                    && (0..groups).all(|group| {
                        all.iter().all(|node| {
                            node[group].applied == all[0][group].applied && !node[group].recovering
                        }) && all.iter().any(|node| node[group].leader)
                    })
                    && all.iter().all(|node| {
                        node.iter()
                            .all(|group| group.voters == node[0].voters && group.learners == node[0].learners)
                    })
                {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                let nodes: Vec<String> = shared
                    .members
                    .iter()
                    .map(|&node| match &shared.observed[usize::from(node) - 1] {
                        Some(groups) => {
                            let each: Vec<String> = groups
                                .iter()
                                .map(|info| {
                                    format!(
                                        "applied {}{}{} voters {:?} learners {:?}",
                                        info.applied,
                                        if info.leader { " leading" } else { "" },
                                        if info.recovering { " recovering" } else { "" },
                                        bit_ids(info.voters),
                                        bit_ids(info.learners)
                                    )
                                })
                                .collect();
                            format!("n{node} {}", each.join(" | "))
                        }
                        None => format!("n{node} not answering"),
                    })
                    .collect();
                return Err(Liveness::NotConverged {
                    within,
                    stopped: shared.finished,
                    clients,
                    nodes: nodes.join(", "),
                }
                .into());
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

impl Drop for RealCluster {
    fn drop(&mut self) {
        for node in 1..=self.machines {
            self.kill(node);
        }
    }
}

impl Cluster for RealCluster {
    fn members(&self) -> Vec<u8> {
        self.shared.lock().expect("shared").members.clone()
    }

    fn membership_of(&self, node: u8) -> Option<MembershipView> {
        let groups = self.shared.lock().expect("shared").observed[usize::from(node) - 1].clone()?;
        let first = *groups.first()?;
        // As in simulation: no view while this node's groups disagree on the members; the
        // version is the least any group has applied.
        let agreed =
            groups.iter().all(|group| group.voters == first.voters && group.learners == first.learners);
        let version = groups.iter().map(|group| group.membership_version).min().unwrap_or_default();
        (first.voters != 0 && agreed).then(|| MembershipView {
            version,
            voters: bit_ids(first.voters),
            learners: bit_ids(first.learners),
        })
    }

    fn claim_spare(&mut self) -> Option<u8> {
        let spare = (self.nodes + 1..=self.machines).find(|&node| !self.claimed[usize::from(node) - 1])?;
        self.claimed[usize::from(spare) - 1] = true;
        Some(spare)
    }

    fn addresses(&self, node: u8) -> (String, String) {
        let peer = if node > self.nodes {
            inbound_port(self.port, node)
        } else {
            self.port + 100 + u16::from(node) - 1
        };
        (self.addresses[usize::from(node) - 1].clone(), format!("127.0.0.1:{peer}"))
    }

    fn bring_in(&mut self, node: u8) {
        // `paxos join`: the data directory, with the members of the day (itself among them); it
        // reaches the first members through the proxies of its links, the new ones through their
        // inbound proxies, and it is reached through its own inbound proxy (the address its hello
        // gives), listening behind it.
        let (client, peer) = self.addresses(node);
        let me = setup::Member { id: NodeId(node), client, peer };
        let mut peers: Vec<setup::Member> = self
            .members()
            .into_iter()
            .filter(|&id| id > self.nodes && id != node)
            .map(|id| {
                let (client, peer) = self.addresses(id);
                setup::Member { id: NodeId(id), client, peer }
            })
            .collect();
        peers.push(me);
        let file = NodeFile {
            node: NodeId(node),
            cluster: proxied(&self.config, node, self.port),
            peers,
            listen_peer: Some(format!("127.0.0.1:{}", self.port + 100 + u16::from(node) - 1)),
        };
        let dir = setup::node_dir(&self.cluster_dir, NodeId(node));
        if let Err(error) = setup::join_running(&dir, &file) {
            self.note(format!("n{node} cannot join: {error}"));
            return;
        }
        {
            let mut shared = self.shared.lock().expect("shared");
            shared.members.push(node);
            shared.members.sort_unstable();
        }
        self.down[usize::from(node) - 1] = false;
        let started = self.launch(node);
        self.note(format!(
            "n{node} joins (paxos join: data directory from the running cluster) and starts{}",
            started.err().map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }

    fn decommission(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        if self.gone[index] {
            return;
        }
        self.kill(node);
        self.down[index] = true;
        self.gone[index] = true;
        let _ = std::fs::remove_dir_all(&self.data_dirs[index]);
        self.shared.lock().expect("shared").members.retain(|&member| member != node);
        self.note(format!(
            "n{node} is decommissioned: process killed, data directory removed, never started again"
        ));
    }

    fn decommissioned(&self, node: u8) -> bool {
        self.gone[usize::from(node) - 1]
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn run_until(&mut self, at: Duration) -> Result<(), ChaosError> {
        loop {
            for node in 1..=self.machines {
                let index = usize::from(node) - 1;
                if !self.down[index] {
                    if let Some(status) = self.processes[index].exited() {
                        return Err(ChaosError::Exited {
                            node,
                            status: status.to_string(),
                            log: self.processes[index].log().to_path_buf(),
                        });
                    }
                }
            }
            let now = self.started.elapsed();
            if now >= at {
                return Ok(());
            }
            std::thread::sleep((at - now).min(Duration::from_millis(20)));
        }
    }

    fn leader(&self) -> Option<u8> {
        self.leader_of(0)
    }

    fn leader_of(&self, group: u16) -> Option<u8> {
        let shared = self.shared.lock().expect("shared");
        let seen = |node: u8| {
            shared.observed[usize::from(node) - 1]
                .as_ref()
                .and_then(|groups| groups.get(usize::from(group)).copied())
        };
        shared
            .members
            .iter()
            .copied()
            .filter(|&node| seen(node).is_some_and(|info| info.leader))
            .max_by_key(|&node| seen(node).and_then(|info| info.ballot))
    }

    fn is_down(&self, node: u8) -> bool {
        self.down[usize::from(node) - 1]
    }

    fn recovering(&self, node: u8) -> bool {
        self.shared.lock().expect("shared").observed[usize::from(node) - 1]
            .as_ref()
            .is_some_and(|groups| groups.iter().any(|info| info.recovering))
    }

    fn cut(&mut self, links: &[(u8, u8)]) {
        self.faults.cut(links);
    }

    fn uncut(&mut self, links: &[(u8, u8)]) {
        self.faults.uncut(links);
    }

    /// The proxies already hold a cut link's bytes (the sender's writes back up) and deliver them
    /// when it is repaired: a stall is a cut both ways.
    fn stall(&mut self, a: u8, b: u8) {
        self.cut(&[(a, b), (b, a)]);
    }

    fn unstall(&mut self, a: u8, b: u8) {
        self.uncut(&[(a, b), (b, a)]);
    }

    fn heal(&mut self) {
        self.faults.heal();
        self.note("heal".to_string());
    }

    fn restart(&mut self, node: u8) {
        if self.gone[usize::from(node) - 1] {
            return;
        }
        self.kill(node);
        let started = self.launch(node);
        self.note(format!(
            "SIGKILL n{node} and restart{}",
            started.err().map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }

    fn crash(&mut self, node: u8) {
        if self.gone[usize::from(node) - 1] {
            return;
        }
        self.kill(node);
        self.down[usize::from(node) - 1] = true;
        self.note(format!("SIGKILL n{node}, kept down (machine crash)"));
    }

    fn start(&mut self, node: u8) {
        if self.gone[usize::from(node) - 1] {
            self.note(format!("n{node} stays down: decommissioned"));
            return;
        }
        self.down[usize::from(node) - 1] = false;
        let started = self.launch(node);
        self.note(format!("start n{node}{}", started.err().map(|e| format!(": {e}")).unwrap_or_default()));
    }

    fn lose_storage(&mut self, node: u8) {
        let dir = &self.data_dirs[usize::from(node) - 1];
        let mut removed = 0;
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_name() != setup::NODE_FILE && std::fs::remove_file(entry.path()).is_ok() {
                    removed += 1;
                }
            }
        }
        self.note(format!("n{node} loses its data directory ({removed} files removed, node.json kept)"));
    }

    fn pause(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        let line = pause_machine(node, std::slice::from_ref(&self.processes[index]), &mut self.paused[index]);
        self.note(line);
    }

    fn resume(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        if let Some(line) =
            resume_machine(node, std::slice::from_ref(&self.processes[index]), &mut self.paused[index])
        {
            self.note(line);
        }
    }

    fn clock_jump(&mut self, node: u8, seconds: f64) {
        self.clock_strobe(node, seconds);
        self.note(format!("clock of n{node} steps {seconds:+} s"));
    }

    fn clock_rate(&mut self, node: u8, rate: f64) {
        self.clocks[usize::from(node) - 1].0 = rate;
        self.write_clock(node);
        self.note(format!("clock of n{node} runs at {rate}x"));
    }

    fn clock_strobe(&mut self, node: u8, seconds: f64) {
        self.clocks[usize::from(node) - 1].1 += seconds;
        self.write_clock(node);
    }

    fn flaky_network(&mut self, loss: f64, latency: Duration) {
        self.faults.flaky(loss, latency);
        self.note(format!("proxies: loss {loss}, delay up to {latency:?}"));
    }

    fn steady_network(&mut self) {
        self.faults.flaky(0.0, Duration::ZERO);
        self.note("proxies: reliable".to_string());
    }

    fn note(&self, line: String) {
        self.trace
            .lock()
            .expect("trace")
            .push(format!("{:>10.3}s {line}", self.started.elapsed().as_secs_f64()));
    }

    fn admin(&mut self, node: u8, arguments: Vec<String>) -> u64 {
        let address = self.addresses[usize::from(node) - 1].clone();
        self.note(format!("operator to n{node}: {}", arguments.join(" ")));
        self.tickets += 1;
        let ticket = self.tickets;
        let (trace, started, replies) = (self.trace.clone(), self.started, self.replies.clone());
        self.runtime.spawn(async move {
            let words: Vec<&[u8]> = arguments.iter().map(String::as_bytes).collect();
            let reply = match Client::connect(&address).await {
                Ok(mut client) => match client.command(&words).await {
                    Ok(reply) => crate::cluster::reply_text(&reply),
                    Err(error) => format!("no reply: {error}"),
                },
                Err(error) => format!("cannot connect: {error}"),
            };
            let line =
                format!("{:>10.3}s operator reply from n{node}: {reply}", started.elapsed().as_secs_f64());
            trace.lock().expect("trace").push(line);
            replies.lock().expect("replies").insert(ticket, reply);
        });
        ticket
    }

    fn admin_reply(&self, ticket: u64) -> Option<String> {
        self.replies.lock().expect("replies").get(&ticket).cloned()
    }
}

/// Stops every process of machine `node` (SIGSTOP); the trace's line.
fn pause_machine(node: u8, processes: &[NodeProcess], paused: &mut bool) -> String {
    match processes.iter().try_for_each(|process| process.signal("STOP")) {
        Ok(()) => {
            *paused = true;
            format!("SIGSTOP n{node}")
        }
        Err(error) => format!("could not pause n{node}: {error}"),
    }
}

/// Continues every process of machine `node` (SIGCONT) if it was paused; the trace's line.
fn resume_machine(node: u8, processes: &[NodeProcess], paused: &mut bool) -> Option<String> {
    if !std::mem::take(paused) {
        return None;
    }
    Some(match processes.iter().try_for_each(|process| process.signal("CONT")) {
        Ok(()) => format!("SIGCONT n{node}"),
        Err(error) => format!("could not resume n{node}: {error}"),
    })
}

fn spawn_observers(runtime: &tokio::runtime::Runtime, addresses: &[String], shared: &Arc<Mutex<Shared>>) {
    for (index, address) in addresses.iter().enumerate() {
        let (address, shared) = (address.clone(), shared.clone());
        runtime.spawn(async move {
            let mut client: Option<Client> = None;
            loop {
                if client.is_none() {
                    client = tokio::time::timeout(Duration::from_millis(300), Client::connect(&address))
                        .await
                        .ok()
                        .and_then(Result::ok);
                }
                let mut info = None;
                if let Some(connection) = client.as_mut() {
                    match tokio::time::timeout(Duration::from_millis(500), connection.command(&[b"INFO"]))
                        .await
                    {
                        Ok(Ok(Reply::Bulk(Some(text)))) => info = parse_info(&String::from_utf8_lossy(&text)),
                        _ => client = None,
                    }
                }
                shared.lock().expect("shared").observed[index] = info;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
    }
}

fn spawn_clients(
    runtime: &tokio::runtime::Runtime,
    shared: &Arc<Mutex<Shared>>,
    workload: &Workload,
    started: Instant,
) {
    for index in 0..workload.workload.clients {
        let (shared, workload) = (shared.clone(), workload.clone());
        runtime.spawn(async move {
            let env = RealEnvironment { reach: workload.reach.clone(), shared: shared.clone(), started };
            let plan = workload::ClientPlan {
                index,
                workload: &workload.workload,
                prefix: &workload.prefix,
                seed: workload.seed,
                deadline: CLIENT_DEADLINE,
            };
            workload::run_client(&env, plan).await;
            shared.lock().expect("shared").finished += 1;
        });
    }
}

/// Real processes as the workload sees them: how their clients reach them, the wall clock since
/// the run began, the shared history.
struct RealEnvironment {
    reach: Reach,
    shared: Arc<Mutex<Shared>>,
    started: Instant,
}

impl workload::Environment for RealEnvironment {
    type Client = target::RealClient;

    async fn connect(&self, node: u8) -> std::io::Result<target::RealClient> {
        self.reach.connect(node).await
    }

    fn members(&self) -> Vec<u8> {
        self.shared.lock().expect("shared").members.clone()
    }

    fn now(&self) -> u64 {
        self.started.elapsed().as_nanos() as u64
    }

    fn stopped(&self) -> bool {
        self.shared.lock().expect("shared").stop
    }

    fn record(&self, line: String) {
        self.shared.lock().expect("shared").history.push(line);
    }

    fn describe(&self, node: u8) -> String {
        self.reach.describe(node)
    }
}

/// Reads every key through every member of `env` (see [`workload::final_reads`]), at most
/// `within`.
fn final_reads(
    runtime: &tokio::runtime::Runtime,
    env: &RealEnvironment,
    keys: usize,
    prefix: &str,
    within: Duration,
) -> Result<FinalValues, Liveness> {
    let members = env.shared.lock().expect("shared").members.clone();
    runtime.block_on(workload::final_reads(env, &members, keys, prefix, CLIENT_DEADLINE, Some(within)))
}

/// Seconds of load after healing, before the clients stop.
const AFTER_HEALING: Duration = Duration::from_secs(3);

/// Bounds of the liveness phase.
const CONVERGE_WITHIN: Duration = Duration::from_secs(20);
const FINAL_READS_WITHIN: Duration = Duration::from_secs(20);

/// What the run's flow needs of a real cluster besides what the fault schedule drives.
trait Harnessed: Cluster {
    /// Stops the clients, then waits (at most `within`) until they all stopped and the cluster
    /// agrees with itself; how long that took (`None`: the target does not show it).
    ///
    /// # Errors
    ///
    /// It did not converge in time.
    fn converge(&mut self, within: Duration) -> Result<Option<Duration>, ChaosError>;
    /// Reads every key through every member (at most `within`).
    ///
    /// # Errors
    ///
    /// A member that served no read of a key in time.
    fn final_reads(&self, keys: usize, within: Duration) -> Result<FinalValues, Liveness>;
    /// The history so far, one JSON event a line.
    fn history(&self) -> String;
    /// The trace so far.
    fn trace(&self) -> String;
    /// Every process's output, for a failed run.
    fn logs(&self) -> Vec<PathBuf>;
}

/// Runs `scenario` on a real cluster of `options.target`.
///
/// # Errors
///
/// A scenario that needs a build the shipped binary does not have, or faults the target cannot
/// take, or a cluster that cannot be set up. Everything that goes wrong in the run itself is in
/// the outcome.
pub fn run(scenario: &Scenario, seed: u64, options: &RealOptions) -> Result<Outcome, ChaosError> {
    if scenario.build != Build::Correct {
        return Err(ChaosError::Input(format!(
            "scenario {}: build {} exists only in simulation; a real cluster runs the shipped binary",
            scenario.name, scenario.build
        )));
    }
    if let Err(reason) = options.target.runs(scenario) {
        return Err(ChaosError::Input(format!(
            "scenario {} on {}: {reason} (`chaos list` says which scenarios run where)",
            scenario.name,
            options.target.name()
        )));
    }
    std::fs::create_dir_all(&options.dir).map_err(ChaosError::io(&options.dir))?;
    let wall = Instant::now();
    // What this target must show (Redis is a negative control where Sentinel fails over).
    let scenario = &Scenario { expect: scenario.expect_for(options.target.name()), ..scenario.clone() };
    Ok(match options.target {
        Target::Paxos => {
            drive(RealCluster::start(scenario, seed, options)?, Target::Paxos, scenario, seed, wall)
        }
        Target::Etcd | Target::Redis => {
            let cluster = foreign::ForeignCluster::start(scenario, seed, options)?;
            drive(cluster, options.target, scenario, seed, wall)
        }
    })
}

/// The run's flow on any real cluster: a leader, a second of load, the fault schedule, healing,
/// more load, convergence, the final reads, the checks.
fn drive(
    mut cluster: impl Harnessed,
    target: Target,
    scenario: &Scenario,
    seed: u64,
    wall: Instant,
) -> Outcome {
    let mut faults = Faults::new(scenario, seed);
    let mut converged = None;
    let mut values = None;
    let result = (|| {
        cluster.await_leader(Duration::from_secs(15))?;
        let at = cluster.elapsed() + Duration::from_secs(1);
        cluster.run_until(at)?;
        faults.run(&mut cluster)?;
        let at = cluster.elapsed() + AFTER_HEALING;
        cluster.run_until(at)?;
        cluster.note("clients stop".to_string());
        converged = Some(cluster.converge(CONVERGE_WITHIN).map_err(|error| error.to_string()));
        cluster.note("final reads of every key through every node".to_string());
        values = Some(
            cluster
                .final_reads(scenario.workload.keys, FINAL_READS_WITHIN)
                .map_err(|error| error.to_string()),
        );
        Ok::<(), ChaosError>(())
    })();
    let result = result.map_err(|error| {
        let logs: Vec<String> = cluster.logs().iter().map(|log| log.display().to_string()).collect();
        format!("{error} (node logs: {})", logs.join(", "))
    });
    let history = cluster.history();
    let trace = cluster.trace();
    let elapsed = cluster.elapsed();
    drop(cluster);
    let checks = checks::run(&history, result.err(), converged, values);
    Outcome {
        real: Some(target),
        scenario: scenario.clone(),
        seed,
        elapsed,
        wall: wall.elapsed(),
        fault_phase: faults.phase,
        windows: faults.windows,
        history,
        trace,
        node_log: String::new(),
        checks,
        contention: None,
    }
}

impl Harnessed for RealCluster {
    fn converge(&mut self, within: Duration) -> Result<Option<Duration>, ChaosError> {
        RealCluster::converge(self, within).map(Some)
    }

    fn final_reads(&self, keys: usize, within: Duration) -> Result<FinalValues, Liveness> {
        let env = RealEnvironment {
            reach: Reach::Direct(Target::Paxos, self.addresses.clone()),
            shared: self.shared.clone(),
            started: self.started,
        };
        final_reads(&self.runtime, &env, keys, "", within)
    }

    fn history(&self) -> String {
        history_text(&self.shared)
    }

    fn trace(&self) -> String {
        self.trace.lock().expect("trace").iter().map(|line| format!("{line}\n")).collect()
    }

    fn logs(&self) -> Vec<PathBuf> {
        RealCluster::logs(self)
    }
}

/// The recorded history: one event a line.
fn history_text(shared: &Mutex<Shared>) -> String {
    let history = shared.lock().expect("shared").history.join("\n");
    if history.is_empty() {
        history
    } else {
        history + "\n"
    }
}

/// Records a history against a running cluster of `target` at `addresses` (no faults): the
/// workload for `duration`, then the final reads through every address, and the checks. Keys are
/// prefixed so that the run starts from keys nobody wrote.
///
/// # Errors
///
/// No address given.
pub fn attach(
    target: Target,
    addresses: &[String],
    workload: &scenarios::Workload,
    duration: Duration,
    seed: u64,
) -> Result<Outcome, ChaosError> {
    if addresses.is_empty() {
        return Err(ChaosError::Input("--attach: expected HOST:PORT,...".to_string()));
    }
    let runtime = runtime()?;
    let started = Instant::now();
    let stamp =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |since| since.as_secs());
    let prefix = format!("chaos-{stamp}-{seed}-");
    let shared = Arc::new(Mutex::new(Shared {
        observed: vec![None; addresses.len()],
        members: (1..=addresses.len().min(usize::from(u8::MAX)) as u8).collect(),
        ..Shared::default()
    }));
    // This store answers INFO, which tells convergence; a foreign system is checked for its
    // history and final reads.
    if target == Target::Paxos {
        spawn_observers(&runtime, addresses, &shared);
    }
    let reach = Reach::Direct(target, addresses.to_vec());
    let spec = Workload { reach: reach.clone(), workload: workload.clone(), prefix: prefix.clone(), seed };
    spawn_clients(&runtime, &shared, &spec, started);
    std::thread::sleep(duration);
    shared.lock().expect("shared").stop = true;
    // A cluster that answers our INFO is checked for convergence too; any other only for its
    // history and final reads.
    let ours = shared.lock().expect("shared").observed.iter().all(Option::is_some);
    let converged = if ours {
        let began = Instant::now();
        converge(&shared, workload.clients, CONVERGE_WITHIN)
            .map(|()| Some(began.elapsed()))
            .map_err(|error| error.to_string())
    } else {
        let deadline = Instant::now() + CONVERGE_WITHIN;
        while shared.lock().expect("shared").finished < workload.clients && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(None)
    };
    let env = RealEnvironment { reach, shared: shared.clone(), started };
    let values = final_reads(&runtime, &env, workload.keys, &prefix, FINAL_READS_WITHIN)
        .map_err(|error| error.to_string());
    let history = shared.lock().expect("shared").history.join("\n") + "\n";
    let checks = checks::run(&history, None, Some(converged), Some(values));
    let scenario = Scenario {
        name: "attach".to_string(),
        description: format!(
            "The workload against {} at {} (no faults injected).",
            target.name(),
            addresses.join(", ")
        ),
        nodes: addresses.len().min(usize::from(scenarios::NODES_MAX)) as u8,
        groups: 1,
        spares: 0,
        workload: workload.clone(),
        duration: duration.as_secs_f64(),
        faults: Vec::new(),
        read_mode: scenarios::ReadMode::ReadIndex,
        build: Build::Correct,
        expect: scenarios::Expect::Linearizable,
        expect_on: BTreeMap::new(),
        sync_ms: None,
    };
    let elapsed = started.elapsed();
    Ok(Outcome {
        scenario,
        seed,
        elapsed,
        wall: elapsed,
        fault_phase: (0.0, duration.as_secs_f64()),
        windows: Vec::new(),
        history,
        trace: String::new(),
        node_log: String::new(),
        checks,
        real: Some(target),
        contention: None,
    })
}

/// A scratch directory for a run that was given no `--out`.
pub fn scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("chaos-real-{}", std::process::id()))
}

/// Removes `dir` if it is a scratch directory or one run's directory inside one (several runs
/// share a scratch directory, one folder each); then the scratch directory itself once it is
/// empty. A folder that is not chaos's scratch is never touched.
pub fn remove_scratch(dir: &Path) {
    let temp = std::env::temp_dir();
    let scratch = |path: &Path| {
        path.parent() == Some(temp.as_path())
            && path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("chaos-real-"))
    };
    let base = dir.ancestors().find(|ancestor| scratch(ancestor));
    if let Some(base) = base {
        let _ = std::fs::remove_dir_all(dir);
        if std::fs::read_dir(base).is_ok_and(|mut entries| entries.next().is_none()) {
            let _ = std::fs::remove_dir(base);
        }
    }
}

#[cfg(test)]
mod scratch_tests {
    use super::{remove_scratch, scratch_dir};

    #[test]
    fn passing_runs_leave_no_scratch_behind_and_nothing_else_is_removed() {
        let base = scratch_dir();
        let (first, second) = (base.join("partition-1"), base.join("partition-2"));
        for run in [&first, &second] {
            std::fs::create_dir_all(run.join("run")).expect("scratch");
        }
        remove_scratch(&first);
        assert!(!first.exists() && second.exists(), "one run's folder goes, the other stays");
        remove_scratch(&second);
        assert!(!base.exists(), "the scratch directory goes with its last run");
        let elsewhere = std::env::temp_dir().join(format!("not-chaos-{}", std::process::id()));
        std::fs::create_dir_all(&elsewhere).expect("folder");
        remove_scratch(&elsewhere);
        assert!(elsewhere.exists(), "a folder that is not chaos's scratch stays");
        let _ = std::fs::remove_dir_all(&elsewhere);
    }
}

#[cfg(test)]
mod info_tests {
    use super::{parse_info, NodeInfo};

    /// A node with two groups: one entry per `# Groups` line, in group order, with its members.
    #[test]
    fn info_of_a_node_with_groups_gives_each_group_its_leader_and_members() {
        let text = "# Replication\r\nrole:leader\r\nnode:n1\r\nballot:3.1\r\napplied_slot:40\r\n\
                    membership_version:2\r\nvoter_ids:1,2,3\r\nlearner_ids:\r\n# Groups\r\ngroups:2\r\n\
                    group0:role=leader,leader=n1,ballot=3.1,promised=3.1,committed_slot=40,applied_slot=40,keys=5,membership_version=2,voter_ids=1/2/3,learner_ids=\r\n\
                    group1:role=follower,leader=n2,ballot=none,promised=2.2,committed_slot=17,applied_slot=16,keys=4,membership_version=1,voter_ids=1/2,learner_ids=4\r\n";
        let groups = parse_info(text).expect("parses");
        assert_eq!(
            groups,
            [
                NodeInfo {
                    leader: true,
                    ballot: Some((3, 1)),
                    applied: 40,
                    recovering: false,
                    membership_version: 2,
                    voters: 0b1110,
                    learners: 0,
                },
                NodeInfo {
                    leader: false,
                    ballot: None,
                    applied: 16,
                    recovering: false,
                    membership_version: 1,
                    voters: 0b110,
                    learners: 0b1_0000,
                },
            ]
        );
    }

    /// Without group lines (a node of an earlier version) the replication section is group 0; a
    /// group line without its fields, or out of order, is no reading at all.
    #[test]
    fn info_without_group_lines_is_group_zero_and_a_broken_group_line_is_none() {
        let text = "role:recovering\r\nballot:none\r\napplied_slot:7\r\nvoter_ids:1,2\r\n";
        let groups = parse_info(text).expect("parses");
        assert_eq!(groups.len(), 1);
        assert!(groups[0].recovering && groups[0].voters == 0b110 && groups[0].applied == 7);
        assert_eq!(parse_info("group0:role=leader,ballot=1.1\r\n"), None);
        assert_eq!(
            parse_info("group1:role=leader,ballot=none,applied_slot=1,membership_version=0,voter_ids=1,learner_ids=\r\n"),
            None
        );
    }
}
