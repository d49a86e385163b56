//! Helpers of the end-to-end tests: a platform and clients on real loopback UDP, with the
//! library's own endpoints, TLS and drivers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use vstream::catalog::Catalog;
use vstream::client::{
    run_client, Client, ClientConfig, ClientError, ClientSummary, ReconnectPolicy,
};
use vstream::media::SegmentMode;
use vstream::net::{
    client_config, client_crypto, client_endpoint, platform_endpoint, server_config, server_crypto,
    SelfSignedCert, ServerVerification, TransportSettings, ALPN,
};
use vstream::platform::{Observation, Platform, PlatformConfig, TransferResult};
use vstream::wire::{
    FileRequest, JsonEnvelope, Message, ProtocolVersion, SessionStart, StatusCode, Timestamp,
};

pub const LOOPBACK: &str = "127.0.0.1:0";

/// The crate's root (served by the test clients, so paths read `test_videos/...`).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A running platform writing into a temporary folder.
pub struct Harness {
    pub platform: Platform,
    pub addr: SocketAddr,
    pub cert: SelfSignedCert,
    pub out: tempfile::TempDir,
}

pub fn start_platform() -> Harness {
    start_platform_with(|_| {})
}

/// A platform whose connections report every [`Observation`] on the returned channel.
pub fn start_platform_observed() -> (Harness, mpsc::UnboundedReceiver<Observation>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (start_platform_with(|c| c.observer = Some(tx)), rx)
}

/// A platform with its configuration adjusted by `adjust`.
pub fn start_platform_with(adjust: impl FnOnce(&mut PlatformConfig)) -> Harness {
    start_platform_transport(&TransportSettings::default(), adjust)
}

/// A platform with the transport settings `transport` and its configuration adjusted by
/// `adjust`.
pub fn start_platform_transport(
    transport: &TransportSettings,
    adjust: impl FnOnce(&mut PlatformConfig),
) -> Harness {
    let cert = SelfSignedCert::generate(&["localhost"]).unwrap();
    let crypto = server_crypto(vec![cert.cert.clone()], cert.key.clone_key().into()).unwrap();
    let config = server_config(crypto, transport).unwrap();
    let endpoint = platform_endpoint(LOOPBACK.parse().unwrap(), config).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut platform_config = PlatformConfig::new(out.path());
    platform_config.seed = Some(7);
    platform_config.request_timeout = Duration::from_secs(20);
    adjust(&mut platform_config);
    let platform = Platform::start(endpoint, platform_config);
    let addr = platform.local_addr().unwrap();
    Harness {
        platform,
        addr,
        cert,
        out,
    }
}

/// A client endpoint trusting the harness's certificate, with the given ALPN.
pub fn client_endpoint_for(h: &Harness, alpn: &[u8]) -> quinn::Endpoint {
    let crypto =
        client_crypto(&ServerVerification::Roots(vec![h.cert.cert.clone()]), alpn).unwrap();
    let config = client_config(crypto, &TransportSettings::default()).unwrap();
    client_endpoint(LOOPBACK.parse().unwrap(), config).unwrap()
}

/// A library client serving the crate root with `test_videos/` registered.
pub async fn connect_client(h: &Harness) -> (quinn::Endpoint, Client) {
    let endpoint = client_endpoint_for(h, ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    let mut client = Client::connect(
        &endpoint,
        h.addr,
        "localhost",
        catalog,
        ClientConfig::default(),
    )
    .await
    .unwrap();
    client.register("test_videos").await.unwrap();
    client.wait_active().await.expect("session established");
    (endpoint, client)
}

/// A running client of [`spawn_reconnecting_client`]: send on the first to stop it; the
/// task returns its run's result.
pub type ReconnectingClient = (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<ClientSummary, ClientError>>,
);

/// A client that comes back by itself (`run_client` with a reconnection policy: backoff
/// capped at 1 s, seed 11; a silent connection given up after 2 s) serving
/// `test_videos/`, connected to `server` (the platform, or a relay in front of it).
pub fn spawn_reconnecting_client(h: &Harness, server: SocketAddr) -> ReconnectingClient {
    let endpoint = client_endpoint_for(h, ALPN);
    let catalog = Arc::new(Catalog::new(repo()).unwrap());
    catalog.register("test_videos").unwrap();
    let config = ClientConfig {
        reconnect: Some(ReconnectPolicy {
            max_backoff: Duration::from_secs(1),
            seed: 11,
            ..ReconnectPolicy::default()
        }),
        stall_timeout: Some(Duration::from_secs(2)),
        ..ClientConfig::default()
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        run_client(endpoint, server, "localhost", catalog, config, async move {
            let _ = stopped.await;
        })
        .await
    });
    (stop, task)
}

/// Pulls `path` in `mode` from `session` and waits for the result.
pub async fn pull(
    h: &Harness,
    session: uuid::Uuid,
    path: &str,
    mode: SegmentMode,
) -> TransferResult {
    let mut request = FileRequest::new(path);
    request.segment_mode = mode;
    let handle = h
        .platform
        .request_file(session, request)
        .await
        .unwrap_or_else(|e| panic!("request {path} ({mode:?}): {e}"));
    tokio::time::timeout(Duration::from_secs(30), handle.finished())
        .await
        .unwrap_or_else(|_| panic!("{path} ({mode:?}) did not finish"))
        .unwrap_or_else(|e| panic!("{path} ({mode:?}): {e}"))
}

/// Asserts the received file is the source, byte for byte, and verified.
pub fn assert_identical(result: &TransferResult, source: &Path) {
    assert!(result.sha256_ok, "{}: sha256 mismatch", source.display());
    assert_eq!(
        result.outcome,
        vstream::session::TransferOutcome::Completed,
        "{}",
        source.display()
    );
    let got = std::fs::read(&result.file.path).unwrap();
    let want = std::fs::read(source).unwrap();
    assert!(
        got == want,
        "{} differs from its source",
        result.file.path.display()
    );
    assert!(result.report.report_file.exists());
    assert!(result.report.debug_file.exists());
}

/// Sends `message` on its own unidirectional stream, as a client would.
pub async fn send(conn: &quinn::Connection, message: &Message, seq: u64) {
    let at = Timestamp::from_unix_millis(1_700_000_000_000).unwrap();
    let envelope = JsonEnvelope::wrap(message, seq, at, uuid::Uuid::nil());
    let mut stream = conn.open_uni().await.unwrap();
    stream.write_all(&envelope.to_bytes()).await.unwrap();
    stream.finish().unwrap();
}

/// The next control message the platform sends.
pub async fn receive(conn: &quinn::Connection) -> Message {
    receive_envelope(conn).await.message().unwrap()
}

/// The next control envelope the platform sends.
pub async fn receive_envelope(conn: &quinn::Connection) -> JsonEnvelope {
    let next = async {
        let mut stream = conn.accept_uni().await.unwrap();
        let bytes = stream.read_to_end(1 << 20).await.unwrap();
        JsonEnvelope::decode(&bytes).unwrap()
    };
    tokio::time::timeout(Duration::from_secs(5), next)
        .await
        .expect("a message from the platform")
}

pub fn status_of(message: &Message) -> StatusCode {
    match message {
        Message::StatusResponse(r) => r.code,
        Message::ErrorReport(r) => r.error_code,
        other => panic!("expected a status, got {other:?}"),
    }
}

/// A raw quinn connection that completes the protocol handshake by hand.
pub async fn raw_session(h: &Harness) -> (quinn::Endpoint, quinn::Connection) {
    let endpoint = client_endpoint_for(h, ALPN);
    let conn = endpoint
        .connect(h.addr, "localhost")
        .unwrap()
        .await
        .unwrap();
    handshake(&conn).await;
    (endpoint, conn)
}

/// The protocol handshake by hand on `conn`: VersionNegotiation then SessionStart, each
/// answered 200.
pub async fn handshake(conn: &quinn::Connection) {
    send(
        conn,
        &Message::VersionNegotiation(ProtocolVersion::CURRENT),
        1,
    )
    .await;
    assert_eq!(status_of(&receive(conn).await), StatusCode::Success);
    send(
        conn,
        &Message::SessionStart(SessionStart::client_ready()),
        2,
    )
    .await;
    assert_eq!(status_of(&receive(conn).await), StatusCode::Success);
}
