//! What every scenario checks at its end: the recorded history is linearizable (per key, with
//! unknown outcomes allowed to have happened or not), and it is not vacuous.

use checker::history::History;
use checker::model::{Kind, Register};
use checker::Verdict;

/// The checker's verdict on a history in JSON Lines, with a one-line reason when it is not
/// linearizable.
pub fn linearizable(history: &str) -> Result<checker::Report, String> {
    check(history, true)
}

/// Seconds the checker may spend minimising a violation into a short explanation.
const EXPLAIN_SECONDS: u64 = 5;

/// As [`linearizable`]; without `explain`, a violation is reported without minimising it (faster).
pub fn check(history: &str, explain: bool) -> Result<checker::Report, String> {
    let events = checker::format::jsonl::parse(history)
        .map_err(|error| format!("the recorded history does not parse: {error}"))?;
    let history = History::from_events(&events)
        .map_err(|error| format!("the recorded history does not pair: {error}"))?;
    let report = checker::check(
        &Register { kind: Kind::Kv },
        &history,
        checker::Options {
            explain,
            timeout: Some(std::time::Duration::from_secs(EXPLAIN_SECONDS)),
            ..checker::Options::default()
        },
    );
    match report.verdict {
        Verdict::Linearizable => Ok(report),
        verdict => {
            let reasons: Vec<String> = report
                .keys
                .iter()
                .filter(|key| key.verdict != Verdict::Linearizable)
                .map(|key| {
                    let why = match (&key.explanation, &key.reason) {
                        (Some(explanation), _) => explanation.words.clone(),
                        (None, Some(reason)) => reason.clone(),
                        (None, None) => "no order of its operations is legal".to_string(),
                    };
                    format!("key {}: {why}", key.key.as_deref().unwrap_or("-"))
                })
                .collect();
            Err(format!("{}: {}", verdict.as_str(), reasons.join("; ")))
        }
    }
}
