//! History formats, and their detection.

pub mod edn;
pub mod jepsen_log;
pub mod jsonl;

use crate::history::{Event, HistoryError};

/// A history format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Detect from the first meaningful line.
    Auto,
    /// Our JSON Lines (see [`jsonl`]).
    Jsonl,
    /// Jepsen's `history.edn`: operation maps, one per line or in a vector.
    Edn,
    /// Jepsen's console log (`INFO  jepsen.util - 4 :invoke :read nil`).
    JepsenLog,
}

/// Detects the format of `text` from its first non-blank line; an empty text is JSON Lines (an
/// empty history).
pub fn detect(text: &str) -> Format {
    let Some(first) = text.lines().map(str::trim).find(|line| !line.is_empty()) else { return Format::Jsonl };
    if first.starts_with("{\"") || first.starts_with("{ \"") {
        Format::Jsonl
    } else if first.starts_with('{') || first.starts_with('[') || first.starts_with(';') {
        Format::Edn
    } else if text.lines().any(jepsen_log::looks_like) {
        Format::JepsenLog
    } else {
        Format::Jsonl
    }
}

/// Parses `text` in `format` (detecting it if `Auto`); returns the events and the format used.
///
/// # Errors
///
/// The first bad line, with what was expected.
pub fn parse(text: &str, format: Format) -> Result<(Vec<Event>, Format), HistoryError> {
    let format = if format == Format::Auto { detect(text) } else { format };
    let events = match format {
        Format::Auto | Format::Jsonl => jsonl::parse(text)?,
        Format::Edn => edn::parse(text)?,
        Format::JepsenLog => jepsen_log::parse(text)?,
    };
    Ok((events, format))
}
