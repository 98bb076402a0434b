//! Counterexamples as numbered, readable steps: who sent what to whom, who timed out, crashed,
//! restarted or lost its disk, and the state the last step reached.

use crate::actor::{Choice, Msg, Node, State};
use paxos::core::{Bytes, Message, Operation, Outcome, Report, Request, Response, Value};
use stateright::actor::{ActorModelAction, ActorModelState, Id};
use stateright::Path;
use std::fmt::Write;

/// An actor's name: `n0`.. for replicas (the node ids of the core), `c0`.. for clients.
pub fn actor_name(replicas: usize, id: Id) -> String {
    let index = usize::from(id);
    if index < replicas {
        format!("n{index}")
    } else {
        format!("c{}", index - replicas)
    }
}

fn text(bytes: &Bytes) -> String {
    String::from_utf8_lossy(bytes.as_ref()).into_owned()
}

fn request(request: &Request) -> String {
    let operations: Vec<String> = request
        .operations
        .iter()
        .map(|operation| match operation {
            Operation::Get { key } => format!("get {}", text(key)),
            Operation::Put { key, value } => format!("put {}={}", text(key), text(value)),
            Operation::Delete { key } => format!("delete {}", text(key)),
            Operation::Cas { key, expected, new } => {
                let expected = expected.as_ref().map_or_else(|| "absent".to_string(), text);
                format!("cas {} {expected}->{}", text(key), text(new))
            }
        })
        .collect();
    format!("{}#{} {}", request.client, request.sequence, operations.join("; "))
}

fn value(value: &Value) -> String {
    match value {
        Value::Noop => "noop".into(),
        Value::Batch(requests) => {
            let requests: Vec<String> = requests.iter().map(request).collect();
            format!("[{}]", requests.join(", "))
        }
    }
}

fn response(response: &Response) -> String {
    let result = match &response.result {
        Ok(outcomes) => {
            let outcomes: Vec<String> = outcomes
                .iter()
                .map(|outcome| match outcome {
                    Outcome::Value(Some(value)) => format!("value {}", text(value)),
                    Outcome::Value(None) => "absent".into(),
                    Outcome::Written => "ok".into(),
                    Outcome::Deleted(existed) => format!("deleted={existed}"),
                    Outcome::Swapped(swapped) => format!("swapped={swapped}"),
                })
                .collect();
            outcomes.join("; ")
        }
        Err(error) => format!("error: {error}"),
    };
    format!("{}#{} {}", response.client, response.sequence, result)
}

fn reports(reports: &[Report]) -> String {
    let reports: Vec<String> = reports
        .iter()
        .map(|report| {
            let mut text = format!("{}:", report.slot);
            if let Some((ballot, accepted)) = &report.accepted {
                let _ = write!(text, " accepted {} in {ballot}", value(accepted));
            }
            if let Some(chosen) = &report.chosen {
                let _ = write!(text, " chosen {}", value(chosen));
            }
            text
        })
        .collect();
    format!("{{{}}}", reports.join(", "))
}

/// One message, compactly.
pub fn message(msg: &Msg) -> String {
    match msg {
        Msg::Request(req) => format!("Request {}", request(req)),
        Msg::Response(resp) => format!("Response {}", response(resp)),
        Msg::Peer(envelope) => {
            let body = match &envelope.message {
                Message::Prepare { ballot, from } => format!("Prepare {ballot} from slot {from}"),
                Message::Promise { ballot, chosen, reports: held, .. } => {
                    format!("Promise {ballot}, chosen below {chosen}, holds {}", reports(held))
                }
                Message::Accept { ballot, slot, value: proposed, committed } => {
                    format!("Accept {ballot} slot {slot} = {}, committed below {committed}", value(proposed))
                }
                Message::Accepted { ballot, slot, .. } => format!("Accepted {ballot} slot {slot}"),
                Message::Reject { ballot, promised } => format!("Reject {ballot}, promised {promised}"),
                Message::Commit { ballot, committed, round } => {
                    format!("Commit {ballot} below {committed} (confirmation round {round})")
                }
                Message::CommitAck { ballot, round } => format!("CommitAck {ballot} round {round}"),
                Message::LearnRequest { from } => format!("LearnRequest from slot {from}"),
                Message::LearnReply { from, values, committed } => {
                    let values: Vec<String> = values.iter().map(value).collect();
                    format!(
                        "LearnReply from slot {from}: [{}], committed below {committed}",
                        values.join(", ")
                    )
                }
                Message::Snapshot { slot, .. } => format!("Snapshot below slot {slot}"),
                Message::Forward { requests } => {
                    let requests: Vec<String> = requests.iter().map(request).collect();
                    format!("Forward [{}]", requests.join(", "))
                }
                Message::ForwardReply { responses } => {
                    let responses: Vec<String> = responses.iter().map(response).collect();
                    format!("ForwardReply [{}]", responses.join(", "))
                }
                Message::RecoverQuery { nonce } => format!("RecoverQuery nonce {nonce}"),
                Message::RecoverQueryReply { nonce, incarnation } => {
                    format!("RecoverQueryReply nonce {nonce}: incarnation {incarnation}")
                }
                Message::Recover { nonce, incarnation } => {
                    format!("Recover nonce {nonce} as incarnation {incarnation}")
                }
                Message::RecoverReply { promised, chosen, reports: held, .. } => {
                    format!(
                        "RecoverReply promised {promised}, chosen below {chosen}, holds {}",
                        reports(held)
                    )
                }
            };
            if envelope.incarnation == 0 {
                body
            } else {
                format!("{body} (incarnation {})", envelope.incarnation)
            }
        }
    }
}

/// One step of a path.
pub fn action(replicas: usize, action: &ActorModelAction<Msg, paxos::core::Timer, Choice>) -> String {
    let name = |id: Id| actor_name(replicas, id);
    match action {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!("{} -> {}: {}", name(*src), name(*dst), message(msg))
        }
        ActorModelAction::Drop(envelope) => {
            format!(
                "network drops {} -> {}: {}",
                name(envelope.src),
                name(envelope.dst),
                message(&envelope.msg)
            )
        }
        ActorModelAction::Timeout(id, timer) => format!("{}: {timer:?} timer fires", name(*id)),
        ActorModelAction::Crash(id) => format!("{} crashes (volatile state lost, disk kept)", name(*id)),
        ActorModelAction::Recover(id) => format!("{} restarts from its disk", name(*id)),
        ActorModelAction::SelectRandom { actor, random: Choice::Wipe, .. } => {
            format!("{} loses its disk and restarts empty", name(*actor))
        }
    }
}

fn summary(replicas: usize, state: &ActorModelState<Node, crate::History>) -> String {
    let mut text = String::new();
    for (index, actor) in state.actor_states.iter().enumerate() {
        let name = actor_name(replicas, Id::from(index));
        let crashed = if state.crashed.get(index).copied().unwrap_or(false) { " (down)" } else { "" };
        match actor.as_ref() {
            State::Replica(replica) => {
                let core = &replica.replica;
                let log = core.log();
                let mut chosen = Vec::new();
                let mut slot = log.start();
                while slot < log.end() {
                    if let Some(entry) = log.entry(slot) {
                        match (&entry.chosen, &entry.accepted) {
                            (Some(v), _) => chosen.push(format!("{slot}={} chosen", value(v))),
                            (None, Some((ballot, v))) => {
                                chosen.push(format!("{slot}={} in {ballot}", value(v)))
                            }
                            (None, None) => {}
                        }
                    }
                    slot = slot.next();
                }
                let _ = writeln!(
                    text,
                    "  {name}{crashed}: {:?}, promised {}, applied below {}, log {{{}}}",
                    core.status(),
                    core.promised(),
                    log.applied(),
                    chosen.join(", ")
                );
            }
            State::Client(client) => {
                let _ = writeln!(text, "  {name}{crashed}: {} operation(s) answered", client.done);
            }
        }
    }
    text
}

/// A path, explained: numbered steps up to the first state where `stop` holds (the whole path if
/// none does), then every actor's state there.
pub fn path(
    replicas: usize,
    path: &Path<ActorModelState<Node, crate::History>, ActorModelAction<Msg, paxos::core::Timer, Choice>>,
    stop: impl Fn(&ActorModelState<Node, crate::History>) -> bool,
) -> (String, usize) {
    let steps = path.clone().into_vec();
    let end = steps.iter().position(|(state, _)| stop(state)).unwrap_or(steps.len() - 1);
    let mut text = String::new();
    for (number, (_, step)) in steps[..end].iter().enumerate() {
        if let Some(step) = step {
            let _ = writeln!(text, "{:>3}. {}", number + 1, action(replicas, step));
        }
    }
    let last = &steps[end].0;
    let _ = writeln!(text, "state after step {end}:");
    text.push_str(&summary(replicas, last));
    let _ = writeln!(text, "  client history: {:?}", last.history.tester);
    (text, end)
}
