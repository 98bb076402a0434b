//! A reader for the part of EDN that Jepsen histories use: nil, booleans, integers, floats,
//! strings, keywords, symbols, vectors, lists, sets, maps and tagged literals (`#inst "..."` reads
//! as its value). Hand-written: the EDN crates on crates.io are either unmaintained or pull in far
//! more than a history needs, and a reader that reports line numbers is 200 lines.

use crate::history::{Event, EventType, HistoryError};
use crate::value::Value;

/// One EDN form.
#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    /// `nil`.
    Nil,
    /// `true`, `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number (kept as written).
    Float(String),
    /// `"..."`.
    Str(String),
    /// `:name` (without the colon).
    Keyword(String),
    /// A bare symbol.
    Symbol(String),
    /// `[...]`, `(...)` or `#{...}`.
    Seq(Vec<Edn>),
    /// `{k v ...}`.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// The value this form denotes in a history.
    pub fn to_value(&self) -> Value {
        match self {
            Edn::Nil => Value::Nil,
            Edn::Bool(flag) => Value::Str(flag.to_string()),
            Edn::Int(number) => Value::Int(*number),
            Edn::Float(text) | Edn::Str(text) | Edn::Keyword(text) | Edn::Symbol(text) => {
                Value::Str(text.clone())
            }
            Edn::Seq(items) => Value::List(items.iter().map(Edn::to_value).collect()),
            Edn::Map(pairs) => Value::List(
                pairs
                    .iter()
                    .map(|(key, value)| Value::List(vec![key.to_value(), value.to_value()]))
                    .collect(),
            ),
        }
    }

    /// The entry of a map under keyword `name`.
    pub fn get(&self, name: &str) -> Option<&Edn> {
        match self {
            Edn::Map(pairs) => pairs
                .iter()
                .find(|(key, _)| matches!(key, Edn::Keyword(k) if k == name))
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// A name: the text of a keyword, symbol or string.
    pub fn name(&self) -> Option<&str> {
        match self {
            Edn::Keyword(text) | Edn::Symbol(text) | Edn::Str(text) => Some(text),
            _ => None,
        }
    }
}

/// Forms nested deeper than this are refused: a history's values nest a few levels, and the
/// reader (and what it builds) recurses once per level, so a file of `[[[[...` would otherwise
/// overflow the stack (found by the `history` fuzz target).
pub const DEPTH_MAX: usize = 128;

/// A reader over EDN text that tracks lines.
pub struct Reader<'a> {
    text: &'a [u8],
    position: usize,
    line: usize,
    depth: usize,
}

impl<'a> Reader<'a> {
    /// Reads `text`, whose first line is line `line`.
    pub fn new(text: &'a str, line: usize) -> Reader<'a> {
        Reader { text: text.as_bytes(), position: 0, line, depth: 0 }
    }

    /// The current line.
    pub fn line(&self) -> usize {
        self.line
    }

    fn error(&self, message: impl Into<String>) -> HistoryError {
        HistoryError { line: self.line, message: message.into() }
    }

    /// Skips whitespace, commas and comments; returns whether anything is left.
    pub fn skip(&mut self) -> bool {
        while let Some(&byte) = self.text.get(self.position) {
            match byte {
                b'\n' => {
                    self.line += 1;
                    self.position += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.position += 1,
                b';' => {
                    while self.text.get(self.position).is_some_and(|&byte| byte != b'\n') {
                        self.position += 1;
                    }
                }
                _ => return true,
            }
        }
        false
    }

    /// Reads one form.
    ///
    /// # Errors
    ///
    /// Malformed EDN, with its line.
    pub fn read(&mut self) -> Result<Edn, HistoryError> {
        if self.depth >= DEPTH_MAX {
            return Err(
                self.error(format!("forms nested deeper than {DEPTH_MAX} levels: expected a history"))
            );
        }
        self.depth += 1;
        let form = self.read_form();
        self.depth -= 1;
        form
    }

    fn read_form(&mut self) -> Result<Edn, HistoryError> {
        if !self.skip() {
            return Err(self.error("unexpected end of input: expected an EDN value"));
        }
        let byte = self.text[self.position];
        match byte {
            b'[' | b'(' => {
                let close = if byte == b'[' { b']' } else { b')' };
                self.position += 1;
                Ok(Edn::Seq(self.read_until(close)?))
            }
            b'{' => {
                self.position += 1;
                let items = self.read_until(b'}')?;
                if items.len() % 2 != 0 {
                    return Err(self.error("a map with an odd number of forms: expected key value pairs"));
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut items = items.into_iter();
                while let (Some(key), Some(value)) = (items.next(), items.next()) {
                    pairs.push((key, value));
                }
                Ok(Edn::Map(pairs))
            }
            b'#' => {
                self.position += 1;
                match self.text.get(self.position) {
                    Some(b'{') => {
                        self.position += 1;
                        Ok(Edn::Seq(self.read_until(b'}')?))
                    }
                    Some(b'_') => {
                        self.position += 1;
                        self.read()?;
                        self.read()
                    }
                    _ => {
                        // A tagged literal: the tag, then the value it tags.
                        self.read_token()?;
                        self.read()
                    }
                }
            }
            b'"' => self.read_string(),
            b']' | b')' | b'}' => Err(self.error(format!("unexpected {:?}", byte as char))),
            _ => self.read_token(),
        }
    }

    fn read_until(&mut self, close: u8) -> Result<Vec<Edn>, HistoryError> {
        let mut items = Vec::new();
        loop {
            if !self.skip() {
                return Err(self.error(format!("unexpected end of input: expected {:?}", close as char)));
            }
            if self.text[self.position] == close {
                self.position += 1;
                return Ok(items);
            }
            items.push(self.read()?);
        }
    }

    fn read_string(&mut self) -> Result<Edn, HistoryError> {
        self.position += 1;
        let mut text = Vec::new();
        loop {
            let Some(&byte) = self.text.get(self.position) else {
                return Err(self.error("unterminated string: expected a closing '\"'"));
            };
            self.position += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    let escaped = self.text.get(self.position).copied().unwrap_or(b'\\');
                    self.position += 1;
                    text.push(match escaped {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        other => other,
                    });
                }
                b'\n' => {
                    self.line += 1;
                    text.push(byte);
                }
                _ => text.push(byte),
            }
        }
        String::from_utf8(text).map(Edn::Str).map_err(|_| self.error("a string that is not UTF-8"))
    }

    fn read_token(&mut self) -> Result<Edn, HistoryError> {
        let start = self.position;
        while let Some(&byte) = self.text.get(self.position) {
            if byte.is_ascii_whitespace()
                || matches!(byte, b',' | b'[' | b']' | b'(' | b')' | b'{' | b'}' | b'"' | b';')
            {
                break;
            }
            self.position += 1;
        }
        let token = std::str::from_utf8(&self.text[start..self.position])
            .map_err(|_| self.error("a token that is not UTF-8"))?;
        if token.is_empty() {
            return Err(self.error("expected an EDN value"));
        }
        Ok(match token {
            "nil" => Edn::Nil,
            "true" => Edn::Bool(true),
            "false" => Edn::Bool(false),
            _ if token.starts_with(':') => Edn::Keyword(token[1..].to_string()),
            _ => {
                let digits = token.trim_end_matches('N');
                if let Ok(number) = digits.parse::<i64>() {
                    Edn::Int(number)
                } else if token.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+')
                    && token.trim_end_matches('M').parse::<f64>().is_ok()
                {
                    Edn::Float(token.to_string())
                } else {
                    Edn::Symbol(token.to_string())
                }
            }
        })
    }
}

/// Converts one Jepsen operation map to an event; `None` for events of the nemesis (they are not
/// client operations).
///
/// # Errors
///
/// A missing or malformed field, with the line.
pub fn event_from_map(map: &Edn, line: usize) -> Result<Option<Event>, HistoryError> {
    let error = |message: String| HistoryError { line, message };
    if !matches!(map, Edn::Map(_)) {
        return Err(error("expected an operation map {:process .. :type .. :f .. :value ..}".into()));
    }
    let process = match map.get("process") {
        Some(Edn::Int(number)) => number.to_string(),
        Some(Edn::Keyword(name)) if name == "nemesis" => return Ok(None),
        Some(other) => other
            .name()
            .map(str::to_string)
            .ok_or_else(|| error(format!("process {other:?}: expected an integer")))?,
        None => return Err(error("missing :process: expected the process that issued the operation".into())),
    };
    let kind_name = map
        .get("type")
        .and_then(Edn::name)
        .ok_or_else(|| error("missing :type: expected :invoke, :ok, :fail or :info".into()))?;
    let kind = EventType::parse(kind_name).ok_or_else(|| {
        error(format!("type {:?}: expected :invoke, :ok, :fail or :info", format!(":{kind_name}")))
    })?;
    let f = map
        .get("f")
        .and_then(Edn::name)
        .ok_or_else(|| error("missing :f: expected the operation's function".into()))?;
    let key = match map.get("key") {
        None | Some(Edn::Nil) => None,
        Some(Edn::Int(number)) => Some(number.to_string()),
        Some(other) => Some(
            other
                .name()
                .map(str::to_string)
                .ok_or_else(|| error(format!("key {other:?}: expected a string, keyword or integer")))?,
        ),
    };
    let value = map.get("value").map(Edn::to_value).unwrap_or_default();
    let time = match map.get("time") {
        Some(Edn::Int(number)) => u64::try_from(*number).ok(),
        _ => None,
    };
    Ok(Some(Event { process, kind, f: f.to_string(), key, value, time, line }))
}

/// Parses a Jepsen `history.edn`: operation maps one after another, or one vector of them.
///
/// # Errors
///
/// The first malformed form or operation, with its line.
pub fn parse(text: &str) -> Result<Vec<Event>, HistoryError> {
    let mut reader = Reader::new(text, 1);
    let mut events = Vec::new();
    // A vector of operations: read its maps one by one, so each keeps its own line.
    let vector = reader.skip() && reader.text[reader.position] == b'[';
    if vector {
        reader.position += 1;
    }
    loop {
        if !reader.skip() {
            if vector {
                return Err(reader.error("unexpected end of input: expected ']' closing the history"));
            }
            return Ok(events);
        }
        if vector && reader.text[reader.position] == b']' {
            reader.position += 1;
            if reader.skip() {
                return Err(reader.error("text after the history's closing ']'"));
            }
            return Ok(events);
        }
        let line = reader.line();
        let form = reader.read()?;
        if let Some(event) = event_from_map(&form, line)? {
            events.push(event);
        }
    }
}

/// Writes `events` as a Jepsen history: one operation map a line (`{:index 0, :type :invoke, :f
/// :write, :process 3, :key "k1", :value "v", :time 1000}`), in order, which this module's
/// [`parse`] reads back to the same events and Jepsen's tools read as EDN. A process that is a
/// number is written as one; strings are escaped as EDN strings.
pub fn write(events: &[Event]) -> String {
    let mut text = String::new();
    for (index, event) in events.iter().enumerate() {
        let kind = match event.kind {
            EventType::Invoke => "invoke",
            EventType::Ok => "ok",
            EventType::Fail => "fail",
            EventType::Info => "info",
        };
        let process =
            if event.process.parse::<i64>().is_ok() { event.process.clone() } else { string(&event.process) };
        text.push_str(&format!(
            "{{:index {index}, :type :{kind}, :f :{}, :process {process}",
            keyword(&event.f)
        ));
        if let Some(key) = &event.key {
            text.push_str(&format!(", :key {}", string(key)));
        }
        text.push_str(&format!(", :value {}", value(&event.value)));
        if let Some(time) = event.time {
            text.push_str(&format!(", :time {time}"));
        }
        text.push_str("}\n");
    }
    text
}

/// `name` as the body of a keyword: characters EDN does not allow there become `_`.
fn keyword(name: &str) -> String {
    let valid = |c: char| c.is_ascii_alphanumeric() || "*+!-_?<>=./".contains(c);
    let body: String = name.chars().map(|c| if valid(c) { c } else { '_' }).collect();
    if body.is_empty() {
        "_".to_string()
    } else {
        body
    }
}

fn string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn value(value: &Value) -> String {
    match value {
        Value::Nil => "nil".to_string(),
        Value::Int(number) => number.to_string(),
        Value::Str(text) => string(text),
        Value::List(items) => format!("[{}]", items.iter().map(self::value).collect::<Vec<_>>().join(" ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Edn {
        let mut reader = Reader::new(text, 1);
        let form = reader.read().unwrap_or_else(|error| panic!("{text:?}: {error}"));
        assert!(!reader.skip(), "{text:?}: text after the first form");
        form
    }

    fn error(text: &str) -> HistoryError {
        Reader::new(text, 1).read().expect_err(text)
    }

    fn keyword(name: &str) -> Edn {
        Edn::Keyword(name.to_string())
    }

    #[test]
    fn every_kind_of_form_reads_as_what_it_denotes() {
        let cases = [
            ("nil", Edn::Nil),
            ("true", Edn::Bool(true)),
            ("false", Edn::Bool(false)),
            ("42", Edn::Int(42)),
            ("-7", Edn::Int(-7)),
            ("+7", Edn::Int(7)),
            ("12N", Edn::Int(12)),
            ("1.5", Edn::Float("1.5".into())),
            ("-2.5e3", Edn::Float("-2.5e3".into())),
            ("1.25M", Edn::Float("1.25M".into())),
            ("+1.5", Edn::Float("+1.5".into())),
            // Only a token that begins as a number is one: Rust would parse these as floats.
            ("NaN", Edn::Symbol("NaN".into())),
            ("inf", Edn::Symbol("inf".into())),
            ("\"text\"", Edn::Str("text".into())),
            (":ok", keyword("ok")),
            (":jepsen.history/op", keyword("jepsen.history/op")),
            ("read", Edn::Symbol("read".into())),
            ("-", Edn::Symbol("-".into())),
            ("nils", Edn::Symbol("nils".into())),
            ("[1 :a]", Edn::Seq(vec![Edn::Int(1), keyword("a")])),
            ("(1 2)", Edn::Seq(vec![Edn::Int(1), Edn::Int(2)])),
            ("#{3}", Edn::Seq(vec![Edn::Int(3)])),
            ("[]", Edn::Seq(vec![])),
            ("{:a 1, :b nil}", Edn::Map(vec![(keyword("a"), Edn::Int(1)), (keyword("b"), Edn::Nil)])),
            ("{}", Edn::Map(vec![])),
            // A tagged literal reads as the value it tags.
            ("#inst \"2026-12-08T00:00:00Z\"", Edn::Str("2026-12-08T00:00:00Z".into())),
            ("#uuid \"f81d\"", Edn::Str("f81d".into())),
            // `#_` discards the next form.
            ("#_ :gone :kept", keyword("kept")),
            ("[1 #_2 3]", Edn::Seq(vec![Edn::Int(1), Edn::Int(3)])),
            // Whitespace, commas and comments separate forms.
            ("[1,2\t3\r\n4]", Edn::Seq((1..=4).map(Edn::Int).collect())),
            ("[1 ; one\n 2]", Edn::Seq(vec![Edn::Int(1), Edn::Int(2)])),
            ("[a;b\nc]", Edn::Seq(vec![Edn::Symbol("a".into()), Edn::Symbol("c".into())])),
            // A token ends at any delimiter.
            ("[a\"b\"]", Edn::Seq(vec![Edn::Symbol("a".into()), Edn::Str("b".into())])),
            (
                "(a(b)c)",
                Edn::Seq(vec![
                    Edn::Symbol("a".into()),
                    Edn::Seq(vec![Edn::Symbol("b".into())]),
                    Edn::Symbol("c".into()),
                ]),
            ),
            (
                "[a[b]{c d}]",
                Edn::Seq(vec![
                    Edn::Symbol("a".into()),
                    Edn::Seq(vec![Edn::Symbol("b".into())]),
                    Edn::Map(vec![(Edn::Symbol("c".into()), Edn::Symbol("d".into()))]),
                ]),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text), expected, "{text:?}");
        }
    }

    #[test]
    fn a_string_unescapes_and_keeps_its_newlines() {
        let cases = [
            (r#""a\nb""#, "a\nb"),
            (r#""a\tb\rc""#, "a\tb\rc"),
            (r#""q\"q""#, "q\"q"),
            (r#""back\\slash""#, "back\\slash"),
            (r#""\x""#, "x"),
            ("\"two\nlines\"", "two\nlines"),
            ("\"é\"", "é"),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text), Edn::Str(expected.to_string()), "{text}");
        }
    }

    /// Lines are counted through whitespace, comments and strings, so that an error, and an
    /// event, names the line it is on.
    #[test]
    fn the_reader_counts_lines_through_comments_and_strings() {
        let mut reader = Reader::new("; a comment\n\"one\ntwo\"\n\n:next", 10);
        assert_eq!(reader.line(), 10);
        assert_eq!(reader.read(), Ok(Edn::Str("one\ntwo".into())));
        assert_eq!(reader.line(), 12);
        assert!(reader.skip());
        assert_eq!(reader.line(), 14);
        assert_eq!(reader.read(), Ok(keyword("next")));
        assert!(!reader.skip());
        let mut comment = Reader::new("; only a comment", 1);
        assert!(!comment.skip());
        assert_eq!(
            error("\n\n[1\n 2"),
            HistoryError { line: 4, message: "unexpected end of input: expected ']'".into() }
        );
    }

    #[test]
    fn malformed_edn_is_refused_with_its_line_and_what_was_expected() {
        let cases = [
            ("", "unexpected end of input: expected an EDN value"),
            ("  ; nothing\n", "unexpected end of input: expected an EDN value"),
            ("(1 2", "unexpected end of input: expected ')'"),
            ("{:a 1", "unexpected end of input: expected '}'"),
            ("#{1", "unexpected end of input: expected '}'"),
            ("]", "unexpected ']'"),
            (")", "unexpected ')'"),
            ("}", "unexpected '}'"),
            ("{:a}", "a map with an odd number of forms: expected key value pairs"),
            ("\"open", "unterminated string: expected a closing '\"'"),
            ("\"open\\", "unterminated string: expected a closing '\"'"),
            ("#", "expected an EDN value"),
            ("#_", "unexpected end of input: expected an EDN value"),
            ("#inst", "unexpected end of input: expected an EDN value"),
        ];
        for (text, message) in cases {
            assert_eq!(error(text).message, message, "{text:?}");
        }
    }

    #[test]
    fn forms_nested_too_deep_are_refused_not_overflowing_the_stack() {
        let deep = "[".repeat(DEPTH_MAX + 1) + &"]".repeat(DEPTH_MAX + 1);
        assert_eq!(
            error(&deep).message,
            format!("forms nested deeper than {DEPTH_MAX} levels: expected a history")
        );
        let fits = "[".repeat(DEPTH_MAX) + &"]".repeat(DEPTH_MAX);
        assert!(Reader::new(&fits, 1).read().is_ok());
        // The depth is given back as each form ends: siblings do not add up.
        let siblings = format!("[{}]", "[]".repeat(2 * DEPTH_MAX));
        assert!(Reader::new(&siblings, 1).read().is_ok());
    }

    #[test]
    fn a_form_denotes_the_value_a_history_holds() {
        let cases = [
            ("nil", Value::Nil),
            ("true", Value::Str("true".into())),
            ("3", Value::Int(3)),
            ("2.5", Value::Str("2.5".into())),
            ("\"s\"", Value::Str("s".into())),
            (":k", Value::Str("k".into())),
            ("sym", Value::Str("sym".into())),
            ("[1 [2 nil]]", Value::List(vec![Value::Int(1), Value::List(vec![Value::Int(2), Value::Nil])])),
            ("{:a 1}", Value::List(vec![Value::List(vec![Value::Str("a".into()), Value::Int(1)])])),
        ];
        for (text, expected) in cases {
            assert_eq!(one(text).to_value(), expected, "{text:?}");
        }
        let map = one("{:f :read, \"g\" 1}");
        assert_eq!(map.get("f"), Some(&keyword("read")));
        assert_eq!(map.get("g"), None, "a string key is not the keyword");
        assert_eq!(one("[:f 1]").get("f"), None, "a vector has no entries");
        assert_eq!(one(":k").name(), Some("k"));
        assert_eq!(one("s").name(), Some("s"));
        assert_eq!(one("\"t\"").name(), Some("t"));
        assert_eq!(one("1").name(), None);
    }

    fn event(
        process: &str,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: Value,
        time: Option<u64>,
        line: usize,
    ) -> Event {
        Event {
            process: process.to_string(),
            kind,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            time,
            line,
        }
    }

    #[test]
    fn an_operation_map_becomes_an_event_and_the_nemesis_is_left_out() {
        let read = |text: &str| event_from_map(&one(text), 7);
        assert_eq!(
            read("{:process 3, :type :invoke, :f :write, :key \"k\", :value 5, :time 1000}"),
            Ok(Some(event("3", EventType::Invoke, "write", Some("k"), Value::Int(5), Some(1000), 7)))
        );
        assert_eq!(
            read("{:process :worker, :type :ok, :f read, :key 12, :value nil, :time -1}"),
            Ok(Some(event("worker", EventType::Ok, "read", Some("12"), Value::Nil, None, 7)))
        );
        assert_eq!(
            read("{:process \"p\", :type :fail, :f \"cas\", :key nil, :value [1 2], :time 2.5}"),
            Ok(Some(event(
                "p",
                EventType::Fail,
                "cas",
                None,
                Value::List(vec![Value::Int(1), Value::Int(2)]),
                None,
                7
            )))
        );
        assert_eq!(
            read("{:process 0, :type :info, :f :read, :key :k}"),
            Ok(Some(event("0", EventType::Info, "read", Some("k"), Value::Nil, None, 7)))
        );
        assert_eq!(read("{:process :nemesis, :type :info, :f :start, :value nil}"), Ok(None));
        let refused = |text: &str| read(text).expect_err(text);
        let cases = [
            ("[:process 1]", "expected an operation map {:process .. :type .. :f .. :value ..}"),
            ("{:type :ok, :f :read}", "missing :process: expected the process that issued the operation"),
            ("{:process [1], :type :ok, :f :read}", "process Seq([Int(1)]): expected an integer"),
            ("{:process 1, :f :read}", "missing :type: expected :invoke, :ok, :fail or :info"),
            ("{:process 1, :type 2, :f :read}", "missing :type: expected :invoke, :ok, :fail or :info"),
            ("{:process 1, :type :done, :f :read}", "type \":done\": expected :invoke, :ok, :fail or :info"),
            ("{:process 1, :type :ok}", "missing :f: expected the operation's function"),
            (
                "{:process 1, :type :ok, :f :read, :key [1]}",
                "key Seq([Int(1)]): expected a string, keyword or integer",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(refused(text), HistoryError { line: 7, message: message.into() }, "{text}");
        }
    }

    #[test]
    fn a_history_is_maps_one_after_another_or_one_vector_of_them() {
        let loose =
            "{:process 0, :type :invoke, :f :read}\n; between\n{:process 0, :type :ok, :f :read, :value 1}\n";
        let events = parse(loose).expect("reads");
        assert_eq!(events.iter().map(|event| event.line).collect::<Vec<_>>(), [1, 3]);
        let vector = format!("[\n{}]\n", loose);
        let events = parse(&vector).expect("reads");
        assert_eq!(events.iter().map(|event| event.line).collect::<Vec<_>>(), [2, 4]);
        assert_eq!(events[1].value, Value::Int(1));
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("[]"), Ok(vec![]));
        assert_eq!(
            parse("[{:process 0, :type :invoke, :f :read}"),
            Err(HistoryError {
                line: 1,
                message: "unexpected end of input: expected ']' closing the history".into()
            })
        );
        assert_eq!(
            parse("[]\n:more"),
            Err(HistoryError { line: 2, message: "text after the history's closing ']'".into() })
        );
        assert_eq!(
            parse("{:process 0, :type :invoke, :f :read}\n\n{:process 0 :type :bad :f :read}"),
            Err(HistoryError {
                line: 3,
                message: "type \":bad\": expected :invoke, :ok, :fail or :info".into()
            })
        );
    }

    /// The writer's output reads back to the same events, whatever the names and values hold:
    /// escapes, a process that is not a number, a function name EDN's keywords cannot spell.
    #[test]
    fn what_the_writer_writes_reads_back_the_same() {
        let events = vec![
            event(
                "3",
                EventType::Invoke,
                "write",
                Some("k\"1\\\n\r\t"),
                Value::Str("a\"b".into()),
                Some(5),
                1,
            ),
            event(
                "client a",
                EventType::Ok,
                "write",
                None,
                Value::List(vec![Value::Nil, Value::Int(-2)]),
                None,
                2,
            ),
            event("-4", EventType::Fail, "r w", Some("k"), Value::Nil, None, 3),
            event("0", EventType::Info, "", Some(""), Value::Str(String::new()), Some(0), 4),
        ];
        let text = write(&events);
        assert_eq!(
            text.lines().next(),
            Some(
                r#"{:index 0, :type :invoke, :f :write, :process 3, :key "k\"1\\\n\r\t", :value "a\"b", :time 5}"#
            )
        );
        assert_eq!(
            text.lines().nth(1),
            Some(r#"{:index 1, :type :ok, :f :write, :process "client a", :value [nil -2]}"#)
        );
        assert_eq!(
            text.lines().nth(3),
            Some(r#"{:index 3, :type :info, :f :_, :process 0, :key "", :value "", :time 0}"#)
        );
        let again = parse(&text).expect("reads back");
        let mut expected = events.clone();
        expected[2].f = "r_w".into();
        expected[3].f = "_".into();
        assert_eq!(again, expected);
    }
}
