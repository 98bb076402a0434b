//! The model's driver explores exactly the state space of stateright's own `ActorModel` running the
//! same actors: the same unique states, the same transitions, the same depth, for a FIFO and an
//! unordered network, with crashes, restarts and wipes. (The driver is a faster container for the
//! same semantics; this is what shows it is the same semantics.)

use model::actor::{Node, State};
use model::{bounds_hold, record_in, record_out, History, ModelConfig, NetworkKind};
use stateright::actor::{ActorModel, ActorModelState, LossyNetwork, Network};
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
            bounds_hold(config, replicas, state.actor_storages.iter(), state.crashed.iter().copied())
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
