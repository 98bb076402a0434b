//! Declarative chaos scenarios: what faults to inject, under what workload, for how long, and what
//! the run must show. Plain data (serde), so that users write their own as JSON files; the `chaos`
//! crate executes them, in simulation or against real processes. This crate knows nothing of how.
//!
//! # Glossary
//!
//! - *Fault phase*: the `duration` seconds during which the schedule injects faults, after a leader
//!   is elected and one second of load. Everything is healed at its end, then a liveness phase
//!   follows (more load, convergence, a final read of every key through every node).
//! - *Step*: one entry of the schedule: a fault `once` at a moment, or faults `repeat`ed with a
//!   random gap between them, each held for a random time (Jepsen's nemesis generators).
//! - *Target*: which nodes a fault hits, resolved when it starts (`leader` is the leader then).
//! - *Negative control*: a scenario whose `expect` is `violation`: a deliberately unsafe
//!   configuration (lease reads past their clock bound, a node that never fsyncs) whose violation
//!   the run must find, so that a pass of the others is not vacuous.
//!
//! # Layout
//!
//! - [`fault`]: the faults, their targets, and the schedule's steps.
//! - [`catalog`]: the built-in scenarios.

pub mod catalog;
pub mod fault;

pub use fault::{Fault, Range, Step, Target};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most nodes a scenario may run (node names are `n1`..`n9`).
pub const NODES_MAX: u8 = 9;

/// The most Paxos groups a scenario's nodes may run.
pub const GROUPS_MAX: u16 = 64;

/// The longest fault phase, in seconds.
pub const DURATION_SECONDS_MAX: f64 = 3600.0;

/// A scenario: a cluster, a workload, a fault schedule, and the expected verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// Its name: lowercase words joined by `-`, stating the fault.
    pub name: String,
    /// One or two sentences: what happens and why it matters.
    pub description: String,
    /// Replicas: the cluster's first members, `n1`..`n{nodes}`.
    #[serde(default = "default_nodes")]
    pub nodes: u8,
    /// Spare machines, `n{nodes + 1}`.. on, that are not members: `add-node` and `replace-node`
    /// bring them in, one per action, in order.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spares: u8,
    /// Paxos groups every node runs (`paxos init --groups`): keys spread over them, each group
    /// with its own leader. One by default.
    #[serde(default = "one_group", skip_serializing_if = "is_one_group")]
    pub groups: u16,
    /// The clients and what they do.
    #[serde(default)]
    pub workload: Workload,
    /// Seconds of the fault phase.
    pub duration: f64,
    /// The fault schedule, run from the start of the fault phase.
    pub faults: Vec<Step>,
    /// How the nodes serve reads.
    #[serde(default)]
    pub read_mode: ReadMode,
    /// What the nodes run: the correct store, or a deliberately broken one (negative controls).
    #[serde(default)]
    pub build: Build,
    /// What the run must show.
    #[serde(default)]
    pub expect: Expect,
    /// What the run must show on a given system under test (`paxos`, `etcd`, `redis`), where that
    /// differs from `expect`: a system that promises less is a negative control there (Redis under
    /// Sentinel loses acknowledged writes when its primary is cut off, as its documentation says).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub expect_on: BTreeMap<String, Expect>,
    /// In simulation, how long a node's fsync takes, `[low, high]` milliseconds, drawn for each
    /// sync: a node's writes are synced that long after the first unsynced one (one sync for all
    /// written meanwhile), and what waits for them (its votes, its replies) waits that long, so a
    /// machine crash can fall between a write and its sync, and one node's sync can lag
    /// another's. Absent (the default): each step's writes are synced as they are made. Real
    /// clusters have their disks' own latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_ms: Option<Range>,
}

/// The systems a scenario can name in `expect-on`.
pub const SYSTEMS: [&str; 3] = ["paxos", "etcd", "redis"];

fn default_nodes() -> u8 {
    3
}

fn is_zero(spares: &u8) -> bool {
    *spares == 0
}

fn one_group() -> u16 {
    1
}

fn is_one_group(groups: &u16) -> bool {
    *groups == 1
}

/// The clients: each invokes one operation at a time on a random key, with unique written values.
/// Client `i` first connects to node `i mod n` (so every node has clients, as Jepsen binds its
/// workers to nodes), and to a random node after each unknown outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Workload {
    /// Concurrent clients.
    pub clients: usize,
    /// Of those, how many (the first ones) only read, whatever the mix: a reader never blocks on a
    /// write, so it keeps observing a node that is cut off.
    #[serde(default)]
    pub readers: usize,
    /// Keys the clients share (fewer keys: more contention, harder checks).
    pub keys: usize,
    /// Relative weights of the operations.
    pub mix: Mix,
    /// Operations per second per client at most: each waits a random time of mean `1 / rate`
    /// between operations. `0` waits nothing (a closed loop at full speed).
    pub rate: f64,
}

impl Default for Workload {
    fn default() -> Workload {
        Workload { clients: 5, readers: 0, keys: 3, mix: Mix::default(), rate: 100.0 }
    }
}

/// Relative weights of reads, writes, compare-and-sets and deletes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// `GET`.
    pub read: u32,
    /// `SET` with a value never written before.
    pub write: u32,
    /// `CAS` from the value the client last saw (or absent) to a new one.
    pub cas: u32,
    /// `DEL`: the key absent again (so a cas from absent, and a read of it, can follow a write).
    /// Absent from a scenario file: 0.
    #[serde(default)]
    pub delete: u32,
}

impl Mix {
    /// The sum of the weights.
    pub fn total(&self) -> u64 {
        u64::from(self.read) + u64::from(self.write) + u64::from(self.cas) + u64::from(self.delete)
    }
}

/// The default has no deletes: the catalog's seeds and the rates at which its scenarios catch
/// the mutant cores were measured with it. The `deletes` scenario, and `--mix` on the command
/// line, add them.
impl Default for Mix {
    fn default() -> Mix {
        Mix { read: 4, write: 4, cas: 2, delete: 0 }
    }
}

impl std::str::FromStr for Mix {
    type Err = String;

    /// `read:write:cas:delete` weights, such as `4:4:2:1`.
    fn from_str(text: &str) -> Result<Mix, String> {
        let expected = || format!("{text:?}: expected four weights read:write:cas:delete, such as 4:4:2:1");
        let weights: Vec<u32> = text
            .split(':')
            .map(|weight| weight.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| expected())?;
        let [read, write, cas, delete] = weights[..] else { return Err(expected()) };
        let mix = Mix { read, write, cas, delete };
        if mix.total() == 0 {
            return Err(format!("{text:?}: expected at least one non-zero weight"));
        }
        Ok(mix)
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}:{}", self.read, self.write, self.cas, self.delete)
    }
}

/// How reads are made linearizable (the node's `--read-mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadMode {
    /// The leader confirms its leadership with a quorum round before answering: no clock involved.
    #[default]
    ReadIndex,
    /// The leader answers while it holds a lease that followers honour: safe only while clock
    /// rates differ by less than the margin between the lease and the followers' guard.
    Lease,
}

/// What the nodes run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Build {
    /// The store as shipped.
    #[default]
    Correct,
    /// Storage that never fsyncs: a machine crash loses whatever the page cache held.
    NoFsync,
    /// A deliberately broken protocol core, by name (as `cargo run -p model -- mutants` lists
    /// them).
    Mutant(String),
}

/// What the run must show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expect {
    /// Linearizable, no acknowledged write lost, converged, every node serving after healing.
    #[default]
    Linearizable,
    /// A negative control: a linearizability violation or a lost acknowledged write must be found.
    Violation,
}

impl ReadMode {
    /// As written in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMode::ReadIndex => "read-index",
            ReadMode::Lease => "lease",
        }
    }
}

impl std::fmt::Display for Build {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Build::Correct => f.write_str("correct"),
            Build::NoFsync => f.write_str("no-fsync"),
            Build::Mutant(name) => write!(f, "mutant {name}"),
        }
    }
}

impl Scenario {
    /// What the run must show on `system` (see [`Scenario::expect_on`]).
    pub fn expect_for(&self, system: &str) -> Expect {
        self.expect_on.get(system).copied().unwrap_or(self.expect)
    }
}

impl Expect {
    /// As written in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Linearizable => "linearizable",
            Expect::Violation => "violation",
        }
    }
}

impl Scenario {
    /// Checks what serde cannot: names, sizes, ranges, targets that exist.
    ///
    /// # Errors
    ///
    /// The first problem, as one line naming the field and what was expected.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(system) = self.expect_on.keys().find(|system| !SYSTEMS.contains(&system.as_str())) {
            return Err(format!(
                "expect-on: unknown system {system:?}: expected one of {}",
                SYSTEMS.join(", ")
            ));
        }
        let name_ok = !self.name.is_empty()
            && self.name.split('-').all(|word| {
                !word.is_empty() && word.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            });
        if !name_ok {
            return Err(format!(
                "name {:?}: expected lowercase words and digits joined by '-', such as \"leader-isolation\"",
                self.name
            ));
        }
        if !(1..=NODES_MAX).contains(&self.nodes) {
            return Err(format!("nodes {}: expected 1 to {NODES_MAX}", self.nodes));
        }
        if self.nodes + self.spares.min(NODES_MAX) > NODES_MAX {
            return Err(format!(
                "spares {}: expected at most {} (nodes and spares together at most {NODES_MAX})",
                self.spares,
                NODES_MAX - self.nodes
            ));
        }
        if !(1..=GROUPS_MAX).contains(&self.groups) {
            return Err(format!("groups {}: expected 1 to {GROUPS_MAX}", self.groups));
        }
        if let Some(sync) = self.sync_ms {
            sync.check("sync-ms", 0.0, 1000.0, "milliseconds")?;
        }
        let workload = &self.workload;
        if !(1..=1000).contains(&workload.clients) {
            return Err(format!("workload.clients {}: expected 1 to 1000", workload.clients));
        }
        if workload.readers > workload.clients {
            return Err(format!(
                "workload.readers {}: expected at most workload.clients ({})",
                workload.readers, workload.clients
            ));
        }
        if !(1..=1000).contains(&workload.keys) {
            return Err(format!("workload.keys {}: expected 1 to 1000", workload.keys));
        }
        let mix = workload.mix;
        if mix.total() == 0 {
            return Err("workload.mix: expected at least one non-zero weight".to_string());
        }
        if !(workload.rate.is_finite() && (0.0..=100_000.0).contains(&workload.rate)) {
            return Err(format!(
                "workload.rate {}: expected operations per second per client, 0 (no wait) to 100000",
                workload.rate
            ));
        }
        if !(self.duration.is_finite() && self.duration > 0.0 && self.duration <= DURATION_SECONDS_MAX) {
            return Err(format!(
                "duration {}: expected seconds of fault phase, more than 0 and at most {DURATION_SECONDS_MAX}",
                self.duration
            ));
        }
        if let Build::Mutant(name) = &self.build {
            if name.is_empty() {
                return Err("build.mutant: expected the name of a mutant".to_string());
            }
        }
        for (index, step) in self.faults.iter().enumerate() {
            step.validate(self.nodes, self.spares, self.duration)
                .map_err(|error| format!("faults[{index}]: {error}"))?;
            for fault in step.faults() {
                if let Some(Target::GroupLeader(group)) = fault.target() {
                    if group >= self.groups {
                        return Err(format!(
                            "faults[{index}]: target leader-of-group-{group}: the scenario runs groups 0 to {}",
                            self.groups - 1
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The same scenario with another fault phase length (a repeated schedule fills it; a `once`
    /// step after the new end is dropped).
    pub fn with_duration(mut self, duration: f64) -> Scenario {
        self.duration = duration;
        self.faults.retain(|step| match step {
            Step::Once { at, .. } => *at <= duration,
            Step::Repeat { .. } => true,
        });
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_scenario_is_valid_and_round_trips_through_json() {
        for scenario in catalog::all() {
            scenario.validate().unwrap_or_else(|error| panic!("{}: {error}", scenario.name));
            let json = serde_json::to_string_pretty(&scenario).expect("serialises");
            let back: Scenario = serde_json::from_str(&json).expect("parses");
            assert_eq!(back, scenario, "{json}");
        }
    }

    #[test]
    fn a_scenario_expects_per_system_what_expect_on_says_and_names_only_known_systems() {
        let text = r#"{"name": "cut", "description": "d", "duration": 5, "faults": [],
            "expect-on": {"redis": "violation"}}"#;
        let scenario: Scenario = serde_json::from_str(text).expect("parses");
        scenario.validate().expect("valid");
        assert_eq!(scenario.expect_for("redis"), Expect::Violation);
        assert_eq!(scenario.expect_for("etcd"), Expect::Linearizable);
        assert_eq!(scenario.expect_for("paxos"), Expect::Linearizable);
        let unknown: Scenario = serde_json::from_str(&text.replace("redis", "mysql")).expect("parses");
        assert_eq!(
            unknown.validate(),
            Err("expect-on: unknown system \"mysql\": expected one of paxos, etcd, redis".to_string())
        );
    }

    #[test]
    fn catalog_names_are_unique_and_cover_the_required_faults() {
        let names: Vec<String> = catalog::all().into_iter().map(|scenario| scenario.name).collect();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for required in [
            "partition",
            "leader-isolation",
            "majorities-ring",
            "bridge",
            "one-way",
            "clock-skew",
            "crash-restart",
            "machine-crash",
            "storage-loss",
            "pause",
            "flaky-network",
            "mixed",
            "transfer-leader",
            "replace-lost-node",
            "grow-shrink",
        ] {
            assert!(names.iter().any(|name| name == required), "{required} missing from {names:?}");
        }
        let controls = catalog::all().into_iter().filter(|scenario| scenario.expect == Expect::Violation);
        assert!(controls.count() >= 2, "at least two negative controls");
    }

    /// Found by the `scenario` fuzz target: a rate written with more digits than a double holds
    /// read back one unit in the last place off after being written again, because serde_json
    /// parsed floats fast rather than exactly. It parses them exactly now (`float_roundtrip`).
    #[test]
    fn a_number_with_more_digits_than_a_double_holds_reads_back_the_same_after_writing() {
        let json = r#"{"name": "x", "description": "", "duration": 5, "faults": [{"once": {"at": 0, "hold": 1,
            "fault": {"clock": {"target": "all", "offset": [0, 0], "rate": [1.02222222222222222222222222222222222222222222, 4]}}}}]}"#;
        let scenario: Scenario = serde_json::from_str(json).expect("parses");
        scenario.validate().expect("valid");
        let again: Scenario =
            serde_json::from_str(&serde_json::to_string(&scenario).expect("writes")).expect("reads");
        assert_eq!(again, scenario);
    }

    #[test]
    fn a_minimal_file_gets_the_defaults() {
        let scenario: Scenario = serde_json::from_str(
            r#"{"name": "mine", "description": "d", "duration": 5,
                "faults": [{"once": {"at": 1, "hold": 2, "fault": {"kill": {"target": "leader"}}}}]}"#,
        )
        .expect("parses");
        scenario.validate().expect("valid");
        assert_eq!(scenario.nodes, 3);
        assert_eq!(scenario.workload, Workload::default());
        assert_eq!(scenario.expect, Expect::Linearizable);
        assert_eq!(
            scenario.faults[0],
            Step::Once { at: 1.0, hold: 2.0, fault: Fault::Kill { target: Target::Leader } }
        );
    }

    #[test]
    fn a_mix_on_the_command_line_is_four_weights() {
        assert_eq!("4:4:2:1".parse::<Mix>(), Ok(Mix { read: 4, write: 4, cas: 2, delete: 1 }));
        assert_eq!(Mix { read: 1, write: 0, cas: 3, delete: 2 }.to_string(), "1:0:3:2");
        for (text, error) in [
            ("4:4:2", "\"4:4:2\": expected four weights read:write:cas:delete, such as 4:4:2:1"),
            ("4:4:2:x", "\"4:4:2:x\": expected four weights read:write:cas:delete, such as 4:4:2:1"),
            ("4:4:2:-1", "\"4:4:2:-1\": expected four weights read:write:cas:delete, such as 4:4:2:1"),
            ("0:0:0:0", "\"0:0:0:0\": expected at least one non-zero weight"),
        ] {
            assert_eq!(text.parse::<Mix>(), Err(error.to_string()), "{text}");
        }
        // A scenario file without deletes in its mix has none.
        let mix: Mix = serde_json::from_str(r#"{"read": 1, "write": 1, "cas": 1}"#).expect("parses");
        assert_eq!(mix.delete, 0);
    }

    #[test]
    fn bad_fields_get_one_clear_line() {
        let cases = [
            (r#"{"name": "Bad Name", "description": "", "duration": 5, "faults": []}"#, "name \"Bad Name\""),
            (r#"{"name": "x", "description": "", "duration": 0, "faults": []}"#, "duration 0"),
            (r#"{"name": "x", "description": "", "nodes": 12, "duration": 5, "faults": []}"#, "nodes 12"),
            (
                r#"{"name": "x", "description": "", "duration": 5, "faults": [{"once": {"at": 9, "hold": 1, "fault": "partition-halves"}}]}"#,
                "faults[0]: at 9",
            ),
            (
                r#"{"name": "x", "description": "", "duration": 5, "faults": [{"repeat": {"gap": [3, 1], "hold": [1, 2], "choose": ["bridge"]}}]}"#,
                "faults[0]: gap [3, 1]",
            ),
            (
                r#"{"name": "x", "description": "", "duration": 5, "faults": [{"once": {"at": 1, "hold": 1, "fault": {"pause": {"target": "n7"}}}}]}"#,
                "faults[0]: target n7",
            ),
            (
                r#"{"name": "x", "description": "", "duration": 5, "faults": [{"once": {"at": 1, "hold": 1, "fault": {"storage-loss": {"target": "all"}}}}]}"#,
                "faults[0]: storage-loss of all",
            ),
            (r#"{"name": "x", "description": "", "groups": 0, "duration": 5, "faults": []}"#, "groups 0"),
            (
                r#"{"name": "x", "description": "", "sync-ms": [50, 5], "duration": 5, "faults": []}"#,
                "sync-ms [50, 5]: expected [low, high] milliseconds with 0 <= low <= high <= 1000",
            ),
            (
                r#"{"name": "x", "description": "", "sync-ms": [1, 5000], "duration": 5, "faults": []}"#,
                "sync-ms [1, 5000]",
            ),
            (
                r#"{"name": "x", "description": "", "duration": 5, "faults": [{"once": {"at": 1, "hold": 0, "fault": {"promote-voter": {"target": "all"}}}}]}"#,
                "faults[0]: promote-voter of all: expected one node",
            ),
            (
                r#"{"name": "x", "description": "", "groups": 2, "duration": 5, "faults": [{"once": {"at": 1, "hold": 1, "fault": {"isolate": {"target": "leader-of-group-2"}}}}]}"#,
                "faults[0]: target leader-of-group-2: the scenario runs groups 0 to 1",
            ),
        ];
        for (json, expected) in cases {
            let scenario: Scenario = serde_json::from_str(json).expect("parses");
            let error = scenario.validate().expect_err(json);
            assert!(error.starts_with(expected), "{error:?} should start with {expected:?}");
            assert!(!error.contains('\n'), "one line: {error:?}");
        }
    }

    #[test]
    fn a_target_that_is_no_target_is_refused_by_the_parser() {
        let error = serde_json::from_str::<Target>(r#""somebody""#).expect_err("refused").to_string();
        assert!(
            error.contains(
                "expected leader, follower, followers, random, minority, all, a node n1..n9, or leader-of-group-N"
            ),
            "{error}"
        );
    }
}
