//! quinn endpoints for both roles, built over any [`AsyncUdpSocket`].

use crate::net::{TlsError, TransportSettings};
use quinn::{AsyncUdpSocket, Endpoint, EndpointConfig, Runtime, TokioRuntime};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

/// Why an endpoint could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    /// Binding or wrapping the socket failed.
    #[error("socket: {0}")]
    Io(#[from] io::Error),
    /// The TLS configuration could not be built.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The TLS configuration lacks the cipher suite QUIC's initial packets need.
    #[error("TLS configuration unusable for QUIC: {0}")]
    NoInitialCipherSuite(#[from] quinn::crypto::rustls::NoInitialCipherSuite),
}

/// quinn's server configuration: the given TLS configuration and transport settings.
pub fn server_config(
    crypto: rustls::ServerConfig,
    transport: &TransportSettings,
) -> Result<quinn::ServerConfig, EndpointError> {
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)?;
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(quic));
    config.transport_config(Arc::new(transport.to_quinn()));
    Ok(config)
}

/// quinn's client configuration: the given TLS configuration and transport settings.
pub fn client_config(
    crypto: rustls::ClientConfig,
    transport: &TransportSettings,
) -> Result<quinn::ClientConfig, EndpointError> {
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(crypto)?;
    let mut config = quinn::ClientConfig::new(Arc::new(quic));
    config.transport_config(Arc::new(transport.to_quinn()));
    Ok(config)
}

/// Socket buffer size asked of the kernel for each UDP socket (it may grant less: Linux
/// caps it at `net.core.rmem_max` / `wmem_max`).
const UDP_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// A real UDP socket bound to `addr`, ready for quinn. Must run inside a tokio runtime.
///
/// The socket's buffers are raised towards [`UDP_BUFFER_BYTES`]: with the kernel's default
/// (about 208 KiB) a receiver that is busy for a millisecond (writing to disk, hashing)
/// drops datagrams at the socket, and the sender's congestion controller reads that as
/// network loss. On loopback the default lost more than half of the datagrams of a
/// 256 MiB upload.
pub fn bind_udp(addr: SocketAddr) -> io::Result<Arc<dyn AsyncUdpSocket>> {
    let socket = std::net::UdpSocket::bind(addr)?;
    grow_buffers(&socket);
    TokioRuntime.wrap_udp_socket(socket)
}

/// Asks for [`UDP_BUFFER_BYTES`] of receive and send buffer; says so when the kernel
/// grants much less (the socket still works, with more loss under load).
fn grow_buffers(socket: &std::net::UdpSocket) {
    let socket = socket2::SockRef::from(socket);
    let _ = socket.set_recv_buffer_size(UDP_BUFFER_BYTES);
    let _ = socket.set_send_buffer_size(UDP_BUFFER_BYTES);
    if let Ok(granted) = socket.recv_buffer_size() {
        if granted < UDP_BUFFER_BYTES / 4 {
            tracing::info!(
                "UDP receive buffer is {} KiB (asked {} KiB): raise net.core.rmem_max for \
                 fewer drops under load",
                granted / 1024,
                UDP_BUFFER_BYTES / 1024
            );
        }
    }
}

/// The runtime seam: an endpoint over any datagram socket (real UDP from [`bind_udp`], or
/// the simulator's), driven by tokio's clock.
pub fn build_endpoint(
    socket: Arc<dyn AsyncUdpSocket>,
    server: Option<quinn::ServerConfig>,
    config: EndpointConfig,
) -> io::Result<Endpoint> {
    Endpoint::new_with_abstract_socket(config, server, socket, Arc::new(TokioRuntime))
}

/// The platform's endpoint on real UDP: accepts connections on `listen`.
pub fn platform_endpoint(
    listen: SocketAddr,
    server: quinn::ServerConfig,
) -> Result<Endpoint, EndpointError> {
    Ok(build_endpoint(
        bind_udp(listen)?,
        Some(server),
        EndpointConfig::default(),
    )?)
}

/// [`platform_endpoint`] accepting datagrams up to `transport.max_udp_payload` (D102).
pub fn platform_endpoint_with(
    listen: SocketAddr,
    server: quinn::ServerConfig,
    transport: &TransportSettings,
) -> Result<Endpoint, EndpointError> {
    Ok(build_endpoint(
        bind_udp(listen)?,
        Some(server),
        transport.endpoint_config(),
    )?)
}

/// A client's endpoint on real UDP, bound to `bind` (port 0 for any), connecting with
/// `client` by default.
pub fn client_endpoint(
    bind: SocketAddr,
    client: quinn::ClientConfig,
) -> Result<Endpoint, EndpointError> {
    client_endpoint_with(bind, client, &TransportSettings::default())
}

/// [`client_endpoint`] accepting datagrams up to `transport.max_udp_payload` (D102).
pub fn client_endpoint_with(
    bind: SocketAddr,
    client: quinn::ClientConfig,
    transport: &TransportSettings,
) -> Result<Endpoint, EndpointError> {
    let mut endpoint = build_endpoint(bind_udp(bind)?, None, transport.endpoint_config())?;
    endpoint.set_default_client_config(client);
    Ok(endpoint)
}
