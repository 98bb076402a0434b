//! The node: one task owns the [`Replica`] and steps it with peer messages, client requests and
//! timers; the storage makes persists durable (group commit); sends and replies of a step leave
//! only once the step's persists (and every earlier step's) are durable.

use super::clients::{self, Session};
use super::clock::Clock;
use super::env::Net;
use super::peer::{self, PeerOptions};
use super::resp::Limits;
use crate::core::{
    Action, Ballot, ClientId, ClusterId, Config, Envelope, Input, NodeId, Output, Persist, Replica, Request,
    Response, Schedule, Slot, Timer, TimerChange,
};
use crate::storage::fs::FileSystem;
use crate::storage::group::{Committer, Durable};
use crate::storage::{Storage, StorageError, StorageOptions, StorageStats};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// One member of a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// Its id (1..).
    pub id: NodeId,
    /// Where it serves clients (host:port).
    pub client: String,
    /// Where it listens to its peers (host:port).
    pub peer: String,
}

/// A cluster: its id and members. Written by `paxos init` into every node's data directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// The cluster id.
    pub cluster: ClusterId,
    /// The members.
    pub members: Vec<Member>,
}

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
    /// The cluster.
    pub cluster: ClusterConfig,
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
    /// Print what the node notices (recovery, cut unfinished writes, refused connections) to
    /// standard error.
    pub log: bool,
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

/// A client connection's request to the node.
#[derive(Debug)]
pub enum Call {
    /// Execute this request and answer on `reply`.
    Request {
        /// The request.
        request: Request,
        /// Where the response goes.
        reply: oneshot::Sender<Response>,
    },
    /// The session gave up waiting (its outcome is unknown to the client).
    Abandon(ClientId),
}

/// Questions about the node.
#[derive(Debug)]
pub enum Control {
    /// What `INFO` shows.
    Info(oneshot::Sender<Info>),
}

/// The node's status, for `INFO` and `CLUSTER NODES`.
#[derive(Clone, Debug)]
pub struct Info {
    /// This node.
    pub node: NodeId,
    /// The cluster.
    pub cluster: ClusterId,
    /// leader, follower, candidate or recovering.
    pub role: String,
    /// The leader this node knows of.
    pub leader: Option<NodeId>,
    /// The ballot it leads or campaigns with (none on a follower: its `promised` ballot is the one it
    /// follows, or a newer candidate's).
    pub ballot: Option<Ballot>,
    /// The highest ballot it promised.
    pub promised: Ballot,
    /// Every slot below it is known chosen here.
    pub committed: Slot,
    /// Every slot below it is applied here.
    pub applied: Slot,
    /// This node's incarnation.
    pub incarnation: u64,
    /// Keys held.
    pub keys: usize,
    /// Requests of this node's clients waiting for a response.
    pub pending: usize,
    /// The members.
    pub members: Vec<Member>,
    /// Storage counters.
    pub storage: StorageStats,
}

impl Info {
    /// The text of `INFO`.
    pub fn render(&self) -> String {
        let leader = self.leader.map_or_else(|| "none".to_string(), |leader| leader.to_string());
        let ballot = self.ballot.map_or_else(|| "none".to_string(), |ballot| ballot.to_string());
        format!(
            "# Replication\r\nrole:{}\r\nnode:{}\r\nleader:{leader}\r\nballot:{ballot}\r\npromised:{}\r\n\
             committed_slot:{}\r\napplied_slot:{}\r\nincarnation:{}\r\ncluster_id:{}\r\nmembers:{}\r\n\
             # Keyspace\r\nkeys:{}\r\npending_requests:{}\r\n\
             # Storage\r\nwal_records:{}\r\nwal_bytes:{}\r\nwal_syncs:{}\r\nsnapshots:{}\r\n",
            self.role,
            self.node,
            self.promised,
            self.committed.0,
            self.applied.0,
            self.incarnation,
            self.cluster,
            self.members.len(),
            self.keys,
            self.pending,
            self.storage.records,
            self.storage.bytes,
            self.storage.syncs,
            self.storage.snapshots,
        )
    }
}

enum Disk<F: FileSystem> {
    Thread(Committer),
    Inline { storage: Box<Storage<F>>, ticket: u64, reports: mpsc::UnboundedSender<Durable> },
}

impl<F: FileSystem> Disk<F> {
    fn submit(&mut self, persists: Vec<Persist>) -> u64 {
        match self {
            Disk::Thread(committer) => committer.submit(persists),
            Disk::Inline { storage, ticket, reports } => {
                *ticket += 1;
                let outcome = storage.append(&persists).and_then(|()| storage.sync());
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
    let logging = options.log;
    macro_rules! log {
        ($($argument:tt)*) => {
            if logging {
                eprintln!($($argument)*);
            }
        };
    }
    let me = options.node;
    let members: Vec<NodeId> = options.cluster.members.iter().map(|member| member.id).collect();
    if !members.contains(&me) {
        return Err(NodeError::Config(format!(
            "node {me} is not a member of cluster {}",
            options.cluster.cluster
        )));
    }
    let mut rng = SmallRng::seed_from_u64(options.seed);
    let (storage, durable, recovery) = Storage::open(fs, &options.data_dir, options.storage.clone())?;
    if let Some((path, offset, bytes, reason)) = &recovery.truncated {
        log!(
            "node {me}: cut an unfinished write of {bytes} bytes at byte {offset} of {}: {reason}",
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
    if durable.joined.is_none() {
        log!("node {me}: no durable state in {}: recovering it from the peers", options.data_dir.display());
    }
    let mut config = options.core.clone();
    config.node = me;
    config.members = members.clone();
    let mut replica =
        Replica::new(config, durable, rng.random()).map_err(|error| NodeError::Config(error.to_string()))?;

    let bind = |what: &'static str, addr: SocketAddr| {
        let net = net.clone();
        async move { net.bind(addr).await.map_err(|source| NodeError::Bind { what, addr, source }) }
    };
    let peer_listener = bind("peers", options.peer_bind).await?;
    let client_listener = bind("clients", options.client_bind).await?;

    let (durable_tx, mut durable_rx) = mpsc::unbounded_channel::<Durable>();
    let mut disk = match options.disk {
        DiskMode::Thread => {
            let reports = durable_tx.clone();
            let committer = Committer::start(storage, move |report| {
                let _ = reports.send(report);
            })
            .map_err(|error| NodeError::Config(format!("cannot start the storage thread: {error}")))?;
            Disk::Thread(committer)
        }
        DiskMode::Inline => {
            Disk::Inline { storage: Box::new(storage), ticket: 0, reports: durable_tx.clone() }
        }
    };

    let (calls_tx, mut calls_rx) = mpsc::channel::<Call>(65_536);
    let (control_tx, mut control_rx) = mpsc::channel::<Control>(256);
    let (inbox_tx, mut inbox_rx) = mpsc::channel::<Envelope>(65_536);
    let cluster = options.cluster.cluster;
    let mut tasks = tokio::task::JoinSet::new();

    // Dial every peer.
    let mut outbound: BTreeMap<NodeId, mpsc::Sender<Envelope>> = BTreeMap::new();
    for member in options.cluster.members.iter().filter(|member| member.id != me) {
        let (queue_tx, queue_rx) = mpsc::channel(options.peer.queue);
        outbound.insert(member.id, queue_tx);
        let mut jitter_rng = SmallRng::seed_from_u64(rng.random());
        let jitter = move |base: Duration| base + base.mul_f64(jitter_rng.random_range(0.0..0.5));
        N::spawn_in(
            &mut tasks,
            peer::outbound(
                net.clone(),
                (cluster, me, member.id),
                member.peer.clone(),
                options.peer,
                queue_rx,
                jitter,
            ),
        );
    }
    // Accept peers.
    {
        let (members, peer_options, inbox) = (members.clone(), options.peer, inbox_tx.clone());
        N::spawn_in(&mut tasks, async move {
            loop {
                let Ok((stream, addr)) = N::accept(&peer_listener).await else { continue };
                let (members, inbox) = (members.clone(), inbox.clone());
                N::spawn(async move {
                    if let Err(error) =
                        peer::inbound(stream, (cluster, me), members, peer_options, inbox).await
                    {
                        if !matches!(error, peer::InboundError::Io(_)) {
                            log!("node {me}: peer connection from {addr} closed: {error}");
                        }
                    }
                });
            }
        });
    }
    // Accept clients; each connection is a session with an id no other node or boot uses.
    {
        let boot: u64 = rng.random::<u64>() & 0xFF_FFFF;
        let next = Arc::new(AtomicU64::new(0));
        let session = Session {
            calls: calls_tx.clone(),
            control: control_tx.clone(),
            limits: options.limits,
            deadline: options.timing.request_deadline,
            operations_max: options.operations_max,
            value_bytes: options.value_bytes,
        };
        N::spawn_in(&mut tasks, async move {
            loop {
                let Ok((stream, addr)) = N::accept(&client_listener).await else { continue };
                let counter = next.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF;
                let client = ClientId((u64::from(me.0) << 56) | (boot << 32) | counter);
                let session = session.clone();
                N::spawn(async move {
                    if let Err(error) = clients::serve(stream, client, session).await {
                        log!("node {me}: client {addr} closed: {error}");
                    }
                });
            }
        });
    }
    drop(calls_tx);
    drop(control_tx);
    drop(inbox_tx);

    let timing = options.timing;
    let clock = options.clock.clone().unwrap_or_default();
    let mut clock_changes = clock.changes();
    let mut pause = options.pause.clone();
    let mut state = Loop {
        clock: clock.clone(),
        me,
        timers: BTreeMap::new(),
        unreleased: VecDeque::new(),
        self_inbox: VecDeque::new(),
        waiting: BTreeMap::new(),
        outbound,
        rng,
        timing,
    };
    let mut out = Vec::new();
    replica.start(&mut out);
    state.handle(&mut disk, &mut out);
    tokio::pin!(shutdown);
    let observe = |replica: &Replica| {
        if let Some(observer) = &options.observer {
            let now = Observed {
                leader: replica.status() == crate::core::Status::Leader,
                ballot: replica.ballot(),
                committed: replica.log().chosen_point(),
                applied: replica.log().applied(),
                recovering: replica.status() == crate::core::Status::Recovering,
            };
            observer.send_if_modified(|seen| std::mem::replace(seen, now) != now);
        }
    };
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
        observe(&replica);
        while let Some(envelope) = state.self_inbox.pop_front() {
            replica.step(Input::Receive(envelope), &mut out);
            state.handle(&mut disk, &mut out);
        }
        let next_timer =
            state.timers.values().copied().min_by(f64::total_cmp).map(|local| clock.instant_of(local));
        tokio::select! {
            biased;
            () = &mut shutdown => break Ok(()),
            Some(report) = durable_rx.recv() => match report {
                Ok(ticket) => state.release(ticket),
                Err(error) => break Err(NodeError::StorageFailed(error)),
            },
            Some(envelope) = inbox_rx.recv() => {
                replica.step(Input::Receive(envelope), &mut out);
                state.handle(&mut disk, &mut out);
            }
            Some(call) = calls_rx.recv() => {
                // Every request queued meanwhile joins this step.
                let mut requests = Vec::new();
                let mut next = Some(call);
                while let Some(call) = next.take().or_else(|| calls_rx.try_recv().ok()) {
                    match call {
                        Call::Request { request, reply } => {
                            state.waiting.insert(request.client, reply);
                            requests.push(request);
                        }
                        Call::Abandon(client) => {
                            state.waiting.remove(&client);
                            replica.step(Input::Abandon(client), &mut out);
                            state.handle(&mut disk, &mut out);
                        }
                    }
                    if requests.len() >= 4096 {
                        break;
                    }
                }
                if !requests.is_empty() {
                    replica.step(Input::Requests(requests), &mut out);
                    state.handle(&mut disk, &mut out);
                }
            }
            Some(control) = control_rx.recv() => match control {
                Control::Info(reply) => {
                    let _ = reply.send(info(&replica, &options.cluster, disk.stats()));
                }
            },
            // A changed rate or a jump moves every deadline: look again.
            _ = clock_changes.changed() => {}
            () = sleep_until(next_timer), if next_timer.is_some() => {
                // Due by the same arithmetic that chose the wake-up (see `Clock::until`).
                let due: Vec<Timer> = state
                    .timers
                    .iter()
                    .filter(|(_, at)| clock.until(**at).is_zero())
                    .map(|(timer, _)| *timer)
                    .collect();
                for timer in due {
                    state.timers.remove(&timer);
                    replica.step(Input::Timeout(timer), &mut out);
                    state.handle(&mut disk, &mut out);
                }
            }
        }
    };
    tasks.abort_all();
    drop(disk); // finishes the queued writes and stops the storage thread
    result
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn info(replica: &Replica, cluster: &ClusterConfig, storage: StorageStats) -> Info {
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
        members: cluster.members.clone(),
        storage,
    }
}

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
    rng: SmallRng,
    timing: Timing,
}

impl Loop {
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
        if !schedule.persists.is_empty() {
            let ticket = disk.submit(schedule.persists);
            self.unreleased.push_back((ticket, schedule.after_persists));
        } else if let Some((_, waiting)) = self.unreleased.back_mut() {
            waiting.extend(schedule.after_persists);
        } else {
            self.release_actions(schedule.after_persists);
        }
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
