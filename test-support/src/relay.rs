//! A recording relay: a loopback TCP listener that passes every connection on to a server
//! unchanged and keeps a copy of the bytes that went each way. Put in front of the sandbox's
//! plain-HTTP port, it shows what a client really sent and got — signatures, assertions,
//! tokens — so that a test can look for exactly those. The sandbox reads the origin it was
//! called at from the `Host` header, which names the relay: signed and asserted URLs still
//! verify.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

type Streams = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A running relay.
#[derive(Debug)]
pub struct Relay {
    /// `127.0.0.1:PORT`, to give the client instead of the server's address.
    pub host: String,
    streams: Streams,
}

impl Relay {
    /// Everything that went through so far, each connection's direction on its own (lossy
    /// UTF-8, separated by blank lines).
    pub fn traffic(&self) -> String {
        let streams = lock(&self.streams).clone();
        let mut out = String::new();
        for stream in streams {
            out.push_str(&String::from_utf8_lossy(&lock(&stream)));
            out.push_str("\r\n\r\n");
        }
        out
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts a relay to `upstream`.
pub async fn relay(upstream: SocketAddr) -> Relay {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
    let host = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the listener's address: {e}"))
        .to_string();
    let streams = Streams::default();
    let all = streams.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = TcpStream::connect(upstream).await else {
                continue;
            };
            let (to_server, to_client) = (
                Arc::new(Mutex::new(Vec::new())),
                Arc::new(Mutex::new(Vec::new())),
            );
            lock(&all).extend([to_server.clone(), to_client.clone()]);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            tokio::spawn(pass(client_read, server_write, to_server));
            tokio::spawn(pass(server_read, client_write, to_client));
        }
    });
    Relay { host, streams }
}

/// Copies one direction until either side closes, keeping a copy.
async fn pass(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    copy: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                lock(&copy).extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
