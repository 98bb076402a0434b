//! Simulated seconds per wall-clock second: three nodes and ten clients under load, no faults.
//!
//! Run: `cargo bench -p chaos --bench speed` (target: ≥ 200x). It measures three settings side by
//! side: ten clients with turmoil stepping 1 ms at a time (the scenarios' setting), ten clients with
//! 10 ms steps, and the idle cluster with 1 ms steps (what turmoil and tokio cost per step alone).
//! `SPEED_SECONDS` sets the simulated length (default 60); `SPEED_TICK_MS` and `SPEED_CLIENTS`
//! measure one setting instead.

use chaos::cluster::Cluster;
use chaos::sim::{Options, World};
use std::time::{Duration, Instant};

fn env(name: &str) -> Option<u64> {
    let text = std::env::var(name).ok()?;
    match text.parse() {
        Ok(value) => Some(value),
        Err(_) => {
            eprintln!("error: {name}={text:?}: expected a non-negative integer");
            std::process::exit(2)
        }
    }
}

fn measure(seconds: u64, clients: u64, tick: u64) {
    let mut options = Options::new(1);
    options.clients = clients as usize;
    options.tick = Duration::from_millis(tick);
    let started = Instant::now();
    let mut world = World::new(options);
    world.run_until(Duration::from_secs(seconds)).expect("simulation");
    let wall = started.elapsed();
    let ops: u64 = world.completed().iter().sum();
    let speed = seconds as f64 / wall.as_secs_f64();
    let per_op = if ops == 0 {
        String::from("-")
    } else {
        format!("{:.1} µs", wall.as_secs_f64() * 1e6 / ops as f64)
    };
    println!(
        "{clients:>7} {tick:>7} ms {seconds:>11} {:>8.2} {speed:>7.0}x {:>8} {ops:>10} {:>12.0} {per_op:>10}",
        wall.as_secs_f64(),
        if speed >= 200.0 { "met" } else { "NOT met" },
        ops as f64 / seconds as f64
    );
}

fn main() {
    let seconds = env("SPEED_SECONDS").unwrap_or(60);
    println!("three nodes, release build; target ≥ 200x");
    println!("clients    tick   simulated s   wall s   speed   target        ops  ops/sim s  wall/op");
    match (env("SPEED_CLIENTS"), env("SPEED_TICK_MS")) {
        (None, None) => {
            measure(seconds, 10, 1);
            measure(seconds, 10, 10);
            measure(seconds, 0, 1);
        }
        (_, Some(0)) => {
            eprintln!("error: SPEED_TICK_MS=0: expected a step of at least 1 ms");
            std::process::exit(2)
        }
        (clients, tick) => measure(seconds, clients.unwrap_or(10), tick.unwrap_or(1)),
    }
}
