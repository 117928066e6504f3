//! A server that misbehaves on purpose, byte by byte: a raw TCP listener on loopback that reads
//! each request's head and then runs a script on the connection (a huge or endless body, a
//! stall, silence, a redirect, an error for ever). Shared by the clients' hostile-server tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a script returns.
pub type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A running hostile server.
#[derive(Debug)]
pub struct Hostile {
    /// `127.0.0.1:PORT`.
    pub host: String,
    connections: Arc<AtomicUsize>,
}

impl Hostile {
    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

/// Serves every connection with `script`, after reading the request's head.
pub async fn serve(script: impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static) -> Hostile {
    let script = Arc::new(script);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
    let host = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the listener's address: {e}"))
        .to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let script = script.clone();
            tokio::spawn(async move {
                read_request_head(&mut stream).await;
                script(stream).await;
            });
        }
    });
    Hostile { host, connections }
}

async fn read_request_head(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
}

/// Writes a whole answer: status line, headers (`Content-Length` and `Connection: close` added:
/// the script ends the connection, and a client must not try to reuse it) and body.
pub async fn answer(stream: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body).await;
}

/// An answer head announcing `length` bytes that never all come: 64 KiB, then silence.
pub fn huge_body(length: u64) -> impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static {
    move |mut s| {
        Box::pin(async move {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
            );
            let _ = s.write_all(head.as_bytes()).await;
            let _ = s.write_all(&[b' '; 64 * 1024]).await;
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
        })
    }
}

/// A chunked body without end: 16 KiB chunks until the client hangs up.
pub fn endless_body() -> impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static {
    |mut s| {
        Box::pin(async move {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
            let _ = s.write_all(head.as_bytes()).await;
            let chunk = format!("{:x}\r\n{}\r\n", 16 * 1024, " ".repeat(16 * 1024));
            while s.write_all(chunk.as_bytes()).await.is_ok() {}
        })
    }
}

/// A head and the first bytes of a body, then nothing for two minutes.
pub fn stalled_body() -> impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static {
    |mut s| {
        Box::pin(async move {
            let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"stat\":";
            let _ = s.write_all(head.as_bytes()).await;
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        })
    }
}

/// Accepts, reads the request and never answers (for two minutes).
pub fn black_hole() -> impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static {
    |s| {
        Box::pin(async move {
            let _keep = s;
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
        })
    }
}

/// A `302 Found` to `location`.
pub fn redirect(location: String) -> impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static {
    move |mut s| {
        let location = location.clone();
        Box::pin(async move {
            answer(&mut s, "302 Found", &[("Location", location.as_str())], b"").await;
        })
    }
}
