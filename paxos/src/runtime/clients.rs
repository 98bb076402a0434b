//! One client connection: RESP commands in, replies out, in order.
//!
//! Consecutive key-value commands of a pipeline become one request per Paxos group (applied
//! atomically and in order within the group, with one log slot of it; the groups' requests run
//! side by side, as a pipeline's commands on different keys are concurrent anyway); `PING`,
//! `INFO` and `CLUSTER` are answered locally, in their place in the pipeline. A command's group is
//! its key's ([`super::groups::group_of`]); a membership change goes to every group, and is
//! answered once every group answered. Each connection is a client session with its own id; a
//! request that gets no response before the deadline is answered `UNAVAILABLE` (its outcome is
//! unknown) and abandoned, so that the session can go on.

use super::session::{Call, Control, Info, Session};
use crate::client::resp::{self, ProtocolError, Reply};
use crate::core::{Bytes, Change, ClientId, GroupId, NodeId, Operation, Outcome, Request, Response};
use crate::metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

/// One parsed command.
enum Command {
    /// Goes through the log: a key's group, or every group for a key-less operation.
    Kv(Operation),
    /// Goes through one group's log (`MEMBER TRANSFER-LEADER id group`).
    Routed(Operation, GroupId),
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
                            REPLACE old-id new-id | TRANSFER-LEADER id [group] | CONFIG";

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
fn member(arguments: &[Bytes], groups: u16) -> Command {
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
        (Some("TRANSFER-LEADER"), [id, group]) => {
            let text = String::from_utf8_lossy(group);
            match (node_id(id), text.parse::<u16>()) {
                (Err(reply), _) => Err(reply),
                (Ok(to), Ok(group)) if group < groups => {
                    return Command::Routed(Operation::Transfer { to }, GroupId(group));
                }
                (Ok(_), _) => Err(Reply::error(format!(
                    "ERR group {text:?}: expected a number from 0 to {}",
                    groups - 1
                ))),
            }
        }
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

fn parse(arguments: Vec<Vec<u8>>, value_bytes: usize, groups: u16) -> Command {
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
        ("MEMBER", _) => member(&rest.collect::<Vec<_>>(), groups),
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
                        commands.push((index, parse(arguments, session.value_bytes, session.groups)));
                    }
                }
                Ok(None) => break None,
                Err(error) => break Some(error),
            }
        };
        buf.drain(..used);
        let mut batch: Vec<(Operation, Option<GroupId>)> = Vec::new();
        for (index, command) in commands {
            match command {
                Command::Kv(operation) => {
                    batch.push((operation, None));
                    if batch.len() >= session.operations_max {
                        execute(&session, client, &mut sequence, std::mem::take(&mut batch), &mut out).await;
                    }
                }
                Command::Routed(operation, group) => {
                    batch.push((operation, Some(group)));
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
                        Command::Kv(_) | Command::Routed(..) => unreachable!("handled above"),
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

/// The key an operation reads or writes, if any.
fn key_of(operation: &Operation) -> Option<&Bytes> {
    match operation {
        Operation::Get { key }
        | Operation::Put { key, .. }
        | Operation::Delete { key }
        | Operation::Cas { key, .. } => Some(key),
        Operation::Member(_) | Operation::Transfer { .. } => None,
    }
}

/// The replies of the groups an operation went to.
type Answers = Vec<(GroupId, Reply)>;

/// The operations of a pipeline that go to one group: they become one request.
struct Routed {
    group: GroupId,
    operations: Vec<Operation>,
    /// Each operation's place in the pipeline and its kind ([`kind`]).
    places: Vec<(usize, usize)>,
}

/// The operations bound for `group`, added to `routed` if none were yet.
fn routed_to(routed: &mut Vec<Routed>, group: GroupId) -> &mut Routed {
    let index = match routed.iter().position(|one| one.group == group) {
        Some(index) => index,
        None => {
            routed.push(Routed { group, operations: Vec::new(), places: Vec::new() });
            routed.len() - 1
        }
    };
    &mut routed[index]
}

/// Runs `operations` as one request per group they touch (a key's group, the given group, or
/// every group for a key-less operation) and appends one reply per operation, in order.
async fn execute(
    session: &Session,
    client: ClientId,
    sequence: &mut u64,
    operations: Vec<(Operation, Option<GroupId>)>,
    out: &mut Vec<u8>,
) {
    if operations.is_empty() {
        return;
    }
    let started = tokio::time::Instant::now();
    let groups = session.groups;
    let count = operations.len();
    let mut routed: Vec<Routed> = Vec::new();
    // Key-less operations (membership changes) go to every group: their places in the pipeline,
    // in order, their kind, and each group's reply.
    let mut spread: Vec<(usize, usize, Answers)> = Vec::new();
    let mut read_only = true;
    for (place, (operation, group)) in operations.into_iter().enumerate() {
        let kind = kind(&operation);
        read_only &= kind == 0;
        match group.or_else(|| key_of(&operation).map(|key| super::groups::group_of(key, groups))) {
            Some(group) => {
                let to = routed_to(&mut routed, group);
                to.operations.push(operation);
                to.places.push((place, kind));
            }
            None => {
                for group in 0..groups {
                    let to = routed_to(&mut routed, GroupId(group));
                    to.operations.push(operation.clone());
                    to.places.push((place, kind));
                }
                spread.push((place, kind, Vec::new()));
            }
        }
    }
    // Every group's request leaves before any answer is awaited: they run side by side.
    let mut pending = Vec::with_capacity(routed.len());
    for to in &mut routed {
        *sequence += 1;
        let request = Request { client, sequence: *sequence, operations: std::mem::take(&mut to.operations) };
        let (reply, response) = oneshot::channel();
        let call = Call::Request { group: to.group, request, reply };
        pending.push(session.calls.send(call).await.ok().map(|()| response));
    }
    let deadline = started + session.deadline;
    let mut replies: Vec<Option<(usize, Reply)>> = vec![None; count];
    for (to, answer) in routed.into_iter().zip(pending) {
        let result = match answer {
            None => Err(Reply::error("UNAVAILABLE the node is shutting down; the outcome is unknown")),
            Some(response) => match tokio::time::timeout_at(deadline, response).await {
                Ok(Ok(Response { result: Ok(outcomes), .. })) => Ok(outcomes),
                Ok(Ok(Response { result: Err(error), .. })) => Err(Reply::error(error.to_string())),
                Ok(Err(_)) => Err(Reply::error("UNAVAILABLE the node stopped; the outcome is unknown")),
                Err(_) => {
                    let _ = session.calls.send(Call::Abandon { group: to.group, client }).await;
                    Err(Reply::error(format!(
                        "UNAVAILABLE no quorum answered within {} ms; the outcome is unknown",
                        session.deadline.as_millis()
                    )))
                }
            },
        };
        // A request that failed fails as a whole: every operation of it with the same reply.
        let each: Vec<Reply> = match result {
            Ok(outcomes) => outcomes.into_iter().map(reply_of).collect(),
            Err(reply) => vec![reply; to.places.len()],
        };
        for (&(place, kind), reply) in to.places.iter().zip(each) {
            match spread.binary_search_by_key(&place, |(at, _, _)| *at) {
                Ok(index) => spread[index].2.push((to.group, reply)),
                Err(_) => replies[place] = Some((kind, reply)),
            }
        }
    }
    for (place, kind, answers) in spread {
        replies[place] = Some((kind, combine(answers)));
    }
    for answered in replies {
        let (kind, reply) = answered.expect("the core answers every operation of a request");
        if let Some(metrics) = &session.metrics {
            metrics.requests(kind, result(&reply), 1);
        }
        reply.encode(out);
    }
    if let Some(metrics) = &session.metrics {
        metrics.request_took(read_only, started.elapsed());
    }
}

/// One operation's reply from the replies of the groups it went to: a key's operation went to one
/// group; a membership change to every group, and succeeded if it succeeded in every one (the
/// reply names the membership version of group 0). Otherwise the reply is the first group's
/// error, and says in which groups the change did take effect, so that the operator knows what
/// to run again.
fn combine(mut answers: Answers) -> Reply {
    if answers.len() <= 1 {
        return answers.pop().map_or_else(|| Reply::error("ERR no group answered"), |(_, reply)| reply);
    }
    let failed = answers.iter().find(|(_, reply)| matches!(reply, Reply::Error(_)));
    let Some((group, Reply::Error(error))) = failed else {
        return answers.swap_remove(0).1;
    };
    if answers.iter().all(|(_, reply)| matches!(reply, Reply::Error(text) if text == error)) {
        return Reply::Error(error.clone());
    }
    let applied: Vec<String> = answers
        .iter()
        .filter(|(_, reply)| !matches!(reply, Reply::Error(_)))
        .map(|(group, _)| group.0.to_string())
        .collect();
    let applied =
        if applied.is_empty() { "no group".to_string() } else { format!("groups {}", applied.join(",")) };
    Reply::Error(format!("{error} (in group {}; it took effect in {applied})", group.0))
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
        let state = if Some(member.id) == info.first_group().leader {
            "leader"
        } else if member.id == info.node {
            info.first_group().role.as_str()
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
    let mut text = format!("membership version {}\n", info.first_group().membership_version);
    for view in &info.members {
        let member = &view.member;
        let lag = view.lag.map_or_else(|| "lag unknown".to_string(), |lag| format!("lag {lag}"));
        let leader = if Some(member.id) == info.first_group().leader { " leader" } else { "" };
        text.push_str(&format!(
            "{} {}{leader} client {} peer {} {lag}\n",
            member.id, view.role, member.client, member.peer
        ));
    }
    text
}
