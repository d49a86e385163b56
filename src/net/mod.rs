//! The network layer: quinn endpoints, TLS, transport parameters, and the runtime seam.
//!
//! Everything above this module sees only a [`quinn::Endpoint`] and its connections. How
//! datagrams move is decided here and nowhere else: [`bind_udp`] wraps a real UDP socket,
//! and the simulator provides its own [`quinn::AsyncUdpSocket`] through the same
//! [`build_endpoint`] call, so the protocol code is identical on real networks and in
//! simulation.

mod deterministic;
mod endpoint;
mod runtime;
#[cfg(feature = "sim")]
mod sim_link;
#[cfg(feature = "sim")]
mod sim_socket;
mod tls;
mod transport;

pub use deterministic::SeededCrypto;
pub use endpoint::{
    bind_udp, build_endpoint, client_config, client_endpoint, client_endpoint_with,
    platform_endpoint, platform_endpoint_with, server_config, EndpointError,
};
pub use runtime::{run_blocking, system_time, wall_clock};
#[cfg(feature = "sim")]
pub use sim_link::{LinkCounters, LinkFaults};
#[cfg(feature = "sim")]
pub use sim_socket::SimUdpSocket;
pub use tls::{
    certificate_identity, client_crypto, client_crypto_with, client_crypto_with_identity,
    load_certs_pem, load_key_pem, peer_certificate_identity, server_crypto, server_crypto_mtls,
    server_crypto_with, ClientIdentity, SelfSignedCert, ServerVerification, TlsError,
};
pub use transport::{Congestion, TransportSettings, DATAGRAM_RECEIVE_BUFFER};

/// The ALPN protocol identifier of this protocol (specification "QUIC配置").
pub const ALPN: &[u8] = b"video-streaming/1.0";

/// The platform's default UDP port.
pub const DEFAULT_PORT: u16 = 8080;

/// quinn send priority of control streams: above every segment stream (video
/// `128 * 256 + request priority`, audio `255 * 256 + ...`), so a FileRequestAck or a
/// playback reply never waits behind megabytes of queued segments (docs/protocol.md D34).
pub const CONTROL_PRIORITY: i32 = i32::MAX;

/// Writes one whole message on `send` at [`CONTROL_PRIORITY`], finishes the stream, and
/// waits until the peer has every byte (or stopped the stream): what both drivers do with
/// each control message. Failures are the connection's to report; this only ends early.
pub async fn send_message(mut send: quinn::SendStream, bytes: Vec<u8>) {
    let _ = send.set_priority(CONTROL_PRIORITY);
    if send.write_all(&bytes).await.is_ok() {
        finish_and_wait(send).await;
    }
}

/// Finishes `send` and waits until the peer has every byte (or stopped the stream).
pub async fn finish_and_wait(mut send: quinn::SendStream) {
    if send.finish().is_ok() {
        let _ = send.stopped().await;
    }
}

/// Opens a unidirectional stream on `conn` now, so control messages open in the order
/// they are sent, and writes `envelope` on it in the background ([`send_message`]), in a
/// task of `sends` (which a closing driver drains). A stream that cannot be opened means
/// the connection is ending: that is logged, not reported.
pub async fn spawn_control(
    conn: &quinn::Connection,
    sends: &mut tokio::task::JoinSet<()>,
    envelope: &crate::wire::JsonEnvelope,
) {
    match conn.open_uni().await {
        Ok(send) => {
            sends.spawn(send_message(send, envelope.to_bytes()));
        }
        Err(e) => tracing::debug!("cannot send {:?}: {e}", envelope.message_type),
    }
}
