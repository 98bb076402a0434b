//! Real clusters of systems nobody here wrote, started and broken by chaos as Jepsen would, on one
//! machine: three etcd members, or Redis with Sentinel failover (one primary, two replicas, three
//! sentinels), every machine's traffic to every other through the link proxies.
//!
//! # How the proxies know who is calling
//!
//! A system's peers all reach member j at the one address the cluster knows it by, so a proxy in
//! front of j must tell from each connection which machine dialled:
//!
//! - **Redis and Sentinel** bind their outgoing connections to their machine's own loopback
//!   address (`bind-source-addr 127.0.1.i`), and announce the proxies' addresses as their own
//!   (`replica-announce-ip/port`, `sentinel announce-ip/port`), so that a replica, a sentinel and a
//!   client of machine i reach j through j's proxy, which reads machine i from the source address.
//! - **etcd** cannot bind its outgoing connections; its peer requests carry the sender's advertised
//!   peer URL in an `X-PeerURLs` header, and each member advertises the proxy in front of it, so
//!   the URL's port names the machine. etcd's health probes and version checks carry no header;
//!   until a connection carries one it crosses as if from every other machine at once (held while
//!   any link into the member is cut).
//!
//! # Faults
//!
//! Partitions, one-way cuts, stalls, loss and delay (the proxies); kill -9 and restart, machine
//! crash, pause (SIGSTOP/SIGCONT of every process of the machine); storage loss: etcd's data
//! directory emptied, then the member removed and added again through a live member, as etcd's
//! runbook requires (it rejoins as a new member with `--initial-cluster-state existing`, retried
//! while no quorum answers); Redis's append-only file and RDB emptied (the configuration files,
//! which Sentinel rewrites, are kept: they are the operator's provisioning). Not applicable:
//! clock faults (etcd is a Go program, which reads time through the vDSO, not libc, so
//! libfaketime cannot shift it, checked with etcd 3.4.23), membership changes and leader
//! transfers (this store's `MEMBER` commands), lease reads (this store's read mode).
//!
//! # What is observed
//!
//! The leader (etcd: the member whose status names itself leader; Redis: the machine most
//! sentinels name as primary), for faults aimed at it; and, after healing, convergence: etcd's
//! members at one raft index under a leader; Redis's servers all replicating one primary that
//! every sentinel names, at its replication offset.

use super::process::NodeProcess;
use super::proxy::{self, LinkFaults, Links};
use super::{
    runtime, spawn_clients, Harnessed, Reach, RealEnvironment, RealOptions, Shared, Target, Workload,
};
use crate::cluster::{Cluster, MembershipView};
use crate::error::{ChaosError, Liveness};
use crate::workload::FinalValues;
use paxos::client::resp::Reply;
use paxos::client::Client;
use scenarios::Scenario;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The name the sentinels monitor the primary by.
const MASTER: &str = "chaos";

/// How long a sentinel waits before it calls an unanswering primary down (Redis's default is 30 s;
/// short, so that failovers happen within a run).
const DOWN_AFTER_MS: u64 = 1000;

/// Machine i's own loopback address, which its Redis and Sentinel dial from.
fn source(machine: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 1, machine))
}

/// The machine a connection came from, by its source address (`None`: not one of ours).
fn machine_of(address: SocketAddr) -> Option<u8> {
    match address.ip() {
        IpAddr::V4(ip) if ip.octets()[..3] == [127, 0, 1] && ip.octets()[3] != 0 => Some(ip.octets()[3]),
        _ => None,
    }
}

/// Finds `program` on the PATH.
///
/// # Errors
///
/// It is not there: one line naming it and the Debian package that has it.
fn find_program(program: &str, package: &str) -> Result<PathBuf, ChaosError> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .ok_or_else(|| {
            ChaosError::Input(format!(
                "{program} is not on the PATH: install Debian's {package} (apt-get install {package}); scripts/test.sh does"
            ))
        })
}

/// The ports of a foreign cluster, from `port` (machine i is 1-based).
#[derive(Clone, Copy, Debug)]
struct Ports(u16);

impl Ports {
    /// etcd's client port; Redis's own port.
    fn service(self, i: u8) -> u16 {
        self.0 + u16::from(i) - 1
    }

    /// etcd's peer port; the sentinel's own port.
    fn second(self, i: u8) -> u16 {
        self.0 + 100 + u16::from(i) - 1
    }

    /// The proxy in front of `service` (Redis) or `second` (etcd's peers): what the machine
    /// announces.
    fn proxy(self, i: u8) -> u16 {
        self.0 + 200 + u16::from(i) - 1
    }

    /// The proxy in front of the sentinel.
    fn sentinel_proxy(self, i: u8) -> u16 {
        self.0 + 300 + u16::from(i) - 1
    }
}

fn local(port: u16) -> String {
    format!("127.0.0.1:{port}")
}

/// What the observers last saw of a machine.
#[derive(Clone, Copy, Debug, Default)]
struct Seen {
    /// etcd: it leads. Redis: its server answers `role:master`.
    leads: bool,
    /// Redis: the machine its sentinel names as the primary.
    named: Option<u8>,
    /// Redis: its sentinel knows every replica and every other sentinel.
    complete: bool,
    /// Redis: replicas connected to its server.
    replicas: usize,
    /// etcd: its raft log's index.
    index: u64,
    /// It answered.
    answered: bool,
    /// Redis: its replication offset (`master_repl_offset`), and, on a replica, whether its link
    /// to its primary is up and which port it replicates from.
    offset: u64,
    link_up: bool,
    replicates: Option<u16>,
}

/// A foreign cluster under fault injection: see the module's documentation.
pub struct ForeignCluster {
    target: Target,
    runtime: tokio::runtime::Runtime,
    started: Instant,
    machines: u8,
    ports: Ports,
    /// Each machine's processes: etcd; or Redis and its sentinel.
    processes: Vec<Vec<NodeProcess>>,
    data_dirs: Vec<PathBuf>,
    /// etcd: the binary, and the cluster's token (its members' ids derive from it).
    etcd: Option<(PathBuf, String)>,
    /// etcd members whose data was lost: removed and added again before they start.
    rejoin: Vec<bool>,
    /// Machines the schedule started that could not rejoin yet (retried each second).
    pending: Vec<bool>,
    /// etcd members that rejoined and have not caught up with the others yet.
    catching_up: Vec<bool>,
    /// Why the last attempt to rejoin failed.
    rejoin_error: Option<String>,
    faults: LinkFaults,
    down: Vec<bool>,
    paused: Vec<bool>,
    seen: Arc<Mutex<Vec<Seen>>>,
    shared: Arc<Mutex<Shared>>,
    trace: Arc<Mutex<Vec<String>>>,
    reach: Reach,
    clients: usize,
}

impl ForeignCluster {
    /// Creates and starts the cluster of `options.target` in `options.dir`, its proxies, its
    /// observers and its clients.
    ///
    /// # Errors
    ///
    /// A program missing, a directory that cannot be written, a port in use.
    pub fn start(
        scenario: &Scenario,
        seed: u64,
        options: &RealOptions,
    ) -> Result<ForeignCluster, ChaosError> {
        let machines = scenario.nodes;
        let ports = Ports(options.port);
        if options.port.checked_add(300 + u16::from(machines)).is_none() {
            return Err(ChaosError::Input(format!("--port {}: too high", options.port)));
        }
        let cluster_dir = options.dir.join("cluster");
        if cluster_dir.exists() {
            std::fs::remove_dir_all(&cluster_dir).map_err(ChaosError::io(&cluster_dir))?;
        }
        let runtime = runtime()?;
        let links = Arc::new(Links::new(machines));
        let bind = |listen: u16, what: String| {
            runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", listen))).map_err(|error| {
                ChaosError::Process {
                    command: format!("{what} on 127.0.0.1:{listen}"),
                    reason: format!("{error} (choose another --port)"),
                }
            })
        };
        let mut processes = Vec::new();
        let mut data_dirs = Vec::new();
        let mut etcd = None;
        let reach;
        match options.target {
            Target::Etcd => {
                let binary = find_program("etcd", "etcd-server")?;
                let token = format!("chaos-{seed}-{}", std::process::id());
                for i in 1..=machines {
                    let dir = cluster_dir.join(format!("n{i}"));
                    std::fs::create_dir_all(&dir).map_err(ChaosError::io(&dir))?;
                    let arguments = etcd_arguments(ports, machines, i, &dir, &token, None);
                    let log = options.dir.join(format!("node-{i}.log"));
                    processes.push(vec![NodeProcess::new(&binary, arguments, log)]);
                    data_dirs.push(dir);
                    let listener = bind(ports.proxy(i), format!("the peer proxy of n{i}"))?;
                    let target = SocketAddr::from(([127, 0, 0, 1], ports.second(i)));
                    let caller = move |urls: &str| {
                        let port: u16 = urls.split(',').next()?.trim().rsplit(':').next()?.parse().ok()?;
                        (1..=machines).find(|&machine| ports.proxy(machine) == port)
                    };
                    runtime.spawn(proxy::serve_http_peer(
                        listener,
                        target,
                        links.clone(),
                        i,
                        "X-PeerURLs",
                        caller,
                        seed,
                    ));
                }
                etcd = Some((binary, token));
                reach =
                    Reach::Direct(Target::Etcd, (1..=machines).map(|i| local(ports.service(i))).collect());
            }
            Target::Redis => {
                let server = find_program("redis-server", "redis-server")?;
                let sentinel = find_program("redis-sentinel", "redis-sentinel")?;
                for i in 1..=machines {
                    let dir = cluster_dir.join(format!("n{i}"));
                    std::fs::create_dir_all(&dir).map_err(ChaosError::io(&dir))?;
                    let (redis_conf, sentinel_conf) = (dir.join("redis.conf"), dir.join("sentinel.conf"));
                    std::fs::write(&redis_conf, redis_config(ports, i, &dir))
                        .map_err(ChaosError::io(&redis_conf))?;
                    std::fs::write(&sentinel_conf, sentinel_config(ports, machines, i, &dir))
                        .map_err(ChaosError::io(&sentinel_conf))?;
                    processes.push(vec![
                        NodeProcess::new(
                            &server,
                            vec![redis_conf.display().to_string()],
                            options.dir.join(format!("node-{i}.log")),
                        ),
                        NodeProcess::new(
                            &sentinel,
                            vec![sentinel_conf.display().to_string()],
                            options.dir.join(format!("sentinel-{i}.log")),
                        ),
                    ]);
                    data_dirs.push(dir);
                    for (listen, behind, what) in [
                        (ports.proxy(i), ports.service(i), "redis"),
                        (ports.sentinel_proxy(i), ports.second(i), "sentinel"),
                    ] {
                        let listener = bind(listen, format!("the proxy of n{i}'s {what}"))?;
                        let target = SocketAddr::from(([127, 0, 0, 1], behind));
                        runtime.spawn(proxy::serve_by_source(
                            listener,
                            target,
                            links.clone(),
                            i,
                            machine_of,
                            seed,
                        ));
                    }
                }
                reach = Reach::Sentinel {
                    sentinels: (1..=machines).map(|i| local(ports.second(i))).collect(),
                    sources: (1..=machines).map(source).collect(),
                    master: MASTER.to_string(),
                };
            }
            Target::Paxos => {
                return Err(ChaosError::Input(
                    "a paxos cluster is a RealCluster, not a foreign one".to_string(),
                ))
            }
        }
        let shared = Arc::new(Mutex::new(Shared {
            observed: vec![None; usize::from(machines)],
            members: (1..=machines).collect(),
            ..Shared::default()
        }));
        let mut cluster = ForeignCluster {
            target: options.target,
            runtime,
            started: Instant::now(),
            machines,
            ports,
            processes,
            data_dirs,
            etcd,
            rejoin: vec![false; usize::from(machines)],
            pending: vec![false; usize::from(machines)],
            catching_up: vec![false; usize::from(machines)],
            rejoin_error: None,
            faults: LinkFaults::new(links),
            down: vec![false; usize::from(machines)],
            paused: vec![false; usize::from(machines)],
            seen: Arc::new(Mutex::new(vec![Seen::default(); usize::from(machines)])),
            shared,
            trace: Arc::new(Mutex::new(Vec::new())),
            reach: reach.clone(),
            clients: scenario.workload.clients,
        };
        cluster.observe();
        if cluster.target == Target::Redis {
            // The servers first, and the replicas in sync, so that each sentinel's first look at
            // the primary finds them (it looks again only every 10 s); then the sentinels, until
            // each knows every replica and every other sentinel.
            for i in 1..=machines {
                cluster.processes[usize::from(i) - 1][0].start()?;
            }
            cluster.await_redis(
                |primary| primary.replicas == usize::from(machines) - 1,
                "every replica in sync",
            )?;
            for i in 1..=machines {
                cluster.processes[usize::from(i) - 1][1].start()?;
            }
            cluster.await_redis(|_| true, "every sentinel knowing every replica and sentinel")?;
        } else {
            for i in 1..=machines {
                cluster.launch(i)?;
            }
        }
        let workload = Workload { reach, workload: scenario.workload.clone(), prefix: String::new(), seed };
        spawn_clients(&cluster.runtime, &cluster.shared, &workload, cluster.started);
        Ok(cluster)
    }

    fn launch(&mut self, machine: u8) -> Result<(), ChaosError> {
        for process in &mut self.processes[usize::from(machine) - 1] {
            process.start()?;
        }
        Ok(())
    }

    fn kill(&mut self, machine: u8) {
        let index = usize::from(machine) - 1;
        for process in &mut self.processes[index] {
            process.kill();
        }
        self.paused[index] = false;
        self.seen.lock().expect("seen")[index] = Seen::default();
    }

    /// Polls every machine every 100 ms: who leads, who the sentinels name.
    fn observe(&self) {
        for machine in 1..=self.machines {
            let (seen, target, ports, machines) = (self.seen.clone(), self.target, self.ports, self.machines);
            self.runtime.spawn(async move {
                loop {
                    let now = tokio::time::timeout(
                        Duration::from_millis(500),
                        look(target, ports, machines, machine),
                    )
                    .await
                    .unwrap_or_default();
                    seen.lock().expect("seen")[usize::from(machine) - 1] = now;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    }

    /// Whether the cluster agrees with itself (see [`Harnessed::converge`]).
    fn agreed(&self) -> bool {
        let seen = self.seen.lock().expect("seen");
        if !seen.iter().all(|each| each.answered) {
            return false;
        }
        match self.target {
            Target::Etcd => {
                seen.iter().any(|each| each.leads) && seen.iter().all(|each| each.index == seen[0].index)
            }
            Target::Redis | Target::Paxos => {
                let primaries: Vec<usize> = (0..seen.len()).filter(|&at| seen[at].leads).collect();
                let [primary] = primaries.as_slice() else { return false };
                let port = self.ports.proxy(*primary as u8 + 1);
                seen.iter().all(|each| {
                    each.named == Some(*primary as u8 + 1)
                        && each.offset == seen[*primary].offset
                        && (each.leads || (each.link_up && each.replicates == Some(port)))
                })
            }
        }
    }

    /// Each machine as the observers last saw it, for a run that did not converge.
    fn progress(&self) -> String {
        let seen = self.seen.lock().expect("seen");
        let line = |at: usize, each: &Seen| {
            let machine = at + 1;
            if !each.answered {
                return format!("n{machine} not answering");
            }
            match self.target {
                Target::Etcd => format!(
                    "n{machine} at raft index {}{}",
                    each.index,
                    if each.leads { " leading" } else { "" }
                ),
                Target::Redis | Target::Paxos => format!(
                    "n{machine} {} at offset {}{}, its sentinel names {}",
                    if each.leads { "primary" } else { "replica" },
                    each.offset,
                    if each.leads || each.link_up { "" } else { " (link down)" },
                    each.named.map_or("no primary".to_string(), |named| format!("n{named}")),
                ),
            }
        };
        seen.iter().enumerate().map(|(at, each)| line(at, each)).collect::<Vec<_>>().join(", ")
    }

    /// Whether etcd member `machine` answers with a log within 1,000 entries of the furthest.
    fn caught_up(&self, machine: u8) -> bool {
        let seen = self.seen.lock().expect("seen");
        let furthest = seen.iter().map(|each| each.index).max().unwrap_or(0);
        let index = seen[usize::from(machine) - 1].index;
        index > 0 && index + 1000 >= furthest
    }

    /// Waits (at most 30 s) until machine 1's server is the primary and `primary` holds of what
    /// it shows, and (once the sentinels run) every sentinel sees the whole cluster.
    fn await_redis(&mut self, primary: impl Fn(&Seen) -> bool, what: &str) -> Result<(), ChaosError> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let sentinels = self.processes.iter().all(|machine| machine[1].pid().is_some());
        loop {
            {
                let seen = self.seen.lock().expect("seen");
                if seen[0].leads && primary(&seen[0]) && (!sentinels || seen.iter().all(|each| each.complete))
                {
                    return Ok(());
                }
            }
            // A process that exits at once (a configuration it refuses, a port taken): its log.
            for (index, machine) in self.processes.iter_mut().enumerate() {
                for process in machine.iter_mut().filter(|process| process.pid().is_some()) {
                    if let Some(status) = process.exited() {
                        let log = process.log().to_path_buf();
                        return Err(ChaosError::Exited { node: index as u8 + 1, status, log });
                    }
                }
            }
            if Instant::now() >= deadline {
                let logs: Vec<String> = self.logs().iter().map(|log| log.display().to_string()).collect();
                return Err(ChaosError::Process {
                    command: "starting Redis and Sentinel".to_string(),
                    reason: format!("{what} not seen within 30 s (logs: {})", logs.join(", ")),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Removes etcd member `machine` (its data lost) and adds it again through a live member;
    /// then it can start as a new member of the existing cluster.
    fn rejoin_etcd(&mut self, machine: u8) -> Result<(), String> {
        let Some((binary, token)) = self.etcd.clone() else { return Ok(()) };
        let live: Vec<String> = (1..=self.machines)
            .filter(|&other| other != machine && !self.down[usize::from(other) - 1])
            .map(|other| local(self.ports.service(other)))
            .collect();
        let url = format!("http://127.0.0.1:{}", self.ports.proxy(machine));
        let name = format!("n{machine}");
        let members = self.runtime.block_on(async {
            let mut last = "no live member".to_string();
            for address in &live {
                match tokio::time::timeout(Duration::from_secs(3), readd(address, &name, &url)).await {
                    Ok(Ok(members)) => return Ok(members),
                    Ok(Err(error)) => last = format!("{address}: {error}"),
                    Err(_) => last = format!("{address}: no answer in 3 s"),
                }
            }
            Err(last)
        })?;
        let index = usize::from(machine) - 1;
        let arguments = etcd_arguments(
            self.ports,
            self.machines,
            machine,
            &self.data_dirs[index],
            &token,
            Some(&members),
        );
        let log = self.processes[index][0].log().to_path_buf();
        self.processes[index] = vec![NodeProcess::new(&binary, arguments, log)];
        self.rejoin[index] = false;
        self.catching_up[index] = true;
        self.note(format!("n{machine} was removed and added again as a new member ({})", members));
        Ok(())
    }

    /// Starts `machine` if it may: an etcd member that lost its data rejoins first (noted and
    /// retried later if no quorum answers now).
    fn bring_up(&mut self, machine: u8) {
        let index = usize::from(machine) - 1;
        if self.rejoin[index] {
            if let Err(error) = self.rejoin_etcd(machine) {
                if !self.pending[index] {
                    self.note(format!("n{machine} cannot rejoin yet, retried each second: {error}"));
                }
                self.pending[index] = true;
                self.rejoin_error = Some(format!("n{machine} could not rejoin: {error}"));
                return;
            }
        }
        self.pending[index] = false;
        self.down[index] = false;
        let started = self.launch(machine);
        self.note(format!("start n{machine}{}", started.err().map(|e| format!(": {e}")).unwrap_or_default()));
    }
}

/// etcd's command line for member `i`: a member of the first cluster, or (`members`: the
/// `--initial-cluster` list after it was added again) a new member of the existing one.
fn etcd_arguments(
    ports: Ports,
    machines: u8,
    i: u8,
    dir: &Path,
    token: &str,
    members: Option<&str>,
) -> Vec<String> {
    let first: Vec<String> =
        (1..=machines).map(|j| format!("n{j}=http://127.0.0.1:{}", ports.proxy(j))).collect();
    let (cluster, state) = match members {
        Some(members) => (members.to_string(), "existing"),
        None => (first.join(","), "new"),
    };
    [
        "--name".to_string(),
        format!("n{i}"),
        "--data-dir".to_string(),
        dir.display().to_string(),
        "--listen-client-urls".to_string(),
        format!("http://127.0.0.1:{}", ports.service(i)),
        "--advertise-client-urls".to_string(),
        format!("http://127.0.0.1:{}", ports.service(i)),
        "--listen-peer-urls".to_string(),
        format!("http://127.0.0.1:{}", ports.second(i)),
        "--initial-advertise-peer-urls".to_string(),
        format!("http://127.0.0.1:{}", ports.proxy(i)),
        "--initial-cluster".to_string(),
        cluster,
        "--initial-cluster-state".to_string(),
        state.to_string(),
        "--initial-cluster-token".to_string(),
        token.to_string(),
        "--logger".to_string(),
        "zap".to_string(),
        "--log-outputs".to_string(),
        "stderr".to_string(),
    ]
    .into()
}

/// Redis on machine i: the first machine's is the primary, the others replicate it; persistence
/// with an fsync per write (so that a killed process loses nothing it acknowledged, and what is
/// lost is lost by failover); asynchronous replication as shipped (`min-replicas-to-write 0`).
fn redis_config(ports: Ports, i: u8, dir: &Path) -> String {
    let mut config = format!(
        "port {port}\nbind 127.0.0.1\nprotected-mode no\nbind-source-addr {source}\n\
         replica-announce-ip 127.0.0.1\nreplica-announce-port {announce}\ndir {dir}\n\
         appendonly yes\nappendfsync always\nsave \"\"\ndaemonize no\nrepl-diskless-sync-delay 0\n",
        port = ports.service(i),
        source = source(i),
        announce = ports.proxy(i),
        dir = dir.display(),
    );
    if i != 1 {
        config.push_str(&format!("replicaof 127.0.0.1 {}\n", ports.proxy(1)));
    }
    config
}

/// Sentinel on machine i: monitors the primary through the proxies, a quorum of a majority.
fn sentinel_config(ports: Ports, machines: u8, i: u8, dir: &Path) -> String {
    format!(
        "port {port}\nbind 127.0.0.1\nprotected-mode no\nbind-source-addr {source}\n\
         sentinel announce-ip 127.0.0.1\nsentinel announce-port {announce}\ndir {dir}\ndaemonize no\n\
         sentinel monitor {MASTER} 127.0.0.1 {primary} {quorum}\n\
         sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n\
         sentinel failover-timeout {MASTER} 3000\nsentinel parallel-syncs {MASTER} 2\n",
        port = ports.second(i),
        source = source(i),
        announce = ports.sentinel_proxy(i),
        dir = dir.display(),
        primary = ports.proxy(1),
        quorum = machines / 2 + 1,
    )
}

/// What machine `machine` shows now (directly, not through the proxies).
async fn look(target: Target, ports: Ports, machines: u8, machine: u8) -> Seen {
    match target {
        Target::Etcd => {
            let Ok(mut client) = etcd_gateway::Client::connect(&local(ports.service(machine))).await else {
                return Seen::default();
            };
            let Ok(response) = client.post("/v3/maintenance/status", "{}").await else {
                return Seen::default();
            };
            let status = response.json().unwrap_or_default();
            let me = status["header"]["member_id"].as_str().map(str::to_string);
            let index = &status["raftIndex"];
            Seen {
                answered: me.is_some(),
                leads: me.is_some() && status["leader"].as_str() == me.as_deref(),
                index: index.as_str().and_then(|index| index.parse().ok()).or(index.as_u64()).unwrap_or(0),
                ..Seen::default()
            }
        }
        Target::Redis | Target::Paxos => {
            let mut seen = Seen::default();
            if let Ok(mut redis) = Client::connect(&local(ports.service(machine))).await {
                if let Ok(Reply::Bulk(Some(info))) = redis.command(&[b"INFO", b"replication"]).await {
                    let info = String::from_utf8_lossy(&info);
                    let field = |name: &str| {
                        info.lines().find_map(|line| line.trim().strip_prefix(name)?.strip_prefix(':'))
                    };
                    seen.answered = true;
                    seen.leads = field("role") == Some("master");
                    seen.offset =
                        field("master_repl_offset").and_then(|offset| offset.parse().ok()).unwrap_or(0);
                    seen.link_up = field("master_link_status") == Some("up");
                    seen.replicates = field("master_port").and_then(|port| port.parse().ok());
                    seen.replicas = info
                        .lines()
                        .find_map(|line| line.trim().strip_prefix("connected_slaves:")?.parse().ok())
                        .unwrap_or(0);
                }
            }
            if let Ok(mut sentinel) = Client::connect(&local(ports.second(machine))).await {
                if let Ok(Reply::Array(parts)) =
                    sentinel.command(&[b"SENTINEL", b"get-master-addr-by-name", MASTER.as_bytes()]).await
                {
                    if let [_, Reply::Bulk(Some(port))] = parts.as_slice() {
                        let port: Option<u16> = String::from_utf8_lossy(port).parse().ok();
                        seen.named = (1..=machines).find(|&i| Some(ports.proxy(i)) == port);
                    }
                }
                if let Ok(Reply::Array(fields)) =
                    sentinel.command(&[b"SENTINEL", b"master", MASTER.as_bytes()]).await
                {
                    let field = |name: &str| {
                        fields.chunks(2).find_map(|pair| match pair {
                            [Reply::Bulk(Some(key)), Reply::Bulk(Some(value))] if key == name.as_bytes() => {
                                String::from_utf8_lossy(value).parse::<u8>().ok()
                            }
                            _ => None,
                        })
                    };
                    seen.complete = field("num-slaves") == Some(machines - 1)
                        && field("num-other-sentinels") == Some(machines - 1);
                }
            }
            seen
        }
    }
}

/// Through etcd member `address`: removes the member with peer URL `url` if it ran before (its
/// data is gone), adds it again (unless an earlier attempt did), and returns the
/// `--initial-cluster` list it must start with.
async fn readd(address: &str, name: &str, url: &str) -> Result<String, String> {
    let mut client = etcd_gateway::Client::connect(address).await.map_err(|error| error.to_string())?;
    let client = &mut client;
    let list = call(client, "/v3/cluster/member/list", "{}".to_string()).await?;
    let mine = list["members"].as_array().into_iter().flatten().find(|member| {
        member["peerURLs"].as_array().is_some_and(|urls| urls.iter().any(|each| each.as_str() == Some(url)))
    });
    let added_before = mine.is_some_and(|member| member["name"].as_str().unwrap_or("").is_empty());
    let members = if added_before {
        list
    } else {
        if let Some(member) = mine {
            let id = member["ID"].as_str().map(str::to_string).unwrap_or_else(|| member["ID"].to_string());
            call(client, "/v3/cluster/member/remove", format!("{{\"ID\":\"{id}\"}}")).await?;
        }
        call(client, "/v3/cluster/member/add", format!("{{\"peerURLs\":[\"{url}\"]}}")).await?
    };
    let cluster: Vec<String> = members["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|member| {
            let peer = member["peerURLs"].as_array()?.first()?.as_str()?;
            let named = member["name"].as_str().filter(|named| !named.is_empty());
            let named = if peer == url { name } else { named? };
            Some(format!("{named}={peer}"))
        })
        .collect();
    Ok(cluster.join(","))
}

/// `POST path` with `body` to etcd's gateway: the JSON answer of a 200.
async fn call(
    client: &mut etcd_gateway::Client,
    path: &str,
    body: String,
) -> Result<serde_json::Value, String> {
    let response = client.post(path, &body).await.map_err(|error| error.to_string())?;
    if response.status != 200 {
        return Err(format!("{path}: {}", response.describe()));
    }
    response.json().ok_or_else(|| format!("{path}: not JSON"))
}

impl Drop for ForeignCluster {
    fn drop(&mut self) {
        for machine in 1..=self.machines {
            self.kill(machine);
        }
    }
}

impl Harnessed for ForeignCluster {
    /// Stops the clients, then waits until they all stopped, every member the schedule started
    /// is up (an etcd member that lost its disk may still be waiting to rejoin), and the cluster
    /// agrees with itself: etcd, every member at the same raft index with a leader; Redis, one
    /// primary that every sentinel names, every other server its replica with the link up, all at
    /// the primary's replication offset.
    fn converge(&mut self, within: Duration) -> Result<Option<Duration>, ChaosError> {
        self.shared.lock().expect("shared").stop = true;
        let started = self.started.elapsed();
        loop {
            let stopped = self.shared.lock().expect("shared").finished;
            let waiting = self.pending.iter().any(|&pending| pending);
            if stopped >= self.clients && !waiting && self.agreed() {
                return Ok(Some(self.started.elapsed() - started));
            }
            if self.started.elapsed() >= started + within {
                let mut nodes = self.progress();
                if let Some(error) = self.rejoin_error.as_ref().filter(|_| waiting) {
                    nodes.push_str(&format!("; {error}"));
                }
                return Err(Liveness::NotConverged { within, stopped, clients: self.clients, nodes }.into());
            }
            let at = self.started.elapsed() + Duration::from_millis(50);
            self.run_until(at)?;
        }
    }

    fn final_reads(&self, keys: usize, within: Duration) -> Result<FinalValues, Liveness> {
        let env =
            RealEnvironment { reach: self.reach.clone(), shared: self.shared.clone(), started: self.started };
        super::final_reads(&self.runtime, &env, keys, "", within)
    }

    fn history(&self) -> String {
        super::history_text(&self.shared)
    }

    fn trace(&self) -> String {
        self.trace.lock().expect("trace").iter().map(|line| format!("{line}\n")).collect()
    }

    fn logs(&self) -> Vec<PathBuf> {
        self.processes.iter().flatten().map(|process| process.log().to_path_buf()).collect()
    }
}

impl Cluster for ForeignCluster {
    fn members(&self) -> Vec<u8> {
        (1..=self.machines).collect()
    }

    fn membership_of(&self, _node: u8) -> Option<MembershipView> {
        None
    }

    fn claim_spare(&mut self) -> Option<u8> {
        None
    }

    fn addresses(&self, node: u8) -> (String, String) {
        (local(self.ports.service(node)), local(self.ports.proxy(node)))
    }

    fn bring_in(&mut self, node: u8) {
        self.note(format!("n{node} not brought in: chaos changes the membership of paxos clusters only"));
    }

    fn decommission(&mut self, node: u8) {
        self.note(format!("n{node} not decommissioned: chaos changes the membership of paxos clusters only"));
    }

    fn decommissioned(&self, _node: u8) -> bool {
        false
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn run_until(&mut self, at: Duration) -> Result<(), ChaosError> {
        let mut retried = self.started.elapsed();
        loop {
            for machine in 1..=self.machines {
                let index = usize::from(machine) - 1;
                if self.down[index] {
                    continue;
                }
                for process in &mut self.processes[index] {
                    if let Some(status) = process.exited() {
                        return Err(ChaosError::Exited {
                            node: machine,
                            status,
                            log: process.log().to_path_buf(),
                        });
                    }
                }
            }
            for machine in 1..=self.machines {
                if self.catching_up[usize::from(machine) - 1] && self.caught_up(machine) {
                    self.catching_up[usize::from(machine) - 1] = false;
                    self.note(format!("n{machine} caught up"));
                }
            }
            let now = self.started.elapsed();
            if now >= retried + Duration::from_secs(1) {
                retried = now;
                let waiting: Vec<u8> =
                    (1..=self.machines).filter(|&machine| self.pending[usize::from(machine) - 1]).collect();
                for machine in waiting {
                    self.bring_up(machine);
                }
            }
            if now >= at {
                return Ok(());
            }
            std::thread::sleep((at - now).min(Duration::from_millis(20)));
        }
    }

    fn leader(&self) -> Option<u8> {
        let seen = self.seen.lock().expect("seen");
        let machines = 1..=self.machines;
        match self.target {
            Target::Etcd => machines.into_iter().find(|&machine| seen[usize::from(machine) - 1].leads),
            Target::Redis | Target::Paxos => {
                // The machine most sentinels name, if its server agrees it is the primary.
                let votes = |candidate: u8| seen.iter().filter(|each| each.named == Some(candidate)).count();
                machines
                    .into_iter()
                    .filter(|&machine| seen[usize::from(machine) - 1].leads && votes(machine) > 0)
                    .max_by_key(|&machine| votes(machine))
            }
        }
    }

    fn is_down(&self, node: u8) -> bool {
        self.down[usize::from(node) - 1]
    }

    /// An etcd member that lost its disk, until it rejoined and its log is within 1,000 entries
    /// of the furthest member's.
    fn recovering(&self, node: u8) -> bool {
        let index = usize::from(node) - 1;
        if self.rejoin[index] {
            return true;
        }
        self.catching_up[index] && !self.caught_up(node)
    }

    fn cut(&mut self, links: &[(u8, u8)]) {
        self.faults.cut(links);
    }

    fn uncut(&mut self, links: &[(u8, u8)]) {
        self.faults.uncut(links);
    }

    fn stall(&mut self, a: u8, b: u8) {
        self.faults.cut(&[(a, b), (b, a)]);
    }

    fn unstall(&mut self, a: u8, b: u8) {
        self.faults.uncut(&[(a, b), (b, a)]);
    }

    fn heal(&mut self) {
        self.faults.heal();
        self.note("heal".to_string());
    }

    fn restart(&mut self, node: u8) {
        self.kill(node);
        let started = self.launch(node);
        self.note(format!(
            "SIGKILL n{node} and restart{}",
            started.err().map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }

    fn crash(&mut self, node: u8) {
        self.kill(node);
        self.down[usize::from(node) - 1] = true;
        self.note(format!("SIGKILL n{node}, kept down (machine crash)"));
    }

    fn start(&mut self, node: u8) {
        self.bring_up(node);
    }

    fn lose_storage(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        let dir = self.data_dirs[index].clone();
        let kept = ["redis.conf", "sentinel.conf"];
        let mut removed = 0;
        if let Ok(entries) = std::fs::read_dir(&dir) {
            for entry in entries.flatten() {
                if kept.iter().any(|name| entry.file_name() == *name) {
                    continue;
                }
                let path = entry.path();
                let gone =
                    if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
                removed += usize::from(gone.is_ok());
            }
        }
        if self.target == Target::Etcd {
            self.rejoin[index] = true;
        }
        self.note(format!(
            "n{node} loses its data ({removed} entries of {} removed{})",
            dir.display(),
            if self.target == Target::Etcd {
                "; it must rejoin as a new member"
            } else {
                "; configuration kept"
            }
        ));
    }

    fn pause(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        let line = super::pause_machine(node, &self.processes[index], &mut self.paused[index]);
        self.note(line);
    }

    fn resume(&mut self, node: u8) {
        let index = usize::from(node) - 1;
        if let Some(line) = super::resume_machine(node, &self.processes[index], &mut self.paused[index]) {
            self.note(line);
        }
    }

    fn clock_jump(&mut self, node: u8, _seconds: f64) {
        self.note(format!(
            "clock of n{node} not changed: clock faults do not apply to {}",
            self.target.name()
        ));
    }

    fn clock_rate(&mut self, node: u8, _rate: f64) {
        self.clock_jump(node, 0.0);
    }

    fn clock_strobe(&mut self, _node: u8, _seconds: f64) {}

    fn flaky_network(&mut self, loss: f64, latency: Duration) {
        self.faults.flaky(loss, latency);
        self.note(format!("proxies: loss {loss}, delay up to {latency:?}"));
    }

    fn steady_network(&mut self) {
        self.faults.flaky(0.0, Duration::ZERO);
        self.note("proxies: reliable".to_string());
    }

    fn admin(&mut self, node: u8, arguments: Vec<String>) -> u64 {
        self.note(format!(
            "operator to n{node}: {} (not sent: {} has no such command)",
            arguments.join(" "),
            self.target.name()
        ));
        0
    }

    fn admin_reply(&self, _ticket: u64) -> Option<String> {
        Some(format!("{} has no such command", self.target.name()))
    }

    fn note(&self, line: String) {
        self.trace
            .lock()
            .expect("trace")
            .push(format!("{:>10.3}s {line}", self.started.elapsed().as_secs_f64()));
    }
}
