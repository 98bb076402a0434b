//! `checker`: decide whether a recorded history is linearizable.

use checker::format::{self, Format};
use checker::history::History;
use checker::model::{Kind, Register};
use checker::value::Value;
use checker::{absent_suggestion, decide, explain_violations, report, validate, Options};
use clap::{Parser, Subcommand};
use std::io::Write;
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
        /// How to check it.
        #[command(flatten)]
        settings: Settings,
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
    let Command::Check { file, settings } = cli.command;
    match run(&file, settings) {
        Ok(code) => ExitCode::from(code),
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
    }
}

/// The options of `checker check` beside its file.
#[derive(clap::Args)]
struct Settings {
    /// Its format.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    format: Format,
    /// The object's sequential specification.
    #[arg(long = "model", value_name = "MODEL", value_enum, default_value_t = Kind::Kv)]
    kind: Kind,
    /// Seconds per key before its verdict is "inconclusive" (default: no time bound; the memory
    /// bound ends every search).
    #[arg(long, allow_negative_numbers = true)]
    timeout: Option<f64>,
    /// Configurations memoised per key before its verdict is "inconclusive".
    #[arg(long, default_value_t = 20_000_000)]
    memo_max: usize,
    /// Memory the searches may hold in all, shared by the threads, before a key's verdict is
    /// "inconclusive": bytes, or with a unit (512MB, 4GB). Default: a quarter of this machine's
    /// memory.
    #[arg(long, value_parser = parse_bytes)]
    memory_max: Option<usize>,
    /// Seconds for all the explanations together, spent after every verdict is printed; past
    /// them an explanation says it is not minimal.
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    explain_timeout: f64,
    /// Print the verdicts only.
    #[arg(long)]
    no_explain: bool,
    /// What a key never written (or deleted) reads as: JSON (null, 0, "") or plain text. Many
    /// key-value services return the empty string: --absent "". Default: null (nil).
    #[arg(long)]
    absent: Option<String>,
    /// Write a self-contained HTML timeline of the history to this file.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Threads checking keys in parallel.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// `4GB`, `512MB`, `64KiB`, `1000000`: a number of bytes.
fn parse_bytes(text: &str) -> Result<usize, String> {
    let trimmed = text.trim();
    let split = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "kb" | "k" => 1e3,
        "mb" | "m" => 1e6,
        "gb" | "g" => 1e9,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        _ => return Err(format!("{text:?}: expected bytes, or a number with KB, MB, GB (or KiB, MiB, GiB)")),
    };
    match number.parse::<f64>() {
        Ok(value) if value * scale >= 1.0 => Ok((value * scale) as usize),
        _ => Err(format!("{text:?}: expected a positive amount of memory such as 512MB or 4GB")),
    }
}

/// The value of `--absent`: JSON if it parses as a value the histories carry, else the text.
fn parse_absent(text: &str) -> Result<Value, String> {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(json) => Value::from_json(&json).map_err(|error| format!("--absent {text}: {error}")),
        Err(_) => Ok(Value::Str(text.to_string())),
    }
}

fn seconds(flag: &str, seconds: f64) -> Result<Duration, String> {
    if seconds.is_finite() && seconds > 0.0 {
        Ok(Duration::from_secs_f64(seconds))
    } else {
        Err(format!("{flag} {seconds}: expected a positive number of seconds"))
    }
}

fn run(file: &PathBuf, settings: Settings) -> Result<u8, String> {
    let timeout = settings.timeout.map(|timeout| seconds("--timeout", timeout)).transpose()?;
    let explain_timeout = seconds("--explain-timeout", settings.explain_timeout)?;
    let text = std::fs::read_to_string(file).map_err(|error| format!("{}: {error}", file.display()))?;
    let (events, _) =
        format::parse(&text, settings.format).map_err(|error| format!("{}: {error}", file.display()))?;
    let history = History::from_events(&events).map_err(|error| format!("{}: {error}", file.display()))?;
    let mut model = Register::new(settings.kind);
    if let Some(absent) = &settings.absent {
        model = model.with_absent(parse_absent(absent)?);
    }
    validate(&model, &history).map_err(|error| format!("{}: {error}", file.display()))?;
    let options = Options {
        timeout,
        memo_entries_max: settings.memo_max,
        memory_bytes_max: settings.memory_max.unwrap_or_else(checker::search::default_memory_bytes),
        explain: !settings.no_explain,
        explain_timeout: Some(explain_timeout),
        threads: settings.threads.max(1),
        progress: true,
    };
    // The verdicts first, so that no explanation can keep them from being printed.
    let mut result = decide(&model, &history, options);
    if !settings.json {
        print!("{}", report::verdicts(&history, &result));
        let _ = std::io::stdout().flush();
    }
    if options.explain {
        explain_violations(&model, &history, &mut result, options);
    }
    let suggestion = absent_suggestion(&model, &history, &result, options);
    if settings.json {
        let mut json = report::json(&history, &result);
        if let Some(suggestion) = &suggestion {
            json["suggestion"] = serde_json::Value::from(suggestion.clone());
        }
        println!("{}", serde_json::to_string_pretty(&json).expect("JSON values serialize"));
    } else {
        print!("{}", report::explanations(&history, &result));
        if let Some(suggestion) = &suggestion {
            println!("\nnote: {suggestion}");
        }
    }
    if let Some(path) = settings.html {
        let title =
            file.file_name().map_or_else(|| "history".into(), |name| name.to_string_lossy().into_owned());
        std::fs::write(&path, report::html(&history, &result, &title))
            .map_err(|error| format!("{}: {error}", path.display()))?;
    }
    Ok(result.verdict.exit_code())
}
