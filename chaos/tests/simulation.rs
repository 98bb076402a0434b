//! The real node in turmoil's simulation: every named scenario on a few seeds (faults, then a
//! liveness phase, then the history checked for linearizability), determinism, and a broken core
//! that the same pipeline must catch. A failure prints the command that replays it.

use chaos::scenario::{self, Scenario};
use chaos::sim::{Options, World};
use std::time::Duration;

fn seeds(default: u64) -> std::ops::Range<u64> {
    match std::env::var("CHAOS_SEED").ok().and_then(|seed| seed.parse().ok()) {
        Some(seed) => seed..seed + 1,
        None => 0..std::env::var("CHAOS_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(default),
    }
}

fn check(scenario: Scenario) {
    for seed in seeds(3) {
        let outcome = scenario::run(scenario, Options::new(seed));
        let (ok, fail, info) = outcome.counts;
        match outcome.verdict {
            Ok(()) => println!("{} seed {seed}: {ok} ok, {fail} fail, {info} unknown: linearizable", scenario.name()),
            Err(error) => panic!(
                "{} seed {seed}: {error}\ntrace:\n{}REPRODUCE WITH: cargo run -p chaos -- scenario {} --seed {seed}",
                scenario.name(),
                outcome.trace,
                scenario.name()
            ),
        }
    }
}

#[test]
fn leader_partitioned_away_and_healed() {
    check(Scenario::Partition);
}

#[test]
fn a_minority_cannot_commit() {
    check(Scenario::Minority);
}

#[test]
fn one_way_partitions_of_the_leader() {
    check(Scenario::Oneway);
}

#[test]
fn leader_process_crash_and_machine_crash() {
    check(Scenario::Crash);
}

#[test]
fn storage_loss_of_one_replica() {
    check(Scenario::Wipe);
}

#[test]
fn a_paused_leader_resumes_with_a_stale_view() {
    check(Scenario::Pause);
}

#[test]
fn a_lossy_slow_network() {
    check(Scenario::Flaky);
}

#[test]
fn clock_skew_on_every_node() {
    check(Scenario::Skew);
}

#[test]
fn a_seed_replays_byte_identically() {
    let run = |seed| {
        let mut world = World::new(Options::new(seed));
        world.await_leader(Duration::from_secs(10)).expect("leader");
        let leader = world.leader().expect("leader");
        world.isolate(leader);
        world.run_for(Duration::from_secs(2)).expect("run");
        world.heal();
        world.run_for(Duration::from_secs(1)).expect("run");
        (world.history(), world.trace())
    };
    let first = run(42);
    let second = run(42);
    assert!(first.0.lines().count() > 50, "a history worth comparing");
    assert_eq!(first.1, second.1, "the traces differ");
    assert!(
        first.0 == second.0,
        "the histories differ: REPRODUCE WITH: cargo test -p chaos --test simulation a_seed_replays"
    );
}

/// The same pipeline catches a broken core: a deposed leader that answers reads without
/// confirming its leadership serves stale values while it is cut off.
#[test]
fn a_deposed_leader_answering_reads_is_caught() {
    let caught = (0..8).find(|&seed| {
        let mut options = Options::new(seed);
        options.mutant = paxos::core::Mutant::UnconfirmedReads;
        let mut world = World::new(options);
        world.await_leader(Duration::from_secs(10)).expect("leader");
        world.run_for(Duration::from_secs(1)).expect("run");
        let leader = world.leader().expect("leader");
        world.isolate(leader);
        world.run_for(Duration::from_secs(4)).expect("run");
        world.heal();
        world.run_for(Duration::from_secs(1)).expect("run");
        world.stop_clients();
        world.run_for(Duration::from_secs(5)).expect("run");
        chaos::verify::check(&world.history(), false).is_err()
    });
    println!("unconfirmed-reads caught at seed {caught:?}");
    assert!(caught.is_some(), "no seed of 8 caught stale reads from a deposed leader");
}
