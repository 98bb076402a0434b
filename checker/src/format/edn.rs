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
