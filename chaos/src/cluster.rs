//! What a fault schedule acts on: a cluster of nodes, simulated ([`crate::sim::World`]) or real
//! processes ([`crate::real::RealCluster`]). The schedule's player ([`crate::run`]) is written once
//! against this trait.

use crate::error::{ChaosError, Liveness};
use std::time::Duration;

/// The membership as the nodes report it (node numbers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipView {
    /// Increases with every change.
    pub version: u64,
    /// Whose votes count.
    pub voters: Vec<u8>,
    /// Who receives the log without voting.
    pub learners: Vec<u8>,
}

/// A cluster under fault injection. Nodes are numbered from 1; links are directed `(from, to)`.
///
/// Its machines are the first members and the spares. A spare becomes a member's machine when an
/// operator's action brings it in ([`Cluster::bring_in`]); a member's machine leaves for good when
/// it is decommissioned (removed, or lost with its disk).
pub trait Cluster {
    /// The machines in the cluster now, in order: first members and spares brought in, not those
    /// decommissioned. Faults pick their targets among them; clients connect to them.
    fn members(&self) -> Vec<u8>;
    /// The membership `node` reports (`None`: down, or not answering).
    fn membership_of(&self, node: u8) -> Option<MembershipView>;
    /// The newest membership any member reports.
    fn membership(&self) -> Option<MembershipView> {
        self.members().into_iter().filter_map(|node| self.membership_of(node)).max_by_key(|view| view.version)
    }
    /// Whether every member that is up reports the newest membership. Until then a member that
    /// has not learned the last change still counts the voters before it: losing another machine
    /// then may leave it no majority (an operator waits for this before the next change).
    fn membership_settled(&self) -> bool {
        let newest = self.membership().map(|view| view.version);
        self.members()
            .into_iter()
            .filter(|&node| !self.is_down(node))
            .all(|node| self.membership_of(node).map(|view| view.version) == newest)
    }
    /// Takes the next spare machine for a new member (`None`: no spare left).
    fn claim_spare(&mut self) -> Option<u8>;
    /// `node`'s client and peer addresses, as `MEMBER ADD` gives them to the cluster.
    fn addresses(&self, node: u8) -> (String, String);
    /// Starts a claimed spare as a new member's machine: its data directory created from the
    /// running cluster (`paxos join`), then its node.
    fn bring_in(&mut self, node: u8);
    /// Takes `node`'s machine out for good: crashed, its disk lost, never started again.
    fn decommission(&mut self, node: u8);
    /// Whether `node` was decommissioned.
    fn decommissioned(&self, node: u8) -> bool;
    /// Time since the run started (simulated, or real monotonic time).
    fn elapsed(&self) -> Duration;
    /// Lets the cluster and its clients run until `at` (since the run started).
    ///
    /// # Errors
    ///
    /// The run broke (a node failed, the simulation stopped).
    fn run_until(&mut self, at: Duration) -> Result<(), ChaosError>;
    /// The node leading (group 0) with the highest ballot, as last observed.
    fn leader(&self) -> Option<u8>;
    /// The node leading `group` with the highest ballot, as last observed (a cluster of one
    /// group, or one whose other groups the harness does not observe, knows group 0's only).
    fn leader_of(&self, group: u16) -> Option<u8> {
        if group == 0 {
            self.leader()
        } else {
            None
        }
    }
    /// Whether `node` is down (crashed and not started again).
    fn is_down(&self, node: u8) -> bool;
    /// Whether `node` is recovering from storage loss.
    fn recovering(&self, node: u8) -> bool;
    /// Cuts the directed links (one more fault holds each).
    fn cut(&mut self, links: &[(u8, u8)]);
    /// Releases the directed links (repaired when no fault holds them).
    fn uncut(&mut self, links: &[(u8, u8)]);
    /// Holds every message between `a` and `b`, both ways, until [`Cluster::unstall`].
    fn stall(&mut self, a: u8, b: u8);
    /// Delivers what [`Cluster::stall`] held between `a` and `b`, and lets messages through again.
    fn unstall(&mut self, a: u8, b: u8);
    /// Repairs every link.
    fn heal(&mut self);
    /// Kills `node`'s process and restarts it at once.
    fn restart(&mut self, node: u8);
    /// Crashes `node`'s machine; it stays down until [`Cluster::start`].
    fn crash(&mut self, node: u8);
    /// Starts a node that is down.
    fn start(&mut self, node: u8);
    /// Empties the data directory of `node`, which is down.
    fn lose_storage(&mut self, node: u8);
    /// Stops `node`'s process until [`Cluster::resume`].
    fn pause(&mut self, node: u8);
    /// Resumes a paused node.
    fn resume(&mut self, node: u8);
    /// Steps `node`'s clock by `seconds`.
    fn clock_jump(&mut self, node: u8, seconds: f64);
    /// Runs `node`'s clock at `rate` times real time.
    fn clock_rate(&mut self, node: u8, rate: f64);
    /// One step of a strobing clock (not written to the trace: there are many).
    fn clock_strobe(&mut self, node: u8, seconds: f64);
    /// Messages between nodes lost with probability `loss` and delayed up to `latency`.
    fn flaky_network(&mut self, loss: f64, latency: Duration);
    /// A reliable network again.
    fn steady_network(&mut self);
    /// Sends an operator's command (RESP, such as `MEMBER TRANSFER-LEADER 2`) to `node`'s client
    /// port; the reply goes to the trace. Returns a ticket for [`Cluster::admin_reply`].
    fn admin(&mut self, node: u8, arguments: Vec<String>) -> u64;
    /// The reply to the command of `ticket`, once it came (a reply, or why there was none).
    fn admin_reply(&self, ticket: u64) -> Option<String>;
    /// Adds a line to the trace, with the current time.
    fn note(&self, line: String);

    /// Runs until some node leads (at most `within`), and returns it.
    ///
    /// # Errors
    ///
    /// No leader in time, or the run broke.
    fn await_leader(&mut self, within: Duration) -> Result<u8, ChaosError> {
        let deadline = self.elapsed() + within;
        loop {
            if let Some(leader) = self.leader() {
                return Ok(leader);
            }
            if self.elapsed() >= deadline {
                return Err(Liveness::NoLeader { within }.into());
            }
            let at = self.elapsed() + Duration::from_millis(10);
            self.run_until(at)?;
        }
    }
}

/// A reply as one line of the trace.
pub fn reply_text(reply: &paxos::client::resp::Reply) -> String {
    use paxos::client::resp::Reply;
    match reply {
        Reply::Simple(text) | Reply::Error(text) => text.clone(),
        Reply::Integer(number) => number.to_string(),
        Reply::Bulk(bytes) => bytes
            .as_ref()
            .map_or_else(|| "(nil)".to_string(), |bytes| String::from_utf8_lossy(bytes).into_owned()),
        Reply::Array(replies) => replies.iter().map(reply_text).collect::<Vec<_>>().join(" "),
    }
}
