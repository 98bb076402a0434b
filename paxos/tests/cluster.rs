//! Randomised in-memory cluster runs of the core: seeded message loss, duplication, reordering,
//! timer firings, crash-restart from persisted state and storage wipes, with agreement, applied
//! prefixes, durability, exactly-once and read linearizability checked after every step, then a
//! liveness phase.
//!
//! Reproduce one seed: `PAXOS_SEED=N cargo test -p paxos --test cluster`.
//! Run more seeds: `PAXOS_SEEDS=10000 cargo test --release -p paxos --test cluster`.

use paxos::testkit::{Options, Simulation, Summary};

fn seeds(default: u64) -> Vec<u64> {
    if let Ok(seed) = std::env::var("PAXOS_SEED") {
        return vec![seed.parse().expect("PAXOS_SEED must be an unsigned integer")];
    }
    let count = std::env::var("PAXOS_SEEDS")
        .map(|count| count.parse().expect("PAXOS_SEEDS must be an unsigned integer"))
        .unwrap_or(default);
    (0..count).collect()
}

fn run_seeds(replicas: usize, default: u64, offset: u64) -> (usize, Summary) {
    let mut total = Summary::default();
    let seeds = seeds(default);
    for &seed in &seeds {
        let seed = seed + offset;
        match Simulation::new(seed, Options::swarm(replicas, seed)).run() {
            Ok(summary) => {
                total.acknowledged += summary.acknowledged;
                total.unknown += summary.unknown;
                total.chosen += summary.chosen;
                total.crashes += summary.crashes;
                total.wipes += summary.wipes;
                total.leaders += summary.leaders;
                total.steps += summary.steps;
            }
            Err(violation) => panic!(
                "{violation}\nREPRODUCE WITH: PAXOS_SEED={} cargo test -p paxos --test cluster {}",
                seed - offset,
                if replicas == 3 { "three" } else { "five" }
            ),
        }
    }
    println!("{replicas} replicas, {} seeds: {total:?}", seeds.len());
    (seeds.len(), total)
}

#[test]
fn three_replicas_stay_safe_and_live_under_seeded_faults() {
    let (runs, total) = run_seeds(3, 700, 0);
    // The runs are not vacuous: work was done, leaders changed, and faults happened.
    assert!(total.acknowledged > runs && total.chosen > runs as u64 && total.leaders > runs);
    assert!(runs < 10 || (total.crashes > 0 && total.wipes > 0));
}

#[test]
fn five_replicas_stay_safe_and_live_under_seeded_faults() {
    let (runs, total) = run_seeds(5, 300, 1_000_000);
    assert!(total.acknowledged > runs && total.chosen > runs as u64 && total.leaders > runs);
    assert!(runs < 10 || (total.crashes > 0 && total.wipes > 0));
}
