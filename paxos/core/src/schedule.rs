//! [`Schedule`]: a step's outputs sorted by when the runtime contract lets each take effect. Every
//! executor of the core (the node, the model checker's actors, the randomised cluster test, the
//! benches) carries out a step through it, so that they all read the durability rule the same way.

use super::command::Response;
use super::io::{Output, Persist, Release, Timer};
use super::message::Envelope;
use super::types::NodeId;

/// A send or a reply, sorted out of a step's outputs.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Transmit `envelope` to `to` (possibly the replica itself).
    Send {
        /// The destination.
        to: NodeId,
        /// The message.
        envelope: Envelope,
    },
    /// Answer a client of this node.
    Reply(Response),
}

/// A timer to arm (or re-arm) or to disarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TimerChange {
    /// Arm, or re-arm if armed.
    Set(Timer),
    /// Disarm.
    Cancel(Timer),
}

/// One step's outputs, in the order the runtime contract (see [`io`](super::io)) carries them out:
///
/// 1. `timers`, at once, in order;
/// 2. `immediately`, at once: sends that vouch for nothing durable;
/// 3. `persists`, in order, made durable (possibly together with other steps' in one fsync);
/// 4. `after_persists`, in order, once `persists` *and every earlier step's persists* are durable.
///
/// Each list keeps the order in which the step emitted its members.
///
/// # Correctness
///
/// An executor that makes a step's persists durable at once (the model checker's atomic steps, the
/// randomised cluster test) may release `after_persists` right after `persists`; one that syncs in
/// the background (the node) must queue them behind the sync, and behind the sends of every
/// earlier step still waiting for theirs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Schedule {
    /// Timers to arm or disarm.
    pub timers: Vec<TimerChange>,
    /// Sends that may leave before any persist is durable.
    pub immediately: Vec<Action>,
    /// Records to make durable.
    pub persists: Vec<Persist>,
    /// Sends and replies that leave only once the persists emitted so far are durable.
    pub after_persists: Vec<Action>,
}

impl Schedule {
    /// Sorts `outputs` (one step's, in the order emitted).
    pub fn new(outputs: impl IntoIterator<Item = Output>) -> Schedule {
        let mut schedule = Schedule::default();
        for output in outputs {
            let release = output.release();
            let action = match output {
                Output::Persist(record) => {
                    schedule.persists.push(record);
                    continue;
                }
                Output::SetTimer(timer) => {
                    schedule.timers.push(TimerChange::Set(timer));
                    continue;
                }
                Output::CancelTimer(timer) => {
                    schedule.timers.push(TimerChange::Cancel(timer));
                    continue;
                }
                Output::Send { to, envelope, .. } => Action::Send { to, envelope },
                Output::Reply(response) => Action::Reply(response),
            };
            if release == Some(Release::Immediately) {
                schedule.immediately.push(action);
            } else {
                schedule.after_persists.push(action);
            }
        }
        schedule
    }

    /// Whether something leaves before this step's persists are durable: the case in which a
    /// crash between the two is observable from outside.
    pub fn sends_ahead_of_persists(&self) -> bool {
        !self.immediately.is_empty() && !self.persists.is_empty()
    }
}
