//! Membership changes, one input at a time, with the exact outputs: the rules of
//! `paxos::core::membership` as each handler carries them out.

mod steps;

use paxos::core::{
    Bytes, Change, ClientId, Config, DurableState, Input, MemberError, Message, NodeId, Operation, Outcome,
    Output, Persist, Replica, Request, RequestError, Response, Slot, Status, Timer, Value,
};
use steps::{
    ballot, batch, campaign_with_own_promise, elect_with_node_2, put, receive, send, send_now, step, CLUSTER,
};

fn member(client: u64, sequence: u64, change: Change) -> Request {
    Request { client: ClientId(client), sequence, operations: vec![Operation::Member(change)] }
}

fn incarnations() -> Vec<u64> {
    vec![0; 5]
}

/// Replica `node` of a cluster whose first voters are 1, 2, 3 and whose first learner is 4.
fn replica(node: u8) -> Replica {
    let mut config = Config::new(NodeId(node), vec![NodeId(1), NodeId(2), NodeId(3)]);
    config.learners = vec![NodeId(4)];
    let mut replica = Replica::new(config, DurableState::initial(CLUSTER, NodeId(node)), 1).unwrap();
    replica.start(&mut Vec::new());
    replica
}

/// A voter's vote (no progress report).
fn vote(slot: u64) -> Message {
    Message::Accepted {
        ballot: ballot(1, 1),
        slot: Slot(slot),
        committed: None,
        incarnations: incarnations(),
    }
}

/// A learner's vote, with its commit point.
fn learner_vote(slot: u64, committed: u64) -> Message {
    Message::Accepted {
        ballot: ballot(1, 1),
        slot: Slot(slot),
        committed: Some(Slot(committed)),
        incarnations: incarnations(),
    }
}

/// Node 1 elected with ballot 1.1 by itself and node 2, nothing in any log.
fn leader() -> Replica {
    leader_with(|_| {})
}

/// [`leader`], configured by `configure`.
fn leader_with(configure: impl FnOnce(&mut Config)) -> Replica {
    let mut config = Config::new(NodeId(1), vec![NodeId(1), NodeId(2), NodeId(3)]);
    config.learners = vec![NodeId(4)];
    configure(&mut config);
    let mut replica = Replica::new(config, DurableState::initial(CLUSTER, NodeId(1)), 1).unwrap();
    replica.start(&mut Vec::new());
    elect_with_node_2(&mut replica, incarnations());
    assert_eq!(replica.status(), Status::Leader);
    replica
}

/// Has `leader` propose `requests` in slot `slot` and every voter accept it.
fn choose(leader: &mut Replica, slot: u64, value: Value) -> Vec<Output> {
    let accept = Message::Accept { ballot: ballot(1, 1), slot: Slot(slot), value, committed: Slot(slot) };
    step(leader, receive(1, accept));
    step(leader, receive(1, vote(slot)));
    step(leader, receive(2, vote(slot)))
}

#[test]
fn a_candidate_asks_only_the_voters_for_promises() {
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
}

/// A candidate asks again only the voters that have not promised: not one that did, not a learner.
#[test]
fn a_candidate_asks_again_only_the_voters_that_have_not_promised() {
    let mut candidate = replica(1);
    step(&mut candidate, Input::Timeout(Timer::Election));
    let b = ballot(1, 1);
    let empty =
        Message::Promise { ballot: b, chosen: Slot(0), reports: vec![], incarnations: incarnations() };
    step(&mut candidate, receive(2, empty));
    let prepare = Message::Prepare { ballot: b, from: Slot(0) };
    assert_eq!(
        step(&mut candidate, Input::Timeout(Timer::Retransmit)),
        vec![send(1, 3, prepare), Output::SetTimer(Timer::Retransmit)]
    );
}

#[test]
fn a_learner_gets_the_proposals_but_its_vote_does_not_count() {
    let mut leader = leader();
    let request = put(9, 1, "x", "1");
    let value = batch(vec![request.clone()]);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: value.clone(), committed: Slot(0) };
    assert_eq!(
        step(&mut leader, Input::Requests(vec![request])),
        vec![
            send(1, 1, accept.clone()),
            send_now(1, 2, accept.clone()),
            send_now(1, 3, accept.clone()),
            send_now(1, 4, accept.clone()),
        ]
    );
    step(&mut leader, receive(1, accept));
    assert_eq!(step(&mut leader, receive(1, vote(0))), vec![]);
    // The learner's vote would make two of four, but it is no voter: still one of three.
    assert_eq!(step(&mut leader, receive(4, learner_vote(0, 0))), vec![]);
    let response = Response { client: ClientId(9), sequence: 1, result: Ok(vec![Outcome::Written]) };
    assert_eq!(step(&mut leader, receive(3, vote(0))), vec![Output::Reply(response)]);
}

#[test]
fn a_membership_change_ends_its_batch_and_nothing_follows_it_until_it_is_chosen() {
    // Two slots may be in flight: the barrier, not the window, keeps `after` out of slot 1.
    let mut leader = leader_with(|config| config.window_slots = 2);
    let first = put(8, 1, "a", "1");
    let change = member(9, 1, Change::Remove { node: NodeId(3) });
    let after = put(10, 1, "b", "2");
    let requests = vec![first.clone(), change.clone(), after];
    let out = step(&mut leader, Input::Requests(requests));
    let value = batch(vec![first, change]);
    let accept = Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value, committed: Slot(0) };
    assert_eq!(
        out,
        vec![
            send(1, 1, accept.clone()),
            send_now(1, 2, accept.clone()),
            send_now(1, 3, accept.clone()),
            send_now(1, 4, accept)
        ]
    );
    // Nor does a later request go anywhere while the change is undecided.
    assert_eq!(step(&mut leader, Input::Requests(vec![put(11, 1, "c", "3")])), vec![]);
}

#[test]
fn a_second_change_while_one_is_pending_is_refused() {
    let mut leader = leader();
    step(&mut leader, Input::Requests(vec![member(9, 1, Change::Remove { node: NodeId(3) })]));
    let second = member(10, 1, Change::Remove { node: NodeId(2) });
    let refused = Response {
        client: ClientId(10),
        sequence: 1,
        result: Err(RequestError::Refused(MemberError::Pending)),
    };
    assert_eq!(step(&mut leader, Input::Requests(vec![second])), vec![Output::Reply(refused)]);
}

#[test]
fn a_learner_never_heard_from_is_not_promoted() {
    let mut leader = leader_with(|config| config.promote_lag_max = Some(1000));
    let promote = member(9, 1, Change::Replace { old: NodeId(3), new: NodeId(4) });
    let refusal = Output::Reply(Response {
        client: ClientId(9),
        sequence: 1,
        result: Err(RequestError::Refused(MemberError::Unheard(NodeId(4)))),
    });
    assert_eq!(step(&mut leader, Input::Requests(vec![promote])), vec![refusal]);
}

#[test]
fn a_learner_answers_every_heartbeat_with_its_commit_point() {
    let mut learner = replica(4);
    let heartbeat = Message::Commit { ballot: ballot(1, 1), committed: Slot(0), round: 0 };
    let out = step(&mut learner, receive(1, heartbeat));
    let report = Message::CommitAck { ballot: ballot(1, 1), round: 0, progress: Some(Slot(0)) };
    assert!(out.contains(&send(4, 1, report)), "{out:?}");
    // A voter answers a round-0 heartbeat with nothing.
    let mut voter = replica(2);
    let heartbeat = Message::Commit { ballot: ballot(1, 1), committed: Slot(0), round: 0 };
    let out = step(&mut voter, receive(1, heartbeat));
    assert!(!out.iter().any(|output| matches!(output, Output::Send { .. })), "{out:?}");
}

#[test]
fn a_learner_heard_only_through_heartbeats_is_promoted_while_nothing_is_written() {
    let mut leader = leader_with(|config| config.promote_lag_max = Some(0));
    let report = Message::CommitAck { ballot: ballot(1, 1), round: 0, progress: Some(Slot(0)) };
    step(&mut leader, receive(4, report));
    let promote = member(9, 1, Change::Promote { node: NodeId(4) });
    let out = step(&mut leader, Input::Requests(vec![promote]));
    assert_eq!(out.len(), 4, "the promotion is proposed to all four: {out:?}");
}

#[test]
fn a_learner_far_behind_is_not_promoted() {
    for (limit, refused) in [(1, false), (0, true)] {
        let mut leader = leader_with(|config| config.promote_lag_max = Some(limit));
        // Slot 0 chosen; the learner reports that nothing is committed at its end: it is one slot
        // behind.
        let write = put(8, 1, "a", "1");
        step(&mut leader, Input::Requests(vec![write.clone()]));
        choose(&mut leader, 0, batch(vec![write]));
        step(&mut leader, receive(4, learner_vote(0, 0)));
        let promote = member(9, 1, Change::Promote { node: NodeId(4) });
        let out = step(&mut leader, Input::Requests(vec![promote]));
        let behind = MemberError::Behind { node: NodeId(4), behind: 1, limit };
        let refusal = Output::Reply(Response {
            client: ClientId(9),
            sequence: 1,
            result: Err(RequestError::Refused(behind)),
        });
        if refused {
            assert_eq!(out, vec![refusal], "promote_lag_max {limit}");
        } else {
            assert_eq!(
                out.len(),
                4,
                "promote_lag_max {limit}: the promotion is proposed to all four: {out:?}"
            );
        }
    }
}

#[test]
fn the_leader_campaigns_again_among_the_new_voters_once_a_change_is_chosen() {
    let mut leader = leader();
    let swap = member(9, 1, Change::Replace { old: NodeId(3), new: NodeId(4) });
    step(&mut leader, receive(4, learner_vote(0, 0)));
    assert_eq!(
        leader.progress(),
        [(NodeId(4), Slot(0))].into_iter().collect(),
        "the learner's reported progress"
    );
    step(&mut leader, Input::Requests(vec![swap.clone()]));
    let out = choose(&mut leader, 0, batch(vec![swap]));
    let next = ballot(2, 1);
    let prepare = Message::Prepare { ballot: next, from: Slot(1) };
    let changed = Response { client: ClientId(9), sequence: 1, result: Ok(vec![Outcome::Member(Ok(1))]) };
    assert_eq!(
        out,
        vec![
            Output::Reply(changed),
            Output::CancelTimer(Timer::Heartbeat),
            Output::SetTimer(Timer::Election),
            Output::Persist(Persist::Promise(next)),
            send(1, 1, prepare.clone()),
            send(1, 2, prepare.clone()),
            send(1, 4, prepare),
        ]
    );
    assert_eq!(leader.status(), Status::Candidate);
    let voters: Vec<NodeId> = leader.membership().voters.iter().collect();
    assert_eq!(voters, vec![NodeId(1), NodeId(2), NodeId(4)]);
}

#[test]
fn a_leader_that_removes_itself_asks_a_remaining_voter_to_campaign() {
    let mut other = self::leader();
    let leave = member(9, 1, Change::Remove { node: NodeId(1) });
    step(&mut other, Input::Requests(vec![leave.clone()]));
    let accept = Message::Accept {
        ballot: ballot(1, 1),
        slot: Slot(0),
        value: batch(vec![leave]),
        committed: Slot(0),
    };
    step(&mut other, receive(1, accept));
    step(&mut other, receive(1, vote(0)));
    let changed = Response { client: ClientId(9), sequence: 1, result: Ok(vec![Outcome::Member(Ok(1))]) };
    assert_eq!(
        step(&mut other, receive(3, vote(0))),
        vec![
            Output::Reply(changed),
            Output::CancelTimer(Timer::Heartbeat),
            Output::SetTimer(Timer::Election),
            send_now(1, 2, Message::Campaign),
        ]
    );
    // Removed, it refuses every request and never campaigns.
    let refused = Response {
        client: ClientId(5),
        sequence: 1,
        result: Err(RequestError::Refused(MemberError::Departed(NodeId(1)))),
    };
    assert_eq!(step(&mut other, Input::Requests(vec![put(5, 1, "x", "1")])), vec![Output::Reply(refused)]);
    assert_eq!(step(&mut other, Input::Timeout(Timer::Election)), vec![Output::SetTimer(Timer::Election)]);
}

#[test]
fn leadership_is_handed_over_once_the_transfer_is_applied() {
    let mut leader = leader();
    let transfer =
        Request { client: ClientId(9), sequence: 1, operations: vec![Operation::Transfer { to: NodeId(2) }] };
    step(&mut leader, Input::Requests(vec![transfer.clone()]));
    let out = choose(&mut leader, 0, batch(vec![transfer]));
    let done = Response { client: ClientId(9), sequence: 1, result: Ok(vec![Outcome::Member(Ok(0))]) };
    assert_eq!(
        out,
        vec![
            Output::Reply(done),
            Output::CancelTimer(Timer::Heartbeat),
            Output::SetTimer(Timer::Election),
            send_now(1, 2, Message::Campaign),
        ]
    );
    // The voter asked campaigns at once.
    let mut follower = replica(2);
    let b = ballot(1, 2);
    let out = step(&mut follower, receive(1, Message::Campaign));
    assert_eq!(out[..2], [Output::SetTimer(Timer::Election), Output::Persist(Persist::Promise(b))]);
    assert_eq!(follower.status(), Status::Candidate);
}

#[test]
fn a_removed_node_that_campaigns_gets_the_chosen_values_instead_of_a_promise() {
    let mut acceptor = replica(2);
    let leave = batch(vec![member(9, 1, Change::Remove { node: NodeId(3) })]);
    let accept =
        Message::Accept { ballot: ballot(1, 1), slot: Slot(0), value: leave.clone(), committed: Slot(0) };
    step(&mut acceptor, receive(1, accept));
    step(&mut acceptor, receive(1, Message::Commit { ballot: ballot(1, 1), committed: Slot(1), round: 0 }));
    assert!(!acceptor.membership().is_voter(NodeId(3)));
    let out = step(&mut acceptor, receive(3, Message::Prepare { ballot: ballot(5, 3), from: Slot(0) }));
    assert_eq!(
        out,
        vec![send_now(2, 3, Message::LearnReply { from: Slot(0), values: vec![leave], committed: Slot(1) })]
    );
    assert_eq!(acceptor.promised(), ballot(1, 1));
}

/// What node 1 does as its election completes with one slot to settle, `accept`: it leads, and
/// sends the Accept to itself (after its persists), the other voters and the learner.
fn elected_settling(accept: Message) -> Vec<Output> {
    vec![
        Output::CancelTimer(Timer::Election),
        Output::SetTimer(Timer::Heartbeat),
        send(1, 1, accept.clone()),
        send_now(1, 2, accept.clone()),
        send_now(1, 3, accept.clone()),
        send_now(1, 4, accept),
    ]
}

#[test]
fn a_candidate_settles_slots_only_up_to_the_first_membership_change() {
    let mut candidate = replica(1);
    campaign_with_own_promise(&mut candidate, incarnations());
    let b = ballot(1, 1);
    let change = batch(vec![member(9, 1, Change::Remove { node: NodeId(3) })]);
    let later = batch(vec![put(8, 1, "a", "1")]);
    let reports = vec![
        paxos::core::Report { slot: Slot(0), accepted: Some((ballot(0, 2), change.clone())), chosen: None },
        paxos::core::Report { slot: Slot(1), accepted: Some((ballot(0, 2), later)), chosen: None },
    ];
    let promise = Message::Promise { ballot: b, chosen: Slot(0), reports, incarnations: incarnations() };
    let out = step(&mut candidate, receive(2, promise));
    let accept = Message::Accept { ballot: b, slot: Slot(0), value: change, committed: Slot(0) };
    assert_eq!(out, elected_settling(accept));
    // Slot 1 belongs to the next configuration: the leader proposes nothing there yet.
    assert_eq!(step(&mut candidate, Input::Requests(vec![put(7, 1, "b", "2")])), vec![]);
}

/// A candidate that learns a chosen membership change while it campaigns was asking the old
/// voters: it campaigns again, with a new ballot, among the new ones.
#[test]
fn a_candidate_that_learns_a_membership_change_campaigns_again_among_the_new_voters() {
    let mut candidate = replica(1);
    step(&mut candidate, Input::Timeout(Timer::Election));
    let leave = batch(vec![member(9, 1, Change::Remove { node: NodeId(3) })]);
    let out = step(
        &mut candidate,
        receive(2, Message::LearnReply { from: Slot(0), values: vec![leave], committed: Slot(1) }),
    );
    let next = ballot(2, 1);
    let prepare = Message::Prepare { ballot: next, from: Slot(1) };
    assert_eq!(
        out,
        vec![
            Output::SetTimer(Timer::Election),
            Output::Persist(Persist::Promise(next)),
            send(1, 1, prepare.clone()),
            send(1, 2, prepare),
        ]
    );
    assert_eq!(candidate.status(), Status::Candidate);
}

#[test]
fn bad_membership_changes_are_refused_when_applied() {
    let mut leader = leader();
    let add = member(9, 1, Change::Add { node: NodeId(2), address: Bytes::from("h:2") });
    step(&mut leader, Input::Requests(vec![add.clone()]));
    let out = choose(&mut leader, 0, batch(vec![add]));
    let refused = Response {
        client: ClientId(9),
        sequence: 1,
        result: Ok(vec![Outcome::Member(Err(MemberError::Exists(NodeId(2))))]),
    };
    // Refused at apply time: the membership is unchanged, and the leader goes on leading.
    assert_eq!(out, vec![Output::Reply(refused)]);
    assert_eq!(leader.status(), Status::Leader);
    assert_eq!(leader.membership().version, 0);
}

/// A new leader settles the slots its promisers reported up to the first membership change among
/// them, and a leadership spans one configuration. When that change is refused as it is applied
/// (here: promoting node 2, already a voter), the configuration has not ended, but the slots
/// after the change were never settled, chosen though they are: the leader campaigns again
/// rather than propose there (chaos's `groups-membership`, seed 72, chose two values in one slot).
#[test]
fn a_leader_whose_election_stopped_at_a_refused_change_campaigns_again_before_proposing_past_it() {
    let mut candidate = replica(1);
    campaign_with_own_promise(&mut candidate, incarnations());
    let b = ballot(1, 1);
    let chosen = |slot: u64, value: Value| paxos::core::Report {
        slot: Slot(slot),
        accepted: Some((ballot(0, 2), value.clone())),
        chosen: Some(value),
    };
    let refused = batch(vec![member(9, 1, Change::Promote { node: NodeId(2) })]);
    let reports = vec![
        chosen(0, refused.clone()),
        chosen(1, batch(vec![put(8, 1, "x", "a")])),
        chosen(2, batch(vec![put(8, 2, "x", "b")])),
    ];
    let out = step(
        &mut candidate,
        receive(2, Message::Promise { ballot: b, chosen: Slot(3), reports, incarnations: incarnations() }),
    );
    let accept = Message::Accept { ballot: b, slot: Slot(0), value: refused, committed: Slot(1) };
    let b2 = ballot(2, 1);
    let prepare = Message::Prepare { ballot: b2, from: Slot(1) };
    let mut expected = elected_settling(accept);
    expected.extend([
        Output::CancelTimer(Timer::Heartbeat),
        Output::SetTimer(Timer::Election),
        Output::Persist(Persist::Promise(b2)),
        send(1, 1, prepare.clone()),
        send(1, 2, prepare.clone()),
        send(1, 3, prepare),
    ]);
    assert_eq!(out, expected);
    assert_eq!(candidate.status(), Status::Candidate);
    assert_eq!(candidate.log().commit(), Slot(1));
}

/// The twin: when the refused change is the last slot its promisers reported, the election settled
/// everything they reported, and the leader goes on leading (no second election) once it is
/// applied.
#[test]
fn a_leader_whose_election_ended_with_a_refused_change_goes_on_leading() {
    let mut candidate = replica(1);
    campaign_with_own_promise(&mut candidate, incarnations());
    let b = ballot(1, 1);
    let refused = batch(vec![member(9, 1, Change::Promote { node: NodeId(2) })]);
    let reports = vec![paxos::core::Report {
        slot: Slot(0),
        accepted: Some((ballot(0, 2), refused.clone())),
        chosen: Some(refused.clone()),
    }];
    let out = step(
        &mut candidate,
        receive(2, Message::Promise { ballot: b, chosen: Slot(1), reports, incarnations: incarnations() }),
    );
    let accept = Message::Accept { ballot: b, slot: Slot(0), value: refused, committed: Slot(1) };
    assert_eq!(out, elected_settling(accept));
    assert_eq!(candidate.status(), Status::Leader);
    assert_eq!(candidate.log().commit(), Slot(1));
}
