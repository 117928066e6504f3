//! A server that misbehaves on purpose, byte by byte: a raw TCP listener on loopback that reads
//! each request (and keeps it) and then runs a script on the connection (a huge or endless body, a
//! stall, silence, a redirect, an error for ever). Shared by the clients' hostile-server tests.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

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
    heads: Arc<Mutex<Vec<Head>>>,
}

impl Hostile {
    /// How many connections it accepted.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Every request it read, in the order they came: what a client sent it, credentials
    /// included.
    pub fn requests(&self) -> Vec<Head> {
        self.heads
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }
}

/// A request as it came over the wire: its head (request line and headers) and its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The head's text (lossy UTF-8), request line first, up to the blank line.
    pub text: String,
    /// The body its `Content-Length` announced (lossy UTF-8; at most 1 MiB of it).
    pub body: String,
}

impl Head {
    /// The request target (`/path?query`).
    pub fn target(&self) -> &str {
        self.text
            .lines()
            .next()
            .and_then(|line| line.split(' ').nth(1))
            .unwrap_or("")
    }

    /// A query parameter of the target, as sent (not decoded).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        let (_, query) = self.target().split_once('?')?;
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
    }

    /// The value of a header (the first one of that name, any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.text.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Serves every connection with `script`, after reading the request's head.
pub async fn serve(script: impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static) -> Hostile {
    serve_requests(move |_, stream| script(stream)).await
}

/// Serves every connection with `script`, which also gets the request's head.
pub async fn serve_requests(
    script: impl Fn(Head, TcpStream) -> BoxFuture + Send + Sync + 'static,
) -> Hostile {
    let script = Arc::new(script);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("binding a loopback port: {e}"));
    let host = listener
        .local_addr()
        .unwrap_or_else(|e| panic!("the listener's address: {e}"))
        .to_string();
    let connections = Arc::new(AtomicUsize::new(0));
    let heads = Arc::new(Mutex::new(Vec::new()));
    let (count, seen) = (connections.clone(), heads.clone());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let (script, seen) = (script.clone(), seen.clone());
            tokio::spawn(async move {
                let head = read_request_head(&mut stream).await;
                seen.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .push(head.clone());
                script(head, stream).await;
            });
        }
    });
    Hostile {
        host,
        connections,
        heads,
    }
}

/// Reads up to the blank line ending the head (at most 64 KiB: the clients' heads are small),
/// then the body its `Content-Length` announces (at most 1 MiB).
async fn read_request_head(stream: &mut TcpStream) -> Head {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        if let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        if seen.len() >= 64 * 1024 {
            break seen.len();
        }
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break seen.len(),
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    };
    let mut head = Head {
        text: String::from_utf8_lossy(&seen[..end]).into_owned(),
        body: String::new(),
    };
    let length = head
        .header("content-length")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(0)
        .min(1024 * 1024);
    let mut body = seen.get(end + 4..).unwrap_or_default().to_vec();
    while body.len() < length {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
        }
    }
    head.body = String::from_utf8_lossy(&body).into_owned();
    head
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
    redirect_with("302 Found", location)
}

/// A redirect with this status (`"307 Temporary Redirect"`, …) to `location`. A 307 or 308
/// asks a client that follows it to send the same method and body again — a POST's form, a
/// client assertion in it.
pub fn redirect_with(
    status: &'static str,
    location: String,
) -> impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static {
    move |mut s| {
        let location = location.clone();
        Box::pin(async move {
            answer(&mut s, status, &[("Location", location.as_str())], b"").await;
        })
    }
}

/// A `200 OK` whose body is `length` bytes of spaces, written as fast as the client reads them:
/// announced in `Content-Length` when `announced`, else chunked, so that nothing tells the
/// client its size before the bytes are there. Ends when all is sent or the client hangs up.
pub fn sized_body(
    length: u64,
    announced: bool,
) -> impl Fn(TcpStream) -> BoxFuture + Send + Sync + 'static {
    const CHUNK: usize = 64 * 1024;
    move |mut s| {
        Box::pin(async move {
            let framing = if announced {
                format!("Content-Length: {length}")
            } else {
                "Transfer-Encoding: chunked".to_owned()
            };
            let head =
                format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing}\r\n\r\n");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let spaces = [b' '; CHUNK];
            let mut left = length;
            while left > 0 {
                let n = usize::try_from(left).map_or(CHUNK, |left| left.min(CHUNK));
                let sent = if announced {
                    s.write_all(&spaces[..n]).await
                } else {
                    let mut chunk = format!("{n:x}\r\n").into_bytes();
                    chunk.extend_from_slice(&spaces[..n]);
                    chunk.extend_from_slice(b"\r\n");
                    s.write_all(&chunk).await
                };
                if sent.is_err() {
                    return;
                }
                left -= n as u64;
            }
            if !announced {
                let _ = s.write_all(b"0\r\n\r\n").await;
            }
        })
    }
}
