//! The systems a real run drives, and their clients: this store (RESP), etcd (its v3 API through
//! the JSON gateway, with the project's one etcd client, `etcd-gateway`) and Redis (RESP, a
//! compare-and-set as a Lua script, which Redis runs atomically; with Sentinel, a client that asks
//! its machine's sentinel for the primary, as Sentinel-aware client libraries do). Each maps the
//! workload's operations to the system's own calls and its answers to ok, a definite no-effect,
//! or an unknown outcome, so that one history format and one checker serve all three.

use crate::workload::{Answer, Op, Store};
use paxos::client::resp::Reply;
use paxos::client::Client;
use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};

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

    /// Whether chaos can run `scenario` on a cluster of this target it starts (`Err`: why not).
    /// Every target takes partitions, one-way cuts, stalls, loss and delay, kills, machine
    /// crashes, pauses and storage loss; only this store takes the rest.
    ///
    /// # Errors
    ///
    /// The first fault or setting of the scenario the target cannot take, and why.
    pub fn runs(self, scenario: &scenarios::Scenario) -> Result<(), String> {
        if self == Target::Paxos {
            return Ok(());
        }
        if scenario.read_mode != scenarios::ReadMode::ReadIndex {
            return Err(format!("read mode {} is this store's setting", scenario.read_mode.as_str()));
        }
        if scenario.spares > 0 {
            return Err("spare machines join through this store's MEMBER commands".to_string());
        }
        if scenario.groups > 1 {
            return Err(format!("groups {}: Paxos groups per node are this store's", scenario.groups));
        }
        for fault in scenario.faults.iter().flat_map(scenarios::Step::faults) {
            if fault.changes_membership()
                || matches!(
                    fault,
                    scenarios::Fault::TransferLeader { .. } | scenarios::Fault::PromoteVoter { .. }
                )
            {
                return Err(format!(
                    "fault {} is a membership change through this store's MEMBER commands",
                    fault.kind()
                ));
            }
            if matches!(fault, scenarios::Fault::Clock { .. }) {
                return Err(if self == Target::Etcd {
                    "fault clock: etcd is a Go program, which reads time through the vDSO, not libc, so libfaketime cannot shift its clocks".to_string()
                } else {
                    "fault clock: Debian's libfaketime (0.9.10) hangs Redis 7.0.15 as it starts (its jemalloc reads the clock while libfaketime initialises)".to_string()
                });
            }
        }
        Ok(())
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

/// How the clients of machine i reach the system under test.
#[derive(Clone, Debug)]
pub enum Reach {
    /// At machine i's address (index i - 1), directly.
    Direct(Target, Vec<String>),
    /// Redis under Sentinel: machine i's sentinel (index i - 1) names the primary, which the
    /// client dials from machine i's own source address (so that the link proxies see which
    /// machine it is on). `master` is the name the sentinels monitor it by.
    Sentinel {
        /// Each machine's sentinel.
        sentinels: Vec<String>,
        /// Each machine's source address.
        sources: Vec<IpAddr>,
        /// The monitored primary's name.
        master: String,
    },
}

impl Reach {
    /// A client of machine `node`.
    ///
    /// # Errors
    ///
    /// The connection failed (or, under Sentinel, the sentinel named no primary).
    pub async fn connect(&self, node: u8) -> io::Result<RealClient> {
        let index = usize::from(node) - 1;
        match self {
            Reach::Direct(target, addresses) => target.connect(&addresses[index]).await,
            Reach::Sentinel { sentinels, sources, master } => {
                let mut client = SentinelClient {
                    sentinel: sentinels[index].clone(),
                    source: sources[index],
                    master: master.clone(),
                    primary: None,
                };
                client.primary().await?;
                Ok(RealClient::Sentinel(client))
            }
        }
    }

    /// Machine `node`'s entry point, as an error message names it.
    pub fn describe(&self, node: u8) -> String {
        let index = usize::from(node) - 1;
        match self {
            Reach::Direct(_, addresses) => addresses[index].clone(),
            Reach::Sentinel { sentinels, .. } => format!("n{node} (its sentinel at {})", sentinels[index]),
        }
    }
}

/// A Redis client that follows Sentinel: it asks its sentinel where the primary is when it has no
/// connection, and forgets the connection after an error or a refusal (a demoted primary answers
/// READONLY), so that its next operation asks again.
pub struct SentinelClient {
    sentinel: String,
    source: IpAddr,
    master: String,
    primary: Option<Client<TcpStream>>,
}

impl SentinelClient {
    /// The connection to the primary the sentinel names now.
    async fn primary(&mut self) -> io::Result<&mut Client<TcpStream>> {
        if self.primary.is_none() {
            let mut sentinel = Client::connect(&self.sentinel).await?;
            let reply =
                sentinel.command(&[b"SENTINEL", b"get-master-addr-by-name", self.master.as_bytes()]).await?;
            let address = match &reply {
                Reply::Array(parts) => match parts.as_slice() {
                    [Reply::Bulk(Some(host)), Reply::Bulk(Some(port))] => {
                        format!("{}:{}", String::from_utf8_lossy(host), String::from_utf8_lossy(port))
                    }
                    _ => String::new(),
                },
                _ => String::new(),
            };
            let address: SocketAddr = address.parse().map_err(|_| {
                io::Error::other(format!("sentinel {} names no primary: {reply:?}", self.sentinel))
            })?;
            let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
            socket.bind(SocketAddr::new(self.source, 0))?;
            let stream = socket.connect(address).await?;
            stream.set_nodelay(true)?;
            self.primary = Some(Client::new(stream));
        }
        Ok(self.primary.as_mut().expect("connected above"))
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
    /// See [`Reach::Sentinel`].
    Sentinel(SentinelClient),
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
            RealClient::Sentinel(client) => {
                let answer = redis(client.primary().await?, op).await;
                if !matches!(answer, Ok(Answer::Read(_) | Answer::Written | Answer::Swapped(_))) {
                    client.primary = None;
                }
                answer
            }
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
        Op::Delete { key } => match client.delete(key.as_bytes()).await? {
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
        Op::Delete { key } => client.command(&[b"DEL", key.as_bytes()]).await?,
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
    Ok(crate::workload::answer(op, reply, &REDIS_REFUSALS))
}
