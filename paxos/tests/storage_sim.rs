//! Crash consistency on turmoil's simulated disk: a crash loses what was not synced (with torn
//! writes and random early flushes), keeps everything that was, and the storage recovers.

use paxos::core::{Ballot, DurableState, NodeId, Persist, Slot, Value};
use paxos::storage::fs::{SimFs, SimLocks};
use paxos::storage::{Storage, StorageOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::cell::RefCell;
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

#[derive(Default)]
struct Shared {
    /// The highest slot whose sync returned (acknowledged).
    acked: u64,
    /// The highest slot written (synced or not).
    written: u64,
    /// What each boot recovered: the slots, in order.
    boots: Vec<Vec<u64>>,
}

fn slots(state: &DurableState) -> Vec<u64> {
    state.accepted.keys().map(|slot| slot.0).collect()
}

#[test]
fn a_crash_keeps_exactly_what_was_synced() {
    let seeds: u64 = std::env::var("STORAGE_SIM_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(40);
    let (mut lost, mut kept_unsynced, mut restarts) = (0, 0, 0);
    for seed in 0..seeds {
        let reproduce =
            format!("seed {seed}: STORAGE_SIM_SEEDS={} cargo test -p paxos --test storage_sim", seed + 1);
        let mut builder = turmoil::Builder::new();
        builder.rng_seed(seed).simulation_duration(Duration::from_secs(3600));
        // Torn writes in 64-byte blocks, and unsynced writes that sometimes reach the disk anyway.
        builder.fs().block_size(64).sync_probability(0.05);
        let mut sim = builder.build();
        let shared = Rc::new(RefCell::new(Shared::default()));
        let locks = Arc::new(SimLocks::default());
        let host_shared = shared.clone();
        sim.host("node", move || {
            let shared = host_shared.clone();
            let locks = locks.clone();
            async move {
                let fs = Arc::new(SimFs::new("node", locks));
                let options = StorageOptions { segment_bytes: 1024, ..StorageOptions::default() };
                let (mut storage, state, _) = Storage::open(fs, Path::new("/data"), options)?;
                let recovered = slots(&state);
                let boot = shared.borrow().boots.len() as u64;
                shared.borrow_mut().boots.push(recovered.clone());
                let mut next = recovered.last().copied().unwrap_or(0) + 1;
                let mut rng = SmallRng::seed_from_u64(seed * 1000 + boot);
                let ballot = Ballot { round: 1, node: NodeId(1) };
                loop {
                    let batch: Vec<Persist> = (0..rng.random_range(1..4))
                        .map(|i| Persist::Accept { slot: Slot(next + i), ballot, value: Value::Noop })
                        .collect();
                    next += batch.len() as u64;
                    storage.append(&batch)?;
                    shared.borrow_mut().written = next - 1;
                    tokio::time::sleep(Duration::from_micros(rng.random_range(0..500))).await;
                    storage.sync()?;
                    shared.borrow_mut().acked = next - 1;
                    tokio::time::sleep(Duration::from_micros(rng.random_range(0..500))).await;
                }
            }
        });
        let mut rng = SmallRng::seed_from_u64(seed);
        for round in 0..8 {
            for _ in 0..rng.random_range(1..200) {
                sim.step().unwrap_or_else(|error| panic!("{reproduce}: {error}"));
            }
            let (acked, written) = (shared.borrow().acked, shared.borrow().written);
            sim.crash("node");
            sim.bounce("node");
            let boots = shared.borrow().boots.len();
            while shared.borrow().boots.len() == boots {
                sim.step().unwrap_or_else(|error| panic!("{reproduce}: restart {round}: {error}"));
            }
            let recovered = shared.borrow().boots.last().cloned().expect("a boot");
            let last = recovered.last().copied().unwrap_or(0);
            assert_eq!(
                recovered,
                (1..=last).collect::<Vec<_>>(),
                "{reproduce}: restart {round}: a prefix of the log"
            );
            assert!(
                last >= acked,
                "{reproduce}: restart {round}: slot {acked} was synced, only {last} survived"
            );
            assert!(
                last <= written,
                "{reproduce}: restart {round}: {last} recovered, only {written} written"
            );
            restarts += 1;
            lost += usize::from(last < written);
            kept_unsynced += usize::from(last > acked);
            shared.borrow_mut().acked = last;
            shared.borrow_mut().written = last;
        }
    }
    println!("{restarts} crash-restarts: {lost} lost unsynced writes, {kept_unsynced} kept some that reached the disk early");
    assert!(lost > 0, "no crash hit an unsynced write: the test exercises nothing");
}
