//! The built-in scenarios: every fault the store must survive, and negative controls that must
//! fail, so that a pass is never vacuous.

use crate::fault::{Direction, Fault, Range, Step, Strobe, Target};
use crate::{Build, Expect, Mix, ReadMode, Scenario, Workload};

fn scenario(name: &str, description: &str, duration: f64, faults: Vec<Step>) -> Scenario {
    Scenario {
        name: name.to_string(),
        description: description.to_string(),
        nodes: 3,
        spares: 0,
        groups: 1,
        workload: Workload::default(),
        duration,
        faults,
        read_mode: ReadMode::ReadIndex,
        build: Build::Correct,
        expect: Expect::Linearizable,
        expect_on: std::collections::BTreeMap::new(),
        sync_ms: None,
    }
}

fn repeat(gap: (f64, f64), hold: (f64, f64), choose: Vec<Fault>) -> Step {
    Step::Repeat { gap: Range(gap.0, gap.1), hold: Range(hold.0, hold.1), choose }
}

fn once(at: f64, hold: f64, fault: Fault) -> Step {
    Step::Once { at, hold, fault }
}

/// Every node's clock, and so its election timer, at 1x to 4x real time from the start for
/// `seconds`: nodes time out at different rates, so proposers compete.
fn timers_at_1x_to_4x(seconds: f64) -> Step {
    once(
        0.0,
        seconds,
        Fault::Clock { target: Target::All, offset: Range(0.0, 0.0), rate: Range(1.0, 4.0), strobe: None },
    )
}

/// Every built-in scenario, in the order `chaos list` shows them.
pub fn all() -> Vec<Scenario> {
    let leader = Target::Leader;
    vec![
        scenario(
            "partition",
            "Again and again, a random minority of nodes is cut from the majority for 2-5 s. The \
             majority elects a leader and goes on; the minority commits nothing.",
            20.0,
            vec![repeat((1.0, 3.0), (2.0, 5.0), vec![Fault::PartitionHalves])],
        ),
        Scenario {
            expect_on: [("redis".to_string(), Expect::Violation)].into(),
            ..scenario(
                "leader-isolation",
                "The leader is cut from every other node (its clients still reach it) for 2-4 s, \
                 again and again: it must stop answering while a new leader serves. On Redis with \
                 Sentinel, a negative control: the cut-off primary goes on acknowledging writes \
                 that the promoted replica never saw, and they must be found lost.",
                15.0,
                vec![repeat((1.0, 2.0), (2.0, 4.0), vec![Fault::Isolate { target: leader }])],
            )
        },
        Scenario {
            // Many keys, few writes each: a write lost anywhere is rarely overwritten before the
            // final reads, so that it shows as lost, not only as a stale read.
            workload: Workload { clients: 6, keys: 100, rate: 5.0, ..Workload::default() },
            expect_on: [("redis".to_string(), Expect::Violation)].into(),
            ..scenario(
                "leader-isolation-sparse",
                "The leader is cut off with its clients for 3-5 s, long enough for a new leader, \
                 under a sparse load (100 keys, 30 operations a second): whatever the cut-off side \
                 acknowledged must be in the final reads. On Redis with Sentinel, a negative \
                 control: the old primary's acknowledged writes vanish when it rejoins as a \
                 replica, and must be found lost.",
                15.0,
                vec![repeat((2.0, 3.0), (3.0, 5.0), vec![Fault::Isolate { target: leader }])],
            )
        },
        Scenario {
            groups: 4,
            workload: Workload { clients: 8, keys: 16, ..Workload::default() },
            ..scenario(
                "groups-partition",
                "Four Paxos groups per node (keys spread over them, leaders spread over the nodes) \
                 while the network splits and nodes crash and restart: every group must stay \
                 linearizable on its own keys, and the shared log must recover every group.",
                15.0,
                vec![repeat(
                    (1.0, 2.0),
                    (1.0, 3.0),
                    vec![
                        Fault::PartitionHalves,
                        Fault::Isolate { target: leader },
                        Fault::Kill { target: Target::Random },
                    ],
                )],
            )
        },
        Scenario {
            groups: 4,
            workload: Workload { clients: 8, keys: 16, ..Workload::default() },
            ..scenario(
                "group-leader-isolation",
                "Four Paxos groups per node; the node leading group 1 is cut off for 2-4 s, again \
                 and again: group 1 (and any other group it led) elects a new leader while the \
                 groups led elsewhere keep serving.",
                15.0,
                vec![repeat((1.0, 2.0), (2.0, 4.0), vec![Fault::Isolate { target: Target::GroupLeader(1) }])],
            )
        },
        Scenario {
            groups: 4,
            spares: 2,
            workload: Workload { clients: 8, keys: 16, ..Workload::default() },
            ..scenario(
                "groups-membership",
                "Four Paxos groups per node while an operator replaces a lost node, adds one and \
                 removes the leader, under partitions, isolations and crashes. Every change goes \
                 to every group; one that some groups miss (their leader cut off, their learner not \
                 caught up yet) is carried to them by their leaders, so that every group ends with \
                 the same members, and the operator waits for that before the next change.",
                20.0,
                vec![
                    once(1.0, 0.0, Fault::ReplaceNode { target: Target::Follower }),
                    once(7.0, 0.0, Fault::AddNode),
                    once(12.0, 0.0, Fault::RemoveNode { target: leader }),
                    repeat(
                        (1.0, 3.0),
                        (0.5, 2.0),
                        vec![
                            Fault::PartitionHalves,
                            Fault::Isolate { target: Target::GroupLeader(2) },
                            Fault::Kill { target: Target::Random },
                        ],
                    ),
                ],
            )
        },
        Scenario {
            nodes: 5,
            ..scenario(
                "majorities-ring",
                "Five nodes on a ring: each sees a majority, no two see the same one, so several \
                 nodes believe they can lead at once.",
                15.0,
                vec![repeat((1.0, 2.0), (2.0, 4.0), vec![Fault::MajoritiesRing])],
            )
        },
        Scenario {
            nodes: 5,
            ..scenario(
                "bridge",
                "Two halves of the cluster reach each other only through one node in the middle.",
                15.0,
                vec![repeat((1.0, 2.0), (2.0, 4.0), vec![Fault::Bridge])],
            )
        },
        scenario(
            "one-way",
            "One-way cuts: the leader hears the others but cannot reach them, or reaches them but \
             cannot hear them.",
            15.0,
            vec![repeat(
                (1.0, 2.0),
                (2.0, 3.0),
                vec![
                    Fault::OneWay { target: leader, direction: Direction::Outbound },
                    Fault::OneWay { target: leader, direction: Direction::Inbound },
                ],
            )],
        ),
        scenario(
            "clock-skew",
            "Every node's clock is stepped by up to ±5 s, runs at 0.5x to 3x, and strobes ±2 s \
             every 200 ms. Reads are confirmed by a quorum round, so skew may cost elections, never \
             correctness.",
            15.0,
            vec![repeat(
                (1.0, 2.0),
                (3.0, 5.0),
                vec![Fault::Clock {
                    target: Target::All,
                    offset: Range(-5.0, 5.0),
                    rate: Range(0.5, 3.0),
                    strobe: Some(Strobe { delta: 2.0, period: 0.2 }),
                }],
            )],
        ),
        scenario(
            "crash-restart",
            "Processes are killed and restarted, the leader's most often: writes not yet fsynced \
             survive in the page cache, memory does not.",
            15.0,
            vec![repeat(
                (1.0, 2.5),
                (0.0, 0.0),
                vec![
                    Fault::Kill { target: leader },
                    Fault::Kill { target: leader },
                    Fault::Kill { target: Target::Random },
                ],
            )],
        ),
        scenario(
            "machine-crash",
            "Machines crash (writes not yet fsynced are lost) and stay down for 1-3 s, the leader's \
             most often.",
            15.0,
            vec![repeat(
                (1.0, 2.5),
                (1.0, 3.0),
                vec![Fault::MachineCrash { target: leader }, Fault::MachineCrash { target: Target::Random }],
            )],
        ),
        scenario(
            "storage-loss",
            "A node's machine crashes and it comes back with an empty data directory: it must \
             recover its promises and log from a majority before it votes again.",
            15.0,
            vec![repeat(
                (2.0, 4.0),
                (0.5, 2.0),
                vec![Fault::StorageLoss { target: Target::Follower }, Fault::StorageLoss { target: leader }],
            )],
        ),
        scenario(
            "power-loss",
            "Again and again the whole cluster, or both followers at once, lose power (writes not \
             yet fsynced are lost, on every machine that crashed), while the leader is cut off now \
             and then: whatever a node sent before its sync must survive its own loss.",
            15.0,
            vec![repeat(
                (0.2, 0.8),
                (0.3, 1.5),
                vec![
                    Fault::MachineCrash { target: Target::Followers },
                    Fault::MachineCrash { target: Target::All },
                    Fault::Isolate { target: leader },
                ],
            )],
        ),
        Scenario {
            sync_ms: Some(Range(1.0, 100.0)),
            ..scenario(
                "slow-fsync",
                "Every node's fsync takes 1-100 ms (drawn for each sync, so one node's lags \
                 another's), and every 0.1-0.4 s the followers or the whole cluster lose power, or \
                 the leader is cut off: a vote or a reply that left before its sync would be \
                 forgotten by the power loss that follows it.",
                15.0,
                vec![repeat(
                    (0.1, 0.4),
                    (0.1, 0.5),
                    vec![
                        Fault::MachineCrash { target: Target::Followers },
                        Fault::MachineCrash { target: Target::All },
                        Fault::Isolate { target: leader },
                    ],
                )],
            )
        },
        scenario(
            "pause",
            "A process stops for 1-4 s (a long GC pause, a stopped VM) and resumes with a stale view \
             while another leader serves.",
            15.0,
            vec![repeat(
                (1.0, 2.0),
                (1.0, 4.0),
                vec![Fault::Pause { target: leader }, Fault::Pause { target: Target::Random }],
            )],
        ),
        scenario(
            "flaky-network",
            "Messages between nodes are lost (1 in 200; a lost message kills its connection) and \
             delayed by up to 50 ms, so that messages on different connections overtake each other.",
            15.0,
            vec![repeat((1.0, 2.0), (2.0, 4.0), vec![Fault::Flaky { loss: 0.005, latency_ms: 50 }])],
        ),
        scenario(
            "competing-proposers",
            "Proposers race for the same slots: every node's clock, and so its election timer, runs \
             at 1x to 4x; messages are lost (1 in 50) and delayed by up to 30 ms; and again and \
             again the leader is cut off, or cut from the others one way, for 0.2-1 s, often between \
             sending its Accepts and hearing the votes. Slots end up accepted in several ballots and \
             values superseded before they are chosen: the report counts how often.",
            20.0,
            vec![
                timers_at_1x_to_4x(20.0),
                once(0.0, 20.0, Fault::Flaky { loss: 0.02, latency_ms: 30 }),
                repeat(
                    (0.2, 1.0),
                    (0.2, 1.0),
                    vec![
                        Fault::Isolate { target: leader },
                        Fault::OneWay { target: leader, direction: Direction::Outbound },
                    ],
                ),
            ],
        ),
        scenario(
            "stalled-link",
            "Again and again, the link between one node (the leader, half the time) and another \
             holds its messages for 0.5-3 s, then delivers them all at once, while every other link \
             works: promises, votes and Accepts of earlier ballots arrive after later ones.",
            15.0,
            vec![repeat(
                (0.5, 2.0),
                (0.5, 3.0),
                vec![Fault::Stall { target: leader }, Fault::Stall { target: Target::Random }],
            )],
        ),
        scenario(
            "stale-replies",
            "Replies to an earlier campaign arrive after the candidate began a later one, and after \
             the voter that sent them accepted another leader's value: again and again two nodes \
             reach each other only through the third (a bridge), so the two ends campaign against \
             each other through the middle, with election timers at 1x to 4x; messages take up to \
             50 ms, and a link stalls for 0.3-1.5 s with the replies in flight, then delivers them.",
            20.0,
            vec![
                timers_at_1x_to_4x(20.0),
                once(0.0, 20.0, Fault::Flaky { loss: 0.0, latency_ms: 50 }),
                repeat((0.5, 1.5), (1.0, 3.0), vec![Fault::Bridge]),
                repeat((0.1, 0.6), (0.3, 1.5), vec![Fault::Stall { target: Target::Random }]),
            ],
        ),
        scenario(
            "forgetful-bridge",
            "Two nodes reach each other only through the third (a bridge), so the two ends campaign \
             against each other through the middle, with election timers at 1x to 4x and messages \
             taking up to 50 ms, while a node is killed and restarted every 0.1-0.3 s: a node that \
             restarts between promising one candidate and hearing the other's Accepts must still \
             hold its promise.",
            20.0,
            vec![
                timers_at_1x_to_4x(20.0),
                once(0.0, 20.0, Fault::Flaky { loss: 0.0, latency_ms: 50 }),
                repeat((0.2, 0.6), (0.3, 1.0), vec![Fault::Bridge]),
                repeat((0.1, 0.3), (0.0, 0.0), vec![Fault::Kill { target: Target::Random }]),
            ],
        ),
        scenario(
            "wiped-voter",
            "A follower loses its disk and comes back empty while the leader's link to the other \
             follower stalls (that follower lags) and the leader is cut off now and then: the \
             wiped node may have cast the votes that chose acknowledged writes, and must learn its \
             promises and votes back from a majority before it votes again.",
            20.0,
            vec![
                repeat((0.2, 1.0), (0.5, 2.0), vec![Fault::Stall { target: leader }]),
                repeat((1.0, 3.0), (0.3, 1.0), vec![Fault::StorageLoss { target: Target::Follower }]),
                repeat((0.5, 1.5), (0.5, 1.5), vec![Fault::Isolate { target: leader }]),
            ],
        ),
        scenario(
            "transfer-leader",
            "An operator moves leadership again and again (MEMBER TRANSFER-LEADER: the leader asks \
             the target to campaign and steps down) while a minority is cut off now and then, the \
             leader among it half the time: writes go on, nothing is lost.",
            15.0,
            vec![
                repeat((0.3, 1.0), (0.0, 0.0), vec![Fault::TransferLeader { target: Target::Random }]),
                repeat(
                    (1.0, 3.0),
                    (0.5, 2.0),
                    vec![Fault::Isolate { target: leader }, Fault::PartitionHalves],
                ),
            ],
        ),
        scenario(
            "retried-promotion",
            "An operator's script promotes a voter again and again (MEMBER PROMOTE of a node \
             already a voter, as after a lost reply: chosen, then refused when applied) while a \
             follower, or the leader, is cut off for a while: a node that comes back campaigns \
             with a high ballot, and its election must settle the writes after each refused \
             change, not propose over them.",
            15.0,
            vec![
                repeat((0.2, 0.6), (0.0, 0.0), vec![Fault::PromoteVoter { target: Target::Random }]),
                repeat(
                    (0.5, 1.5),
                    (1.0, 3.0),
                    vec![Fault::Isolate { target: Target::Follower }, Fault::Isolate { target: leader }],
                ),
            ],
        ),
        Scenario {
            spares: 2,
            ..scenario(
                "replace-lost-node",
                "A node's machine dies with its disk, for good, and an operator replaces it with a \
                 new machine (MEMBER ADD, the new node catches up, MEMBER REPLACE old new in one \
                 change), twice, the second time the leader's, while partitions, crashes and \
                 pauses go on: nothing acknowledged is lost and the new members serve.",
                20.0,
                vec![
                    once(1.0, 0.0, Fault::ReplaceNode { target: Target::Follower }),
                    once(10.0, 0.0, Fault::ReplaceNode { target: leader }),
                    repeat(
                        (1.0, 3.0),
                        (0.5, 2.0),
                        vec![
                            Fault::PartitionHalves,
                            Fault::Isolate { target: leader },
                            Fault::Kill { target: Target::Random },
                            Fault::Pause { target: leader },
                        ],
                    ),
                ],
            )
        },
        Scenario {
            spares: 2,
            ..scenario(
                "grow-shrink",
                "An operator grows the cluster from 3 to 5 voters (each new node added as a \
                 learner, caught up, promoted) and shrinks it back to 3 by removing the leader \
                 twice, under load, while minorities are cut off and nodes killed: every \
                 configuration agrees on every slot.",
                20.0,
                vec![
                    once(1.0, 0.0, Fault::AddNode),
                    once(4.0, 0.0, Fault::AddNode),
                    once(9.0, 0.0, Fault::RemoveNode { target: leader }),
                    once(13.0, 0.0, Fault::RemoveNode { target: leader }),
                    repeat(
                        (1.0, 3.0),
                        (0.5, 2.0),
                        vec![
                            Fault::PartitionHalves,
                            Fault::Isolate { target: leader },
                            Fault::Kill { target: Target::Random },
                            Fault::TransferLeader { target: Target::Random },
                        ],
                    ),
                ],
            )
        },
        scenario(
            "mixed",
            "Every fault of the catalog, one after another in random order.",
            30.0,
            vec![repeat(
                (0.5, 1.5),
                (1.0, 3.0),
                vec![
                    Fault::PartitionHalves,
                    Fault::Isolate { target: leader },
                    Fault::Bridge,
                    Fault::OneWay { target: leader, direction: Direction::Outbound },
                    Fault::OneWay { target: Target::Random, direction: Direction::Inbound },
                    Fault::Clock {
                        target: Target::All,
                        offset: Range(-5.0, 5.0),
                        rate: Range(0.5, 3.0),
                        strobe: Some(Strobe { delta: 2.0, period: 0.2 }),
                    },
                    Fault::Kill { target: leader },
                    Fault::MachineCrash { target: Target::Random },
                    Fault::StorageLoss { target: Target::Follower },
                    Fault::Pause { target: leader },
                    Fault::Stall { target: Target::Random },
                    Fault::TransferLeader { target: Target::Random },
                    Fault::Flaky { loss: 0.005, latency_ms: 50 },
                ],
            )],
        ),
        Scenario {
            read_mode: ReadMode::Lease,
            ..scenario(
                "lease-reads",
                "Leader leases (reads served without a quorum round) with clocks drifting within \
                 their bound (0.9x to 1.1x, inside the 25% margin between lease and guard), while \
                 the leader is isolated again and again: still linearizable.",
                15.0,
                vec![
                    once(
                        0.0,
                        15.0,
                        Fault::Clock {
                            target: Target::All,
                            offset: Range(-2.0, 2.0),
                            rate: Range(0.9, 1.1),
                            strobe: None,
                        },
                    ),
                    repeat((1.0, 2.0), (2.0, 3.0), vec![Fault::Isolate { target: leader }]),
                ],
            )
        },
        Scenario {
            workload: Workload { mix: Mix { read: 4, write: 4, cas: 2, delete: 2 }, ..Workload::default() },
            ..scenario(
                "deletes",
                "Deletes in the mix (read 4 : write 4 : cas 2 : delete 2) while a random minority \
                 is cut off, the leader's process is killed, or a machine crashes, again and \
                 again: a key is deleted and written again, a cas from absent follows a delete, \
                 and a value read as absent must be one a delete left. A delete acknowledged and \
                 then undone, or one that took effect twice, is a violation.",
                20.0,
                vec![repeat(
                    (1.0, 3.0),
                    (1.0, 3.0),
                    vec![
                        Fault::PartitionHalves,
                        Fault::Kill { target: leader },
                        Fault::MachineCrash { target: Target::Random },
                    ],
                )],
            )
        },
        // Negative controls.
        Scenario {
            read_mode: ReadMode::Lease,
            workload: Workload {
                clients: 6,
                readers: 3,
                keys: 1,
                mix: Mix { read: 1, write: 1, cas: 0, delete: 0 },
                rate: 0.0,
            },
            expect: Expect::Violation,
            ..scenario(
                "lease-drift",
                "Negative control. Leader leases with the followers' clocks at 3x, far past the \
                 bound: their guard ends long before the leader's lease, so when the leader is \
                 isolated a new leader commits writes while the old one still serves reads. Stale \
                 reads must be found.",
                6.0,
                vec![
                    once(
                        0.0,
                        6.0,
                        Fault::Clock {
                            target: Target::Followers,
                            offset: Range::exactly(0.0),
                            rate: Range::exactly(3.0),
                            strobe: None,
                        },
                    ),
                    once(0.5, 2.0, Fault::Isolate { target: leader }),
                ],
            )
        },
        Scenario {
            build: Build::NoFsync,
            // Readers read the keys right after the power comes back, before any new write
            // hides the loss; with ten keys the writers cannot overwrite them all first (with
            // three, they did in 2 seeds of 300).
            workload: Workload { readers: 2, keys: 10, ..Workload::default() },
            expect: Expect::Violation,
            ..scenario(
                "no-fsync",
                "Negative control. Nodes whose storage never fsyncs, and the whole cluster loses \
                 power: acknowledged writes vanish with the page cache. Lost writes must be found.",
                6.0,
                vec![once(3.0, 1.0, Fault::MachineCrash { target: Target::All })],
            )
        },
    ]
}

/// The built-in scenario called `name`.
pub fn find(name: &str) -> Option<Scenario> {
    all().into_iter().find(|scenario| scenario.name == name)
}
