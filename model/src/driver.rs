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
//! actor states are the (already shared and digested) states themselves.
//!
//! The actors are unchanged ([`Node`] implements stateright's `Actor`, and is driven through its
//! `on_start`, `on_msg`, `on_timeout` and `on_random` with stateright's `Out`), and so are the
//! actions ([`Action`] is stateright's `ActorModelAction`). The smoke tier asserts the unique state
//! counts that `ActorModel` explored for the same bounds, and `tests/driver.rs` compares the two
//! drivers' state spaces directly.
//!
//! What it supports is what the model uses: a lossless network, FIFO or unordered without
//! duplication; crashes bounded by how many actors are down at once; the `Election` timer (the only
//! one the replicas arm in the model); one random choice, the storage wipe.

use crate::actor::{Choice, Disk, Msg, Node, State, WIPE};
use crate::{History, ModelConfig, NetworkKind};
use paxos::core::Timer;
use stateright::actor::{Actor, ActorModelAction, Command, Envelope, Id, Out};
use stateright::{Model, Property};
use std::borrow::Cow;

/// The actions: stateright's own (`Drop` is never generated: the network is lossless).
pub type Action = ActorModelAction<Msg, Timer, Choice>;

/// The system state: every actor's state and disk, the messages in flight, the armed timers, the
/// crashed actors, the offered wipes, and the auxiliary history.
#[derive(Clone, Debug, PartialEq, Hash)]
pub struct World {
    /// Each actor's state.
    pub actor_states: Vec<State>,
    /// Messages in flight as (source, destination, message), sorted by channel (source, then
    /// destination) and, within a channel, in the order sent (FIFO network) or by message
    /// (unordered network, where a channel is a multiset): one canonical vector per state.
    pub network: Vec<(Id, Id, Msg)>,
    /// Bit `i`: actor `i`'s election timer is armed.
    pub timers: u64,
    /// Bit `i`: actor `i` is down.
    pub crashed: u64,
    /// Bit `i`: actor `i` is offered the choice of losing its disk.
    pub wipes_offered: u64,
    /// Each actor's disk, if it saved one.
    pub actor_storages: Vec<Option<Disk>>,
    /// The auxiliary history (client operations, leaders so far).
    pub history: History,
}

impl World {
    /// Whether actor `index` is down.
    pub fn is_crashed(&self, index: usize) -> bool {
        self.crashed & (1 << index) != 0
    }

    /// Actors down now.
    pub fn crashed_count(&self) -> usize {
        self.crashed.count_ones() as usize
    }
}

/// The model: the actors, their configuration, and the properties checked on every state.
pub struct Driver {
    /// The bounds and variant.
    pub cfg: ModelConfig,
    actors: Vec<Node>,
    ordered: bool,
    max_crashes: usize,
    properties: Vec<Property<Driver>>,
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
        }
    }

    /// Carries out an actor's commands, as `ActorModel` does: a send is recorded in the history and
    /// put in flight, a timer armed or disarmed, a choice offered or withdrawn, a disk saved.
    fn process(&self, id: Id, out: Out<Node>, world: &mut World) {
        let index = usize::from(id);
        for command in out {
            match command {
                Command::Send(dst, msg) => {
                    if let Some(history) =
                        crate::record_out(&self.cfg, &world.history, Envelope { src: id, dst, msg: &msg })
                    {
                        world.history = history;
                    }
                    self.send(world, id, dst, msg);
                }
                Command::SetTimer(Timer::Election, _) => world.timers |= 1 << index,
                Command::CancelTimer(Timer::Election) => world.timers &= !(1 << index),
                Command::SetTimer(timer, _) | Command::CancelTimer(timer) => {
                    unreachable!("the model arms only the election timer, not {timer:?}")
                }
                Command::ChooseRandom(key, choices) => {
                    assert_eq!(key, WIPE, "the model's one random choice is the wipe");
                    if choices.is_empty() {
                        world.wipes_offered &= !(1 << index);
                    } else {
                        assert_eq!(choices, [Choice::Wipe], "a wipe is offered alone");
                        world.wipes_offered |= 1 << index;
                    }
                }
                Command::Save(disk) => world.actor_storages[index] = Some(disk),
            }
        }
    }

    /// Puts a message in flight: after the last of its channel (FIFO), or in message order within
    /// its channel (unordered).
    fn send(&self, world: &mut World, src: Id, dst: Id, msg: Msg) {
        let position = if self.ordered {
            world.network.partition_point(|(s, d, _)| (*s, *d) <= (src, dst))
        } else {
            world.network.partition_point(|(s, d, m)| (*s, *d, m) <= (src, dst, &msg))
        };
        world.network.insert(position, (src, dst, msg));
    }

    /// Takes a delivered message out of flight (the head of its channel in a FIFO network).
    fn take(&self, world: &mut World, src: Id, dst: Id, msg: &Msg) {
        let position = if self.ordered {
            world.network.partition_point(|(s, d, _)| (*s, *d) < (src, dst))
        } else {
            world.network.partition_point(|(s, d, m)| (*s, *d, m) < (src, dst, msg))
        };
        let found = world.network.get(position).is_some_and(|(s, d, m)| (*s, *d, m) == (src, dst, msg));
        assert!(found, "a delivered message is in flight");
        world.network.remove(position);
    }

    /// The state after actor `id` stepped: `last` with `change` made, the actor's state if the step
    /// changed it, and then the step's commands carried out.
    fn successor(
        &self,
        last: &World,
        id: Id,
        state: Cow<State>,
        out: Out<Node>,
        change: impl FnOnce(&mut World),
    ) -> World {
        let mut next = last.clone();
        change(&mut next);
        if let Cow::Owned(state) = state {
            next.actor_states[usize::from(id)] = state;
        }
        self.process(id, out, &mut next);
        next
    }
}

impl Model for Driver {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        let mut world = World {
            actor_states: Vec::new(),
            network: Vec::new(),
            timers: 0,
            crashed: 0,
            wipes_offered: 0,
            actor_storages: vec![None; self.actors.len()],
            history: History::default(),
        };
        for (index, actor) in self.actors.iter().enumerate() {
            let id = Id::from(index);
            let mut out = Out::new();
            let state = actor.on_start(id, &world.actor_storages[index], &mut out);
            world.actor_states.push(state);
            self.process(id, out, &mut world);
        }
        vec![world]
    }

    /// The actions in `ActorModel`'s order: deliveries by (source, destination, message), timers
    /// by actor, crashes, restarts, wipes.
    fn actions(&self, world: &World, actions: &mut Vec<Action>) {
        let mut previous: Option<(Id, Id, &Msg)> = None;
        for (src, dst, msg) in &world.network {
            // FIFO: only the head of a channel. Unordered: each distinct message once.
            let repeated = match previous {
                Some((s, d, m)) => (s, d) == (*src, *dst) && (self.ordered || m == msg),
                None => false,
            };
            previous = Some((*src, *dst, msg));
            if !repeated {
                actions.push(ActorModelAction::Deliver { src: *src, dst: *dst, msg: msg.clone() });
            }
        }
        for index in bits(world.timers) {
            actions.push(ActorModelAction::Timeout(Id::from(index), Timer::Election));
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
    }

    fn next_state(&self, last: &World, action: Action) -> Option<World> {
        match action {
            ActorModelAction::Deliver { src, dst, msg } => {
                let index = usize::from(dst);
                if last.is_crashed(index) {
                    return None;
                }
                let mut state = Cow::Borrowed(&last.actor_states[index]);
                let mut out = Out::new();
                self.actors[index].on_msg(dst, &mut state, src, msg.clone(), &mut out);
                // As in ActorModel: a no-op delivery is pruned on an unordered network, and
                // consumes the message on a FIFO one.
                if matches!(state, Cow::Borrowed(_)) && out.is_empty() && !self.ordered {
                    return None;
                }
                Some(self.successor(last, dst, state, out, |next| {
                    self.take(next, src, dst, &msg);
                    if let Some(history) =
                        crate::record_in(&self.cfg, &last.history, Envelope { src, dst, msg: &msg })
                    {
                        next.history = history;
                    }
                }))
            }
            ActorModelAction::Timeout(id, timer) => {
                let index = usize::from(id);
                let mut state = Cow::Borrowed(&last.actor_states[index]);
                let mut out = Out::new();
                self.actors[index].on_timeout(id, &mut state, &timer, &mut out);
                let rearmed_only = out.len() == 1
                    && out.iter().any(|command| matches!(command, Command::SetTimer(t, _) if *t == timer));
                if matches!(state, Cow::Borrowed(_)) && rearmed_only {
                    return None;
                }
                Some(self.successor(last, id, state, out, |next| next.timers &= !(1 << index)))
            }
            ActorModelAction::Crash(id) => {
                let index = usize::from(id);
                let mut next = last.clone();
                next.timers &= !(1 << index);
                next.wipes_offered &= !(1 << index);
                next.crashed |= 1 << index;
                Some(next)
            }
            ActorModelAction::Recover(id) => {
                let index = usize::from(id);
                let mut out = Out::new();
                let state = self.actors[index].on_start(id, &last.actor_storages[index], &mut out);
                Some(self.successor(last, id, Cow::Owned(state), out, |next| next.crashed &= !(1 << index)))
            }
            ActorModelAction::SelectRandom { actor, random, .. } => {
                let index = usize::from(actor);
                let mut state = Cow::Borrowed(&last.actor_states[index]);
                let mut out = Out::new();
                self.actors[index].on_random(actor, &mut state, &random, &mut out);
                Some(self.successor(last, actor, state, out, |next| next.wipes_offered &= !(1 << index)))
            }
            ActorModelAction::Drop(_) => None,
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
