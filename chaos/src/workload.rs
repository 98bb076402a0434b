//! What a client of a chaos run does, in simulation or against real processes: which operation it
//! invokes next (get, put, cas or delete on a random key, every written value unique), how it reads the
//! reply (`ok`, `fail` for a definite no-effect, `info` for an unknown outcome), and the history
//! events it records (the checker's JSON Lines format). [`run_client`] and [`final_reads`] are
//! the one client loop and the one final read of both, over an [`Environment`] (turmoil's
//! sockets and clock, or the operating system's), through a [`Store`]: this store's RESP, or a
//! foreign system's own client (see `real::target`).

use crate::error::Liveness;
use paxos::client::resp::Reply;
use paxos::client::Client;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::future::Future;
use std::io;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// What every node answered to the final reads: (node, key, value).
pub type FinalValues = Vec<(u8, String, Option<String>)>;

/// One operation of the workload, in the store's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read a key.
    Read {
        /// The key.
        key: String,
    },
    /// Write a key.
    Write {
        /// The key.
        key: String,
        /// The value (unique in the run).
        value: String,
    },
    /// Remove a key (it reads as absent after).
    Delete {
        /// The key.
        key: String,
    },
    /// Write `new` if the key holds `expected` (`None`: if it is absent).
    Cas {
        /// The key.
        key: String,
        /// The value it must hold.
        expected: Option<String>,
        /// The value to write.
        new: String,
    },
}

/// What a store answered to an [`Op`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A read's value (`None`: absent).
    Read(Option<String>),
    /// A write (or a delete) was done.
    Written,
    /// A compare-and-set was done (`true`) or its comparison failed (`false`: nothing written).
    Swapped(bool),
    /// Refused before anything was executed (BUSY, a read-only replica...): a definite no-effect.
    Refused(String),
    /// Anything else: the outcome is unknown.
    Unknown(String),
}

/// A client connection to one node of the store under test.
pub trait Store {
    /// Performs `op`.
    ///
    /// # Errors
    ///
    /// The connection failed (an unknown outcome).
    fn call(&mut self, op: &Op) -> impl Future<Output = io::Result<Answer>>;
}

/// This store, over RESP: `GET`, `SET`, `DEL`, `CAS key expected new` (`__absent__` for a missing
/// key).
impl<S: AsyncRead + AsyncWrite + Unpin> Store for Client<S> {
    async fn call(&mut self, op: &Op) -> io::Result<Answer> {
        let reply = match op {
            Op::Read { key } => self.command(&[b"GET", key.as_bytes()]).await?,
            Op::Write { key, value } => self.command(&[b"SET", key.as_bytes(), value.as_bytes()]).await?,
            Op::Delete { key } => self.command(&[b"DEL", key.as_bytes()]).await?,
            Op::Cas { key, expected, new } => {
                let expected = expected.as_deref().unwrap_or("__absent__");
                self.command(&[b"CAS", key.as_bytes(), expected.as_bytes(), new.as_bytes()]).await?
            }
        };
        // BUSY: refused before anything was executed; UNAVAILABLE: unknown.
        Ok(answer(op, reply, &["BUSY"]))
    }
}

/// What a RESP `reply` to `op` says, from a server whose errors beginning with one of `refusals`
/// mean the command was not executed.
pub fn answer(op: &Op, reply: Reply, refusals: &[&str]) -> Answer {
    match (op, reply) {
        (Op::Read { .. }, Reply::Bulk(read)) => {
            Answer::Read(read.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
        }
        (Op::Write { .. }, Reply::Simple(ok)) if ok == "OK" => Answer::Written,
        // How many keys it removed: 0 when the key was absent, still a delete done.
        (Op::Delete { .. }, Reply::Integer(0 | 1)) => Answer::Written,
        (Op::Cas { .. }, Reply::Integer(swapped @ (0 | 1))) => Answer::Swapped(swapped == 1),
        (_, Reply::Error(error)) if refusals.iter().any(|code| error.starts_with(code)) => {
            Answer::Refused(error)
        }
        // Any other error and anything unexpected: unknown.
        (_, other) => Answer::Unknown(format!("{other:?}")),
    }
}

/// Where the workload runs: how a client reaches a node, what time it is, where history goes.
pub trait Environment {
    /// A client connection to a node.
    type Client: Store;
    /// Connects to node `node` (1-based).
    fn connect(&self, node: u8) -> impl Future<Output = io::Result<Self::Client>>;
    /// The nodes of the cluster now, in order (membership changes add and remove some).
    fn members(&self) -> Vec<u8>;
    /// The history's clock: nanoseconds since the run began.
    fn now(&self) -> u64;
    /// Whether the clients should stop (checked before each operation).
    fn stopped(&self) -> bool;
    /// Appends one history line.
    fn record(&self, line: String);
    /// Client `index` had an operation acknowledged.
    fn acknowledged(&self, _index: usize) {}
    /// Node `node` as an error message names it.
    fn describe(&self, node: u8) -> String {
        format!("node {node}")
    }
}

/// The shape of one client's work.
#[derive(Clone, Copy, Debug)]
pub struct ClientPlan<'a> {
    /// The client's index.
    pub index: usize,
    /// The workload it belongs to.
    pub workload: &'a scenarios::Workload,
    /// The prefix of its keys' names.
    pub prefix: &'a str,
    /// The run's seed (each client derives its own generator from it).
    pub seed: u64,
    /// How long a request may take before its outcome is unknown.
    pub deadline: Duration,
}

/// One client: invokes operations one at a time and records every invocation and completion; a
/// deadline or a lost connection is an unknown outcome (`info`), after which the client continues
/// as a new process on a random node. Returns when the environment says stop.
pub async fn run_client<E: Environment>(env: &E, plan: ClientPlan<'_>) {
    let (index, workload) = (plan.index, plan.workload);
    let mut rng = SmallRng::seed_from_u64(plan.seed ^ (0x5EED_0000 + index as u64));
    let mut state = ClientState::new(
        index,
        workload.clients,
        workload.keys,
        workload.mix,
        index < workload.readers,
        plan.prefix,
    );
    'connect: loop {
        if env.stopped() {
            return;
        }
        let members = env.members();
        if members.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        let node = if state.first_process() {
            first_node(index, &members)
        } else {
            members[rng.random_range(0..members.len())]
        };
        let mut client = match tokio::time::timeout(plan.deadline, env.connect(node)).await {
            Ok(Ok(client)) => client,
            _ => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        loop {
            if env.stopped() {
                return;
            }
            let invocation = state.invoke(&mut rng);
            let process = state.process;
            let record = |kind: &str, value: &serde_json::Value| {
                env.record(event(process, kind, invocation.f, &invocation.name, value, env.now()));
            };
            record("invoke", &invocation.value);
            let answer = tokio::time::timeout(plan.deadline, client.call(&invocation.op)).await;
            let (kind, result) = state.complete(&invocation, answer.ok().and_then(Result::ok));
            record(kind, &result);
            match kind {
                "ok" => env.acknowledged(index),
                "info" => continue 'connect,
                _ => {}
            }
            if workload.rate > 0.0 {
                tokio::time::sleep(Duration::from_secs_f64(rng.random_range(0.0..2.0 / workload.rate))).await;
            }
        }
    }
}

/// Reads every key through every node, each read retried (as a new process) until it is answered,
/// and records them in the history: after healing, every node must serve its clients, and the
/// values read are what the acknowledged writes are checked against.
///
/// # Errors
///
/// A node that answered no read of a key within `within` (no bound if `None`).
pub async fn final_reads<E: Environment>(
    env: &E,
    nodes: &[u8],
    keys: usize,
    prefix: &str,
    deadline: Duration,
    within: Option<Duration>,
) -> Result<FinalValues, Liveness> {
    let give_up = within.map(|within| tokio::time::Instant::now() + within);
    let mut process = FINAL_PROCESS;
    let mut values = Vec::new();
    for &node in nodes {
        for key in 0..keys {
            let name = key_name(prefix, key);
            loop {
                let record = |kind: &str, value: &serde_json::Value, process: usize| {
                    env.record(event(process, kind, "read", &name, value, env.now()));
                };
                record("invoke", &serde_json::Value::Null, process);
                let read = tokio::time::timeout(deadline, async {
                    env.connect(node).await?.call(&Op::Read { key: name.clone() }).await
                })
                .await;
                if let Ok(Ok(Answer::Read(read))) = read {
                    record(
                        "ok",
                        &read.clone().map_or(serde_json::Value::Null, serde_json::Value::from),
                        process,
                    );
                    values.push((node, name.clone(), read));
                    process += 1;
                    break;
                }
                record("info", &serde_json::Value::Null, process);
                process += 1;
                if give_up.is_some_and(|at| tokio::time::Instant::now() >= at) {
                    let within = within.unwrap_or_default();
                    return Err(Liveness::NotServing { node: env.describe(node), key: name, within });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    Ok(values)
}

/// The process number of the first final read: above every client's.
pub const FINAL_PROCESS: usize = 1_000_000;

/// One operation about to be invoked.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// `read`, `write`, `cas` or `delete`.
    pub f: &'static str,
    /// Index of its key.
    pub key: usize,
    /// The key's name.
    pub name: String,
    /// The invocation's value: the written value, or `[expected, new]`.
    pub value: serde_json::Value,
    /// The operation.
    pub op: Op,
}

/// A client's state: its current process number and the values it last saw, which its
/// compare-and-sets start from.
#[derive(Clone, Debug)]
pub struct ClientState {
    index: usize,
    clients: usize,
    /// The process number of the events it records; a new one after every unknown outcome.
    pub process: usize,
    written: u64,
    last_seen: Vec<Option<String>>,
    mix: scenarios::Mix,
    prefix: String,
}

/// The name of key `key`.
pub fn key_name(prefix: &str, key: usize) -> String {
    format!("{prefix}k{key}")
}

/// The node client `index` connects to first (clients spread over the nodes, as Jepsen binds its
/// workers to nodes); after an unknown outcome a client goes to a random node.
pub fn first_node(index: usize, members: &[u8]) -> u8 {
    members[index % members.len()]
}

impl ClientState {
    /// Client `index` of `clients`, over `keys` keys named with `prefix`; readers only read.
    pub fn new(
        index: usize,
        clients: usize,
        keys: usize,
        mix: scenarios::Mix,
        reader: bool,
        prefix: &str,
    ) -> ClientState {
        ClientState {
            index,
            clients,
            process: index,
            written: 0,
            last_seen: vec![None; keys],
            mix: if reader { scenarios::Mix { read: 1, write: 0, cas: 0, delete: 0 } } else { mix },
            prefix: prefix.to_string(),
        }
    }

    /// Whether it has not yet had an unknown outcome (it is still on its first node).
    pub fn first_process(&self) -> bool {
        self.process == self.index
    }

    /// The next operation.
    pub fn invoke(&mut self, rng: &mut SmallRng) -> Invocation {
        let key = rng.random_range(0..self.last_seen.len());
        let name = key_name(&self.prefix, key);
        let mix = self.mix;
        let choice = rng.random_range(0..mix.total());
        let (read, write, cas) = (
            u64::from(mix.read),
            u64::from(mix.read) + u64::from(mix.write),
            mix.total() - u64::from(mix.delete),
        );
        if choice < read {
            return Invocation {
                f: "read",
                key,
                op: Op::Read { key: name.clone() },
                name,
                value: serde_json::Value::Null,
            };
        }
        if choice >= cas {
            return Invocation {
                f: "delete",
                key,
                op: Op::Delete { key: name.clone() },
                name,
                value: serde_json::Value::Null,
            };
        }
        self.written += 1;
        let new = format!("c{}-{}", self.index, self.written);
        if choice < write {
            return Invocation {
                f: "write",
                key,
                op: Op::Write { key: name.clone(), value: new.clone() },
                name,
                value: new.into(),
            };
        }
        let expected = self.last_seen[key].clone();
        Invocation {
            f: "cas",
            key,
            op: Op::Cas { key: name.clone(), expected: expected.clone(), new: new.clone() },
            name,
            value: serde_json::json!([expected, new]),
        }
    }

    /// Reads the answer (`None`: a deadline or a lost connection) into the completion's type and
    /// value. After an unknown outcome the client continues as a new process (as Jepsen does).
    pub fn complete(
        &mut self,
        invocation: &Invocation,
        answer: Option<Answer>,
    ) -> (&'static str, serde_json::Value) {
        let value = invocation.value.clone();
        let (kind, result) = match (invocation.f, answer) {
            ("read", Some(Answer::Read(read))) => {
                self.last_seen[invocation.key] = read.clone();
                ("ok", read.map_or(serde_json::Value::Null, serde_json::Value::from))
            }
            ("write", Some(Answer::Written)) => {
                self.last_seen[invocation.key] = value.as_str().map(str::to_string);
                ("ok", value)
            }
            ("delete", Some(Answer::Written)) => {
                self.last_seen[invocation.key] = None;
                ("ok", value)
            }
            ("cas", Some(Answer::Swapped(true))) => {
                self.last_seen[invocation.key] = value[1].as_str().map(str::to_string);
                ("ok", value)
            }
            // The comparison failed: a definite outcome, nothing written.
            ("cas", Some(Answer::Swapped(false))) => ("fail", value),
            // Refused before anything was executed.
            (_, Some(Answer::Refused(_))) => ("fail", value),
            // A deadline, a lost connection, anything unexpected: unknown.
            _ => ("info", value),
        };
        if kind == "info" {
            self.process += self.clients;
        }
        (kind, result)
    }
}

/// One history event, as a JSON line.
pub fn event(
    process: usize,
    kind: &str,
    f: &str,
    key: &str,
    value: &serde_json::Value,
    time_ns: u64,
) -> String {
    serde_json::json!({"process": process, "type": kind, "f": f, "key": key, "value": value, "time": time_ns})
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn state(mix: scenarios::Mix) -> ClientState {
        ClientState::new(0, 1, 1, mix, false, "")
    }

    /// Each reply a RESP server may give, read as what it means for the history: a refusal only
    /// where the server's own codes say nothing was executed, anything unexpected unknown.
    #[test]
    fn a_resp_reply_is_read_as_the_answer_it_means() {
        let key = || "k".to_string();
        let (read, write) = (Op::Read { key: key() }, Op::Write { key: key(), value: "v".into() });
        let (delete, cas) =
            (Op::Delete { key: key() }, Op::Cas { key: key(), expected: None, new: "v".into() });
        let unknown = |reply: &Reply| Answer::Unknown(format!("{reply:?}"));
        let error = |text: &str| Reply::Error(text.to_string());
        let cases = [
            (&read, Reply::Bulk(Some(b"v1".to_vec())), Answer::Read(Some("v1".into()))),
            (&read, Reply::Bulk(None), Answer::Read(None)),
            (&read, Reply::Integer(1), unknown(&Reply::Integer(1))),
            (&write, Reply::Simple("OK".into()), Answer::Written),
            (&write, Reply::Simple("QUEUED".into()), unknown(&Reply::Simple("QUEUED".into()))),
            (&delete, Reply::Integer(0), Answer::Written),
            (&delete, Reply::Integer(1), Answer::Written),
            (&delete, Reply::Integer(2), unknown(&Reply::Integer(2))),
            (&cas, Reply::Integer(1), Answer::Swapped(true)),
            (&cas, Reply::Integer(0), Answer::Swapped(false)),
            (&cas, Reply::Bulk(None), unknown(&Reply::Bulk(None))),
            (&write, error("BUSY not the leader"), Answer::Refused("BUSY not the leader".into())),
            (&write, error("UNAVAILABLE no quorum"), unknown(&error("UNAVAILABLE no quorum"))),
            (&write, error("READONLY replica"), unknown(&error("READONLY replica"))),
        ];
        for (op, reply, expected) in cases {
            assert_eq!(answer(op, reply.clone(), &["BUSY"]), expected, "{op:?} answered {reply:?}");
        }
        let redis = ["READONLY", "MASTERDOWN"];
        assert_eq!(
            answer(&write, error("READONLY replica"), &redis),
            Answer::Refused("READONLY replica".into())
        );
        assert_eq!(answer(&write, error("BUSY script"), &redis), unknown(&error("BUSY script")));
    }

    #[test]
    fn a_mix_invokes_each_kind_in_its_share() {
        let mut rng = SmallRng::seed_from_u64(7);
        let mut state = state("4:4:2:1".parse().expect("a mix"));
        let mut counts = std::collections::BTreeMap::new();
        for _ in 0..11_000 {
            *counts.entry(state.invoke(&mut rng).f).or_insert(0u32) += 1;
        }
        // 4 : 4 : 2 : 1 of 11,000, each within 10% of its share.
        for (f, share) in [("read", 4_000.0), ("write", 4_000.0), ("cas", 2_000.0), ("delete", 1_000.0)] {
            let count = f64::from(counts[f]);
            assert!((count - share).abs() < share / 10.0, "{f}: {count} of 11,000 ({counts:?})");
        }
    }

    #[test]
    fn a_delete_writes_no_value_and_the_next_cas_expects_the_key_absent() {
        let mut rng = SmallRng::seed_from_u64(1);
        let only = |read, write, cas, delete| scenarios::Mix { read, write, cas, delete };
        let mut state = state(only(0, 1, 0, 0));
        let write = state.invoke(&mut rng);
        assert_eq!((write.f, write.value.clone()), ("write", serde_json::json!("c0-1")));
        assert_eq!(state.complete(&write, Some(Answer::Written)), ("ok", serde_json::json!("c0-1")));
        state.mix = only(0, 0, 0, 1);
        let delete = state.invoke(&mut rng);
        assert_eq!(delete.op, Op::Delete { key: "k0".to_string() });
        assert_eq!(delete.value, serde_json::Value::Null);
        // Refused: nothing changed, the cas still expects the value written.
        assert_eq!(state.complete(&delete, Some(Answer::Refused("BUSY".into()))).0, "fail");
        state.mix = only(0, 0, 1, 0);
        assert_eq!(state.invoke(&mut rng).value, serde_json::json!(["c0-1", "c0-2"]));
        assert_eq!(state.complete(&delete, Some(Answer::Written)), ("ok", serde_json::Value::Null));
        // The values stay unique: a delete takes no number.
        assert_eq!(state.invoke(&mut rng).value, serde_json::json!([null, "c0-3"]));
        // An unknown outcome: a new process.
        assert_eq!(state.complete(&delete, None).0, "info");
        assert_eq!(state.process, 1);
    }

    #[tokio::test]
    async fn this_store_answers_a_delete_with_the_count_it_removed_either_way_done() {
        for reply in [":1\r\n", ":0\r\n"] {
            let (near, mut far) = tokio::io::duplex(1024);
            let mut client = Client::new(near);
            let server = async {
                let mut request = vec![0u8; 64];
                let read = far.read(&mut request).await.expect("request");
                far.write_all(reply.as_bytes()).await.expect("reply");
                String::from_utf8_lossy(&request[..read]).into_owned()
            };
            let delete = Op::Delete { key: "k1".to_string() };
            let (answer, request) = tokio::join!(client.call(&delete), server);
            assert_eq!(request, "*2\r\n$3\r\nDEL\r\n$2\r\nk1\r\n");
            assert_eq!(answer.expect("answered"), Answer::Written, "{reply:?}");
        }
    }
}
