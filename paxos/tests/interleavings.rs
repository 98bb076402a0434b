//! Textbook interleavings replayed step by step (in the spirit of paxoskv's tests), each run on the
//! correct core and on the mutant that breaks it: the correct core must stay safe, the mutant must
//! visibly fail, so neither result is vacuous.

use paxos::core::{
    Action, ClientId, ClusterId, Config, DurableState, Envelope, Input, Mutant, NodeId, Operation, Replica,
    Request, Schedule, Slot, Status, Timer, Value,
};

const CLUSTER: ClusterId = ClusterId(7);

/// A replica with the durable state its persists built, so that it can crash and restart.
struct Node {
    replica: Replica,
    durable: DurableState,
}

impl Node {
    fn new(id: u8, mutant: Mutant) -> Node {
        let mut config = Config::new(NodeId(id), vec![NodeId(1), NodeId(2), NodeId(3)]);
        config.mutant = mutant;
        let durable = DurableState::initial(CLUSTER, NodeId(id));
        let mut replica = Replica::new(config, durable.clone(), 1).expect("valid configuration");
        replica.start(&mut Vec::new());
        Node { replica, durable }
    }

    /// Steps one input; persists are applied to the durable state; returns the messages sent.
    fn step(&mut self, input: Input) -> Vec<Envelope> {
        let mut out = Vec::new();
        self.replica.step(input, &mut out);
        let schedule = Schedule::new(out);
        for record in &schedule.persists {
            self.durable.apply(record);
        }
        let sends = schedule.immediately.into_iter().chain(schedule.after_persists);
        sends
            .filter_map(
                |action| if let Action::Send { envelope, .. } = action { Some(envelope) } else { None },
            )
            .collect()
    }

    fn receive(&mut self, envelope: &Envelope) -> Vec<Envelope> {
        self.step(Input::Receive(envelope.clone()))
    }

    /// A process crash and restart: only the durable state survives.
    fn restart(&mut self) {
        let config = self.replica.config().clone();
        self.replica = Replica::new(config, self.durable.clone(), 2).expect("valid configuration");
        self.replica.start(&mut Vec::new());
    }

    fn chosen(&self, slot: Slot) -> Option<Value> {
        self.replica.log().entry(slot).and_then(|entry| entry.chosen.clone())
    }
}

fn one(sent: &[Envelope], kind: &str) -> Envelope {
    sent.iter()
        .find(|envelope| envelope.message.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind} in {sent:?}"))
        .clone()
}

fn put(client: u64, value: &str) -> Request {
    Request {
        client: ClientId(client),
        sequence: 1,
        operations: vec![Operation::Put { key: "x".into(), value: value.into() }],
    }
}

/// Paxos Made Simple §2.2: "an acceptor ... must remember this information even if it fails and
/// then restarts". B promises C's ballot, crashes and restarts; the old leader A then asks B to
/// accept a value in its lower ballot, and C completes phase 1 with B's promise. Returns the values
/// A and C consider chosen in slot 0.
fn restart_after_promise(mutant: Mutant) -> (Option<Value>, Option<Value>) {
    let (mut a, mut b, mut c) = (Node::new(1, mutant), Node::new(2, mutant), Node::new(3, mutant));
    // A is elected with B.
    let prepare = one(&a.step(Input::Timeout(Timer::Election)), "prepare");
    let own = a.receive(&prepare);
    let from_b = b.receive(&prepare);
    a.receive(&one(&own, "promise"));
    a.receive(&one(&from_b, "promise"));
    assert_eq!(a.replica.status(), Status::Leader);
    // C campaigns; B promises C's ballot, then crashes and restarts.
    let prepare_c = one(&c.step(Input::Timeout(Timer::Election)), "prepare");
    let promise_b = one(&b.receive(&prepare_c), "promise");
    b.restart();
    // A, unaware of C, proposes v in slot 0 and asks B.
    let accept = one(&a.step(Input::Requests(vec![put(1, "v")])), "accept");
    let own = a.receive(&accept);
    a.receive(&one(&own, "accepted"));
    let answer = b.receive(&accept);
    if let Some(vote) = answer.iter().find(|envelope| envelope.message.kind() == "accepted") {
        a.receive(vote);
    }
    // C completes phase 1 with B's promise and proposes w in slot 0.
    let own = c.receive(&prepare_c);
    c.receive(&one(&own, "promise"));
    c.receive(&promise_b);
    assert_eq!(c.replica.status(), Status::Leader);
    let accept_c = one(&c.step(Input::Requests(vec![put(2, "w")])), "accept");
    let own = c.receive(&accept_c);
    c.receive(&one(&own, "accepted"));
    let answer = b.receive(&accept_c);
    if let Some(vote) = answer.iter().find(|envelope| envelope.message.kind() == "accepted") {
        c.receive(vote);
    }
    (a.chosen(Slot(0)), c.chosen(Slot(0)))
}

#[test]
fn acceptor_that_remembers_its_promise_across_a_restart_keeps_agreement() {
    let (at_a, at_c) = restart_after_promise(Mutant::None);
    // B refuses A's lower ballot after its restart, so v is never chosen; C's w is.
    assert_eq!(at_a, None);
    assert!(at_c.is_some());
}

#[test]
fn acceptor_that_forgets_its_promise_lets_two_values_be_chosen() {
    let (at_a, at_c) = restart_after_promise(Mutant::ForgetPromise);
    assert!(at_a.is_some() && at_c.is_some());
    assert_ne!(at_a, at_c, "the mutant must break agreement in this interleaving");
}
