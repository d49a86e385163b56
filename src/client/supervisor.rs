//! The client that comes back by itself: connects, runs the driver, and when the
//! connection breaks or stalls, connects again on the [`ReconnectPolicy`]'s schedule,
//! naming its previous session in SessionStart (profile section 3; decision D62).
//!
//! # When a connection is given up
//! - It ended by itself with an error other than a close by the platform (idle timeout,
//!   reset, a platform that restarted): the path or the platform broke, try again.
//! - It *stalled*: the client sent packets and nothing at all came back for
//!   `stall_after`. QUIC's probe timer doubles at each loss, so after a long outage the old
//!   connection may wait tens of seconds before it probes again; a new connection probes
//!   at once. The old one is closed locally (its close is lost like everything else).
//! - Never when the platform closed the session (200) or refused it (the handshake's
//!   code, or an error code the platform closed with): that is an answer, not a failure.
//!
//! # Spacing attempts
//! An attempt that got no answer within `stall_after` is followed by the next one at once:
//! nothing reached the platform, so nothing loads it, and the transfer continues within
//! `stall_after` of the path returning. An attempt the platform answered and that still
//! failed waits the policy's backoff. A connection that completed its handshake resets the
//! schedule.

use super::reconnect::{Backoff, ReconnectPolicy};
use super::{driver, ClientConfig, ClientError, ClientProgress, ClientSummary};
use crate::catalog::Catalog;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// How often the stall watchdog reads the connection's counters.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Why one connection's run ended.
enum RunEnd {
    /// The session is over (or the application asked to stop): return this.
    Done(Result<ClientSummary, ClientError>),
    /// The connection broke or stalled: connect again.
    Broken(String),
}

/// Runs the client over as many connections as it takes (see the module doc).
pub(super) async fn supervise(
    endpoint: quinn::Endpoint,
    server: SocketAddr,
    server_name: String,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    progress_tx: watch::Sender<ClientProgress>,
) -> Result<ClientSummary, ClientError> {
    // One shutdown shared by every connection's driver.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let policy = config.reconnect.clone().unwrap_or_default();
    let mut backoff = Backoff::new(policy.clone());
    let mut previous = config.resume_session;
    let mut reconnections: u64 = 0;
    loop {
        if *stop_rx.borrow() {
            return Ok(ClientSummary {
                session_id: previous,
                transfers: progress_tx.borrow().transfers.clone(),
                closed_with: None,
            });
        }
        let attempt = endpoint
            .connect(server, &server_name)
            .map_err(ClientError::Connect)?;
        let conn = match tokio::time::timeout(policy.stall_after, attempt).await {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => {
                let Some(wait) = backoff.next_delay() else {
                    return Err(ClientError::Connection(e));
                };
                tracing::warn!("connecting to {server} failed: {e}; next attempt in {wait:?}");
                tokio::time::sleep(wait).await;
                continue;
            }
            Err(_) => {
                // No answer at all: the path is down; probe again at once.
                tracing::debug!("no answer from {server} within {:?}", policy.stall_after);
                continue;
            }
        };
        if reconnections > 0 || previous.is_some() {
            tracing::info!(
                "connected to {server} again (reconnection {}), resuming session {:?}",
                reconnections + 1,
                previous
            );
        }
        let run_config = ClientConfig {
            resume_session: previous,
            ..config.clone()
        };
        let end = run_connection(
            conn,
            Arc::clone(&catalog),
            run_config,
            &policy,
            stop_rx.clone(),
            progress_tx.clone(),
        )
        .await;
        let established = progress_tx.borrow().session_id;
        if established.is_some() {
            previous = established;
            backoff.reset();
        }
        match end {
            RunEnd::Done(result) => return result,
            RunEnd::Broken(why) => {
                reconnections += 1;
                tracing::warn!("connection to {server} lost ({why}); reconnecting");
                if established.is_none() {
                    // The platform answered but no session came of it: space the attempts.
                    match backoff.next_delay() {
                        Some(wait) => tokio::time::sleep(wait).await,
                        None => return Err(ClientError::Task(format!("gave up: {why}"))),
                    }
                }
            }
        }
    }
}

/// Runs the driver over one connection beside a stall watchdog.
async fn run_connection(
    conn: quinn::Connection,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    policy: &ReconnectPolicy,
    mut stop_rx: watch::Receiver<bool>,
    progress_tx: watch::Sender<ClientProgress>,
) -> RunEnd {
    let shutdown = async move {
        let _ = stop_rx.wait_for(|stop| *stop).await;
    };
    let mut drive = Box::pin(driver::run(
        conn.clone(),
        catalog,
        config,
        shutdown,
        progress_tx,
    ));
    let mut watchdog = StallWatch::new(&conn, policy.stall_after);
    let mut tick = tokio::time::interval(WATCH_EVERY);
    loop {
        tokio::select! {
            biased;
            result = &mut drive => return classify(result),
            _ = tick.tick() => {
                if watchdog.is_stalled(&conn, Instant::now()) {
                    conn.close(0u32.into(), b"stalled");
                    // Let the driver wind down (its tasks end with the connection).
                    let _ = tokio::time::timeout(Duration::from_secs(1), &mut drive).await;
                    return RunEnd::Broken(format!(
                        "nothing received for {:?} while sending",
                        policy.stall_after
                    ));
                }
            }
        }
    }
}

/// Whether a driver's result ends the client or asks for a new connection.
fn classify(result: Result<ClientSummary, ClientError>) -> RunEnd {
    use quinn::ConnectionError as E;
    match result {
        Err(ClientError::Connection(
            e @ (E::TimedOut | E::Reset | E::ConnectionClosed(_) | E::TransportError(_)),
        )) => RunEnd::Broken(e.to_string()),
        other => RunEnd::Done(other),
    }
}

/// Detects a connection that sends and hears nothing back.
struct StallWatch {
    stall_after: Duration,
    rx_seen: u64,
    tx_mark: u64,
    /// When the first datagram went out after the last one came in.
    unanswered_since: Option<Instant>,
}

impl StallWatch {
    fn new(conn: &quinn::Connection, stall_after: Duration) -> Self {
        let stats = conn.stats();
        StallWatch {
            stall_after,
            rx_seen: stats.udp_rx.datagrams,
            tx_mark: stats.udp_tx.datagrams,
            unanswered_since: None,
        }
    }

    fn is_stalled(&mut self, conn: &quinn::Connection, now: Instant) -> bool {
        let stats = conn.stats();
        if stats.udp_rx.datagrams != self.rx_seen {
            self.rx_seen = stats.udp_rx.datagrams;
            self.tx_mark = stats.udp_tx.datagrams;
            self.unanswered_since = None;
            return false;
        }
        if stats.udp_tx.datagrams > self.tx_mark && self.unanswered_since.is_none() {
            self.unanswered_since = Some(now);
        }
        self.unanswered_since
            .is_some_and(|since| now.duration_since(since) >= self.stall_after)
    }
}
