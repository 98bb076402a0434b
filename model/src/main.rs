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

/// Bounds given on the command line. With none, `check` runs the standard tiers (see
/// `ModelConfig::standard_tiers`); with some, one check, the others at their defaults below.
#[derive(clap::Args, Clone)]
struct Bounds {
    /// Replicas in the cluster [default: 3].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
    replicas: Option<u8>,
    /// Clients; client i talks to replica i mod replicas [default: 2].
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=6))]
    clients: Option<u8>,
    /// Operations per client: a put of the client's own value, then gets [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=4))]
    ops: Option<u8>,
    /// Highest ballot round explored [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=4))]
    rounds: Option<u64>,
    /// Replicas whose election timer may fire (candidate leaders); the first ones [default: 2].
    #[arg(long, value_parser = clap::value_parser!(u8).range(1..=7))]
    candidates: Option<u8>,
    /// Replica crash-restarts in total [default: 1].
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=3))]
    crashes: Option<u8>,
    /// Restarts with a lost disk, in total (each is also a crash) [default: 0].
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=2))]
    wipes: Option<u8>,
    /// Network semantics [default: unordered].
    #[arg(long, value_enum)]
    network: Option<NetworkArg>,
    /// Messages the network may lose, in total [default: 0].
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=3))]
    losses: Option<u8>,
    /// Firings of the replicas' retransmit timers, in total (each resends what is unanswered)
    /// [default: 0].
    #[arg(long, value_parser = clap::value_parser!(u8).range(0..=3))]
    resends: Option<u8>,
    /// A membership change requested while the clients run: add (a learner is promoted), remove
    /// (voter 0 leaves), swap (the learner replaces the last voter in one change) or refused (the
    /// last voter is promoted: chosen, and refused when applied) [default: none].
    #[arg(long, value_enum)]
    reconfigure: Option<ReconfigureArg>,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum ReconfigureArg {
    Add,
    Remove,
    Swap,
    Refused,
}

#[derive(Subcommand)]
enum Command {
    /// Explore every state within the bounds and check every property. Without bounds: the ten
    /// standard tiers, one after another (two ballot rounds on a lossy FIFO network; a crash on a
    /// FIFO and on a reordering network; two rounds with a resend; reads; storage loss; the leader
    /// removed; a voter swapped for a learner; a learner promoted; a refused promotion). With any
    /// bound, one check, the bounds not given at their defaults.
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
    /// Serve the stateright Explorer web UI on 127.0.0.1 (without bounds: the first standard tier).
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
    /// Hunt for bugs by random walks (stateright's simulation checker) in bounds far too deep to
    /// explore: three candidates, three rounds, three clients with two operations each, two
    /// crashes, a reordering network that loses and resends. Runs for --seconds or until a
    /// property fails, and prints the seed that replays it.
    Hunt {
        /// Where the walks start from: the same seed (with one thread) walks the same way.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How long to hunt.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
        seconds: u64,
        /// Run a deliberately broken core.
        #[arg(long, default_value = "none", value_parser = parse_mutant)]
        mutant: Mutant,
        /// Threads walking at once (each from its own seed; only one thread replays exactly).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
        threads: u16,
    },
    /// Run every mutant (breadth-first, in the smallest bounds that catch it) and show which
    /// property caught it; with --tiers, also which of the standard tiers of `check` does.
    Mutants {
        /// Print each counterexample.
        #[arg(long)]
        verbose: bool,
        /// Also run each mutant through the standard tiers (depth-first, as `check` does; up to
        /// a few minutes for a mutant they miss).
        #[arg(long)]
        tiers: bool,
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
    fn given(&self) -> bool {
        let Bounds {
            replicas,
            clients,
            ops,
            rounds,
            candidates,
            crashes,
            wipes,
            network,
            losses,
            resends,
            reconfigure,
        } = self;
        replicas.is_some()
            || clients.is_some()
            || ops.is_some()
            || rounds.is_some()
            || candidates.is_some()
            || crashes.is_some()
            || wipes.is_some()
            || network.is_some()
            || losses.is_some()
            || resends.is_some()
            || reconfigure.is_some()
    }

    /// The tiers to check: the standard ones if no bound is given, else one, of the given bounds
    /// and the defaults.
    fn tiers(&self, mutant: Mutant) -> Result<Vec<(String, model::ModelConfig)>, String> {
        let mut tiers = if self.given() {
            vec![("as given".to_string(), model::ModelConfig::default())]
        } else {
            model::ModelConfig::standard_tiers()
        };
        for (_, config) in &mut tiers {
            self.apply(config);
            config.mutant = mutant;
            self.validate(config)?;
        }
        Ok(tiers)
    }

    fn apply(&self, config: &mut model::ModelConfig) {
        if let Some(replicas) = self.replicas {
            config.replicas = usize::from(replicas);
        }
        if let Some(clients) = self.clients {
            config.clients = usize::from(clients);
        }
        if let Some(ops) = self.ops {
            config.ops = usize::from(ops);
        }
        if let Some(rounds) = self.rounds {
            config.rounds = rounds;
        }
        if let Some(candidates) = self.candidates {
            config.candidates = usize::from(candidates);
        }
        if let Some(crashes) = self.crashes {
            config.crashes = crashes;
        }
        if let Some(wipes) = self.wipes {
            config.wipes = wipes;
        }
        if let Some(network) = self.network {
            config.network = match network {
                NetworkArg::Unordered => NetworkKind::Unordered,
                NetworkArg::Ordered => NetworkKind::Ordered,
            };
        }
        if let Some(losses) = self.losses {
            config.losses = losses;
        }
        if let Some(resends) = self.resends {
            config.resends = resends;
        }
        if let Some(reconfigure) = self.reconfigure {
            config.reconfigure = Some(match reconfigure {
                ReconfigureArg::Add => model::Reconfiguration::Add,
                ReconfigureArg::Remove => model::Reconfiguration::Remove,
                ReconfigureArg::Swap => model::Reconfiguration::Swap,
                ReconfigureArg::Refused => model::Reconfiguration::Refused,
            });
        }
    }

    fn validate(&self, config: &model::ModelConfig) -> Result<(), String> {
        if config.candidates > config.replicas {
            return Err(format!(
                "--candidates {}: expected at most --replicas ({})",
                config.candidates, config.replicas
            ));
        }
        if config.wipes > config.crashes {
            return Err(format!(
                "--wipes {}: expected at most --crashes ({}); a wipe is a crash",
                config.wipes, config.crashes
            ));
        }
        Ok(())
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
    bounds: String,
    #[tabled(rename = "caught by")]
    caught_by: String,
    #[tabled(rename = "counterexample steps")]
    steps: String,
    #[tabled(rename = "unique states")]
    states: String,
    seconds: String,
    #[tabled(rename = "standard tiers")]
    standard: String,
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
    table(outcome);
}

/// Every property's result.
fn table(outcome: &Outcome) {
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
            let tiers = match bounds.tiers(mutant) {
                Ok(tiers) => tiers,
                Err(error) => {
                    eprintln!("error: {error}");
                    return ExitCode::from(2);
                }
            };
            let search = if bfs { Search::Bfs } else { Search::Dfs };
            let mut states = 0;
            let mut seconds = 0.0;
            for (name, config) in tiers {
                println!(
                    "{name}: checking {}, {} replicas, {} candidates, {search:?}, mutant {}",
                    config.describe(),
                    config.replicas,
                    config.candidates,
                    config.mutant.name()
                );
                let outcome =
                    run_reporting(config, search, usize::from(threads), Some(Duration::from_secs(10)));
                report(&outcome);
                states += outcome.unique_states;
                seconds += outcome.seconds;
                if examples {
                    for (property, text) in &outcome.examples {
                        println!("example for \"{property}\":\n{text}");
                    }
                }
                if let Some((property, text)) = &outcome.counterexample {
                    println!("counterexample for \"{property}\":\n{text}");
                    return ExitCode::from(1);
                }
            }
            println!("every property holds: {states} unique states in {seconds:.1} s");
            ExitCode::SUCCESS
        }
        Command::Hunt { seed, seconds, mutant, threads } => {
            let config = model::ModelConfig { mutant, ..model::ModelConfig::hunting() };
            println!(
                "hunting for {seconds} s from seed {seed}: {}, {} replicas, {} candidates, mutant {}",
                config.describe(),
                config.replicas,
                config.candidates,
                mutant.name()
            );
            let outcome = model::hunt(config, seed, seconds, usize::from(threads));
            println!(
                "{} states on random walks, max depth {}, {:.1} s",
                outcome.total_states, outcome.max_depth, outcome.seconds
            );
            table(&outcome);
            let again = format!(
                "cargo run --release -p model -- hunt --seed {seed} --seconds {seconds} --mutant {}{}",
                mutant.name(),
                if threads > 1 { format!(" --threads {threads}") } else { String::new() }
            );
            match &outcome.counterexample {
                Some((property, text)) => {
                    println!("counterexample for \"{property}\":\n{text}");
                    println!("replay: {again}");
                    ExitCode::from(1)
                }
                None => {
                    println!("no property failed; this hunt again: {again}");
                    ExitCode::SUCCESS
                }
            }
        }
        Command::Explore { bounds, port, mutant } => {
            let config = match bounds.tiers(mutant) {
                Ok(mut tiers) => tiers.remove(0).1,
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
        Command::Mutants { verbose, tiers } => {
            let mut rows = Vec::new();
            let mut survivors = Vec::new();
            for mutant in Mutant::ALL {
                let config = model::mutant_config(mutant);
                let bounds = config.describe();
                let outcome = run(config, Search::Bfs, 1);
                let standard = if tiers { standard_tiers_verdict(mutant) } else { "-".into() };
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
                    bounds,
                    standard,
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

/// Which standard tier of `check` catches `mutant` first, and in how long (depth-first, as
/// `check` runs them).
fn standard_tiers_verdict(mutant: Mutant) -> String {
    let mut seconds = 0.0;
    for (name, mut config) in model::ModelConfig::standard_tiers() {
        config.mutant = mutant;
        let outcome = run(config, Search::Dfs, 1);
        seconds += outcome.seconds;
        if outcome.counterexample.is_some() {
            return format!("{name} ({seconds:.1} s)");
        }
    }
    format!("none ({seconds:.1} s)")
}
