//! Counterexamples as numbered, readable steps: who sent what to whom, who timed out, crashed,
//! restarted or lost its disk, and the state the last step reached.

use crate::actor::{Choice, Msg, Node, State};
use crate::driver::{Action, World};
use paxos_core::{Bytes, Message, Operation, Outcome, Report, Request, Response, Value};
use stateright::actor::{Actor as _, ActorModelAction, Id};
use stateright::Path;
use std::fmt::Write;

/// An actor's name: `n0`.. for replicas (the node ids of the core), `c3`.. for clients (their
/// client ids in requests and responses, which are their actor ids).
pub fn actor_name(replicas: usize, id: Id) -> String {
    let index = usize::from(id);
    if index < replicas {
        format!("n{index}")
    } else {
        format!("c{index}")
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
            Operation::Member(change) => format!("member {change:?}"),
            Operation::Transfer { to } => format!("transfer leadership to {to}"),
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
                    Outcome::Member(Ok(version)) => format!("membership version {version}"),
                    Outcome::Member(Err(error)) => format!("refused: {error}"),
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
        Msg::Sync => "Sync (its persists are durable)".into(),
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
                Message::CommitAck { ballot, round, progress: None } => {
                    format!("CommitAck {ballot} round {round}")
                }
                Message::CommitAck { ballot, round, progress: Some(committed) } => {
                    format!("CommitAck {ballot} round {round} (learner at {committed})")
                }
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
                Message::RecoverQueryReply { nonce, incarnation, version, .. } => {
                    format!("RecoverQueryReply nonce {nonce}: incarnation {incarnation}, membership version {version}")
                }
                Message::Campaign => "Campaign".into(),
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
pub fn action(replicas: usize, action: &Action) -> String {
    let name = |id: Id| actor_name(replicas, id);
    match action {
        ActorModelAction::Deliver { dst, msg: Msg::Sync, .. } => {
            format!("{}: its sync completes (what it persisted is durable; what waited leaves)", name(*dst))
        }
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

fn summary(replicas: usize, state: &World) -> String {
    let mut text = String::new();
    for (index, actor) in state.actor_states.iter().enumerate() {
        let name = actor_name(replicas, Id::from(index));
        let crashed = if state.is_crashed(index) { " (down)" } else { "" };
        match actor {
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
pub fn path(replicas: usize, path: &Path<World, Action>, stop: impl Fn(&World) -> bool) -> (String, usize) {
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

/// The messages a step put in flight: those in flight after it, less those in flight before it that
/// it did not deliver.
fn sent<'a>(
    before: &'a World,
    delivered: Option<(Id, Id, &'a Msg)>,
    after: &'a World,
) -> Vec<(Id, Id, &'a Msg)> {
    let mut count: std::collections::BTreeMap<(Id, Id, &Msg), isize> = std::collections::BTreeMap::new();
    for (src, dst, msg) in &after.network {
        *count.entry((*src, *dst, msg)).or_default() += 1;
    }
    for (src, dst, msg) in &before.network {
        *count.entry((*src, *dst, msg)).or_default() -= 1;
    }
    if let Some(envelope) = delivered {
        *count.entry(envelope).or_default() += 1;
    }
    count
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .flat_map(|(envelope, n)| std::iter::repeat_n(envelope, n as usize))
        .collect()
}

/// A sequence diagram of a path for the Explorer: a timeline per actor, an arrow per delivered
/// message from the step that sent it, a dot per timer, crash, restart or wipe.
pub fn sequence_diagram(actors: &[Node], replicas: usize, path: Path<World, Action>) -> String {
    const COLUMN: usize = 140;
    const ROW: usize = 30;
    let steps = path.into_vec();
    let width = COLUMN * actors.len() + 420;
    let height = ROW * (steps.len() + 1);
    let mut svg = format!(
        "<svg version='1.1' baseProfile='full' width='{width}' height='{height}' \
         viewbox='-20 -20 {} {}' xmlns='http://www.w3.org/2000/svg'>\
         <defs><marker class='svg-event-shape' id='arrow' markerWidth='12' markerHeight='10' \
         refX='12' refY='5' orient='auto'><polygon points='0 0, 12 5, 0 10' /></marker></defs>",
        width + 20,
        height + 20
    );
    let escape = |text: String| text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    for (index, actor) in actors.iter().enumerate() {
        let x = index * COLUMN;
        let name = format!("{} {}", actor_name(replicas, Id::from(index)), actor.name());
        let _ = write!(
            svg,
            "<line x1='{x}' y1='0' x2='{x}' y2='{height}' class='svg-actor-timeline' />\
             <text x='{x}' y='0' class='svg-actor-label'>{name}</text>"
        );
    }
    // Row of the step that sent each message still in flight (the initial state's sends: row 0).
    let mut sent_at: Vec<((Id, Id, &Msg), usize)> = Vec::new();
    if let Some((first, _)) = steps.first() {
        sent_at.extend(first.network.iter().map(|(src, dst, msg)| ((*src, *dst, msg), 0)));
    }
    let mut labels = String::new();
    for (row, window) in steps.windows(2).enumerate() {
        let (before, action) = (&window[0].0, &window[0].1);
        let after = &window[1].0;
        let y = (row + 1) * ROW;
        let Some(action) = action else { continue };
        let (actor, delivered) = match action {
            ActorModelAction::Deliver { src, dst, msg } => (*dst, Some((*src, *dst, msg))),
            ActorModelAction::Timeout(id, _)
            | ActorModelAction::Crash(id)
            | ActorModelAction::Recover(id) => (*id, None),
            ActorModelAction::SelectRandom { actor, .. } => (*actor, None),
            ActorModelAction::Drop(envelope) => (envelope.dst, None),
        };
        let x = usize::from(actor) * COLUMN;
        match delivered {
            Some(envelope) => {
                let from = sent_at.iter().position(|(sent, _)| *sent == envelope);
                let from_row = from.map_or(0, |position| sent_at.remove(position).1);
                let (x1, y1) = (usize::from(envelope.0) * COLUMN, from_row * ROW);
                let _ = write!(
                    svg,
                    "<line x1='{x1}' y1='{y1}' x2='{x}' y2='{y}' marker-end='url(#arrow)' class='svg-event-line' />"
                );
            }
            None => {
                let _ = write!(svg, "<circle cx='{x}' cy='{y}' r='10' class='svg-event-shape' />");
            }
        }
        let label = match action {
            ActorModelAction::Deliver { msg, .. } => message(msg),
            _ => self::action(replicas, action),
        };
        let _ = write!(labels, "<text x='{x}' y='{y}' class='svg-event-label'>{}</text>", escape(label));
        sent_at.extend(sent(before, delivered, after).into_iter().map(|envelope| (envelope, row + 1)));
    }
    svg.push_str(&labels);
    svg.push_str("</svg>");
    svg
}
