//! The core alone: three replicas stepped in memory on one thread, no fsync, no network. Clients
//! keep `CLIENTS` (default 1024) 100-byte writes outstanding; the figures are commands committed
//! (answered by the leader) per second of that one thread (all three replicas' work), and per
//! second of CPU spent in the leader's own steps (what one node's core must do, since each replica
//! of a deployment has its own). Both must stay far above what a node's disk and network allow.
//!
//! Run: `cargo bench -p paxos --bench core` (target: ≥ 1,000,000 commands/s).

use paxos::core::{
    Action, Bytes, ClientId, ClusterId, Config, DurableState, Input, NodeId, Operation, Output, Replica,
    Request, Schedule, Status, Timer,
};
use std::collections::VecDeque;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::time::{Duration, Instant};

const CLIENTS_DEFAULT: u64 = 1024;
const KEYS: u64 = 1024;
const VALUE_BYTES: usize = 84; // with a 16-byte key: 100 bytes of payload per command
const TARGET: f64 = 1_000_000.0;

struct Cluster {
    replicas: Vec<Replica>,
    network: VecDeque<(NodeId, paxos::core::Envelope)>,
    replies: Vec<(u64, u64)>,
    /// Time spent inside each replica's `step`.
    busy: Vec<Duration>,
}

impl Cluster {
    fn new() -> Cluster {
        let members = vec![NodeId(1), NodeId(2), NodeId(3)];
        let replicas = members
            .iter()
            .map(|&node| {
                let mut config = Config::new(node, members.clone());
                config.window_slots = 8;
                config.batch_requests_max = 1024;
                config.snapshot_interval_slots = u64::MAX;
                Replica::new(config, DurableState::initial(ClusterId(1), node), 1)
                    .expect("valid configuration")
            })
            .collect();
        Cluster { replicas, network: VecDeque::new(), replies: Vec::new(), busy: vec![Duration::ZERO; 3] }
    }

    fn step(&mut self, index: usize, input: Input, out: &mut Vec<Output>) {
        out.clear();
        let started = Instant::now();
        self.replicas[index].step(input, out);
        self.busy[index] += started.elapsed();
        // Persists are durable at once here: the early sends, then the rest.
        let schedule = Schedule::new(out.drain(..));
        for action in schedule.immediately.into_iter().chain(schedule.after_persists) {
            match action {
                Action::Send { to, envelope } => self.network.push_back((to, envelope)),
                Action::Reply(response) => {
                    assert!(response.result.is_ok(), "{response:?}");
                    self.replies.push((response.client.0, response.sequence));
                }
            }
        }
    }

    fn drain(&mut self, out: &mut Vec<Output>) {
        while let Some((to, envelope)) = self.network.pop_front() {
            self.step(usize::from(to.0) - 1, Input::Receive(envelope), out);
        }
    }
}

/// What a runtime decodes from a client: a fresh value; keys come from a small set.
fn request(keys: &[Bytes], client: u64, sequence: u64) -> Request {
    let key = keys[((client * 7919 + sequence) % KEYS) as usize].clone();
    let mut value = vec![b'v'; VALUE_BYTES];
    value[..8].copy_from_slice(&sequence.to_le_bytes());
    Request {
        client: ClientId(client),
        sequence,
        operations: vec![Operation::Put { key, value: value.into() }],
    }
}

fn main() {
    let clients: u64 = std::env::var("CLIENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(CLIENTS_DEFAULT);
    let mut cluster = Cluster::new();
    let mut out = Vec::new();
    cluster.step(0, Input::Timeout(Timer::Election), &mut out);
    cluster.drain(&mut out);
    assert_eq!(cluster.replicas[0].status(), Status::Leader);

    let keys: Vec<Bytes> = (0..KEYS).map(|key| Bytes::from(format!("key-{key:012}"))).collect();
    let mut ready: Vec<Request> = (1..=clients).map(|client| request(&keys, client, 1)).collect();
    let mut committed = 0u64;
    let started = Instant::now();
    let budget = Duration::from_secs(5);
    while started.elapsed() < budget {
        // The runtime hands the core every request that arrived since its last step.
        let requests = std::mem::take(&mut ready);
        cluster.step(0, Input::Requests(requests), &mut out);
        cluster.drain(&mut out);
        for (client, sequence) in cluster.replies.drain(..) {
            committed += 1;
            ready.push(request(&keys, client, sequence + 1));
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = committed as f64 / seconds;
    let leader_seconds = cluster.busy[0].as_secs_f64();
    let leader_rate = committed as f64 / leader_seconds;
    let leader = &cluster.replicas[0];
    let slots = leader.log().commit().0;
    println!("core benchmark: 3 replicas in memory, one thread, {clients} clients, 100-byte puts");
    println!("  commands committed   {committed}");
    println!(
        "  slots chosen         {slots} ({:.0} commands per slot)",
        committed as f64 / slots.max(1) as f64
    );
    println!("  seconds              {seconds:.2}");
    println!(
        "  all three replicas on one thread: {rate:.0} commands/s ({:.2}x the {TARGET:.0} target)",
        rate / TARGET
    );
    println!(
        "  the leader's own steps ({leader_seconds:.2} s of CPU): {leader_rate:.0} commands/s ({:.2}x the target)",
        leader_rate / TARGET
    );
    // Followers learn the last commit point from the next heartbeat.
    cluster.step(0, Input::Timeout(Timer::Heartbeat), &mut out);
    cluster.drain(&mut out);
    for replica in &cluster.replicas {
        assert_eq!(replica.kv(), cluster.replicas[0].kv(), "replicas diverged");
    }
}
