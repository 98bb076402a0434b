//! The node: one task owns the node's [`Replica`]s, one per Paxos group, and steps each with its
//! peer messages, client requests and timers; the storage makes persists durable (group commit,
//! one log and one sync for every group); sends and replies of a step leave only once the step's
//! persists (and every earlier step's, of any group) are durable.
//!
//! # Groups
//!
//! A node runs the groups `0..G` its cluster was created with ([`ClusterConfig::groups`]): each
//! an independent replica of the same core, with its own log, leader, keys and membership. They
//! share the node's connections (every message names its group), its storage thread and its
//! write-ahead log. With more than one group, leaders are spread: the leader of a group that is
//! not the group's preferred leader hands the group over to it (see [`Balance`]). A membership
//! change that some groups applied and others missed (an operator's `MEMBER` that half
//! succeeded) is carried to the others by their leaders ([`groups::catch_up`]).

use super::clients;
use super::clock::Clock;
use super::env::Net;
use super::groups;
use super::peer::{self, PeerOptions, Routed};
use super::session::{Call, Control, GroupInfo, Info, MemberView, Session};
use super::setup::{ClusterConfig, Member};
use crate::client::resp::Limits;
use crate::core::{
    Action, Ballot, Change, ClientId, ClusterId, Config, GroupId, Input, Membership, NodeId, Operation,
    Output, Persist, Replica, Request, Response, Schedule, Slot, Status, Timer, TimerChange,
};
use crate::metrics::{self, Metrics};
use crate::storage::fs::FileSystem;
use crate::storage::group::{Committer, Durable};
use crate::storage::{Storage, StorageError, StorageOptions, StorageStats};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Durations: liveness only, never safety.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// The leader's heartbeat.
    pub heartbeat: Duration,
    /// An election starts after a random silence in this range.
    pub election: (Duration, Duration),
    /// Resending what was not answered.
    pub retransmit: Duration,
    /// Lease mode: the leader's lease.
    pub lease: Duration,
    /// Lease mode: how long a follower refuses other candidates (longer than the lease by the
    /// clock-rate margin).
    pub lease_guard: Duration,
    /// How long a client request may wait before it is answered `UNAVAILABLE`.
    pub request_deadline: Duration,
    /// With several groups: how often a leader checks whether its group's preferred leader could
    /// take the group over (and how long a group rests after a handover).
    pub balance: Duration,
}

impl Default for Timing {
    fn default() -> Timing {
        Timing {
            heartbeat: Duration::from_millis(50),
            election: (Duration::from_millis(300), Duration::from_millis(600)),
            retransmit: Duration::from_millis(200),
            lease: Duration::from_millis(400),
            lease_guard: Duration::from_millis(500),
            request_deadline: Duration::from_secs(5),
            balance: Duration::from_secs(1),
        }
    }
}

/// How the storage runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskMode {
    /// On a thread of its own, with group commit (production).
    Thread,
    /// In the node's task, one sync per step (simulation: no threads).
    Inline,
    /// In the node's task, each step's writes at once and their sync a while after the first
    /// unsynced write (drawn from `low..=high` each time, by the node's seed), one sync for
    /// everything written meanwhile (simulation: a disk whose fsync takes time, and not the same
    /// time on every node, so that a machine crash can fall between a write and its sync).
    Delayed {
        /// The shortest sync.
        low: Duration,
        /// The longest sync.
        high: Duration,
    },
}

/// Everything a node needs to run.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The cluster: its id and first members (their addresses too).
    pub cluster: ClusterConfig,
    /// Addresses of members beyond the first ones, known when the node starts (a node that joined
    /// a running cluster knows the members of the day); the others come with the membership.
    pub peers: Vec<Member>,
    /// This node.
    pub node: NodeId,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Where to listen for clients (default: the member's client address).
    pub client_bind: SocketAddr,
    /// Where to listen for peers (default: the member's peer address).
    pub peer_bind: SocketAddr,
    /// Durations.
    pub timing: Timing,
    /// Protocol limits on client commands.
    pub limits: Limits,
    /// The largest value a client may write.
    pub value_bytes: usize,
    /// The most operations of one pipeline that become one request.
    pub operations_max: usize,
    /// The core's configuration (node and members are set from the cluster).
    pub core: Config,
    /// Peer connections.
    pub peer: PeerOptions,
    /// Storage tuning.
    pub storage: StorageOptions,
    /// How the storage runs.
    pub disk: DiskMode,
    /// Seeds the node's randomness (timer jitter, session ids, recovery nonces).
    pub seed: u64,
    /// Where the node publishes each group's role and progress after each step that changes them
    /// (for the simulation's harness and tests): one [`Observed`] per group, in group order.
    pub observer: Option<tokio::sync::watch::Sender<Vec<Observed>>>,
    /// The node's clock (timers run in its local time); `None`: the real clock.
    pub clock: Option<Arc<Clock>>,
    /// The node's metrics, if it keeps them (served by [`metrics::serve`]).
    pub metrics: Option<Arc<Metrics>>,
    /// While it holds `true`, the node processes nothing (a paused process: messages queue, timers
    /// expire and fire together on resume).
    pub pause: Option<tokio::sync::watch::Receiver<bool>>,
}

/// What a node publishes to its observer about one of its groups.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observed {
    /// Leading.
    pub leader: bool,
    /// The ballot it leads or campaigns with (none on a follower: its `promised` ballot is the one it
    /// follows, or a newer candidate's).
    pub ballot: Option<Ballot>,
    /// Every slot below it is known chosen here.
    pub committed: Slot,
    /// Every slot below it is applied here.
    pub applied: Slot,
    /// Recovering from storage loss.
    pub recovering: bool,
    /// Elections started since this process started ([`crate::core::Counters`]).
    pub elections: u64,
    /// Slots accepted again in another ballot since this process started.
    pub reaccepted: u64,
    /// Of those, slots whose accepted value was replaced by another.
    pub overwritten: u64,
    /// The membership's version as applied here.
    pub membership_version: u64,
    /// Its voters.
    pub voters: crate::core::NodeSet,
    /// Its learners.
    pub learners: crate::core::NodeSet,
}

/// Why a node stopped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// Opening the storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The storage failed while running.
    #[error("storage failed: {0}")]
    StorageFailed(Arc<StorageError>),
    /// A listener could not be bound.
    #[error("cannot listen for {what} on {addr}: {source}")]
    Bind {
        /// Clients or peers.
        what: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The error.
        source: std::io::Error,
    },
}

enum Disk<F: FileSystem> {
    Thread(Committer),
    Inline {
        storage: Box<Storage<F>>,
        ticket: u64,
        reports: mpsc::UnboundedSender<Durable>,
        metrics: Option<Arc<Metrics>>,
        /// For [`DiskMode::Delayed`]: the latencies and their draws, and when the unsynced writes
        /// are due to sync.
        delay: Option<(Duration, Duration, SmallRng)>,
        due: Option<Instant>,
    },
}

impl<F: FileSystem> Disk<F> {
    /// Starts carrying out persists on `storage`; reports go to `reports`.
    fn start(
        storage: Storage<F>,
        mode: DiskMode,
        seed: u64,
        reports: mpsc::UnboundedSender<Durable>,
        metrics: Option<Arc<Metrics>>,
    ) -> Result<Disk<F>, NodeError> {
        match mode {
            DiskMode::Thread => {
                let committer = Committer::start(storage, metrics, move |report| {
                    let _ = reports.send(report);
                })
                .map_err(|error| NodeError::Config(format!("cannot start the storage thread: {error}")))?;
                Ok(Disk::Thread(committer))
            }
            DiskMode::Inline | DiskMode::Delayed { .. } => Ok(Disk::Inline {
                storage: Box::new(storage),
                ticket: 0,
                reports,
                metrics,
                delay: match mode {
                    DiskMode::Delayed { low, high } => {
                        Some((low, high.max(low), SmallRng::seed_from_u64(seed ^ 0xd15c_5eed)))
                    }
                    DiskMode::Thread | DiskMode::Inline => None,
                },
                due: None,
            }),
        }
    }

    fn submit(&mut self, group: GroupId, persists: Vec<Persist>) -> u64 {
        match self {
            Disk::Thread(committer) => committer.submit(group, persists),
            Disk::Inline { storage, ticket, reports, metrics, delay, due } => {
                *ticket += 1;
                let batch = [(group, persists)];
                match delay {
                    None => {
                        let outcome =
                            crate::storage::group::write_and_sync(storage, &batch, metrics.as_deref());
                        let _ = reports.send(outcome.map(|()| *ticket).map_err(Arc::new));
                    }
                    Some((low, high, rng)) => match storage.append_groups(&batch) {
                        Ok(()) => {
                            if due.is_none() {
                                *due = Some(Instant::now() + rng.random_range(*low..=*high));
                            }
                        }
                        Err(error) => {
                            let _ = reports.send(Err(Arc::new(error)));
                        }
                    },
                }
                *ticket
            }
        }
    }

    /// When the delayed sync of unsynced writes is due ([`DiskMode::Delayed`]), if any.
    fn sync_due(&self) -> Option<Instant> {
        match self {
            Disk::Inline { due, .. } => *due,
            Disk::Thread(_) => None,
        }
    }

    /// Syncs what [`DiskMode::Delayed`] wrote and has not synced, and reports it durable.
    fn sync_now(&mut self) {
        if let Disk::Inline { storage, ticket, reports, due: due @ Some(_), .. } = self {
            *due = None;
            let _ = reports.send(storage.sync().map(|()| *ticket).map_err(Arc::new));
        }
    }

    fn stats(&self) -> StorageStats {
        match self {
            Disk::Thread(committer) => committer.stats(),
            Disk::Inline { storage, .. } => storage.stats(),
        }
    }
}

/// Runs a node until `shutdown` completes (or the storage fails).
pub async fn run<N: Net, F: FileSystem>(
    net: N,
    fs: Arc<F>,
    options: NodeOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), NodeError> {
    let me = options.node;
    let members: Vec<NodeId> = options.cluster.members.iter().map(|member| member.id).collect();
    if !members.contains(&me) && !options.peers.iter().any(|member| member.id == me) {
        return Err(NodeError::Config(format!(
            "node {me} is neither a first member of cluster {} nor among the members it joined",
            options.cluster.cluster
        )));
    }
    if options.cluster.groups == 0 {
        return Err(NodeError::Config("the cluster runs 0 Paxos groups: expected 1 or more".to_string()));
    }
    // Every random draw below comes in a fixed order, so that a simulated run replays by seed.
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let (storage, replicas) = open(fs, &options, members, &mut rng)?;
    let peer_listener = bind(&net, "peers", options.peer_bind).await?;
    let client_listener = bind(&net, "clients", options.client_bind).await?;
    let (durable_tx, durable_rx) = mpsc::unbounded_channel::<Durable>();
    let disk = Disk::start(storage, options.disk, options.seed, durable_tx, options.metrics.clone())?;
    let (calls_tx, calls_rx) = mpsc::channel::<Call>(65_536);
    let (control_tx, control_rx) = mpsc::channel::<Control>(256);
    let (inbox_tx, inbox_rx) = mpsc::channel::<Routed>(65_536);
    let mut tasks = tokio::task::JoinSet::new();
    let mut dialer = Dialer::new(net.clone(), &options, rng.random());
    let mut outbound = BTreeMap::new();
    for member in options.cluster.members.iter().chain(&options.peers).filter(|member| member.id != me) {
        outbound.entry(member.id).or_insert_with(|| dialer.dial(member, &mut tasks));
    }
    let (introductions_tx, introductions_rx) = mpsc::unbounded_channel();
    accept_peers::<N>(peer_listener, &options, inbox_tx, introductions_tx, &mut tasks);
    let session = Session {
        calls: calls_tx,
        control: control_tx,
        limits: options.limits,
        deadline: options.timing.request_deadline,
        operations_max: options.operations_max,
        value_bytes: options.value_bytes,
        metrics: options.metrics.clone(),
        groups: options.cluster.groups,
    };
    let boot = accept_clients::<N>(client_listener, &options, session, &mut rng, &mut tasks);
    let clock = options.clock.clone().unwrap_or_default();
    let groups = replicas
        .into_iter()
        .zip(0u16..)
        .map(|(replica, id)| Group {
            id: GroupId(id),
            noticed: Noticed {
                status: replica.status(),
                leader: None,
                snapshots_sent: 0,
                snapshots_installed: 0,
            },
            replica,
            voted: BTreeMap::new(),
            membership: 0,
            handed_over: None,
            behind: None,
        })
        .collect();
    let state = Loop {
        clock,
        me,
        groups,
        timers: BTreeMap::new(),
        unreleased: VecDeque::new(),
        self_inbox: VecDeque::new(),
        waiting: BTreeMap::new(),
        outbound,
        dialer: Box::new(move |member: &Member, tasks: &mut tokio::task::JoinSet<()>| {
            dialer.dial(member, tasks)
        }),
        rng,
        timing: options.timing,
        metrics: options.metrics.clone(),
        balance: Balance::new(me, boot),
        stepped: Vec::new(),
        marked: vec![false; usize::from(options.cluster.groups)],
    };
    let inputs = Inputs {
        durable: durable_rx,
        inbox: inbox_rx,
        introductions: introductions_rx,
        calls: calls_rx,
        control: control_rx,
    };
    state.run(disk, inputs, &options, &mut tasks, shutdown).await
}

/// Opens the node's storage and builds one replica per group from what it holds.
fn open<F: FileSystem>(
    fs: Arc<F>,
    options: &NodeOptions,
    members: Vec<NodeId>,
    rng: &mut SmallRng,
) -> Result<(Storage<F>, Vec<Replica>), NodeError> {
    let me = options.node;
    let groups = options.cluster.groups;
    let storage_options = crate::storage::StorageOptions { groups, ..options.storage.clone() };
    let (storage, durables, recovery) = Storage::open_groups(fs, &options.data_dir, storage_options)?;
    if let Some((path, offset, bytes, reason)) = &recovery.truncated {
        tracing::warn!(
            node = %me,
            file = %path.display(),
            offset,
            bytes,
            "storage: cut an unfinished write of {bytes} bytes at byte {offset} of {}: {reason}",
            path.display()
        );
    }
    let mut replicas = Vec::with_capacity(usize::from(groups));
    for (durable, group) in durables.into_iter().zip(0u16..) {
        let group = GroupId(group);
        if let Some(joined) = durable.joined.filter(|joined| joined.cluster != options.cluster.cluster) {
            return Err(NodeError::Config(format!(
                "{} holds the data of cluster {}, but this node's configuration is for cluster {}",
                options.data_dir.display(),
                joined.cluster,
                options.cluster.cluster
            )));
        }
        if let Some(joined) = durable.joined.filter(|joined| joined.node != me) {
            return Err(NodeError::Config(format!(
                "{} holds the data of node {}, but this node is {me}: a data directory belongs to one node",
                options.data_dir.display(),
                joined.node
            )));
        }
        if durable.joined.is_none() {
            let whose = if groups > 1 { format!(" of group {}", group.0) } else { String::new() };
            tracing::warn!(
                node = %me,
                %group,
                "storage: no durable state{whose} in {}: recovering it from the peers",
                options.data_dir.display()
            );
        }
        let config = group_config(&options.core, me, members.clone(), groups);
        let replica = Replica::new(config, durable, rng.random())
            .map_err(|error| NodeError::Config(error.to_string()))?;
        replicas.push(replica);
    }
    Ok((storage, replicas))
}

/// The core's configuration of each of `groups` groups: the node's, with its memory budgets
/// (the applied log kept for peers, the writes waiting for a slot, a slot's size) shared
/// among the groups, so that the node as a whole keeps to what the operator gave.
fn group_config(core: &Config, me: NodeId, members: Vec<NodeId>, groups: u16) -> Config {
    let share = u64::from(groups);
    let mut config = core.clone();
    config.node = me;
    config.members = members;
    config.log_retain_bytes = (core.log_retain_bytes / share).max(1);
    config.proposals_bytes_max = (core.proposals_bytes_max / share).max(1);
    config.batch_bytes_max = core.batch_bytes_max.min(config.proposals_bytes_max);
    config
}

async fn bind<N: Net>(net: &N, what: &'static str, addr: SocketAddr) -> Result<N::Listener, NodeError> {
    net.bind(addr).await.map_err(|source| NodeError::Bind { what, addr, source })
}

/// Starts the connection task of a peer (at start, and when the membership names a new one).
struct Dialer<N: Net> {
    net: N,
    /// This node's cluster, id, advertised peer address and groups.
    hello: (ClusterId, NodeId, String, u16),
    options: PeerOptions,
    rng: SmallRng,
    metrics: Option<Arc<Metrics>>,
}

impl<N: Net> Dialer<N> {
    fn new(net: N, options: &NodeOptions, seed: u64) -> Dialer<N> {
        let address = options
            .cluster
            .members
            .iter()
            .chain(&options.peers)
            .find(|member| member.id == options.node)
            .map(|member| member.peer.clone())
            .unwrap_or_default();
        let hello = (options.cluster.cluster, options.node, address, options.cluster.groups);
        Dialer {
            net,
            hello,
            options: options.peer,
            rng: SmallRng::seed_from_u64(seed),
            metrics: options.metrics.clone(),
        }
    }

    /// Dials `member` from now on, as a task of the node's `tasks` (stopped with the node);
    /// returns the queue of its messages and whether it answers. The task ends when the queue's
    /// sender is dropped (the member left).
    fn dial(&mut self, member: &Member, tasks: &mut tokio::task::JoinSet<()>) -> Peer {
        let (queue_tx, queue_rx) = mpsc::channel(self.options.queue);
        let reachable = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut jitter_rng = SmallRng::seed_from_u64(self.rng.random());
        let jitter = move |base: Duration| base + base.mul_f64(jitter_rng.random_range(0.0..0.5));
        let (cluster, from, address, groups) = self.hello.clone();
        N::spawn_in(
            tasks,
            peer::outbound(
                self.net.clone(),
                peer::Hello { cluster, from, to: member.id, address, groups },
                member.peer.clone(),
                self.options,
                queue_rx,
                jitter,
                (reachable.clone(), self.metrics.as_ref().map(|metrics| metrics.peer(member.id))),
            ),
        );
        Peer { queue: queue_tx, reachable }
    }
}

/// Accepts peers' connections; their messages go to `inbox`, who they are and where they say they
/// are reached to `introductions`.
fn accept_peers<N: Net>(
    listener: N::Listener,
    options: &NodeOptions,
    inbox: mpsc::Sender<Routed>,
    introductions: mpsc::UnboundedSender<(NodeId, String)>,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    let (cluster, me, peer_options) = (options.cluster.cluster, options.node, options.peer);
    let groups = options.cluster.groups;
    N::spawn_in(tasks, async move {
        loop {
            let Ok((stream, addr)) = N::accept(&listener).await else { continue };
            let (inbox, introductions) = (inbox.clone(), introductions.clone());
            N::spawn(async move {
                if let Err(error) =
                    peer::inbound(stream, (cluster, me, groups), peer_options, inbox, introductions).await
                {
                    if !matches!(error, peer::InboundError::Io(_)) {
                        tracing::warn!(node = %me, %addr, "peer connection from {addr} closed: {error}");
                    }
                }
            });
        }
    });
}

/// Accepts clients; each connection is a session with an id no other node or boot uses. Past
/// [`Limits::connections`] open at once, a new one is told so and closed. Returns this boot's
/// number (the client ids' middle bits).
fn accept_clients<N: Net>(
    listener: N::Listener,
    options: &NodeOptions,
    session: Session,
    rng: &mut SmallRng,
    tasks: &mut tokio::task::JoinSet<()>,
) -> u64 {
    let me = options.node;
    let metrics = options.metrics.clone();
    let boot: u64 = rng.random::<u64>() & 0xFF_FFFF;
    let next = Arc::new(AtomicU64::new(0));
    let counters_max = CLIENT_COUNTER_MAX;
    let open = Arc::new(AtomicU64::new(0));
    let most = session.limits.connections as u64;
    N::spawn_in(tasks, async move {
        let mut refused = 0u64;
        loop {
            let Ok((mut stream, addr)) = N::accept(&listener).await else { continue };
            if open.load(Ordering::Relaxed) >= most {
                // One log line for the first refusal and every thousandth after it.
                if refused.is_multiple_of(1000) {
                    tracing::warn!(node = %me, %addr, "refused client {addr}: {most} connections open, the limit ({} refused so far)", refused + 1);
                }
                refused += 1;
                if let Some(metrics) = &metrics {
                    metrics.connections_refused.inc();
                }
                N::spawn(async move {
                    use tokio::io::AsyncWriteExt;
                    let refusal = b"-ERR max number of clients reached\r\n";
                    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(refusal)).await;
                });
                continue;
            }
            open.fetch_add(1, Ordering::Relaxed);
            if let Some(metrics) = &metrics {
                metrics.connections.inc();
            }
            // The last counter is the balancer's ([`Balance`]).
            let counter = next.fetch_add(1, Ordering::Relaxed) % counters_max;
            let client = ClientId((u64::from(me.0) << 56) | (boot << 32) | counter);
            let (session, open, metrics) = (session.clone(), open.clone(), metrics.clone());
            N::spawn(async move {
                if let Err(error) = clients::serve(stream, client, session).await {
                    // A client's own mistake: worth a line only when asked for (RUST_LOG=debug).
                    tracing::debug!(node = %me, %addr, "client {addr} closed: {error}");
                }
                open.fetch_sub(1, Ordering::Relaxed);
                if let Some(metrics) = &metrics {
                    metrics.connections.dec();
                }
            });
        }
    });
    boot
}

/// Client sessions of one boot are numbered below this; the number itself is the balancer's.
const CLIENT_COUNTER_MAX: u64 = 0xFFFF_FFFF;

/// What the node loop listens to.
struct Inputs {
    /// The storage's reports: everything up to a ticket is durable, or the storage failed.
    durable: mpsc::UnboundedReceiver<Durable>,
    /// Messages from peers, with their group.
    inbox: mpsc::Receiver<Routed>,
    /// Peers that dialled this node: their id and advertised address.
    introductions: mpsc::UnboundedReceiver<(NodeId, String)>,
    /// Client connections' requests.
    calls: mpsc::Receiver<Call>,
    /// Client connections' questions.
    control: mpsc::Receiver<Control>,
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Publishes each group's state to the node's metrics (every [`METRICS_EVERY`]: a scrape comes
/// every few seconds, and publishing after every step cost a percent of the write throughput).
fn publish(groups: &[Group], metrics: &Metrics) {
    for group in groups {
        let replica = &group.replica;
        let membership = replica.membership();
        metrics.observe(
            group.id,
            &metrics::State {
                leading: replica.status() == Status::Leader,
                leader: replica.leader(),
                promised: replica.promised(),
                committed: replica.log().chosen_point().0,
                applied: replica.log().applied().0,
                pending: replica.pending(),
                membership_version: membership.version,
                voters: membership.voters.len(),
                learners: membership.learners.len(),
                keys: replica.kv().len(),
                counters: replica.counters(),
            },
        );
        lags(group, metrics);
    }
}

/// How often the node loop publishes its state to the metrics.
const METRICS_EVERY: Duration = Duration::from_millis(100);

/// What the node publishes to its observer about `replica`.
fn observed(replica: &Replica) -> Observed {
    Observed {
        leader: replica.status() == Status::Leader,
        ballot: replica.ballot(),
        committed: replica.log().chosen_point(),
        applied: replica.log().applied(),
        recovering: replica.status() == Status::Recovering,
        elections: replica.counters().elections,
        reaccepted: replica.counters().reaccepted,
        overwritten: replica.counters().overwritten,
        membership_version: replica.membership().version,
        voters: replica.membership().voters,
        learners: replica.membership().learners,
    }
}

/// Publishes the role and progress of the groups stepped since the last time (`stepped`) to the
/// node's observer, if any changed (every group the first time).
fn observe(groups: &[Group], stepped: &[usize], options: &NodeOptions) {
    if let Some(observer) = &options.observer {
        observer.send_if_modified(|seen| {
            if seen.len() != groups.len() {
                *seen = groups.iter().map(|group| observed(&group.replica)).collect();
                return true;
            }
            let mut changed = false;
            for &index in stepped {
                let now = observed(&groups[index].replica);
                changed |= std::mem::replace(&mut seen[index], now) != now;
            }
            changed
        });
    }
}

/// The ids of `set`, comma-separated (`-` for none).
fn ids(set: crate::core::NodeSet) -> String {
    let ids: Vec<String> = set.iter().map(|id| id.to_string()).collect();
    if ids.is_empty() {
        "-".to_string()
    } else {
        ids.join(",")
    }
}

/// At the group's leader, each member's lag behind its commit point: a learner's as it reported
/// its commit point, a voter's by its highest vote (`voted`, counted since this node was elected);
/// elsewhere none. A member not heard from since has no figure rather than a made-up one.
fn lags(group: &Group, metrics: &Metrics) {
    let replica = &group.replica;
    if replica.status() != Status::Leader {
        metrics.lags(group.id, std::iter::empty());
        return;
    }
    let committed = replica.log().commit().0;
    let me = replica.node();
    let progress = replica.progress();
    let membership = replica.membership();
    metrics.lags(
        group.id,
        membership.members().iter().filter(|&id| id != me).filter_map(|id| {
            let through = if membership.is_voter(id) {
                group.voted.get(&id).copied()
            } else {
                progress.get(&id).map(|slot| slot.0)
            };
            through.map(|through| (id, committed.saturating_sub(through)))
        }),
    );
}

/// Every member's addresses this node knows: the first members', those it started with, and
/// those the memberships name.
fn addresses<'a>(
    options: &NodeOptions,
    memberships: impl IntoIterator<Item = &'a Membership>,
) -> BTreeMap<NodeId, Member> {
    let mut known: BTreeMap<NodeId, Member> = BTreeMap::new();
    for member in options.cluster.members.iter().chain(&options.peers) {
        known.insert(member.id, member.clone());
    }
    for membership in memberships {
        for (&id, address) in &membership.addresses {
            if let Some((client, peer)) = parse_address(address) {
                known.insert(id, Member { id, client, peer });
            }
        }
    }
    known
}

/// The addresses a membership change carries: `CLIENT PEER`.
pub fn parse_address(address: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(address).ok()?;
    let mut words = text.split_whitespace();
    let (client, peer) = (words.next()?, words.next()?);
    words.next().is_none().then(|| (client.to_string(), peer.to_string()))
}

/// The members as `CLUSTER NODES` and `MEMBER LIST` show them: group 0's membership (every group
/// applies the operator's changes; see `clients`).
fn member_views(replica: &Replica, options: &NodeOptions) -> Vec<MemberView> {
    let membership = replica.membership();
    let known = addresses(options, [membership]);
    let progress = replica.progress();
    let committed = replica.log().commit().0;
    membership
        .members()
        .iter()
        .map(|id| {
            let member = known.get(&id).cloned().unwrap_or_else(|| Member {
                id,
                client: "?".to_string(),
                peer: "?".to_string(),
            });
            let role = if membership.is_voter(id) { "voter" } else { "learner" };
            let lag = if id == replica.node() && replica.status() == Status::Leader {
                Some(0)
            } else {
                progress.get(&id).map(|slot| committed.saturating_sub(slot.0))
            };
            MemberView { member, role, lag }
        })
        .collect()
}

/// One group as `INFO` shows it.
fn group_info(group: &Group) -> GroupInfo {
    let replica = &group.replica;
    GroupInfo {
        group: group.id,
        role: replica.status().to_string(),
        leader: replica.leader(),
        ballot: replica.ballot(),
        promised: replica.promised(),
        committed: replica.log().chosen_point(),
        applied: replica.log().applied(),
        keys: replica.kv().len(),
        membership_version: replica.membership().version,
        voters: replica.membership().voters,
        learners: replica.membership().learners,
    }
}

fn info(groups: &[Group], options: &NodeOptions, storage: StorageStats) -> Info {
    let cluster = &options.cluster;
    let first = &groups[0].replica;
    let mut counters = crate::core::Counters::default();
    for group in groups {
        let more = group.replica.counters();
        counters.elections += more.elections;
        counters.reaccepted += more.reaccepted;
        counters.overwritten += more.overwritten;
        counters.snapshots_sent += more.snapshots_sent;
        counters.snapshots_installed += more.snapshots_installed;
    }
    Info {
        node: first.node(),
        cluster: cluster.cluster,
        incarnation: first.incarnation(),
        keys: groups.iter().map(|group| group.replica.kv().len()).sum(),
        pending: groups.iter().map(|group| group.replica.pending()).sum(),
        members: member_views(first, options),
        first: cluster.members.clone(),
        storage,
        counters,
        groups: groups.iter().map(group_info).collect(),
    }
}

/// Starts the connection to a member; returns the queue of its messages and whether it answers.
type Dial = Box<dyn FnMut(&Member, &mut tokio::task::JoinSet<()>) -> Peer + Send>;

/// The connection to one peer: the queue of its messages, and whether it answers (its pongs came
/// within the keepalive's deadline).
struct Peer {
    queue: mpsc::Sender<Routed>,
    reachable: Arc<std::sync::atomic::AtomicBool>,
}

/// One Paxos group of the node.
struct Group {
    id: GroupId,
    replica: Replica,
    /// What the operator's log last said about the replica.
    noticed: Noticed,
    /// Each peer's highest vote (phase 2b) plus one, as received here since this node was last
    /// elected in this group: a voter's progress for the lag metric and the balancer (the core
    /// tracks learners' only).
    voted: BTreeMap<NodeId, u64>,
    /// The membership version the connections follow.
    membership: u64,
    /// When this node last handed the group to its preferred leader.
    handed_over: Option<Instant>,
    /// The change that would catch this group up with the others' membership, as the last check
    /// found it (see [`Loop::reconcile`]).
    behind: Option<Change>,
}

/// Spreads the leaders of a node's groups when it runs more than one: the preferred leader of
/// group `g` is the `g mod n`-th of the group's `n` voters that answer (in id order), so that
/// each node leads about `G / n` groups. The leader of a group that is not its preferred leader
/// hands it over through the log ([`Operation::Transfer`], as `MEMBER TRANSFER-LEADER` does) once
/// the preferred one answers and has voted within [`BALANCE_LAG_MAX`] slots of the commit point;
/// after a handover the group rests for three checks. A node that fails is not among the voters
/// that answer, so its groups spread over the others, and come back to it once it answers and
/// has caught up.
struct Balance {
    /// The balancer's client id: its own on each node and boot, outside the connections' ids
    /// (the membership reconciler proposes under it too; nobody waits for either's replies).
    client: ClientId,
    sequence: u64,
}

/// Slots a preferred leader may be behind the commit point and still take its group over.
const BALANCE_LAG_MAX: u64 = 64;

impl Balance {
    fn new(me: NodeId, boot: u64) -> Balance {
        Balance { client: ClientId((u64::from(me.0) << 56) | (boot << 32) | CLIENT_COUNTER_MAX), sequence: 0 }
    }

    /// The preferred leader of group `group` among `voters` that answer (`me` always does).
    fn preferred(group: GroupId, voters: &[NodeId]) -> Option<NodeId> {
        (!voters.is_empty()).then(|| voters[group.index() % voters.len()])
    }
}

/// The node loop's state besides the replicas.
struct Loop {
    me: NodeId,
    clock: Arc<Clock>,
    groups: Vec<Group>,
    /// Armed timers of every group and their deadlines in the node's local time.
    timers: BTreeMap<(GroupId, Timer), f64>,
    /// Sends and replies waiting for their step's persists: (ticket, actions).
    unreleased: VecDeque<(u64, Vec<(GroupId, Action)>)>,
    /// Messages to this node itself, released.
    self_inbox: VecDeque<Routed>,
    /// Clients waiting for a response, per group (a client's pipeline may wait in several).
    waiting: BTreeMap<(GroupId, ClientId), oneshot::Sender<Response>>,
    outbound: BTreeMap<NodeId, Peer>,
    /// Starts the connection to a member the membership names.
    dialer: Dial,
    rng: SmallRng,
    timing: Timing,
    metrics: Option<Arc<Metrics>>,
    balance: Balance,
    /// The groups stepped since the loop last looked at what changed (each once, in the order
    /// first stepped), and a mark per group: only those can have changed.
    stepped: Vec<usize>,
    marked: Vec<bool>,
}

/// The replica's role, leader and counters as the log last reported them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Noticed {
    status: Status,
    leader: Option<NodeId>,
    snapshots_sent: u64,
    snapshots_installed: u64,
}

impl Loop {
    /// Steps the replicas with every input until `shutdown` completes or the storage fails; then
    /// stops the node's `tasks` and its storage.
    async fn run<F: FileSystem>(
        mut self,
        mut disk: Disk<F>,
        mut inputs: Inputs,
        options: &NodeOptions,
        tasks: &mut tokio::task::JoinSet<()>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), NodeError> {
        let clock = self.clock.clone();
        let mut clock_changes = clock.changes();
        let mut pause = options.pause.clone();
        let mut out = Vec::new();
        for index in 0..self.groups.len() {
            self.groups[index].replica.start(&mut out);
            self.handle(&mut disk, index, &mut out);
        }
        tokio::pin!(shutdown);
        let mut metrics_tick = tokio::time::interval(METRICS_EVERY);
        metrics_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut balance_tick = tokio::time::interval(self.timing.balance);
        balance_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let balancing = self.groups.len() > 1;
        let result = loop {
            if let Some(paused) = pause.as_mut() {
                loop {
                    let is_paused = *paused.borrow_and_update();
                    if !is_paused {
                        break;
                    }
                    tokio::select! {
                        biased;
                        () = &mut shutdown => return Ok(()),
                        changed = paused.changed() => if changed.is_err() { break },
                    }
                }
            }
            let mut stepped = std::mem::take(&mut self.stepped);
            observe(&self.groups, &stepped, options);
            for &index in &stepped {
                self.marked[index] = false;
                self.notice(index);
            }
            self.follow_membership(&stepped, options, tasks);
            stepped.clear();
            self.stepped = stepped;
            while let Some((group, envelope)) = self.self_inbox.pop_front() {
                self.groups[group.index()].replica.step(Input::Receive(envelope), &mut out);
                self.handle(&mut disk, group.index(), &mut out);
            }
            let next_timer =
                self.timers.values().copied().min_by(f64::total_cmp).map(|local| clock.instant_of(local));
            tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                Some(report) = inputs.durable.recv() => match report {
                    Ok(ticket) => self.release(ticket),
                    Err(error) => break Err(NodeError::StorageFailed(error)),
                },
                Some((group, envelope)) = inputs.inbox.recv() => {
                    let index = group.index();
                    // Votes are counted only where something reads them: the lag metric, the
                    // balancer of several groups.
                    let counted = self.metrics.is_some() || self.groups.len() > 1;
                    if let (true, crate::core::Message::Accepted { slot, .. }) = (counted, &envelope.message) {
                        let through = self.groups[index].voted.entry(envelope.from).or_default();
                        *through = (*through).max(slot.0 + 1);
                    }
                    self.groups[index].replica.step(Input::Receive(envelope), &mut out);
                    self.handle(&mut disk, index, &mut out);
                }
                Some((id, address)) = inputs.introductions.recv() => self.introduced(tasks, id, address),
                Some(call) = inputs.calls.recv() => self.on_calls(&mut disk, &mut inputs.calls, call, &mut out),
                Some(control) = inputs.control.recv() => match control {
                    Control::Info(reply) => {
                        let _ = reply.send(info(&self.groups, options, disk.stats()));
                    }
                },
                // A changed rate or a jump moves every deadline: look again.
                _ = clock_changes.changed() => {}
                _ = metrics_tick.tick(), if self.metrics.is_some() => {
                    if let Some(metrics) = &self.metrics {
                        publish(&self.groups, metrics);
                    }
                }
                _ = balance_tick.tick(), if balancing => {
                    self.reconcile(&mut disk, &mut out);
                    self.rebalance(&mut disk, &mut out);
                }
                () = sleep_until(disk.sync_due()), if disk.sync_due().is_some() => disk.sync_now(),
                () = sleep_until(next_timer), if next_timer.is_some() => {
                    // Due by the same arithmetic that chose the wake-up (see `Clock::until`).
                    let due: Vec<(GroupId, Timer)> = self
                        .timers
                        .iter()
                        .filter(|(_, at)| clock.until(**at).is_zero())
                        .map(|(timer, _)| *timer)
                        .collect();
                    for (group, timer) in due {
                        self.timers.remove(&(group, timer));
                        self.groups[group.index()].replica.step(Input::Timeout(timer), &mut out);
                        self.handle(&mut disk, group.index(), &mut out);
                    }
                }
            }
        };
        tasks.abort_all();
        disk.sync_now(); // what a delayed sync still owes
        drop(disk); // finishes the queued writes and stops the storage thread
        result
    }

    /// Steps the replicas with `call` and every call queued behind it: the requests among them
    /// join one step per group.
    fn on_calls<F: FileSystem>(
        &mut self,
        disk: &mut Disk<F>,
        calls: &mut mpsc::Receiver<Call>,
        call: Call,
        out: &mut Vec<Output>,
    ) {
        // Per group called, in the order first called: its requests.
        let mut requests: Vec<(usize, Vec<Request>)> = Vec::new();
        let mut count = 0;
        let mut next = Some(call);
        while let Some(call) = next.take().or_else(|| calls.try_recv().ok()) {
            match call {
                Call::Request { group, request, reply } => {
                    self.waiting.insert((group, request.client), reply);
                    match requests.iter_mut().find(|(index, _)| *index == group.index()) {
                        Some((_, of_group)) => of_group.push(request),
                        None => requests.push((group.index(), vec![request])),
                    }
                    count += 1;
                }
                Call::Abandon { group, client } => {
                    self.waiting.remove(&(group, client));
                    self.groups[group.index()].replica.step(Input::Abandon(client), out);
                    self.handle(disk, group.index(), out);
                }
            }
            if count >= 4096 {
                break;
            }
        }
        for (index, requests) in requests {
            self.groups[index].replica.step(Input::Requests(requests), out);
            self.handle(disk, index, out);
        }
    }

    /// With several groups: proposes, in each group this node leads, the membership change that
    /// catches it up with what the other groups applied ([`groups::catch_up`]). A change is
    /// proposed when two checks in a row found it missing, so that an operator's change that is
    /// still on its way to this group is not proposed twice (the second would be refused); a
    /// change the core refuses (a learner not caught up yet) is proposed again two checks later.
    fn reconcile<F: FileSystem>(&mut self, disk: &mut Disk<F>, out: &mut Vec<Output>) {
        let memberships: Vec<Membership> =
            self.groups.iter().map(|group| group.replica.membership().clone()).collect();
        let all: Vec<&Membership> = memberships.iter().collect();
        for (index, membership) in memberships.iter().enumerate() {
            let change = (self.groups[index].replica.status() == Status::Leader)
                .then(|| groups::catch_up(membership, &all))
                .flatten();
            let group = &mut self.groups[index];
            if change.is_none() || change != group.behind {
                group.behind = change;
                continue;
            }
            let change = group.behind.take().expect("found twice");
            tracing::info!(
                node = %self.me,
                group = %group.id,
                "group {}: proposing {change:?}, which other groups have applied and this one has not",
                group.id.0
            );
            self.propose(disk, index, Operation::Member(change), out);
        }
    }

    /// Proposes `operation` in group `index` as the node itself (the balancer's client; nobody
    /// waits for the reply).
    fn propose<F: FileSystem>(
        &mut self,
        disk: &mut Disk<F>,
        index: usize,
        operation: Operation,
        out: &mut Vec<Output>,
    ) {
        self.balance.sequence += 1;
        let request = Request {
            client: self.balance.client,
            sequence: self.balance.sequence,
            operations: vec![operation],
        };
        self.groups[index].replica.step(Input::Requests(vec![request]), out);
        self.handle(disk, index, out);
    }

    /// With several groups: hands each group this node leads but is not the preferred leader of
    /// to its preferred leader (see [`Balance`]).
    fn rebalance<F: FileSystem>(&mut self, disk: &mut Disk<F>, out: &mut Vec<Output>) {
        let now = Instant::now();
        let rest = self.timing.balance * 3;
        for index in 0..self.groups.len() {
            let group = &self.groups[index];
            let replica = &group.replica;
            if replica.status() != Status::Leader
                || group.handed_over.is_some_and(|at| now.duration_since(at) < rest)
            {
                continue;
            }
            let answering: Vec<NodeId> = replica
                .membership()
                .voters
                .iter()
                .filter(|&id| {
                    id == self.me
                        || self.outbound.get(&id).is_some_and(|peer| peer.reachable.load(Ordering::Relaxed))
                })
                .collect();
            let Some(preferred) = Balance::preferred(group.id, &answering) else { continue };
            let committed = replica.log().commit().0;
            let voted = group.voted.get(&preferred).copied().unwrap_or(0);
            if preferred == self.me || voted + BALANCE_LAG_MAX < committed {
                continue;
            }
            tracing::info!(
                node = %self.me,
                group = %group.id,
                to = %preferred,
                "group {}: handing leadership to its preferred leader {preferred}",
                group.id.0
            );
            self.groups[index].handed_over = Some(now);
            self.propose(disk, index, Operation::Transfer { to: preferred }, out);
        }
    }

    /// Carries out a step's outputs of group `index` as [`Schedule`] sorts them: timers and sends
    /// that vouch for nothing durable at once (a leader's Accepts travel while its own vote
    /// syncs); persists to the disk; the other sends and replies after the persists of this step
    /// and of every earlier step (of any group) are durable.
    fn handle<F: FileSystem>(&mut self, disk: &mut Disk<F>, index: usize, out: &mut Vec<Output>) {
        let group = self.groups[index].id;
        if !std::mem::replace(&mut self.marked[index], true) {
            self.stepped.push(index);
        }
        let schedule = Schedule::new(out.drain(..));
        for change in schedule.timers {
            match change {
                TimerChange::Set(timer) => {
                    let after = self.duration(timer);
                    self.timers.insert((group, timer), self.clock.deadline(after));
                }
                TimerChange::Cancel(timer) => {
                    self.timers.remove(&(group, timer));
                }
            }
        }
        self.release_actions(schedule.immediately.into_iter().map(|action| (group, action)));
        if let Some(metrics) = &self.metrics {
            for persist in &schedule.persists {
                if let Persist::Accept { ballot, value, .. } = persist {
                    if ballot.node == self.me {
                        metrics.proposed(value.requests().len());
                    }
                }
            }
        }
        let after = schedule.after_persists.into_iter().map(|action| (group, action));
        if !schedule.persists.is_empty() {
            let ticket = disk.submit(group, schedule.persists);
            self.unreleased.push_back((ticket, after.collect()));
        } else if let Some((_, waiting)) = self.unreleased.back_mut() {
            waiting.extend(after);
        } else {
            self.release_actions(after);
        }
    }

    /// Logs what an operator wants to know of group `index`'s replica: elected, stepped down, a
    /// new leader, recovery, snapshots sent and installed (one line each, at info; nothing per
    /// request). With several groups, each line names its group.
    fn notice(&mut self, index: usize) {
        let me = self.me;
        let several = self.groups.len() > 1;
        let group = &mut self.groups[index];
        let replica = &group.replica;
        let counters = replica.counters();
        let now = Noticed {
            status: replica.status(),
            leader: replica.leader(),
            snapshots_sent: counters.snapshots_sent,
            snapshots_installed: counters.snapshots_installed,
        };
        let before = std::mem::replace(&mut group.noticed, now);
        if now == before {
            return;
        }
        let (ballot, slot) = (replica.promised(), replica.log().chosen_point().0);
        let id = group.id;
        let prefix = if several { format!("group {}: ", id.0) } else { String::new() };
        if now.status != before.status {
            match (before.status, now.status) {
                (_, Status::Leader) => {
                    // Votes of an earlier leadership say nothing of this one's progress.
                    group.voted.clear();
                    tracing::info!(node = %me, group = %id, %ballot, slot, "{prefix}elected leader in ballot {ballot}")
                }
                (Status::Leader, _) => {
                    tracing::info!(node = %me, group = %id, %ballot, slot, "{prefix}stepped down: now {}", now.status)
                }
                (_, Status::Candidate) => {
                    tracing::info!(node = %me, group = %id, %ballot, slot, "{prefix}campaigning for leadership")
                }
                (Status::Recovering, _) => {
                    tracing::info!(node = %me, group = %id, %ballot, slot, "{prefix}recovered its durable state from the peers: voting again")
                }
                (_, Status::Recovering) => {
                    tracing::warn!(node = %me, group = %id, slot, "{prefix}recovering its durable state from the peers")
                }
                _ => {}
            }
        }
        if let (true, Some(metrics)) = (now.leader != before.leader, &self.metrics) {
            metrics.leader_changed();
        }
        if now.leader != before.leader && !matches!(now.status, Status::Leader | Status::Candidate) {
            match now.leader {
                Some(leader) => {
                    tracing::info!(node = %me, group = %id, %leader, %ballot, slot, "{prefix}following leader {leader}")
                }
                None => tracing::info!(node = %me, group = %id, %ballot, slot, "{prefix}no leader known"),
            }
        }
        if now.snapshots_sent > before.snapshots_sent {
            tracing::info!(node = %me, group = %id, slot, "{prefix}sent a snapshot to a peer too far behind for the log");
        }
        if now.snapshots_installed > before.snapshots_installed {
            let applied = replica.log().applied().0;
            tracing::info!(node = %me, group = %id, slot = applied, "{prefix}installed a snapshot from a peer, up to slot {applied}");
        }
    }

    /// Dials the members any group's membership added and hangs up on those that no group has
    /// any more; only the `stepped` groups' memberships can have changed.
    fn follow_membership(
        &mut self,
        stepped: &[usize],
        options: &NodeOptions,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        let several = self.groups.len() > 1;
        let mut changed = false;
        for &index in stepped {
            let group = &mut self.groups[index];
            let membership = group.replica.membership();
            if membership.version == group.membership {
                continue;
            }
            if group.membership != 0 || membership.version != 0 {
                let (voters, learners) = (ids(membership.voters), ids(membership.learners));
                let prefix = if several { format!("group {}: ", group.id.0) } else { String::new() };
                tracing::info!(
                    node = %self.me,
                    group = %group.id,
                    version = membership.version,
                    %voters,
                    %learners,
                    "{prefix}membership version {}: voters {voters}, learners {learners}",
                    membership.version
                );
            }
            group.membership = membership.version;
            changed = true;
        }
        if !changed {
            return;
        }
        let known = addresses(options, self.groups.iter().map(|group| group.replica.membership()));
        let mut members = crate::core::NodeSet::default();
        let mut removed = crate::core::NodeSet::default();
        for group in &self.groups {
            for id in group.replica.membership().members().iter() {
                members.insert(id);
            }
            for id in group.replica.membership().removed.iter() {
                removed.insert(id);
            }
        }
        for id in members.iter().filter(|&id| id != self.me) {
            if let (false, Some(member)) = (self.outbound.contains_key(&id), known.get(&id)) {
                tracing::info!(node = %self.me, peer = %id, address = %member.peer, "dialling member {id} at {}", member.peer);
                let peer = (self.dialer)(member, tasks);
                self.outbound.insert(id, peer);
            }
        }
        for id in removed.iter().filter(|&id| !members.contains(id)) {
            if self.outbound.remove(&id).is_some() {
                tracing::info!(node = %self.me, peer = %id, "member {id} left; closing its connection");
            }
        }
    }

    /// A peer dialled this node saying where it is reached: if this node has no way to reach it
    /// (it restarted knowing an older membership than the one that added the peer), it dials that
    /// address. Once its membership catches up, the membership's own view rules as before.
    fn introduced(&mut self, tasks: &mut tokio::task::JoinSet<()>, id: NodeId, address: String) {
        if id == self.me
            || address.is_empty()
            || self.outbound.contains_key(&id)
            || self.groups.iter().all(|group| group.replica.membership().removed.contains(id))
        {
            return;
        }
        tracing::info!(node = %self.me, peer = %id, %address, "dialling {id} at {address}, the address its hello gave");
        let member = Member { id, client: String::new(), peer: address };
        let peer = (self.dialer)(&member, tasks);
        self.outbound.insert(id, peer);
    }

    /// Everything up to `ticket` is durable.
    fn release(&mut self, ticket: u64) {
        while self.unreleased.front().is_some_and(|(waiting, _)| *waiting <= ticket) {
            let (_, actions) = self.unreleased.pop_front().expect("checked");
            self.release_actions(actions);
        }
    }

    fn release_actions(&mut self, actions: impl IntoIterator<Item = (GroupId, Action)>) {
        for (group, action) in actions {
            match action {
                Action::Send { to, envelope } if to == self.me => {
                    self.self_inbox.push_back((group, envelope))
                }
                Action::Send { to, envelope } => {
                    if let Some(peer) = self.outbound.get(&to) {
                        // A full queue means the peer is unreachable or slow: drop, the core resends.
                        let _ = peer.queue.try_send((group, envelope));
                    }
                }
                Action::Reply(response) => {
                    if let (Some(metrics), Err(_)) = (&self.metrics, &response.result) {
                        metrics.proposals_failed.inc();
                    }
                    if let Some(reply) = self.waiting.remove(&(group, response.client)) {
                        let _ = reply.send(response);
                    }
                }
            }
        }
    }

    fn duration(&mut self, timer: Timer) -> Duration {
        match timer {
            Timer::Election => {
                let (low, high) = self.timing.election;
                low + (high.saturating_sub(low)).mul_f64(self.rng.random_range(0.0..1.0))
            }
            Timer::Heartbeat => self.timing.heartbeat,
            Timer::Retransmit => self.timing.retransmit,
            Timer::Lease(_) => self.timing.lease,
            Timer::LeaseGuard => self.timing.lease_guard,
        }
    }
}
