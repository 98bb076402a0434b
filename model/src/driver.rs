//! A lean driver for the model's stateright actors: the semantics of stateright's `ActorModel`
//! (the same actions, the same order, the same pruning, the same state identity), with a state
//! container that is cheap to clone, drop and fingerprint.
//!
//! Why: the checker clones the whole system state for every successor it generates, drops it when
//! the successor was seen before, and hashes it to look it up. In `ActorModel` that container is a
//! vector of `Arc`ed actor states, a B-tree of one `VecDeque` per FIFO channel, a hash set of timers
//! per actor (hashed order-independently), a map of random choices per actor, and vectors of crash
//! flags and disks: about twenty allocations per successor, which was 40% of the profile. Here the
//! network is one sorted vector, the timers, crash flags and offered choices are bit sets, and the
//! actor states are the (already shared and digested) states themselves. And a successor is not
//! even cloned until something reads it: it is its parent's vectors plus the step's change, with a
//! digest moved term by term (see [`World`]), so a successor seen before costs its step, its bounds
//! and one hash. And the step itself is remembered: an actor's step is a function of its state and
//! input, and the same few thousand local steps recur across millions of global states (see
//! `Memo`).
//!
//! The actors are unchanged ([`Node`] implements stateright's `Actor`, and is driven through its
//! `on_start`, `on_msg`, `on_timeout` and `on_random` with stateright's `Out`), and so are the
//! actions ([`Action`] is stateright's `ActorModelAction`). The smoke tier asserts the unique state
//! counts that `ActorModel` explored for the same bounds, and `tests/driver.rs` compares the two
//! drivers' state spaces directly.
//!
//! What it supports is what the model uses: a network FIFO or unordered without duplication, that
//! loses at most [`ModelConfig::losses`] messages; crashes bounded by how many actors are down at
//! once; the `Election` timer, and the `Retransmit` timer fired at most [`ModelConfig::resends`]
//! times; one random choice, the storage wipe. (The two budgets are counted in the [`History`]:
//! `ActorModel` has no bound on either, so `tests/driver.rs` compares the two without them.)

use crate::actor::{Choice, Disk, Msg, Node, State, WIPE};
use crate::{History, ModelConfig, NetworkKind};
use paxos_core::Timer;
use stateright::actor::{Actor, ActorModelAction, Command, Envelope, Id, Out};
use stateright::{Model, Property};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// The actions: stateright's own.
pub type Action = ActorModelAction<Msg, Timer, Choice>;

/// The system state: every actor's state and disk and the messages in flight (the [`Body`], which
/// a `World` dereferences to), the armed timers, the crashed actors, the offered wipes, and the
/// auxiliary history.
///
/// A successor is made as a change to its predecessor's body, and its body is built from the two
/// only when it is first read: most successors the checker generates were seen before (three in
/// four here) and are dropped unread, after `within_boundary` (which reads the change through
/// [`World::actor_state`] and [`World::storage`]) and the fingerprint (which hashes only the
/// state's digest, a sum of one term per part that the change keeps up to date: see the `digest`
/// module). Reading a field of the body (through `Deref`) builds it.
#[derive(Clone)]
pub struct World {
    /// Bit `i`: actor `i`'s election timer is armed; bit `32 + i`: its retransmit timer.
    pub timers: u64,
    /// Bit `i`: actor `i` is down.
    pub crashed: u64,
    /// Bit `i`: actor `i` is offered the choice of losing its disk.
    pub wipes_offered: u64,
    /// The auxiliary history (client operations, leaders so far).
    pub history: History,
    /// The wrapping sum of one [`digest`] term per part of the state.
    digest: u64,
    /// Whether the network is FIFO (where a send goes within its channel, and what its digest
    /// term counts).
    ordered: bool,
    contents: Contents,
}

/// The parts of a [`World`] that are vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Body {
    /// Each actor's state.
    pub actor_states: Vec<State>,
    /// Messages in flight as (source, destination, message), sorted by channel (source, then
    /// destination) and, within a channel, in the order sent (FIFO network) or by message
    /// (unordered network, where a channel is a multiset): one canonical vector per state.
    pub network: Vec<(Id, Id, Msg)>,
    /// Each actor's disk, if it saved one.
    pub actor_storages: Vec<Option<Disk>>,
}

#[derive(Clone)]
enum Contents {
    Built(Arc<Body>),
    /// `change` made to `parent`, built into `built` when first read.
    Deferred {
        parent: Arc<Body>,
        change: Change,
        built: OnceLock<Arc<Body>>,
    },
}

/// What one step changed in a body, in the order it is applied.
#[derive(Clone)]
struct Change {
    /// The position in the parent's network of the message delivered.
    taken: Option<usize>,
    /// The actor's new state, if the step changed it.
    actor: Option<(usize, State)>,
    /// The actor's disk, if the step saved one.
    disk: Option<(usize, Disk)>,
    /// Messages sent, in the order sent.
    sends: Vec<(Id, Id, Msg)>,
}

impl Change {
    fn apply(&self, parent: &Body, ordered: bool) -> Body {
        let mut body = parent.clone();
        if let Some(position) = self.taken {
            body.network.remove(position);
        }
        if let Some((index, state)) = &self.actor {
            body.actor_states[*index] = state.clone();
        }
        if let Some((index, disk)) = &self.disk {
            body.actor_storages[*index] = Some(disk.clone());
        }
        for (src, dst, msg) in &self.sends {
            let position = insertion_point(&body.network, ordered, *src, *dst, msg);
            body.network.insert(position, (*src, *dst, msg.clone()));
        }
        body
    }
}

/// Where a message sent from `src` to `dst` goes in a network vector: after the last of its channel
/// (FIFO), or in message order within its channel (unordered).
fn insertion_point(network: &[(Id, Id, Msg)], ordered: bool, src: Id, dst: Id, msg: &Msg) -> usize {
    if ordered {
        network.partition_point(|(s, d, _)| (*s, *d) <= (src, dst))
    } else {
        network.partition_point(|(s, d, m)| (*s, *d, m) <= (src, dst, msg))
    }
}

/// The positions in a network vector of the channel from `src` to `dst`.
fn channel(network: &[(Id, Id, Msg)], src: Id, dst: Id) -> std::ops::Range<usize> {
    let start = network.partition_point(|(s, d, _)| (*s, *d) < (src, dst));
    start..network.partition_point(|(s, d, _)| (*s, *d) <= (src, dst))
}

impl World {
    fn built(body: Body, flags: (u64, u64, u64), history: History, ordered: bool) -> World {
        let (timers, crashed, wipes_offered) = flags;
        let digest = digest::of(&body, flags, &history, ordered);
        World {
            timers,
            crashed,
            wipes_offered,
            history,
            digest,
            ordered,
            contents: Contents::Built(Arc::new(body)),
        }
    }

    /// The body, built from the parent's and the change on the first call.
    pub fn body(&self) -> &Body {
        self.shared_body()
    }

    fn shared_body(&self) -> &Arc<Body> {
        match &self.contents {
            Contents::Built(body) => body,
            Contents::Deferred { parent, change, built } => built.get_or_init(|| {
                let body = Arc::new(change.apply(parent, self.ordered));
                let flags = (self.timers, self.crashed, self.wipes_offered);
                debug_assert_eq!(
                    self.digest,
                    digest::of(&body, flags, &self.history, self.ordered),
                    "a change keeps the digest of the state it makes"
                );
                body
            }),
        }
    }

    /// The digest the fingerprint hashes, as the changes that made this state kept it.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// The digest computed from scratch, from the built body (for the tests: it must equal
    /// [`World::digest`]).
    pub fn digest_recomputed(&self) -> u64 {
        let flags = (self.timers, self.crashed, self.wipes_offered);
        digest::of(self.body(), flags, &self.history, self.ordered)
    }

    /// Actor `index`'s state (without building the body).
    pub fn actor_state(&self, index: usize) -> &State {
        match &self.contents {
            Contents::Built(body) => &body.actor_states[index],
            Contents::Deferred { parent, change, .. } => match &change.actor {
                Some((changed, state)) if *changed == index => state,
                _ => &parent.actor_states[index],
            },
        }
    }

    /// Actor `index`'s disk (without building the body).
    pub fn storage(&self, index: usize) -> Option<&Disk> {
        match &self.contents {
            Contents::Built(body) => body.actor_storages[index].as_ref(),
            Contents::Deferred { parent, change, .. } => match &change.disk {
                Some((changed, disk)) if *changed == index => Some(disk),
                _ => parent.actor_storages[index].as_ref(),
            },
        }
    }

    /// How many actors there are.
    pub fn actor_count(&self) -> usize {
        match &self.contents {
            Contents::Built(body) => body.actor_states.len(),
            Contents::Deferred { parent, .. } => parent.actor_states.len(),
        }
    }

    /// Whether actor `index` is down.
    pub fn is_crashed(&self, index: usize) -> bool {
        self.crashed & (1 << index) != 0
    }

    /// Actors down now.
    pub fn crashed_count(&self) -> usize {
        self.crashed.count_ones() as usize
    }
}

impl std::ops::Deref for World {
    type Target = Body;

    fn deref(&self) -> &Body {
        self.body()
    }
}

impl Hash for World {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.digest);
    }
}

impl PartialEq for World {
    fn eq(&self, other: &World) -> bool {
        self.digest == other.digest
            && (self.timers, self.crashed, self.wipes_offered)
                == (other.timers, other.crashed, other.wipes_offered)
            && self.history == other.history
            && self.body() == other.body()
    }
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = self.body();
        f.debug_struct("World")
            .field("actor_states", &body.actor_states)
            .field("network", &body.network)
            .field("timers", &self.timers)
            .field("crashed", &self.crashed)
            .field("wipes_offered", &self.wipes_offered)
            .field("actor_storages", &body.actor_storages)
            .field("history", &self.history)
            .finish()
    }
}

/// The digest of a state, and how a change moves it. It is the wrapping sum of one term per part:
/// each actor's state, each saved disk, each message in flight (with its channel and, on a FIFO
/// network, its place in the channel), and one for the bit sets and the history together. A step
/// changes a few terms (the stepping actor's, its disk's, the messages of the channels it took from
/// and sent on), so the successor's digest is its parent's with those terms replaced, without
/// hashing the rest, as Zobrist hashing does for board positions. Each term is a strong mix of a
/// value already digested ([`crate::actor::Digested`]) with where it sits, so sums of different
/// states collide no more often than 64-bit hashes do.
mod digest {
    use super::Body;
    use crate::actor::{Disk, Msg, State};
    use crate::History;
    use stateright::actor::Id;

    /// The finaliser of MurmurHash3: a bijection of `u64` in which every input bit flips each
    /// output bit with probability about one half.
    fn mix(mut x: u64) -> u64 {
        x ^= x >> 33;
        x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
        x ^= x >> 33;
        x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        x ^ (x >> 33)
    }

    fn term(place: u64, value: u64) -> u64 {
        mix(value ^ mix(place))
    }

    pub(super) fn state(index: usize, state: &State) -> u64 {
        let value = match state {
            State::Replica(replica) => replica.digest(),
            State::Client(client) => mix((client.done as u64) << 1 | u64::from(client.halted)),
        };
        term(1 << 56 | index as u64, value)
    }

    pub(super) fn disk(index: usize, disk: Option<&Disk>) -> u64 {
        match disk {
            None => 0,
            Some(Disk::Replica(saved)) => term(2 << 56 | index as u64, saved.digest()),
            Some(Disk::Client) => term(3 << 56 | index as u64, 0),
        }
    }

    /// A message from `src` to `dst` at `place` in its channel (0 on an unordered network, where a
    /// channel is a multiset).
    pub(super) fn message(src: Id, dst: Id, place: usize, msg: &Msg) -> u64 {
        let (kind, value) = match msg {
            Msg::Peer(envelope) => (1, envelope.digest()),
            Msg::Request(request) => (2, request.digest()),
            Msg::Response(response) => (3, response.digest()),
            Msg::Sync => (4, 0),
        };
        let key = 4 << 56
            | kind << 48
            | (usize::from(src) as u64) << 32
            | (usize::from(dst) as u64) << 16
            | place as u64;
        term(key, value)
    }

    pub(super) fn rest(flags: (u64, u64, u64), history: &History) -> u64 {
        let (timers, crashed, wipes_offered) = flags;
        let value = mix(mix(mix(history.0.digest() ^ timers) ^ crashed) ^ wipes_offered);
        term(5 << 56, value)
    }

    /// The digest of a whole state.
    pub(super) fn of(body: &Body, flags: (u64, u64, u64), history: &History, ordered: bool) -> u64 {
        let mut sum = rest(flags, history);
        for (index, actor) in body.actor_states.iter().enumerate() {
            sum = sum.wrapping_add(state(index, actor));
        }
        for (index, stored) in body.actor_storages.iter().enumerate() {
            sum = sum.wrapping_add(disk(index, stored.as_ref()));
        }
        let mut place = 0;
        for (position, (src, dst, msg)) in body.network.iter().enumerate() {
            let same_channel =
                position > 0 && (body.network[position - 1].0, body.network[position - 1].1) == (*src, *dst);
            place = if same_channel { place + 1 } else { 0 };
            sum = sum.wrapping_add(message(*src, *dst, if ordered { place } else { 0 }, msg));
        }
        sum
    }
}

/// What one actor's step did, in the driver's terms: its new state (none if the step left it
/// unchanged) and its commands, in order.
struct Step {
    state: Option<State>,
    effects: Vec<Effect>,
}

/// One of stateright's commands, as far as the model uses them.
enum Effect {
    Send(Id, Msg),
    /// A timer armed (`true`) or disarmed.
    Timer(Timer, bool),
    /// The wipe offered (`true`) or withdrawn.
    WipeOffered(bool),
    Save(Disk),
}

impl Step {
    fn of(state: Cow<State>, out: Out<Node>) -> Step {
        let effects = out
            .into_iter()
            .map(|command| match command {
                Command::Send(dst, msg) => Effect::Send(dst, msg),
                Command::SetTimer(timer, _) => Effect::Timer(timer, true),
                Command::CancelTimer(timer) => Effect::Timer(timer, false),
                Command::ChooseRandom(key, choices) => {
                    assert_eq!(key, WIPE, "the model's one random choice is the wipe");
                    assert!(choices.is_empty() || choices == [Choice::Wipe], "a wipe is offered alone");
                    Effect::WipeOffered(!choices.is_empty())
                }
                Command::Save(disk) => Effect::Save(disk),
            })
            .collect();
        let state = match state {
            Cow::Owned(state) => Some(state),
            Cow::Borrowed(_) => None,
        };
        Step { state, effects }
    }

    /// Nothing changed and nothing was said: a pruned step.
    fn is_noop(&self) -> bool {
        self.state.is_none() && self.effects.is_empty()
    }
}

/// The steps actors took, by actor and state and input. Stepping is a function of the three (the
/// replica's `step` is deterministic, and a restart's nonce comes from its disk), and the same
/// local step recurs across many global states: in `check --network ordered --crashes 1 --wipes
/// 1`, 3.0 million deliveries are about 4,800 distinct (actor, state, message) triples. A hit costs
/// a lookup and an equality check (by pointer, mostly: the states and messages that hits hand out
/// are the memo's own); a miss steps the actor and remembers the step.
///
/// One shard per checker thread: its entries, and the reference counts of the steps they hand
/// out, stay in that thread's caches (shared shards chosen by key made the two-thread exhaustive
/// tier 36% slower: 227 s against 167 s). A shard that fills up is emptied: the memo only saves
/// work, it never decides anything.
struct Memo {
    shards: Vec<Mutex<Shard>>,
}

/// A memo's entries, by (the actor's state's digest term, the input's).
type Shard = HashMap<(u64, u64), Memoized, ahash::RandomState>;

/// Threads that have stepped an actor through a memo so far.
static THREADS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's number among them: its shard in every memo.
    static THREAD: usize = THREADS.fetch_add(1, Ordering::Relaxed);
}

struct Memoized {
    state: State,
    input: Stimulus<Msg>,
    step: Arc<Step>,
}

/// What an actor steps on: a message delivered (from whom), or a timer firing.
#[derive(Clone, Copy, PartialEq)]
enum Stimulus<M> {
    Message(Id, M),
    Timer(Timer),
}

impl Stimulus<&Msg> {
    fn owned(self) -> Stimulus<Msg> {
        match self {
            Stimulus::Message(src, msg) => Stimulus::Message(src, msg.clone()),
            Stimulus::Timer(timer) => Stimulus::Timer(timer),
        }
    }
}

impl Stimulus<Msg> {
    fn borrowed(&self) -> Stimulus<&Msg> {
        match self {
            Stimulus::Message(src, msg) => Stimulus::Message(*src, msg),
            Stimulus::Timer(timer) => Stimulus::Timer(*timer),
        }
    }
}

/// The bit of actor `index`'s `timer` in [`World::timers`] (only the two the model arms).
fn timer_bit(index: usize, timer: Timer) -> u64 {
    match timer {
        Timer::Election => 1 << index,
        Timer::Retransmit => 1 << (32 + index),
        other => unreachable!("the model arms only the election and retransmit timers, not {other:?}"),
    }
}

impl Memo {
    const SHARDS: usize = 16;
    const SHARD_ENTRIES: usize = 1 << 16;

    fn new() -> Memo {
        let hasher = || ahash::RandomState::with_seeds(0x6d65, 0x6d6f, 0x7374, 0x6570);
        Memo { shards: (0..Memo::SHARDS).map(|_| Mutex::new(HashMap::with_hasher(hasher()))).collect() }
    }

    /// Actor `index`'s step in `state` on `input`, taken by `take` unless remembered.
    fn step(
        &self,
        index: usize,
        state: &State,
        input: Stimulus<&Msg>,
        take: impl FnOnce(&mut Cow<State>, &mut Out<Node>),
    ) -> Arc<Step> {
        let input_key = match input {
            Stimulus::Message(src, msg) => digest::message(src, Id::from(index), 0, msg),
            Stimulus::Timer(Timer::Election) => 0,
            Stimulus::Timer(_) => 1,
        };
        let key = (digest::state(index, state), input_key);
        let shard = &self.shards[THREAD.with(|thread| *thread) % Memo::SHARDS];
        {
            let shard = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(found) = shard.get(&key) {
                if found.state == *state && found.input.borrowed() == input {
                    return Arc::clone(&found.step);
                }
            }
        }
        let mut next = Cow::Borrowed(state);
        let mut out = Out::new();
        take(&mut next, &mut out);
        let step = Arc::new(Step::of(next, out));
        let mut shard = shard.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if shard.len() >= Memo::SHARD_ENTRIES {
            shard.clear();
        }
        shard.insert(key, Memoized { state: state.clone(), input: input.owned(), step: Arc::clone(&step) });
        step
    }
}

/// A message taken out of flight: delivered to its destination, or lost.
#[derive(Clone, Copy)]
struct Taken<'a> {
    src: Id,
    msg: &'a Msg,
    delivered: bool,
}

/// The model: the actors, their configuration, and the properties checked on every state.
pub struct Driver {
    /// The bounds and variant.
    pub cfg: ModelConfig,
    actors: Vec<Node>,
    ordered: bool,
    max_crashes: usize,
    properties: Vec<Property<Driver>>,
    memo: Memo,
    /// Offer only actions that lead somewhere (see [`Driver::offer_only_effective_actions`]).
    effective_only: bool,
}

impl Driver {
    /// The model of `cfg`'s actors and bounds, checking `properties`.
    pub fn new(cfg: ModelConfig, properties: Vec<Property<Driver>>) -> Driver {
        let actors = cfg.actors();
        assert!(actors.len() <= 64, "the driver's bit sets hold 64 actors");
        Driver {
            ordered: cfg.network == NetworkKind::Ordered,
            max_crashes: cfg.max_crashes(),
            cfg,
            actors,
            properties,
            memo: Memo::new(),
            effective_only: false,
        }
    }

    /// Makes [`Model::actions`] leave out the actions whose [`Model::next_state`] is `None` (the
    /// pruned steps), at the cost of taking each step twice (the memo takes the second). For
    /// stateright's simulation checker: it records an action it drew that led nowhere as a step
    /// of the walk, then cannot replay the walk into a path (0.31), where every other checker
    /// skips such actions.
    pub fn offer_only_effective_actions(&mut self) {
        self.effective_only = true;
    }

    /// The state after actor `id` stepped in `last`: `taken` out of flight (and, if delivered
    /// rather than lost, recorded in the history), the bit sets and the history changed by
    /// `flags`, the actor's state replaced if the step changed it, then the step's commands
    /// carried out as `ActorModel` does (a send is recorded in the history and put in flight, a
    /// timer armed or disarmed, a choice offered or withdrawn, a disk saved). The body is left to
    /// build; the digest is moved term by term.
    fn successor(
        &self,
        last: &World,
        id: Id,
        step: &Step,
        taken: Option<Taken>,
        flags: impl FnOnce(&mut (u64, u64, u64), &mut History),
    ) -> World {
        let parent = last.shared_body();
        let index = usize::from(id);
        let mut bits = (last.timers, last.crashed, last.wipes_offered);
        let mut history = last.history.clone();
        flags(&mut bits, &mut history);
        let mut digest = last.digest;
        let mut change = Change { taken: None, actor: None, disk: None, sends: Vec::new() };

        // The delivered (or lost) message leaves its channel; on a FIFO network the rest of it
        // moves up.
        let mut taken_from = None;
        if let Some(Taken { src, msg, delivered }) = taken {
            let recorded = if delivered {
                crate::record_in(&self.cfg, &history, Envelope { src, dst: id, msg })
            } else {
                None
            };
            if let Some(next) = recorded {
                history = next;
            }
            let range = channel(&parent.network, src, id);
            let position = if self.ordered {
                range.start
            } else {
                range.start + parent.network[range.clone()].partition_point(|(_, _, m)| m < msg)
            };
            let found = parent.network.get(position).is_some_and(|(s, d, m)| (*s, *d, m) == (src, id, msg));
            assert!(found && range.contains(&position), "a delivered message is in flight");
            if self.ordered {
                for (place, (s, d, m)) in parent.network[range.clone()].iter().enumerate() {
                    digest = digest.wrapping_sub(digest::message(*s, *d, place, m));
                    if place > 0 {
                        digest = digest.wrapping_add(digest::message(*s, *d, place - 1, m));
                    }
                }
            } else {
                digest = digest.wrapping_sub(digest::message(src, id, 0, msg));
            }
            change.taken = Some(position);
            taken_from = Some(src);
        }
        if let Some(state) = &step.state {
            digest = digest
                .wrapping_sub(digest::state(index, &parent.actor_states[index]))
                .wrapping_add(digest::state(index, state));
            change.actor = Some((index, state.clone()));
        }
        for effect in &step.effects {
            match effect {
                Effect::Send(dst, msg) => {
                    let dst = *dst;
                    if let Some(next) = crate::record_out(&self.cfg, &history, Envelope { src: id, dst, msg })
                    {
                        history = next;
                    }
                    let place = if self.ordered {
                        let in_parent = channel(&parent.network, id, dst).len();
                        // The delivered message came from `taken_from` to `id`: the same channel
                        // only if an actor sends to itself over the network, which the replicas
                        // never do (they loop their own messages back within the step).
                        let taken = usize::from(taken_from == Some(id) && dst == id);
                        let sent = change.sends.iter().filter(|(_, d, _)| *d == dst).count();
                        in_parent - taken + sent
                    } else {
                        0
                    };
                    digest = digest.wrapping_add(digest::message(id, dst, place, msg));
                    change.sends.push((id, dst, msg.clone()));
                }
                Effect::Timer(timer, true) => bits.0 |= timer_bit(index, *timer),
                Effect::Timer(timer, false) => bits.0 &= !timer_bit(index, *timer),
                Effect::WipeOffered(true) => bits.2 |= 1 << index,
                Effect::WipeOffered(false) => bits.2 &= !(1 << index),
                Effect::Save(disk) => {
                    let before = match &change.disk {
                        Some((_, saved)) => Some(saved),
                        None => parent.actor_storages[index].as_ref(),
                    };
                    digest = digest
                        .wrapping_sub(digest::disk(index, before))
                        .wrapping_add(digest::disk(index, Some(disk)));
                    change.disk = Some((index, disk.clone()));
                }
            }
        }
        digest = digest
            .wrapping_sub(digest::rest((last.timers, last.crashed, last.wipes_offered), &last.history))
            .wrapping_add(digest::rest(bits, &history));
        World {
            timers: bits.0,
            crashed: bits.1,
            wipes_offered: bits.2,
            history,
            digest,
            ordered: self.ordered,
            contents: Contents::Deferred { parent: Arc::clone(parent), change, built: OnceLock::new() },
        }
    }
}

impl Model for Driver {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        // Every actor starts (none reads another's state or disk), then each one's commands are
        // carried out in actor order, as `ActorModel` does.
        let mut outs = Vec::new();
        let mut actor_states = Vec::new();
        for (index, actor) in self.actors.iter().enumerate() {
            let mut out = Out::new();
            actor_states.push(actor.on_start(Id::from(index), &None, &mut out));
            outs.push(out);
        }
        let body = Body { actor_states, network: Vec::new(), actor_storages: vec![None; self.actors.len()] };
        let mut world = World::built(body, (0, 0, 0), History::default(), self.ordered);
        for (index, out) in outs.into_iter().enumerate() {
            let started = Step::of(Cow::Borrowed(world.actor_state(index)), out);
            world = self.successor(&world, Id::from(index), &started, None, |_, _| {});
        }
        vec![world]
    }

    /// The actions in `ActorModel`'s order: losses (while the budget lasts) and deliveries, each by
    /// (source, destination, message), timers by actor, crashes, restarts, wipes.
    fn actions(&self, world: &World, actions: &mut Vec<Action>) {
        let lossy = world.history.losses < self.cfg.losses;
        let mut deliveries = Vec::new();
        let mut previous: Option<(Id, Id, &Msg)> = None;
        for (src, dst, msg) in &world.network {
            // FIFO: only the head of a channel. Unordered: each distinct message once.
            let repeated = match previous {
                Some((s, d, m)) => (s, d) == (*src, *dst) && (self.ordered || m == msg),
                None => false,
            };
            previous = Some((*src, *dst, msg));
            if !repeated {
                deliveries.push(ActorModelAction::Deliver { src: *src, dst: *dst, msg: msg.clone() });
                // A replica's sync is local (a disk, not the network): it is never lost.
                if lossy && !matches!(msg, Msg::Sync) {
                    let envelope = Envelope { src: *src, dst: *dst, msg: msg.clone() };
                    actions.push(ActorModelAction::Drop(envelope));
                }
            }
        }
        actions.append(&mut deliveries);
        let resends = world.history.resends < self.cfg.resends;
        for index in bits(world.timers) {
            if index < 32 {
                actions.push(ActorModelAction::Timeout(Id::from(index), Timer::Election));
            } else if resends {
                actions.push(ActorModelAction::Timeout(Id::from(index - 32), Timer::Retransmit));
            }
        }
        if world.crashed_count() < self.max_crashes {
            for index in (0..self.actors.len()).filter(|index| !world.is_crashed(*index)) {
                actions.push(ActorModelAction::Crash(Id::from(index)));
            }
        }
        for index in bits(world.crashed) {
            actions.push(ActorModelAction::Recover(Id::from(index)));
        }
        for index in bits(world.wipes_offered) {
            actions.push(ActorModelAction::SelectRandom {
                actor: Id::from(index),
                key: WIPE.into(),
                random: Choice::Wipe,
            });
        }
        if self.effective_only {
            actions.retain(|action| self.next_state(world, action.clone()).is_some());
        }
    }

    fn next_state(&self, last: &World, action: Action) -> Option<World> {
        match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                let index = usize::from(dst);
                if last.is_crashed(index) {
                    return None;
                }
                let step = self.memo.step(
                    index,
                    last.actor_state(index),
                    Stimulus::Message(src, &msg),
                    |state, out| self.actors[index].on_msg(dst, state, src, msg.clone(), out),
                );
                // As in ActorModel: a no-op delivery is pruned on an unordered network, and
                // consumes the message on a FIFO one.
                if step.is_noop() && !self.ordered {
                    return None;
                }
                let taken = Taken { src, msg: &msg, delivered: true };
                Some(self.successor(last, dst, &step, Some(taken), |_, _| {}))
            }
            ActorModelAction::Drop(Envelope { src, dst, msg }) => {
                let nothing = Step { state: None, effects: Vec::new() };
                let taken = Taken { src, msg: &msg, delivered: false };
                Some(
                    self.successor(last, dst, &nothing, Some(taken), |_, history| {
                        *history = history.with_loss()
                    }),
                )
            }
            ActorModelAction::Timeout(id, timer) => {
                let index = usize::from(id);
                let step =
                    self.memo.step(index, last.actor_state(index), Stimulus::Timer(timer), |state, out| {
                        self.actors[index].on_timeout(id, state, &timer, out)
                    });
                // As in ActorModel: a timeout that only re-arms its timer is pruned.
                if step.state.is_none()
                    && matches!(step.effects[..], [Effect::Timer(rearmed, true)] if rearmed == timer)
                {
                    return None;
                }
                Some(self.successor(last, id, &step, None, |bits, history| {
                    bits.0 &= !timer_bit(index, timer);
                    if timer == Timer::Retransmit {
                        *history = history.with_resend();
                    }
                }))
            }
            ActorModelAction::Crash(id) => {
                let index = usize::from(id);
                let nothing = Step { state: None, effects: Vec::new() };
                Some(self.successor(last, id, &nothing, None, |bits, _| {
                    bits.0 &= !(timer_bit(index, Timer::Election) | timer_bit(index, Timer::Retransmit));
                    bits.1 |= 1 << index;
                    bits.2 &= !(1 << index);
                }))
            }
            ActorModelAction::Recover(id) => {
                let index = usize::from(id);
                let mut out = Out::new();
                let storage = last.storage(index).cloned();
                let state = self.actors[index].on_start(id, &storage, &mut out);
                let step = Step::of(Cow::Owned(state), out);
                Some(self.successor(last, id, &step, None, |bits, _| bits.1 &= !(1 << index)))
            }
            ActorModelAction::SelectRandom { actor, random, .. } => {
                let index = usize::from(actor);
                let mut state = Cow::Borrowed(last.actor_state(index));
                let mut out = Out::new();
                self.actors[index].on_random(actor, &mut state, &random, &mut out);
                let step = Step::of(state, out);
                Some(self.successor(last, actor, &step, None, |bits, _| bits.2 &= !(1 << index)))
            }
        }
    }

    fn format_action(&self, action: &Action) -> String {
        crate::explain::action(self.cfg.replicas, action)
    }

    fn as_svg(&self, path: stateright::Path<World, Action>) -> Option<String> {
        Some(crate::explain::sequence_diagram(&self.actors, self.cfg.replicas, path))
    }

    fn properties(&self) -> Vec<Property<Driver>> {
        self.properties.clone()
    }

    fn within_boundary(&self, world: &World) -> bool {
        crate::within_boundary(&self.cfg, world)
    }
}

/// The indices of the set bits of `set`, lowest first.
fn bits(mut set: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (set != 0).then(|| {
            let index = set.trailing_zeros() as usize;
            set &= set - 1;
            index
        })
    })
}
