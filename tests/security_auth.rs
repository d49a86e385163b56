//! Device authentication over real quinn on loopback (issue 13, D90-D93): tokens and
//! mutual TLS. An unauthenticated or wrongly authenticated device gets StatusResponse 1004
//! and the connection closes with 1004; an authenticated one uploads, and the platform's
//! session names the device.

mod e2e_support;

use e2e_support::*;
use std::sync::Arc;
use std::time::Duration;
use vstream::auth::certs::CertificateAuthority;
use vstream::auth::{AuthMethod, DeviceAuth, Token, TokenFile};
use vstream::catalog::Catalog;
use vstream::client::{Client, ClientConfig};
use vstream::media::SegmentMode;
use vstream::net::{
    client_config, client_crypto, client_crypto_with_identity, client_endpoint, platform_endpoint,
    server_config, server_crypto_mtls, ClientIdentity, SelfSignedCert, ServerVerification,
    TransportSettings, ALPN,
};
use vstream::platform::{Platform, PlatformConfig};
use vstream::wire::{Message, ProtocolVersion, SessionStart, StatusCode};

const LOOPBACK: &str = "127.0.0.1:0";

fn token_auth(device: &str, token: &Token) -> DeviceAuth {
    let file = TokenFile::parse(&format!("{device} {}\n", token.hash())).unwrap();
    DeviceAuth {
        tokens: Some(Arc::new(file)),
        ..DeviceAuth::default()
    }
}

/// Handshakes by hand with `start` and returns the reply to SessionStart and the code the
/// connection was closed with.
async fn handshake(conn: &quinn::Connection, start: SessionStart) -> (Message, Option<u64>) {
    send(
        conn,
        &Message::VersionNegotiation(ProtocolVersion::CURRENT),
        1,
    )
    .await;
    assert_eq!(status_of(&receive(conn).await), StatusCode::Success);
    send(conn, &Message::SessionStart(start), 2).await;
    let reply = receive(conn).await;
    let closed = tokio::time::timeout(Duration::from_secs(5), conn.closed())
        .await
        .ok();
    let code = match closed {
        Some(quinn::ConnectionError::ApplicationClosed(c)) => Some(c.error_code.into_inner()),
        _ => None,
    };
    (reply, code)
}

async fn assert_refused_1004(h: &Harness, start: SessionStart) {
    let endpoint = client_endpoint_for(h, ALPN);
    let conn = endpoint
        .connect(h.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let (reply, closed_with) = handshake(&conn, start).await;
    assert_eq!(
        status_of(&reply),
        StatusCode::AuthenticationFailed,
        "{reply:?}"
    );
    assert_eq!(closed_with, Some(1004));
}

fn client_config_with(start: Option<SessionStart>) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.session.session_start = start;
    config
}

#[tokio::test]
async fn tokens_refuse_missing_and_wrong_ones_with_1004() {
    let token = Token::generate().unwrap();
    let h = start_platform_with(|c| c.session.auth = token_auth("cam-1", &token));
    // No token at all: the plain CLIENT_READY.
    assert_refused_1004(&h, SessionStart::client_ready()).await;
    // A wrong token for a known device, and a right token under another device's name.
    let other = Token::generate().unwrap();
    assert_refused_1004(
        &h,
        SessionStart::with_device("cam-1", Some(other.as_str())).unwrap(),
    )
    .await;
    assert_refused_1004(
        &h,
        SessionStart::with_device("cam-2", Some(token.as_str())).unwrap(),
    )
    .await;
    // The library client reports the refusal as such.
    let endpoint = client_endpoint_for(&h, ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    let client = Client::connect(
        &endpoint,
        h.addr,
        "localhost",
        catalog,
        client_config_with(None),
    )
    .await
    .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(10), client.finished())
        .await
        .expect("the refusal is prompt")
        .expect_err("refused");
    assert_eq!(
        err.status_code(),
        Some(StatusCode::AuthenticationFailed),
        "{err}"
    );
}

#[tokio::test]
async fn a_device_with_its_token_uploads_and_is_named() {
    let token = Token::generate().unwrap();
    let h = start_platform_with(|c| c.session.auth = token_auth("cam-1", &token));
    let endpoint = client_endpoint_for(&h, ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    let start = SessionStart::with_device("cam-1", Some(token.as_str())).unwrap();
    let mut client = Client::connect(
        &endpoint,
        h.addr,
        "localhost",
        catalog,
        client_config_with(Some(start)),
    )
    .await
    .unwrap();
    client.register("test_videos").await.unwrap();
    client.wait_active().await.expect("session established");
    let session = h.platform.wait_for_session().await;
    let device = session.device.expect("the session names its device");
    assert_eq!(device.device_id.as_deref(), Some("cam-1"));
    assert_eq!(device.method, AuthMethod::Token);
    let result = pull(
        &h,
        session.session_id,
        "test_videos/aud.h264",
        SegmentMode::Frame,
    )
    .await;
    assert_identical(&result, &repo().join("test_videos/aud.h264"));
}

struct MtlsPlatform {
    platform: Platform,
    addr: std::net::SocketAddr,
    cert: SelfSignedCert,
    _out: tempfile::TempDir,
}

fn start_mtls_platform(ca: &CertificateAuthority) -> MtlsPlatform {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let roots = vec![pem_cert(&ca.pem.cert_pem)];
    let crypto =
        server_crypto_mtls(vec![cert.cert.clone()], cert.key.clone_key().into(), roots).unwrap();
    let config = server_config(crypto, &TransportSettings::default()).unwrap();
    let endpoint = platform_endpoint(LOOPBACK.parse().unwrap(), config).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut platform_config = PlatformConfig::new(out.path());
    platform_config.session.auth = DeviceAuth {
        require_certificate: true,
        ..DeviceAuth::default()
    };
    let platform = Platform::start(endpoint, platform_config);
    let addr = platform.local_addr().unwrap();
    MtlsPlatform {
        platform,
        addr,
        cert,
        _out: out,
    }
}

fn pem_cert(pem: &str) -> rustls::pki_types::CertificateDer<'static> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

fn mtls_endpoint(
    p: &MtlsPlatform,
    device: Option<(&str, &CertificateAuthority)>,
) -> quinn::Endpoint {
    use rustls::pki_types::pem::PemObject;
    let verification = ServerVerification::Roots(vec![p.cert.cert.clone()]);
    let crypto = match device {
        None => client_crypto(&verification, ALPN).unwrap(),
        Some((id, ca)) => {
            let issued = ca.issue_device(id).unwrap();
            let identity = ClientIdentity {
                certs: vec![pem_cert(&issued.cert_pem)],
                key: rustls::pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
                    .unwrap(),
            };
            client_crypto_with_identity(&verification, ALPN, identity).unwrap()
        }
    };
    let config = client_config(crypto, &TransportSettings::default()).unwrap();
    client_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
}

#[tokio::test]
async fn mutual_tls_refuses_strangers_and_names_the_certified_device() {
    let ca = CertificateAuthority::generate("test CA").unwrap();
    let p = start_mtls_platform(&ca);
    // No certificate: the TLS handshake completes, SessionStart is refused with 1004.
    let endpoint = mtls_endpoint(&p, None);
    let conn = endpoint
        .connect(p.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    let (reply, closed_with) = handshake(&conn, SessionStart::client_ready()).await;
    assert_eq!(status_of(&reply), StatusCode::AuthenticationFailed);
    assert_eq!(closed_with, Some(1004));
    // A certificate of another CA: the TLS handshake itself fails.
    let rogue_ca = CertificateAuthority::generate("rogue CA").unwrap();
    let endpoint = mtls_endpoint(&p, Some(("cam-1", &rogue_ca)));
    let refused = async {
        let conn = endpoint.connect(p.addr, "localhost").unwrap().await?;
        // TLS 1.3: the client learns of the refusal with its first read.
        let _ = conn.accept_uni().await?;
        Ok::<_, quinn::ConnectionError>(())
    };
    assert!(
        tokio::time::timeout(Duration::from_secs(10), refused)
            .await
            .expect("prompt")
            .is_err(),
        "a certificate of another CA was accepted"
    );
    // A certificate of the CA: the session names the device, and a file arrives.
    let endpoint = mtls_endpoint(&p, Some(("cam-7", &ca)));
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    let mut client = Client::connect(
        &endpoint,
        p.addr,
        "localhost",
        catalog,
        ClientConfig::default(),
    )
    .await
    .unwrap();
    client.register("test_videos").await.unwrap();
    client.wait_active().await.expect("session established");
    let session = p.platform.wait_for_session().await;
    let device = session.device.expect("named");
    assert_eq!(device.device_id.as_deref(), Some("cam-7"));
    assert_eq!(device.method, AuthMethod::Certificate);
    let mut request = vstream::wire::FileRequest::new("test_videos/aud.h264");
    request.segment_mode = SegmentMode::Frame;
    let result = p
        .platform
        .request_file(session.session_id, request)
        .await
        .unwrap()
        .finished()
        .await
        .unwrap();
    assert!(result.sha256_ok);
}

/// Connects and completes the handshake; Err when the platform refused the connection.
async fn try_session(h: &Harness, endpoint: &quinn::Endpoint) -> Result<quinn::Connection, String> {
    let conn = endpoint
        .connect(h.addr, "localhost")
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    e2e_support::handshake(&conn).await;
    Ok(conn)
}

#[tokio::test]
async fn the_session_cap_refuses_at_its_bound_and_recovers() {
    let h = start_platform_with(|c| {
        c.limits.max_sessions = 2;
        c.limits.retry_above = 100;
    });
    let endpoint = client_endpoint_for(&h, ALPN);
    let a = try_session(&h, &endpoint).await.unwrap();
    let _b = try_session(&h, &endpoint).await.unwrap();
    let refused = try_session(&h, &endpoint).await;
    assert!(refused.is_err(), "a third session was accepted");
    a.close(0u32.into(), b"done");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while h.platform.registry_size().0 >= 2 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    try_session(&h, &endpoint)
        .await
        .expect("a place was free again");
}

#[tokio::test]
async fn the_handshake_rate_per_source_refuses_a_burst_and_recovers() {
    let h = start_platform_with(|c| {
        c.limits.handshakes_per_sec = 5.0;
        c.limits.handshake_burst = 3.0;
    });
    let endpoint = client_endpoint_for(&h, ALPN);
    let mut refused = 0;
    for _ in 0..8 {
        if try_session(&h, &endpoint).await.is_err() {
            refused += 1;
        }
    }
    assert!(refused >= 3, "only {refused} of 8 rapid handshakes refused");
    tokio::time::sleep(Duration::from_millis(600)).await;
    try_session(&h, &endpoint)
        .await
        .expect("the source may connect again");
}

#[tokio::test]
async fn under_load_clients_are_validated_with_retry_and_still_served() {
    let h = start_platform_with(|c| c.limits.retry_above = 1);
    let endpoint = client_endpoint_for(&h, ALPN);
    let _first = try_session(&h, &endpoint).await.unwrap();
    // The second must answer a Retry first: quinn's client does, and the session starts.
    let _second = try_session(&h, &endpoint)
        .await
        .expect("served after Retry");
}
