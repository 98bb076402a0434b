//! The faults a schedule injects, which nodes they hit, and the schedule's steps.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A closed range of seconds (or a rate), `[low, high]` in files; a value is drawn uniformly.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Range(pub f64, pub f64);

impl Range {
    /// A range of one value.
    pub const fn exactly(value: f64) -> Range {
        Range(value, value)
    }

    pub(crate) fn check(self, field: &str, low: f64, high: f64, unit: &str) -> Result<(), String> {
        let Range(a, b) = self;
        if !(a.is_finite() && b.is_finite() && low <= a && a <= b && b <= high) {
            return Err(format!(
                "{field} [{a}, {b}]: expected [low, high] {unit} with {low} <= low <= high <= {high}"
            ));
        }
        Ok(())
    }
}

/// Which nodes a fault hits, resolved when the fault starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Target {
    /// The node leading when the fault starts (a random node if none leads).
    Leader,
    /// A random node that does not lead.
    Follower,
    /// A random node.
    Random,
    /// Every node but the leader (every node but a random one if none leads).
    Followers,
    /// A random minority: ⌊(n−1)/2⌋ nodes.
    Minority,
    /// Every node.
    All,
    /// One node, by number (`n1`..).
    Node(u8),
    /// The node leading Paxos group `N` when the fault starts (`leader-of-group-N`; a random node
    /// if none leads it). With one group, `leader-of-group-0` is `leader`.
    GroupLeader(u16),
}

impl TryFrom<String> for Target {
    type Error = String;

    fn try_from(text: String) -> Result<Target, String> {
        Ok(match text.as_str() {
            "leader" => Target::Leader,
            "follower" => Target::Follower,
            "random" => Target::Random,
            "followers" => Target::Followers,
            "minority" => Target::Minority,
            "all" => Target::All,
            _ => match (
                text.strip_prefix('n').and_then(|number| number.parse::<u8>().ok()),
                text.strip_prefix("leader-of-group-").and_then(|number| number.parse::<u16>().ok()),
            ) {
                (Some(node), _) if (1..=crate::NODES_MAX).contains(&node) => Target::Node(node),
                (_, Some(group)) if group < crate::GROUPS_MAX => Target::GroupLeader(group),
                _ => {
                    return Err(format!(
                        "target {text:?}: expected leader, follower, followers, random, minority, all, a node n1..n{}, \
                         or leader-of-group-N (N below {})",
                        crate::NODES_MAX,
                        crate::GROUPS_MAX
                    ))
                }
            },
        })
    }
}

impl From<Target> for String {
    fn from(target: Target) -> String {
        target.to_string()
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Leader => f.write_str("leader"),
            Target::Follower => f.write_str("follower"),
            Target::Random => f.write_str("random"),
            Target::Followers => f.write_str("followers"),
            Target::Minority => f.write_str("minority"),
            Target::All => f.write_str("all"),
            Target::Node(node) => write!(f, "n{node}"),
            Target::GroupLeader(group) => write!(f, "leader-of-group-{group}"),
        }
    }
}

/// Which way a one-way cut goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The target's messages to the other nodes are lost; theirs still arrive.
    Outbound,
    /// The other nodes' messages to the target are lost; its own still arrive.
    Inbound,
}

/// Clock strobe: while the fault holds, the clock jumps forward by `delta` seconds and back again,
/// every `period` seconds.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strobe {
    /// Seconds of each jump.
    pub delta: f64,
    /// Seconds between jumps.
    pub period: f64,
}

/// One fault. It starts when its step says, holds for the step's `hold`, and is then undone
/// (links repaired, clocks corrected, nodes resumed or started again).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Fault {
    /// A random minority of nodes cut from the majority, both ways (clients reach every node).
    PartitionHalves,
    /// The target cut from every other node, both ways (clients still reach it).
    Isolate {
        /// Whom.
        target: Target,
    },
    /// Every node sees a majority, and no two nodes see the same one (nodes on a random ring, each
    /// linked to its nearest neighbours only). Needs 4 nodes or more.
    MajoritiesRing,
    /// Two halves that reach each other only through one node in the middle. Needs 3 nodes or more.
    Bridge,
    /// A one-way cut between the target and every other node.
    OneWay {
        /// Whom.
        target: Target,
        /// Which way messages are lost.
        direction: Direction,
    },
    /// The target's clocks are stepped by `offset` seconds and run at `rate` times real time (each
    /// node draws its own), and strobe if asked; corrected when the fault ends.
    Clock {
        /// Whose clocks.
        target: Target,
        /// Seconds of the initial step, drawn per node.
        offset: Range,
        /// Speed relative to real time, drawn per node (1 is correct).
        rate: Range,
        /// Back-and-forth jumps while the fault holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strobe: Option<Strobe>,
    },
    /// The target's process is killed and restarted at once (writes not yet fsynced survive in the
    /// page cache; memory does not).
    Kill {
        /// Whom.
        target: Target,
    },
    /// The target's machine crashes (writes not yet fsynced are lost) and stays down for the hold.
    MachineCrash {
        /// Whom.
        target: Target,
    },
    /// The target's machine crashes, its data directory is emptied, and it starts again after the
    /// hold: it must rejoin through storage-loss recovery. One node or a minority only.
    StorageLoss {
        /// Whom.
        target: Target,
    },
    /// The target's process stops (a long GC pause, a stopped VM) and resumes with a stale view.
    Pause {
        /// Whom.
        target: Target,
    },
    /// Messages on the link between the target and one other node (drawn at random) are held, not
    /// lost, for the hold, then delivered all at once (a stalled switch port, a connection stuck in
    /// retransmission), while every other link works: replies to an earlier ballot arrive after
    /// the sender moved on to a later one.
    Stall {
        /// Whom.
        target: Target,
    },
    /// An operator's leadership transfer: the leader is asked (`MEMBER TRANSFER-LEADER`) to hand
    /// leadership to the target (another node is drawn when the target is the leader), while
    /// whatever else holds goes on. Nothing to undo.
    TransferLeader {
        /// The node that should lead.
        target: Target,
    },
    /// An operator's retried promotion: `MEMBER PROMOTE` of the target, a voter already (as when
    /// a promotion took effect but its reply was lost and the operator's script sent it again).
    /// The change is chosen and refused when applied: the membership stays as it was, and the
    /// slots after it must be settled like any others. Nothing to undo.
    PromoteVoter {
        /// The voter promoted again.
        target: Target,
    },
    /// An operator adds a node: the next spare machine is added as a learner (`MEMBER ADD`),
    /// started with a data directory created from the running cluster, and promoted to voter
    /// (`MEMBER PROMOTE`) once it has caught up. Every command is retried until the membership
    /// shows it done, faults or not; the window lasts until then. Needs a spare.
    AddNode,
    /// An operator removes the target from the cluster (`MEMBER REMOVE`, retried until the
    /// membership shows it done), then decommissions its machine for good. A leader removed hands
    /// its leadership over.
    RemoveNode {
        /// Whom.
        target: Target,
    },
    /// The target's machine dies with its disk, for good; an operator replaces it with the next
    /// spare: added as a learner, started, caught up, then `MEMBER REPLACE old new` in one change.
    /// Retried until the membership shows it done. Needs a spare.
    ReplaceNode {
        /// The node lost.
        target: Target,
    },
    /// Every message between nodes is lost with probability `loss` and delayed by up to
    /// `latency_ms` (so messages on different connections overtake each other).
    Flaky {
        /// Probability that a message is lost.
        loss: f64,
        /// Most delay, in milliseconds.
        latency_ms: u64,
    },
}

impl Fault {
    /// Its kind, as written in files.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::PartitionHalves => "partition-halves",
            Fault::Isolate { .. } => "isolate",
            Fault::MajoritiesRing => "majorities-ring",
            Fault::Bridge => "bridge",
            Fault::OneWay { .. } => "one-way",
            Fault::Clock { .. } => "clock",
            Fault::Kill { .. } => "kill",
            Fault::MachineCrash { .. } => "machine-crash",
            Fault::StorageLoss { .. } => "storage-loss",
            Fault::Pause { .. } => "pause",
            Fault::Stall { .. } => "stall",
            Fault::TransferLeader { .. } => "transfer-leader",
            Fault::PromoteVoter { .. } => "promote-voter",
            Fault::AddNode => "add-node",
            Fault::RemoveNode { .. } => "remove-node",
            Fault::ReplaceNode { .. } => "replace-node",
            Fault::Flaky { .. } => "flaky",
        }
    }

    /// The target, for faults that have one.
    pub fn target(&self) -> Option<Target> {
        match self {
            Fault::Isolate { target }
            | Fault::OneWay { target, .. }
            | Fault::Clock { target, .. }
            | Fault::Kill { target }
            | Fault::MachineCrash { target }
            | Fault::StorageLoss { target }
            | Fault::Pause { target }
            | Fault::Stall { target }
            | Fault::TransferLeader { target }
            | Fault::PromoteVoter { target }
            | Fault::RemoveNode { target }
            | Fault::ReplaceNode { target } => Some(*target),
            Fault::PartitionHalves
            | Fault::MajoritiesRing
            | Fault::Bridge
            | Fault::Flaky { .. }
            | Fault::AddNode => None,
        }
    }

    /// Whether it is an operator's membership change (it needs the membership to show it done).
    pub fn changes_membership(&self) -> bool {
        matches!(self, Fault::AddNode | Fault::RemoveNode { .. } | Fault::ReplaceNode { .. })
    }

    /// Checks it makes sense for a cluster of `nodes` first members and `spares` spare machines.
    ///
    /// # Errors
    ///
    /// One line naming the problem.
    pub fn validate(&self, nodes: u8, spares: u8) -> Result<(), String> {
        let machines = nodes.saturating_add(spares);
        if let Some(Target::Node(node)) = self.target() {
            if node > machines {
                return Err(format!("target n{node}: expected a node of the cluster, n1..n{machines}"));
            }
        }
        let at_least = |least: u8, why: &str| {
            if nodes < least {
                Err(format!("{} needs at least {least} nodes ({why}), the cluster has {nodes}", self.kind()))
            } else {
                Ok(())
            }
        };
        match self {
            Fault::PartitionHalves | Fault::Isolate { .. } | Fault::OneWay { .. } | Fault::Stall { .. } => {
                at_least(2, "it cuts links between nodes")
            }
            Fault::TransferLeader { .. } => at_least(2, "leadership moves to another node"),
            Fault::AddNode | Fault::ReplaceNode { .. } if spares == 0 => Err(format!(
                "{} needs a spare machine: expected \"spares\": 1 or more in the scenario",
                self.kind()
            )),
            Fault::ReplaceNode { target } | Fault::RemoveNode { target } | Fault::PromoteVoter { target }
                if matches!(target, Target::All | Target::Followers | Target::Minority) =>
            {
                Err(format!(
                    "{} of {target}: expected one node (leader, follower, random or nN)",
                    self.kind()
                ))
            }
            Fault::RemoveNode { .. } => at_least(2, "the last voter cannot be removed"),
            Fault::AddNode | Fault::ReplaceNode { .. } | Fault::PromoteVoter { .. } => Ok(()),
            Fault::MajoritiesRing => at_least(4, "with 3, every node sees every other"),
            Fault::Bridge => at_least(3, "two halves and a bridge"),
            Fault::StorageLoss { target } => {
                if matches!(target, Target::All | Target::Followers) {
                    return Err(format!(
                        "storage-loss of {target} loses the data for good: expected one node or minority"
                    ));
                }
                at_least(3, "the others must hold a majority to recover from")
            }
            Fault::Clock { offset, rate, strobe, .. } => {
                offset.check("offset", -86_400.0, 86_400.0, "seconds")?;
                rate.check("rate", 0.01, 100.0, "times real time")?;
                if let Some(Strobe { delta, period }) = strobe {
                    if !(delta.is_finite() && *delta > 0.0 && *delta <= 3600.0) {
                        return Err(format!(
                            "strobe.delta {delta}: expected seconds, more than 0, at most 3600"
                        ));
                    }
                    if !(period.is_finite() && *period >= 0.01 && *period <= 3600.0) {
                        return Err(format!("strobe.period {period}: expected seconds, 0.01 to 3600"));
                    }
                }
                Ok(())
            }
            Fault::Flaky { loss, latency_ms } => {
                if !(loss.is_finite() && (0.0..=0.5).contains(loss)) {
                    return Err(format!("loss {loss}: expected a probability from 0 to 0.5"));
                }
                if *latency_ms > 10_000 {
                    return Err(format!("latency-ms {latency_ms}: expected at most 10000"));
                }
                Ok(())
            }
            Fault::Kill { .. } | Fault::MachineCrash { .. } | Fault::Pause { .. } => Ok(()),
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::OneWay { target, direction } => write!(f, "one-way {direction:?} of {target}"),
            Fault::Clock { target, offset, rate, strobe } => {
                write!(
                    f,
                    "clock of {target}: step {}..{} s, rate {}..{}",
                    offset.0, offset.1, rate.0, rate.1
                )?;
                if let Some(strobe) = strobe {
                    write!(f, ", strobe ±{} s every {} s", strobe.delta, strobe.period)?;
                }
                Ok(())
            }
            Fault::Flaky { loss, latency_ms } => write!(f, "flaky: loss {loss}, delay up to {latency_ms} ms"),
            fault => match fault.target() {
                Some(target) => write!(f, "{} of {target}", fault.kind()),
                None => f.write_str(fault.kind()),
            },
        }
    }
}

/// One entry of the fault schedule (times in seconds from the start of the fault phase).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// One fault at `at`, held for `hold` seconds (cut short by the end of the fault phase).
    Once {
        /// When it starts.
        at: f64,
        /// How long it holds.
        hold: f64,
        /// What.
        fault: Fault,
    },
    /// Again and again until the fault phase ends: wait a gap drawn from `gap`, start a fault drawn
    /// from `choose`, hold it for a time drawn from `hold`, undo it.
    Repeat {
        /// Seconds between one fault's end and the next one's start.
        gap: Range,
        /// Seconds each fault holds.
        hold: Range,
        /// The faults to draw from.
        choose: Vec<Fault>,
    },
}

impl Step {
    /// The faults it may inject: its one fault, or those it chooses from.
    pub fn faults(&self) -> &[Fault] {
        match self {
            Step::Once { fault, .. } => std::slice::from_ref(fault),
            Step::Repeat { choose, .. } => choose,
        }
    }

    /// Checks it for a cluster of `nodes` first members and `spares` spare machines, and a fault
    /// phase of `duration` seconds.
    ///
    /// # Errors
    ///
    /// One line naming the problem.
    pub fn validate(&self, nodes: u8, spares: u8, duration: f64) -> Result<(), String> {
        match self {
            Step::Once { at, hold, fault } => {
                if !(at.is_finite() && *at >= 0.0 && *at <= duration) {
                    return Err(format!("at {at}: expected seconds within the fault phase, 0 to {duration}"));
                }
                if !(hold.is_finite() && *hold >= 0.0 && *hold <= crate::DURATION_SECONDS_MAX) {
                    return Err(format!(
                        "hold {hold}: expected seconds, 0 to {}",
                        crate::DURATION_SECONDS_MAX
                    ));
                }
                fault.validate(nodes, spares)
            }
            Step::Repeat { gap, hold, choose } => {
                gap.check("gap", 0.1, crate::DURATION_SECONDS_MAX, "seconds")?;
                hold.check("hold", 0.0, crate::DURATION_SECONDS_MAX, "seconds")?;
                if choose.is_empty() {
                    return Err("choose: expected at least one fault".to_string());
                }
                choose.iter().try_for_each(|fault| fault.validate(nodes, spares))
            }
        }
    }
}
