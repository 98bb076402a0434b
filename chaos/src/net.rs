//! turmoil's simulated sockets as the node runtime's [`Net`].

use paxos::runtime::Net;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use tokio::task::JoinSet;

/// turmoil's TCP: each simulated host has its own address; partitions, latency and loss are the
/// simulation's.
#[derive(Clone, Copy, Debug, Default)]
pub struct TurmoilNet;

impl Net for TurmoilNet {
    type Stream = turmoil::net::TcpStream;
    type Listener = turmoil::net::TcpListener;

    async fn bind(&self, addr: SocketAddr) -> io::Result<turmoil::net::TcpListener> {
        turmoil::net::TcpListener::bind(addr).await
    }

    async fn accept(
        listener: &turmoil::net::TcpListener,
    ) -> io::Result<(turmoil::net::TcpStream, SocketAddr)> {
        listener.accept().await
    }

    async fn connect(&self, addr: &str) -> io::Result<turmoil::net::TcpStream> {
        turmoil::net::TcpStream::connect(addr).await
    }

    fn spawn(task: impl Future<Output = ()> + Send + 'static) {
        tokio::task::spawn_local(task);
    }

    fn spawn_in(set: &mut JoinSet<()>, task: impl Future<Output = ()> + Send + 'static) {
        set.spawn_local(task);
    }
}
