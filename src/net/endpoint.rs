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

/// A real UDP socket bound to `addr`, ready for quinn. Must run inside a tokio runtime.
pub fn bind_udp(addr: SocketAddr) -> io::Result<Arc<dyn AsyncUdpSocket>> {
    let socket = std::net::UdpSocket::bind(addr)?;
    TokioRuntime.wrap_udp_socket(socket)
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

/// A client's endpoint on real UDP, bound to `bind` (port 0 for any), connecting with
/// `client` by default.
pub fn client_endpoint(
    bind: SocketAddr,
    client: quinn::ClientConfig,
) -> Result<Endpoint, EndpointError> {
    let mut endpoint = build_endpoint(bind_udp(bind)?, None, EndpointConfig::default())?;
    endpoint.set_default_client_config(client);
    Ok(endpoint)
}
