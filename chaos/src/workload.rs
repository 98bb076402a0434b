//! What a client of a chaos run does, in simulation or against real processes: which operation it
//! invokes next (get, put or cas on a random key, every written value unique), how it reads the
//! reply (`ok`, `fail` for a definite no-effect, `info` for an unknown outcome), and the history
//! events it records (the checker's JSON Lines format).

use paxos::client::resp::Reply;
use rand::rngs::SmallRng;
use rand::Rng;

/// The process number of the first final read: above every client's.
pub const FINAL_PROCESS: usize = 1_000_000;

/// One operation about to be invoked.
#[derive(Clone, Debug)]
pub struct Invocation {
    /// `read`, `write` or `cas`.
    pub f: &'static str,
    /// Index of its key.
    pub key: usize,
    /// The key's name.
    pub name: String,
    /// The invocation's value: the written value, or `[expected, new]`.
    pub value: serde_json::Value,
    /// The RESP command.
    pub command: Vec<Vec<u8>>,
}

/// A client's state: its current process number and the values it last saw, which its
/// compare-and-sets start from.
#[derive(Clone, Debug)]
pub struct ClientState {
    index: usize,
    clients: usize,
    /// The process number of the events it records; a new one after every unknown outcome.
    pub process: usize,
    written: u64,
    last_seen: Vec<Option<String>>,
    mix: scenarios::Mix,
    prefix: String,
}

/// The name of key `key`.
pub fn key_name(prefix: &str, key: usize) -> String {
    format!("{prefix}k{key}")
}

/// The node client `index` connects to first (clients spread over the nodes, as Jepsen binds its
/// workers to nodes); after an unknown outcome a client goes to a random node.
pub fn first_node(index: usize, nodes: u8) -> u8 {
    (index % usize::from(nodes)) as u8 + 1
}

impl ClientState {
    /// Client `index` of `clients`, over `keys` keys named with `prefix`; readers only read.
    pub fn new(
        index: usize,
        clients: usize,
        keys: usize,
        mix: scenarios::Mix,
        reader: bool,
        prefix: &str,
    ) -> ClientState {
        ClientState {
            index,
            clients,
            process: index,
            written: 0,
            last_seen: vec![None; keys],
            mix: if reader { scenarios::Mix { read: 1, write: 0, cas: 0 } } else { mix },
            prefix: prefix.to_string(),
        }
    }

    /// Whether it has not yet had an unknown outcome (it is still on its first node).
    pub fn first_process(&self) -> bool {
        self.process == self.index
    }

    /// The next operation.
    pub fn invoke(&mut self, rng: &mut SmallRng) -> Invocation {
        let key = rng.random_range(0..self.last_seen.len());
        let name = key_name(&self.prefix, key);
        let mix = self.mix;
        let choice = rng.random_range(0..mix.read + mix.write + mix.cas);
        if choice < mix.read {
            return Invocation {
                f: "read",
                key,
                command: vec![b"GET".to_vec(), name.clone().into_bytes()],
                name,
                value: serde_json::Value::Null,
            };
        }
        self.written += 1;
        let new = format!("c{}-{}", self.index, self.written);
        if choice < mix.read + mix.write {
            return Invocation {
                f: "write",
                key,
                command: vec![b"SET".to_vec(), name.clone().into_bytes(), new.clone().into_bytes()],
                name,
                value: new.into(),
            };
        }
        let expected = self.last_seen[key].clone();
        let expected_bytes = expected.clone().unwrap_or_else(|| "__absent__".to_string()).into_bytes();
        Invocation {
            f: "cas",
            key,
            command: vec![
                b"CAS".to_vec(),
                name.clone().into_bytes(),
                expected_bytes,
                new.clone().into_bytes(),
            ],
            name,
            value: serde_json::json!([expected, new]),
        }
    }

    /// Reads the reply (`None`: a deadline or a lost connection) into the completion's type and
    /// value. After an unknown outcome the client continues as a new process (as Jepsen does).
    pub fn complete(
        &mut self,
        invocation: &Invocation,
        reply: Option<Reply>,
    ) -> (&'static str, serde_json::Value) {
        let value = invocation.value.clone();
        let (kind, result) = match (invocation.f, reply) {
            ("read", Some(Reply::Bulk(read))) => {
                let read = read.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
                self.last_seen[invocation.key] = read.clone();
                ("ok", read.map_or(serde_json::Value::Null, serde_json::Value::from))
            }
            ("write", Some(Reply::Simple(ok))) if ok == "OK" => {
                self.last_seen[invocation.key] = value.as_str().map(str::to_string);
                ("ok", value)
            }
            ("cas", Some(Reply::Integer(1))) => {
                self.last_seen[invocation.key] = value[1].as_str().map(str::to_string);
                ("ok", value)
            }
            // The comparison failed: a definite outcome, nothing written.
            ("cas", Some(Reply::Integer(0))) => ("fail", value),
            // BUSY: refused before anything was executed.
            (_, Some(Reply::Error(error))) if error.starts_with("BUSY") => ("fail", value),
            // UNAVAILABLE, a deadline, a lost connection, anything unexpected: unknown.
            _ => ("info", value),
        };
        if kind == "info" {
            self.process += self.clients;
        }
        (kind, result)
    }
}

/// One history event, as a JSON line.
pub fn event(
    process: usize,
    kind: &str,
    f: &str,
    key: &str,
    value: &serde_json::Value,
    time_ns: u64,
) -> String {
    serde_json::json!({"process": process, "type": kind, "f": f, "key": key, "value": value, "time": time_ns})
        .to_string()
}
