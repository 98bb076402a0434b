//! `checker`: decide whether a recorded history is linearizable.

use checker::format::{self, Format};
use checker::history::History;
use checker::model::{Kind, Register};
use checker::{check, report, validate, Options};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser)]
#[command(name = "checker", about = "Linearizability checking of recorded histories.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a history. Exit codes: 0 linearizable, 1 not linearizable, 2 inconclusive, 3 bad
    /// input or usage.
    Check {
        /// The history file.
        file: PathBuf,
        /// Its format.
        #[arg(long, value_enum, default_value_t = Format::Auto)]
        format: Format,
        /// The object's sequential specification.
        #[arg(long, value_enum, default_value_t = Kind::Kv)]
        model: Kind,
        /// Seconds per key before its verdict is "inconclusive".
        #[arg(long)]
        timeout: Option<f64>,
        /// Configurations memoised per key before its verdict is "inconclusive" (a memory bound).
        #[arg(long, default_value_t = 20_000_000)]
        memo_max: usize,
        /// Write a self-contained HTML timeline of the history to this file.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Threads checking keys in parallel.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() { 3 } else { 0 });
        }
    };
    let Command::Check { file, format, model, timeout, memo_max, html, json, threads } = cli.command;
    match run(&file, format, model, timeout, memo_max, html, json, threads) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run(
    file: &PathBuf,
    format: Format,
    kind: Kind,
    timeout: Option<f64>,
    memo_max: usize,
    html: Option<PathBuf>,
    json: bool,
    threads: usize,
) -> Result<u8, String> {
    let timeout = match timeout {
        Some(seconds) if !(seconds.is_finite() && seconds > 0.0) => {
            return Err(format!("--timeout {seconds}: expected a positive number of seconds"))
        }
        Some(seconds) => Some(Duration::from_secs_f64(seconds)),
        None => None,
    };
    let text = std::fs::read_to_string(file).map_err(|error| format!("{}: {error}", file.display()))?;
    let (events, _) = format::parse(&text, format).map_err(|error| format!("{}: {error}", file.display()))?;
    let history = History::from_events(&events).map_err(|error| format!("{}: {error}", file.display()))?;
    let model = Register { kind };
    validate(&model, &history).map_err(|error| format!("{}: {error}", file.display()))?;
    let options = Options {
        timeout,
        memo_entries_max: memo_max,
        explain: true,
        explain_timeout: None,
        threads: threads.max(1),
    };
    let result = check(&model, &history, options);
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report::json(&history, &result)).expect("JSON values serialize")
        );
    } else {
        print!("{}", report::table(&history, &result));
    }
    if let Some(path) = html {
        let title =
            file.file_name().map_or_else(|| "history".into(), |name| name.to_string_lossy().into_owned());
        std::fs::write(&path, report::html(&history, &result, &title))
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(result.verdict.exit_code())
}
