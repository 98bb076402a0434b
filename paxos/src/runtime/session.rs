//! What a client connection and the node loop say to each other: the [`Session`] a connection
//! holds, the [`Call`]s it makes, the [`Control`] questions it asks and the [`Info`] it gets back.
//! Both `clients` and `node` use this module; neither imports the other's internals.

use super::setup::Member;
use crate::client::resp::Limits;
use crate::core::{Ballot, ClientId, ClusterId, GroupId, NodeId, Request, Response, Slot};
use crate::metrics::Metrics;
use crate::storage::StorageStats;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// What the connection needs from the node.
#[derive(Clone, Debug)]
pub struct Session {
    /// Where requests go.
    pub calls: mpsc::Sender<Call>,
    /// Where status questions go.
    pub control: mpsc::Sender<Control>,
    /// The limits on commands.
    pub limits: Limits,
    /// How long a request may wait for its response.
    pub deadline: Duration,
    /// The most operations in one request.
    pub operations_max: usize,
    /// The largest value a client may write.
    pub value_bytes: usize,
    /// The node's metrics, if it keeps them.
    pub metrics: Option<Arc<Metrics>>,
    /// The node's Paxos groups (keys map to them: [`super::groups::group_of`]).
    pub groups: u16,
}

/// A client connection's request to the node.
#[derive(Debug)]
pub enum Call {
    /// Execute this request in `group` and answer on `reply`.
    Request {
        /// The group whose replica executes it.
        group: GroupId,
        /// The request.
        request: Request,
        /// Where the response goes.
        reply: oneshot::Sender<Response>,
    },
    /// The session gave up waiting for its request in `group` (its outcome is unknown to the
    /// client).
    Abandon {
        /// The group.
        group: GroupId,
        /// The session.
        client: ClientId,
    },
}

/// Questions about the node.
#[derive(Debug)]
pub enum Control {
    /// What `INFO` shows.
    Info(oneshot::Sender<Info>),
}

/// One member as `CLUSTER NODES` and `MEMBER LIST` show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// Its id and addresses (`?` where this node does not know them).
    pub member: Member,
    /// `voter` or `learner`.
    pub role: &'static str,
    /// Slots behind the leader's commit point as its last vote said (known at the leader only).
    pub lag: Option<u64>,
}

/// One group of the node, as `INFO` shows it.
#[derive(Clone, Debug)]
pub struct GroupInfo {
    /// The group.
    pub group: GroupId,
    /// This node's role in it: leader, follower, candidate or recovering.
    pub role: String,
    /// Its leader as this node knows it.
    pub leader: Option<NodeId>,
    /// The ballot this node leads or campaigns with in it.
    pub ballot: Option<Ballot>,
    /// The highest ballot this node promised in it.
    pub promised: Ballot,
    /// Every slot of its log below it is known chosen here.
    pub committed: Slot,
    /// Every slot of its log below it is applied here.
    pub applied: Slot,
    /// Keys it holds.
    pub keys: usize,
    /// Its membership's version.
    pub membership_version: u64,
    /// Its voters.
    pub voters: crate::core::NodeSet,
    /// Its learners.
    pub learners: crate::core::NodeSet,
}

/// The node's status, for `INFO` and `CLUSTER NODES`. Its replication section and the members
/// are group 0's (the only group of a node that runs one: [`Info::first_group`]); [`Info::groups`]
/// has every group's.
#[derive(Clone, Debug)]
pub struct Info {
    /// This node.
    pub node: NodeId,
    /// The cluster.
    pub cluster: ClusterId,
    /// This node's incarnation.
    pub incarnation: u64,
    /// Keys held, in all groups.
    pub keys: usize,
    /// Requests of this node's clients waiting for a response, in all groups.
    pub pending: usize,
    /// Every member as this node knows it: addresses, role and lag.
    pub members: Vec<MemberView>,
    /// The first members, as `init` wrote them.
    pub first: Vec<Member>,
    /// Storage counters.
    pub storage: StorageStats,
    /// The replicas' counters since this process started, summed over the groups.
    pub counters: crate::core::Counters,
    /// Every group, in order (at least group 0).
    pub groups: Vec<GroupInfo>,
}

impl Info {
    /// Group 0: what the replication section, `CLUSTER NODES` and `MEMBER LIST` show.
    pub fn first_group(&self) -> &GroupInfo {
        &self.groups[0]
    }

    /// `MEMBER CONFIG`: what `paxos join` needs to create a new node's data directory, as JSON:
    /// the cluster id, the first members (every replica's version 0 of the membership), the
    /// members of the day with their addresses, and the number of Paxos groups.
    pub fn config_json(&self) -> String {
        let members: Vec<serde_json::Value> = self
            .members
            .iter()
            .map(|view| {
                serde_json::json!({
                    "id": view.member.id.0,
                    "client": view.member.client,
                    "peer": view.member.peer,
                    "role": view.role,
                })
            })
            .collect();
        serde_json::json!({
            "cluster": self.cluster.0,
            "first": self.first,
            "version": self.first_group().membership_version,
            "members": members,
            "groups": self.groups.len(),
        })
        .to_string()
    }

    /// The ids of the members in `role`, comma-separated.
    fn ids(&self, role: &str) -> String {
        let ids: Vec<String> = self
            .members
            .iter()
            .filter(|member| member.role == role)
            .map(|member| member.member.id.0.to_string())
            .collect();
        ids.join(",")
    }

    /// The text of `INFO`: the replication fields (group 0's), then one line per group in the
    /// style of Redis's keyspace lines (`group0:role=leader,leader=n1,...`).
    pub fn render(&self) -> String {
        let first = self.first_group();
        let leader = first.leader.map_or_else(|| "none".to_string(), |leader| leader.to_string());
        let ballot = first.ballot.map_or_else(|| "none".to_string(), |ballot| ballot.to_string());
        let mut text = format!(
            "# Replication\r\nrole:{}\r\nnode:{}\r\nleader:{leader}\r\nballot:{ballot}\r\npromised:{}\r\n\
             committed_slot:{}\r\napplied_slot:{}\r\nincarnation:{}\r\ncluster_id:{}\r\nmembers:{}\r\n\
             membership_version:{}\r\nvoters:{}\r\nlearners:{}\r\nvoter_ids:{}\r\nlearner_ids:{}\r\n\
             # Keyspace\r\nkeys:{}\r\npending_requests:{}\r\n\
             # Storage\r\nwal_records:{}\r\nwal_bytes:{}\r\nwal_syncs:{}\r\nsnapshots:{}\r\n\
             # Stats\r\nelections_started:{}\r\nslots_reaccepted:{}\r\nslots_overwritten:{}\r\n",
            first.role,
            self.node,
            first.promised,
            first.committed.0,
            first.applied.0,
            self.incarnation,
            self.cluster,
            self.members.len(),
            first.membership_version,
            self.members.iter().filter(|member| member.role == "voter").count(),
            self.members.iter().filter(|member| member.role == "learner").count(),
            self.ids("voter"),
            self.ids("learner"),
            self.keys,
            self.pending,
            self.storage.records,
            self.storage.bytes,
            self.storage.syncs,
            self.storage.snapshots,
            self.counters.elections,
            self.counters.reaccepted,
            self.counters.overwritten,
        );
        text.push_str(&format!("# Groups\r\ngroups:{}\r\n", self.groups.len()));
        for group in &self.groups {
            let leader = group.leader.map_or_else(|| "none".to_string(), |leader| leader.to_string());
            let ballot = group.ballot.map_or_else(|| "none".to_string(), |ballot| ballot.to_string());
            text.push_str(&format!(
                "group{}:role={},leader={leader},ballot={ballot},promised={},committed_slot={},\
                 applied_slot={},keys={},membership_version={},voter_ids={},learner_ids={}\r\n",
                group.group.0,
                group.role,
                group.promised,
                group.committed.0,
                group.applied.0,
                group.keys,
                group.membership_version,
                slashed(group.voters),
                slashed(group.learners),
            ));
        }
        text
    }
}

/// `set`'s ids separated by slashes (`1/2/3`): a group line's values are separated by commas.
fn slashed(set: crate::core::NodeSet) -> String {
    set.iter().map(|node| node.0.to_string()).collect::<Vec<_>>().join("/")
}
