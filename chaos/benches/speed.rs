//! Simulated seconds per wall-clock second: three nodes and ten clients under load, no faults.
//!
//! Run: `cargo bench -p chaos --bench speed` (target: ≥ 200x). `SPEED_SECONDS` sets the simulated
//! length (default 60), `SPEED_TICK_MS` turmoil's step (default 1).

use chaos::sim::{Options, World};
use std::time::{Duration, Instant};

fn env(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Err(_) => default,
        Ok(text) => text.parse().unwrap_or_else(|_| {
            eprintln!("error: {name}={text:?}: expected a positive integer");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let seconds = env("SPEED_SECONDS", 60);
    let tick = env("SPEED_TICK_MS", 1);
    let mut options = Options::new(1);
    options.clients = 10;
    options.tick = Duration::from_millis(tick);
    let started = Instant::now();
    let mut world = World::new(options);
    world.run_until(Duration::from_secs(seconds)).expect("simulation");
    let wall = started.elapsed();
    let ops: u64 = world.completed().iter().sum();
    let speed = seconds as f64 / wall.as_secs_f64();
    println!(
        "3 nodes, 10 clients, {tick} ms tick: {seconds} simulated s in {:.2} wall s = {speed:.0}x (target 200x: {}); {ops} operations completed ({:.0} per simulated s)",
        wall.as_secs_f64(),
        if speed >= 200.0 { "met" } else { "NOT met" },
        ops as f64 / seconds as f64
    );
}
