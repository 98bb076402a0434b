//! One input, the exact outputs in order: the contract of each handler of the core.

mod steps;

use paxos::core::{
    Action, Ballot, Bytes, ClientId, ClusterId, Config, DurableState, Envelope, Input, Message, NodeId,
    Operation, Outcome, Output, Persist, Queue, ReadMode, Release, Replica, Report, Request, RequestError,
    Response, Schedule, Slot, Status, Timer, TimerChange, Value,
};
use steps::{
    ballot, batch, campaign_with_own_promise, elect_with_node_2, envelope, put, receive, send, send_now,
    step, CLUSTER,
};

fn members() -> Vec<NodeId> {
    vec![NodeId(1), NodeId(2), NodeId(3)]
}

fn replica_with(node: u8, configure: impl FnOnce(&mut Config)) -> Replica {
    let mut config = Config::new(NodeId(node), members());
    configure(&mut config);
    let mut replica = Replica::new(config, DurableState::initial(CLUSTER, NodeId(node)), 1).unwrap();
    replica.start(&mut Vec::new());
    replica
}

fn replica(node: u8) -> Replica {
    replica_with(node, |_| {})
}

fn get(client: u64, sequence: u64, key: &str) -> Request {
    Request { client: ClientId(client), sequence, operations: vec![Operation::Get { key: key.into() }] }
}

fn incarnations() -> Vec<u64> {
    vec![0; 4]
}

/// The promise of an acceptor that holds nothing and knows nothing chosen.
fn empty_promise(from: u8, to: u8, ballot: Ballot) -> Output {
    send(
        from,
        to,
        Message::Promise { ballot, chosen: Slot(0), reports: vec![], incarnations: incarnations() },
    )
}

/// Node 1 elected with ballot 1.1 and nothing in any log.
fn leader() -> Replica {
    leader_with(|_| {})
}

/// [`leader`], configured by `configure`.
fn leader_with(configure: impl FnOnce(&mut Config)) -> Replica {
    let mut replica = replica_with(1, configure);
    elect_with_node_2(&mut replica, incarnations());
    assert_eq!(replica.status(), Status::Leader);
    replica
}

#[test]
fn promise_is_persisted_before_it_is_sent() {
    // Paxos Made Simple §2.2: an acceptor promises to ignore lower proposals, and remembers it.
    let mut acceptor = replica(2);
    let b = ballot(1, 1);
    assert_eq!(
        step(&mut acceptor, receive(1, Message::Prepare { ballot: b, from: Slot(0) })),
        vec![Output::Persist(Persist::Promise(b)), empty_promise(2, 1, b), Output::SetTimer(Timer::Election),]
    );
}

#[test]
fn prepare_below_the_promise_is_rejected() {
    let mut acceptor = replica(2);
    step(&mut acceptor, receive(3, Message::Prepare { ballot: ballot(2, 3), from: Slot(0) }));
    assert_eq!(
        step(&mut acceptor, receive(1, Message::Prepare { ballot: ballot(1, 1), from: Slot(0) })),
        vec![send(2, 1, Message::Reject { ballot: ballot(1, 1), promised: ballot(2, 3) })]
    );
}

#[test]
fn promise_reports_accepted_values_from_the_requested_slot() {
    let mut acceptor = replica(2);
    let value = batch(vec![put(9, 1, "x", "1")]);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(3), value: value.clone(), committed: Slot(0) };
    step(&mut acceptor, receive(1, accept));
    let out = step(&mut acceptor, receive(3, Message::Prepare { ballot: ballot(2, 3), from: Slot(0) }));
    let report = Report { slot: Slot(3), accepted: Some((ballot(1, 1), value)), chosen: None };
    assert_eq!(
        out[1],
        send(
            2,
            3,
            Message::Promise {
                ballot: ballot(2, 3),
                chosen: Slot(0),
                reports: vec![report],
                incarnations: incarnations()
            }
        )
    );
}

#[test]
fn accept_is_persisted_before_it_is_acknowledged() {
    // Paxos Made Simple §2.2 (phase 2b), and the runtime contract: persist before send.
    let mut acceptor = replica(2);
    let value = batch(vec![put(9, 1, "x", "1")]);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: value.clone(), committed: Slot(0) };
    assert_eq!(
        step(&mut acceptor, receive(1, accept.clone())),
        vec![
            Output::Persist(Persist::Accept { slot: Slot(0), ballot: ballot(1, 1), value }),
            send(
                2,
                1,
                Message::Accepted {
                    ballot: ballot(1, 1),
                    slot: Slot(0),
                    committed: None,
                    incarnations: incarnations()
                }
            ),
            Output::SetTimer(Timer::Election),
        ]
    );
    // A retransmission is acknowledged again without a second write.
    assert_eq!(
        step(&mut acceptor, receive(1, accept)),
        vec![
            send(
                2,
                1,
                Message::Accepted {
                    ballot: ballot(1, 1),
                    slot: Slot(0),
                    committed: None,
                    incarnations: incarnations()
                }
            ),
            Output::SetTimer(Timer::Election),
        ]
    );
}

#[test]
fn accept_below_the_promise_is_rejected() {
    let mut acceptor = replica(2);
    step(&mut acceptor, receive(3, Message::Prepare { ballot: ballot(2, 3), from: Slot(0) }));
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: Value::Noop, committed: Slot(0) };
    assert_eq!(
        step(&mut acceptor, receive(1, accept)),
        vec![send(2, 1, Message::Reject { ballot: ballot(1, 1), promised: ballot(2, 3) })]
    );
}

/// The counters an operator and the chaos harness read: a slot accepted again in a later ballot is
/// re-accepted, and overwritten if the value changed; a retransmission of the same proposal is
/// neither.
#[test]
fn accepting_a_slot_again_in_a_later_ballot_is_counted() {
    let mut acceptor = replica(2);
    let first = batch(vec![put(9, 1, "x", "1")]);
    let second = batch(vec![put(8, 1, "x", "2")]);
    let accept = |round: u64, node: u8, slot: u64, value: &Value| Message::Accept {
        ballot: ballot(round, node),
        slot: Slot(slot),
        value: value.clone(),
        committed: Slot(0),
    };
    step(&mut acceptor, receive(1, accept(1, 1, 0, &first)));
    step(&mut acceptor, receive(1, accept(1, 1, 0, &first)));
    step(&mut acceptor, receive(1, accept(1, 1, 1, &first)));
    let counted = |acceptor: &Replica| {
        let counters = acceptor.counters();
        (counters.reaccepted, counters.overwritten)
    };
    assert_eq!(counted(&acceptor), (0, 0), "a retransmission and a new slot are not re-accepts");
    step(&mut acceptor, receive(3, accept(2, 3, 0, &first)));
    assert_eq!(counted(&acceptor), (1, 0), "the same value in a later ballot");
    step(&mut acceptor, receive(1, accept(3, 1, 1, &second)));
    assert_eq!(counted(&acceptor), (2, 1), "another value in a later ballot");
    step(&mut acceptor, Input::Timeout(Timer::Election));
    assert_eq!(acceptor.counters().elections, 1);
}

/// The counters observe and never decide: two counts compare equal every way, so that a replica's
/// identity (and the model checker's states) does not depend on them.
#[test]
fn counters_take_no_part_in_a_replicas_identity() {
    use std::hash::{BuildHasher, Hash};
    let zero = paxos::core::Counters::default();
    let busy = paxos::core::Counters {
        elections: 3,
        reaccepted: 2,
        overwritten: 1,
        snapshots_sent: 0,
        snapshots_installed: 0,
    };
    assert_eq!(zero, busy);
    assert_eq!(zero.partial_cmp(&busy), Some(std::cmp::Ordering::Equal));
    assert_eq!(zero.cmp(&busy), std::cmp::Ordering::Equal);
    let hasher = std::collections::hash_map::RandomState::new();
    let hash = |counters: &paxos::core::Counters| {
        let mut state = hasher.build_hasher();
        counters.hash(&mut state);
        std::hash::Hasher::finish(&state)
    };
    assert_eq!(hash(&zero), hash(&busy));
}

#[test]
fn election_promises_its_own_ballot_durably_before_preparing_everyone() {
    let mut candidate = replica(1);
    let b = ballot(1, 1);
    let prepare = Message::Prepare { ballot: b, from: Slot(0) };
    assert_eq!(
        step(&mut candidate, Input::Timeout(Timer::Election)),
        vec![
            Output::SetTimer(Timer::Election),
            Output::Persist(Persist::Promise(b)),
            send(1, 1, prepare.clone()),
            send(1, 2, prepare.clone()),
            send(1, 3, prepare),
        ]
    );
    assert_eq!(candidate.status(), Status::Candidate);
}

/// Node 1 campaigning in ballot 1.1, its own promise (nothing held, nothing known chosen) in.
fn candidate_with_its_own_promise() -> Replica {
    let mut candidate = replica(1);
    campaign_with_own_promise(&mut candidate, incarnations());
    candidate
}

#[test]
fn new_leader_re_proposes_the_highest_ballot_value_and_fills_gaps_with_noops() {
    // Paxos Made Simple §3: the new leader proposes, per slot, the value of the highest-numbered
    // proposal reported, and no-ops for the gaps.
    let mut candidate = candidate_with_its_own_promise();
    let b = ballot(1, 1);
    let old = batch(vec![put(9, 1, "x", "old")]);
    let newer = batch(vec![put(9, 2, "x", "new")]);
    let reports = vec![
        Report { slot: Slot(1), accepted: Some((ballot(0, 2), old)), chosen: None },
        Report { slot: Slot(2), accepted: Some((ballot(0, 3), newer.clone())), chosen: None },
    ];
    let out = step(
        &mut candidate,
        receive(2, Message::Promise { ballot: b, chosen: Slot(0), reports, incarnations: incarnations() }),
    );
    let accept =
        |slot: u64, value: Value| Message::Accept { ballot: b, slot: Slot(slot), value, committed: Slot(0) };
    let mut expected = vec![Output::CancelTimer(Timer::Election), Output::SetTimer(Timer::Heartbeat)];
    for (slot, value) in [(0, Value::Noop), (1, batch(vec![put(9, 1, "x", "old")])), (2, newer)] {
        for to in 1..=3 {
            expected.push(if to == 1 {
                send(1, to, accept(slot, value.clone()))
            } else {
                send_now(1, to, accept(slot, value.clone()))
            });
        }
    }
    assert_eq!(out, expected);
    assert_eq!(candidate.status(), Status::Leader);
}

#[test]
fn candidate_that_lacks_a_chosen_value_learns_instead_of_leading() {
    let mut candidate = replica(1);
    step(&mut candidate, Input::Timeout(Timer::Election));
    let b = ballot(1, 1);
    step(
        &mut candidate,
        receive(
            1,
            Message::Promise { ballot: b, chosen: Slot(0), reports: vec![], incarnations: incarnations() },
        ),
    );
    // Node 2 knows slots 0..2 are chosen but compacted them: nobody reported their values.
    let out = step(
        &mut candidate,
        receive(
            2,
            Message::Promise { ballot: b, chosen: Slot(2), reports: vec![], incarnations: incarnations() },
        ),
    );
    assert_eq!(out, vec![send_now(1, 2, Message::LearnRequest { from: Slot(0) })]);
    assert_eq!(candidate.status(), Status::Follower);
}

/// The Accept of `value` in slot 0 at ballot 1.1, to all three.
fn proposal(value: Value) -> Vec<Output> {
    let accept = Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value, committed: Slot(0) };
    vec![send(1, 1, accept.clone()), send_now(1, 2, accept.clone()), send_now(1, 3, accept)]
}

#[test]
fn a_request_weighs_its_keys_and_values_and_a_fixed_cost_per_request_and_operation() {
    // 48 bytes a request, 64 an operation, and the bytes of its keys and values: the byte bounds
    // of batches, queues and the retained log count what requests cost in memory.
    assert_eq!(put(7, 1, "a", "1").weight(), 48 + 64 + 2);
    assert_eq!(put(7, 1, "key", &"v".repeat(1000)).weight(), 48 + 64 + 1003);
    let two = Request {
        client: ClientId(7),
        sequence: 1,
        operations: vec![
            Operation::Get { key: "ab".into() },
            Operation::Cas { key: "k".into(), expected: Some("old".into()), new: "new!".into() },
        ],
    };
    assert_eq!(two.weight(), 48 + (64 + 2) + (64 + 1 + 3 + 4));
    assert_eq!(Value::Batch(std::sync::Arc::new(vec![put(7, 1, "a", "1"), two])).weight(), 114 + 186);
    assert_eq!(Value::Noop.weight(), 0);
}

#[test]
fn a_batch_ends_at_its_byte_bound() {
    let (a, b, c) = (put(7, 1, "a", "1"), put(8, 1, "b", "2"), put(9, 1, "c", "3"));
    let two = a.weight() + b.weight();
    let mut leader = leader_with(|config| config.batch_bytes_max = two);
    let out = step(&mut leader, Input::Requests(vec![a.clone(), b.clone(), c]));
    assert_eq!(out, proposal(batch(vec![a, b])), "the third request waits for the next slot");
    // A request larger than the bound still gets a slot of its own.
    let mut leader = leader_with(|config| config.batch_bytes_max = 1);
    let large = put(9, 1, "x", &"v".repeat(1000));
    assert_eq!(step(&mut leader, Input::Requests(vec![large.clone()])), proposal(batch(vec![large])));
}

#[test]
fn the_leaders_queue_answers_busy_past_its_byte_bound() {
    let (first, queued, refused) = (put(7, 1, "a", "1"), put(8, 1, "b", "2"), put(9, 1, "c", "3"));
    let mut leader = leader_with(|config| config.proposals_bytes_max = queued.weight());
    step(&mut leader, Input::Requests(vec![first]));
    // Slot 0 is in flight: the next request waits in the queue, and fills its bound.
    assert_eq!(step(&mut leader, Input::Requests(vec![queued])), vec![]);
    let limit = usize::try_from(put(8, 1, "b", "2").weight()).unwrap();
    let busy = Response {
        client: ClientId(9),
        sequence: 1,
        result: Err(RequestError::Busy { queue: Queue::ProposalBytes, limit }),
    };
    assert_eq!(step(&mut leader, Input::Requests(vec![refused])), vec![Output::Reply(busy.clone())]);
    assert_eq!(
        RequestError::Busy { queue: Queue::ProposalBytes, limit }.to_string(),
        format!("BUSY the proposal-bytes queue is full ({limit} bytes); retry later")
    );
}

/// The queue takes requests until their bytes would pass the bound (reaching it exactly is
/// fine), and an empty queue takes any one request, however large.
#[test]
fn the_leaders_queue_fills_to_its_byte_bound_exactly_and_an_empty_queue_takes_any_request() {
    let (first, a, b, c) =
        (put(6, 1, "a", "1"), put(7, 1, "b", "2"), put(8, 1, "c", "3"), put(9, 1, "d", "4"));
    let weight = a.weight();
    let mut leader = leader_with(|config| config.proposals_bytes_max = 2 * weight);
    step(&mut leader, Input::Requests(vec![first]));
    // Slot 0 is in flight: the next two wait in the queue, and fill its bound exactly.
    assert_eq!(step(&mut leader, Input::Requests(vec![a])), vec![]);
    assert_eq!(step(&mut leader, Input::Requests(vec![b])), vec![]);
    let limit = usize::try_from(2 * weight).unwrap();
    let busy = Response {
        client: ClientId(9),
        sequence: 1,
        result: Err(RequestError::Busy { queue: Queue::ProposalBytes, limit }),
    };
    assert_eq!(step(&mut leader, Input::Requests(vec![c])), vec![Output::Reply(busy)]);
    let mut leader = leader_with(|config| config.proposals_bytes_max = 1);
    let (large, larger) = (put(7, 1, "x", &"v".repeat(1000)), put(8, 1, "y", &"w".repeat(2000)));
    assert_eq!(step(&mut leader, Input::Requests(vec![large.clone()])), proposal(batch(vec![large])));
    assert_eq!(step(&mut leader, Input::Requests(vec![larger])), vec![], "queued behind slot 0, not refused");
}

/// Follower 2, configured by `configure`, choosing no-ops in slots `0..slots` of ballot 1.1, one
/// slot a step (an Accept, then the Commit that chooses it); what each Commit step emitted.
fn follower_choosing(configure: impl FnOnce(&mut Config), slots: u64) -> (Replica, Vec<Vec<Output>>) {
    let mut follower = replica_with(2, configure);
    let mut commits = Vec::new();
    for slot in 0..slots {
        let accept = Message::Accept {
            ballot: ballot(1, 1),
            slot: Slot(slot),
            value: Value::Noop,
            committed: Slot(slot),
        };
        step(&mut follower, receive(1, accept));
        let commit = Message::Commit { ballot: ballot(1, 1), committed: Slot(slot + 1), round: 0 };
        commits.push(step(&mut follower, receive(1, commit)));
    }
    (follower, commits)
}

/// A replica snapshots its state machine every `snapshot_interval_slots` applied slots, counted
/// from its last snapshot.
#[test]
fn a_snapshot_is_taken_every_interval_of_applied_slots() {
    let (_, commits) = follower_choosing(|config| config.snapshot_interval_slots = 2, 5);
    let snapshots: Vec<bool> = commits
        .iter()
        .map(|out| out.iter().any(|output| matches!(output, Output::Persist(Persist::Snapshot { .. }))))
        .collect();
    assert_eq!(snapshots, vec![false, true, false, true, false]);
}

/// Compaction is amortised: the log keeps up to twice `log_retain_slots` applied slots, then drops
/// back to `log_retain_slots`.
#[test]
fn the_log_is_compacted_back_to_its_slot_bound_once_it_holds_twice_as_many() {
    let mut starts = Vec::new();
    for slots in 1..=5 {
        let (follower, _) = follower_choosing(|config| config.log_retain_slots = 2, slots);
        starts.push(follower.log().start().0);
    }
    assert_eq!(starts, vec![0, 0, 0, 2, 2]);
}

/// At its byte bound exactly, the retained log is not past it: nothing dropped, no snapshot.
#[test]
fn a_retained_log_at_its_byte_bound_exactly_is_kept_whole() {
    let write = put(9, 1, "x", &"v".repeat(500));
    let weight = write.weight();
    let mut leader = leader_writing(|config| config.log_retain_bytes = weight, write);
    step(&mut leader, receive(1, vote_in_slot_0(incarnations())));
    let out = step(&mut leader, receive(2, vote_in_slot_0(incarnations())));
    assert!(!out.iter().any(|output| matches!(output, Output::Persist(Persist::Snapshot { .. }))), "{out:?}");
    assert_eq!((leader.log().start(), leader.log().retained_bytes()), (Slot(0), weight));
}

#[test]
fn a_retained_log_past_its_byte_bound_is_compacted_and_a_snapshot_taken() {
    let write = put(9, 1, "x", &"v".repeat(500));
    let weight = write.weight();
    let mut leader = leader_writing(|config| config.log_retain_bytes = weight - 1, write);
    let vote = |from: u8| receive(from, vote_in_slot_0(incarnations()));
    step(&mut leader, vote(1));
    let out = step(&mut leader, vote(2));
    assert!(
        out.iter().any(|output| matches!(output, Output::Persist(Persist::Snapshot { slot: Slot(1), .. }))),
        "a snapshot of slot 1: {out:?}"
    );
    assert_eq!((leader.log().start(), leader.log().retained_bytes()), (Slot(1), 0), "slot 0 dropped");
    // A peer asking for slot 0, compacted away, gets the snapshot instead, and the leader counts it;
    // the peer installs it and counts that.
    let out = step(&mut leader, receive(3, Message::LearnRequest { from: Slot(0) }));
    let snapshot = out
        .iter()
        .find_map(|output| match output {
            Output::Send { to: NodeId(3), envelope, .. } => match &envelope.message {
                Message::Snapshot { slot, state } => Some((*slot, state.clone())),
                _ => None,
            },
            _ => None,
        })
        .unwrap_or_else(|| panic!("a snapshot for n3: {out:?}"));
    assert_eq!(snapshot.0, Slot(1));
    assert_eq!((leader.counters().snapshots_sent, leader.counters().snapshots_installed), (1, 0));
    let mut behind = replica(3);
    step(&mut behind, receive(1, Message::Snapshot { slot: snapshot.0, state: snapshot.1 }));
    assert_eq!(behind.log().applied(), Slot(1));
    assert_eq!((behind.counters().snapshots_sent, behind.counters().snapshots_installed), (0, 1));
}

#[test]
fn leader_answers_a_write_once_a_quorum_has_it_on_disk() {
    let mut leader = leader();
    let request = put(9, 1, "x", "1");
    let value = batch(vec![request.clone()]);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: value.clone(), committed: Slot(0) };
    assert_eq!(
        step(&mut leader, Input::Requests(vec![request])),
        vec![send(1, 1, accept.clone()), send_now(1, 2, accept.clone()), send_now(1, 3, accept.clone())]
    );
    // Its own acceptor persists, then votes through a message to itself.
    let vote = Message::Accepted {
        ballot: ballot(1, 1),
        slot: Slot(0),
        committed: None,
        incarnations: incarnations(),
    };
    assert_eq!(
        step(&mut leader, receive(1, accept)),
        vec![
            Output::Persist(Persist::Accept { slot: Slot(0), ballot: ballot(1, 1), value }),
            send(1, 1, vote.clone())
        ]
    );
    assert_eq!(step(&mut leader, receive(1, vote.clone())), vec![]);
    let response = Response { client: ClientId(9), sequence: 1, result: Ok(vec![Outcome::Written]) };
    assert_eq!(step(&mut leader, receive(2, vote)), vec![Output::Reply(response)]);
    assert_eq!(leader.log().commit(), Slot(1));
}

fn transfer(to: u8) -> Request {
    Request { client: ClientId(9), sequence: 1, operations: vec![Operation::Transfer { to: NodeId(to) }] }
}

/// Whether `out` asks any node to campaign.
fn campaigns(out: &[Output]) -> bool {
    out.iter().any(
        |output| matches!(output, Output::Send { envelope, .. } if envelope.message == Message::Campaign),
    )
}

/// `MEMBER TRANSFER-LEADER` is a Transfer applied by every replica; only the leader acts on it,
/// and only towards another voter: to itself, or to a learner, it keeps leading.
#[test]
fn only_the_leader_hands_over_and_only_to_another_voter() {
    for (to, learners) in [(1, vec![]), (4, vec![NodeId(4)])] {
        let mut leader = leader_with(|config| config.learners = learners);
        let value = batch(vec![transfer(to)]);
        step(&mut leader, Input::Requests(vec![transfer(to)]));
        let accept = Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value, committed: Slot(0) };
        step(&mut leader, receive(1, accept));
        let vote = Message::Accepted {
            ballot: ballot(1, 1),
            slot: Slot(0),
            committed: None,
            incarnations: incarnations(),
        };
        step(&mut leader, receive(1, vote.clone()));
        let out = step(&mut leader, receive(2, vote));
        assert_eq!(leader.log().applied(), Slot(1), "to n{to}: applied");
        assert!(!campaigns(&out) && leader.status() == Status::Leader, "to n{to}: {out:?}");
    }
    // A follower applies the same transfer and asks nobody to campaign.
    let mut follower = replica(2);
    let value = batch(vec![transfer(3)]);
    step(
        &mut follower,
        receive(1, Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value, committed: Slot(0) }),
    );
    let out = step(
        &mut follower,
        receive(1, Message::Commit { ballot: ballot(1, 1), committed: Slot(1), round: 0 }),
    );
    assert_eq!(follower.log().applied(), Slot(1));
    assert!(!campaigns(&out) && follower.status() == Status::Follower, "{out:?}");
}

#[test]
fn schedule_lets_accepts_leave_ahead_while_the_leaders_own_vote_waits_for_its_persist() {
    // The durability rule (see paxos_core::io): a proposal vouches for nothing durable, a vote does.
    let mut leader = leader();
    let request = put(9, 1, "x", "1");
    let value = batch(vec![request.clone()]);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: value.clone(), committed: Slot(0) };
    let proposal = Schedule::new(step(&mut leader, Input::Requests(vec![request])));
    let to = |node: u8, message: &Message| Action::Send {
        to: NodeId(node),
        envelope: envelope(1, message.clone()),
    };
    assert_eq!(
        proposal,
        Schedule {
            timers: vec![],
            immediately: vec![to(2, &accept), to(3, &accept)],
            persists: vec![],
            after_persists: vec![to(1, &accept)],
        }
    );
    assert!(!proposal.sends_ahead_of_persists());
    let vote = Message::Accepted {
        ballot: ballot(1, 1),
        slot: Slot(0),
        committed: None,
        incarnations: incarnations(),
    };
    let own_vote = Schedule::new(step(&mut leader, receive(1, accept)));
    assert_eq!(
        own_vote,
        Schedule {
            timers: vec![],
            immediately: vec![],
            persists: vec![Persist::Accept { slot: Slot(0), ballot: ballot(1, 1), value }],
            after_persists: vec![to(1, &vote)],
        }
    );
    // A follower's promise waits for its persist too; its timer is carried out at once.
    let mut follower = replica(2);
    let b = ballot(1, 1);
    let promise =
        Schedule::new(step(&mut follower, receive(1, Message::Prepare { ballot: b, from: Slot(0) })));
    assert_eq!(promise.timers, vec![TimerChange::Set(Timer::Election)]);
    assert_eq!(promise.persists, vec![Persist::Promise(b)]);
    assert!(promise.immediately.is_empty() && promise.after_persists.len() == 1);
}

#[test]
fn requests_arriving_together_share_one_slot() {
    let mut leader = leader();
    let requests = vec![put(1, 1, "a", "1"), put(2, 1, "b", "2"), put(3, 1, "c", "3")];
    let out = step(&mut leader, Input::Requests(requests.clone()));
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: batch(requests), committed: Slot(0) };
    assert_eq!(out, vec![send(1, 1, accept.clone()), send_now(1, 2, accept.clone()), send_now(1, 3, accept)]);
}

#[test]
fn follower_relays_requests_to_the_leader_it_knows() {
    let mut follower = replica(2);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: Value::Noop, committed: Slot(0) };
    step(&mut follower, receive(1, accept));
    let request = put(9, 1, "x", "1");
    assert_eq!(
        step(&mut follower, Input::Requests(vec![request.clone()])),
        vec![send_now(2, 1, Message::Forward { requests: vec![request] })]
    );
}

#[test]
fn follower_without_a_leader_keeps_requests_until_one_is_known() {
    let mut follower = replica(2);
    let request = put(9, 1, "x", "1");
    assert_eq!(step(&mut follower, Input::Requests(vec![request.clone()])), vec![]);
    assert_eq!(follower.pending(), 1);
    let commit = Message::Commit { ballot: ballot(1, 3), committed: Slot(0), round: 0 };
    assert_eq!(
        step(&mut follower, receive(3, commit)),
        vec![send_now(2, 3, Message::Forward { requests: vec![request] }), Output::SetTimer(Timer::Election)]
    );
}

/// A leader's broadcasts include itself, so a leader that stepped down (it handed over) may still
/// receive its own last Commit and note itself as the leader while it follows. A request must then
/// wait for the next leader: relayed to itself, it would only be ignored there.
#[test]
fn a_follower_that_hears_its_own_ballot_does_not_relay_requests_to_itself() {
    let mut follower = replica(2);
    let own = Message::Commit { ballot: ballot(1, 2), committed: Slot(0), round: 0 };
    step(&mut follower, receive(2, own));
    assert_eq!((follower.status(), follower.leader()), (Status::Follower, Some(NodeId(2))));
    assert_eq!(step(&mut follower, Input::Requests(vec![put(9, 1, "x", "1")])), vec![]);
}

#[test]
fn second_request_of_a_session_while_one_is_outstanding_is_refused() {
    let mut follower = replica(2);
    step(&mut follower, Input::Requests(vec![put(9, 1, "x", "1")]));
    let refusal = Response {
        client: ClientId(9),
        sequence: 2,
        result: Err(RequestError::Outstanding { client: ClientId(9) }),
    };
    assert_eq!(step(&mut follower, Input::Requests(vec![put(9, 2, "x", "2")])), vec![Output::Reply(refusal)]);
}

#[test]
fn full_pending_queue_answers_busy() {
    let mut follower = replica_with(2, |config| config.pending_max = 1);
    step(&mut follower, Input::Requests(vec![put(1, 1, "x", "1")]));
    let busy = Response {
        client: ClientId(2),
        sequence: 1,
        result: Err(RequestError::Busy { queue: Queue::Pending, limit: 1 }),
    };
    assert_eq!(step(&mut follower, Input::Requests(vec![put(2, 1, "x", "2")])), vec![Output::Reply(busy)]);
}

#[test]
fn leader_steps_down_when_it_hears_a_higher_ballot() {
    let mut leader = leader();
    let b = ballot(2, 3);
    let out = step(&mut leader, receive(3, Message::Prepare { ballot: b, from: Slot(0) }));
    assert_eq!(
        out,
        vec![
            Output::Persist(Persist::Promise(b)),
            Output::CancelTimer(Timer::Heartbeat),
            Output::SetTimer(Timer::Election),
            empty_promise(1, 3, b),
            Output::SetTimer(Timer::Election),
        ]
    );
    assert_eq!(leader.status(), Status::Follower);
}

#[test]
fn read_is_answered_only_after_a_majority_confirms_the_leader() {
    let mut leader = leader();
    let read = get(9, 1, "x");
    let round = Message::Commit { ballot: ballot(1, 1), committed: Slot(0), round: 1 };
    assert_eq!(
        step(&mut leader, Input::Requests(vec![read])),
        vec![send_now(1, 2, round.clone()), send_now(1, 3, round)]
    );
    let response = Response { client: ClientId(9), sequence: 1, result: Ok(vec![Outcome::Value(None)]) };
    assert_eq!(
        step(&mut leader, receive(3, Message::CommitAck { ballot: ballot(1, 1), round: 1, progress: None })),
        vec![Output::Reply(response)]
    );
}

/// The retransmit timer repeats a confirmation round in flight to the peers that have not
/// acknowledged it.
#[test]
fn a_confirmation_round_in_flight_is_sent_again_to_the_peers_that_have_not_acknowledged_it() {
    let mut leader = leader();
    step(&mut leader, Input::Requests(vec![get(9, 1, "x")]));
    let round = Message::Commit { ballot: ballot(1, 1), committed: Slot(0), round: 1 };
    assert_eq!(
        step(&mut leader, Input::Timeout(Timer::Retransmit)),
        vec![send_now(1, 2, round.clone()), send_now(1, 3, round), Output::SetTimer(Timer::Retransmit)]
    );
}

/// A new leader re-proposes slots a promise reported chosen (until a quorum holds them) and then
/// new requests past them. When those Accepts are lost, the retransmit timer sends the oldest of
/// the settled slots and the oldest past the commit point, so new requests do not wait for the
/// backlog to drain one slot a tick.
#[test]
fn retransmits_reach_the_slot_at_the_commit_point_behind_a_backlog_of_settled_slots() {
    let mut candidate = candidate_with_its_own_promise();
    let b = ballot(1, 1);
    let chosen = |slot: u64, value: &str| Report {
        slot: Slot(slot),
        accepted: Some((ballot(0, 2), batch(vec![put(8, slot + 1, "x", value)]))),
        chosen: Some(batch(vec![put(8, slot + 1, "x", value)])),
    };
    let reports = vec![chosen(0, "a"), chosen(1, "b")];
    step(
        &mut candidate,
        receive(2, Message::Promise { ballot: b, chosen: Slot(2), reports, incarnations: incarnations() }),
    );
    assert_eq!(candidate.status(), Status::Leader);
    assert_eq!(candidate.log().commit(), Slot(2));
    let write = put(9, 1, "y", "new");
    step(&mut candidate, Input::Requests(vec![write.clone()]));
    let accept =
        |slot: u64, value: Value| Message::Accept { ballot: b, slot: Slot(slot), value, committed: Slot(2) };
    let settled = accept(0, batch(vec![put(8, 1, "x", "a")]));
    let new = accept(2, batch(vec![write]));
    assert_eq!(
        step(&mut candidate, Input::Timeout(Timer::Retransmit)),
        vec![
            send_now(1, 2, settled.clone()),
            send_now(1, 3, settled),
            send_now(1, 2, new.clone()),
            send_now(1, 3, new),
            Output::SetTimer(Timer::Retransmit),
        ]
    );
}

/// Without leases a heartbeat is a plain commit (round 0): an idle leader starts no confirmation
/// round, and one whose read's round is in flight starts no second one.
#[test]
fn a_heartbeat_without_leases_is_a_plain_commit_and_starts_no_round() {
    let mut leader = leader();
    let heartbeat = Message::Commit { ballot: ballot(1, 1), committed: Slot(0), round: 0 };
    let plain = vec![
        Output::SetTimer(Timer::Heartbeat),
        send_now(1, 2, heartbeat.clone()),
        send_now(1, 3, heartbeat),
    ];
    assert_eq!(step(&mut leader, Input::Timeout(Timer::Heartbeat)), plain);
    step(&mut leader, Input::Requests(vec![get(9, 1, "x")]));
    assert_eq!(step(&mut leader, Input::Timeout(Timer::Heartbeat)), plain, "round 1 is still in flight");
}

/// Reads whose rounds are confirmed but whose index is not applied yet (a new leader's re-proposed
/// slot is not chosen) wait for the index, not for leadership: the heartbeat starts no round for
/// them, neither for the read of the last round nor for the one of an earlier round.
#[test]
fn a_heartbeat_starts_no_round_for_reads_that_only_wait_for_their_index() {
    let mut candidate = candidate_with_its_own_promise();
    let b = ballot(1, 1);
    let reported = batch(vec![put(9, 1, "x", "old")]);
    let reports = vec![Report { slot: Slot(0), accepted: Some((ballot(0, 2), reported)), chosen: None }];
    let promise = Message::Promise { ballot: b, chosen: Slot(0), reports, incarnations: incarnations() };
    step(&mut candidate, receive(2, promise));
    let mut leader = candidate;
    assert_eq!(leader.status(), Status::Leader);
    let confirm = |leader: &mut Replica, round: u64| {
        step(leader, receive(2, Message::CommitAck { ballot: b, round, progress: None }))
    };
    step(&mut leader, Input::Requests(vec![get(7, 1, "x")]));
    assert_eq!(confirm(&mut leader, 1), vec![], "round 1 confirmed, slot 0 not chosen yet");
    step(&mut leader, Input::Requests(vec![get(8, 1, "x")]));
    assert_eq!(confirm(&mut leader, 2), vec![], "round 2 confirmed, slot 0 not chosen yet");
    let heartbeat = Message::Commit { ballot: b, committed: Slot(0), round: 0 };
    assert_eq!(
        step(&mut leader, Input::Timeout(Timer::Heartbeat)),
        vec![
            Output::SetTimer(Timer::Heartbeat),
            send_now(1, 2, heartbeat.clone()),
            send_now(1, 3, heartbeat),
        ]
    );
    // Once slot 0 is chosen both reads are answered, with the re-proposed write applied.
    step(
        &mut leader,
        receive(
            1,
            Message::Accepted { ballot: b, slot: Slot(0), committed: None, incarnations: incarnations() },
        ),
    );
    let out = step(
        &mut leader,
        receive(
            2,
            Message::Accepted { ballot: b, slot: Slot(0), committed: None, incarnations: incarnations() },
        ),
    );
    let value = Ok(vec![Outcome::Value(Some(Bytes::from("old")))]);
    let replies: Vec<&Output> = out.iter().filter(|output| matches!(output, Output::Reply(_))).collect();
    assert_eq!(
        replies,
        vec![
            &Output::Reply(Response { client: ClientId(7), sequence: 1, result: value.clone() }),
            &Output::Reply(Response { client: ClientId(8), sequence: 1, result: value }),
        ]
    );
}

#[test]
fn lease_holder_answers_reads_without_a_round() {
    let mut leader = replica_with(1, |config| config.read_mode = ReadMode::Lease);
    step(&mut leader, Input::Timeout(Timer::Election));
    let b = ballot(1, 1);
    let promise =
        Message::Promise { ballot: b, chosen: Slot(0), reports: vec![], incarnations: incarnations() };
    step(&mut leader, receive(1, promise.clone()));
    step(&mut leader, receive(2, promise));
    // The heartbeat takes a lease for round 1, confirmed by one follower.
    let round = Message::Commit { ballot: b, committed: Slot(0), round: 1 };
    assert_eq!(
        step(&mut leader, Input::Timeout(Timer::Heartbeat)),
        vec![
            Output::SetTimer(Timer::Heartbeat),
            Output::SetTimer(Timer::Lease(1)),
            send_now(1, 2, round.clone()),
            send_now(1, 3, round)
        ]
    );
    step(&mut leader, receive(2, Message::CommitAck { ballot: b, round: 1, progress: None }));
    let response = Response { client: ClientId(9), sequence: 1, result: Ok(vec![Outcome::Value(None)]) };
    assert_eq!(step(&mut leader, Input::Requests(vec![get(9, 1, "x")])), vec![Output::Reply(response)]);
    // Once the lease timer fires, reads need a round again.
    step(&mut leader, Input::Timeout(Timer::Lease(1)));
    let out = step(&mut leader, Input::Requests(vec![get(9, 2, "x")]));
    assert!(out.iter().all(|output| !matches!(output, Output::Reply(_))), "{out:?}");
}

#[test]
fn follower_guarding_a_lease_supports_no_other_candidate() {
    let mut follower = replica_with(2, |config| config.read_mode = ReadMode::Lease);
    let round = Message::Commit { ballot: ballot(1, 1), committed: Slot(0), round: 1 };
    assert_eq!(
        step(&mut follower, receive(1, round)),
        vec![
            Output::SetTimer(Timer::LeaseGuard),
            send(2, 1, Message::CommitAck { ballot: ballot(1, 1), round: 1, progress: None }),
            Output::SetTimer(Timer::Election),
        ]
    );
    assert_eq!(
        step(&mut follower, receive(3, Message::Prepare { ballot: ballot(2, 3), from: Slot(0) })),
        vec![]
    );
    step(&mut follower, Input::Timeout(Timer::LeaseGuard));
    let out = step(&mut follower, receive(3, Message::Prepare { ballot: ballot(2, 3), from: Slot(0) }));
    assert_eq!(out[0], Output::Persist(Persist::Promise(ballot(2, 3))));
}

#[test]
fn a_follower_guarding_a_lease_campaigns_when_that_leader_hands_over_and_only_then() {
    let mut follower = replica_with(2, |config| config.read_mode = ReadMode::Lease);
    let round = Message::Commit { ballot: ballot(1, 1), committed: Slot(0), round: 1 };
    step(&mut follower, receive(1, round));
    // Another node asking cannot lift the guard of leader n1's lease: nothing happens.
    assert_eq!(step(&mut follower, receive(3, Message::Campaign)), vec![]);
    // n1 itself hands over (it gave its lease up): the guard ends and the follower campaigns.
    let out = step(&mut follower, receive(1, Message::Campaign));
    assert_eq!(out[0], Output::SetTimer(Timer::Election), "{out:?}");
    assert_eq!(out[1], Output::Persist(Persist::Promise(ballot(2, 2))), "{out:?}");
}

#[test]
fn a_replicas_status_is_named_as_info_reports_it() {
    // `INFO` prints `role:NAME`; operators' scripts and chaos's observers read these names.
    let names: Vec<String> = [Status::Recovering, Status::Follower, Status::Candidate, Status::Leader]
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(names, ["recovering", "follower", "candidate", "leader"]);
}

#[test]
fn message_from_another_cluster_is_dropped() {
    let mut acceptor = replica(2);
    let foreign = Envelope {
        cluster: ClusterId(8),
        from: NodeId(1),
        incarnation: 0,
        message: Message::Prepare { ballot: ballot(1, 1), from: Slot(0) },
    };
    assert_eq!(step(&mut acceptor, Input::Receive(foreign)), vec![]);
    assert_eq!(acceptor.promised(), Ballot::ZERO);
}

#[test]
fn follower_learns_commit_for_values_of_the_leaders_ballot_and_fetches_the_rest() {
    let mut follower = replica(2);
    let value = batch(vec![put(9, 1, "x", "1")]);
    step(
        &mut follower,
        receive(1, Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value, committed: Slot(0) }),
    );
    // Slot 0 was accepted in the leader's ballot: chosen. Slot 1 is unknown here: fetched.
    let out = step(
        &mut follower,
        receive(1, Message::Commit { ballot: ballot(1, 1), committed: Slot(2), round: 0 }),
    );
    assert_eq!(
        out,
        vec![send_now(2, 1, Message::LearnRequest { from: Slot(1) }), Output::SetTimer(Timer::Election)]
    );
    assert_eq!(follower.log().applied(), Slot(1));
    assert_eq!(follower.kv().get(b"x"), Some(&Bytes::from("1")));
}

/// A replica that recovered from storage loss knows slots 0 and 1 chosen without their values (its
/// chosen floor). Elected with promises that know no more, it cannot settle them: it asks a peer
/// that promised (never itself, which lacks them too) and does not lead.
#[test]
fn a_candidate_missing_values_below_its_chosen_point_learns_them_from_a_peer_not_itself() {
    let durable = DurableState { chosen_floor: Slot(2), ..DurableState::initial(CLUSTER, NodeId(3)) };
    let mut candidate = Replica::new(Config::new(NodeId(3), members()), durable, 1).unwrap();
    candidate.start(&mut Vec::new());
    step(&mut candidate, Input::Timeout(Timer::Election));
    let b = ballot(1, 3);
    let promise =
        Message::Promise { ballot: b, chosen: Slot(2), reports: vec![], incarnations: incarnations() };
    step(&mut candidate, receive(3, promise.clone()));
    let out = step(&mut candidate, receive(1, promise));
    let learns: Vec<&Output> = out
        .iter()
        .filter(|output| matches!(output, Output::Send { envelope, .. } if matches!(envelope.message, Message::LearnRequest { .. })))
        .collect();
    assert_eq!(learns, [&send_now(3, 1, Message::LearnRequest { from: Slot(0) })], "{out:?}");
    assert_ne!(candidate.status(), Status::Leader);
}

#[test]
fn wiped_replica_recovers_before_it_votes() {
    let config = Config::new(NodeId(2), members());
    let mut wiped = Replica::new(config, DurableState::lost(), 42).unwrap();
    let mut out = Vec::new();
    wiped.start(&mut out);
    let query = |to: u8| Output::Send {
        to: NodeId(to),
        envelope: Envelope {
            cluster: ClusterId::UNKNOWN,
            from: NodeId(2),
            incarnation: 0,
            message: Message::RecoverQuery { nonce: 42 },
        },
        release: Release::Immediately,
    };
    assert_eq!(
        out,
        vec![Output::SetTimer(Timer::Retransmit), Output::Persist(Persist::Reset), query(1), query(3)]
    );
    assert_eq!(wiped.status(), Status::Recovering);
    // It neither promises nor accepts while recovering.
    assert_eq!(
        step(&mut wiped, receive(1, Message::Prepare { ballot: ballot(1, 1), from: Slot(0) })),
        vec![]
    );
}

/// A recovering replica counts only the answers to its own query (its nonce, a named cluster) and
/// goes on only with a majority of the newest voters any answer reported: after a replacement of
/// node 3 by node 4, node 3's answer does not count, node 4's does.
#[test]
fn a_recovering_replica_needs_a_majority_of_the_newest_voters_among_answers_to_its_own_query() {
    let mut wiped = Replica::new(Config::new(NodeId(2), members()), DurableState::lost(), 42).unwrap();
    wiped.start(&mut Vec::new());
    let newest: paxos::core::NodeSet = [NodeId(1), NodeId(2), NodeId(4)].into_iter().collect();
    let reply = |nonce: u64| Message::RecoverQueryReply { nonce, incarnation: 0, version: 1, voters: newest };
    assert_eq!(step(&mut wiped, receive(1, reply(41))), vec![], "an answer to an earlier attempt");
    assert_eq!(step(&mut wiped, receive(4, reply(41))), vec![], "an answer to an earlier attempt");
    let unnamed = Envelope { cluster: ClusterId::UNKNOWN, ..envelope(3, reply(42)) };
    assert_eq!(step(&mut wiped, Input::Receive(unnamed)), vec![], "no cluster named");
    assert_eq!(step(&mut wiped, receive(1, reply(42))), vec![], "one voter of the others");
    assert_eq!(step(&mut wiped, receive(3, reply(42))), vec![], "node 3 is no longer a voter");
    // Its cluster unknown until it has joined, it asks every voter old or new that has not answered.
    let recover = |to: u8| Output::Send {
        to: NodeId(to),
        envelope: Envelope {
            cluster: ClusterId::UNKNOWN,
            ..envelope(2, Message::Recover { nonce: 42, incarnation: 1 })
        },
        release: Release::AfterPersists,
    };
    assert_eq!(step(&mut wiped, receive(4, reply(42))), vec![recover(1), recover(3), recover(4)]);
}

/// Node 2 wiped and recovering, past step 1: nodes 1 and 3 answered its query (nonce 42), and it
/// asked them to record incarnation 1.
fn recovering_at_step_2() -> Replica {
    let mut wiped = Replica::new(Config::new(NodeId(2), members()), DurableState::lost(), 42).unwrap();
    wiped.start(&mut Vec::new());
    let voters: paxos::core::NodeSet = members().into_iter().collect();
    for from in [1, 3] {
        let reply = Message::RecoverQueryReply { nonce: 42, incarnation: 0, version: 0, voters };
        step(&mut wiped, receive(from, reply));
    }
    wiped
}

/// A peer's answer to step 2 of node 2's recovery.
fn recover_reply(nonce: u64, chosen: u64, reports: Vec<Report>) -> Message {
    Message::RecoverReply {
        nonce,
        incarnation: 1,
        promised: ballot(1, 1),
        chosen: Slot(chosen),
        reports,
        incarnations: vec![0, 0, 1, 0],
    }
}

/// A recovering replica adopts what a majority of the others answered to its own request (not an
/// earlier attempt's answer, not another cluster's), and one that then holds every chosen value
/// joins at once, asking nobody for values.
#[test]
fn a_recovering_replica_that_holds_every_chosen_value_after_adopting_joins_at_once() {
    let mut wiped = recovering_at_step_2();
    let chosen = batch(vec![put(9, 1, "x", "1")]);
    let report =
        Report { slot: Slot(0), accepted: Some((ballot(1, 1), chosen.clone())), chosen: Some(chosen) };
    assert_eq!(
        step(&mut wiped, receive(1, recover_reply(41, 1, vec![report.clone()]))),
        vec![],
        "an earlier attempt"
    );
    let stranger =
        Envelope { cluster: ClusterId(8), ..envelope(3, recover_reply(42, 1, vec![report.clone()])) };
    assert_eq!(step(&mut wiped, Input::Receive(stranger)), vec![], "another cluster");
    assert_eq!(step(&mut wiped, receive(1, recover_reply(42, 1, vec![report]))), vec![], "one of two");
    let out = step(&mut wiped, receive(3, recover_reply(42, 0, vec![])));
    let adopted = [
        Output::Persist(Persist::Accept {
            slot: Slot(0),
            ballot: ballot(1, 1),
            value: batch(vec![put(9, 1, "x", "1")]),
        }),
        Output::Persist(Persist::ChosenFloor { below: Slot(1) }),
        Output::Persist(Persist::Promise(ballot(1, 1))),
    ];
    assert_eq!(out[..3], adopted[..]);
    assert!(matches!(&out[3], Output::Persist(Persist::Snapshot { slot: Slot(1), .. })), "{:?}", out[3]);
    let joined = [
        Output::Persist(Persist::Joined { cluster: CLUSTER, node: NodeId(2), incarnation: 1 }),
        Output::SetTimer(Timer::Election),
    ];
    assert_eq!(out[4..], joined[..]);
    assert_eq!((wiped.status(), wiped.incarnation()), (Status::Follower, 1));
    assert_eq!(replica(1).incarnation(), 0, "a replica that never lost its disk");
}

/// A recovering replica adopts, per slot, the value accepted in the highest ballot any answer
/// reports (Paxos's rule: that value may have been chosen), not the first one it reads, and every
/// incarnation any answer knows of, for nodes it has never heard of too.
#[test]
fn a_recovering_replica_adopts_per_slot_the_value_of_the_highest_ballot_reported() {
    let mut wiped = recovering_at_step_2();
    let (older, newer) = (batch(vec![put(9, 1, "x", "old")]), batch(vec![put(8, 1, "x", "new")]));
    let report = |ballot, value| Report { slot: Slot(0), accepted: Some((ballot, value)), chosen: None };
    step(&mut wiped, receive(1, recover_reply(42, 0, vec![report(ballot(1, 1), older)])));
    // Node 3 also knows of a node 5 (joined later) at incarnation 3: a longer crash vector.
    let answer = Message::RecoverReply {
        nonce: 42,
        incarnation: 1,
        promised: ballot(1, 1),
        chosen: Slot(0),
        reports: vec![report(ballot(2, 3), newer.clone())],
        incarnations: vec![0, 0, 1, 0, 0, 3],
    };
    let out = step(&mut wiped, receive(3, answer));
    assert_eq!(
        out[0],
        Output::Persist(Persist::Accept { slot: Slot(0), ballot: ballot(2, 3), value: newer })
    );
    assert!(
        out.contains(&Output::Persist(Persist::Incarnation { node: NodeId(5), incarnation: 3 })),
        "{out:?}"
    );
}

/// A recovering replica whose answers report values chosen that nobody holds any more (compacted)
/// asks the peer furthest ahead for them, and joins only once it has learned and applied them.
#[test]
fn a_recovering_replica_missing_chosen_values_learns_them_before_it_joins() {
    let mut wiped = recovering_at_step_2();
    step(&mut wiped, receive(1, recover_reply(42, 1, vec![])));
    let out = step(&mut wiped, receive(3, recover_reply(42, 0, vec![])));
    let learn = Output::Send {
        to: NodeId(1),
        envelope: Envelope { incarnation: 1, ..envelope(2, Message::LearnRequest { from: Slot(0) }) },
        release: Release::Immediately,
    };
    assert_eq!(
        out,
        vec![
            Output::Persist(Persist::ChosenFloor { below: Slot(1) }),
            Output::Persist(Persist::Promise(ballot(1, 1))),
            learn,
        ]
    );
    assert_eq!(wiped.status(), Status::Recovering);
    let values = vec![batch(vec![put(9, 1, "x", "1")])];
    let out = step(&mut wiped, receive(1, Message::LearnReply { from: Slot(0), values, committed: Slot(1) }));
    assert!(
        out.contains(&Output::Persist(Persist::Joined { cluster: CLUSTER, node: NodeId(2), incarnation: 1 })),
        "{out:?}"
    );
    assert_eq!(wiped.status(), Status::Follower);
}

/// A peer answers a recovery only from a replica that is not recovering itself and only for an
/// incarnation it has not seen superseded; it forgets its leader only if the leader is the one
/// recovering (a recovered leader is a new incarnation that must be elected again).
#[test]
fn a_peer_answers_only_current_recoveries_and_forgets_only_a_recovering_leader() {
    let mut follower = replica(2);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: Value::Noop, committed: Slot(0) };
    step(&mut follower, receive(1, accept));
    let recover = |incarnation: u64| Envelope {
        cluster: ClusterId::UNKNOWN,
        ..envelope(3, Message::Recover { nonce: 42, incarnation })
    };
    assert_eq!(
        step(&mut follower, Input::Receive(recover(2)))[0],
        Output::Persist(Persist::Incarnation { node: NodeId(3), incarnation: 2 })
    );
    assert_eq!(step(&mut follower, Input::Receive(recover(1))), vec![], "incarnation 1 is superseded");
    let request = put(9, 1, "x", "1");
    assert_eq!(
        step(&mut follower, Input::Requests(vec![request.clone()])),
        vec![send_now(2, 1, Message::Forward { requests: vec![request] })],
        "node 1 still leads"
    );
    let from_leader = Envelope {
        cluster: ClusterId::UNKNOWN,
        ..envelope(1, Message::Recover { nonce: 7, incarnation: 1 })
    };
    step(&mut follower, Input::Receive(from_leader));
    assert_eq!(step(&mut follower, Input::Requests(vec![put(8, 1, "y", "1")])), vec![], "no leader known");
    let mut wiped = Replica::new(Config::new(NodeId(1), members()), DurableState::lost(), 5).unwrap();
    wiped.start(&mut Vec::new());
    assert_eq!(step(&mut wiped, Input::Receive(recover(1))), vec![], "recovering itself");
}

#[test]
fn peer_records_the_new_incarnation_before_answering_a_recovery() {
    let mut peer = replica(1);
    let recover = Envelope {
        cluster: ClusterId::UNKNOWN,
        from: NodeId(2),
        incarnation: 0,
        message: Message::Recover { nonce: 42, incarnation: 1 },
    };
    let out = step(&mut peer, Input::Receive(recover));
    assert_eq!(out[0], Output::Persist(Persist::Incarnation { node: NodeId(2), incarnation: 1 }));
    assert!(
        matches!(&out[1], Output::Send { to: NodeId(2), envelope, release: Release::AfterPersists } if matches!(envelope.message, Message::RecoverReply { nonce: 42, incarnation: 1, .. }))
    );
}

/// [`leader`] with a write proposed in slot 0 and accepted by itself (its own vote not yet in).
fn leader_with_a_write_in_slot_0() -> Replica {
    leader_writing(|_| {}, put(9, 1, "x", "1"))
}

/// [`leader_with`] `configure`, with `write` proposed in slot 0 and accepted by itself (its own
/// vote not yet in).
fn leader_writing(configure: impl FnOnce(&mut Config), write: Request) -> Replica {
    let mut leader = leader_with(configure);
    step(&mut leader, Input::Requests(vec![write.clone()]));
    let accept = Message::Accept {
        ballot: ballot(1, 1),
        slot: Slot(0),
        value: batch(vec![write]),
        committed: Slot(0),
    };
    step(&mut leader, receive(1, accept));
    leader
}

/// A vote for slot 0 in ballot 1.1, with the voter's crash vector `known`.
fn vote_in_slot_0(known: Vec<u64>) -> Message {
    Message::Accepted { ballot: ballot(1, 1), slot: Slot(0), committed: None, incarnations: known }
}

#[test]
fn vote_from_an_earlier_incarnation_is_not_counted() {
    let mut leader = leader_with_a_write_in_slot_0();
    // Node 3 recovered from storage loss as incarnation 1 (node 2 tells us in its vote).
    let mut known = incarnations();
    known[3] = 1;
    let vote = vote_in_slot_0;
    // A vote that carries the news strikes nothing yet, and counts once: no quorum (self not in yet).
    let out = step(&mut leader, receive(2, vote(known.clone())));
    assert_eq!(out, vec![Output::Persist(Persist::Incarnation { node: NodeId(3), incarnation: 1 })]);
    // Node 3's vote as incarnation 0 (cast before its disk was lost) is refused.
    assert_eq!(step(&mut leader, receive(3, vote(incarnations()))), vec![]);
    assert_eq!(leader.log().commit(), Slot(0));
}

/// A crash vector teaches the incarnations of the other nodes, those this replica never heard of
/// included, never its own.
#[test]
fn a_vote_teaches_the_incarnations_of_other_nodes_not_its_own() {
    let mut leader = leader_with_a_write_in_slot_0();
    assert_eq!(
        step(&mut leader, receive(2, vote_in_slot_0(vec![0, 5, 0, 0]))),
        vec![],
        "its own incarnation"
    );
    let out = step(&mut leader, receive(3, vote_in_slot_0(vec![0, 0, 0, 0, 0, 2])));
    assert_eq!(out[0], Output::Persist(Persist::Incarnation { node: NodeId(5), incarnation: 2 }));
}

/// A vote counted before its voter lost its disk is struck from the tally once the loss is known
/// (DISC 2017: a pre-loss vote must not be combined with votes cast after the loss became known),
/// so it no longer makes a quorum with the vote that brought the news.
#[test]
fn a_vote_cast_before_a_storage_loss_is_struck_when_the_loss_becomes_known() {
    let mut leader = leader_with_a_write_in_slot_0();
    let vote = vote_in_slot_0;
    // Node 3 votes as incarnation 0, then loses its disk and recovers as incarnation 1.
    assert_eq!(step(&mut leader, receive(3, vote(incarnations()))), vec![]);
    let mut known = incarnations();
    known[3] = 1;
    let out = step(&mut leader, receive(2, vote(known)));
    assert_eq!(out, vec![Output::Persist(Persist::Incarnation { node: NodeId(3), incarnation: 1 })]);
    assert_eq!(leader.log().commit(), Slot(0), "node 3's old vote and node 2's are no quorum");
}

/// Replaying persists: a snapshot replaces an older one and drops the accepted entries it covers;
/// an older or equal one changes nothing (what a restart restores from the log).
#[test]
fn a_newer_snapshot_replaces_an_older_one_and_an_older_one_changes_nothing() {
    let state = |keys: usize| {
        let mut kv = paxos::core::KvStore::new(16);
        for index in 0..keys {
            let _ = kv.apply(&put(1, index as u64 + 1, &format!("k{index}"), "v"));
        }
        std::sync::Arc::new(kv)
    };
    let accepted = |durable: &DurableState| durable.accepted.keys().map(|slot| slot.0).collect::<Vec<_>>();
    let snapshot = |durable: &DurableState| durable.snapshot.as_ref().map(|(slot, kv)| (slot.0, kv.len()));
    let mut durable = DurableState::initial(CLUSTER, NodeId(1));
    for slot in [3, 7, 10] {
        durable.apply(&Persist::Accept { slot: Slot(slot), ballot: ballot(1, 1), value: Value::Noop });
    }
    durable.apply(&Persist::Snapshot { slot: Slot(5), state: state(1) });
    assert_eq!((snapshot(&durable), accepted(&durable)), (Some((5, 1)), vec![7, 10]));
    durable.apply(&Persist::Snapshot { slot: Slot(9), state: state(2) });
    assert_eq!((snapshot(&durable), accepted(&durable)), (Some((9, 2)), vec![10]));
    durable.apply(&Persist::Snapshot { slot: Slot(6), state: state(3) });
    durable.apply(&Persist::Snapshot { slot: Slot(9), state: state(4) });
    assert_eq!((snapshot(&durable), accepted(&durable)), (Some((9, 2)), vec![10]));
}

/// A replica whose recovery left it knowing slots chosen up to a floor it has no values for
/// (`chosen_floor`) installs a snapshot from the peer it is learning from; if the snapshot ends
/// below the floor, it asks that peer for the rest at once, and if it reaches the floor, it asks
/// nothing more.
#[test]
fn a_snapshot_below_the_known_chosen_point_is_followed_by_a_request_for_the_rest() {
    let learns_after_snapshot = |snapshot_slot: u64| {
        let mut durable = DurableState::initial(CLUSTER, NodeId(2));
        durable.chosen_floor = Slot(5);
        let mut follower = Replica::new(Config::new(NodeId(2), members()), durable, 1).unwrap();
        follower.start(&mut Vec::new());
        // The leader's commit point makes it ask for slot 0 on: it is learning from n1.
        let asked = step(
            &mut follower,
            receive(1, Message::Commit { ballot: ballot(1, 1), committed: Slot(5), round: 0 }),
        );
        assert!(asked.contains(&send_now(2, 1, Message::LearnRequest { from: Slot(0) })), "{asked:?}");
        let state = std::sync::Arc::new(paxos::core::KvStore::new(16));
        let out = step(&mut follower, receive(1, Message::Snapshot { slot: Slot(snapshot_slot), state }));
        assert_eq!(follower.log().applied(), Slot(snapshot_slot));
        out.iter()
            .filter_map(|output| match output {
                Output::Send { to: NodeId(1), envelope, .. } => match envelope.message {
                    Message::LearnRequest { from } => Some(from),
                    _ => None,
                },
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(learns_after_snapshot(3), vec![Slot(3)], "below the floor: the rest is asked for");
    assert_eq!(learns_after_snapshot(5), vec![], "at the floor: nothing more to ask");
}
