//! Connections between nodes: length-delimited frames (tokio-util) of postcard-encoded [`Frame`]s.
//!
//! Each node dials every other node and sends on that connection only; it receives on the
//! connections the others dialled. A connection begins with a [`Frame::Hello`] naming the cluster,
//! both nodes and the number of Paxos groups: a peer of another cluster, a hello meant for another
//! node, or a peer that runs another number of groups, is refused (any node of the cluster may
//! connect: members come and go with the membership). Every message names its group: the groups
//! of two nodes share one connection. The dialling side
//! sends a [`Frame::Ping`] every keepalive interval and the receiver answers each with a [`Frame::Pong`];
//! a sender that hears no pong for a few intervals treats the connection as dead and dials again,
//! with exponential backoff. The round trip matters: a partition can leave a TCP stream that
//! accepts writes and delivers nothing in one direction while the other still works. Messages that cannot be sent are dropped:
//! the core retransmits what matters.
//!
//! A message whose encoding exceeds one frame (a snapshot of a large state machine) is streamed as
//! [`Frame::Chunk`]s and reassembled by the receiver, up to a configured total.

use super::env::Net;
use crate::core::{ClusterId, Envelope, GroupId, NodeId};
use crate::metrics::PeerMetrics;
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::codec::{FramedRead, FramedWrite, LengthDelimitedCodec};

/// The first frame of a connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The sender's cluster.
    pub cluster: ClusterId,
    /// The sender.
    pub from: NodeId,
    /// The node the sender meant to reach.
    pub to: NodeId,
    /// Where the sender is reached by its peers (its advertised peer address). A receiver that
    /// knows no address for the sender dials this one: a node that restarts knowing only the
    /// membership of its snapshot (or the first members) learns how to answer members added
    /// since, before it has caught up with the changes that name them (as a PhxPaxos node learns
    /// a sender's address from its node id).
    pub address: String,
    /// The Paxos groups the sender runs (groups `0..groups`): the same on every node of a cluster.
    pub groups: u16,
}

/// A message of one group, as the peer connections carry it.
pub type Routed = (GroupId, Envelope);

/// What travels on a peer connection.
#[derive(Debug, Serialize, Deserialize)]
pub enum Frame {
    /// The first frame of a connection.
    Hello(Hello),
    /// One message of one group.
    Message {
        /// The group whose replicas exchange it.
        group: GroupId,
        /// The message.
        envelope: Envelope,
    },
    /// A piece of a message too large for one frame; `last` completes it.
    Chunk {
        /// The bytes.
        bytes: Vec<u8>,
        /// Whether this is the last piece.
        last: bool,
    },
    /// Are you receiving? (sent by the dialling side every keepalive interval)
    Ping,
    /// Yes: the answer to a ping, sent back on the same connection.
    Pong,
}

/// Tuning of the peer connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerOptions {
    /// The largest frame (and chunk).
    pub frame_bytes: usize,
    /// The largest message reassembled from chunks.
    pub message_bytes: usize,
    /// How often a sender pings.
    pub keepalive: Duration,
    /// Silence after which a sender dials again.
    pub dead_after: Duration,
    /// The first and the longest wait between two dials.
    pub backoff: (Duration, Duration),
    /// Messages queued for one peer before new ones are dropped.
    pub queue: usize,
}

impl Default for PeerOptions {
    fn default() -> PeerOptions {
        PeerOptions {
            frame_bytes: 4 << 20,
            message_bytes: 1 << 30,
            keepalive: Duration::from_millis(250),
            dead_after: Duration::from_secs(2),
            backoff: (Duration::from_millis(20), Duration::from_secs(1)),
            queue: 16_384,
        }
    }
}

fn codec(options: &PeerOptions) -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder().max_frame_length(options.frame_bytes).new_codec()
}

fn encode(frame: &Frame) -> tokio_util::bytes::Bytes {
    postcard::to_stdvec(frame).expect("encoding to a Vec cannot fail").into()
}

/// Encodes one frame's body, as a node sends it to a peer (the length prefix comes on top).
pub fn encode_frame(frame: &Frame) -> Vec<u8> {
    encode(frame).to_vec()
}

/// Decodes one frame's body, as a node reads it from a peer.
///
/// # Errors
///
/// The bytes are not a frame.
pub fn decode_frame(body: &[u8]) -> Result<Frame, String> {
    postcard::from_bytes::<Frame>(body).map_err(|error| error.to_string())
}

/// The hello a connection's first frame body holds, if it is one. For tools between the nodes (a
/// test harness's link proxy) that must know who dialled.
pub fn decode_hello(body: &[u8]) -> Option<Hello> {
    match postcard::from_bytes::<Frame>(body).ok()? {
        Frame::Hello(hello) => Some(hello),
        _ => None,
    }
}

/// Sends the messages queued for peer `to` at `addr`, redialling as needed, until the queue closes.
/// Logs when the peer becomes reachable and when it is lost (once each way, not every dial), keeps
/// `reachable` (the last argument's first half) to whether it answers, and records the round trip
/// of every ping and whether the connection is up in `metrics` (its second half).
pub async fn outbound<N: Net>(
    net: N,
    hello: Hello,
    addr: String,
    options: PeerOptions,
    mut queue: mpsc::Receiver<Routed>,
    mut jitter: impl FnMut(Duration) -> Duration + Send,
    (reachable, metrics): (std::sync::Arc<std::sync::atomic::AtomicBool>, Option<PeerMetrics>),
) {
    let mut backoff = options.backoff.0;
    let (me, peer) = (hello.from, hello.to);
    // Whether the peer answered on the last connection: None before the first.
    let mut up: Option<bool> = None;
    let lost = |up: &mut Option<bool>, why: &str| {
        match up {
            // Peers start in any order: not reaching one at first is no news.
            None => {
                tracing::info!(node = %me, %peer, address = %addr, "peer {peer} at {addr} not reachable yet: {why}")
            }
            Some(true) => {
                tracing::warn!(node = %me, %peer, address = %addr, "peer {peer} at {addr} unreachable: {why}")
            }
            Some(false) => {}
        }
        if let Some(metrics) = &metrics {
            metrics.connected.set(0);
        }
        reachable.store(false, std::sync::atomic::Ordering::Relaxed);
        *up = Some(false);
    };
    loop {
        let stream = match tokio::time::timeout(options.dead_after, net.connect(&addr)).await {
            Ok(Ok(stream)) => stream,
            failure => {
                let why = match failure {
                    Ok(Err(error)) => format!("cannot connect: {error}"),
                    _ => format!("no connection within {} ms", options.dead_after.as_millis()),
                };
                lost(&mut up, &why);
                // Whatever was queued meanwhile is stale; the core will send again.
                while let Ok(_dropped) = queue.try_recv() {}
                if queue.is_closed() {
                    return;
                }
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(options.backoff.1);
                continue;
            }
        };
        backoff = options.backoff.0;
        let (read, write) = tokio::io::split(stream);
        let mut sink = FramedWrite::new(write, codec(&options));
        let mut pongs = FramedRead::new(read, codec(&options));
        match tokio::time::timeout(options.dead_after, sink.send(encode(&Frame::Hello(hello.clone())))).await
        {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => {
                lost(&mut up, "the hello could not be sent");
                continue;
            }
        }
        let mut silence = Box::pin(tokio::time::sleep(options.dead_after));
        let mut keepalive = tokio::time::interval(options.keepalive);
        // When each unanswered ping left: pongs come back in order on the one connection.
        let mut pings: std::collections::VecDeque<tokio::time::Instant> = std::collections::VecDeque::new();
        let why = loop {
            tokio::select! {
                biased;
                pong = pongs.next() => match pong {
                    Some(Ok(_)) => {
                        let now = tokio::time::Instant::now();
                        silence.as_mut().reset(now + options.dead_after);
                        if up != Some(true) {
                            tracing::info!(node = %me, %peer, address = %addr, "peer {peer} at {addr} reachable");
                            up = Some(true);
                            reachable.store(true, std::sync::atomic::Ordering::Relaxed);
                            if let Some(metrics) = &metrics {
                                metrics.connected.set(1);
                            }
                        }
                        if let (Some(sent), Some(metrics)) = (pings.pop_front(), &metrics) {
                            metrics.round_trip.observe(now.duration_since(sent).as_secs_f64());
                        }
                    }
                    Some(Err(error)) => break format!("connection failed: {error}"),
                    None => break "connection closed by the peer".to_string(),
                },
                () = &mut silence => break format!("no answer for {} ms", options.dead_after.as_millis()),
                _ = keepalive.tick() => {
                    match tokio::time::timeout(options.dead_after, sink.send(encode(&Frame::Ping))).await {
                        Ok(Ok(())) => pings.push_back(tokio::time::Instant::now()),
                        Ok(Err(error)) => break format!("send failed: {error}"),
                        Err(_) => break format!("a send blocked for {} ms", options.dead_after.as_millis()),
                    }
                }
                routed = queue.recv() => {
                    let Some(routed) = routed else { return };
                    // A write can block for good on a stream that delivers nothing (a partition
                    // fills the window): give up on the stream rather than on the peer.
                    match tokio::time::timeout(options.dead_after, send_message(&mut sink, routed, &options)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => break format!("send failed: {error}"),
                        Err(_) => break format!("a send blocked for {} ms", options.dead_after.as_millis()),
                    }
                }
            }
        };
        lost(&mut up, &why);
    }
}

async fn send_message<W: tokio::io::AsyncWrite + Unpin>(
    sink: &mut FramedWrite<W, LengthDelimitedCodec>,
    (group, envelope): Routed,
    options: &PeerOptions,
) -> Result<(), std::io::Error> {
    let frame = encode(&Frame::Message { group, envelope });
    // The frame header and enum tag take a few bytes of the limit.
    let room = options.frame_bytes - 64;
    if frame.len() <= room {
        return sink.send(frame).await;
    }
    // Stream it: the receiver reassembles the Message frame's bytes.
    let mut pieces = frame.chunks(room).peekable();
    while let Some(piece) = pieces.next() {
        let chunk = Frame::Chunk { bytes: piece.to_vec(), last: pieces.peek().is_none() };
        sink.feed(encode(&chunk)).await?;
    }
    SinkExt::<tokio_util::bytes::Bytes>::flush(sink).await
}

/// Why an inbound connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum InboundError {
    /// The connection ended or failed.
    #[error("connection closed: {0}")]
    Io(#[from] std::io::Error),
    /// The peer sent something that is not a frame of this protocol.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer is not a member of this cluster, or not who this node is.
    #[error("refused: {0}")]
    Refused(String),
}

/// Serves one connection dialled by a peer: checks its hello, passes the sender's id and address
/// to `introduce`, then hands every message to `deliver` until the connection ends. `me` is this
/// node's cluster, id and number of groups.
pub async fn inbound<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    me: (ClusterId, NodeId, u16),
    options: PeerOptions,
    deliver: mpsc::Sender<Routed>,
    introduce: mpsc::UnboundedSender<(NodeId, String)>,
) -> Result<NodeId, InboundError> {
    let (read, write) = tokio::io::split(stream);
    let mut frames = FramedRead::new(read, codec(&options));
    let mut sink = FramedWrite::new(write, codec(&options));
    let decode = |bytes: &[u8]| decode_frame(bytes).map_err(InboundError::Malformed);
    let first = tokio::time::timeout(options.dead_after, frames.next())
        .await
        .map_err(|_| InboundError::Refused("no hello within the deadline".to_string()))?;
    let from = match first {
        None => return Err(InboundError::Refused("closed before its hello".to_string())),
        Some(Err(error)) => return Err(InboundError::Malformed(error.to_string())),
        Some(Ok(bytes)) => match decode(&bytes).map_err(|error| {
            InboundError::Malformed(format!(
                "the first frame ({} bytes) is not a hello: {error}",
                bytes.len()
            ))
        })? {
            Frame::Hello(Hello { cluster, from, to, address, groups }) => {
                if cluster != me.0 {
                    return Err(InboundError::Refused(format!(
                        "node {from} belongs to cluster {cluster}, this is cluster {}",
                        me.0
                    )));
                }
                // Any node of the cluster may connect: members come and go with the membership.
                if to != me.1 || from == me.1 || from.index() >= crate::core::NodeSet::CAPACITY {
                    return Err(InboundError::Refused(format!(
                        "hello from {from} to {to} reached node {}",
                        me.1
                    )));
                }
                if groups != me.2 {
                    return Err(InboundError::Refused(format!(
                        "node {from} runs {groups} Paxos groups, this node {}: every node of a cluster \
                         runs the groups its init set",
                        me.2
                    )));
                }
                let _ = introduce.send((from, address));
                from
            }
            other => return Err(InboundError::Malformed(format!("expected a hello, got {other:?}"))),
        },
    };
    let mut assembling: Vec<u8> = Vec::new();
    loop {
        tokio::select! {
            biased;
            frame = tokio::time::timeout(options.dead_after * 2, frames.next()) => {
                // The sender pings every keepalive interval: silence this long is a dead stream.
                let Ok(frame) = frame else { return Ok(from) };
                let bytes = match frame {
                    None => return Ok(from),
                    Some(Err(error)) if error.kind() == std::io::ErrorKind::InvalidData => {
                        return Err(InboundError::Malformed(error.to_string()))
                    }
                    Some(Err(error)) => return Err(InboundError::Io(error)),
                    Some(Ok(bytes)) => bytes,
                };
                let (group, envelope) = match decode(&bytes)? {
                    Frame::Message { group, envelope } => (group, envelope),
                    Frame::Ping => {
                        match tokio::time::timeout(options.dead_after, sink.send(encode(&Frame::Pong))).await {
                            Ok(Ok(())) => continue,
                            Ok(Err(_)) | Err(_) => return Ok(from),
                        }
                    }
                    Frame::Chunk { bytes, last } => {
                        if assembling.len() + bytes.len() > options.message_bytes {
                            return Err(InboundError::Malformed(format!("a chunked message over {} bytes", options.message_bytes)));
                        }
                        assembling.extend_from_slice(&bytes);
                        if !last {
                            continue;
                        }
                        match decode(&std::mem::take(&mut assembling))? {
                            Frame::Message { group, envelope } => (group, envelope),
                            other => return Err(InboundError::Malformed(format!("chunks of {other:?}"))),
                        }
                    }
                    other => return Err(InboundError::Malformed(format!("unexpected {other:?}"))),
                };
                if envelope.from != from {
                    return Err(InboundError::Refused(format!("a message from {} on {from}'s connection", envelope.from)));
                }
                if group.0 >= me.2 {
                    return Err(InboundError::Malformed(format!("a message of group {}, but the groups are 0 to {}", group.0, me.2 - 1)));
                }
                if deliver.send((group, envelope)).await.is_err() {
                    return Ok(from);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::{Bytes, ClientId, KvStore, Message, Operation, Request, Slot};
    use std::sync::Arc;

    /// A receiver for node 1 of cluster 9 with 4 groups, and a sink on which node 2 has said
    /// hello as a member of `cluster` with `groups` groups.
    async fn dial_as(
        cluster: ClusterId,
        groups: u16,
        options: PeerOptions,
        buffer: usize,
    ) -> (
        tokio::task::JoinHandle<Result<NodeId, InboundError>>,
        FramedWrite<tokio::io::WriteHalf<tokio::io::DuplexStream>, LengthDelimitedCodec>,
        tokio::io::ReadHalf<tokio::io::DuplexStream>,
        mpsc::Receiver<Routed>,
    ) {
        let (near, far) = tokio::io::duplex(buffer);
        let (delivered_tx, delivered) = mpsc::channel(4);
        let (introduce, _) = mpsc::unbounded_channel();
        let receiver =
            tokio::spawn(inbound(far, (ClusterId(9), NodeId(1), 4), options, delivered_tx, introduce));
        let (read, write) = tokio::io::split(near);
        let mut sink = FramedWrite::new(write, codec(&options));
        let hello = Hello { cluster, from: NodeId(2), to: NodeId(1), address: "n2:7379".to_string(), groups };
        sink.send(encode(&Frame::Hello(hello))).await.expect("hello");
        (receiver, sink, read, delivered)
    }

    /// A snapshot far larger than a frame crosses a connection in chunks and arrives whole.
    #[tokio::test]
    async fn a_large_message_is_streamed_in_chunks() {
        let options = PeerOptions { frame_bytes: 4096, ..PeerOptions::default() };
        let mut kv = KvStore::new(1000);
        for n in 0..500u64 {
            let operations = vec![Operation::Put {
                key: Bytes::from(format!("key{n}")),
                value: Bytes::from(vec![b'v'; 200]),
            }];
            kv.apply(&Request { client: ClientId(n + 1), sequence: 1, operations }).expect("apply");
        }
        let envelope = Envelope {
            cluster: ClusterId(9),
            from: NodeId(2),
            incarnation: 0,
            message: Message::Snapshot { slot: Slot(500), state: Arc::new(kv) },
        };
        let (receiver, mut sink, read, mut delivered) = dial_as(ClusterId(9), 4, options, 1 << 16).await;
        let frame = Frame::Message { group: GroupId(3), envelope: envelope.clone() };
        assert!(encode(&frame).len() > 20 * options.frame_bytes);
        send_message(&mut sink, (GroupId(3), envelope.clone()), &options).await.expect("send");
        assert_eq!(delivered.recv().await, Some((GroupId(3), envelope)));
        drop((sink, read));
        receiver.abort();
    }

    /// A node of another cluster is refused at its hello.
    #[tokio::test]
    async fn a_stranger_is_refused() {
        let (receiver, _sink, _read, _delivered) =
            dial_as(ClusterId(8), 4, PeerOptions::default(), 4096).await;
        let error = receiver.await.expect("task").expect_err("refused");
        assert_eq!(
            error.to_string(),
            "refused: node n2 belongs to cluster 0000000000000008, this is cluster 0000000000000009"
        );
    }

    /// A node that runs another number of groups is refused at its hello: the groups of two
    /// nodes would hold different keys.
    #[tokio::test]
    async fn a_peer_with_other_groups_is_refused() {
        let (receiver, _sink, _read, _delivered) =
            dial_as(ClusterId(9), 2, PeerOptions::default(), 4096).await;
        let error = receiver.await.expect("task").expect_err("refused");
        assert_eq!(
            error.to_string(),
            "refused: node n2 runs 2 Paxos groups, this node 4: every node of a cluster runs the groups its init set"
        );
    }

    /// A message of a group the node does not run closes the connection; the groups it runs are
    /// delivered with their group.
    #[tokio::test]
    async fn a_message_is_delivered_to_its_group_and_one_of_no_group_is_refused() {
        let options = PeerOptions::default();
        let (receiver, mut sink, _read, mut delivered) = dial_as(ClusterId(9), 4, options, 4096).await;
        let envelope = Envelope {
            cluster: ClusterId(9),
            from: NodeId(2),
            incarnation: 0,
            message: Message::Prepare {
                ballot: crate::core::Ballot { round: 1, node: NodeId(2) },
                from: Slot(0),
            },
        };
        send_message(&mut sink, (GroupId(2), envelope.clone()), &options).await.expect("send");
        assert_eq!(delivered.recv().await, Some((GroupId(2), envelope.clone())));
        send_message(&mut sink, (GroupId(4), envelope), &options).await.expect("send");
        let error = receiver.await.expect("task").expect_err("refused");
        assert_eq!(error.to_string(), "malformed frame: a message of group 4, but the groups are 0 to 3");
    }
}
