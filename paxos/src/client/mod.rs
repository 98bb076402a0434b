//! The Redis protocol on both sides: [`resp`] frames requests and replies (the node's client
//! connections parse with it too), and [`Client`] is a small RESP client for the `paxos client`
//! and `paxos bench` commands and the tests: one connection, commands sent one at a time or
//! pipelined.

pub mod resp;

use resp::Reply;
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A connection to one node (over a TCP stream, or any other stream: the simulation's).
#[derive(Debug)]
pub struct Client<S = TcpStream> {
    stream: S,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Client<TcpStream> {
    /// Connects to `addr` (host:port).
    pub async fn connect(addr: &str) -> io::Result<Client> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Client::new(stream))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client over a connected stream.
    pub fn new(stream: S) -> Client<S> {
        Client { stream, buf: Vec::with_capacity(4096), out: Vec::with_capacity(4096) }
    }

    /// Sends one command and waits for its reply.
    pub async fn command(&mut self, arguments: &[&[u8]]) -> io::Result<Reply> {
        let mut replies = self.pipeline(&[arguments.to_vec()]).await?;
        Ok(replies.pop().expect("one reply per command"))
    }

    /// Sends every command at once and waits for all their replies, in order.
    pub async fn pipeline(&mut self, commands: &[Vec<&[u8]>]) -> io::Result<Vec<Reply>> {
        self.out.clear();
        for command in commands {
            resp::encode_command(command, &mut self.out);
        }
        self.stream.write_all(&self.out).await?;
        let mut replies = Vec::with_capacity(commands.len());
        while replies.len() < commands.len() {
            match resp::parse_reply(&self.buf)
                .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))?
            {
                Some((reply, used)) => {
                    self.buf.drain(..used);
                    replies.push(reply);
                }
                None => {
                    let mut chunk = [0u8; 16 << 10];
                    let read = self.stream.read(&mut chunk).await?;
                    if read == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the node closed the connection",
                        ));
                    }
                    self.buf.extend_from_slice(&chunk[..read]);
                }
            }
        }
        Ok(replies)
    }
}
