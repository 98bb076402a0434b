//! The model's smoke tier: small bounds, seconds each. The correct core explores exactly the
//! state count asserted below (a change in the core or the model that changes the state space
//! shows up here, and must be explained in the commit); every mutant is caught, and the correct
//! core passes in the very bounds that catch it.
//!
//! The standard tiers are `cargo run --release -p model -- check` (two minutes); the exhaustive
//! tier is a command too: `check --network ordered --rounds 2 --crashes 1 --losses 0` (see the
//! README for its figures).

use model::{hunt, mutant_config, run, ModelConfig, Mutant, NetworkKind, Search};

fn assert_passes(config: ModelConfig, unique_states: usize) {
    let description = format!("{config:?}");
    let outcome = run(config, Search::Dfs, 1);
    if let Some((property, text)) = &outcome.counterexample {
        panic!("{description}: \"{property}\" fails:\n{text}");
    }
    for property in &outcome.properties {
        assert!(!property.failed, "{description}: {} {}", property.name, property.verdict);
    }
    assert_eq!(outcome.unique_states, unique_states, "{description}: unique states explored");
}

#[test]
fn correct_core_unordered_network() {
    let config =
        ModelConfig { crashes: 1, clients: 1, network: NetworkKind::Unordered, ..ModelConfig::default() };
    assert_passes(config, 2_166_707);
}

#[test]
fn correct_core_fifo_network_with_a_crash() {
    let config = ModelConfig { crashes: 1, network: NetworkKind::Ordered, ..ModelConfig::default() };
    assert_passes(config, 1_138_109);
}

#[test]
fn correct_core_fifo_network_with_reads() {
    let config = ModelConfig { crashes: 0, ops: 2, network: NetworkKind::Ordered, ..ModelConfig::default() };
    assert_passes(config, 236_481);
}

#[test]
fn correct_core_fifo_network_with_a_loss_and_a_resend() {
    // A lost message and a resent one: on a FIFO network, a message can now go missing while
    // later ones arrive, and a resent one arrive after later ones from the same sender.
    let config = ModelConfig {
        crashes: 0,
        losses: 1,
        resends: 1,
        network: NetworkKind::Ordered,
        ..ModelConfig::default()
    };
    assert_passes(config, 1_680_434);
}

#[test]
fn correct_core_two_ballot_rounds() {
    // Both candidates may campaign twice: up to four ballots compete for slot 0, so a value
    // accepted in one round must survive a second round of phase 1 (Paxos Made Simple §2.2).
    let config = ModelConfig {
        rounds: 2,
        clients: 1,
        crashes: 0,
        network: NetworkKind::Ordered,
        ..ModelConfig::default()
    };
    assert_passes(config, 184_555);
}

/// Each mutant is caught, breadth-first (the shortest counterexample), by the property that
/// should catch it.
#[test]
fn every_mutant_is_caught() {
    for mutant in Mutant::ALL {
        let outcome = run(mutant_config(mutant), Search::Bfs, 1);
        let Some((property, text)) = &outcome.counterexample else {
            panic!("mutant {} survived {} states", mutant.name(), outcome.unique_states);
        };
        // A read bug shows in the history; a protocol bug as two values chosen in one slot, or as
        // a value known chosen that no majority of its slot's voters holds (which is what a
        // breadth-first search often reaches first).
        let expected: &[&str] = if mutant == Mutant::UnconfirmedReads {
            &["linearizable"]
        } else if mutant.is_membership() {
            &["one configuration per slot"]
        } else {
            &["agreement", "one configuration per slot"]
        };
        assert!(
            expected.contains(&property.as_str()),
            "mutant {} caught by {property}, expected one of {expected:?}:\n{text}",
            mutant.name()
        );
        assert!(outcome.counterexample_steps > 0 && text.contains(" 1. "), "{}: {text}", mutant.name());
    }
}

/// A learner swapped in for a voter in one change, and the first leader of the new configuration
/// (its phase 1 among the new voters, who need not intersect the old majorities): the correct
/// core keeps one configuration per slot.
#[test]
fn correct_core_swaps_a_voter_for_a_learner() {
    let config = ModelConfig {
        rounds: 3,
        clients: 1,
        candidates: 1,
        crashes: 0,
        network: NetworkKind::Ordered,
        reconfigure: Some(model::Reconfiguration::Swap),
        ..ModelConfig::default()
    };
    assert_passes(config, 39_583);
}

/// The leader removes itself: it hands leadership over, and the remaining voters decide every
/// slot after the change.
#[test]
fn correct_core_removes_the_leader() {
    let config = ModelConfig {
        rounds: 3,
        clients: 1,
        candidates: 1,
        crashes: 0,
        network: NetworkKind::Ordered,
        reconfigure: Some(model::Reconfiguration::Remove),
        ..ModelConfig::default()
    };
    assert_passes(config, 69_040);
}

/// A promotion of a node already a voter is chosen and refused, and writes follow it: a leader
/// elected after them settles every slot its promisers report, the writes past the change
/// included (the `past-refused-change` mutant, caught in these very bounds, does not).
#[test]
fn correct_core_settles_the_writes_past_a_refused_promotion() {
    let config = ModelConfig {
        crashes: 0,
        network: NetworkKind::Ordered,
        reconfigure: Some(model::Reconfiguration::Refused),
        ..ModelConfig::default()
    };
    assert_passes(config, 355_015);
}

/// Every kind of membership change has a standard tier of its own: a kind added without one
/// would be checked by no tier that `model check` runs.
#[test]
fn every_kind_of_membership_change_has_a_standard_tier() {
    let tiers = ModelConfig::standard_tiers();
    for kind in model::Reconfiguration::ALL {
        assert!(
            tiers.iter().any(|(_, config)| config.reconfigure == Some(kind)),
            "no standard tier runs the membership change `{}`",
            kind.name()
        );
    }
}

/// The hunting tier's walks find a bug that needs three ballots and a late message, in bounds no
/// exhaustive tier fits in minutes; the correct core survives the same walks (the twin).
#[test]
fn hunting_walks_find_stale_promises() {
    let seed = 1;
    let outcome = hunt(ModelConfig { mutant: Mutant::StalePromises, ..ModelConfig::hunting() }, seed, 120, 1);
    let Some((property, text)) = &outcome.counterexample else {
        panic!(
            "stale-promises survived {} states of walks from seed {seed}; reproduce: cargo run --release -p \
             model -- hunt --seed {seed} --seconds 120 --mutant stale-promises",
            outcome.total_states
        );
    };
    assert!(
        ["agreement", "one configuration per slot"].contains(&property.as_str()),
        "seed {seed}: {property}\n{text}"
    );
    let correct = hunt(ModelConfig::hunting(), seed, 3, 1);
    assert!(
        correct.counterexample.is_none(),
        "the correct core fails the hunt from seed {seed} (cargo run --release -p model -- hunt --seed {seed}): {:?}",
        correct.counterexample
    );
}

/// The storage-loss recovery is safe with a wipe: the bounds that catch `no-recovery` pass with the
/// recovery on (the twin of the mutant check: what catches the mutant is the recovery switched
/// off, not the bounds).
#[test]
fn recovery_is_safe_with_a_wipe() {
    let config = ModelConfig { mutant: Mutant::None, ..mutant_config(Mutant::NoRecovery) };
    assert_passes(config, 8_414_560);
}
