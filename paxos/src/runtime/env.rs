//! The small environment the runtime is written against: how to listen, accept and connect, and how
//! to run a task of its own. Tokio's sockets and tasks in production ([`TokioNet`]); turmoil's
//! simulated sockets and tasks local to the simulated host in simulation. Time comes from
//! `tokio::time` in both (turmoil drives tokio's clock), storage from
//! [`FileSystem`](crate::storage::fs::FileSystem), randomness from a seeded generator the caller
//! passes in.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::task::JoinSet;

/// Sockets.
pub trait Net: Clone + Send + Sync + 'static {
    /// A connected stream.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A bound listener.
    type Listener: Send + Sync + 'static;

    /// Binds a listener.
    fn bind(&self, addr: SocketAddr) -> impl Future<Output = io::Result<Self::Listener>> + Send;
    /// Accepts one connection.
    fn accept(
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> + Send;
    /// Connects to `addr` (host:port).
    fn connect(&self, addr: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;
    /// Runs `task` on its own (a connection's handler), to completion or until the runtime ends.
    ///
    /// The simulation runs it as a task of the host's `LocalSet`: a crash then drops the host's
    /// tasks in the order they were spawned. Tokio's runtime drops its own in an order set by
    /// process-wide task ids, so a crash closed the node's connections in an order that depended
    /// on what else the process had run, and a seed did not always replay.
    fn spawn(task: impl Future<Output = ()> + Send + 'static);
    /// Runs `task` in `set` (the node's long-lived tasks, aborted when it stops), as [`Net::spawn`].
    fn spawn_in(set: &mut JoinSet<()>, task: impl Future<Output = ()> + Send + 'static);
}

/// The operating system's sockets, through tokio.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioNet;

impl Net for TokioNet {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<tokio::net::TcpListener> {
        tokio::net::TcpListener::bind(addr).await
    }

    async fn accept(listener: &tokio::net::TcpListener) -> io::Result<(tokio::net::TcpStream, SocketAddr)> {
        let (stream, peer) = listener.accept().await?;
        // Small frames, latency-bound: never wait to coalesce.
        stream.set_nodelay(true)?;
        Ok((stream, peer))
    }

    async fn connect(&self, addr: &str) -> io::Result<tokio::net::TcpStream> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        tokio::spawn(task);
    }

    fn spawn_in(set: &mut JoinSet<()>, task: impl Future<Output = ()> + Send + 'static) {
        set.spawn(task);
    }
}
