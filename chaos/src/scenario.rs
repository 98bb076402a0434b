//! The named scenarios: each injects its faults into a running cluster with clients, then heals
//! everything, requires the cluster to converge and serve every client, and checks the history.

use crate::sim::{Options, World};
use std::time::{Duration, Instant};

/// A scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// The leader is cut off from the other nodes (clients still reach it), then healed.
    Partition,
    /// A follower is cut off: it cannot commit anything, the majority goes on.
    Minority,
    /// One-way cuts: the leader hears the others but cannot reach them, then the reverse.
    Oneway,
    /// The leader's process crashes and restarts; then the new leader's machine crashes
    /// (unsynced writes lost) and comes back.
    Crash,
    /// A follower loses its data directory and rejoins through storage-loss recovery.
    Wipe,
    /// The leader's process pauses for 3 s (a long GC or a stopped VM), then resumes with a stale
    /// view while a new leader serves.
    Pause,
    /// Messages are lost (1 in 200) and delayed (up to 50 ms) for 4 s; streams die and are redialled.
    Flaky,
    /// Every node's clock runs at another rate (0.5x, 1.5x, 3x) and jumps (forwards and back).
    /// Reads are confirmed by a quorum round (read index), so skew may cost elections, never
    /// correctness.
    Skew,
}

impl Scenario {
    /// Every scenario.
    pub const ALL: [Scenario; 8] = [
        Scenario::Partition,
        Scenario::Minority,
        Scenario::Oneway,
        Scenario::Crash,
        Scenario::Wipe,
        Scenario::Pause,
        Scenario::Flaky,
        Scenario::Skew,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Partition => "partition",
            Scenario::Minority => "minority",
            Scenario::Oneway => "oneway",
            Scenario::Crash => "crash",
            Scenario::Wipe => "wipe",
            Scenario::Pause => "pause",
            Scenario::Flaky => "flaky",
            Scenario::Skew => "skew",
        }
    }

    fn faults(self, world: &mut World) -> Result<(), String> {
        let leader = world.await_leader(Duration::from_secs(5))?;
        match self {
            Scenario::Partition => {
                world.isolate(leader);
                world.run_for(Duration::from_secs(3))?;
                let new = world.await_leader(Duration::from_secs(5))?;
                if new == leader {
                    return Err(format!("n{leader} still leads while cut off from a majority"));
                }
            }
            Scenario::Minority => {
                let follower = if leader == 1 { 2 } else { 1 };
                let before = world.observed(follower).committed;
                let majority = world.observed(leader).committed;
                world.isolate(follower);
                world.run_for(Duration::from_secs(3))?;
                let after = world.observed(follower).committed;
                let now_leading = world.await_leader(Duration::from_secs(5))?;
                let majority_after = world.observed(now_leading).committed;
                if after != before {
                    return Err(format!("n{follower} committed slots {before}..{after} while cut off"));
                }
                if majority_after <= majority {
                    return Err(format!("the majority committed nothing while n{follower} was cut off"));
                }
            }
            Scenario::Oneway => {
                let others: Vec<u8> = (1..=world.nodes()).filter(|&node| node != leader).collect();
                world.partition_oneway(&[leader], &others);
                world.run_for(Duration::from_secs(3))?;
                world.heal();
                world.run_for(Duration::from_secs(1))?;
                let leader = world.await_leader(Duration::from_secs(5))?;
                let others: Vec<u8> = (1..=world.nodes()).filter(|&node| node != leader).collect();
                world.partition_oneway(&others, &[leader]);
                world.run_for(Duration::from_secs(3))?;
            }
            Scenario::Crash => {
                world.restart(leader);
                world.run_for(Duration::from_secs(2))?;
                let leader = world.await_leader(Duration::from_secs(5))?;
                world.crash(leader);
                world.run_for(Duration::from_secs(2))?;
                world.start(leader);
                world.run_for(Duration::from_secs(2))?;
            }
            Scenario::Wipe => {
                let victim = if leader == 1 { 2 } else { 1 };
                world.wipe(victim);
                world.run_for(Duration::from_secs(3))?;
            }
            Scenario::Pause => {
                world.pause(leader);
                world.run_for(Duration::from_secs(3))?;
                let new = world.await_leader(Duration::from_secs(5))?;
                if new == leader {
                    return Err(format!("no new leader while n{leader} was paused"));
                }
                world.resume(leader);
                world.run_for(Duration::from_secs(2))?;
            }
            Scenario::Flaky => {
                world.flaky_network(0.005, Duration::from_millis(50));
                world.run_for(Duration::from_secs(4))?;
                world.steady_network();
            }
            Scenario::Skew => {
                for (node, rate) in (1..=world.nodes()).zip([0.5, 1.5, 3.0].into_iter().cycle()) {
                    world.clock_rate(node, rate);
                }
                world.run_for(Duration::from_secs(2))?;
                world.clock_jump(1, 5.0);
                world.clock_jump(2, -3.0);
                world.run_for(Duration::from_secs(2))?;
                for node in 1..=world.nodes() {
                    world.clock_rate(node, 1.0);
                }
            }
        }
        Ok(())
    }
}

/// What one run of a scenario gave.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario.
    pub scenario: Scenario,
    /// The seed.
    pub seed: u64,
    /// Simulated time.
    pub simulated: Duration,
    /// Wall-clock time.
    pub wall: Duration,
    /// Operations that completed ok, failed, or have an unknown outcome.
    pub counts: (usize, usize, usize),
    /// `Ok` when the run converged and its history is linearizable; else what went wrong.
    pub verdict: Result<(), String>,
    /// The history (JSON Lines).
    pub history: String,
    /// The faults injected.
    pub trace: String,
}

/// Runs `scenario` with `options`: a leader, one second of load, the faults, healing, three more
/// seconds of load, then the clients stop and the cluster must converge within 20 simulated
/// seconds; the history must be linearizable and not vacuous.
pub fn run(scenario: Scenario, options: Options) -> Outcome {
    let started = Instant::now();
    let seed = options.seed;
    let mut world = World::new(options);
    let verdict = (|| {
        world.await_leader(Duration::from_secs(10))?;
        world.run_for(Duration::from_secs(1))?;
        scenario.faults(&mut world)?;
        world.heal();
        world.run_for(Duration::from_secs(3))?;
        world.stop_clients();
        world.converge(Duration::from_secs(20))?;
        let completed: u64 = world.completed().iter().sum();
        if completed < 20 {
            return Err(format!("only {completed} operations completed: the run checks nothing"));
        }
        crate::verify::linearizable(&world.history()).map(|_| ())
    })();
    let history = world.history();
    let count =
        |kind: &str| history.lines().filter(|line| line.contains(&format!("\"type\":\"{kind}\""))).count();
    Outcome {
        scenario,
        seed,
        simulated: world.elapsed(),
        wall: started.elapsed(),
        counts: (count("ok"), count("fail"), count("info")),
        verdict,
        history,
        trace: world.trace(),
    }
}
