//! The stateright actors: replicas that wrap `paxos_core::Replica` (the production code, stepped
//! through its real `step`) and clients that issue a bounded list of operations.

use paxos_core::{
    Action, Bytes, ClientId, ClusterId, Config, DurableState, Envelope, Input, NodeId, Operation, Outcome,
    Output, Persist, Replica, Request, Response, Schedule, Status, Timer, TimerChange,
};
use stateright::actor::{model_timeout, Actor, Id, Out};
use std::borrow::Cow;
use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The one cluster every model replica belongs to.
pub const CLUSTER: ClusterId = ClusterId(0x6d6f64656c);

/// The key every client writes and reads.
pub const KEY: &str = "x";

/// What travels between actors.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Msg {
    /// Between replicas (shared and digested: the network is cloned and hashed at every step).
    Peer(Digested<Envelope>),
    /// From a client to the replica it talks to (shared too: a message in flight is cloned with
    /// every state, and a request or response owns vectors).
    Request(Digested<Request>),
    /// From a replica to a client.
    Response(Digested<Response>),
    /// From a replica to itself: the write of its unsynced persists completes (see
    /// [`Unsynced`]). Delivered at any point of the run, like a real fsync's completion.
    Sync,
}

/// A value shared behind an `Arc` with its hash computed once.
///
/// The checker fingerprints every state it generates by hashing it whole, and clones it whole to
/// build each successor, while a transition changes one actor: so actor states and disks are
/// shared, and hash as a digest computed when a step produced them.
#[derive(Clone)]
pub struct Digested<T> {
    value: Arc<T>,
    digest: u64,
}

impl<T: Hash> Digested<T> {
    /// Wraps `value`, computing its digest.
    pub fn new(value: T) -> Digested<T> {
        // Fixed seeds: a digest must not change between runs (the checker's fingerprints do not).
        let digest = ahash::RandomState::with_seeds(0x7061, 0x786f, 0x736d, 0x6f64).hash_one(&value);
        Digested { value: Arc::new(value), digest }
    }

    /// The digest of the value.
    pub fn digest(&self) -> u64 {
        self.digest
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for Digested<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.value.fmt(f)
    }
}

impl<T> std::ops::Deref for Digested<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> Hash for Digested<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
    }
}

impl<T: PartialEq> PartialEq for Digested<T> {
    fn eq(&self, other: &Digested<T>) -> bool {
        self.digest == other.digest && (Arc::ptr_eq(&self.value, &other.value) || self.value == other.value)
    }
}

impl<T: Eq> Eq for Digested<T> {}

impl<T: Ord> PartialOrd for Digested<T> {
    fn partial_cmp(&self, other: &Digested<T>) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T: Ord> Ord for Digested<T> {
    fn cmp(&self, other: &Digested<T>) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

/// What a replica's disk holds: its durable state, plus counters the model keeps beside it (they
/// survive wipes, since they count them).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Saved {
    /// What the replica persisted.
    pub durable: DurableState,
    /// Restarts so far (bounded through `within_boundary`).
    pub restarts: u8,
    /// Storage wipes so far (bounded through `within_boundary`).
    pub wipes: u8,
}

/// The model's disk.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Disk {
    /// A replica's.
    Replica(Digested<Saved>),
    /// A client's: it only remembers that it started, so that a restarted client stays silent
    /// (a client that re-sent after a restart would fabricate violations).
    Client,
}

/// The key under which a restarting replica is offered [`Choice::Wipe`].
pub const WIPE: &str = "wipe";

/// A random choice offered to a restarting replica.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Choice {
    /// Its disk is lost: it restarts empty and must recover.
    Wipe,
}

/// A replica's state: the real replica, and the disk its persists built.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplicaState {
    /// The production replica.
    pub replica: Replica,
    /// Its disk (the same as the saved storage).
    pub saved: Digested<Saved>,
    /// Persists whose sync has not completed, and what waits for them (see [`Unsynced`]).
    pub unsynced: Option<Unsynced>,
}

/// Persists on their way to disk, as in the node's group commit: a crash loses them (the disk keeps
/// `saved`), and the sends and replies queued behind them leave only when the replica's
/// [`Msg::Sync`] is delivered. Meanwhile the replica keeps stepping, and the sends its core marks
/// [`Release::Immediately`](paxos_core::Release::Immediately) (a leader's Accepts) leave at once,
/// ahead of the persists: the freedom the node takes, checked here. Used for a leader's persists
/// and for those of any step that sends ahead of them (see `Node::execute`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Unsynced {
    /// In the order emitted.
    pub persists: Vec<Persist>,
    /// Sends and replies released by the sync, in the order emitted.
    pub held: Vec<Action>,
}

/// A client's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientState {
    /// Operations answered so far.
    pub done: usize,
    /// Whether this client stopped (it restarted, or finished).
    pub halted: bool,
}

/// An actor's state.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// A replica.
    Replica(Digested<ReplicaState>),
    /// A client.
    Client(ClientState),
}

/// One client operation, on the single key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientOp {
    /// Write a value unique to this client and operation.
    Put(char),
    /// Read.
    Get,
    /// The membership change the model explores (an administrator's request).
    Member(crate::Reconfiguration, u8),
}

/// The actors of the model.
#[derive(Clone, Debug)]
pub enum Node {
    /// A replica: the production core.
    Replica {
        /// Its configuration (membership, bounds, mutant).
        config: Config,
        /// Whether its election timer may fire (the bound on candidate leaders).
        candidate: bool,
        /// Wipes the whole model allows (a restarting replica may be wiped while fewer happened).
        wipes_max: u8,
        /// Whether some of its persists sync in a step of their own (see [`Unsynced`]): only
        /// where a crash may follow, since without one the atomic schedule shows the same.
        sync_deferred: bool,
        /// Whether its `Retransmit` timer is modelled (the model allows resends): the core's own
        /// resend of unanswered Prepares and Accepts, which on a FIFO network is how a message
        /// arrives after a later one from the same sender.
        retransmits: bool,
    },
    /// A client.
    Client {
        /// The replica it talks to.
        server: Id,
        /// Its operations, issued one after another.
        ops: Vec<ClientOp>,
    },
}

/// The replica id of actor `id`.
pub fn node_id(id: Id) -> NodeId {
    NodeId(u8::try_from(usize::from(id)).expect("at most 256 actors"))
}

/// The request a client sends for its `index`-th operation.
pub fn request(client: Id, index: usize, op: ClientOp) -> Request {
    let key = Bytes::from(KEY);
    let operation = match op {
        ClientOp::Put(value) => Operation::Put { key, value: Bytes::from(value.to_string()) },
        ClientOp::Get => Operation::Get { key },
        ClientOp::Member(reconfiguration, voters) => Operation::Member(reconfiguration.change(voters)),
    };
    Request {
        client: ClientId(usize::from(client) as u64),
        sequence: index as u64 + 1,
        operations: vec![operation],
    }
}

impl Node {
    /// Carries out a replica's outputs as [`Schedule`] sorts them, the way the node does: timers
    /// and the sends marked to leave at once, then the persists, then the rest once the persists
    /// are durable.
    ///
    /// Where a crash may follow, a leader's persists (its own votes), and those of any step that
    /// sends something ahead of its persists, go through [`Unsynced`] and become durable only when
    /// the replica's [`Msg::Sync`] is delivered, so that every order of the early sends, the later
    /// steps, the sync and a crash is explored. Every other step syncs at once,
    /// within the step (a stateright step is atomic): a schedule the node allows. It hides no
    /// early Accept (only leaders send them), and without a crash an unsynced persist always
    /// lands: what deferring it changes then is only when the leader hears its own messages, which
    /// the loopback reduction below fixes anyway. Two more reductions keep the state space small,
    /// both documented in the README:
    /// - messages a replica sends itself are delivered at once, in order, within the same step
    ///   (a schedule the runtime allows: its loopback is delivered right after the persists);
    /// - timers other than `Election` and `Retransmit` are not modelled: commit knowledge travels
    ///   on Accepts, and read rounds start at once, so heartbeats would only grow the state space;
    ///   `Retransmit` is armed only where the bounds allow resends (see `ModelConfig::resends`).
    fn execute(&self, state: &mut ReplicaState, outputs: Vec<Output>, o: &mut Out<Self>) {
        self.carry_out(state, Schedule::new(outputs), VecDeque::new(), o);
    }

    /// Carries out `schedule`, then steps the replica with each message to itself in `loopback`
    /// and carries out its outputs, until none is left.
    fn carry_out(
        &self,
        state: &mut ReplicaState,
        mut schedule: Schedule,
        mut loopback: VecDeque<Envelope>,
        o: &mut Out<Self>,
    ) {
        let mut durable: Option<DurableState> = None;
        loop {
            let early = schedule.sends_ahead_of_persists();
            for change in schedule.timers {
                self.change_timer(change, o);
            }
            for action in schedule.immediately {
                self.perform(state.replica.node(), action, &mut loopback, o);
            }
            let defer = matches!(self, Node::Replica { sync_deferred: true, .. })
                && (early || state.replica.status() == Status::Leader)
                && !schedule.persists.is_empty();
            if state.unsynced.is_some() || defer {
                let unsynced = state.unsynced.get_or_insert_with(|| {
                    o.send(Id::from(usize::from(state.replica.node().0)), Msg::Sync);
                    Unsynced::default()
                });
                unsynced.persists.extend(schedule.persists);
                unsynced.held.extend(schedule.after_persists);
            } else {
                for record in &schedule.persists {
                    durable.get_or_insert_with(|| state.saved.durable.clone()).apply(record);
                }
                for action in schedule.after_persists {
                    self.perform(state.replica.node(), action, &mut loopback, o);
                }
            }
            let Some(envelope) = loopback.pop_front() else { break };
            let mut outputs = Vec::new();
            state.replica.step(Input::Receive(envelope), &mut outputs);
            schedule = Schedule::new(outputs);
        }
        if let Some(durable) = durable {
            self.save(state, durable, o);
        }
    }

    /// The replica's sync completes: its unsynced persists are durable, and what waited leaves.
    fn sync(&self, state: &mut ReplicaState, o: &mut Out<Self>) {
        let Some(unsynced) = state.unsynced.take() else { return };
        let mut durable = state.saved.durable.clone();
        for record in &unsynced.persists {
            durable.apply(record);
        }
        self.save(state, durable, o);
        let mut loopback = VecDeque::new();
        for action in unsynced.held {
            self.perform(state.replica.node(), action, &mut loopback, o);
        }
        self.carry_out(state, Schedule::default(), loopback, o);
    }

    fn save(&self, state: &mut ReplicaState, durable: DurableState, o: &mut Out<Self>) {
        state.saved =
            Digested::new(Saved { durable, restarts: state.saved.restarts, wipes: state.saved.wipes });
        o.save(Disk::Replica(state.saved.clone()));
    }

    fn change_timer(&self, change: TimerChange, o: &mut Out<Self>) {
        let candidate = matches!(self, Node::Replica { candidate: true, .. });
        let retransmits = matches!(self, Node::Replica { retransmits: true, .. });
        match change {
            TimerChange::Set(Timer::Election) if candidate => o.set_timer(Timer::Election, model_timeout()),
            TimerChange::Cancel(Timer::Election) => o.cancel_timer(Timer::Election),
            TimerChange::Set(Timer::Retransmit) if retransmits => {
                o.set_timer(Timer::Retransmit, model_timeout())
            }
            TimerChange::Cancel(Timer::Retransmit) if retransmits => o.cancel_timer(Timer::Retransmit),
            TimerChange::Set(_) | TimerChange::Cancel(_) => {}
        }
    }

    fn perform(&self, me: NodeId, action: Action, loopback: &mut VecDeque<Envelope>, o: &mut Out<Self>) {
        match action {
            Action::Send { to, envelope } if to == me => loopback.push_back(envelope),
            Action::Send { to, envelope } => {
                o.send(Id::from(usize::from(to.0)), Msg::Peer(Digested::new(envelope)))
            }
            Action::Reply(response) => {
                o.send(Id::from(response.client.0 as usize), Msg::Response(Digested::new(response)))
            }
        }
    }

    fn boot(&self, config: &Config, saved: Saved, o: &mut Out<Self>) -> State {
        let replica = Replica::new(config.clone(), saved.durable.clone(), u64::from(saved.wipes))
            .expect("valid configuration");
        let saved = Digested::new(saved);
        o.save(Disk::Replica(saved.clone()));
        let mut state = ReplicaState { replica, saved, unsynced: None };
        let mut outputs = Vec::new();
        state.replica.start(&mut outputs);
        self.execute(&mut state, outputs, o);
        State::Replica(Digested::new(state))
    }
}

impl Actor for Node {
    type Msg = Msg;
    type Timer = Timer;
    type State = State;
    type Storage = Disk;
    type Random = Choice;

    fn on_start(&self, id: Id, storage: &Option<Disk>, o: &mut Out<Self>) -> State {
        match self {
            Node::Replica { config, wipes_max, .. } => match storage {
                // First start: a member of a cluster created by init.
                None => self.boot(
                    config,
                    Saved { durable: DurableState::initial(CLUSTER, config.node), restarts: 0, wipes: 0 },
                    o,
                ),
                Some(Disk::Replica(saved)) => {
                    if saved.wipes < *wipes_max {
                        o.choose_random(WIPE, vec![Choice::Wipe]);
                    }
                    let saved = Saved {
                        durable: saved.durable.clone(),
                        restarts: saved.restarts + 1,
                        wipes: saved.wipes,
                    };
                    self.boot(config, saved, o)
                }
                Some(Disk::Client) => unreachable!("a replica's disk is a replica's"),
            },
            Node::Client { server, ops } => {
                if storage.is_some() {
                    return State::Client(ClientState { done: 0, halted: true });
                }
                o.save(Disk::Client);
                o.send(*server, Msg::Request(Digested::new(request(id, 0, ops[0]))));
                State::Client(ClientState { done: 0, halted: false })
            }
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<State>, _src: Id, msg: Msg, o: &mut Out<Self>) {
        match (self, msg) {
            (Node::Replica { .. }, Msg::Peer(envelope)) => {
                self.step(state, Input::Receive(Envelope::clone(&envelope)), o)
            }
            (Node::Replica { .. }, Msg::Request(request)) => {
                self.step(state, Input::Requests(vec![Request::clone(&request)]), o)
            }
            (Node::Replica { .. }, Msg::Sync) => {
                let State::Replica(current) = state.as_ref() else { return };
                if current.unsynced.is_none() {
                    return;
                }
                let mut next = ReplicaState::clone(current);
                self.sync(&mut next, o);
                *state.to_mut() = State::Replica(Digested::new(next));
            }
            (Node::Client { server, ops }, Msg::Response(response)) => {
                let State::Client(client) = state.as_ref() else { return };
                if client.halted || response.sequence != client.done as u64 + 1 {
                    return;
                }
                let State::Client(client) = state.to_mut() else { return };
                client.done += 1;
                if client.done < ops.len() {
                    o.send(*server, Msg::Request(Digested::new(request(id, client.done, ops[client.done]))));
                } else {
                    client.halted = true;
                }
            }
            _ => {}
        }
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<State>, timer: &Timer, o: &mut Out<Self>) {
        if let Node::Replica { .. } = self {
            self.step(state, Input::Timeout(*timer), o);
        }
    }

    fn on_random(&self, _id: Id, state: &mut Cow<State>, random: &Choice, o: &mut Out<Self>) {
        let (Node::Replica { config, .. }, Choice::Wipe) = (self, random) else { return };
        let State::Replica(replica) = state.as_ref() else { return };
        let saved = Saved {
            durable: DurableState::lost(),
            restarts: replica.saved.restarts,
            wipes: replica.saved.wipes + 1,
        };
        *state.to_mut() = self.boot(config, saved, o);
    }

    fn name(&self) -> String {
        match self {
            Node::Replica { .. } => "replica".into(),
            Node::Client { .. } => "client".into(),
        }
    }
}

impl Node {
    /// Steps the production replica with one input. A step that changes nothing and emits
    /// nothing leaves the state borrowed, so stateright prunes it.
    fn step(&self, state: &mut Cow<State>, input: Input, o: &mut Out<Self>) {
        let State::Replica(current) = state.as_ref() else { return };
        let mut next = ReplicaState::clone(current);
        let mut outputs = Vec::new();
        next.replica.step(input, &mut outputs);
        if outputs.is_empty() && next.replica == current.replica {
            return;
        }
        self.execute(&mut next, outputs, o);
        *state.to_mut() = State::Replica(Digested::new(next));
    }
}

/// What a response means for the register the clients share.
pub fn outcome_value(response: &Response) -> Option<Option<char>> {
    match response.result.as_ref().ok()?.first()? {
        Outcome::Value(value) => {
            Some(value.as_ref().and_then(|bytes| bytes.first().map(|&byte| byte as char)))
        }
        _ => None,
    }
}
