//! The network layer on real loopback UDP: TLS 1.3 with ALPN `video-streaming/1.0`,
//! certificate verification, and clean refusals.

use std::net::SocketAddr;
use vstream::net::{
    client_config, client_crypto, client_endpoint, platform_endpoint, server_config, server_crypto,
    SelfSignedCert, ServerVerification, TransportSettings, ALPN,
};

const LOOPBACK: &str = "127.0.0.1:0";

fn platform(cert: &SelfSignedCert) -> quinn::Endpoint {
    let crypto = server_crypto(vec![cert.cert.clone()], cert.key.clone_key().into()).unwrap();
    let config = server_config(crypto, &TransportSettings::default()).unwrap();
    platform_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
}

fn client(verification: ServerVerification, alpn: &[u8]) -> quinn::Endpoint {
    let crypto = client_crypto(&verification, alpn).unwrap();
    let config = client_config(crypto, &TransportSettings::default()).unwrap();
    client_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
}

fn addr(endpoint: &quinn::Endpoint) -> SocketAddr {
    endpoint.local_addr().unwrap()
}

/// The TLS alert a refused handshake carries, as a QUIC CRYPTO_ERROR (0x100 + alert).
fn crypto_alert(err: &quinn::ConnectionError) -> Option<u64> {
    let code = match err {
        quinn::ConnectionError::ConnectionClosed(close) => u64::from(close.error_code),
        quinn::ConnectionError::TransportError(t) => u64::from(t.code),
        _ => return None,
    };
    (0x100..0x200).contains(&code).then(|| code - 0x100)
}

/// A platform that accepts and completes handshakes, and nothing else.
fn accept_forever(server: quinn::Endpoint) {
    tokio::spawn(async move {
        while let Some(incoming) = server.accept().await {
            let _ = incoming.await;
        }
    });
}

#[tokio::test]
async fn client_verifying_the_ca_reaches_the_platform_and_streams_bytes() {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let server = platform(&cert);
    let server_addr = addr(&server);
    let accept = tokio::spawn(async move {
        let conn = server.accept().await.unwrap().await.unwrap();
        let mut recv = conn.accept_uni().await.unwrap();
        let data = recv.read_to_end(1024).await.unwrap();
        let alpn = conn
            .handshake_data()
            .unwrap()
            .downcast::<quinn::crypto::rustls::HandshakeData>()
            .unwrap()
            .protocol
            .unwrap();
        (data, alpn)
    });
    let client = client(ServerVerification::Roots(vec![cert.cert.clone()]), ALPN);
    let conn = client
        .connect(server_addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let mut send = conn.open_uni().await.unwrap();
    send.write_all(b"hello platform").await.unwrap();
    send.finish().unwrap();
    let (data, alpn) = accept.await.unwrap();
    assert_eq!(data, b"hello platform");
    assert_eq!(alpn, ALPN);
}

#[tokio::test]
async fn wrong_alpn_is_refused_with_no_application_protocol() {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let server = platform(&cert);
    let server_addr = addr(&server);
    accept_forever(server);
    let client = client(
        ServerVerification::Roots(vec![cert.cert.clone()]),
        b"other/1.0",
    );
    let err = client
        .connect(server_addr, "localhost")
        .unwrap()
        .await
        .unwrap_err();
    // TLS alert 120 = no_application_protocol (RFC 7301).
    assert_eq!(crypto_alert(&err), Some(120), "{err}");
}

#[tokio::test]
async fn untrusted_certificate_is_refused_by_the_client() {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let other = SelfSignedCert::generate(&["localhost"]).unwrap();
    let server = platform(&cert);
    let server_addr = addr(&server);
    accept_forever(server);
    let client = client(ServerVerification::Roots(vec![other.cert.clone()]), ALPN);
    let err = client
        .connect(server_addr, "localhost")
        .unwrap()
        .await
        .unwrap_err();
    // The client aborts the handshake with a TLS alert (bad_certificate / unknown_ca...).
    assert!(
        crypto_alert(&err).is_some(),
        "expected a TLS alert, got {err}"
    );
}

#[tokio::test]
async fn insecure_client_accepts_any_certificate() {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let server = platform(&cert);
    let server_addr = addr(&server);
    accept_forever(server);
    let client = client(ServerVerification::Insecure, ALPN);
    let conn = client
        .connect(server_addr, "not-the-cert-name")
        .unwrap()
        .await
        .unwrap();
    assert!(conn.close_reason().is_none());
    conn.close(0u32.into(), b"done");
}

#[test]
fn pem_files_round_trip() {
    let cert = SelfSignedCert::generate(&["localhost", "127.0.0.1"]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("cert.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, &cert.cert_pem).unwrap();
    std::fs::write(&key_path, &cert.key_pem).unwrap();
    let certs = vstream::net::load_certs_pem(&cert_path).unwrap();
    assert_eq!(certs, vec![cert.cert.clone()]);
    let key = vstream::net::load_key_pem(&key_path).unwrap();
    assert!(server_crypto(certs, key).is_ok());
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(vstream::net::load_certs_pem(&empty).is_err());
}
