//! The systems a real run drives, and their clients: this store (RESP), etcd (its v3 API through
//! the JSON gateway, with the project's one etcd client, `etcd-gateway`) and Redis (RESP, a
//! compare-and-set as a Lua script, which Redis runs atomically). Each maps the workload's
//! operations to the system's own calls and its answers to ok, a definite no-effect, or an
//! unknown outcome, so that one history format and one checker serve all three.

use crate::workload::{Answer, Op, Store};
use paxos::client::resp::Reply;
use paxos::client::Client;
use std::io;
use tokio::net::TcpStream;

/// The system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    /// This store: `paxos node` processes, over RESP.
    Paxos,
    /// etcd 3.4 or later, through its v3 JSON gateway on the client URL (`host:port`).
    Etcd,
    /// Redis, over RESP; compare-and-set as an atomic Lua script.
    Redis,
}

impl Target {
    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Paxos => "paxos",
            Target::Etcd => "etcd",
            Target::Redis => "redis",
        }
    }

    /// A client connection to the node at `addr`.
    ///
    /// # Errors
    ///
    /// The connection failed.
    pub async fn connect(self, addr: &str) -> io::Result<RealClient> {
        Ok(match self {
            Target::Paxos => RealClient::Paxos(Client::connect(addr).await?),
            Target::Etcd => RealClient::Etcd(etcd_gateway::Client::connect(addr).await?),
            Target::Redis => RealClient::Redis(Client::connect(addr).await?),
        })
    }
}

/// A client connection to one node of any target.
pub enum RealClient {
    /// See [`Target::Paxos`].
    Paxos(Client<TcpStream>),
    /// See [`Target::Etcd`].
    Etcd(etcd_gateway::Client),
    /// See [`Target::Redis`].
    Redis(Client<TcpStream>),
}

/// Redis's compare-and-set: `KEYS[1]` is the key, `ARGV[1]` the expected value, `ARGV[2]` the new
/// one, `ARGV[3]` `1` when the key must be absent. Scripts run atomically.
const REDIS_CAS: &str = "local current = redis.call('GET', KEYS[1]) \
if (ARGV[3] == '1' and current == false) or (ARGV[3] == '0' and current == ARGV[1]) then \
redis.call('SET', KEYS[1], ARGV[2]) return 1 end return 0";

/// Redis errors that mean the command was not executed: a replica refusing a write, a replica
/// that lost its primary, a server loading its data, too few replicas for `min-replicas-to-write`.
const REDIS_REFUSALS: [&str; 4] = ["READONLY", "MASTERDOWN", "LOADING", "NOREPLICAS"];

impl Store for RealClient {
    async fn call(&mut self, op: &Op) -> io::Result<Answer> {
        match self {
            RealClient::Paxos(client) => client.call(op).await,
            RealClient::Etcd(client) => etcd(client, op).await,
            RealClient::Redis(client) => redis(client, op).await,
        }
    }
}

/// An etcd answer that is not one: 503 and 504 (unavailable, timed out: the request may have been
/// applied) are unknown, like anything unexpected; a 4xx refused the request before it ran.
fn etcd_failure(response: &etcd_gateway::Response) -> Answer {
    if (400..500).contains(&response.status) {
        Answer::Refused(response.describe())
    } else {
        Answer::Unknown(response.describe())
    }
}

async fn etcd(client: &mut etcd_gateway::Client, op: &Op) -> io::Result<Answer> {
    Ok(match op {
        Op::Read { key } => match client.get(key.as_bytes()).await? {
            Ok(value) => Answer::Read(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned())),
            Err(response) => etcd_failure(&response),
        },
        Op::Write { key, value } => match client.put(key.as_bytes(), value.as_bytes()).await? {
            Ok(()) => Answer::Written,
            Err(response) => etcd_failure(&response),
        },
        Op::Cas { key, expected, new } => {
            match client
                .compare_and_set(key.as_bytes(), expected.as_deref().map(str::as_bytes), new.as_bytes())
                .await?
            {
                Ok(swapped) => Answer::Swapped(swapped),
                Err(response) => etcd_failure(&response),
            }
        }
    })
}

async fn redis(client: &mut Client<TcpStream>, op: &Op) -> io::Result<Answer> {
    let reply = match op {
        Op::Read { key } => client.command(&[b"GET", key.as_bytes()]).await?,
        Op::Write { key, value } => client.command(&[b"SET", key.as_bytes(), value.as_bytes()]).await?,
        Op::Cas { key, expected, new } => {
            let absent = if expected.is_none() { "1" } else { "0" };
            let expected = expected.as_deref().unwrap_or("");
            client
                .command(&[
                    b"EVAL",
                    REDIS_CAS.as_bytes(),
                    b"1",
                    key.as_bytes(),
                    expected.as_bytes(),
                    new.as_bytes(),
                    absent.as_bytes(),
                ])
                .await?
        }
    };
    Ok(match (op, reply) {
        (Op::Read { .. }, Reply::Bulk(read)) => {
            Answer::Read(read.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
        }
        (Op::Write { .. }, Reply::Simple(ok)) if ok == "OK" => Answer::Written,
        (Op::Cas { .. }, Reply::Integer(swapped @ (0 | 1))) => Answer::Swapped(swapped == 1),
        (_, Reply::Error(error)) if REDIS_REFUSALS.iter().any(|code| error.starts_with(code)) => {
            Answer::Refused(error)
        }
        (_, other) => Answer::Unknown(format!("{other:?}")),
    })
}
