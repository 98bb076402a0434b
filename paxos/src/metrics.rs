//! A node's metrics in the Prometheus text format, for operators: what the node did (counters),
//! where it stands (gauges) and how long things took (histograms).
//!
//! The node updates them as it runs ([`Metrics`] is a set of atomic handles, shared by the node
//! loop, the client connections, the peer connections and the storage thread); [`serve`] answers
//! `GET /metrics` on its own thread, so a scrape never waits for the node loop and a busy node
//! never waits for a scrape. Names follow the Prometheus conventions: a `paxos_` prefix, base
//! units (`_seconds`, `_bytes`), `_total` on counters; `process_*` come from the process
//! collector (resident memory, CPU time, open files). The README lists them all.
//!
//! Why the `prometheus` crate and its text format (0.0.4) rather than `prometheus-client`'s
//! OpenMetrics: Prometheus scrapes both, but `promtool check metrics` (the Prometheus project's
//! linter, as Debian ships it) reads the 0.0.4 format and flags every OpenMetrics counter (its
//! `# TYPE` line names the family without `_total`).

use crate::core::{Ballot, Counters, GroupId, NodeId};
use prometheus::core::Collector;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// The commands a client request is counted under (`command` label).
pub const COMMANDS: [&str; 9] = ["get", "set", "del", "cas", "member", "ping", "info", "cluster", "other"];

/// The results a client request is counted under (`result` label).
pub const RESULTS: [&str; 4] = ["ok", "busy", "unavailable", "error"];

/// Latency buckets, in seconds, of client requests and peer round trips: 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

/// Buckets of the storage's fsync duration, in seconds: 50 µs to 5 s.
const FSYNC_BUCKETS: [f64; 16] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512,
    1.024, 5.0,
];

/// Every metric of one node.
pub struct Metrics {
    registry: Registry,
    /// Client requests by command and result, indexed `[command][result]` as [`COMMANDS`] and
    /// [`RESULTS`] (resolved once: counting one is an atomic add, no label lookup).
    requests: Vec<[IntCounter; RESULTS.len()]>,
    /// How long a client request took, from the node reading it to the node answering it.
    request_seconds: [Histogram; 2],
    /// Client connections open.
    pub connections: IntGauge,
    /// Client connections refused at the limit.
    pub connections_refused: IntCounter,
    /// Slots this node learned were chosen, since it started.
    proposals_committed: IntCounter,
    /// Requests of this node's clients awaiting a response from the core.
    proposals_pending: IntGaugeVec,
    /// Requests the core answered with a failure (busy, not reachable, no leader).
    pub proposals_failed: IntCounter,
    /// Requests in each slot this node proposed as leader.
    batch_requests: Histogram,
    /// Slots (accepted values) made durable by one sync of the log: the group commit's batch.
    pub sync_slots: Histogram,
    /// How long one sync of the log took.
    pub fsync_seconds: Histogram,
    /// Bytes appended to the log.
    pub wal_bytes: IntCounter,
    /// Snapshots written to disk (taken here or installed from a peer).
    pub snapshots_written: IntCounter,
    /// Times this node saw the leader change (including to no leader).
    leader_changes: IntCounter,
    /// 1 while this node leads.
    is_leader: IntGaugeVec,
    /// 1 while this node knows a leader.
    has_leader: IntGaugeVec,
    /// The round of the highest ballot this node promised.
    ballot_round: IntGaugeVec,
    /// Elections this node started.
    elections: IntCounter,
    /// Every slot below it is known chosen here.
    commit_index: IntGaugeVec,
    /// Every slot below it is applied here.
    apply_index: IntGaugeVec,
    /// At the leader: how many slots behind the leader's commit point each member is.
    peer_lag: IntGaugeVec,
    /// The membership's version as applied here.
    membership_version: IntGaugeVec,
    /// Voters and learners in each group's membership (`group` and `role` labels).
    members: IntGaugeVec,
    /// Keys in the state machine.
    keys: IntGaugeVec,
    /// Round trip of a ping to each peer on its connection.
    peer_round_trip: HistogramVec,
    /// 1 while this node's connection to the peer is up.
    peer_connected: IntGaugeVec,
    /// Snapshots this node sent to peers that were too far behind for the log.
    snapshots_sent: IntCounter,
    /// Snapshots from peers this node installed.
    snapshots_installed: IntCounter,
    /// Slots accepted again in another ballot (competing proposers at work).
    reaccepted: IntCounter,
    /// Of those, the ones whose accepted value was replaced by another.
    overwritten: IntCounter,
    /// What the node loop last published of each group, to count the differences.
    last: std::sync::Mutex<Vec<Seen>>,
    /// The (group, peer) series of `peer_lag` set last.
    lagging: std::sync::Mutex<std::collections::BTreeSet<(GroupId, NodeId)>>,
}

/// The replica's state as the node loop last published it.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    committed: u64,
    counters: Counters,
    started: bool,
}

/// The replica's state the node loop publishes ([`Metrics::observe`]).
#[derive(Clone, Copy, Debug)]
pub struct State {
    /// Leading.
    pub leading: bool,
    /// The leader this node believes in.
    pub leader: Option<NodeId>,
    /// The promised ballot.
    pub promised: Ballot,
    /// The commit point.
    pub committed: u64,
    /// The apply point.
    pub applied: u64,
    /// Requests awaiting a response.
    pub pending: usize,
    /// The membership version.
    pub membership_version: u64,
    /// Voters.
    pub voters: usize,
    /// Learners.
    pub learners: usize,
    /// Keys in the state machine.
    pub keys: usize,
    /// The core's counters.
    pub counters: Counters,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).expect("a valid metric");
    register(registry, metric.clone());
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).expect("a valid metric");
    register(registry, metric.clone());
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let metric =
        Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("a valid metric");
    register(registry, metric.clone());
    metric
}

fn register(registry: &Registry, collector: impl Collector + 'static) {
    registry.register(Box::new(collector)).expect("each metric is registered once");
}

impl Metrics {
    /// A node's metrics, every one at zero.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let r = &registry;
        let requests_vec = IntCounterVec::new(
            Opts::new("paxos_client_requests_total", "Client commands, by command and result."),
            &["command", "result"],
        )
        .expect("a valid metric");
        register(r, requests_vec.clone());
        // Every command and result from the start, at zero: a rate over a series that appears
        // late misses its first increase.
        let requests = COMMANDS
            .iter()
            .map(|command| RESULTS.map(|result| requests_vec.with_label_values(&[*command, result])))
            .collect();
        let seconds = HistogramVec::new(
            HistogramOpts::new(
                "paxos_client_request_duration_seconds",
                "Time from reading a client's request (a pipeline of key-value commands) to answering it, by kind.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["kind"],
        )
        .expect("a valid metric");
        register(r, seconds.clone());
        let request_seconds = ["read", "write"].map(|kind| seconds.with_label_values(&[kind]));
        let power_buckets = |top: u32| (0..=top).map(|power| f64::from(1u32 << power)).collect::<Vec<_>>();
        let peer_lag = IntGaugeVec::new(
            Opts::new(
                "paxos_peer_lag_slots",
                "At the leader: slots each member's commit point is behind the leader's.",
            ),
            &["group", "peer"],
        )
        .expect("a valid metric");
        register(r, peer_lag.clone());
        let members = IntGaugeVec::new(
            Opts::new("paxos_members", "Members of each group's membership, by role."),
            &["group", "role"],
        )
        .expect("a valid metric");
        register(r, members.clone());
        // The gauges of each Paxos group (`group` label: 0, 1, ...).
        let per_group = |name: &str, help: &str| {
            let metric = IntGaugeVec::new(Opts::new(name, help), &["group"]).expect("a valid metric");
            register(r, metric.clone());
            metric
        };
        let peer_round_trip = HistogramVec::new(
            HistogramOpts::new(
                "paxos_peer_round_trip_seconds",
                "Round trip of a ping to each peer on this node's connection to it.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["peer"],
        )
        .expect("a valid metric");
        register(r, peer_round_trip.clone());
        let peer_connected = IntGaugeVec::new(
            Opts::new("paxos_peer_connected", "1 while this node's connection to the peer is up."),
            &["peer"],
        )
        .expect("a valid metric");
        register(r, peer_connected.clone());
        #[cfg(target_os = "linux")]
        register(r, prometheus::process_collector::ProcessCollector::for_self());
        Metrics {
            requests,
            request_seconds,
            connections: gauge(r, "paxos_client_connections", "Client connections open."),
            connections_refused: counter(
                r,
                "paxos_client_connections_refused_total",
                "Client connections refused because --max-clients were open.",
            ),
            proposals_committed: counter(
                r,
                "paxos_proposals_committed_total",
                "Slots this node learned were chosen, since it started.",
            ),
            proposals_pending: per_group(
                "paxos_proposals_pending",
                "Requests of this node's clients awaiting a response from the protocol.",
            ),
            proposals_failed: counter(
                r,
                "paxos_proposals_failed_total",
                "Requests the protocol answered with a failure: busy, no quorum, no leader.",
            ),
            batch_requests: histogram(
                r,
                "paxos_batch_requests",
                "Client requests in each slot this node proposed as leader.",
                power_buckets(12),
            ),
            sync_slots: histogram(
                r,
                "paxos_wal_sync_slots",
                "Accepted slots made durable by one sync of the log (the group commit's batch).",
                power_buckets(10),
            ),
            fsync_seconds: histogram(
                r,
                "paxos_wal_fsync_duration_seconds",
                "Duration of one sync (fdatasync) of the write-ahead log.",
                FSYNC_BUCKETS.to_vec(),
            ),
            wal_bytes: counter(r, "paxos_wal_written_bytes_total", "Bytes appended to the write-ahead log."),
            snapshots_written: counter(
                r,
                "paxos_snapshots_written_total",
                "Snapshots of the state machine written to disk (taken here or installed from a peer).",
            ),
            leader_changes: counter(
                r,
                "paxos_leader_changes_total",
                "Times this node saw the leader change, including to no leader.",
            ),
            is_leader: per_group("paxos_is_leader", "1 while this node leads the group."),
            has_leader: per_group("paxos_has_leader", "1 while this node knows a leader of the group."),
            ballot_round: per_group(
                "paxos_ballot_round",
                "The round of the highest ballot this node promised.",
            ),
            elections: counter(r, "paxos_elections_total", "Elections this node started."),
            commit_index: per_group(
                "paxos_commit_index",
                "Every slot of the group's log below it is known chosen here.",
            ),
            apply_index: per_group(
                "paxos_apply_index",
                "Every slot of the group's log below it is applied here.",
            ),
            peer_lag,
            membership_version: per_group(
                "paxos_membership_version",
                "The version of the membership as applied here.",
            ),
            members,
            keys: per_group("paxos_keys", "Keys in the group's state machine."),
            peer_round_trip,
            peer_connected,
            snapshots_sent: counter(
                r,
                "paxos_snapshots_sent_total",
                "Snapshots this node sent to peers too far behind for the log.",
            ),
            snapshots_installed: counter(
                r,
                "paxos_snapshots_installed_total",
                "Snapshots from peers this node installed.",
            ),
            reaccepted: counter(
                r,
                "paxos_slots_reaccepted_total",
                "Slots this node accepted again in another ballot (competing proposers).",
            ),
            overwritten: counter(
                r,
                "paxos_slots_overwritten_total",
                "Slots whose accepted value this node replaced with another ballot's.",
            ),
            last: std::sync::Mutex::new(Vec::new()),
            lagging: std::sync::Mutex::new(std::collections::BTreeSet::new()),
            registry,
        }
    }

    /// Counts one client command with its result; `command` and `result` index [`COMMANDS`] and
    /// [`RESULTS`].
    pub fn request(&self, command: usize, result: usize) {
        self.requests[command][result].inc();
    }

    /// Counts `count` client commands of one kind with one result (see [`Metrics::request`]).
    pub fn requests(&self, command: usize, result: usize, count: u64) {
        if count > 0 {
            self.requests[command][result].inc_by(count);
        }
    }

    /// Records how long a client request took; `read` if it only read.
    pub fn request_took(&self, read: bool, took: Duration) {
        self.request_seconds[usize::from(!read)].observe(took.as_secs_f64());
    }

    /// Records a slot this node proposed as leader, holding `requests` client requests.
    pub fn proposed(&self, requests: usize) {
        self.batch_requests.observe(requests as f64);
    }

    /// Publishes the state of `group`'s replica: its gauges set, the node's counters advanced by
    /// what changed in it.
    pub fn observe(&self, group: GroupId, state: &State) {
        let label = group.0.to_string();
        let labels = [label.as_str()];
        self.is_leader.with_label_values(&labels).set(i64::from(state.leading));
        self.has_leader.with_label_values(&labels).set(i64::from(state.leader.is_some()));
        self.ballot_round.with_label_values(&labels).set(clamp(state.promised.round));
        self.commit_index.with_label_values(&labels).set(clamp(state.committed));
        self.apply_index.with_label_values(&labels).set(clamp(state.applied));
        self.proposals_pending.with_label_values(&labels).set(clamp(state.pending as u64));
        self.membership_version.with_label_values(&labels).set(clamp(state.membership_version));
        self.members.with_label_values(&[label.as_str(), "voter"]).set(clamp(state.voters as u64));
        self.members.with_label_values(&[label.as_str(), "learner"]).set(clamp(state.learners as u64));
        self.keys.with_label_values(&labels).set(clamp(state.keys as u64));
        let mut seen = self.last.lock().unwrap_or_else(|poison| poison.into_inner());
        if seen.len() <= group.index() {
            seen.resize(group.index() + 1, Seen::default());
        }
        let last = &mut seen[group.index()];
        if last.started {
            self.proposals_committed.inc_by(state.committed.saturating_sub(last.committed));
        }
        let (now, before) = (state.counters, last.counters);
        self.elections.inc_by(now.elections.saturating_sub(before.elections));
        self.reaccepted.inc_by(now.reaccepted.saturating_sub(before.reaccepted));
        self.overwritten.inc_by(now.overwritten.saturating_sub(before.overwritten));
        self.snapshots_sent.inc_by(now.snapshots_sent.saturating_sub(before.snapshots_sent));
        self.snapshots_installed.inc_by(now.snapshots_installed.saturating_sub(before.snapshots_installed));
        *last = Seen { committed: state.committed, counters: now, started: true };
    }

    /// The leader this node believes in changed (the node loop sees every change; the published
    /// state only every tenth of a second).
    pub fn leader_changed(&self) {
        self.leader_changes.inc();
    }

    /// At `group`'s leader: each member's lag behind the leader's commit point; elsewhere none.
    pub fn lags(&self, group: GroupId, lags: impl IntoIterator<Item = (NodeId, u64)>) {
        let mut lagging = self.lagging.lock().unwrap_or_else(|poison| poison.into_inner());
        let label = group.0.to_string();
        let mut now = std::collections::BTreeSet::new();
        for (peer, lag) in lags {
            self.peer_lag.with_label_values(&[label.as_str(), &peer.to_string()]).set(clamp(lag));
            now.insert((group, peer));
        }
        let gone: Vec<(GroupId, NodeId)> =
            lagging.iter().filter(|(of, _)| *of == group).filter(|key| !now.contains(key)).copied().collect();
        for (_, peer) in gone {
            let _ = self.peer_lag.remove_label_values(&[label.as_str(), &peer.to_string()]);
            lagging.remove(&(group, peer));
        }
        lagging.extend(now);
    }

    /// The handles of one peer connection's metrics.
    pub fn peer(&self, peer: NodeId) -> PeerMetrics {
        let name = peer.to_string();
        PeerMetrics {
            round_trip: self.peer_round_trip.with_label_values(&[&name]),
            connected: self.peer_connected.with_label_values(&[&name]),
        }
    }

    /// Every metric in the Prometheus text format (0.0.4).
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("encoding to memory cannot fail");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The metrics of one peer connection.
#[derive(Clone, Debug)]
pub struct PeerMetrics {
    /// Ping round trips.
    pub round_trip: Histogram,
    /// 1 while connected.
    pub connected: IntGauge,
}

/// The index in [`RESULTS`] of a reply that is an error with `text`: `BUSY...` and
/// `UNAVAILABLE...` by name, any other error as `error`.
pub fn result_of_error(text: &str) -> usize {
    if text.starts_with("BUSY") {
        1
    } else if text.starts_with("UNAVAILABLE") {
        2
    } else {
        3
    }
}

/// The index in [`COMMANDS`] of a command named `name` (any case).
pub fn command_index(name: &[u8]) -> usize {
    COMMANDS[..COMMANDS.len() - 1]
        .iter()
        .position(|command| command.as_bytes().eq_ignore_ascii_case(name))
        .unwrap_or(COMMANDS.len() - 1)
}

/// Serves `GET /metrics` (and `/`) on `addr` from a thread of its own, until the process ends.
///
/// # Errors
///
/// The address cannot be listened on.
pub fn serve(addr: SocketAddr, metrics: Arc<Metrics>) -> Result<(), String> {
    let server =
        tiny_http::Server::http(addr).map_err(|error| format!("cannot serve metrics on {addr}: {error}"))?;
    std::thread::Builder::new()
        .name("paxos-metrics".to_string())
        .spawn(move || {
            let text_format = tiny_http::Header::from_bytes(
                &b"Content-Type"[..],
                &b"text/plain; version=0.0.4; charset=utf-8"[..],
            )
            .expect("a valid header");
            for request in server.incoming_requests() {
                let path = request.url().split('?').next().unwrap_or_default().to_string();
                let response = match (request.method(), path.as_str()) {
                    (tiny_http::Method::Get, "/metrics" | "/") => {
                        tiny_http::Response::from_string(metrics.render()).with_header(text_format.clone())
                    }
                    (tiny_http::Method::Get, _) => {
                        tiny_http::Response::from_string("not found: the metrics are at /metrics\n")
                            .with_status_code(404)
                    }
                    _ => tiny_http::Response::from_string("only GET\n").with_status_code(405),
                };
                let _ = request.respond(response);
            }
        })
        .map_err(|error| format!("cannot start the metrics thread: {error}"))?;
    Ok(())
}
