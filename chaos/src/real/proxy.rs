//! A userspace proxy on every directed peer link of a real cluster: node i reaches node j only
//! through the proxy of link (i, j), which can hold, delay or break the traffic.
//!
//! A cut link holds its bytes instead of dropping them: the proxy stops reading, the sender's
//! socket buffer fills, its writes block, and nothing arrives: packets vanish and connections hang
//! (they are not refused), as behind a black-holing firewall. When the link is repaired, what was
//! held arrives late, as TCP's retransmissions would deliver it, unless the node gave up on the
//! connection first (its keepalive does after 2 s) and redialled. A connection on link (i, j)
//! carries i's messages to j and j's keepalive answers back; the answers travel as link (j, i).
//! A flaky link delays each chunk by up to its latency and, with its loss probability, breaks the
//! connection (a lost segment that TCP never recovers).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// The state of one directed link.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkState {
    /// Traffic is held.
    pub cut: bool,
    /// Each chunk waits a random time up to this.
    pub latency: Duration,
    /// Probability that a chunk breaks its connection.
    pub loss: f64,
}

/// The links of a cluster of `nodes`: `(from, to)`, 1-based.
pub struct Links {
    nodes: u8,
    states: Vec<watch::Sender<LinkState>>,
    /// Bumped on every change: a connection whose caller is not known yet waits on it.
    changes: watch::Sender<u64>,
}

impl Links {
    /// Every link open.
    pub fn new(nodes: u8) -> Links {
        let count = usize::from(nodes) * usize::from(nodes);
        Links {
            nodes,
            states: (0..count).map(|_| watch::channel(LinkState::default()).0).collect(),
            changes: watch::channel(0).0,
        }
    }

    fn index(&self, from: u8, to: u8) -> usize {
        usize::from(from - 1) * usize::from(self.nodes) + usize::from(to - 1)
    }

    /// Changes link `(from, to)`.
    pub fn update(&self, from: u8, to: u8, change: impl FnOnce(&mut LinkState)) {
        self.states[self.index(from, to)].send_modify(change);
        self.changes.send_modify(|version| *version += 1);
    }

    /// Changes every link.
    pub fn update_all(&self, change: impl Fn(&mut LinkState)) {
        for state in &self.states {
            state.send_modify(&change);
        }
        self.changes.send_modify(|version| *version += 1);
    }

    fn state(&self, from: u8, to: u8) -> LinkState {
        *self.states[self.index(from, to)].borrow()
    }

    /// The state of every link between `node` and the others, one way, combined: cut if any is,
    /// the longest latency, the highest loss. What a connection whose caller is not known yet
    /// crosses: held while any of them is cut.
    fn any(&self, node: u8, inbound: bool) -> LinkState {
        let mut combined = LinkState::default();
        for other in (1..=self.nodes).filter(|&other| other != node) {
            let link = if inbound { self.state(other, node) } else { self.state(node, other) };
            combined.cut |= link.cut;
            combined.latency = combined.latency.max(link.latency);
            combined.loss = combined.loss.max(link.loss);
        }
        combined
    }
}

/// The links as a fault schedule holds them: each cut counted, so that a link held by two faults
/// is repaired when both have ended.
pub struct LinkFaults {
    links: Arc<Links>,
    cuts: BTreeMap<(u8, u8), u32>,
}

impl LinkFaults {
    /// Every link of `links` open, no fault holding any.
    pub fn new(links: Arc<Links>) -> LinkFaults {
        LinkFaults { links, cuts: BTreeMap::new() }
    }

    /// Cuts the directed links (one more fault holds each).
    pub fn cut(&mut self, links: &[(u8, u8)]) {
        for &(from, to) in links {
            let count = self.cuts.entry((from, to)).or_default();
            *count += 1;
            if *count == 1 {
                self.links.update(from, to, |link| link.cut = true);
            }
        }
    }

    /// Releases the directed links (repaired when no fault holds them).
    pub fn uncut(&mut self, links: &[(u8, u8)]) {
        for &(from, to) in links {
            if let Some(count) = self.cuts.get_mut(&(from, to)) {
                *count -= 1;
                if *count == 0 {
                    self.cuts.remove(&(from, to));
                    self.links.update(from, to, |link| link.cut = false);
                }
            }
        }
    }

    /// Repairs every link.
    pub fn heal(&mut self) {
        self.cuts.clear();
        self.links.update_all(|link| link.cut = false);
    }

    /// Every link loses chunks with probability `loss` and delays them up to `latency`
    /// (`0.0` and zero: reliable again).
    pub fn flaky(&self, loss: f64, latency: Duration) {
        self.links.update_all(|link| {
            link.loss = loss;
            link.latency = latency;
        });
    }
}

/// The two ends of a proxied connection: the node behind the proxy, and the machine that called
/// it (0 while not known).
#[derive(Clone)]
struct Ends {
    links: Arc<Links>,
    node: u8,
    caller: Arc<AtomicU8>,
}

impl Ends {
    fn new(links: Arc<Links>, caller: u8, node: u8) -> Ends {
        Ends { links, node, caller: Arc::new(AtomicU8::new(caller)) }
    }

    /// The state of the link one way: from the caller to the node (`forward`) or back.
    fn state(&self, forward: bool) -> LinkState {
        match self.caller.load(Ordering::Relaxed) {
            0 => self.links.any(self.node, forward),
            caller if forward => self.links.state(caller, self.node),
            caller => self.links.state(self.node, caller),
        }
    }

    /// Waits until the link is not cut one way; returns its state then (`None`: the links are
    /// gone).
    async fn open(&self, changes: &mut watch::Receiver<u64>, forward: bool) -> Option<LinkState> {
        changes.wait_for(|_| !self.state(forward).cut).await.ok()?;
        Some(self.state(forward))
    }
}

/// Serves link `(from, to)`: accepts on `listener`, forwards to `target`.
pub async fn serve(
    listener: TcpListener,
    target: SocketAddr,
    links: Arc<Links>,
    from: u8,
    to: u8,
    seed: u64,
) {
    let mut connections = 0u64;
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        connections += 1;
        let ends = Ends::new(links.clone(), from, to);
        let seed = seed ^ (u64::from(from) << 40) ^ (u64::from(to) << 32) ^ connections;
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else { return };
            relay(inbound, outbound, ends, seed, None).await;
        });
    }
}

/// Serves every link to node `to` on one address (a new member's peer address, which the
/// membership gives every node alike): learns who dialled from the connection's first frame, its
/// hello, then forwards to `target` as the proxy of link `(from, to)` would.
pub async fn serve_inbound(listener: TcpListener, target: SocketAddr, links: Arc<Links>, to: u8, seed: u64) {
    let mut connections = 0u64;
    loop {
        let Ok((mut inbound, _)) = listener.accept().await else { continue };
        connections += 1;
        let links = links.clone();
        tokio::spawn(async move {
            // A length-delimited frame: four bytes of length (big-endian), then the hello.
            let mut length = [0u8; 4];
            let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(2), inbound.read_exact(&mut length)).await
            else {
                return;
            };
            let size = u32::from_be_bytes(length) as usize;
            if size > 4096 {
                return;
            }
            let mut hello = vec![0u8; size];
            let Ok(Ok(_)) =
                tokio::time::timeout(Duration::from_secs(2), inbound.read_exact(&mut hello)).await
            else {
                return;
            };
            let Some(greeting) = paxos::runtime::peer::decode_hello(&hello) else { return };
            let from = greeting.from.0;
            if from == 0 || from > links.nodes || from == to {
                return;
            }
            let seed = seed ^ (u64::from(from) << 40) ^ (u64::from(to) << 32) ^ connections;
            let Ok(mut outbound) = TcpStream::connect(target).await else { return };
            // The hello crosses the link like everything after it: held while it is cut.
            let ends = Ends::new(links, from, to);
            if ends.open(&mut ends.links.changes.subscribe(), true).await.is_none() {
                return;
            }
            if outbound.write_all(&length).await.is_err() || outbound.write_all(&hello).await.is_err() {
                return;
            }
            relay(inbound, outbound, ends, seed, None).await;
        });
    }
}

/// Serves every link to node `to` on one address, telling the calling machine from the
/// connection's source address (`caller`: machine i dials from its own loopback address; `None`:
/// not one of the cluster's machines, which passes unhindered, as the harness's own connections
/// do). For processes that can bind their outgoing connections (Redis and Sentinel:
/// `bind-source-addr`).
pub async fn serve_by_source(
    listener: TcpListener,
    target: SocketAddr,
    links: Arc<Links>,
    to: u8,
    caller: impl Fn(SocketAddr) -> Option<u8> + Send + 'static,
    seed: u64,
) {
    let mut connections = 0u64;
    loop {
        let Ok((inbound, source)) = listener.accept().await else { continue };
        connections += 1;
        let from = caller(source).filter(|&from| from != to && from <= links.nodes);
        let seed = seed ^ (u64::from(to) << 32) ^ connections;
        let links = links.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else { return };
            let ends = match from {
                Some(from) => Ends::new(links, from, to),
                // From outside the cluster: a link of its own, never cut.
                None => Ends::new(Arc::new(Links::new(1)), 1, 1),
            };
            relay(inbound, outbound, ends, seed, None).await;
        });
    }
}

/// Serves every link to node `to` on one address for a peer protocol over HTTP/1.1 whose requests
/// name their sender in a header (etcd's `X-PeerURLs: http://HOST:PORT`): `caller` maps the
/// header's value to the calling machine. A connection is identified by the first request that
/// carries the header; until then (etcd's health probes and version checks carry none) it crosses
/// as if from every other machine at once: held while any link into `to` is cut. The header is
/// looked for in every chunk of the connection, across chunk boundaries.
pub async fn serve_http_peer(
    listener: TcpListener,
    target: SocketAddr,
    links: Arc<Links>,
    to: u8,
    header: &'static str,
    caller: impl Fn(&str) -> Option<u8> + Send + Sync + 'static,
    seed: u64,
) {
    let caller = Arc::new(caller);
    let mut connections = 0u64;
    loop {
        let Ok((inbound, _)) = listener.accept().await else { continue };
        connections += 1;
        let ends = Ends::new(links.clone(), 0, to);
        let seed = seed ^ (u64::from(to) << 32) ^ connections;
        let caller = caller.clone();
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else { return };
            let learn = ends.clone();
            let mut tail: Vec<u8> = Vec::new();
            let identify = move |chunk: &[u8]| {
                if learn.caller.load(Ordering::Relaxed) != 0 {
                    return;
                }
                tail.extend_from_slice(chunk);
                if let Some(from) = find_header(&tail, header).and_then(|value| caller(&value)) {
                    if from != learn.node && from <= learn.links.nodes {
                        learn.caller.store(from, Ordering::Relaxed);
                    }
                }
                // Keep enough to find a header split across two chunks.
                let keep = tail.len().saturating_sub(header.len() + 256);
                tail.drain(..keep);
            };
            relay(inbound, outbound, ends, seed, Some(Box::new(identify))).await;
        });
    }
}

/// The value of header `name` (case-insensitive) in `bytes`, if a whole line of it is there.
fn find_header(bytes: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let lower = text.to_ascii_lowercase();
    let key = format!("\r\n{}:", name.to_ascii_lowercase());
    let at = lower.find(&key)? + key.len();
    let end = text[at..].find("\r\n")?;
    Some(text[at..at + end].trim().to_string())
}

/// Looks at every chunk that crosses a connection from its caller.
type Inspect = Box<dyn FnMut(&[u8]) + Send>;

/// Carries a connection both ways under the links' states until either direction ends (a close,
/// an error, a loss), which ends the connection.
async fn relay(inbound: TcpStream, outbound: TcpStream, ends: Ends, seed: u64, inspect: Option<Inspect>) {
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (inbound_read, inbound_write) = inbound.into_split();
    let (outbound_read, outbound_write) = outbound.into_split();
    let forward = pump(inbound_read, outbound_write, &ends, true, seed, inspect);
    let backward = pump(outbound_read, inbound_write, &ends, false, seed ^ 1, None);
    tokio::select! {
        () = forward => {}
        () = backward => {}
    }
}

async fn pump(
    mut source: tokio::net::tcp::OwnedReadHalf,
    mut sink: tokio::net::tcp::OwnedWriteHalf,
    ends: &Ends,
    forward: bool,
    seed: u64,
    mut inspect: Option<Inspect>,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut changes = ends.links.changes.subscribe();
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        // A cut link reads nothing: the sender's writes back up, as behind a black hole.
        if ends.open(&mut changes, forward).await.is_none() {
            return;
        }
        let read = match source.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        if let Some(inspect) = inspect.as_mut() {
            inspect(&buffer[..read]);
        }
        // Bytes read just as the link was cut are held until it is repaired.
        let Some(link) = ends.open(&mut changes, forward).await else { return };
        if link.loss > 0.0 && rng.random_bool(link.loss.min(1.0)) {
            return;
        }
        if link.latency > Duration::ZERO {
            tokio::time::sleep(link.latency.mul_f64(rng.random_range(0.0..1.0))).await;
        }
        if sink.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{find_header, serve_http_peer, Links};
    use std::sync::Arc;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    /// Sends `bytes` and says whether they come back (echoed) within 300 ms.
    async fn crosses(stream: &mut TcpStream, bytes: &[u8]) -> bool {
        stream.write_all(bytes).await.expect("write");
        let mut back = vec![0u8; bytes.len()];
        tokio::time::timeout(Duration::from_millis(300), stream.read_exact(&mut back)).await.is_ok()
    }

    #[test]
    fn a_peer_connection_crosses_as_every_caller_until_a_header_names_one_then_as_that_one() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            // Node 1 behind the proxy echoes what it gets.
            let node = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let target = node.local_addr().expect("addr");
            tokio::spawn(async move {
                while let Ok((mut connection, _)) = node.accept().await {
                    tokio::spawn(async move {
                        let mut buffer = [0u8; 1024];
                        while let Ok(read @ 1..) = connection.read(&mut buffer).await {
                            if connection.write_all(&buffer[..read]).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            });
            let links = Arc::new(Links::new(3));
            let proxy = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let address = proxy.local_addr().expect("addr");
            let caller = |urls: &str| urls.strip_prefix("http://127.0.0.1:")?.parse::<u8>().ok();
            tokio::spawn(serve_http_peer(proxy, target, links.clone(), 1, "X-PeerURLs", caller, 7));
            let mut stream = TcpStream::connect(address).await.expect("connect");
            // Not known yet: held while any link into node 1 is cut, (3, 1) here.
            links.update(3, 1, |link| link.cut = true);
            let probe = b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n\r\n";
            assert!(!crosses(&mut stream, probe).await);
            links.update(3, 1, |link| link.cut = false);
            let mut held = vec![0u8; probe.len()];
            tokio::time::timeout(Duration::from_secs(2), stream.read_exact(&mut held))
                .await
                .expect("delivered once repaired")
                .expect("read");
            // A request naming machine 2: from now on only link (2, 1) and back (1, 2) count.
            assert!(
                crosses(&mut stream, b"POST /raft HTTP/1.1\r\nX-PeerURLs: http://127.0.0.1:2\r\n\r\n").await
            );
            links.update(3, 1, |link| link.cut = true);
            assert!(crosses(&mut stream, b"more").await, "a cut of (3, 1) no longer holds machine 2's bytes");
            links.update(1, 2, |link| link.cut = true);
            assert!(!crosses(&mut stream, b"back").await, "node 1's answers to machine 2 cross (1, 2)");
        });
    }

    #[test]
    fn a_header_is_found_whatever_its_case_and_only_when_its_line_is_whole() {
        let head =
            b"POST /raft HTTP/1.1\r\nHost: x\r\nX-Peerurls: http://127.0.0.1:26579\r\nX-Server-From: 4b8\r\n";
        assert_eq!(find_header(head, "X-PeerURLs").as_deref(), Some("http://127.0.0.1:26579"));
        assert_eq!(find_header(&head[..50], "X-PeerURLs"), None);
        assert_eq!(find_header(b"GET /raft/probing HTTP/1.1\r\nHost: x\r\n", "X-PeerURLs"), None);
    }
}
