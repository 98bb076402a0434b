//! A client of etcd's v3 API through its JSON gateway (`/v3/kv/put`, `/v3/kv/range`,
//! `/v3/kv/txn`), over one HTTP/1.1 keep-alive connection: what `paxos bench` measures etcd with,
//! and what chaos's etcd target runs its workload through. Keys and values travel base64-encoded,
//! as the gateway wants; a range is linearizable (etcd's default, a quorum read).
//!
//! Hand-written rather than `etcd-client` (gRPC through tonic and prost): a benchmark client must
//! cost the machine it shares with the servers as little as possible, and the JSON gateway needs
//! nothing but a socket.

use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The body as JSON, if it is.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// A one-line description: the status and etcd's error message, if any.
    pub fn describe(&self) -> String {
        let message = self
            .json()
            .and_then(|json| {
                json.get("error").or_else(|| json.get("message")).and_then(|m| m.as_str().map(str::to_string))
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).chars().take(200).collect());
        format!("HTTP {}: {}", self.status, message.replace(['\r', '\n'], " "))
    }
}

/// What a key-value call gave: etcd's answer, or a response that is not one (an error status).
pub type Answer<T> = Result<T, Response>;

/// A connection to one etcd member's client URL (`host:port`, plain HTTP).
#[derive(Debug)]
pub struct Client {
    stream: TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to `addr`.
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub async fn connect(addr: &str) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client { stream, host: addr.to_string(), buf: Vec::new() })
    }

    /// `POST path` with a JSON `body`; the response.
    ///
    /// # Errors
    ///
    /// The connection failed or closed (the call's outcome is unknown).
    pub async fn post(&mut self, path: &str, body: &str) -> io::Result<Response> {
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.stream.write_all(request.as_bytes()).await?;
        loop {
            if let Some(end) = self.buf.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                let length = head
                    .lines()
                    .find_map(|line| {
                        let (name, value) = line.split_once(':')?;
                        name.eq_ignore_ascii_case("content-length")
                            .then(|| value.trim().parse::<usize>().ok())?
                    })
                    .unwrap_or(0);
                if self.buf.len() >= end + 4 + length {
                    let body = self.buf[end + 4..end + 4 + length].to_vec();
                    self.buf.drain(..end + 4 + length);
                    let status = head.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
                    return Ok(Response { status, body });
                }
            }
            let mut chunk = [0u8; 16 << 10];
            let read = self.stream.read(&mut chunk).await?;
            if read == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "etcd closed the connection"));
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
    }

    /// Writes `key = value`.
    ///
    /// # Errors
    ///
    /// The connection failed (unknown outcome).
    pub async fn put(&mut self, key: &[u8], value: &[u8]) -> io::Result<Answer<()>> {
        let body = format!(r#"{{"key":"{}","value":"{}"}}"#, base64(key), base64(value));
        let response = self.post("/v3/kv/put", &body).await?;
        Ok(if response.status == 200 { Ok(()) } else { Err(response) })
    }

    /// Removes `key` (absent or not).
    ///
    /// # Errors
    ///
    /// The connection failed (unknown outcome).
    pub async fn delete(&mut self, key: &[u8]) -> io::Result<Answer<()>> {
        let response = self.post("/v3/kv/deleterange", &format!(r#"{{"key":"{}"}}"#, base64(key))).await?;
        Ok(if response.status == 200 { Ok(()) } else { Err(response) })
    }

    /// Reads `key` (linearizable): its value, or `None` if absent.
    ///
    /// # Errors
    ///
    /// The connection failed (unknown outcome).
    pub async fn get(&mut self, key: &[u8]) -> io::Result<Answer<Option<Vec<u8>>>> {
        let response = self.post("/v3/kv/range", &format!(r#"{{"key":"{}"}}"#, base64(key))).await?;
        if response.status != 200 {
            return Ok(Err(response));
        }
        let Some(json) = response.json() else { return Ok(Err(response)) };
        let value = json
            .get("kvs")
            .and_then(|kvs| kvs.get(0))
            .map(|kv| kv.get("value").and_then(serde_json::Value::as_str).unwrap_or(""));
        Ok(match value {
            None => Ok(None),
            Some(text) => match unbase64(text) {
                Some(bytes) => Ok(Some(bytes)),
                None => Err(response),
            },
        })
    }

    /// Writes `new` if `key` holds `expected` (`None`: if it does not exist), in one transaction;
    /// whether it did.
    ///
    /// # Errors
    ///
    /// The connection failed (unknown outcome).
    pub async fn compare_and_set(
        &mut self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> io::Result<Answer<bool>> {
        let key = base64(key);
        let compare = match expected {
            Some(value) => {
                format!(r#"{{"key":"{key}","result":"EQUAL","target":"VALUE","value":"{}"}}"#, base64(value))
            }
            None => format!(r#"{{"key":"{key}","result":"EQUAL","target":"CREATE","create_revision":"0"}}"#),
        };
        let body = format!(
            r#"{{"compare":[{compare}],"success":[{{"request_put":{{"key":"{key}","value":"{}"}}}}]}}"#,
            base64(new)
        );
        let response = self.post("/v3/kv/txn", &body).await?;
        if response.status != 200 {
            return Ok(Err(response));
        }
        match response.json() {
            // The gateway leaves out a false `succeeded`, as proto3 JSON does with defaults.
            Some(json) => Ok(Ok(json.get("succeeded").and_then(serde_json::Value::as_bool).unwrap_or(false))),
            None => Ok(Err(response)),
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding (RFC 4648), as the gateway's JSON carries bytes.
pub fn base64(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Decodes [`base64`]; `None` if `text` is not standard padded base64.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let padding = chunk.iter().rev().take_while(|&&byte| byte == b'=').count();
        if padding > 2 {
            return None;
        }
        let mut n = 0u32;
        for &byte in &chunk[..4 - padding] {
            let digit = ALPHABET.iter().position(|&letter| letter == byte)? as u32;
            n = (n << 6) | digit;
        }
        n <<= 6 * padding as u32;
        let decoded = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&decoded[..3 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_and_decodes_back() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
            assert_eq!(unbase64(expected).as_deref(), Some(input.as_bytes()));
        }
        assert_eq!(unbase64("Zm9"), None, "not a multiple of four");
        assert_eq!(unbase64("Zm!v"), None, "not in the alphabet");
    }
}
