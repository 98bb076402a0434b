//! `chaos`: run fault scenarios against the real node in turmoil's deterministic simulation and
//! check every recorded history for linearizability.

use chaos::scenario::{self, Scenario};
use chaos::sim::Options;
use clap::{Parser, Subcommand};
use paxos::core::Mutant;
use std::path::PathBuf;
use std::process::ExitCode;
use tabled::{settings::Style, Table, Tabled};

#[derive(Parser)]
#[command(name = "chaos", about = "Fault scenarios for the paxos store, in deterministic simulation")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario (or `all`) on one or more seeds; exit 1 if any run breaks linearizability or
    /// does not converge.
    Scenario {
        /// partition, minority, oneway, crash, wipe, or all.
        name: String,
        /// The first seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How many consecutive seeds.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 5)]
        clients: usize,
        /// Run a deliberately broken core (see `model mutants`) to watch the checker catch it.
        #[arg(long)]
        mutant: Option<String>,
        /// Write the history of the last run (JSON Lines, the checker's format) to this file.
        #[arg(long)]
        history: Option<PathBuf>,
        /// Print the faults injected in each run.
        #[arg(long)]
        trace: bool,
    },
    /// Run many seeds of many scenarios, with progress, and summarise per scenario; exit 1 if any
    /// run fails, listing the commands that replay the failures.
    Sweep {
        /// Comma-separated scenario names, or all.
        #[arg(long, default_value = "all")]
        scenarios: String,
        /// Seeds: a range such as 1..100 (inclusive).
        #[arg(long, default_value = "1..100")]
        seeds: String,
        /// Concurrent clients.
        #[arg(long, default_value_t = 5)]
        clients: usize,
    },
    /// List the scenarios.
    List,
}

#[derive(Tabled)]
struct SweepRow {
    scenario: &'static str,
    runs: usize,
    failed: usize,
    #[tabled(rename = "ops ok")]
    ok: usize,
    unknown: usize,
    #[tabled(rename = "simulated s")]
    simulated: String,
    #[tabled(rename = "wall s")]
    wall: String,
}

fn parse_scenarios(text: &str) -> Result<Vec<Scenario>, String> {
    if text == "all" {
        return Ok(Scenario::ALL.to_vec());
    }
    text.split(',')
        .map(|name| {
            Scenario::ALL.into_iter().find(|scenario| scenario.name() == name.trim()).ok_or_else(|| {
                let names: Vec<&str> = Scenario::ALL.iter().map(|scenario| scenario.name()).collect();
                format!("unknown scenario {name:?}: expected one of {}, or all", names.join(", "))
            })
        })
        .collect()
}

fn parse_seeds(text: &str) -> Result<std::ops::RangeInclusive<u64>, String> {
    let bad = || format!("--seeds {text:?}: expected a range such as 1..100");
    let (low, high) = text.split_once("..").ok_or_else(bad)?;
    let (low, high): (u64, u64) =
        (low.parse().map_err(|_| bad())?, high.trim_start_matches('=').parse().map_err(|_| bad())?);
    if low > high {
        return Err(bad());
    }
    Ok(low..=high)
}

fn sweep(scenarios: &str, seeds: &str, clients: usize) -> Result<ExitCode, String> {
    let scenarios = parse_scenarios(scenarios)?;
    let seeds = parse_seeds(seeds)?;
    if clients == 0 {
        return Err("--clients must be at least 1".to_string());
    }
    let total = scenarios.len() * (seeds.end() - seeds.start() + 1) as usize;
    let started = std::time::Instant::now();
    let (mut done, mut rows, mut failures) = (0, Vec::new(), Vec::new());
    for scenario in scenarios {
        let mut row = SweepRow {
            scenario: scenario.name(),
            runs: 0,
            failed: 0,
            ok: 0,
            unknown: 0,
            simulated: String::new(),
            wall: String::new(),
        };
        let (mut simulated, mut wall) = (0.0, 0.0);
        for seed in seeds.clone() {
            let mut options = Options::new(seed);
            options.clients = clients;
            let outcome = scenario::run(scenario, options);
            done += 1;
            row.runs += 1;
            row.ok += outcome.counts.0;
            row.unknown += outcome.counts.2;
            simulated += outcome.simulated.as_secs_f64();
            wall += outcome.wall.as_secs_f64();
            if let Err(error) = outcome.verdict {
                row.failed += 1;
                failures.push(format!("{} seed {seed}: {error}\n  replay: cargo run -p chaos -- scenario {} --seed {seed} --trace", scenario.name(), scenario.name()));
            }
            let width = 30;
            let filled = done * width / total;
            eprint!(
                "\r[{}{}] {done}/{total} runs, {} failed, {:.0} s  ",
                "#".repeat(filled),
                ".".repeat(width - filled),
                failures.len(),
                started.elapsed().as_secs_f64()
            );
        }
        row.simulated = format!("{simulated:.0}");
        row.wall = format!("{wall:.1}");
        rows.push(row);
    }
    eprintln!();
    println!("{}", Table::new(rows).with(Style::markdown()));
    println!("{total} runs in {:.0} s, {} failed", started.elapsed().as_secs_f64(), failures.len());
    for failure in &failures {
        println!("{failure}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Tabled)]
struct Row {
    scenario: &'static str,
    seed: u64,
    ok: usize,
    fail: usize,
    unknown: usize,
    #[tabled(rename = "simulated s")]
    simulated: String,
    #[tabled(rename = "wall s")]
    wall: String,
    speed: String,
    verdict: String,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Sweep { scenarios, seeds, clients } => match sweep(&scenarios, &seeds, clients) {
            Ok(code) => code,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::from(2)
            }
        },
        Command::List => {
            for scenario in Scenario::ALL {
                println!("{}", scenario.name());
            }
            ExitCode::SUCCESS
        }
        Command::Scenario { name, seed, seeds, clients, mutant, history, trace } => {
            let scenarios: Vec<Scenario> = if name == "all" {
                Scenario::ALL.to_vec()
            } else {
                match Scenario::ALL.into_iter().find(|scenario| scenario.name() == name) {
                    Some(scenario) => vec![scenario],
                    None => {
                        let names: Vec<&str> = Scenario::ALL.iter().map(|scenario| scenario.name()).collect();
                        eprintln!(
                            "error: unknown scenario {name:?}: expected one of {}, or all",
                            names.join(", ")
                        );
                        return ExitCode::from(2);
                    }
                }
            };
            let mutant = match mutant.as_deref() {
                None => Mutant::None,
                Some(text) => match Mutant::ALL.into_iter().find(|mutant| mutant.name() == text) {
                    Some(mutant) => mutant,
                    None => {
                        let names: Vec<&str> = Mutant::ALL.iter().map(|mutant| mutant.name()).collect();
                        eprintln!("error: unknown mutant {text:?}: expected one of {}", names.join(", "));
                        return ExitCode::from(2);
                    }
                },
            };
            if clients == 0 || seeds == 0 {
                eprintln!("error: --clients and --seeds must be at least 1");
                return ExitCode::from(2);
            }
            let mut rows = Vec::new();
            let mut failures = Vec::new();
            let mut last_history = String::new();
            for scenario in scenarios {
                for seed in seed..seed + seeds {
                    let mut options = Options::new(seed);
                    options.clients = clients;
                    options.mutant = mutant;
                    let outcome = scenario::run(scenario, options);
                    let (ok, fail, unknown) = outcome.counts;
                    eprintln!(
                        "{} seed {seed}: {}",
                        scenario.name(),
                        outcome
                            .verdict
                            .as_ref()
                            .map_or_else(|error| format!("FAILED: {error}"), |()| "linearizable".to_string())
                    );
                    if trace {
                        eprint!("{}", outcome.trace);
                    }
                    if let Err(error) = &outcome.verdict {
                        failures.push(format!(
                            "{} seed {seed}: {error}\n  replay: cargo run -p chaos -- scenario {} --seed {seed}{} --trace",
                            scenario.name(),
                            scenario.name(),
                            if mutant == Mutant::None { String::new() } else { format!(" --mutant {}", mutant.name()) }
                        ));
                    }
                    rows.push(Row {
                        scenario: scenario.name(),
                        seed,
                        ok,
                        fail,
                        unknown,
                        simulated: format!("{:.1}", outcome.simulated.as_secs_f64()),
                        wall: format!("{:.2}", outcome.wall.as_secs_f64()),
                        speed: format!(
                            "{:.0}x",
                            outcome.simulated.as_secs_f64() / outcome.wall.as_secs_f64().max(1e-9)
                        ),
                        verdict: if outcome.verdict.is_ok() {
                            "linearizable".to_string()
                        } else {
                            "FAILED".to_string()
                        },
                    });
                    last_history = outcome.history;
                }
            }
            println!("{}", Table::new(rows).with(Style::markdown()));
            if let Some(path) = history {
                if let Err(error) = std::fs::write(&path, &last_history) {
                    eprintln!("error: --history {}: {error}", path.display());
                    return ExitCode::from(2);
                }
                println!(
                    "history of the last run: {} (check it with `cargo run -p checker -- check {}`)",
                    path.display(),
                    path.display()
                );
            }
            if failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                for failure in &failures {
                    println!("{failure}");
                }
                ExitCode::from(1)
            }
        }
    }
}
