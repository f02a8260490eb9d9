//! Serving the router over TCP with bounds: a header-read timeout, an idle timeout, a maximum number
//! of open connections, and a shutdown deadline.
//!
//! * Header read: hyper closes a connection whose request headers are not complete within
//!   `header_read_timeout` of it starting to wait for them — on a new connection and between
//!   requests of a kept-alive one (so it is also the keep-alive idle limit).
//! * Idle: a connection on which no byte moves in either direction for `idle_timeout` is closed
//!   (a client that stops reading a response, say).
//! * Body read: see `JsonObject` (the whole body within the body-read timeout, else 408).
//! * Connections beyond `max_connections` are accepted and closed at once, so they cannot pile up
//!   in the backlog or exhaust file descriptors; so are a client's beyond `max_connections_per_client`
//!   (an IPv4 address, an IPv6 /64; trusted proxies exempt), so one client cannot take every connection.
//! * On shutdown the listener closes, open connections finish their current request and close;
//!   whatever is still open after `shutdown_timeout` is dropped.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

/// Connection bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServeOptions {
    /// Time to receive a request's headers (also the keep-alive idle limit).
    pub header_read_timeout: Duration,
    /// Time with no I/O in either direction before a connection is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once.
    pub max_connections: usize,
    /// Most connections open at once from one client (0: no cap).
    pub max_connections_per_client: usize,
    /// Peers the per-client cap does not apply to (trusted proxies carry many clients).
    pub exempt: Vec<ipnet::IpNet>,
    /// How long shutdown waits for open connections before dropping them.
    pub shutdown_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_connections: 512,
            max_connections_per_client: 128,
            exempt: Vec::new(),
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// Raises the soft limit of open files to the hard limit (so that `max_connections` fits).
pub fn raise_open_file_limit() {
    #[cfg(unix)]
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains connections (at most
/// `options.shutdown_timeout`). Each request carries `ConnectInfo<SocketAddr>` of its peer.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let per_client = Arc::new(PerClient {
        max: options.max_connections_per_client,
        exempt: options.exempt.clone(),
        open: Default::default(),
    });
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection limit reached; closing the new connection");
            drop(stream);
            continue;
        };
        let Some(own) = per_client.open(peer.ip()) else {
            tracing::debug!(%peer, "per-client connection limit reached; closing the new connection");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = app
            .clone()
            .map_request(move |mut req: axum::extract::Request<_>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let io = TokioIo::new(IdleTimeout::new(stream, options.idle_timeout));
        let connection = http.serve_connection(io, TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(slot);
            drop(own);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(options.shutdown_timeout) => {
            tracing::warn!("shutdown deadline reached; dropping the connections still open");
        }
    }
    Ok(())
}

/// A TCP stream that fails with `TimedOut` once no byte has moved for `timeout`.
/// Open connections per client (IPv4 address or IPv6 /64).
struct PerClient {
    max: usize,
    exempt: Vec<ipnet::IpNet>,
    open: std::sync::Mutex<std::collections::HashMap<String, usize>>,
}

/// A client's open connection, counted until dropped.
struct Own {
    clients: Arc<PerClient>,
    key: Option<String>,
}

impl PerClient {
    /// A place for one more connection of `peer`, unless it has its share open.
    fn open(self: &Arc<Self>, peer: std::net::IpAddr) -> Option<Own> {
        let peer = peer.to_canonical();
        if self.max == 0 || self.exempt.iter().any(|net| net.contains(&peer)) {
            return Some(Own {
                clients: self.clone(),
                key: None,
            });
        }
        let key = crate::service::ratelimit::client_key(peer);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Own {
            clients: self.clone(),
            key: Some(key),
        })
    }
}

impl Drop for Own {
    fn drop(&mut self) {
        let Some(key) = &self.key else { return };
        let mut open = self.clients.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                open.remove(key);
            }
        }
    }
}

struct IdleTimeout {
    stream: TcpStream,
    timeout: Duration,
    sleep: Pin<Box<Sleep>>,
}

impl IdleTimeout {
    fn new(stream: TcpStream, timeout: Duration) -> Self {
        IdleTimeout {
            stream,
            timeout,
            sleep: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn progressed(&mut self) {
        self.sleep.as_mut().reset(Instant::now() + self.timeout);
    }

    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle")),
            Poll::Pending => Ok(()),
        }
    }
}

impl AsyncRead for IdleTimeout {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(result) => {
                if buf.filled().len() > before {
                    self.progressed();
                }
                Poll::Ready(result)
            }
            Poll::Pending => {
                self.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl AsyncWrite for IdleTimeout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.progressed();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                self.check(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
