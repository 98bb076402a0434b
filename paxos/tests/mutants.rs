//! The randomised cluster test must find each deliberately broken variant of the core: a pass of
//! `tests/cluster.rs` means something only if it can fail.
//!
//! Reproduce a mutant's counterexample: the panic message of a failure names its seed.

use paxos::core::Mutant;
use paxos::testkit::{Options, Simulation, Violation};

/// Runs seeds until one violates a property; returns it.
fn hunt(mutant: Mutant, replicas: usize, seeds: u64) -> Option<Violation> {
    (0..seeds).find_map(|seed| {
        let mut options = Options::hostile(replicas);
        options.mutant = mutant;
        Simulation::new(seed, options).run().err()
    })
}

fn caught(mutant: Mutant, replicas: usize, seeds: u64) {
    match hunt(mutant, replicas, seeds) {
        Some(violation) => println!("{} caught: {violation}", mutant.name()),
        None => panic!("mutant {} survived {seeds} seeds of {replicas} replicas", mutant.name()),
    }
}

#[test]
fn minority_quorum_is_caught() {
    caught(Mutant::MinorityQuorum, 3, 200);
}

#[test]
fn forgotten_promise_is_caught() {
    caught(Mutant::ForgetPromise, 3, 1000);
}

#[test]
fn accepted_sent_before_persist_is_caught() {
    caught(Mutant::SendBeforePersist, 3, 1000);
}

#[test]
fn leader_skipping_prepare_is_caught() {
    caught(Mutant::SkipPrepare, 3, 200);
}

#[test]
fn storage_loss_without_recovery_is_caught() {
    caught(Mutant::NoRecovery, 3, 1000);
}

#[test]
fn unconfirmed_reads_are_caught() {
    caught(Mutant::UnconfirmedReads, 3, 1000);
}
