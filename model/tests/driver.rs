//! The model's driver explores exactly the state space of stateright's own `ActorModel` running the
//! same actors: the same unique states, the same transitions, the same depth, for a FIFO and an
//! unordered network, with crashes, restarts and wipes. (The driver is a faster container for the
//! same semantics; this is what shows it is the same semantics.) That the digest a successor carries
//! (moved term by term, its body not yet built) is the digest of the state it builds into. And the
//! Explorer's sequence diagram, which the driver draws itself.

use model::actor::{Node, State};
use model::{bounds_hold, mutant_config, record_in, record_out, History, ModelConfig, Mutant, NetworkKind};
use stateright::actor::{ActorModel, ActorModelAction, ActorModelState, LossyNetwork, Network};
use stateright::{Checker, Expectation, HasDiscoveries, Model};

/// The same actors, history and bounds in stateright's `ActorModel`.
fn actor_model(config: &ModelConfig) -> ActorModel<Node, ModelConfig, History> {
    let network = match config.network {
        NetworkKind::Unordered => Network::new_unordered_nonduplicating([]),
        NetworkKind::Ordered => Network::new_ordered([]),
    };
    ActorModel::new(config.clone(), History::default())
        .actors(config.actors())
        .init_network(network)
        .lossy_network(LossyNetwork::No)
        .max_crashes(config.max_crashes())
        .record_msg_out(record_out)
        .record_msg_in(record_in)
        // A search ends once no property awaits a discovery (at once, with none): this one reads
        // only the history, which both drivers share.
        .property(Expectation::Always, "linearizable", |_, state| state.history.linearizable)
        .within_boundary(|config, state: &ActorModelState<Node, History>| {
            let replicas = state.actor_states.iter().filter_map(|actor| match actor.as_ref() {
                State::Replica(replica) => Some(&**replica),
                State::Client(_) => None,
            });
            bounds_hold(
                config,
                replicas,
                state.actor_storages.iter().map(Option::as_ref),
                state.crashed.iter().copied(),
            )
        })
}

/// (unique states, states generated, depth) of a full depth-first search.
fn explore<M>(model: M) -> (usize, usize, usize)
where
    M: Model + Send + Sync + 'static,
    M::State: Clone + std::fmt::Debug + std::hash::Hash + PartialEq + Send + Sync + 'static,
    M::Action: Clone + std::fmt::Debug + PartialEq + Send + Sync + 'static,
{
    // Stop only at a failure (the correct core has none), not when the `sometimes` are reached.
    let checker = model.checker().finish_when(HasDiscoveries::AnyFailures).spawn_dfs().join();
    (checker.unique_state_count(), checker.state_count(), checker.max_depth())
}

fn assert_same_state_space(config: ModelConfig) {
    let reference = explore(actor_model(&config));
    let ours = explore(config.clone().into_model());
    assert_eq!(ours, reference, "{config:?}: (unique, generated, depth) of the driver vs ActorModel");
    assert!(reference.0 > 1_000, "{config:?}: too small to compare: {reference:?}");
}

#[test]
fn fifo_network_with_a_crash_and_a_wipe() {
    assert_same_state_space(ModelConfig {
        clients: 1,
        crashes: 1,
        wipes: 1,
        network: NetworkKind::Ordered,
        ..ModelConfig::default()
    });
}

#[test]
fn unordered_network_with_a_crash_and_a_wipe() {
    assert_same_state_space(ModelConfig {
        clients: 1,
        candidates: 1,
        crashes: 1,
        wipes: 1,
        network: NetworkKind::Unordered,
        ..ModelConfig::default()
    });
}

#[test]
fn unordered_network_two_candidates() {
    assert_same_state_space(ModelConfig {
        clients: 1,
        crashes: 0,
        network: NetworkKind::Unordered,
        ..ModelConfig::default()
    });
}

/// Every successor of every state, on both networks and with every kind of step (deliveries,
/// losses, timeouts, crashes, restarts, wipes), carries the digest of the state it builds into:
/// the fingerprint of a successor the checker drops unbuilt is the one it would have had built.
#[test]
fn every_successor_carries_the_digest_of_its_state() {
    for network in [NetworkKind::Ordered, NetworkKind::Unordered] {
        let config = ModelConfig {
            clients: 2,
            crashes: 1,
            wipes: 1,
            losses: 1,
            resends: 1,
            network,
            ..ModelConfig::default()
        };
        let model = config.into_model();
        let mut pending = model.init_states();
        let mut seen = std::collections::HashSet::new();
        let (mut checked, mut kinds, mut timers) =
            (0, std::collections::BTreeSet::new(), std::collections::BTreeSet::new());
        while let Some(state) = pending.pop() {
            if checked >= 20_000 {
                break;
            }
            let mut actions = Vec::new();
            model.actions(&state, &mut actions);
            for action in actions {
                let kind = std::mem::discriminant(&action);
                if let stateright::actor::ActorModelAction::Timeout(_, timer) = &action {
                    timers.insert(format!("{timer:?}"));
                }
                let Some(next) = model.next_state(&state, action) else { continue };
                assert_eq!(next.digest(), next.digest_recomputed(), "{network:?}: after {kind:?}");
                kinds.insert(format!("{kind:?}"));
                checked += 1;
                if model.within_boundary(&next) && seen.insert(next.digest()) {
                    pending.push(next);
                }
            }
        }
        assert!(checked >= 20_000, "{network:?}: only {checked} successors");
        assert_eq!(kinds.len(), 6, "{network:?}: every kind of step: {kinds:?}");
        assert_eq!(timers.len(), 2, "{network:?}: both timers the model arms: {timers:?}");
    }
}

/// The Explorer's sequence diagram of a counterexample (the driver's `as_svg`): one arrow per
/// delivered message, each from the row of the step that sent it (or the initial state's, row 0) to
/// a later row, and one dot per other step.
#[test]
fn the_sequence_diagram_draws_every_step() {
    let config = mutant_config(Mutant::SkipPrepare);
    let model = config.clone().into_model();
    let checker = config.into_model().checker().finish_when(HasDiscoveries::AnyFailures).spawn_bfs().join();
    let path = checker.discovery("agreement").expect("the mutant is caught");
    let actions = path.clone().into_actions();
    let deliveries =
        actions.iter().filter(|action| matches!(action, ActorModelAction::Deliver { .. })).count();
    assert!(deliveries > 0 && deliveries < actions.len(), "{actions:?}");
    let svg = model.as_svg(path).expect("a diagram");
    let attribute = |element: &str, name: &str| -> usize {
        let start = element.find(&format!("{name}='")).expect("attribute") + name.len() + 2;
        element[start..].split('\'').next().expect("value").parse().expect("a number")
    };
    let arrows: Vec<&str> =
        svg.split("<line ").filter(|element| element.contains("svg-event-line")).collect();
    assert_eq!(arrows.len(), deliveries, "{svg}");
    for arrow in &arrows {
        assert!(attribute(arrow, "y1") < attribute(arrow, "y2"), "an arrow back in time: {arrow}");
    }
    assert_eq!(svg.matches("<circle ").count(), actions.len() - deliveries, "{svg}");
    assert_eq!(svg.matches("svg-event-label").count(), actions.len(), "{svg}");
}
