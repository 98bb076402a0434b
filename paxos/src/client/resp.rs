//! RESP2, the Redis protocol: requests (arrays of bulk strings, or inline commands) parsed with
//! every declared length checked against the limits before anything is buffered, and replies.
//!
//! Hand-written rather than taken from a RESP crate: the crates' decoders wait for (and buffer) a
//! declared bulk string of any length, while a node must refuse a `$1000000000` header at once and
//! close that connection.

use std::fmt::Write as _;

/// Limits on clients: what one may send, how many may be connected, how long one may be silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest bulk string (a larger one breaks the protocol and closes the connection).
    pub bulk_bytes: usize,
    /// The most arguments in one command.
    pub arguments: usize,
    /// Client connections open at once, at most; one more is answered `ERR max number of clients
    /// reached` and closed (Redis's `maxclients`).
    pub connections: usize,
    /// A connection silent this long is closed (Redis's `timeout`): so are half-open ones, whose
    /// client vanished without a FIN. `None`: never.
    pub idle: Option<std::time::Duration>,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            bulk_bytes: 64 << 20,
            arguments: 1024,
            connections: 10_000,
            idle: Some(std::time::Duration::from_secs(300)),
        }
    }
}

/// A protocol violation: the connection is answered with this error and closed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Protocol error: {0}")]
pub struct ProtocolError(pub String);

/// A parsed command: its arguments, and the bytes it took.
pub type Parsed = (Vec<Vec<u8>>, usize);

/// Parses one command from the front of `buf`: `Ok(Some((arguments, bytes used)))`, `Ok(None)`
/// if more bytes are needed, or the violation.
pub fn parse_command(buf: &[u8], limits: &Limits) -> Result<Option<Parsed>, ProtocolError> {
    if buf.is_empty() {
        return Ok(None);
    }
    if buf[0] != b'*' {
        return parse_inline(buf, limits);
    }
    let Some((count, mut at)) = parse_header(buf, 0)? else { return Ok(None) };
    if count < 0 {
        return Ok(Some((Vec::new(), at))); // a null array: nothing to do
    }
    let count = count as usize;
    if count > limits.arguments {
        return Err(ProtocolError(format!("{count} arguments; at most {} are accepted", limits.arguments)));
    }
    let mut arguments = Vec::with_capacity(count);
    for _ in 0..count {
        if at >= buf.len() {
            return Ok(None);
        }
        if buf[at] != b'$' {
            return Err(ProtocolError(format!("expected '$', got {:?}", char::from(buf[at]))));
        }
        let Some((len, after)) = parse_header(buf, at)? else { return Ok(None) };
        if len < 0 {
            return Err(ProtocolError("a null bulk string is not an argument".to_string()));
        }
        let len = len as usize;
        if len > limits.bulk_bytes {
            return Err(ProtocolError(format!(
                "a bulk string of {len} bytes is over the limit of {} bytes",
                limits.bulk_bytes
            )));
        }
        if buf.len() < after + len + 2 {
            return Ok(None);
        }
        if &buf[after + len..after + len + 2] != b"\r\n" {
            return Err(ProtocolError("a bulk string does not end with CRLF".to_string()));
        }
        arguments.push(buf[after..after + len].to_vec());
        at = after + len + 2;
    }
    Ok(Some((arguments, at)))
}

/// Parses `<type><integer>\r\n` at `at`; returns the integer and where the line ends.
fn parse_header(buf: &[u8], at: usize) -> Result<Option<(i64, usize)>, ProtocolError> {
    let line_max = 24;
    let Some(end) = buf[at..].iter().take(line_max).position(|&byte| byte == b'\r') else {
        if buf.len() - at >= line_max {
            return Err(ProtocolError("a length line is too long".to_string()));
        }
        return Ok(None);
    };
    if buf.len() < at + end + 2 {
        return Ok(None);
    }
    if buf[at + end + 1] != b'\n' {
        return Err(ProtocolError("expected LF after CR".to_string()));
    }
    let text = std::str::from_utf8(&buf[at + 1..at + end])
        .map_err(|_| ProtocolError("invalid length".to_string()))?;
    let value: i64 = text.parse().map_err(|_| ProtocolError(format!("invalid length {text:?}")))?;
    Ok(Some((value, at + end + 2)))
}

/// An inline command: words separated by spaces, ending with `\n` (what `telnet` sends).
fn parse_inline(buf: &[u8], limits: &Limits) -> Result<Option<Parsed>, ProtocolError> {
    let max = limits.bulk_bytes.min(64 << 10);
    let Some(end) = buf.iter().take(max + 2).position(|&byte| byte == b'\n') else {
        if buf.len() > max {
            return Err(ProtocolError(format!("an inline command longer than {max} bytes")));
        }
        return Ok(None);
    };
    let line = &buf[..end];
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let arguments: Vec<Vec<u8>> =
        line.split(|&byte| byte == b' ').filter(|word| !word.is_empty()).map(<[u8]>::to_vec).collect();
    if arguments.len() > limits.arguments {
        return Err(ProtocolError(format!(
            "{} arguments; at most {} are accepted",
            arguments.len(),
            limits.arguments
        )));
    }
    Ok(Some((arguments, end + 1)))
}

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+text`
    Simple(String),
    /// `-text` (the text starts with the error code: `ERR`, `BUSY`, `UNAVAILABLE`...)
    Error(String),
    /// `:n`
    Integer(i64),
    /// `$len bytes`, or `$-1` for none.
    Bulk(Option<Vec<u8>>),
    /// `*n` replies.
    Array(Vec<Reply>),
}

impl Reply {
    /// An error reply; newlines in `text` are replaced (an error is one line).
    pub fn error(text: impl Into<String>) -> Reply {
        Reply::Error(text.into().replace(['\r', '\n'], " "))
    }

    /// Appends the encoding to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(text) => {
                out.push(b'+');
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(text) => {
                out.push(b'-');
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Integer(n) => {
                let mut line = String::new();
                let _ = write!(line, ":{n}\r\n");
                out.extend_from_slice(line.as_bytes());
            }
            Reply::Bulk(None) => out.extend_from_slice(b"$-1\r\n"),
            Reply::Bulk(Some(bytes)) => {
                let mut line = String::new();
                let _ = write!(line, "${}\r\n", bytes.len());
                out.extend_from_slice(line.as_bytes());
                out.extend_from_slice(bytes);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Array(items) => {
                let mut line = String::new();
                let _ = write!(line, "*{}\r\n", items.len());
                out.extend_from_slice(line.as_bytes());
                for item in items {
                    item.encode(out);
                }
            }
        }
    }
}

/// Parses one reply from the front of `buf` (for the client): `Ok(None)` if more bytes are needed.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    let Some(end) = buf.iter().position(|&byte| byte == b'\n') else { return Ok(None) };
    if end == 0 || buf[end - 1] != b'\r' {
        return Err(ProtocolError("a reply line does not end with CRLF".to_string()));
    }
    let text = String::from_utf8_lossy(&buf[1..end - 1]).into_owned();
    let number = || text.parse::<i64>().map_err(|_| ProtocolError(format!("invalid number {text:?}")));
    Ok(match buf[0] {
        b'+' => Some((Reply::Simple(text), end + 1)),
        b'-' => Some((Reply::Error(text), end + 1)),
        b':' => Some((Reply::Integer(number()?), end + 1)),
        b'$' => {
            let len = number()?;
            if len < 0 {
                return Ok(Some((Reply::Bulk(None), end + 1)));
            }
            let start = end + 1;
            let stop = start + len as usize;
            if buf.len() < stop + 2 {
                return Ok(None);
            }
            Some((Reply::Bulk(Some(buf[start..stop].to_vec())), stop + 2))
        }
        b'*' => {
            let count = number()?;
            let mut at = end + 1;
            let mut items = Vec::new();
            for _ in 0..count.max(0) {
                let Some((item, used)) = parse_reply(&buf[at..])? else { return Ok(None) };
                items.push(item);
                at += used;
            }
            Some((Reply::Array(items), at))
        }
        other => return Err(ProtocolError(format!("unknown reply type {:?}", char::from(other)))),
    })
}

/// Encodes a command as an array of bulk strings.
pub fn encode_command(arguments: &[&[u8]], out: &mut Vec<u8>) {
    Reply::Array(arguments.iter().map(|argument| Reply::Bulk(Some(argument.to_vec()))).collect()).encode(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Result<Option<Parsed>, ProtocolError> {
        parse_command(bytes, &Limits { bulk_bytes: 16, arguments: 4, ..Limits::default() })
    }

    #[test]
    fn arrays_and_inline_commands() {
        let (arguments, used) = parse(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nrest").unwrap().unwrap();
        assert_eq!(arguments, vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(used, 20);
        let (arguments, used) = parse(b"PING  x\r\n").unwrap().unwrap();
        assert_eq!(arguments, vec![b"PING".to_vec(), b"x".to_vec()]);
        assert_eq!(used, 9);
    }

    #[test]
    fn incomplete_input_waits() {
        let full = b"*2\r\n$3\r\nSET\r\n$1\r\nk\r\n";
        for cut in 0..full.len() {
            assert_eq!(parse(&full[..cut]).unwrap(), None, "cut at {cut}");
        }
    }

    #[test]
    fn violations_are_refused_at_once() {
        let oversized = parse(b"*2\r\n$3\r\nSET\r\n$999999999\r\n").unwrap_err();
        assert_eq!(
            oversized.to_string(),
            "Protocol error: a bulk string of 999999999 bytes is over the limit of 16 bytes"
        );
        assert!(parse(b"*9\r\n").unwrap_err().0.contains("9 arguments"));
        assert!(parse(b"*1\r\n:3\r\n").unwrap_err().0.contains("expected '$'"));
        assert!(parse(b"*x\r\n").unwrap_err().0.contains("invalid length"));
        assert!(parse(b"*1\r\n$1\r\nab\r\n").unwrap_err().0.contains("CRLF"));
        assert!(parse(b"*11111111111111111111111111111").unwrap_err().0.contains("too long"));
    }

    #[test]
    fn replies_round_trip() {
        let reply = Reply::Array(vec![
            Reply::Simple("OK".into()),
            Reply::error("ERR a\nb"),
            Reply::Integer(-3),
            Reply::Bulk(None),
            Reply::Bulk(Some(b"v\r\n".to_vec())),
        ]);
        let mut out = Vec::new();
        reply.encode(&mut out);
        let (parsed, used) = parse_reply(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        assert_eq!(
            parsed,
            Reply::Array(vec![
                Reply::Simple("OK".into()),
                Reply::Error("ERR a b".into()),
                Reply::Integer(-3),
                Reply::Bulk(None),
                Reply::Bulk(Some(b"v\r\n".to_vec())),
            ])
        );
    }
}
