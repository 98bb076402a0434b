//! Chaos on real processes: a 3-node cluster of `paxos node` processes on loopback under a leader
//! SIGKILL, a partition of the leader (its peer links held by the proxies) and a SIGSTOP pause,
//! checked linearizable with no acknowledged write lost; and a negative control (lease reads with
//! the followers' clocks at 3x, through the nodes' `--fault-clock`) whose stale reads must be
//! found. Needs the `paxos` binary, which `cargo test --workspace` builds.

use chaos::real::RealOptions;
use scenarios::fault::{Fault, Step, Target};
use std::path::PathBuf;

fn paxos() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target dir");
    let paxos = dir.join("paxos");
    assert!(
        paxos.is_file(),
        "{} is missing: build it with `cargo build -p paxos` (`bash scripts/test.sh` builds every binary)",
        paxos.display()
    );
    paxos
}

fn options(name: &str, port: u16) -> RealOptions {
    let dir = std::env::temp_dir().join(format!("chaos-real-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    RealOptions { paxos: Some(paxos()), port, dir, target: chaos::real::Target::Paxos }
}

#[test]
fn a_real_cluster_survives_a_leader_kill_a_partition_and_a_pause() {
    let mut scenario = scenarios::catalog::find("leader-isolation").expect("in the catalog");
    scenario.name = "kill-partition-pause".to_string();
    scenario.duration = 7.0;
    scenario.faults = vec![
        Step::Once { at: 0.5, hold: 0.0, fault: Fault::Kill { target: Target::Leader } },
        Step::Once { at: 2.0, hold: 2.0, fault: Fault::Isolate { target: Target::Leader } },
        Step::Once { at: 5.0, hold: 1.5, fault: Fault::Pause { target: Target::Leader } },
    ];
    scenario.validate().expect("valid");
    let options = options("faults", 31379);
    let outcome = chaos::real::run(&scenario, 1, &options).expect("runs");
    let verdict = outcome.checks.verdict(scenario.expect);
    assert!(outcome.passed(), "{verdict}\ntrace:\n{}node logs in {}", outcome.trace, options.dir.display());
    assert_eq!(outcome.windows.len(), 3, "every fault applied: {:?}", outcome.windows);
    assert!(
        outcome.trace.contains("SIGKILL n")
            && outcome.trace.contains("SIGSTOP n")
            && outcome.trace.contains("SIGCONT n"),
        "every fault really injected:\n{}",
        outcome.trace
    );
    assert!(!outcome.trace.contains("could not"), "{}", outcome.trace);
    assert!(outcome.checks.counts.0 > 200, "a history worth checking: {:?}", outcome.checks.counts);
    println!("{verdict}: {} ok operations", outcome.checks.counts.0);
    let _ = std::fs::remove_dir_all(&options.dir);
}

#[test]
fn negative_control_lease_reads_past_their_clock_bound_are_caught_on_real_processes() {
    let scenario = scenarios::catalog::find("lease-drift").expect("in the catalog").with_duration(5.0);
    let options = options("lease", 32379);
    let outcome = chaos::real::run(&scenario, 1, &options).expect("runs");
    let verdict = outcome.checks.verdict(scenario.expect);
    assert!(outcome.passed(), "{verdict}\ntrace:\n{}node logs in {}", outcome.trace, options.dir.display());
    println!("{verdict}");
    let _ = std::fs::remove_dir_all(&options.dir);
}
