//! The node: one task owns the [`Replica`] and steps it with peer messages, client requests and
//! timers; the storage makes persists durable (group commit); sends and replies of a step leave
//! only once the step's persists (and every earlier step's) are durable.

use super::clients;
use super::clock::Clock;
use super::env::Net;
use super::peer::{self, PeerOptions};
use super::session::{Call, Control, Info, MemberView, Session};
use super::setup::{ClusterConfig, Member};
use crate::client::resp::Limits;
use crate::core::{
    Action, Ballot, ClientId, ClusterId, Config, Envelope, Input, Membership, NodeId, Output, Persist,
    Replica, Response, Schedule, Slot, Timer, TimerChange,
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
    /// Where the node publishes its role and progress after each step that changes them (for the
    /// simulation's harness and tests).
    pub observer: Option<tokio::sync::watch::Sender<Observed>>,
    /// The node's clock (timers run in its local time); `None`: the real clock.
    pub clock: Option<Arc<Clock>>,
    /// The node's metrics, if it keeps them (served by [`metrics::serve`]).
    pub metrics: Option<Arc<Metrics>>,
    /// While it holds `true`, the node processes nothing (a paused process: messages queue, timers
    /// expire and fire together on resume).
    pub pause: Option<tokio::sync::watch::Receiver<bool>>,
}

/// What a node publishes to its observer.
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
    },
}

impl<F: FileSystem> Disk<F> {
    /// Starts carrying out persists on `storage`; reports go to `reports`.
    fn start(
        storage: Storage<F>,
        mode: DiskMode,
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
            DiskMode::Inline => Ok(Disk::Inline { storage: Box::new(storage), ticket: 0, reports, metrics }),
        }
    }

    fn submit(&mut self, persists: Vec<Persist>) -> u64 {
        match self {
            Disk::Thread(committer) => committer.submit(persists),
            Disk::Inline { storage, ticket, reports, metrics } => {
                *ticket += 1;
                let outcome = crate::storage::group::write_and_sync(storage, &persists, metrics.as_deref());
                let _ = reports.send(outcome.map(|()| *ticket).map_err(Arc::new));
                *ticket
            }
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
    // Every random draw below comes in a fixed order, so that a simulated run replays by seed.
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let (storage, replica) = open(fs, &options, members, &mut rng)?;
    let peer_listener = bind(&net, "peers", options.peer_bind).await?;
    let client_listener = bind(&net, "clients", options.client_bind).await?;
    let (durable_tx, durable_rx) = mpsc::unbounded_channel::<Durable>();
    let disk = Disk::start(storage, options.disk, durable_tx, options.metrics.clone())?;
    let (calls_tx, calls_rx) = mpsc::channel::<Call>(65_536);
    let (control_tx, control_rx) = mpsc::channel::<Control>(256);
    let (inbox_tx, inbox_rx) = mpsc::channel::<Envelope>(65_536);
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
    };
    accept_clients::<N>(client_listener, &options, session, &mut rng, &mut tasks);
    let clock = options.clock.clone().unwrap_or_default();
    let state = Loop {
        clock,
        me,
        timers: BTreeMap::new(),
        unreleased: VecDeque::new(),
        self_inbox: VecDeque::new(),
        waiting: BTreeMap::new(),
        outbound,
        dialer: Box::new(move |member: &Member, tasks: &mut tokio::task::JoinSet<()>| {
            dialer.dial(member, tasks)
        }),
        membership: 0,
        rng,
        timing: options.timing,
        noticed: Noticed {
            status: replica.status(),
            leader: None,
            snapshots_sent: 0,
            snapshots_installed: 0,
        },
        metrics: options.metrics.clone(),
        voted: BTreeMap::new(),
    };
    let inputs = Inputs {
        durable: durable_rx,
        inbox: inbox_rx,
        introductions: introductions_rx,
        calls: calls_rx,
        control: control_rx,
    };
    state.run(replica, disk, inputs, &options, &mut tasks, shutdown).await
}

/// Opens the node's storage and builds its replica from what it holds.
fn open<F: FileSystem>(
    fs: Arc<F>,
    options: &NodeOptions,
    members: Vec<NodeId>,
    rng: &mut SmallRng,
) -> Result<(Storage<F>, Replica), NodeError> {
    let me = options.node;
    let (storage, durable, recovery) = Storage::open(fs, &options.data_dir, options.storage.clone())?;
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
        tracing::warn!(
            node = %me,
            "storage: no durable state in {}: recovering it from the peers",
            options.data_dir.display()
        );
    }
    let mut config = options.core.clone();
    config.node = me;
    config.members = members;
    let replica =
        Replica::new(config, durable, rng.random()).map_err(|error| NodeError::Config(error.to_string()))?;
    Ok((storage, replica))
}

async fn bind<N: Net>(net: &N, what: &'static str, addr: SocketAddr) -> Result<N::Listener, NodeError> {
    net.bind(addr).await.map_err(|source| NodeError::Bind { what, addr, source })
}

/// Starts the connection task of a peer (at start, and when the membership names a new one).
struct Dialer<N: Net> {
    net: N,
    /// This node's cluster, id and advertised peer address.
    hello: (ClusterId, NodeId, String),
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
        let hello = (options.cluster.cluster, options.node, address);
        Dialer {
            net,
            hello,
            options: options.peer,
            rng: SmallRng::seed_from_u64(seed),
            metrics: options.metrics.clone(),
        }
    }

    /// Dials `member` from now on, as a task of the node's `tasks` (stopped with the node);
    /// returns the queue of its messages. The task ends when the queue's sender is dropped (the
    /// member left).
    fn dial(&mut self, member: &Member, tasks: &mut tokio::task::JoinSet<()>) -> mpsc::Sender<Envelope> {
        let (queue_tx, queue_rx) = mpsc::channel(self.options.queue);
        let mut jitter_rng = SmallRng::seed_from_u64(self.rng.random());
        let jitter = move |base: Duration| base + base.mul_f64(jitter_rng.random_range(0.0..0.5));
        let (cluster, from, address) = self.hello.clone();
        N::spawn_in(
            tasks,
            peer::outbound(
                self.net.clone(),
                peer::Hello { cluster, from, to: member.id, address },
                member.peer.clone(),
                self.options,
                queue_rx,
                jitter,
                self.metrics.as_ref().map(|metrics| metrics.peer(member.id)),
            ),
        );
        queue_tx
    }
}

/// Accepts peers' connections; their messages go to `inbox`, who they are and where they say they
/// are reached to `introductions`.
fn accept_peers<N: Net>(
    listener: N::Listener,
    options: &NodeOptions,
    inbox: mpsc::Sender<Envelope>,
    introductions: mpsc::UnboundedSender<(NodeId, String)>,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    let (cluster, me, peer_options) = (options.cluster.cluster, options.node, options.peer);
    N::spawn_in(tasks, async move {
        loop {
            let Ok((stream, addr)) = N::accept(&listener).await else { continue };
            let (inbox, introductions) = (inbox.clone(), introductions.clone());
            N::spawn(async move {
                if let Err(error) =
                    peer::inbound(stream, (cluster, me), peer_options, inbox, introductions).await
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
/// [`Limits::connections`] open at once, a new one is told so and closed.
fn accept_clients<N: Net>(
    listener: N::Listener,
    options: &NodeOptions,
    session: Session,
    rng: &mut SmallRng,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    let me = options.node;
    let metrics = options.metrics.clone();
    let boot: u64 = rng.random::<u64>() & 0xFF_FFFF;
    let next = Arc::new(AtomicU64::new(0));
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
            let counter = next.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF;
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
}

/// What the node loop listens to.
struct Inputs {
    /// The storage's reports: everything up to a ticket is durable, or the storage failed.
    durable: mpsc::UnboundedReceiver<Durable>,
    /// Messages from peers.
    inbox: mpsc::Receiver<Envelope>,
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

/// Publishes the replica's state to the node's metrics (every [`METRICS_EVERY`]: a scrape comes
/// every few seconds, and publishing after every step cost a percent of the write throughput).
fn publish(replica: &Replica, voted: &BTreeMap<NodeId, u64>, metrics: &Metrics) {
    let membership = replica.membership();
    metrics.observe(&metrics::State {
        leading: replica.status() == crate::core::Status::Leader,
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
    });
    lags(replica, voted, metrics);
}

/// How often the node loop publishes its state to the metrics.
const METRICS_EVERY: Duration = Duration::from_millis(100);

/// Publishes the replica's role and progress to the node's observer, if it changed.
fn observe(replica: &Replica, options: &NodeOptions) {
    if let Some(observer) = &options.observer {
        let now = Observed {
            leader: replica.status() == crate::core::Status::Leader,
            ballot: replica.ballot(),
            committed: replica.log().chosen_point(),
            applied: replica.log().applied(),
            recovering: replica.status() == crate::core::Status::Recovering,
            elections: replica.counters().elections,
            reaccepted: replica.counters().reaccepted,
            overwritten: replica.counters().overwritten,
            membership_version: replica.membership().version,
            voters: replica.membership().voters,
            learners: replica.membership().learners,
        };
        observer.send_if_modified(|seen| std::mem::replace(seen, now) != now);
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

/// At the leader, each member's lag behind its commit point: a learner's as it reported its
/// commit point, a voter's by its highest vote (`voted`, counted since this node was elected);
/// elsewhere none. A member not heard from since has no figure rather than a made-up one.
fn lags(replica: &Replica, voted: &BTreeMap<NodeId, u64>, metrics: &Metrics) {
    if replica.status() != crate::core::Status::Leader {
        metrics.lags(std::iter::empty());
        return;
    }
    let committed = replica.log().commit().0;
    let me = replica.node();
    let progress = replica.progress();
    let membership = replica.membership();
    metrics.lags(membership.members().iter().filter(|&id| id != me).filter_map(|id| {
        let through = if membership.is_voter(id) {
            voted.get(&id).copied()
        } else {
            progress.get(&id).map(|slot| slot.0)
        };
        through.map(|through| (id, committed.saturating_sub(through)))
    }));
}

/// Every member's addresses this node knows: the first members', those it started with, and
/// those the membership names.
fn addresses(options: &NodeOptions, membership: &Membership) -> BTreeMap<NodeId, Member> {
    let mut known: BTreeMap<NodeId, Member> = BTreeMap::new();
    for member in options.cluster.members.iter().chain(&options.peers) {
        known.insert(member.id, member.clone());
    }
    for (&id, address) in &membership.addresses {
        if let Some((client, peer)) = parse_address(address) {
            known.insert(id, Member { id, client, peer });
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

/// The members as `CLUSTER NODES` and `MEMBER LIST` show them.
fn member_views(replica: &Replica, options: &NodeOptions) -> Vec<MemberView> {
    let membership = replica.membership();
    let known = addresses(options, membership);
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
            let lag = if id == replica.node() && replica.status() == crate::core::Status::Leader {
                Some(0)
            } else {
                progress.get(&id).map(|slot| committed.saturating_sub(slot.0))
            };
            MemberView { member, role, lag }
        })
        .collect()
}

fn info(replica: &Replica, options: &NodeOptions, storage: StorageStats) -> Info {
    let cluster = &options.cluster;
    Info {
        node: replica.node(),
        cluster: cluster.cluster,
        role: replica.status().to_string(),
        leader: replica.leader(),
        ballot: replica.ballot(),
        promised: replica.promised(),
        committed: replica.log().chosen_point(),
        applied: replica.log().applied(),
        incarnation: replica.incarnation(),
        keys: replica.kv().len(),
        pending: replica.pending(),
        members: member_views(replica, options),
        membership_version: replica.membership().version,
        first: cluster.members.clone(),
        storage,
        counters: replica.counters(),
    }
}

/// Starts the connection to a member; returns the queue of its messages.
type Dial = Box<dyn FnMut(&Member, &mut tokio::task::JoinSet<()>) -> mpsc::Sender<Envelope> + Send>;

/// The node loop's state besides the replica.
struct Loop {
    me: NodeId,
    clock: Arc<Clock>,
    /// Armed timers and their deadlines in the node's local time.
    timers: BTreeMap<Timer, f64>,
    /// Sends and replies waiting for their step's persists: (ticket, actions).
    unreleased: VecDeque<(u64, Vec<Action>)>,
    /// Messages to this node itself, released.
    self_inbox: VecDeque<Envelope>,
    /// Clients waiting for a response.
    waiting: BTreeMap<ClientId, oneshot::Sender<Response>>,
    outbound: BTreeMap<NodeId, mpsc::Sender<Envelope>>,
    /// Starts the connection to a member the membership names.
    dialer: Dial,
    /// The membership version the connections follow.
    membership: u64,
    rng: SmallRng,
    timing: Timing,
    /// What the operator's log last said about the replica.
    noticed: Noticed,
    /// Each peer's highest vote (phase 2b) plus one, as received here since this node was last
    /// elected: a voter's progress for the lag metric (the core tracks learners' only).
    voted: BTreeMap<NodeId, u64>,
    metrics: Option<Arc<Metrics>>,
}

/// The replica's role, leader and counters as the log last reported them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Noticed {
    status: crate::core::Status,
    leader: Option<NodeId>,
    snapshots_sent: u64,
    snapshots_installed: u64,
}

impl Loop {
    /// Steps `replica` with every input until `shutdown` completes or the storage fails; then
    /// stops the node's `tasks` and its storage.
    async fn run<F: FileSystem>(
        mut self,
        mut replica: Replica,
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
        replica.start(&mut out);
        self.handle(&mut disk, &mut out);
        tokio::pin!(shutdown);
        let mut metrics_tick = tokio::time::interval(METRICS_EVERY);
        metrics_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
            observe(&replica, options);
            self.notice(&replica);
            self.follow_membership(&replica, options, tasks);
            while let Some(envelope) = self.self_inbox.pop_front() {
                replica.step(Input::Receive(envelope), &mut out);
                self.handle(&mut disk, &mut out);
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
                Some(envelope) = inputs.inbox.recv() => {
                    if let (Some(_), crate::core::Message::Accepted { slot, .. }) = (&self.metrics, &envelope.message) {
                        let through = self.voted.entry(envelope.from).or_default();
                        *through = (*through).max(slot.0 + 1);
                    }
                    replica.step(Input::Receive(envelope), &mut out);
                    self.handle(&mut disk, &mut out);
                }
                Some((id, address)) = inputs.introductions.recv() => self.introduced(&replica, tasks, id, address),
                Some(call) = inputs.calls.recv() => self.on_calls(&mut replica, &mut disk, &mut inputs.calls, call, &mut out),
                Some(control) = inputs.control.recv() => match control {
                    Control::Info(reply) => {
                        let _ = reply.send(info(&replica, options, disk.stats()));
                    }
                },
                // A changed rate or a jump moves every deadline: look again.
                _ = clock_changes.changed() => {}
                _ = metrics_tick.tick(), if self.metrics.is_some() => {
                    if let Some(metrics) = &self.metrics {
                        publish(&replica, &self.voted, metrics);
                    }
                }
                () = sleep_until(next_timer), if next_timer.is_some() => {
                    // Due by the same arithmetic that chose the wake-up (see `Clock::until`).
                    let due: Vec<Timer> = self
                        .timers
                        .iter()
                        .filter(|(_, at)| clock.until(**at).is_zero())
                        .map(|(timer, _)| *timer)
                        .collect();
                    for timer in due {
                        self.timers.remove(&timer);
                        replica.step(Input::Timeout(timer), &mut out);
                        self.handle(&mut disk, &mut out);
                    }
                }
            }
        };
        tasks.abort_all();
        drop(disk); // finishes the queued writes and stops the storage thread
        result
    }

    /// Steps the replica with `call` and every call queued behind it: the requests among them
    /// join one step.
    fn on_calls<F: FileSystem>(
        &mut self,
        replica: &mut Replica,
        disk: &mut Disk<F>,
        calls: &mut mpsc::Receiver<Call>,
        call: Call,
        out: &mut Vec<Output>,
    ) {
        let mut requests = Vec::new();
        let mut next = Some(call);
        while let Some(call) = next.take().or_else(|| calls.try_recv().ok()) {
            match call {
                Call::Request { request, reply } => {
                    self.waiting.insert(request.client, reply);
                    requests.push(request);
                }
                Call::Abandon(client) => {
                    self.waiting.remove(&client);
                    replica.step(Input::Abandon(client), out);
                    self.handle(disk, out);
                }
            }
            if requests.len() >= 4096 {
                break;
            }
        }
        if !requests.is_empty() {
            replica.step(Input::Requests(requests), out);
            self.handle(disk, out);
        }
    }

    /// Carries out a step's outputs as [`Schedule`] sorts them: timers and sends that vouch for
    /// nothing durable at once (a leader's Accepts travel while its own vote syncs); persists to
    /// the disk; the other sends and replies after the persists of this step and of every earlier
    /// step are durable.
    fn handle<F: FileSystem>(&mut self, disk: &mut Disk<F>, out: &mut Vec<Output>) {
        let schedule = Schedule::new(out.drain(..));
        for change in schedule.timers {
            match change {
                TimerChange::Set(timer) => {
                    let after = self.duration(timer);
                    self.timers.insert(timer, self.clock.deadline(after));
                }
                TimerChange::Cancel(timer) => {
                    self.timers.remove(&timer);
                }
            }
        }
        self.release_actions(schedule.immediately);
        if let Some(metrics) = &self.metrics {
            for persist in &schedule.persists {
                if let Persist::Accept { ballot, value, .. } = persist {
                    if ballot.node == self.me {
                        metrics.proposed(value.requests().len());
                    }
                }
            }
        }
        if !schedule.persists.is_empty() {
            let ticket = disk.submit(schedule.persists);
            self.unreleased.push_back((ticket, schedule.after_persists));
        } else if let Some((_, waiting)) = self.unreleased.back_mut() {
            waiting.extend(schedule.after_persists);
        } else {
            self.release_actions(schedule.after_persists);
        }
    }

    /// Logs what an operator wants to know of the replica: elected, stepped down, a new leader,
    /// recovery, snapshots sent and installed (one line each, at info; nothing per request).
    fn notice(&mut self, replica: &Replica) {
        use crate::core::Status;
        let counters = replica.counters();
        let now = Noticed {
            status: replica.status(),
            leader: replica.leader(),
            snapshots_sent: counters.snapshots_sent,
            snapshots_installed: counters.snapshots_installed,
        };
        let before = std::mem::replace(&mut self.noticed, now);
        if now == before {
            return;
        }
        let (me, ballot, slot) = (self.me, replica.promised(), replica.log().chosen_point().0);
        if now.status != before.status {
            match (before.status, now.status) {
                (_, Status::Leader) => {
                    // Votes of an earlier leadership say nothing of this one's progress.
                    self.voted.clear();
                    tracing::info!(node = %me, %ballot, slot, "elected leader in ballot {ballot}")
                }
                (Status::Leader, _) => {
                    tracing::info!(node = %me, %ballot, slot, "stepped down: now {}", now.status)
                }
                (_, Status::Candidate) => {
                    tracing::info!(node = %me, %ballot, slot, "campaigning for leadership")
                }
                (Status::Recovering, _) => {
                    tracing::info!(node = %me, %ballot, slot, "recovered its durable state from the peers: voting again")
                }
                (_, Status::Recovering) => {
                    tracing::warn!(node = %me, slot, "recovering its durable state from the peers")
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
                    tracing::info!(node = %me, %leader, %ballot, slot, "following leader {leader}")
                }
                None => tracing::info!(node = %me, %ballot, slot, "no leader known"),
            }
        }
        if now.snapshots_sent > before.snapshots_sent {
            tracing::info!(node = %me, slot, "sent a snapshot to a peer too far behind for the log");
        }
        if now.snapshots_installed > before.snapshots_installed {
            let applied = replica.log().applied().0;
            tracing::info!(node = %me, slot = applied, "installed a snapshot from a peer, up to slot {applied}");
        }
    }

    /// Dials the members the membership added and hangs up on those it removed.
    fn follow_membership(
        &mut self,
        replica: &Replica,
        options: &NodeOptions,
        tasks: &mut tokio::task::JoinSet<()>,
    ) {
        let membership = replica.membership();
        if membership.version == self.membership {
            return;
        }
        if self.membership != 0 || membership.version != 0 {
            let (voters, learners) = (ids(membership.voters), ids(membership.learners));
            tracing::info!(
                node = %self.me,
                version = membership.version,
                %voters,
                %learners,
                "membership version {}: voters {voters}, learners {learners}",
                membership.version
            );
        }
        self.membership = membership.version;
        let known = addresses(options, membership);
        for id in membership.members().iter().filter(|&id| id != self.me) {
            if let (false, Some(member)) = (self.outbound.contains_key(&id), known.get(&id)) {
                tracing::info!(node = %self.me, peer = %id, address = %member.peer, "dialling member {id} at {}", member.peer);
                let queue = (self.dialer)(member, tasks);
                self.outbound.insert(id, queue);
            }
        }
        for id in membership.removed.iter() {
            if self.outbound.remove(&id).is_some() {
                tracing::info!(node = %self.me, peer = %id, "member {id} left; closing its connection");
            }
        }
    }

    /// A peer dialled this node saying where it is reached: if this node has no way to reach it
    /// (it restarted knowing an older membership than the one that added the peer), it dials that
    /// address. Once its membership catches up, the membership's own view rules as before.
    fn introduced(
        &mut self,
        replica: &Replica,
        tasks: &mut tokio::task::JoinSet<()>,
        id: NodeId,
        address: String,
    ) {
        if id == self.me
            || address.is_empty()
            || self.outbound.contains_key(&id)
            || replica.membership().removed.contains(id)
        {
            return;
        }
        tracing::info!(node = %self.me, peer = %id, %address, "dialling {id} at {address}, the address its hello gave");
        let member = Member { id, client: String::new(), peer: address };
        let queue = (self.dialer)(&member, tasks);
        self.outbound.insert(id, queue);
    }

    /// Everything up to `ticket` is durable.
    fn release(&mut self, ticket: u64) {
        while self.unreleased.front().is_some_and(|(waiting, _)| *waiting <= ticket) {
            let (_, actions) = self.unreleased.pop_front().expect("checked");
            self.release_actions(actions);
        }
    }

    fn release_actions(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Send { to, envelope } if to == self.me => self.self_inbox.push_back(envelope),
                Action::Send { to, envelope } => {
                    if let Some(queue) = self.outbound.get(&to) {
                        // A full queue means the peer is unreachable or slow: drop, the core resends.
                        let _ = queue.try_send(envelope);
                    }
                }
                Action::Reply(response) => {
                    if let (Some(metrics), Err(_)) = (&self.metrics, &response.result) {
                        metrics.proposals_failed.inc();
                    }
                    if let Some(reply) = self.waiting.remove(&response.client) {
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
