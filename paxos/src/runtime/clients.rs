//! One client connection: RESP commands in, replies out, in order.
//!
//! Consecutive key-value commands of a pipeline become one request (applied atomically, in order,
//! with one log slot); `PING`, `INFO` and `CLUSTER` are answered locally, in their place in the
//! pipeline. Each connection is a client session with its own id; a request that gets no response
//! before the deadline is answered `UNAVAILABLE` (its outcome is unknown) and abandoned, so that
//! the session can go on.

use super::session::{Call, Control, Info, Session};
use crate::client::resp::{self, ProtocolError, Reply};
use crate::core::{Bytes, Change, ClientId, NodeId, Operation, Outcome, Request, Response};
use crate::metrics::{self, Metrics};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// One parsed command.
enum Command {
    Kv(Operation),
    Local(Reply),
    Info,
    Cluster,
    /// `MEMBER LIST`: the members as this node sees them.
    Members,
    /// `MEMBER CONFIG`: what a joining node needs, as JSON.
    Config,
}

/// The `MEMBER` subcommands, for errors.
const MEMBER_USAGE: &str = "MEMBER LIST | ADD id client-addr peer-addr | PROMOTE id | REMOVE id | \
                            REPLACE old-id new-id | TRANSFER-LEADER id | CONFIG";

/// A node id argument: 1 to 63.
fn node_id(argument: &[u8]) -> Result<NodeId, Reply> {
    let text = String::from_utf8_lossy(argument);
    match text.parse::<u8>() {
        Ok(id) if (1..64).contains(&id) => Ok(NodeId(id)),
        _ => Err(Reply::error(format!("ERR node id {text:?}: expected a number from 1 to 63"))),
    }
}

/// An address argument: `host:port`.
fn address(argument: &[u8], what: &str) -> Result<String, Reply> {
    let text = String::from_utf8_lossy(argument).into_owned();
    let valid =
        text.rsplit_once(':').is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            && !text.contains(char::is_whitespace);
    if valid {
        Ok(text)
    } else {
        Err(Reply::error(format!("ERR {what} address {text:?}: expected host:port")))
    }
}

/// `MEMBER ...`: a change goes through the log like a write; `LIST` and `CONFIG` are answered here.
fn member(arguments: &[Bytes]) -> Command {
    let sub = arguments.first().map(|word| String::from_utf8_lossy(word).to_ascii_uppercase());
    let rest = arguments.get(1..).unwrap_or(&[]);
    let parsed = match (sub.as_deref(), rest) {
        (Some("LIST"), []) => return Command::Members,
        (Some("CONFIG"), []) => return Command::Config,
        (Some("ADD"), [id, client, peer]) => (|| {
            let node = node_id(id)?;
            let (client, peer) = (address(client, "client")?, address(peer, "peer")?);
            Ok(Operation::Member(Change::Add { node, address: Bytes::from(format!("{client} {peer}")) }))
        })(),
        (Some("PROMOTE"), [id]) => node_id(id).map(|node| Operation::Member(Change::Promote { node })),
        (Some("REMOVE"), [id]) => node_id(id).map(|node| Operation::Member(Change::Remove { node })),
        (Some("REPLACE"), [old, new]) => (|| {
            let (old, new) = (node_id(old)?, node_id(new)?);
            if old == new {
                return Err(Reply::error(format!("ERR MEMBER REPLACE {old} {new}: the two ids must differ")));
            }
            Ok(Operation::Member(Change::Replace { old, new }))
        })(),
        (Some("TRANSFER-LEADER"), [id]) => node_id(id).map(|to| Operation::Transfer { to }),
        _ => Err(arity("member", MEMBER_USAGE)),
    };
    match parsed {
        Ok(operation) => Command::Kv(operation),
        Err(reply) => Command::Local(reply),
    }
}

/// The word "absent" as CAS's expected value means "only if the key does not exist".
const ABSENT: &[u8] = b"__absent__";

fn arity(name: &str, expected: &str) -> Reply {
    Reply::error(format!("ERR wrong number of arguments for '{name}' command (expected {expected})"))
}

fn parse(arguments: Vec<Vec<u8>>, value_bytes: usize) -> Command {
    if let Some(long) = arguments.iter().skip(1).find(|argument| argument.len() > value_bytes) {
        return Command::Local(Reply::error(format!(
            "ERR an argument of {} bytes is over the limit of {value_bytes} bytes",
            long.len()
        )));
    }
    let Some(name) = arguments.first() else { return Command::Local(Reply::error("ERR empty command")) };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    let mut rest = arguments.into_iter().skip(1).map(Bytes::from);
    let count = rest.len();
    match (name.as_str(), count) {
        ("GET", 1) => Command::Kv(Operation::Get { key: rest.next().expect("one") }),
        ("GET", _) => Command::Local(arity("get", "GET key")),
        ("SET", 2) => {
            let key = rest.next().expect("two");
            Command::Kv(Operation::Put { key, value: rest.next().expect("two") })
        }
        ("SET", _) => Command::Local(arity("set", "SET key value")),
        ("DEL", 1) => Command::Kv(Operation::Delete { key: rest.next().expect("one") }),
        ("DEL", _) => Command::Local(arity("del", "DEL key")),
        ("CAS", 3) => {
            let key = rest.next().expect("three");
            let expected = rest.next().expect("three");
            let expected = (expected.as_slice() != ABSENT).then_some(expected);
            Command::Kv(Operation::Cas { key, expected, new: rest.next().expect("three") })
        }
        ("CAS", _) => {
            Command::Local(arity("cas", "CAS key expected new, with expected __absent__ for a missing key"))
        }
        ("PING", 0) => Command::Local(Reply::Simple("PONG".to_string())),
        ("PING", 1) => Command::Local(Reply::Bulk(Some(rest.next().expect("one").to_vec()))),
        ("PING", _) => Command::Local(arity("ping", "PING [message]")),
        ("INFO", _) => Command::Info,
        ("CLUSTER", _) => Command::Cluster,
        ("MEMBER", _) => member(&rest.collect::<Vec<_>>()),
        // redis-benchmark and redis-cli ask for these: answer harmlessly.
        ("CONFIG", _) => Command::Local(Reply::Array(Vec::new())),
        ("CLIENT", _) => Command::Local(Reply::Simple("OK".to_string())),
        ("SELECT", 1) => match rest.next().as_deref() {
            Some(b"0") => Command::Local(Reply::Simple("OK".to_string())),
            _ => Command::Local(Reply::error("ERR this store has one database, 0")),
        },
        ("SELECT", _) => Command::Local(arity("select", "SELECT 0")),
        ("COMMAND", _) => Command::Local(Reply::Array(Vec::new())),
        _ => Command::Local(Reply::error(format!(
            "ERR unknown command '{name}'; this store speaks GET, SET, DEL, CAS, PING, INFO, CLUSTER NODES, MEMBER"
        ))),
    }
}

fn reply_of(outcome: Outcome) -> Reply {
    match outcome {
        Outcome::Value(value) => Reply::Bulk(value.map(|bytes| bytes.to_vec())),
        Outcome::Written => Reply::Simple("OK".to_string()),
        Outcome::Deleted(existed) => Reply::Integer(i64::from(existed)),
        Outcome::Swapped(swapped) => Reply::Integer(i64::from(swapped)),
        Outcome::Member(Ok(version)) => Reply::Simple(format!("OK membership version {version}")),
        Outcome::Member(Err(error)) => Reply::error(error.to_string()),
    }
}

/// Serves one connection until it closes or breaks the protocol.
pub async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    client: ClientId,
    session: Session,
) -> Result<(), ProtocolError> {
    let mut buf: Vec<u8> = Vec::with_capacity(16 << 10);
    let mut out: Vec<u8> = Vec::with_capacity(16 << 10);
    let mut sequence = 0u64;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let read = match session.limits.idle {
            None => stream.read(&mut chunk).await,
            Some(idle) => match tokio::time::timeout(idle, stream.read(&mut chunk)).await {
                Ok(read) => read,
                Err(_) => return Err(ProtocolError(format!("idle for {} s: closed", idle.as_secs()))),
            },
        };
        let read = match read {
            Ok(0) | Err(_) => return Ok(()),
            Ok(read) => read,
        };
        buf.extend_from_slice(&chunk[..read]);
        // Every complete command in the buffer, in order.
        let mut commands = Vec::new();
        let mut used = 0;
        let violation = loop {
            match resp::parse_command(&buf[used..], &session.limits) {
                Ok(Some((arguments, consumed))) => {
                    used += consumed;
                    if let Some(name) = arguments.first() {
                        let index = metrics::command_index(name);
                        commands.push((index, parse(arguments, session.value_bytes)));
                    }
                }
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        buf.drain(..used);
        let mut batch: Vec<Operation> = Vec::new();
        for (index, command) in commands {
            match command {
                Command::Kv(operation) => {
                    batch.push(operation);
                    if batch.len() >= session.operations_max {
                        execute(&session, client, &mut sequence, std::mem::take(&mut batch), &mut out).await;
                    }
                }
                other => {
                    execute(&session, client, &mut sequence, std::mem::take(&mut batch), &mut out).await;
                    let reply = match other {
                        Command::Local(reply) => reply,
                        Command::Info => info(&session, Status::Info).await,
                        Command::Cluster => info(&session, Status::ClusterNodes).await,
                        Command::Members => info(&session, Status::Members).await,
                        Command::Config => info(&session, Status::Config).await,
                        Command::Kv(_) => unreachable!("handled above"),
                    };
                    if let Some(metrics) = &session.metrics {
                        metrics.request(index, result(&reply));
                    }
                    reply.encode(&mut out);
                }
            }
        }
        execute(&session, client, &mut sequence, batch, &mut out).await;
        if let Some(error) = &violation {
            if let Some(metrics) = &session.metrics {
                metrics.request(metrics::COMMANDS.len() - 1, metrics::RESULTS.len() - 1);
            }
            Reply::error(format!("ERR {error}")).encode(&mut out);
        }
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return Ok(());
            }
            out.clear();
        }
        if let Some(error) = violation {
            let _ = stream.shutdown().await;
            return Err(error);
        }
    }
}

/// Runs `operations` as one request and appends one reply per operation.
async fn execute(
    session: &Session,
    client: ClientId,
    sequence: &mut u64,
    operations: Vec<Operation>,
    out: &mut Vec<u8>,
) {
    if operations.is_empty() {
        return;
    }
    let count = operations.len();
    let started = tokio::time::Instant::now();
    // Operations per kind, for the metrics (no allocation on the request path).
    let mut kinds = [0u64; 5];
    if session.metrics.is_some() {
        for operation in &operations {
            kinds[kind(operation)] += 1;
        }
    }
    *sequence += 1;
    let request = Request { client, sequence: *sequence, operations };
    let (reply, response) = oneshot::channel();
    // The replies, and whether the protocol executed the request (or it failed as a whole).
    let (replies, executed): (Vec<Reply>, bool) =
        if session.calls.send(Call::Request { request, reply }).await.is_err() {
            (
                vec![Reply::error("UNAVAILABLE the node is shutting down; the outcome is unknown"); count],
                false,
            )
        } else {
            match tokio::time::timeout(session.deadline, response).await {
                Ok(Ok(Response { result: Ok(outcomes), .. })) => {
                    if let Some(metrics) = &session.metrics {
                        count_outcomes(metrics, &outcomes, kinds, started.elapsed());
                    }
                    (outcomes.into_iter().map(reply_of).collect(), true)
                }
                Ok(Ok(Response { result: Err(error), .. })) => {
                    (vec![Reply::error(error.to_string()); count], false)
                }
                Ok(Err(_)) => {
                    (vec![Reply::error("UNAVAILABLE the node stopped; the outcome is unknown"); count], false)
                }
                Err(_) => {
                    let _ = session.calls.send(Call::Abandon(client)).await;
                    let text = format!(
                        "UNAVAILABLE no quorum answered within {} ms; the outcome is unknown",
                        session.deadline.as_millis()
                    );
                    (vec![Reply::error(text); count], false)
                }
            }
        };
    // A request that failed fails as a whole: every operation with the same reply.
    if let (false, Some(metrics), Some(first)) = (executed, &session.metrics, replies.first()) {
        let failed = result(first);
        for (kind, &count) in kinds.iter().enumerate() {
            metrics.requests(kind, failed, count);
        }
        metrics.request_took(kinds[0] == count as u64, started.elapsed());
    }
    for reply in replies {
        reply.encode(out);
    }
}

/// The index in [`metrics::COMMANDS`] of an operation.
fn kind(operation: &Operation) -> usize {
    match operation {
        Operation::Get { .. } => 0,
        Operation::Put { .. } => 1,
        Operation::Delete { .. } => 2,
        Operation::Cas { .. } => 3,
        Operation::Member(_) | Operation::Transfer { .. } => 4,
    }
}

/// The index in [`metrics::RESULTS`] of a reply.
fn result(reply: &Reply) -> usize {
    match reply {
        Reply::Error(text) => metrics::result_of_error(text),
        _ => 0,
    }
}

/// Counts the operations of a request the protocol executed, by kind (as `kinds` counted them)
/// and result (every one `ok` but a refused membership change), and how long it took.
fn count_outcomes(metrics: &Metrics, outcomes: &[Outcome], kinds: [u64; 5], took: std::time::Duration) {
    let refused = outcomes.iter().filter(|outcome| matches!(outcome, Outcome::Member(Err(_)))).count() as u64;
    for (kind, &count) in kinds.iter().enumerate() {
        let refused = if kind == 4 { refused.min(count) } else { 0 };
        metrics.requests(kind, 0, count - refused);
        metrics.requests(kind, metrics::RESULTS.len() - 1, refused);
    }
    metrics.request_took(kinds[1..].iter().all(|&count| count == 0), took);
}

/// Which view of the node's status a command asks for.
#[derive(Clone, Copy)]
enum Status {
    Info,
    ClusterNodes,
    Members,
    Config,
}

async fn info(session: &Session, view: Status) -> Reply {
    let (reply, answer) = oneshot::channel();
    if session.control.send(Control::Info(reply)).await.is_err() {
        return Reply::error("UNAVAILABLE the node is shutting down");
    }
    let Ok(info) = answer.await else { return Reply::error("UNAVAILABLE the node stopped") };
    let text = match view {
        Status::Info => info.render(),
        Status::ClusterNodes => cluster_nodes(&info),
        Status::Members => members(&info),
        Status::Config => info.config_json(),
    };
    Reply::Bulk(Some(text.into_bytes()))
}

/// `CLUSTER NODES`-like: one line per member: id, client address, peer address, state as this
/// node sees it (leader, follower...), its role in the membership (voter, learner), and at the
/// leader how many slots behind a learner is (`lag=N`).
fn cluster_nodes(info: &Info) -> String {
    let mut text = String::new();
    for view in &info.members {
        let member = &view.member;
        let state = if Some(member.id) == info.leader {
            "leader"
        } else if member.id == info.node {
            info.role.as_str()
        } else {
            "follower"
        };
        let me = if member.id == info.node { ",myself" } else { "" };
        let role = view.role;
        let lag = view.lag.map(|lag| format!(" lag={lag}")).unwrap_or_default();
        text.push_str(&format!("{} {} {} {state}{me} {role}{lag}\n", member.id, member.client, member.peer));
    }
    text
}

/// `MEMBER LIST`: the membership version, then one line per member: id, role, addresses, and
/// (at the leader) how many slots behind it is.
fn members(info: &Info) -> String {
    let mut text = format!("membership version {}\n", info.membership_version);
    for view in &info.members {
        let member = &view.member;
        let lag = view.lag.map_or_else(|| "lag unknown".to_string(), |lag| format!("lag {lag}"));
        let leader = if Some(member.id) == info.leader { " leader" } else { "" };
        text.push_str(&format!(
            "{} {}{leader} client {} peer {} {lag}\n",
            member.id, view.role, member.client, member.peer
        ));
    }
    text
}
