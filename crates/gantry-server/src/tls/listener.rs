//! The listener axum serves: TCP, and TLS on top when configured. The TLS handshake runs
//! inside the connection's own task (on its first read or write), so a slow or silent client
//! never holds up accepting the next one. Its address type is the peer's `SocketAddr`, so
//! `.tap_io(..)` over it gives handlers `ConnectInfo<SocketAddr>` as for a plain listener.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Sleep;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{Accept, TlsAcceptor};

use super::ServerTls;

/// A client that has not finished its handshake by then is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound TCP listener, serving TLS when it has a configuration.
#[derive(Debug)]
pub struct GantryListener {
    tcp: TcpListener,
    tls: Option<ServerTls>,
}

impl GantryListener {
    pub fn new(tcp: TcpListener, tls: Option<ServerTls>) -> Self {
        Self { tcp, tls }
    }

    pub fn tls(&self) -> Option<&ServerTls> {
        self.tls.as_ref()
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

impl axum::serve::Listener for GantryListener {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        loop {
            match self.tcp.accept().await {
                Ok((tcp, addr)) => {
                    return match &self.tls {
                        None => (Conn::Plain(tcp), addr),
                        Some(tls) => {
                            let accept = TlsAcceptor::from(tls.config()).accept(tcp);
                            (
                                Conn::Handshaking {
                                    accept,
                                    deadline: Box::pin(tokio::time::sleep(HANDSHAKE_TIMEOUT)),
                                    peer: addr,
                                },
                                addr,
                            )
                        }
                    };
                }
                Err(e) => accept_error(e).await,
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// As axum's own listener does: a connection error is the client's and is skipped; anything
/// else (out of file descriptors) waits a moment rather than spinning.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!(error = %e, "accept failed; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// One accepted connection.
pub enum Conn {
    Plain(TcpStream),
    Handshaking {
        accept: Accept<TcpStream>,
        deadline: Pin<Box<Sleep>>,
        peer: SocketAddr,
    },
    Tls(Box<TlsStream<TcpStream>>),
    Closed,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "Conn::Plain",
            Self::Handshaking { .. } => "Conn::Handshaking",
            Self::Tls(_) => "Conn::Tls",
            Self::Closed => "Conn::Closed",
        })
    }
}

impl Conn {
    /// The TCP socket under it (none once closed).
    pub fn tcp(&self) -> Option<&TcpStream> {
        match self {
            Self::Plain(s) => Some(s),
            Self::Handshaking { accept, .. } => accept.get_ref(),
            Self::Tls(s) => Some(s.get_ref().0),
            Self::Closed => None,
        }
    }

    /// Drives the handshake; ready once the stream can carry data.
    fn poll_established(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match self {
                Self::Plain(_) | Self::Tls(_) => return Poll::Ready(Ok(())),
                Self::Closed => return Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
                Self::Handshaking {
                    accept,
                    deadline,
                    peer,
                } => {
                    if let Poll::Ready(done) = Pin::new(&mut *accept).poll(cx) {
                        match done {
                            Ok(stream) => *self = Self::Tls(Box::new(stream)),
                            Err(e) => {
                                // A plain-HTTP client on the TLS port ends up here too.
                                tracing::debug!(peer = %peer, error = %e, "TLS handshake failed");
                                *self = Self::Closed;
                                return Poll::Ready(Err(e));
                            }
                        }
                        continue;
                    }
                    if deadline.as_mut().poll(cx).is_ready() {
                        tracing::debug!(peer = %peer, "TLS handshake timed out");
                        *self = Self::Closed;
                        return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

macro_rules! ready_or_return {
    ($self:ident, $cx:ident) => {
        match $self.poll_established($cx) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    };
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready_or_return!(this, cx);
        match this {
            Self::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready_or_return!(this, cx);
        match this {
            Self::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready_or_return!(this, cx);
        match this {
            Self::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            _ => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(s) => s.is_write_vectored(),
            // Asked once, before the handshake: TLS streams take vectored writes.
            Self::Tls(_) | Self::Handshaking { .. } => true,
            Self::Closed => false,
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready_or_return!(this, cx);
        match this {
            Self::Plain(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match this {
            Self::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            // Nothing was established, so there is nothing to close politely.
            _ => Poll::Ready(Ok(())),
        }
    }
}
