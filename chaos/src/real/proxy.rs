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
use std::net::SocketAddr;
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
}

impl Links {
    /// Every link open.
    pub fn new(nodes: u8) -> Links {
        let count = usize::from(nodes) * usize::from(nodes);
        Links { nodes, states: (0..count).map(|_| watch::channel(LinkState::default()).0).collect() }
    }

    fn index(&self, from: u8, to: u8) -> usize {
        usize::from(from - 1) * usize::from(self.nodes) + usize::from(to - 1)
    }

    /// Changes link `(from, to)`.
    pub fn update(&self, from: u8, to: u8, change: impl FnOnce(&mut LinkState)) {
        self.states[self.index(from, to)].send_modify(change);
    }

    /// Changes every link.
    pub fn update_all(&self, change: impl Fn(&mut LinkState)) {
        for state in &self.states {
            state.send_modify(&change);
        }
    }

    fn watch(&self, from: u8, to: u8) -> watch::Receiver<LinkState> {
        self.states[self.index(from, to)].subscribe()
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
        let links = links.clone();
        let seed = seed ^ (u64::from(from) << 40) ^ (u64::from(to) << 32) ^ connections;
        tokio::spawn(async move {
            let Ok(outbound) = TcpStream::connect(target).await else { return };
            relay(inbound, outbound, &links, (from, to), seed).await;
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
            if links.watch(from, to).wait_for(|link| !link.cut).await.is_err() {
                return;
            }
            if outbound.write_all(&length).await.is_err() || outbound.write_all(&hello).await.is_err() {
                return;
            }
            relay(inbound, outbound, &links, (from, to), seed).await;
        });
    }
}

/// Carries a connection of link `(from, to)` both ways under the links' states until either
/// direction ends (a close, an error, a loss), which ends the connection.
async fn relay(inbound: TcpStream, outbound: TcpStream, links: &Links, (from, to): (u8, u8), seed: u64) {
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (inbound_read, inbound_write) = inbound.into_split();
    let (outbound_read, outbound_write) = outbound.into_split();
    let forward = pump(inbound_read, outbound_write, links.watch(from, to), seed);
    let backward = pump(outbound_read, inbound_write, links.watch(to, from), seed ^ 1);
    tokio::select! {
        () = forward => {}
        () = backward => {}
    }
}

async fn pump(
    mut source: tokio::net::tcp::OwnedReadHalf,
    mut sink: tokio::net::tcp::OwnedWriteHalf,
    mut state: watch::Receiver<LinkState>,
    seed: u64,
) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        // A cut link reads nothing: the sender's writes back up, as behind a black hole.
        if state.wait_for(|link| !link.cut).await.is_err() {
            return;
        }
        let read = match source.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(read) => read,
        };
        // Bytes read just as the link was cut are held until it is repaired.
        let Ok(link) = state.wait_for(|link| !link.cut).await.map(|link| *link) else { return };
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
