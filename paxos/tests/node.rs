//! Real `paxos node` processes on loopback: writes through one node and reads through another;
//! SIGKILL of the leader, a new leader, the old one restarted and caught up; the whole cluster
//! stopped and started again without losing an acknowledged write. Then the client protocol's
//! errors, garbage on the peer port, and redis-cli.

use paxos::client::resp::Reply;
use paxos::client::Client;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const PAXOS: &str = env!("CARGO_BIN_EXE_paxos");

struct Cluster {
    dir: PathBuf,
    port: u16,
    nodes: BTreeMap<u8, Child>,
    /// What every `paxos node` is given besides its directory.
    arguments: Vec<String>,
}

impl Cluster {
    /// A new cluster of three on free ports.
    fn new(name: &str) -> Cluster {
        Cluster::with_arguments(name, &[])
    }

    /// [`Cluster::new`], every node started with `arguments` too.
    fn with_arguments(name: &str, arguments: &[&str]) -> Cluster {
        Cluster::create(name, &[], arguments)
    }

    /// [`Cluster::new`], created with `init` given `init_arguments` too, and every node started
    /// with `arguments` too.
    fn create(name: &str, init_arguments: &[&str], arguments: &[&str]) -> Cluster {
        let dir = std::env::temp_dir().join(format!("paxos-node-test-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let port = free_ports();
        let status = Command::new(PAXOS)
            .args([
                "init",
                "--nodes",
                "3",
                "--port",
                &port.to_string(),
                "--peer-port",
                &(port + 3).to_string(),
            ])
            .args(init_arguments)
            .arg("--data-dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .status()
            .expect("run paxos init");
        assert!(status.success(), "paxos init failed");
        let arguments = arguments.iter().map(|argument| argument.to_string()).collect();
        let mut cluster = Cluster { dir, port, nodes: BTreeMap::new(), arguments };
        for id in 1..=3 {
            cluster.start(id);
        }
        cluster
    }

    fn addr(&self, id: u8) -> String {
        format!("127.0.0.1:{}", self.port + u16::from(id) - 1)
    }

    /// Where node `id` serves its metrics (every test node does, as an operator's would).
    fn metrics_addr(&self, id: u8) -> String {
        format!("127.0.0.1:{}", self.port + 6 + u16::from(id) - 1)
    }

    /// Node `id`'s log (its standard error).
    fn log(&self, id: u8) -> PathBuf {
        self.dir.join(format!("node-{id}.log"))
    }

    fn start(&mut self, id: u8) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log(id)).expect("node log");
        let child = Command::new(PAXOS)
            .args(["node", "--request-timeout-ms", "1500"])
            .args(&self.arguments)
            .args(["--metrics-addr", &self.metrics_addr(id)])
            .arg("--data-dir")
            .arg(self.dir.join(format!("node-{id}")))
            .stderr(log)
            .spawn()
            .expect("spawn paxos node");
        self.nodes.insert(id, child);
    }

    fn kill(&mut self, id: u8) {
        let mut child = self.nodes.remove(&id).expect("running");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    fn terminate_all(&mut self) {
        for (_, mut child) in std::mem::take(&mut self.nodes) {
            let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while child.try_wait().expect("wait").is_none() {
                assert!(Instant::now() < deadline, "a node did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.nodes.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Nine consecutive free ports (clients 3, peers 3, metrics 3).
fn free_ports() -> u16 {
    let seed = u64::from(std::process::id()) * 7919
        + u64::from(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos(),
        );
    for attempt in 0..200u64 {
        // Below Linux's ephemeral range (32768 up), where outgoing connections take their ports.
        let base = 20_000 + ((seed + attempt * 97) % 12_000) as u16;
        if (base..base + 9).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return base;
        }
    }
    panic!("no nine free consecutive ports");
}

async fn connect(addr: &str) -> Client {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match Client::connect(addr).await {
            Ok(client) => return client,
            Err(error) => {
                assert!(Instant::now() < deadline, "cannot connect to {addr}: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The INFO field `name` of the node at `addr`.
async fn info(addr: &str, name: &str) -> Option<String> {
    let mut client = Client::connect(addr).await.ok()?;
    let Ok(Reply::Bulk(Some(text))) = client.command(&[b"INFO"]).await else { return None };
    let text = String::from_utf8(text).ok()?;
    text.lines().find_map(|line| line.strip_prefix(&format!("{name}:")).map(str::to_string))
}

async fn leader(cluster: &Cluster, among: &[u8]) -> u8 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        for &id in among {
            if info(&cluster.addr(id), "role").await.as_deref() == Some("leader") {
                return id;
            }
        }
        assert!(Instant::now() < deadline, "no leader among {among:?} within 20 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes `key = value` through `addr`, retrying on UNAVAILABLE (an unknown outcome, so the
/// write is retried with the same value until one attempt is acknowledged).
async fn put(addr: &str, key: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut client = connect(addr).await;
        match client.command(&[b"SET", key.as_bytes(), value.as_bytes()]).await {
            Ok(Reply::Simple(ok)) if ok == "OK" => return,
            Ok(Reply::Error(error)) if error.starts_with("UNAVAILABLE") || error.starts_with("BUSY") => {}
            Err(_) => {}
            other => panic!("SET {key} through {addr}: {other:?}"),
        }
        assert!(Instant::now() < deadline, "SET {key} through {addr} not acknowledged within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get(addr: &str, key: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut client = connect(addr).await;
        match client.command(&[b"GET", key.as_bytes()]).await {
            Ok(Reply::Bulk(value)) => return value.map(|bytes| String::from_utf8(bytes).expect("utf-8")),
            Ok(Reply::Error(error)) if error.starts_with("UNAVAILABLE") => {}
            Err(_) => {}
            other => panic!("GET {key} through {addr}: {other:?}"),
        }
        assert!(Instant::now() < deadline, "GET {key} through {addr} not answered within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_survives_a_killed_leader_and_a_full_restart() {
    let mut cluster = Cluster::new("survives");
    let mut acknowledged = BTreeMap::new();
    leader(&cluster, &[1, 2, 3]).await;
    // Write through one node, read through another.
    for n in 0..30 {
        put(&cluster.addr(1), &format!("k{n}"), &format!("v{n}")).await;
        acknowledged.insert(format!("k{n}"), format!("v{n}"));
    }
    for n in 0..30 {
        assert_eq!(
            get(&cluster.addr(2), &format!("k{n}")).await,
            Some(format!("v{n}")),
            "read through node 2"
        );
    }
    // SIGKILL the leader: a new one is chosen and writes go on.
    let old = leader(&cluster, &[1, 2, 3]).await;
    cluster.kill(old);
    let survivors: Vec<u8> = [1, 2, 3].into_iter().filter(|&id| id != old).collect();
    let new = leader(&cluster, &survivors).await;
    assert_ne!(new, old);
    for n in 30..60 {
        put(&cluster.addr(survivors[n % 2]), &format!("k{n}"), &format!("w{n}")).await;
        acknowledged.insert(format!("k{n}"), format!("w{n}"));
    }
    // The old leader restarts and catches up.
    cluster.start(old);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let target: u64 = info(&cluster.addr(new), "applied_slot")
            .await
            .and_then(|slot| slot.parse().ok())
            .unwrap_or(u64::MAX);
        let caught: u64 =
            info(&cluster.addr(old), "applied_slot").await.and_then(|slot| slot.parse().ok()).unwrap_or(0);
        if caught >= target {
            break;
        }
        assert!(Instant::now() < deadline, "node {old} did not catch up: applied {caught} of {target}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(get(&cluster.addr(old), "k59").await.as_deref(), Some("w59"));
    // Stop everything, start again: no acknowledged write is lost.
    cluster.terminate_all();
    for id in 1..=3 {
        cluster.start(id);
    }
    for (key, value) in &acknowledged {
        assert_eq!(get(&cluster.addr(3), key).await.as_ref(), Some(value), "{key} after a full restart");
    }
}

/// A free port on loopback (bound, read, released).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind").local_addr().expect("addr").port()
}

/// Runs `paxos ARGS`; returns whether it succeeded, with its stdout and stderr.
fn paxos(arguments: &[&str]) -> (bool, String, String) {
    let output = Command::new(PAXOS).args(arguments).output().expect("run paxos");
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).expect("utf-8");
    (output.status.success(), text(output.stdout), text(output.stderr))
}

/// The applied slot of the node at `addr` (0 if it does not answer).
async fn applied(addr: &str) -> u64 {
    info(addr, "applied_slot").await.and_then(|slot| slot.parse().ok()).unwrap_or(0)
}

/// An operator's replacement of a node, as the README tells it: `paxos join` creates the new
/// node's directory from the running cluster and adds it as a learner; it starts, catches up,
/// and one `member replace` swaps it in for node 3, which is then stopped for good. Writes before
/// and after survive; bad requests are refused with the reason and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_replaces_a_node_online() {
    let mut cluster = Cluster::new("replace");
    leader(&cluster, &[1, 2, 3]).await;
    for n in 0..20 {
        put(&cluster.addr(1), &format!("k{n}"), &format!("v{n}")).await;
    }
    let (client, peer) = (format!("127.0.0.1:{}", free_port()), format!("127.0.0.1:{}", free_port()));
    let dir = cluster.dir.join("node-4");
    let at = cluster.addr(2);
    let dir_text = dir.to_str().expect("utf-8 path");
    let join = |client: &str, peer: &str, dir: &str| {
        paxos(&["join", "--addr", &at, "--id", "4", "--client", client, "--peer", peer, "--data-dir", dir])
    };
    let (ok, out, err) = join(&client, &peer, dir_text);
    assert!(ok, "paxos join failed: {out}{err}");
    assert!(out.contains("joined cluster") && out.contains("as a learner"), "{out}");
    // The same id again is refused, and leaves nothing behind.
    let other = cluster.dir.join("node-4b");
    let (ok, _, err) = join("127.0.0.1:1", "127.0.0.1:2", other.to_str().expect("utf-8"));
    assert!(!ok && err.contains("4 is already a member"), "{err}");
    assert!(!other.exists());
    cluster.start(4);
    // Promoting it before it has caught up would be refused; wait until it has.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let target = applied(&cluster.addr(1)).await;
        if applied(&client).await >= target && target > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "node 4 did not catch up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (ok, out, err) = paxos(&["member", "--addr", &at, "replace", "3", "4"]);
    assert!(ok, "member replace failed: {out}{err}");
    assert!(out.contains("OK membership version 2"), "{out}");
    cluster.kill(3);
    for n in 20..40 {
        put(&client, &format!("k{n}"), &format!("w{n}")).await;
    }
    assert_eq!(get(&cluster.addr(1), "k39").await.as_deref(), Some("w39"));
    assert_eq!(
        get(&client, "k5").await.as_deref(),
        Some("v5"),
        "node 4 holds what was written before it joined"
    );
    let (ok, list, _) = paxos(&["member", "--addr", &client, "list"]);
    assert!(ok && list.starts_with("membership version 2"), "{list}");
    let roles: Vec<&str> =
        list.lines().skip(1).map(|line| line.split(' ').take(2).last().unwrap_or("")).collect();
    assert_eq!(roles, ["voter", "voter", "voter"], "{list}");
    assert!(!list.lines().any(|line| line.starts_with("3 ")), "node 3 is gone: {list}");
    assert_eq!(info(&client, "membership_version").await.as_deref(), Some("2"));
    assert_eq!(info(&client, "voters").await.as_deref(), Some("3"));
    assert_eq!(info(&client, "learners").await.as_deref(), Some("0"));
    assert_eq!(info(&client, "voter_ids").await.as_deref(), Some("1,2,4"));
    assert_eq!(info(&client, "learner_ids").await.as_deref(), Some(""));
    // Bad requests: the reason, exit code 1, nothing changed.
    for (arguments, reason) in [
        (vec!["add", "2", "127.0.0.1:9", "127.0.0.1:10"], "node n2 is already a member"),
        (vec!["promote", "9"], "node n9 is not a learner"),
        (vec!["remove", "3"], "node n3 is not a member"),
        (vec!["replace", "1", "1"], "the two ids must differ"),
        (vec!["transfer-leader", "64"], "expected a number from 1 to 63"),
    ] {
        let mut all = vec!["member", "--addr", &at];
        all.extend(&arguments);
        let (ok, out, err) = paxos(&all);
        assert!(!ok && err.contains(reason), "member {arguments:?}: {out}{err}");
    }
    let (_, list_after, _) = paxos(&["member", "--addr", &client, "list"]);
    assert!(list_after.starts_with("membership version 2"), "{list_after}");
}

/// Sends raw bytes and returns everything the node answers until it closes (or 2 s pass).
async fn raw(addr: &str, bytes: &[u8]) -> (String, bool) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(bytes).await.expect("write");
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(read)) => answer.extend_from_slice(&chunk[..read]),
            Err(_) => break false,
        }
    };
    (String::from_utf8_lossy(&answer).into_owned(), closed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_errors_are_clear_and_harmless() {
    let cluster = Cluster::new("protocol");
    leader(&cluster, &[1, 2, 3]).await;
    let addr = cluster.addr(1);
    // Errors that keep the connection.
    let (answer, closed) = raw(
        &addr,
        b"*1\r\n$5\r\nHELLO\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*2\r\n$3\r\nSET\r\n$1\r\nk\r\nPING\r\n",
    )
    .await;
    assert!(answer.starts_with("-ERR unknown command 'HELLO'"), "{answer}");
    assert!(answer.contains("$-1\r\n"), "{answer}");
    assert!(answer.contains("-ERR wrong number of arguments for 'set' command"), "{answer}");
    assert!(answer.ends_with("+PONG\r\n"), "{answer}");
    assert!(!closed, "errors in commands keep the connection");
    let big = vec![b'x'; (1 << 20) + 1];
    let mut client = connect(&addr).await;
    let reply = client.command(&[b"SET", b"big", &big]).await.expect("reply");
    assert_eq!(
        reply,
        Reply::Error("ERR an argument of 1048577 bytes is over the limit of 1048576 bytes".into())
    );
    assert_eq!(client.command(&[b"PING"]).await.expect("still open"), Reply::Simple("PONG".into()));
    // Protocol violations close the connection with an error.
    let (answer, closed) = raw(&addr, b"*2\r\n$3\r\nGET\r\n$99999999999\r\n").await;
    assert!(
        answer.starts_with("-ERR Protocol error: a bulk string of 99999999999 bytes is over the limit"),
        "{answer}"
    );
    assert!(closed);
    let (answer, closed) = raw(&addr, b"*2\r\n:3\r\n").await;
    assert!(answer.starts_with("-ERR Protocol error: expected '$'"), "{answer}");
    assert!(closed);
    // Garbage on the peer port, an oversized frame, a hello of another cluster and one meant for
    // another node: each connection is dropped with one log line naming the address and the
    // reason, and the node is unharmed.
    let peer = format!("127.0.0.1:{}", cluster.port + 3);
    let (_, closed) = raw(&peer, b"\x00\x00\x00\x05hello garbage \xff\xfe").await;
    assert!(closed, "the peer connection is closed");
    let (_, closed) = raw(&peer, &[0xff; 64]).await;
    assert!(closed, "an oversized peer frame closes the connection");
    let hello = |cluster: u64, to: u8| {
        let hello = paxos::runtime::peer::Hello {
            cluster: paxos::core::ClusterId(cluster),
            from: paxos::core::NodeId(2),
            to: paxos::core::NodeId(to),
            address: "127.0.0.1:1".to_string(),
            groups: 1,
        };
        let body = paxos::runtime::peer::encode_frame(&paxos::runtime::peer::Frame::Hello(hello));
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend(body);
        frame
    };
    let ours = std::fs::read_to_string(cluster.dir.join("cluster.json")).expect("cluster.json");
    let ours: serde_json::Value = serde_json::from_str(&ours).expect("json");
    let ours = ours["cluster"].as_u64().expect("the cluster id");
    for frame in [hello(ours ^ 1, 1), hello(ours, 9)] {
        let (_, closed) = raw(&peer, &frame).await;
        assert!(closed, "a hello that does not fit is refused");
    }
    put(&addr, "after", "garbage").await;
    assert_eq!(get(&cluster.addr(2), "after").await.as_deref(), Some("garbage"));
    // The node logs as it drops a connection, maybe just after the client saw it close.
    let reasons = ["is not a hello", "frame size too big", "belongs to cluster", "to n9 reached node n1"];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let log = std::fs::read_to_string(cluster.log(1)).expect("node 1's log");
        let lines: Vec<&str> =
            log.lines().filter(|line| line.contains("peer connection from 127.0.0.1:")).collect();
        let counts: Vec<usize> =
            reasons.iter().map(|reason| lines.iter().filter(|line| line.contains(reason)).count()).collect();
        if counts == [1; 4] {
            break;
        }
        assert!(Instant::now() < deadline, "one line for each of {reasons:?}, found {counts:?}: {log}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_works_against_any_node() {
    let redis_cli = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"]
        .into_iter()
        .map(Path::new)
        .find(|path| path.exists());
    let Some(redis_cli) = redis_cli else {
        panic!("redis-cli is missing: scripts/test.sh installs it (Debian's redis-tools)");
    };
    let cluster = Cluster::new("redis-cli");
    leader(&cluster, &[1, 2, 3]).await;
    let run = |id: u8, arguments: &[&str]| {
        let output = Command::new(redis_cli)
            .args(["-p", &(cluster.port + u16::from(id) - 1).to_string()])
            .args(arguments)
            .output()
            .expect("run redis-cli");
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    assert_eq!(run(1, &["SET", "greeting", "hello"]), "OK");
    assert_eq!(run(2, &["GET", "greeting"]), "hello");
    assert_eq!(run(3, &["CAS", "greeting", "hello", "world"]), "1");
    assert_eq!(run(3, &["CAS", "greeting", "hello", "again"]), "0");
    assert_eq!(run(1, &["DEL", "greeting"]), "1");
    assert_eq!(run(2, &["GET", "greeting"]), "");
    assert!(run(2, &["INFO"]).contains("role:"));
}

/// A cluster of four Paxos groups, as `paxos init --groups 4` makes it: leaders spread over the
/// three nodes (group g led by the g mod 3-th node), a pipeline over keys of every group answered
/// in order, a membership change applied in every group (and refused alike by every group when
/// repeated), and a leader transfer of one group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_groups_spread_their_leaders_and_serve_pipelines_across_groups() {
    let cluster = Cluster::create("groups", &["--groups", "4"], &[]);
    let addr = cluster.addr(1);
    let group_leader = |line: &str| -> Option<String> {
        line.split(',').find_map(|field| field.strip_prefix("leader=")).map(str::to_string)
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut leaders = Vec::new();
        for group in 0..4 {
            leaders.push(info(&addr, &format!("group{group}")).await.as_deref().and_then(group_leader));
        }
        if leaders == ["n1", "n2", "n3", "n1"].map(|leader| Some(leader.to_string())) {
            break;
        }
        assert!(Instant::now() < deadline, "leaders {leaders:?} after 30 s; expected n1, n2, n3, n1");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(info(&addr, "groups").await.as_deref(), Some("4"));
    // k0, k2, k3 and k12 are in groups 3, 2, 1 and 0 (pinned in paxos::runtime::groups).
    let mut pipeline = Vec::new();
    for (key, value) in [("k0", "a"), ("k2", "b"), ("k3", "c"), ("k12", "d")] {
        pipeline.extend(format!("*3\r\n$3\r\nSET\r\n${}\r\n{key}\r\n$1\r\n{value}\r\n", key.len()).bytes());
    }
    pipeline.extend(b"*2\r\n$3\r\nGET\r\n$3\r\nk12\r\n*2\r\n$3\r\nGET\r\n$2\r\nk0\r\n");
    let (answer, _) = raw(&cluster.addr(2), &pipeline).await;
    assert_eq!(answer, "+OK\r\n+OK\r\n+OK\r\n+OK\r\n$1\r\nd\r\n$1\r\na\r\n");
    let member = |arguments: &[&str]| {
        let mut command = format!("*{}\r\n$6\r\nMEMBER\r\n", arguments.len() + 1);
        for argument in arguments {
            command.push_str(&format!("${}\r\n{argument}\r\n", argument.len()));
        }
        command.into_bytes()
    };
    let (answer, _) = raw(&addr, &member(&["ADD", "9", "127.0.0.1:1", "127.0.0.1:2"])).await;
    assert_eq!(answer, "+OK membership version 1\r\n");
    for group in 0..4 {
        let line = info(&addr, &format!("group{group}")).await.expect("group line");
        assert!(
            line.ends_with("membership_version=1,voter_ids=1/2/3,learner_ids=9"),
            "group {group}: {line}"
        );
    }
    let (answer, _) = raw(&addr, &member(&["ADD", "9", "127.0.0.1:1", "127.0.0.1:2"])).await;
    assert_eq!(answer, "-ERR node n9 is already a member\r\n");
    let (answer, _) = raw(&addr, &member(&["TRANSFER-LEADER", "2", "9"])).await;
    assert_eq!(answer, "-ERR group \"9\": expected a number from 0 to 3\r\n");
    // Group 0 moves to n3: n3 campaigns (the balancer hands the group back to n1, its preferred
    // leader, within a second or two, so the campaign is what stays observable).
    let elections = |text: Option<String>| text.and_then(|count| count.parse::<u64>().ok()).expect("a count");
    let before = elections(info(&cluster.addr(3), "elections_started").await);
    let (answer, _) = raw(&addr, &member(&["TRANSFER-LEADER", "3", "0"])).await;
    assert!(answer.starts_with("+OK membership version"), "{answer}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while elections(info(&cluster.addr(3), "elections_started").await) == before {
        assert!(Instant::now() < deadline, "n3 did not campaign for group 0 after the transfer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Bad input to the `paxos` command: one line naming the problem, exit code 2.
#[test]
fn command_line_errors_are_one_clear_line() {
    let dir = std::env::temp_dir().join(format!("paxos-node-test-{}-cli", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |arguments: &[&str]| {
        let output = Command::new(PAXOS).args(arguments).output().expect("run paxos");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).trim().to_string())
    };
    let missing = dir.join("nothing");
    let (code, stderr) = run(&["node", "--data-dir", missing.to_str().expect("utf-8")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.starts_with("error: ")
            && stderr.contains("is not a node data directory")
            && stderr.contains("paxos init"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let port = free_ports();
    let cluster = dir.join("cluster");
    // The peer ports are among the nine found free (the default, port + 1000, was not looked at:
    // a node binds its peer port first, and another process held it once in CI).
    let peer_port = (port + 3).to_string();
    let init = [
        "init",
        "--nodes",
        "3",
        "--port",
        &port.to_string(),
        "--peer-port",
        &peer_port,
        "--data-dir",
        cluster.to_str().expect("utf-8"),
    ];
    assert_eq!(run(&init).0, Some(0));
    let (code, stderr) = run(&init);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("already exists") && stderr.lines().count() == 1, "{stderr}");
    // A port in use.
    let _busy = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    let (code, stderr) = run(&["node", "--data-dir", cluster.join("node-1").to_str().expect("utf-8")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|line| line.contains(&format!("cannot listen for clients on 127.0.0.1:{port}"))),
        "{stderr}"
    );
    // A data directory of another cluster.
    let other = dir.join("other");
    assert_eq!(
        run(&[
            "init",
            "--nodes",
            "3",
            "--port",
            &(port + 10).to_string(),
            "--data-dir",
            other.to_str().expect("utf-8")
        ])
        .0,
        Some(0)
    );
    std::fs::copy(other.join("node-2/node.json"), cluster.join("node-2/node.json")).expect("copy");
    let (code, stderr) = run(&["node", "--data-dir", cluster.join("node-2").to_str().expect("utf-8")]);
    assert_eq!(code, Some(2));
    assert!(stderr.lines().last().is_some_and(|line| line.contains("holds the data of cluster")), "{stderr}");
    // A data directory of another node of the same cluster (node 3's data, node 1's file).
    std::fs::copy(cluster.join("node-1/node.json"), cluster.join("node-3/node.json")).expect("copy");
    let (code, stderr) = run(&["node", "--data-dir", cluster.join("node-3").to_str().expect("utf-8")]);
    assert_eq!(code, Some(2));
    assert!(
        stderr
            .lines()
            .last()
            .is_some_and(|line| line.contains("holds the data of node n3, but this node is n1")),
        "{stderr}"
    );
    // Bad flags.
    let (code, stderr) = run(&["bench", "--duration", "soon"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("expected a duration such as 10s or 500ms"), "{stderr}");
    let (code, stderr) = run(&["node", "--data-dir", "x", "--window-slots", "0"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("'--window-slots <WINDOW_SLOTS>': 0 is not in 1..=4096"), "{stderr}");
    // Metrics ports that take a peer port of the cluster (its peers listen from port + 3).
    let metrics = (port + 4).to_string();
    let (code, stderr) =
        run(&["cluster", "--data-dir", cluster.to_str().expect("utf-8"), "--metrics-port", &metrics]);
    assert_eq!(code, Some(2));
    assert_eq!(
        stderr.lines().last(),
        Some(
            format!(
                "error: --metrics-port {metrics}: the metrics ports {metrics}..={} take peer port {} of \
                 n2; choose another",
                port + 6,
                port + 4
            )
            .as_str()
        ),
        "{stderr}"
    );
    // The same for a cluster not created yet: refused before anything is written.
    let fresh = dir.join("fresh");
    let (code, stderr) = run(&[
        "cluster",
        "--data-dir",
        fresh.to_str().expect("utf-8"),
        "--port",
        &(port + 20).to_string(),
        "--metrics-port",
        &(port + 18).to_string(),
    ]);
    assert_eq!(code, Some(2));
    let expected = format!(
        "error: --metrics-port {}: the metrics ports {}..={} take client port {} of n1; choose another",
        port + 18,
        port + 18,
        port + 20,
        port + 20
    );
    assert_eq!(stderr, expected);
    assert!(!fresh.exists(), "nothing is created");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `paxos floor DIR` (and `paxos bench --floor`): round trips to `floor-echo` processes on one core
/// and across two, an fdatasync in DIR whose file is removed after, as text and as JSON.
#[test]
fn the_floor_is_measured_against_another_process() {
    let dir = std::env::temp_dir().join(format!("paxos-floor-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    let json = std::env::temp_dir().join(format!("paxos-floor-test-{}.json", std::process::id()));
    let output = std::process::Command::new(PAXOS)
        .args(["floor", dir.to_str().expect("utf-8"), "--json", json.to_str().expect("utf-8")])
        .output()
        .expect("paxos floor runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with("floor of one write: 2 x "), "{stdout}");
    let figures: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).expect("the JSON is written")).expect("JSON");
    let micros = |name: &str| figures[name].as_u64().unwrap_or_else(|| panic!("{name} in {figures}"));
    let parallelism = std::thread::available_parallelism().map_or(1, usize::from);
    assert_eq!(figures["rtt_across_cores_us"].is_u64(), parallelism > 1, "{figures}");
    let mut names = vec!["rtt_us", "fdatasync_us"];
    if parallelism > 1 {
        names.push("rtt_across_cores_us");
    }
    for name in names {
        assert!(micros(name) > 0 && micros(name) < 1_000_000, "{name}: {figures}");
    }
    // Rounded to microseconds one by one: the sum may differ from the total by the roundings.
    assert!(micros("total_us").abs_diff(2 * micros("rtt_us") + micros("fdatasync_us")) <= 2, "{figures}");
    assert!(std::fs::read_dir(&dir).expect("readable").next().is_none(), "the sync file is removed");
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_file(&json);
}

/// Resident memory of a process, in MB (Linux).
fn rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc status");
    let kb: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kb| kb.parse().ok())
        .expect("VmRSS");
    kb / 1024
}

/// Fifty clients pipeline large SETs without ever reading a reply. Before, every value stayed in
/// memory until a snapshot every 100,000 slots (the retained log was bounded in slots, not bytes,
/// and the storage keeps every value accepted since the last snapshot): three local nodes grew to
/// 1.5 GB each in 20 s and kept it. Now the batches, the leader's queue and the retained log are
/// bounded in bytes (`--memory-budget-mb`), and a snapshot is taken whenever the retained log
/// outgrows its bound: with a budget of 16 MiB, after 120 MB of writes every node stays under
/// 100 MB (it would hold every byte written before), and the cluster still serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_pipeline_without_reading_cannot_grow_a_node_without_bound() {
    let cluster = Cluster::with_arguments("flood", &["--memory-budget-mb", "16"]);
    let leading = leader(&cluster, &[1, 2, 3]).await;
    let target = cluster.addr(leading);
    let value = "v".repeat(4096);
    let command = format!("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n${}\r\n{value}\r\n", value.len()).repeat(64);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut flooders = Vec::new();
    for _ in 0..50 {
        let (target, command, stop) = (target.clone(), command.clone(), stop.clone());
        flooders.push(tokio::spawn(async move {
            let Ok(mut stream) = tokio::net::TcpStream::connect(&target).await else { return };
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // A write blocks once the node stops reading: that is the back-pressure.
                let write =
                    tokio::time::timeout(Duration::from_millis(200), stream.write_all(command.as_bytes()));
                if let Ok(Err(_)) = write.await {
                    return;
                }
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut written = 0;
    let mut peak = 0;
    while written < 120 << 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
        written = info(&cluster.addr(leading), "wal_bytes")
            .await
            .and_then(|bytes| bytes.parse().ok())
            .unwrap_or(written);
        peak = peak.max(cluster.nodes.values().map(|child| rss_mb(child.id())).max().unwrap_or(0));
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for flooder in flooders {
        let _ = flooder.await;
    }
    assert!(written >= 120 << 20, "the flood wrote only {} MB in 60 s", written >> 20);
    println!(
        "{} MB written through the leader's log; peak resident memory of a node {peak} MB",
        written >> 20
    );
    assert!(peak < 100, "a node grew to {peak} MB");
    put(&target, "after", "flood").await;
    assert_eq!(get(&cluster.addr(if leading == 1 { 2 } else { 1 }), "after").await.as_deref(), Some("flood"));
}

/// Past `--max-clients` a new connection is told so and closed, while those open keep working; a
/// connection silent for `--client-idle-timeout-s` is closed (so is a half-open one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_refuses_clients_past_its_limit_and_closes_silent_ones() {
    let cluster = Cluster::with_arguments("limits", &["--max-clients", "3", "--client-idle-timeout-s", "2"]);
    let addr = cluster.addr(1);
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut client = connect(&addr).await;
        assert_eq!(client.command(&[b"PING"]).await.expect("PING"), Reply::Simple("PONG".to_string()));
        open.push(client);
    }
    let mut fourth = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let mut refusal = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), fourth.read_to_end(&mut refusal))
        .await
        .expect("closed")
        .expect("read");
    assert_eq!(String::from_utf8_lossy(&refusal), "-ERR max number of clients reached\r\n");
    assert_eq!(open[0].command(&[b"PING"]).await.expect("PING"), Reply::Simple("PONG".to_string()));
    // One closes: a new one is let in.
    drop(open.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut client = connect(&addr).await;
        if let Ok(Reply::Simple(pong)) = client.command(&[b"PING"]).await {
            assert_eq!(pong, "PONG");
            break;
        }
        assert!(Instant::now() < deadline, "no room for a new client after one closed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Silent for longer than the timeout: closed by the node.
    // (Node 2 may still be starting: connect as soon as it listens.)
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut silent = loop {
        match tokio::net::TcpStream::connect(&cluster.addr(2)).await {
            Ok(stream) => break stream,
            Err(error) => assert!(Instant::now() < deadline, "cannot connect to node 2: {error}"),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let started = Instant::now();
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), silent.read_to_end(&mut rest))
        .await
        .expect("closed")
        .expect("read");
    assert!(
        rest.is_empty() && started.elapsed() >= Duration::from_secs(2),
        "{rest:?} after {:?}",
        started.elapsed()
    );
}

/// `GET path` over HTTP/1.0 from `addr`: the status code and the body.
fn try_http_get(addr: &str, path: &str) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head.split_whitespace().nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// [`try_http_get`] of a server that must be up.
fn http_get(addr: &str, path: &str) -> (u16, String) {
    try_http_get(addr, path).unwrap_or_else(|error| panic!("GET http://{addr}{path}: {error}"))
}

/// The value of the sample `series` (name and labels exactly as exposed) in `text`.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

/// Runs `promtool check metrics` on `text`: its complaints, if any.
fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| {
            panic!("promtool: {error}: scripts/test.sh installs it (Debian's prometheus package)")
        });
    child.stdin.take().expect("stdin").write_all(text.as_bytes()).expect("feed promtool");
    let output = child.wait_with_output().expect("promtool");
    if output.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr)))
    }
}

/// Every node serves its metrics; they count what the node did, exactly where a count is
/// knowable (the commands one client sent through node 1, by command and result), agree with the
/// cluster's state (one leader, a commit point every node reaches), pass the Prometheus
/// project's own linter, and count a write without a quorum as unavailable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_each_node_did_and_pass_promtool() {
    let cluster = Cluster::new("metrics");
    let leading = leader(&cluster, &[1, 2, 3]).await;
    let mut client = connect(&cluster.addr(1)).await;
    for i in 0..5 {
        let reply = client.command(&[b"SET", format!("k{i}").as_bytes(), b"v"]).await.expect("SET");
        assert_eq!(reply, Reply::Simple("OK".to_string()));
    }
    for i in 0..3 {
        client.command(&[b"GET", format!("k{i}").as_bytes()]).await.expect("GET");
    }
    client.command(&[b"CAS", b"k0", b"v", b"w"]).await.expect("CAS");
    client.command(&[b"CAS", b"k0", b"v", b"w"]).await.expect("CAS");
    let unknown = client.command(&[b"FROB", b"x"]).await.expect("FROB");
    assert!(matches!(unknown, Reply::Error(_)), "{unknown:?}");
    client.command(&[b"PING"]).await.expect("PING");
    // Ping round trips are measured every 250 ms; the followers' commit points catch up.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let scrape = |id: u8| {
        let (status, text) = http_get(&cluster.metrics_addr(id), "/metrics");
        assert_eq!(status, 200, "node {id}: {text}");
        text
    };
    let one = scrape(1);
    let requests = |command: &str, result: &str| {
        sample(&one, &format!("paxos_client_requests_total{{command=\"{command}\",result=\"{result}\"}}"))
    };
    assert_eq!(requests("set", "ok"), Some(5.0), "{one}");
    assert_eq!(requests("get", "ok"), Some(3.0));
    assert_eq!(requests("cas", "ok"), Some(2.0), "a CAS that did not swap still succeeded");
    assert_eq!(requests("other", "error"), Some(1.0));
    assert_eq!(requests("ping", "ok"), Some(1.0));
    assert_eq!(requests("set", "busy"), Some(0.0), "every series exists from the start");
    assert_eq!(sample(&one, "paxos_client_request_duration_seconds_count{kind=\"write\"}"), Some(7.0));
    assert_eq!(sample(&one, "paxos_client_request_duration_seconds_count{kind=\"read\"}"), Some(3.0));
    assert_eq!(sample(&one, "paxos_client_connections"), Some(1.0));
    let mut leaders = 0.0;
    for id in 1..=3 {
        let text = if id == 1 { one.clone() } else { scrape(id) };
        if let Err(complaints) = promtool_check(&text) {
            panic!("node {id}: promtool check metrics: {complaints}\n{text}");
        }
        leaders += sample(&text, "paxos_is_leader{group=\"0\"}").expect("is_leader");
        assert_eq!(sample(&text, "paxos_has_leader{group=\"0\"}"), Some(1.0), "node {id}");
        assert!(
            sample(&text, "paxos_apply_index{group=\"0\"}").expect("apply index") >= 7.0,
            "node {id}: {text}"
        );
        assert!(sample(&text, "paxos_wal_fsync_duration_seconds_count").expect("fsyncs") > 0.0, "node {id}");
        assert!(sample(&text, "paxos_wal_written_bytes_total").expect("wal bytes") > 0.0, "node {id}");
        assert_eq!(sample(&text, "paxos_members{group=\"0\",role=\"voter\"}"), Some(3.0), "node {id}");
        for peer in (1..=3).filter(|&peer| peer != id) {
            assert_eq!(
                sample(&text, &format!("paxos_peer_connected{{peer=\"n{peer}\"}}")),
                Some(1.0),
                "node {id}"
            );
            let pings = format!("paxos_peer_round_trip_seconds_count{{peer=\"n{peer}\"}}");
            assert!(sample(&text, &pings).expect("round trips") >= 1.0, "node {id}: {text}");
        }
        assert!(sample(&text, "process_resident_memory_bytes").expect("rss") > 0.0, "node {id}");
    }
    assert_eq!(leaders, 1.0, "exactly one node says it leads");
    let led = scrape(leading);
    assert!(sample(&led, "paxos_batch_requests_count").expect("batches") >= 1.0, "{led}");
    let requests_proposed = sample(&led, "paxos_batch_requests_sum").expect("requests proposed");
    assert!(requests_proposed >= 7.0, "the leader proposed every write at least once: {led}");
    assert_eq!(http_get(&cluster.metrics_addr(1), "/nothing").0, 404);
    // Without a quorum a write's outcome is unknown: counted as unavailable, not as ok or error.
    let metrics_one = cluster.metrics_addr(1);
    let mut cluster = cluster;
    cluster.kill(2);
    cluster.kill(3);
    let reply = client.command(&[b"SET", b"lonely", b"v"]).await.expect("SET");
    assert!(matches!(&reply, Reply::Error(text) if text.starts_with("UNAVAILABLE")), "{reply:?}");
    let after = http_get(&metrics_one, "/metrics").1;
    let unavailable = "paxos_client_requests_total{command=\"set\",result=\"unavailable\"}";
    assert_eq!(sample(&after, unavailable), Some(1.0), "{after}");
    assert_eq!(sample(&after, "paxos_client_requests_total{command=\"set\",result=\"ok\"}"), Some(5.0));
    assert_eq!(sample(&after, "paxos_client_request_duration_seconds_count{kind=\"write\"}"), Some(8.0));
}

/// A real Prometheus server (Debian's) scrapes the three nodes and answers a query on what they
/// did, through its HTTP API: the endpoint works with the system that will read it, not only
/// with a linter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_prometheus_scrapes_the_cluster_and_answers_a_query() {
    let cluster = Cluster::new("prometheus");
    leader(&cluster, &[1, 2, 3]).await;
    let dir = cluster.dir.join("prometheus");
    std::fs::create_dir_all(&dir).expect("prometheus dir");
    let targets: Vec<String> = (1..=3).map(|id| format!("'{}'", cluster.metrics_addr(id))).collect();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: paxos\n    static_configs:\n      - targets: [{}]\n",
        targets.join(", ")
    );
    std::fs::write(dir.join("prometheus.yml"), config).expect("write the configuration");
    let web = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).expect("prometheus log");
    let prometheus = Command::new("prometheus")
        .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{web}"))
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|error| {
            panic!("prometheus: {error}: scripts/test.sh installs it (Debian's prometheus package)")
        });
    struct Stop(Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _prometheus = Stop(prometheus);
    let api = format!("127.0.0.1:{web}");
    let query = |expression: &str| {
        let encoded: String = expression
            .bytes()
            .map(|byte| match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (byte as char).to_string(),
                _ => format!("%{byte:02X}"),
            })
            .collect();
        // Prometheus may still be starting.
        let (status, body) = try_http_get(&api, &format!("/api/v1/query?query={encoded}")).ok()?;
        if status != 200 {
            return None;
        }
        let answer: serde_json::Value = serde_json::from_str(&body).ok()?;
        let results = answer["data"]["result"].as_array()?.clone();
        Some(results)
    };
    let writes = "sum(rate(paxos_client_requests_total{command=\"set\",result=\"ok\"}[15s])) > 0";
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut round = 0;
    loop {
        put(&cluster.addr(1 + round % 3), &format!("key{round}"), "value").await;
        round += 1;
        let up = query("count(up == 1) == 3").unwrap_or_default();
        let rate = query(writes).unwrap_or_default();
        if up.len() == 1 && rate.len() == 1 {
            let value = rate[0]["value"][1].as_str().and_then(|value| value.parse::<f64>().ok());
            assert!(value.is_some_and(|value| value > 0.0), "{rate:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not see three targets up and a write rate within 60 s: up {up:?}, rate {rate:?}; its log: {}",
            std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let leaders = query("sum(paxos_is_leader)").expect("a query answered");
    assert_eq!(leaders[0]["value"][1].as_str(), Some("1"), "{leaders:?}");
}
