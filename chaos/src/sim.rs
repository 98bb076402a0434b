//! The simulated world: the real `paxos` node on turmoil's network and disk, simulated clients that
//! record a history, and the faults a scenario injects at chosen simulated moments.
//!
//! Everything derives from one seed: turmoil's network and disk randomness, each node's seed, each
//! client's choices. The same seed gives the same history and trace, byte for byte.

use crate::cluster::{Cluster, MembershipView};
use crate::error::{ChaosError, Liveness};
use crate::net::TurmoilNet;
use crate::run::Contention;
use crate::workload;
use paxos::client::resp::Limits;
use paxos::core::{ClusterId, Config, Mutant, NodeId, ReadMode};
use paxos::runtime::clock::Clock;
use paxos::runtime::setup;
use paxos::runtime::{ClusterConfig, DiskMode, Member, NodeOptions, Observed, Timing};
use paxos::storage::fs::{FileSystem, SimFs, SimLocks};
use paxos::storage::StorageOptions;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Duration;

const CLUSTER: ClusterId = ClusterId(0xC4A0_5000);
const CLIENT_PORT: u16 = 6379;
const PEER_PORT: u16 = 7379;
const DATA: &str = "/data";

use crate::workload::FinalValues;

/// The shape of a simulation.
#[derive(Clone, Debug)]
pub struct Options {
    /// Everything derives from it.
    pub seed: u64,
    /// Replicas: the first members.
    pub nodes: u8,
    /// Spare machines (hosts `n{nodes + 1}`..), started when an operator brings them in.
    pub spares: u8,
    /// Concurrent clients.
    pub clients: usize,
    /// Of those, how many (the first ones) only read.
    pub readers: usize,
    /// Keys the clients use.
    pub keys: usize,
    /// Relative weights of reads, writes and compare-and-sets.
    pub mix: scenarios::Mix,
    /// Operations per second per client at most (`0`: no wait between operations).
    pub rate: f64,
    /// How the nodes serve reads.
    pub read_mode: ReadMode,
    /// The node's durations.
    pub timing: Timing,
    /// A deliberately broken core, to show that the checks catch it (`Mutant::None`: correct).
    pub mutant: Mutant,
    /// A deliberately broken storage that never fsyncs (a negative control).
    pub skip_fsync: bool,
    /// turmoil's step: the granularity of simulated time (coarser is faster).
    pub tick: Duration,
    /// Paxos groups every node runs.
    pub groups: u16,
    /// How long a node's fsync takes, the shortest and the longest (`None`: each step's writes
    /// synced as they are made).
    pub sync: Option<(Duration, Duration)>,
}

impl Options {
    /// Three nodes, five clients, three keys.
    pub fn new(seed: u64) -> Options {
        let timing = Timing { request_deadline: Duration::from_secs(2), ..Timing::default() };
        Options {
            seed,
            nodes: 3,
            spares: 0,
            clients: 5,
            readers: 0,
            keys: 3,
            mix: scenarios::Mix::default(),
            rate: 100.0,
            read_mode: ReadMode::ReadIndex,
            timing,
            mutant: Mutant::None,
            skip_fsync: false,
            tick: Duration::from_millis(1),
            groups: 1,
            sync: None,
        }
    }
}

/// What the simulation shares between its hosts, its clients and the harness.
#[derive(Default)]
struct Shared {
    /// History events, as JSON lines.
    history: Vec<String>,
    /// Faults and restarts, as lines.
    trace: Vec<String>,
    /// Operator commands sent so far (each from a client host of its own), and their replies by
    /// ticket.
    operators: u64,
    replies: BTreeMap<u64, String>,
    /// The machines in the cluster now (clients connect to them).
    members: Vec<u8>,
    /// Per machine: brought in (a spare waits for it before its first boot), and the members it
    /// was told of when it joined.
    joined: Vec<bool>,
    peers: Vec<Vec<Member>>,
    /// Per node: boots so far, and whether the next boot starts with an empty data directory.
    boots: Vec<u32>,
    wipe: Vec<bool>,
    /// Per node: what it last published, per group (empty while it is down).
    observed: Vec<Vec<Observed>>,
    /// The replicas' counters, summed over every node and every boot.
    contention: Contention,
    /// Per node: its clock (on simulated time, kept across restarts: a machine's clock survives
    /// its processes) and its pause switch.
    clocks: Vec<Arc<Clock>>,
    pauses: Vec<tokio::sync::watch::Sender<bool>>,
    /// Clients stop invoking new operations after this simulated time.
    stop_at: Duration,
    /// Operations completed `ok` per client.
    completed: Vec<u64>,
    /// Clients that have stopped (each after its last operation completed or timed out).
    finished: usize,
    /// The liveness phase's last step: read every key through every node.
    final_requested: bool,
    /// What those reads returned: (node, key, value), once every one has answered.
    final_values: Option<FinalValues>,
}

/// The simulated world.
pub struct World {
    sim: turmoil::Sim<'static>,
    /// Simulated time between steps, in nanoseconds: what the nodes' clocks read when the harness
    /// (outside every host) changes them.
    between_steps: Arc<AtomicU64>,
    shared: Rc<RefCell<Shared>>,
    options: Options,
    /// Directed links between nodes that are cut, with how many faults cut each (faults overlap:
    /// a link is repaired when the last fault that cut it ends).
    cuts: BTreeMap<(u8, u8), u32>,
    /// Links (lower node first) whose messages are held ([`Cluster::stall`]).
    stalled: BTreeSet<(u8, u8)>,
    /// Machines that are down.
    down: Vec<bool>,
    /// Spares taken for a new member.
    claimed: Vec<bool>,
    /// Machines decommissioned.
    gone: Vec<bool>,
}

fn host(i: u8) -> String {
    format!("n{i}")
}

/// Every directed link between the groups, both ways.
pub fn both_ways(a: &[u8], b: &[u8]) -> Vec<(u8, u8)> {
    let mut links = one_way(a, b);
    links.extend(one_way(b, a));
    links
}

/// Every directed link from one group to the other.
pub fn one_way(from: &[u8], to: &[u8]) -> Vec<(u8, u8)> {
    from.iter().flat_map(|&x| to.iter().filter(move |&&y| y != x).map(move |&y| (x, y))).collect()
}

/// `set` as `1,2,3`.
fn ids(set: paxos::core::NodeSet) -> String {
    set.iter().map(|node| node.0.to_string()).collect::<Vec<_>>().join(",")
}

fn now() -> u64 {
    turmoil::sim_elapsed().unwrap_or_default().as_nanos() as u64
}

impl World {
    /// Holds or releases the link between `a` and `b` as [`World::stalled`] says, then cuts again
    /// each direction that a fault still cuts: turmoil's hold and release set both directions, so
    /// alone a stall that began or ended over a cut link would lift the cut. A cut direction loses
    /// its messages, held ones included; releasing a stall delivers the rest.
    fn restall(&mut self, a: u8, b: u8) {
        let (low, high) = (a.min(b), a.max(b));
        if self.stalled.contains(&(low, high)) {
            self.sim.hold(host(low), host(high));
        } else {
            self.sim.release(host(low), host(high));
        }
        for (from, to) in [(low, high), (high, low)] {
            if self.cuts.contains_key(&(from, to)) {
                self.sim.partition_oneway(host(from), host(to));
            }
        }
    }

    /// Builds the world: nodes booted, clients running until [`World::stop_clients`].
    pub fn new(options: Options) -> World {
        let mut builder = turmoil::Builder::new();
        builder
            .rng_seed(options.seed)
            .simulation_duration(Duration::from_secs(3600))
            .tick_duration(options.tick)
            .tcp_capacity(1024)
            .min_message_latency(Duration::from_micros(200))
            .max_message_latency(Duration::from_millis(2));
        let mut sim = builder.build();
        let between_steps = Arc::new(AtomicU64::new(0));
        // Each node's clock runs on simulated time, read inside its host, or between steps when
        // the harness skews it (never on a tokio instant: see `paxos::runtime::clock`). It is the
        // machine's clock: it survives the node's restarts.
        let machines = options.nodes + options.spares;
        let clocks = (0..machines)
            .map(|_| {
                let between_steps = between_steps.clone();
                Arc::new(Clock::with_source(Box::new(move || {
                    turmoil::sim_elapsed()
                        .unwrap_or_else(|| Duration::from_nanos(between_steps.load(AtomicOrdering::Relaxed)))
                })))
            })
            .collect();
        let shared = Rc::new(RefCell::new(Shared {
            clocks,
            boots: vec![0; usize::from(machines)],
            wipe: vec![false; usize::from(machines)],
            observed: vec![Vec::new(); usize::from(machines)],
            stop_at: Duration::MAX,
            completed: vec![0; options.clients],
            pauses: (0..machines).map(|_| tokio::sync::watch::channel(false).0).collect(),
            members: (1..=options.nodes).collect(),
            joined: (1..=machines).map(|i| i <= options.nodes).collect(),
            peers: vec![Vec::new(); usize::from(machines)],
            ..Shared::default()
        }));
        let cluster = ClusterConfig {
            cluster: CLUSTER,
            members: (1..=options.nodes)
                .map(|i| Member {
                    id: NodeId(i),
                    client: format!("{}:{CLIENT_PORT}", host(i)),
                    peer: format!("{}:{PEER_PORT}", host(i)),
                })
                .collect(),
            groups: options.groups,
        };
        let locks = Arc::new(SimLocks::default());
        for i in 1..=machines {
            let (shared, locks, cluster, options) =
                (shared.clone(), locks.clone(), cluster.clone(), options.clone());
            sim.host(host(i), move || {
                let (shared, locks, cluster, options) =
                    (shared.clone(), locks.clone(), cluster.clone(), options.clone());
                async move { boot(i, shared, locks, cluster, options).await }
            });
        }
        // All clients on one simulated host (each its own task and connections): a host costs
        // turmoil work on every tick, whether or not it has anything to do.
        {
            let (shared, options) = (shared.clone(), options.clone());
            sim.client("clients", clients(shared, options));
        }
        World {
            sim,
            between_steps,
            shared,
            // A spare's machine is down until it is brought in.
            down: (1..=machines).map(|i| i > options.nodes).collect(),
            options,
            cuts: BTreeMap::new(),
            stalled: BTreeSet::new(),
            claimed: vec![false; usize::from(machines)],
            gone: vec![false; usize::from(machines)],
        }
    }

    /// Runs for `duration` more simulated time.
    pub fn run_for(&mut self, duration: Duration) -> Result<(), ChaosError> {
        let at = self.sim.elapsed() + duration;
        self.run_until(at)
    }

    /// What the replicas counted so far, summed over every node and every boot.
    pub fn contention(&self) -> Contention {
        self.shared.borrow().contention
    }

    /// What `node` last published of group 0 (of every group: [`World::observed_groups`]).
    pub fn observed(&self, node: u8) -> Observed {
        self.observed_groups(node).first().copied().unwrap_or_default()
    }

    /// What `node` last published, per group (empty while it is down).
    pub fn observed_groups(&self, node: u8) -> Vec<Observed> {
        self.shared.borrow().observed[usize::from(node) - 1].clone()
    }

    /// Cuts every link between the two groups, both ways.
    pub fn partition(&mut self, a: &[u8], b: &[u8]) {
        self.cut(&both_ways(a, b));
        self.note(format!("partition {a:?} | {b:?}"));
    }

    /// Cuts `node` from every other node (clients still reach it).
    pub fn isolate(&mut self, node: u8) {
        let others: Vec<u8> = self.machines().filter(|&i| i != node).collect();
        self.partition(&[node], &others);
    }

    /// Crashes `node` and starts it with an empty data directory (storage loss).
    pub fn wipe(&mut self, node: u8) {
        self.crash(node);
        self.lose_storage(node);
        self.start(node);
    }

    /// `node`'s clock (the machine's: it survives process restarts).
    pub fn clock(&self, node: u8) -> Arc<Clock> {
        self.shared.borrow().clocks[usize::from(node) - 1].clone()
    }

    /// Clients invoke no new operation after now.
    pub fn stop_clients(&mut self) {
        self.shared.borrow_mut().stop_at = self.sim.elapsed();
        self.note("clients stop".to_string());
    }

    /// Every machine: first members and spares.
    fn machines(&self) -> std::ops::RangeInclusive<u8> {
        1..=self.options.nodes + self.options.spares
    }

    /// Runs until every client has stopped and every member has applied the same log, with a
    /// leader (at most `within`).
    pub fn converge(&mut self, within: Duration) -> Result<(), ChaosError> {
        let deadline = self.sim.elapsed() + within;
        loop {
            let converged = {
                let shared = self.shared.borrow();
                let groups = usize::from(self.options.groups);
                let seen: Vec<&Vec<Observed>> =
                    shared.members.iter().map(|&node| &shared.observed[usize::from(node) - 1]).collect();
                // Every group: applied alike on every member, none recovering, one leading; and
                // every group with the same members (a change some groups missed is carried to
                // the others by their leaders).
                shared.finished == self.options.clients
                    && seen.iter().all(|groups_seen| groups_seen.len() == groups)
                    && seen.iter().all(|groups_seen| {
                        groups_seen.iter().all(|group| {
                            group.voters == groups_seen[0].voters && group.learners == groups_seen[0].learners
                        })
                    })
                    && (0..groups).all(|group| {
                        seen.iter()
                            .all(|one| one[group].applied == seen[0][group].applied && !one[group].recovering)
                            && seen.iter().any(|one| one[group].leader)
                    })
            };
            if converged {
                return Ok(());
            }
            if self.sim.elapsed() >= deadline {
                let shared = self.shared.borrow();
                let nodes: Vec<String> = shared
                    .members
                    .iter()
                    .map(|&node| (usize::from(node) - 1, &shared.observed[usize::from(node) - 1]))
                    .map(|(index, groups)| {
                        let each: Vec<String> = groups
                            .iter()
                            .map(|seen| {
                                format!(
                                    "applied {}{}{} voters {} learners {}",
                                    seen.applied.0,
                                    if seen.leader { " leading" } else { "" },
                                    if seen.recovering { " recovering" } else { "" },
                                    ids(seen.voters),
                                    ids(seen.learners)
                                )
                            })
                            .collect();
                        let each = if each.is_empty() { "down".to_string() } else { each.join(" | ") };
                        format!("n{} {each}", index + 1)
                    })
                    .collect();
                return Err(Liveness::NotConverged {
                    within,
                    stopped: shared.finished,
                    clients: self.options.clients,
                    nodes: nodes.join(", "),
                }
                .into());
            }
            self.run_for(Duration::from_millis(10))?;
        }
    }

    /// The liveness phase's last step: reads every key through every node (each read retried
    /// until it is answered), recorded in the history; at most `within`. Returns (node, key,
    /// value) per read.
    pub fn final_reads(&mut self, within: Duration) -> Result<FinalValues, ChaosError> {
        self.shared.borrow_mut().final_requested = true;
        self.note("final reads of every key through every node".to_string());
        let deadline = self.sim.elapsed() + within;
        loop {
            if let Some(values) = self.shared.borrow().final_values.clone() {
                return Ok(values);
            }
            if self.sim.elapsed() >= deadline {
                return Err(Liveness::FinalReads { within }.into());
            }
            self.run_for(Duration::from_millis(10))?;
        }
    }

    /// The history so far, in the checker's JSON Lines format.
    pub fn history(&self) -> String {
        self.shared.borrow().history.iter().map(|line| format!("{line}\n")).collect()
    }

    /// The faults injected, one per line.
    pub fn trace(&self) -> String {
        self.shared.borrow().trace.iter().map(|line| format!("{line}\n")).collect()
    }

    /// Operations completed `ok`, per client.
    pub fn completed(&self) -> Vec<u64> {
        self.shared.borrow().completed.clone()
    }
}

async fn boot(
    i: u8,
    shared: Rc<RefCell<Shared>>,
    locks: Arc<SimLocks>,
    cluster: ClusterConfig,
    options: Options,
) -> turmoil::Result {
    let fs = Arc::new(SimFs::new(host(i), locks));
    let dir = Path::new(DATA);
    let (boot, wipe) = {
        let mut shared = shared.borrow_mut();
        let index = usize::from(i) - 1;
        shared.boots[index] += 1;
        (shared.boots[index], std::mem::take(&mut shared.wipe[index]))
    };
    if wipe && fs.exists(dir) {
        for name in fs.list(dir)? {
            fs.remove(&dir.join(name))?;
        }
        fs.sync_dir(dir)?;
    }
    // A spare machine waits until an operator brings it in.
    while !shared.borrow().joined[usize::from(i) - 1] {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if boot == 1 {
        // `paxos init` (a first member) or `paxos join` (a new one): the first durable record.
        setup::join(fs.clone(), dir, &cluster, NodeId(i))?;
    }
    let peers = shared.borrow().peers[usize::from(i) - 1].clone();

    let (clock, pause) = {
        let shared = shared.borrow();
        let index = usize::from(i) - 1;
        (shared.clocks[index].clone(), shared.pauses[index].subscribe())
    };
    let (observer, mut observed) = tokio::sync::watch::channel(Vec::<Observed>::new());
    let publish = {
        let shared = shared.clone();
        async move {
            // This boot's counters start at zero; what they add since the last publication is
            // added to the run's totals.
            let mut last: Vec<Observed> = Vec::new();
            while observed.changed().await.is_ok() {
                let now = observed.borrow().clone();
                let mut shared = shared.borrow_mut();
                let totals = &mut shared.contention;
                for (index, group) in now.iter().enumerate() {
                    let before = last.get(index).copied().unwrap_or_default();
                    totals.elections += group.elections.saturating_sub(before.elections);
                    totals.reaccepted += group.reaccepted.saturating_sub(before.reaccepted);
                    totals.overwritten += group.overwritten.saturating_sub(before.overwritten);
                }
                shared.observed[usize::from(i) - 1] = now.clone();
                last = now;
            }
        }
    };
    let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
    let node = NodeOptions {
        cluster,
        peers,
        node: NodeId(i),
        data_dir: dir.to_path_buf(),
        client_bind: any(CLIENT_PORT),
        peer_bind: any(PEER_PORT),
        timing: options.timing,
        limits: Limits::default(),
        value_bytes: 1 << 20,
        operations_max: 64,
        core: Config {
            mutant: options.mutant,
            read_mode: options.read_mode,
            // Odd seeds pipeline four slots, even seeds run the default (one in flight): both of
            // the leader's paths meet the faults.
            window_slots: if options.seed % 2 == 1 {
                4
            } else {
                Config::new(NodeId(i), Vec::new()).window_slots
            },
            ..Config::new(NodeId(i), Vec::new())
        },
        peer: paxos::runtime::peer::PeerOptions::default(),
        storage: StorageOptions { skip_fsync: options.skip_fsync, ..StorageOptions::default() },
        disk: match options.sync {
            None => DiskMode::Inline,
            Some((low, high)) => DiskMode::Delayed { low, high },
        },
        seed: options.seed.wrapping_mul(1_000_003).wrapping_add(u64::from(i) * 7919 + u64::from(boot)),
        observer: Some(observer),
        clock: Some(clock),
        pause: Some(pause),
        metrics: None,
    };
    tokio::select! {
        biased;
        result = paxos::runtime::run(TurmoilNet, fs, node, std::future::pending()) => result?,
        () = publish => {}
    }
    Ok(())
}

/// The simulation as the workload sees it: turmoil's sockets and clock, the shared history.
struct SimEnvironment {
    shared: Rc<RefCell<Shared>>,
}

impl workload::Environment for SimEnvironment {
    type Client = paxos::client::Client<turmoil::net::TcpStream>;

    async fn connect(&self, node: u8) -> std::io::Result<Self::Client> {
        let stream = turmoil::net::TcpStream::connect(format!("{}:{CLIENT_PORT}", host(node))).await?;
        Ok(paxos::client::Client::new(stream))
    }

    fn members(&self) -> Vec<u8> {
        self.shared.borrow().members.clone()
    }

    fn now(&self) -> u64 {
        now()
    }

    fn stopped(&self) -> bool {
        turmoil::sim_elapsed().unwrap_or_default() >= self.shared.borrow().stop_at
    }

    fn record(&self, line: String) {
        self.shared.borrow_mut().history.push(line);
    }

    fn acknowledged(&self, index: usize) {
        self.shared.borrow_mut().completed[index] += 1;
    }
}

/// The clients' host: every client (see [`workload::run_client`]) as its own task, then, once
/// the harness asks, the final reads.
async fn clients(shared: Rc<RefCell<Shared>>, options: Options) -> turmoil::Result {
    let workload = scenarios::Workload {
        clients: options.clients,
        readers: options.readers,
        keys: options.keys,
        mix: options.mix,
        rate: options.rate,
    };
    let deadline = options.timing.request_deadline + Duration::from_millis(500);
    let mut tasks = tokio::task::JoinSet::new();
    for index in 0..options.clients {
        let (env, workload, options) =
            (SimEnvironment { shared: shared.clone() }, workload.clone(), options.clone());
        tasks.spawn_local(async move {
            let plan =
                workload::ClientPlan { index, workload: &workload, prefix: "", seed: options.seed, deadline };
            workload::run_client(&env, plan).await;
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.map_err(|error| error.to_string())?;
        shared.borrow_mut().finished += 1;
    }
    while !shared.borrow().final_requested {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Unbounded here: the harness bounds the liveness phase in simulated time.
    let env = SimEnvironment { shared: shared.clone() };
    let members = shared.borrow().members.clone();
    let values = workload::final_reads(&env, &members, options.keys, "", deadline, None).await?;
    shared.borrow_mut().final_values = Some(values);
    Ok(())
}

impl Cluster for World {
    fn members(&self) -> Vec<u8> {
        self.shared.borrow().members.clone()
    }

    fn membership_of(&self, node: u8) -> Option<MembershipView> {
        let groups = self.observed_groups(node);
        let seen = groups.first().copied().unwrap_or_default();
        let nodes = |set: paxos::core::NodeSet| set.iter().map(|node| node.0).collect();
        // Every group applies an operator's change: while this node's groups disagree on the
        // members (one has applied a change another has not yet), it has no view to act on, as an
        // operator reading its INFO would wait; the view's version is the least any group has
        // applied.
        let agreed =
            groups.iter().all(|group| group.voters == seen.voters && group.learners == seen.learners);
        let version = groups.iter().map(|group| group.membership_version).min().unwrap_or_default();
        (!seen.voters.is_empty() && agreed).then(|| MembershipView {
            version,
            voters: nodes(seen.voters),
            learners: nodes(seen.learners),
        })
    }

    fn claim_spare(&mut self) -> Option<u8> {
        let spare = (self.options.nodes + 1..=self.options.nodes + self.options.spares)
            .find(|&node| !self.claimed[usize::from(node) - 1])?;
        self.claimed[usize::from(spare) - 1] = true;
        Some(spare)
    }

    fn addresses(&self, node: u8) -> (String, String) {
        (format!("{}:{CLIENT_PORT}", host(node)), format!("{}:{PEER_PORT}", host(node)))
    }

    fn bring_in(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        {
            let mut shared = self.shared.borrow_mut();
            // `paxos join`: the members of the day (itself among them), from the running cluster.
            let mut peers: Vec<Member> = shared
                .members
                .iter()
                .chain(std::iter::once(&node))
                .map(|&id| Member {
                    id: NodeId(id),
                    client: format!("{}:{CLIENT_PORT}", host(id)),
                    peer: format!("{}:{PEER_PORT}", host(id)),
                })
                .collect();
            peers.dedup_by_key(|member| member.id);
            shared.peers[index] = peers;
            shared.joined[index] = true;
            if !shared.members.contains(&node) {
                shared.members.push(node);
                shared.members.sort_unstable();
            }
        }
        self.down[index] = false;
        self.note(format!("n{node} joins (data directory from the running cluster) and starts"));
    }

    fn decommission(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        if self.gone[index] {
            return;
        }
        if !self.down[index] {
            self.crash(node);
        }
        self.gone[index] = true;
        self.shared.borrow_mut().wipe[index] = true;
        self.shared.borrow_mut().members.retain(|&member| member != node);
        self.note(format!("n{node} is decommissioned: its machine and disk are gone for good"));
    }

    fn decommissioned(&self, node: u8) -> bool {
        self.gone[usize::from(node) - 1]
    }

    fn elapsed(&self) -> Duration {
        self.sim.elapsed()
    }

    fn run_until(&mut self, at: Duration) -> Result<(), ChaosError> {
        while self.sim.elapsed() < at {
            self.sim.step().map_err(|error| ChaosError::Simulation {
                seed: self.options.seed,
                at: self.sim.elapsed(),
                message: error.to_string(),
            })?;
            let nanos = u64::try_from(self.sim.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.between_steps.store(nanos, AtomicOrdering::Relaxed);
        }
        Ok(())
    }

    fn leader(&self) -> Option<u8> {
        self.leader_of(0)
    }

    fn leader_of(&self, group: u16) -> Option<u8> {
        let shared = self.shared.borrow();
        let seen = |i: u8| shared.observed[usize::from(i) - 1].get(usize::from(group)).copied();
        shared
            .members
            .iter()
            .copied()
            .filter(|&i| seen(i).is_some_and(|one| one.leader))
            .max_by_key(|&i| seen(i).map(|one| one.ballot))
    }

    fn is_down(&self, node: u8) -> bool {
        self.down[usize::from(node) - 1]
    }

    fn recovering(&self, node: u8) -> bool {
        self.observed_groups(node).iter().any(|group| group.recovering)
    }

    fn cut(&mut self, pairs: &[(u8, u8)]) {
        for &(from, to) in pairs {
            let count = self.cuts.entry((from, to)).or_default();
            *count += 1;
            if *count == 1 {
                self.sim.partition_oneway(host(from), host(to));
            }
        }
    }

    fn uncut(&mut self, pairs: &[(u8, u8)]) {
        for &(from, to) in pairs {
            if let Some(count) = self.cuts.get_mut(&(from, to)) {
                *count -= 1;
                if *count == 0 {
                    self.cuts.remove(&(from, to));
                    if self.stalled.contains(&(from.min(to), from.max(to))) {
                        self.restall(from, to); // held again, not healthy
                    } else {
                        self.sim.repair_oneway(host(from), host(to));
                    }
                }
            }
        }
    }

    fn stall(&mut self, a: u8, b: u8) {
        if self.stalled.insert((a.min(b), a.max(b))) {
            self.restall(a, b);
        }
    }

    fn unstall(&mut self, a: u8, b: u8) {
        if self.stalled.remove(&(a.min(b), a.max(b))) {
            self.restall(a, b);
        }
    }

    fn heal(&mut self) {
        for (from, to) in std::mem::take(&mut self.cuts).into_keys() {
            self.sim.repair_oneway(host(from), host(to));
        }
        for (a, b) in std::mem::take(&mut self.stalled) {
            self.sim.release(host(a), host(b));
        }
        self.note("heal".to_string());
    }

    fn restart(&mut self, node: u8) {
        if self.gone[usize::from(node) - 1] {
            return;
        }
        self.sim.bounce(host(node));
        self.down[usize::from(node) - 1] = false;
        self.note(format!("restart n{node} (process crash)"));
    }

    fn crash(&mut self, node: u8) {
        if self.gone[usize::from(node) - 1] {
            return;
        }
        // Cut first so that peers see silence, not a reset connection (ARCHITECTURE.md §5).
        let others: Vec<u8> = self.machines().filter(|&i| i != node).collect();
        let links = both_ways(&[node], &others);
        self.cut(&links);
        self.sim.crash(host(node));
        self.uncut(&links);
        self.down[usize::from(node) - 1] = true;
        self.shared.borrow_mut().observed[usize::from(node) - 1] = Vec::new();
        self.note(format!("crash n{node} (machine: unsynced writes lost)"));
    }

    fn start(&mut self, node: u8) {
        if self.gone[usize::from(node) - 1] {
            self.note(format!("n{node} stays down: decommissioned"));
            return;
        }
        self.sim.bounce(host(node));
        self.down[usize::from(node) - 1] = false;
        self.note(format!("start n{node}"));
    }

    fn lose_storage(&mut self, node: u8) {
        assert!(self.is_down(node), "n{node} must be down to lose its storage");
        self.shared.borrow_mut().wipe[usize::from(node) - 1] = true;
        self.note(format!("n{node} loses its data directory"));
    }

    fn pause(&mut self, node: u8) {
        self.shared.borrow().pauses[usize::from(node) - 1].send_replace(true);
        self.note(format!("pause n{node}"));
    }

    fn resume(&mut self, node: u8) {
        self.shared.borrow().pauses[usize::from(node) - 1].send_replace(false);
        self.note(format!("resume n{node}"));
    }

    fn clock_jump(&mut self, node: u8, seconds: f64) {
        self.clock(node).jump(seconds);
        self.note(format!("clock of n{node} jumps {seconds:+} s"));
    }

    fn clock_rate(&mut self, node: u8, rate: f64) {
        self.clock(node).set_rate(rate);
        self.note(format!("clock of n{node} runs at {rate}x"));
    }

    fn clock_strobe(&mut self, node: u8, seconds: f64) {
        self.clock(node).jump(seconds);
    }

    fn flaky_network(&mut self, loss: f64, max_latency: Duration) {
        self.sim.set_fail_rate(loss);
        self.sim.set_max_message_latency(max_latency);
        self.note(format!("network: loss {loss}, latency up to {max_latency:?}"));
    }

    fn steady_network(&mut self) {
        self.sim.set_fail_rate(0.0);
        self.sim.set_max_message_latency(Duration::from_millis(2));
        self.note("network: reliable".to_string());
    }

    fn admin(&mut self, node: u8, arguments: Vec<String>) -> u64 {
        self.note(format!("operator to n{node}: {}", arguments.join(" ")));
        let shared = self.shared.clone();
        let ticket = {
            let mut state = shared.borrow_mut();
            state.operators += 1;
            state.operators
        };
        let name = format!("operator-{ticket}");
        let address = format!("{}:{CLIENT_PORT}", host(node));
        // A short-lived client host of its own: the command's connection and reply, in simulated
        // time like everything else.
        self.sim.client(name, async move {
            let words: Vec<&[u8]> = arguments.iter().map(String::as_bytes).collect();
            let reply = match turmoil::net::TcpStream::connect(address).await {
                Ok(stream) => match paxos::client::Client::new(stream).command(&words).await {
                    Ok(reply) => crate::cluster::reply_text(&reply),
                    Err(error) => format!("no reply: {error}"),
                },
                Err(error) => format!("cannot connect: {error}"),
            };
            let at = turmoil::sim_elapsed().unwrap_or_default().as_secs_f64();
            let mut shared = shared.borrow_mut();
            shared.trace.push(format!("{at:>10.3}s operator reply from n{node}: {reply}"));
            shared.replies.insert(ticket, reply);
            Ok(())
        });
        ticket
    }

    fn admin_reply(&self, ticket: u64) -> Option<String> {
        self.shared.borrow().replies.get(&ticket).cloned()
    }

    fn note(&self, line: String) {
        self.shared.borrow_mut().trace.push(format!("{:>10.3}s {line}", self.sim.elapsed().as_secs_f64()));
    }
}
