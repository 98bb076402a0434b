//! `chaos`: runs fault scenarios against the real node in turmoil's deterministic simulation,
//! checks every recorded history, and reports.

use chaos::report;
use chaos::run::{self, Outcome, Overrides};
use chaos::ChaosError;
use clap::{Args, Parser, Subcommand};
use scenarios::{Build, Expect, Scenario};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;
use tabled::{settings::Style, Table, Tabled};

#[derive(Parser)]
#[command(
    name = "chaos",
    about = "Fault scenarios for the paxos store: the real node in deterministic simulation, every history checked"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Shape {
    /// Seconds of the fault phase (replaces the scenario's).
    #[arg(long)]
    duration: Option<f64>,
    /// Replicas (replaces the scenario's).
    #[arg(long)]
    nodes: Option<u8>,
    /// Concurrent clients (replaces the scenario's).
    #[arg(long)]
    clients: Option<usize>,
    /// Relative weights of reads, writes, compare-and-sets and deletes, read:write:cas:delete
    /// (replaces the scenario's; the catalog's is 4:4:2:0 but for `deletes`).
    #[arg(long)]
    mix: Option<scenarios::Mix>,
    /// Run a deliberately broken core (see `cargo run -p model -- mutants`) as a negative control:
    /// the run passes when it finds the violation.
    #[arg(long)]
    mutant: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Run one scenario (a catalog name, a JSON file, or `all`), print the report, and exit 1 if
    /// it does not show what it expects (linearizable, or a violation for a negative control).
    Scenario {
        /// A name from `chaos list`, a path to a scenario file (JSON), or all.
        name: String,
        /// The seed: everything in the run derives from it.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many consecutive seeds, from --seed.
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        #[command(flatten)]
        shape: Shape,
        /// Write history.jsonl, the checker's output, the trace and report.html here (with several
        /// runs, one directory per run inside it).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print every fault and restart as it happened.
        #[arg(long)]
        trace: bool,
    },
    /// Run many seeds of many scenarios with a progress bar; summarise per scenario and list the
    /// commands that replay any failure; exit 1 if any run fails its expectation.
    Sweep {
        /// Comma-separated scenario names or files, or all.
        #[arg(long, default_value = "all")]
        scenarios: String,
        /// Seeds: a range such as 1..100 (inclusive).
        #[arg(long, default_value = "1..100")]
        seeds: String,
        #[command(flatten)]
        shape: Shape,
    },
    /// Run a scenario on a real cluster on loopback (`paxos node` processes, or etcd, or Redis
    /// with Sentinel: real signals, a proxy on every peer link, real fsync), or record a history
    /// against a running cluster with --attach; check it and report as in simulation.
    Real {
        /// A name from `chaos list`, a scenario file (JSON), or all (every scenario a real
        /// cluster can run).
        #[arg(long, required_unless_present = "attach", conflicts_with = "attach")]
        scenario: Option<String>,
        /// Record the workload against these nodes (HOST:PORT,...), inject no fault, and check.
        #[arg(long, value_delimiter = ',')]
        attach: Option<Vec<String>>,
        /// The system under test: this store, etcd (three members; with --attach, client URLs,
        /// through its v3 JSON gateway) or Redis (a primary, two replicas and three sentinels;
        /// with --attach, servers you run). `chaos list` says which scenarios each can run.
        #[arg(long, value_enum, default_value_t = chaos::real::Target::Paxos)]
        target: chaos::real::Target,
        /// The seed of the schedule's and the clients' choices.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// How many runs, with consecutive seeds from --seed (a fresh cluster each).
        #[arg(long, default_value_t = 1)]
        seeds: u64,
        #[command(flatten)]
        shape: Shape,
        /// Keep the cluster's data, node logs, history and reports here (default: a scratch
        /// directory, removed after a passing run).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The paxos binary (default: next to this one, built by cargo if missing).
        #[arg(long)]
        paxos: Option<PathBuf>,
        /// Node i serves clients on PORT+i-1 and peers on PORT+100+i-1 (Redis: its sentinel);
        /// the link proxies listen from PORT+200.
        #[arg(long, default_value_t = 26379)]
        port: u16,
        /// Print every fault as it happened.
        #[arg(long)]
        trace: bool,
    },
    /// The catalog, as a table.
    List,
}

/// A scenario from the catalog or a file, with where it came from.
fn load(name: &str) -> Result<Scenario, ChaosError> {
    if let Some(scenario) = scenarios::catalog::find(name) {
        return Ok(scenario);
    }
    let path = Path::new(name);
    if name.ends_with(".json") || path.exists() {
        let text = std::fs::read_to_string(path)
            .map_err(|error| ChaosError::Input(format!("scenario file {name}: {error}")))?;
        let scenario: Scenario = serde_json::from_str(&text).map_err(|error| {
            ChaosError::Input(format!(
                "scenario file {name}: {error} (see `chaos list` and the README for the format)"
            ))
        })?;
        scenario.validate().map_err(|error| ChaosError::Input(format!("scenario file {name}: {error}")))?;
        return Ok(scenario);
    }
    let names: Vec<String> = scenarios::catalog::all().into_iter().map(|scenario| scenario.name).collect();
    Err(ChaosError::Input(format!(
        "unknown scenario {name:?}: expected one of {}, all, or a scenario file (.json)",
        names.join(", ")
    )))
}

fn load_many(text: &str) -> Result<Vec<(String, Scenario)>, ChaosError> {
    if text == "all" {
        return Ok(scenarios::catalog::all()
            .into_iter()
            .map(|scenario| (scenario.name.clone(), scenario))
            .collect());
    }
    text.split(',')
        .map(str::trim)
        .map(|name| load(name).map(|scenario| (name.to_string(), scenario)))
        .collect()
}

/// Applies the shape flags to a scenario.
fn shape(scenario: &Scenario, shape: &Shape) -> Result<(Scenario, Overrides), ChaosError> {
    let overrides =
        Overrides { duration: shape.duration, nodes: shape.nodes, clients: shape.clients, mix: shape.mix };
    let mut scenario = overrides.apply(scenario)?;
    if let Some(mutant) = &shape.mutant {
        scenario.build = Build::Mutant(mutant.clone());
        scenario.expect = Expect::Violation;
    }
    run::mutant(&scenario.build)?;
    Ok((scenario, overrides))
}

fn reproduce(outcome: &Outcome, source: &str, shape: &Shape, overrides: &Overrides) -> String {
    let mut command = report::reproduce(outcome, source, overrides);
    if let Some(mutant) = &shape.mutant {
        command.push_str(&format!(" --mutant {mutant}"));
    }
    command
}

#[derive(Tabled)]
struct Row {
    scenario: String,
    seed: u64,
    ok: usize,
    fail: usize,
    unknown: usize,
    #[tabled(rename = "simulated s")]
    simulated: String,
    #[tabled(rename = "wall s")]
    wall: String,
    verdict: String,
}

fn scenario(
    name: &str,
    seed: u64,
    seeds: u64,
    shape_flags: &Shape,
    out: Option<&Path>,
    trace: bool,
) -> Result<ExitCode, ChaosError> {
    if seeds == 0 {
        return Err(ChaosError::Input("--seeds must be at least 1".to_string()));
    }
    let sources = load_many(name)?;
    let runs = sources.len() as u64 * seeds;
    let mut rows = Vec::new();
    let mut failures = Vec::new();
    for (source, scenario) in &sources {
        let (scenario, overrides) = shape(scenario, shape_flags)?;
        for seed in seed..seed + seeds {
            let outcome = run::run(&scenario, seed)?;
            let command = reproduce(&outcome, source, shape_flags, &overrides);
            tell(&outcome, &command, runs == 1, trace);
            if let Some(out) = out {
                let dir =
                    if runs == 1 { out.to_path_buf() } else { out.join(format!("{}-{seed}", scenario.name)) };
                write_out(&dir, &outcome, &command)?;
                if runs == 1 {
                    println!("wrote {0}/history.jsonl, history.edn, check.txt, check.json, trace.txt, report.txt, latency.svg, throughput.svg and {0}/report.html", dir.display());
                }
            }
            failures.extend(failure(&outcome, &command));
            let (ok, fail, unknown) = outcome.checks.counts;
            rows.push(Row {
                scenario: scenario.name.clone(),
                seed,
                ok,
                fail,
                unknown,
                simulated: format!("{:.1}", outcome.elapsed.as_secs_f64()),
                wall: format!("{:.2}", outcome.wall.as_secs_f64()),
                verdict: if outcome.passed() { "PASS".to_string() } else { "FAIL".to_string() },
            });
        }
    }
    if runs > 1 {
        println!("{}", Table::new(rows).with(Style::sharp()));
        if let Some(out) = out {
            println!("reports in {}/<scenario>-<seed>/report.html", out.display());
        }
        for failure in &failures {
            println!("{failure}");
        }
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Tabled)]
struct SweepRow {
    scenario: String,
    expect: &'static str,
    runs: usize,
    passed: usize,
    violations: usize,
    #[tabled(rename = "lost writes")]
    lost: usize,
    #[tabled(rename = "ops ok")]
    ok: usize,
    unknown: usize,
    /// Slots accepted again in another ballot, over all runs, and the runs in which a competing
    /// proposer replaced an accepted value (simulation only).
    #[tabled(rename = "re-accepted slots")]
    reaccepted: String,
    #[tabled(rename = "overwritten slots")]
    overwritten: String,
    #[tabled(rename = "runs overwriting")]
    overwriting: String,
    #[tabled(rename = "simulated s")]
    simulated: String,
    #[tabled(rename = "wall s")]
    wall: String,
    #[tabled(skip)]
    seconds: (f64, f64),
    #[tabled(skip)]
    contention: Option<(u64, u64, usize)>,
}

impl SweepRow {
    fn new(scenario: &Scenario) -> SweepRow {
        SweepRow {
            scenario: scenario.name.clone(),
            expect: scenario.expect.as_str(),
            runs: 0,
            passed: 0,
            violations: 0,
            lost: 0,
            ok: 0,
            unknown: 0,
            reaccepted: "-".to_string(),
            overwritten: "-".to_string(),
            overwriting: "-".to_string(),
            simulated: "-".to_string(),
            wall: String::new(),
            seconds: (0.0, 0.0),
            contention: None,
        }
    }

    /// Counts one run in.
    fn add(&mut self, outcome: &Outcome) {
        self.runs += 1;
        self.passed += usize::from(outcome.passed());
        self.violations += usize::from(outcome.checks.violation());
        self.lost += outcome.checks.lost.lost.len();
        self.ok += outcome.checks.counts.0;
        self.unknown += outcome.checks.counts.2;
        self.seconds.0 += outcome.elapsed.as_secs_f64();
        self.seconds.1 += outcome.wall.as_secs_f64();
        if outcome.real.is_none() {
            self.simulated = format!("{:.0}", self.seconds.0);
        }
        if let Some(contention) = outcome.contention {
            let (reaccepted, overwritten, overwriting) = self.contention.get_or_insert((0, 0, 0));
            *reaccepted += contention.reaccepted;
            *overwritten += contention.overwritten;
            *overwriting += usize::from(contention.overwritten > 0);
            self.reaccepted = reaccepted.to_string();
            self.overwritten = overwritten.to_string();
            self.overwriting = format!("{overwriting} of {}", self.runs);
        }
        self.wall = format!("{:.1}", self.seconds.1);
    }
}

/// The line that lists a failed run, with the command that runs it again.
fn failure(outcome: &Outcome, command: &str) -> Option<String> {
    let again = if outcome.real.is_some() { "rerun" } else { "replay" };
    (!outcome.passed()).then(|| {
        format!(
            "{} seed {}: {}\n  {again}: {command}",
            outcome.scenario.name,
            outcome.seed,
            outcome.checks.verdict(outcome.scenario.expect)
        )
    })
}

/// Prints one run: the whole report when it is the only one, else its verdict line.
fn tell(outcome: &Outcome, command: &str, single: bool, trace: bool) {
    if trace {
        eprint!("{}", outcome.trace);
    }
    if single {
        print!("{}", report::text(outcome, command));
    } else {
        eprintln!(
            "{} seed {}: {}",
            outcome.scenario.name,
            outcome.seed,
            outcome.checks.verdict(outcome.scenario.expect)
        );
    }
}

fn parse_seeds(text: &str) -> Result<std::ops::RangeInclusive<u64>, ChaosError> {
    let bad = || ChaosError::Input(format!("--seeds {text:?}: expected a range such as 1..100"));
    let (low, high) = text.split_once("..").ok_or_else(bad)?;
    let (low, high): (u64, u64) =
        (low.parse().map_err(|_| bad())?, high.trim_start_matches('=').parse().map_err(|_| bad())?);
    if low > high {
        return Err(bad());
    }
    Ok(low..=high)
}

fn sweep(names: &str, seeds: &str, shape_flags: &Shape) -> Result<ExitCode, ChaosError> {
    let sources = load_many(names)?;
    let seeds = parse_seeds(seeds)?;
    let mut shaped = Vec::new();
    for (source, scenario) in &sources {
        let (scenario, overrides) = shape(scenario, shape_flags)?;
        shaped.push((source, scenario, overrides));
    }
    let total = shaped.len() * (seeds.end() - seeds.start() + 1) as usize;
    let started = Instant::now();
    let (mut done, mut rows, mut failures) = (0, Vec::new(), Vec::new());
    for (source, scenario, overrides) in shaped {
        let mut row = SweepRow::new(&scenario);
        for seed in seeds.clone() {
            let outcome = run::run(&scenario, seed)?;
            done += 1;
            row.add(&outcome);
            failures.extend(failure(&outcome, &reproduce(&outcome, source, shape_flags, &overrides)));
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
        rows.push(row);
    }
    eprintln!();
    println!("{}", Table::new(rows).with(Style::sharp()));
    println!(
        "{total} runs in {:.0} s, {} failed their expectation",
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    for failure in &failures {
        println!("{failure}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

#[derive(Tabled)]
struct ListRow {
    name: String,
    nodes: u8,
    #[tabled(rename = "fault phase s")]
    duration: f64,
    faults: String,
    #[tabled(rename = "read mode")]
    read_mode: String,
    build: String,
    expect: &'static str,
    /// Where the scenario runs: in simulation always; on real processes (`chaos real`) only with
    /// the shipped build, and on etcd and Redis only with the faults they can take; with the
    /// verdict expected there when it differs.
    #[tabled(rename = "runs on")]
    targets: String,
}

fn list() {
    let rows: Vec<ListRow> = scenarios::catalog::all()
        .into_iter()
        .map(|scenario| {
            let mut kinds: Vec<&str> = Vec::new();
            for fault in scenario.faults.iter().flat_map(scenarios::Step::faults) {
                if !kinds.contains(&fault.kind()) {
                    kinds.push(fault.kind());
                }
            }
            ListRow {
                name: scenario.name.clone(),
                nodes: scenario.nodes,
                duration: scenario.duration,
                faults: kinds.join(", "),
                read_mode: scenario.read_mode.as_str().to_string(),
                build: scenario.build.to_string(),
                expect: scenario.expect.as_str(),
                targets: runs_on(&scenario),
            }
        })
        .collect();
    println!("{}", Table::new(rows).with(Style::sharp()));
    for scenario in scenarios::catalog::all() {
        println!("{}: {}", scenario.name, scenario.description);
    }
    println!(
        "\nOn etcd and Redis: `chaos real --target etcd|redis --scenario NAME` starts three etcd members, or a Redis \
         primary with two replicas and three sentinels, and injects the faults; `--attach HOST:PORT,...` runs the \
         workload and every check against a cluster you run, without faults."
    );
}

/// Where `scenario` runs, with the verdict expected there when it is not the scenario's own.
fn runs_on(scenario: &Scenario) -> String {
    use chaos::real::Target;
    let mut places = vec!["simulation".to_string()];
    if scenario.build == Build::Correct {
        for target in [Target::Paxos, Target::Etcd, Target::Redis] {
            if target.runs(scenario).is_ok() {
                let expect = scenario.expect_for(target.name());
                places.push(if expect == scenario.expect {
                    format!("real {}", target.name())
                } else {
                    format!("real {} ({})", target.name(), expect.as_str())
                });
            }
        }
    }
    places.join(", ")
}

/// The flags of `chaos real`.
struct RealArgs<'a> {
    target: chaos::real::Target,
    scenario: Option<&'a str>,
    attach: Option<&'a [String]>,
    seed: u64,
    seeds: u64,
    shape: &'a Shape,
    out: Option<&'a Path>,
    paxos: Option<PathBuf>,
    port: u16,
    trace: bool,
}

fn real_attach(args: &RealArgs<'_>, addresses: &[String]) -> Result<ExitCode, ChaosError> {
    let mut workload = scenarios::Workload::default();
    if let Some(clients) = args.shape.clients {
        if clients == 0 {
            return Err(ChaosError::Input("--clients must be at least 1".to_string()));
        }
        workload.clients = clients;
    }
    if let Some(mix) = args.shape.mix {
        workload.mix = mix;
    }
    let seconds = args.shape.duration.unwrap_or(10.0);
    if !(seconds.is_finite() && seconds > 0.0 && seconds <= scenarios::DURATION_SECONDS_MAX) {
        return Err(ChaosError::Input(format!("--duration {seconds}: expected seconds, more than 0")));
    }
    let duration = std::time::Duration::from_secs_f64(seconds);
    let outcome = chaos::real::attach(args.target, addresses, &workload, duration, args.seed)?;
    if args.trace {
        eprint!("{}", outcome.trace);
    }
    let mut command = format!(
        "cargo run -p chaos -- real --target {} --attach {} --seed {} --duration {seconds}",
        args.target.name(),
        addresses.join(","),
        args.seed
    );
    if let Some(mix) = args.shape.mix {
        command.push_str(&format!(" --mix {mix}"));
    }
    print!("{}", report::text(&outcome, &command));
    if let Some(out) = args.out {
        write_out(out, &outcome, &command)?;
        println!(
            "wrote {0}/history.jsonl, history.edn, check.txt, check.json, trace.txt, report.txt, latency.svg, throughput.svg and {0}/report.html",
            out.display()
        );
    }
    Ok(if outcome.passed() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

fn real(args: &RealArgs<'_>) -> Result<ExitCode, ChaosError> {
    if args.shape.mutant.is_some() {
        return Err(ChaosError::Input(
            "--mutant: a real cluster runs the shipped binary; mutants exist only in simulation".to_string(),
        ));
    }
    if let Some(addresses) = args.attach {
        return real_attach(args, addresses);
    }
    let name = args
        .scenario
        .ok_or_else(|| ChaosError::Input("expected --scenario NAME or --attach HOST:PORT,...".to_string()))?;
    if args.seeds == 0 {
        return Err(ChaosError::Input("--seeds must be at least 1".to_string()));
    }
    // `all`: the catalog's scenarios that a real cluster of the target can run (not the
    // simulation-only builds, nor faults the target cannot take).
    let sources: Vec<(String, Scenario)> = if name == "all" {
        load_many("all")?
            .into_iter()
            .filter(|(_, scenario)| scenario.build == Build::Correct && args.target.runs(scenario).is_ok())
            .collect()
    } else {
        vec![(name.to_string(), load(name)?)]
    };
    let single = sources.len() == 1 && args.seeds == 1;
    let started = Instant::now();
    let (mut rows, mut failures) = (Vec::new(), Vec::new());
    for (source, scenario) in &sources {
        let (scenario, overrides) = shape(scenario, args.shape)?;
        let mut row = SweepRow::new(&scenario);
        for seed in args.seed..args.seed + args.seeds {
            let base = args.out.map_or_else(chaos::real::scratch_dir, Path::to_path_buf);
            let dir = if single { base.clone() } else { base.join(format!("{}-{seed}", scenario.name)) };
            let options = chaos::real::RealOptions {
                paxos: args.paxos.clone(),
                port: args.port,
                dir: dir.join("run"),
                target: args.target,
            };
            let outcome = chaos::real::run(&scenario, seed, &options)?;
            let command = report::reproduce(&outcome, source, &overrides);
            tell(&outcome, &command, single, args.trace);
            if args.out.is_some() {
                write_out(&dir, &outcome, &command)?;
                if single {
                    println!(
                        "wrote {0}/history.jsonl, history.edn, check.txt, check.json, trace.txt, report.txt, latency.svg, throughput.svg and {0}/report.html (node logs in {0}/run)",
                        dir.display()
                    );
                }
            } else if outcome.passed() {
                chaos::real::remove_scratch(&dir);
            } else {
                eprintln!("node logs kept in {}", options.dir.display());
            }
            failures.extend(failure(&outcome, &command));
            row.add(&outcome);
        }
        rows.push(row);
    }
    if !single {
        println!("{}", Table::new(rows).with(Style::sharp()));
        let runs = sources.len() as u64 * args.seeds;
        println!(
            "{runs} real runs in {:.0} s, {} failed their expectation",
            started.elapsed().as_secs_f64(),
            failures.len()
        );
        for failure in &failures {
            println!("{failure}");
        }
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

/// Writes the run's files into `--out DIR`; an error names the flag.
fn write_out(dir: &Path, outcome: &Outcome, command: &str) -> Result<(), ChaosError> {
    report::write(dir, outcome, command).map_err(|error| ChaosError::Input(format!("--out {error}")))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version to standard output; a bad flag as one line (clap's message without
        // its usage and hint), exit 2.
        Err(error) if !error.use_stderr() => {
            let _ = error.print();
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            let rendered = error.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|line| !line.is_empty() && !line.starts_with("Usage:"))
                .collect();
            eprintln!("{}", message.join(" "));
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::List => {
            list();
            Ok(ExitCode::SUCCESS)
        }
        Command::Scenario { name, seed, seeds, shape, out, trace } => {
            scenario(&name, seed, seeds, &shape, out.as_deref(), trace)
        }
        Command::Sweep { scenarios, seeds, shape } => sweep(&scenarios, &seeds, &shape),
        Command::Real { scenario, attach, target, seed, seeds, shape, out, paxos, port, trace } => {
            real(&RealArgs {
                target,
                scenario: scenario.as_deref(),
                attach: attach.as_deref(),
                seed,
                seeds,
                shape: &shape,
                out: out.as_deref(),
                paxos,
                port,
                trace,
            })
        }
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}
