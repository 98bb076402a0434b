//! `model`: check the paxos core exhaustively, browse its state space, or run every mutant.

use clap::{Parser, Subcommand, ValueEnum};
use model::{run, run_reporting, Mutant, NetworkKind, Outcome, Search};
use std::process::ExitCode;
use std::time::Duration;
use tabled::settings::Style;
use tabled::{Table, Tabled};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "model", about = "Model-check the real paxos core with stateright.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct Bounds {
    /// Replicas in the cluster.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u8).range(1..=7))]
    replicas: u8,
    /// Clients; client i talks to replica i mod replicas.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(0..=6))]
    clients: u8,
    /// Operations per client: a put of the client's own value, then gets.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
    ops: u8,
    /// Highest ballot round explored.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4))]
    rounds: u64,
    /// Replicas whose election timer may fire (candidate leaders); the first ones.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=7))]
    candidates: u8,
    /// Replica crash-restarts in total.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=3))]
    crashes: u8,
    /// Restarts with a lost disk, in total (each is also a crash).
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    wipes: u8,
    /// Network semantics.
    #[arg(long, value_enum, default_value_t = NetworkArg::Unordered)]
    network: NetworkArg,
}

#[derive(Subcommand)]
enum Command {
    /// Explore every state within the bounds and check every property.
    Check {
        #[command(flatten)]
        bounds: Bounds,
        /// Depth-first search (the default; little memory).
        #[arg(long, conflicts_with = "bfs")]
        dfs: bool,
        /// Breadth-first search (shortest counterexamples; about 1 KB per state).
        #[arg(long)]
        bfs: bool,
        /// Run a deliberately broken core (see `mutants`).
        #[arg(long, default_value = "none", value_parser = parse_mutant)]
        mutant: Mutant,
        /// Also print a path that reaches each `sometimes` property.
        #[arg(long)]
        examples: bool,
        /// Checker threads.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        threads: u16,
    },
    /// Serve the stateright Explorer web UI on 127.0.0.1.
    Explore {
        #[command(flatten)]
        bounds: Bounds,
        /// Port to listen on.
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Run a deliberately broken core.
        #[arg(long, default_value = "none", value_parser = parse_mutant)]
        mutant: Mutant,
    },
    /// Run every mutant (breadth-first) and show which property caught it.
    Mutants {
        /// Print each counterexample.
        #[arg(long)]
        verbose: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum NetworkArg {
    /// Any in-flight message may arrive next; none is duplicated or lost.
    Unordered,
    /// FIFO between each pair of actors.
    Ordered,
}

fn parse_mutant(text: &str) -> Result<Mutant, String> {
    let every = || std::iter::once(Mutant::None).chain(Mutant::ALL);
    every().find(|mutant| mutant.name() == text).ok_or_else(|| {
        let names: Vec<&str> = every().map(|mutant| mutant.name()).collect();
        format!("unknown mutant {text:?}: expected one of {}", names.join(", "))
    })
}

impl Bounds {
    fn config(&self, mutant: Mutant) -> Result<model::ModelConfig, String> {
        if self.candidates > self.replicas {
            return Err(format!(
                "--candidates {}: expected at most --replicas ({})",
                self.candidates, self.replicas
            ));
        }
        if self.wipes > self.crashes {
            return Err(format!(
                "--wipes {}: expected at most --crashes ({}); a wipe is a crash",
                self.wipes, self.crashes
            ));
        }
        Ok(model::ModelConfig {
            replicas: usize::from(self.replicas),
            clients: usize::from(self.clients),
            ops: usize::from(self.ops),
            candidates: usize::from(self.candidates),
            rounds: self.rounds,
            crashes: self.crashes,
            wipes: self.wipes,
            network: match self.network {
                NetworkArg::Unordered => NetworkKind::Unordered,
                NetworkArg::Ordered => NetworkKind::Ordered,
            },
            mutant,
        })
    }
}

#[derive(Tabled)]
struct PropertyRow {
    property: String,
    expectation: String,
    result: String,
}

#[derive(Tabled)]
struct MutantRow {
    mutant: String,
    #[tabled(rename = "caught by")]
    caught_by: String,
    #[tabled(rename = "counterexample steps")]
    steps: String,
    #[tabled(rename = "unique states")]
    states: String,
    seconds: String,
}

fn report(outcome: &Outcome) {
    println!(
        "{} unique states, {} total, max depth {}, {:.2} s, {:.0} unique states/s",
        outcome.unique_states,
        outcome.total_states,
        outcome.max_depth,
        outcome.seconds,
        outcome.unique_states as f64 / outcome.seconds.max(1e-9)
    );
    let rows: Vec<PropertyRow> = outcome
        .properties
        .iter()
        .map(|property| PropertyRow {
            property: property.name.clone(),
            expectation: property.expectation.clone(),
            result: property.verdict.clone(),
        })
        .collect();
    println!("{}", Table::new(rows).with(Style::sharp()));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { bounds, dfs: _, bfs, mutant, examples, threads } => {
            let config = match bounds.config(mutant) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            let search = if bfs { Search::Bfs } else { Search::Dfs };
            println!(
                "checking {} replicas, {} clients x {} ops, {} candidates, rounds <= {}, crashes <= {}, wipes <= {}, {:?} network, {:?}, mutant {}",
                config.replicas,
                config.clients,
                config.ops,
                config.candidates,
                config.rounds,
                config.crashes,
                config.wipes,
                config.network,
                search,
                config.mutant.name()
            );
            let outcome = run_reporting(config, search, usize::from(threads), Some(Duration::from_secs(10)));
            report(&outcome);
            if examples {
                for (property, text) in &outcome.examples {
                    println!("example for \"{property}\":\n{text}");
                }
            }
            match &outcome.counterexample {
                Some((property, text)) => {
                    println!("counterexample for \"{property}\":\n{text}");
                    ExitCode::from(1)
                }
                None => ExitCode::SUCCESS,
            }
        }
        Command::Explore { bounds, port, mutant } => {
            let config = match bounds.config(mutant) {
                Ok(config) => config,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            let address = format!("127.0.0.1:{port}");
            match model::explore(config, &address) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(2)
                }
            }
        }
        Command::Mutants { verbose } => {
            let mut rows = Vec::new();
            let mut survivors = Vec::new();
            for mutant in Mutant::ALL {
                let config = model::mutant_config(mutant);
                let outcome = run(config, Search::Bfs, 1);
                let (caught_by, steps) = match &outcome.counterexample {
                    Some((property, text)) => {
                        if verbose {
                            println!("{}: counterexample for \"{property}\":\n{text}", mutant.name());
                        }
                        (property.clone(), outcome.counterexample_steps.to_string())
                    }
                    None => {
                        survivors.push(mutant.name());
                        ("SURVIVED".to_string(), "-".to_string())
                    }
                };
                rows.push(MutantRow {
                    mutant: mutant.name().to_string(),
                    caught_by,
                    steps,
                    states: outcome.unique_states.to_string(),
                    seconds: format!("{:.2}", outcome.seconds),
                });
            }
            println!("{}", Table::new(rows).with(Style::sharp()));
            if survivors.is_empty() {
                println!("every mutant was caught");
                ExitCode::SUCCESS
            } else {
                println!("mutants that survived: {}", survivors.join(", "));
                ExitCode::from(1)
            }
        }
    }
}
