//! `chaos real --target etcd|redis --attach`: the workload and the checks against systems nobody
//! here wrote, started by the test as real processes (Debian's etcd-server and redis-server, which
//! `scripts/test.sh` installs). A three-member etcd cluster is linearizable (Jepsen found etcd
//! 3.4.3's key-value operations so); one Redis server is too; reads spread over Redis's
//! asynchronous replicas are not, and the checker says why.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Processes killed when the test ends, however it ends.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chaos-foreign-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A free port on 127.0.0.1 (another process may take it before ours binds it; rare).
fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind").local_addr().expect("addr").port()
}

fn program(name: &str) -> &str {
    let found = Command::new(name).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    assert!(found.is_ok(), "{name} is missing: scripts/test.sh installs it from Debian");
    name
}

fn spawn(command: &mut Command, log: &Path) -> Child {
    let log = std::fs::File::create(log).expect("log file");
    command.stdout(log.try_clone().expect("log")).stderr(log).spawn().expect("start the process")
}

/// Waits until something accepts connections on `port`.
fn listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port} after 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn attach(target: &str, addresses: &[String], seed: u64) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chaos"))
        .args(["real", "--target", target, "--attach", &addresses.join(","), "--duration", "3"])
        .args(["--seed", &seed.to_string()])
        .output()
        .expect("chaos runs")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[test]
fn an_etcd_cluster_attached_to_is_linearizable() {
    let etcd = program("etcd");
    let dir = scratch("etcd");
    let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
    let cluster: Vec<String> =
        ports.iter().enumerate().map(|(i, (_, peer))| format!("e{i}=http://127.0.0.1:{peer}")).collect();
    let mut processes = Processes(Vec::new());
    for (i, (client, peer)) in ports.iter().enumerate() {
        processes.0.push(spawn(
            Command::new(etcd)
                .arg(format!("--name=e{i}"))
                .arg(format!("--data-dir={}", dir.join(format!("e{i}")).display()))
                .arg(format!("--listen-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--advertise-client-urls=http://127.0.0.1:{client}"))
                .arg(format!("--listen-peer-urls=http://127.0.0.1:{peer}"))
                .arg(format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"))
                .arg(format!("--initial-cluster={}", cluster.join(",")))
                .args(["--initial-cluster-state=new", "--log-level=error"]),
            &dir.join(format!("e{i}.log")),
        ));
    }
    for (client, _) in &ports {
        listening(*client);
    }
    let addresses: Vec<String> = ports.iter().map(|(client, _)| format!("127.0.0.1:{client}")).collect();
    let output = attach("etcd", &addresses, 1);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("PASS: linearizable, no acknowledged write lost"), "{report}");
    assert!(report.contains("convergence not observable"), "{report}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One primary and two replicas, without Sentinel. Returns the processes and the three addresses,
/// the primary's first.
fn redis_servers(dir: &Path) -> (Processes, Vec<String>) {
    let redis = program("redis-server");
    let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mut processes = Processes(Vec::new());
    for (i, port) in ports.iter().enumerate() {
        let mut command = Command::new(redis);
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir);
        if i > 0 {
            command.args(["--replicaof", "127.0.0.1", &ports[0].to_string()]);
        }
        processes.0.push(spawn(&mut command, &dir.join(format!("redis-{i}.log"))));
    }
    for port in &ports {
        listening(*port);
    }
    (processes, ports.iter().map(|port| format!("127.0.0.1:{port}")).collect())
}

#[test]
fn one_redis_server_is_linearizable_and_reads_from_its_replicas_are_not() {
    let dir = scratch("redis");
    let (_processes, addresses) = redis_servers(&dir);
    // The primary alone: every operation on one server, which runs them one at a time.
    let output = attach("redis", &addresses[..1], 1);
    let report = text(&output);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("PASS: linearizable"), "{report}");
    // Clients spread over the primary and its replicas: writes to a replica are refused
    // (READONLY: a definite failure), and a replica serves reads before it has the primary's
    // latest writes. Replication on loopback is fast, so a run may miss it: up to five runs.
    let mut found = None;
    for seed in 1..=5 {
        let output = attach("redis", &addresses, seed);
        let report = text(&output);
        if report.contains("FAIL: not linearizable") {
            found = Some(report);
            break;
        }
    }
    let report = found.expect("five runs of reads from Redis replicas found no stale read");
    assert!(report.contains("returned nil") || report.contains("returned \""), "{report}");
    assert!(report.contains("after"), "the explanation names the operation it contradicts: {report}");
    let _ = std::fs::remove_dir_all(&dir);
}
