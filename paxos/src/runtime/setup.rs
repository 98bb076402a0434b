//! Data directories: `paxos init` writes a cluster; `paxos node` reads one node's directory.
//!
//! ```text
//! DIR/cluster.json        the cluster: id and members (for `paxos cluster` and operators)
//! DIR/node-1/node.json    this node's id and the cluster (what `paxos node --data-dir` reads)
//! DIR/node-1/wal-*.log    its storage (see paxos::storage)
//! ```
//!
//! `init` also writes each member's first durable record (it joined the cluster as incarnation 0):
//! a node that later starts with `node.json` but no durable state knows it lost its storage and
//! recovers from its peers instead of voting with an empty memory.

use crate::core::{ClusterId, GroupId, NodeId, Persist};
use crate::storage::fs::{FileSystem, StdFs};
use crate::storage::{Storage, StorageError, StorageOptions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// A cluster: its id, members and Paxos groups. Written by `paxos init` into every node's data
/// directory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterConfig {
    /// The cluster id.
    pub cluster: ClusterId,
    /// The members.
    pub members: Vec<Member>,
    /// The Paxos groups every node runs (groups `0..groups`; keys map to them by
    /// [`super::groups::group_of`]). Set by `init` and never changed: a key's group depends on it.
    /// Absent from files written before groups existed: one.
    #[serde(default = "one_group")]
    pub groups: u16,
}

fn one_group() -> u16 {
    1
}

/// The file in a node's data directory that names the node and its cluster.
pub const NODE_FILE: &str = "node.json";
/// The file in a cluster directory that describes the cluster.
pub const CLUSTER_FILE: &str = "cluster.json";

/// What `node.json` holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFile {
    /// This node.
    pub node: NodeId,
    /// Its cluster, with its first members.
    pub cluster: ClusterConfig,
    /// A node that joined a running cluster (`paxos join`): the members of that day, itself
    /// included, with their addresses. Empty for the first members.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<Member>,
    /// Where this node listens to its peers, when that differs from the peer address they reach it
    /// at (a proxy or NAT in between; etcd's `--listen-peer-urls` beside its advertised URLs).
    /// Absent: its own peer address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_peer: Option<String>,
}

impl NodeFile {
    /// This node's own addresses.
    pub fn me(&self) -> Option<&Member> {
        self.cluster.members.iter().chain(&self.peers).find(|member| member.id == self.node)
    }
}

/// A cluster of `nodes` members on `host`, with one Paxos group: node i serves clients on
/// `port + i - 1` and peers on `peer_port + i - 1`.
pub fn local_cluster(cluster: ClusterId, nodes: u8, host: &str, port: u16, peer_port: u16) -> ClusterConfig {
    let members = (1..=nodes)
        .map(|i| Member {
            id: NodeId(i),
            client: format!("{host}:{}", port + u16::from(i) - 1),
            peer: format!("{host}:{}", peer_port + u16::from(i) - 1),
        })
        .collect();
    ClusterConfig { cluster, members, groups: 1 }
}

/// The data directory of node `id` in cluster directory `dir`.
pub fn node_dir(dir: &Path, id: NodeId) -> PathBuf {
    dir.join(format!("node-{}", id.0))
}

/// Creates the cluster directory: `cluster.json`, and per member its data directory with
/// `node.json` and its first durable record. Refuses a directory that already holds a cluster.
pub fn init(dir: &Path, cluster: &ClusterConfig) -> Result<(), String> {
    let file = dir.join(CLUSTER_FILE);
    if file.exists() {
        return Err(format!(
            "{} already exists: {} holds a cluster; remove it or choose another directory",
            file.display(),
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    for member in &cluster.members {
        let node_dir = node_dir(dir, member.id);
        if node_dir.join(NODE_FILE).exists() {
            return Err(format!(
                "{} already holds a node; remove it or choose another directory",
                node_dir.display()
            ));
        }
        join(Arc::new(StdFs), &node_dir, cluster, member.id).map_err(|error| error.to_string())?;
        let file =
            NodeFile { node: member.id, cluster: cluster.clone(), peers: Vec::new(), listen_peer: None };
        write_json(&node_dir.join(NODE_FILE), &file)?;
    }
    write_json(&file, cluster)
}

/// Writes a new member's first durable record of each of the cluster's groups into its data
/// directory `dir` on `fs`: it joined `cluster` as node `node`, incarnation 0. A node whose
/// directory lacks it (while its `node.json` says it is a member) lost its storage, and recovers
/// before it votes. `init` calls this for every member on the operating system's disk; the
/// simulation calls it on turmoil's.
///
/// # Errors
///
/// The storage cannot be opened, written or synced.
pub fn join<F: FileSystem>(
    fs: Arc<F>,
    dir: &Path,
    cluster: &ClusterConfig,
    node: NodeId,
) -> Result<(), StorageError> {
    let options = StorageOptions { groups: cluster.groups, ..StorageOptions::default() };
    let (mut storage, _, _) = Storage::open_groups(fs, dir, options)?;
    let joined = Persist::Joined { cluster: cluster.cluster, node, incarnation: 0 };
    let batches: Vec<(GroupId, Vec<Persist>)> =
        (0..cluster.groups).map(|group| (GroupId(group), vec![joined.clone()])).collect();
    storage.append_groups(&batches)?;
    storage.sync()
}

/// Creates the data directory `dir` of a node that joins a running cluster (`paxos join`):
/// `node.json` from `file` and the first durable record. A joining node is new (its id was never
/// used: removed ids are not reused), so it joins as incarnation 0, and it votes only once a
/// membership change promotes it. Refuses a directory that already holds a node.
///
/// # Errors
///
/// The directory holds a node, or cannot be written.
pub fn join_running(dir: &Path, file: &NodeFile) -> Result<(), String> {
    if dir.join(NODE_FILE).exists() {
        return Err(format!("{} already holds a node; remove it or choose another directory", dir.display()));
    }
    std::fs::create_dir_all(dir).map_err(|error| format!("cannot create {}: {error}", dir.display()))?;
    join(Arc::new(StdFs), dir, &file.cluster, file.node).map_err(|error| error.to_string())?;
    write_json(&dir.join(NODE_FILE), file)
}

/// Reads `DIR/cluster.json`.
pub fn read_cluster(dir: &Path) -> Result<ClusterConfig, String> {
    read_json(&dir.join(CLUSTER_FILE), "a cluster directory", "paxos init")
}

/// Reads a node's `node.json`.
pub fn read_node(dir: &Path) -> Result<NodeFile, String> {
    let node: NodeFile = read_json(&dir.join(NODE_FILE), "a node data directory", "paxos init")?;
    if node.me().is_none() {
        return Err(format!(
            "{}: node {} is not among its members",
            dir.join(NODE_FILE).display(),
            node.node
        ));
    }
    Ok(node)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str, create: &str) -> Result<T, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let dir = path.parent().unwrap_or(path);
            return Err(format!(
                "{} is not {what} (no {}); create one with `{create}`",
                dir.display(),
                path.display()
            ));
        }
        Err(error) => return Err(format!("cannot read {}: {error}", path.display())),
    };
    serde_json::from_str(&text)
        .map_err(|error| format!("{}: not a valid file of this kind: {error}", path.display()))
}

/// Writes a JSON file durably (tmp, fsync, rename, fsync of the directory).
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value).expect("configuration serializes");
    let tmp = path.with_extension("json.tmp");
    let fail = |error: std::io::Error| format!("cannot write {}: {error}", path.display());
    let mut file = std::fs::File::create(&tmp).map_err(fail)?;
    file.write_all(text.as_bytes()).map_err(fail)?;
    file.write_all(b"\n").map_err(fail)?;
    file.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir).and_then(|dir| dir.sync_all()).map_err(fail)?;
    }
    Ok(())
}
