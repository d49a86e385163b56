//! The client that comes back by itself: connects, runs the driver, and when the
//! connection breaks or stalls, connects again on the [`ReconnectPolicy`](super::ReconnectPolicy)'s schedule,
//! naming its previous session in SessionStart (profile section 3; D62, D67, D68).
//!
//! # When a connection is given up, and whether to come back
//! The driver gives a connection up when its stall watch says so (`client/stall.rs`,
//! D67); the machine decides whether an ended connection is followed by another
//! ([`AfterConnection`], D68): yes after a break or a stall, never after the session was
//! ended or a final answer of the platform (200, 1004, a TLS refusal, ...).
//!
//! # One attempt
//! An attempt lasts at most `connect_timeout` (default 10 s). When the client has been
//! connected before (it knows the path's round trip), a connection within the attempt that
//! heard nothing at all for a probe window (three round trips, at least [`MIN_PROBE`], 0.5 s) is
//! dropped and a fresh one started: quinn retransmits an unanswered Initial after a
//! doubling probe timeout (1 s, 2 s, 4 s...), a fresh connection sends one at once, so the
//! client is back within about half a second of the path returning, however long the outage
//! was. The very first attempt knows no round trip and is left to quinn's timers.
//!
//! # Spacing attempts
//! A failed attempt counts against `max_retries`. One that timed out unanswered is followed
//! by the next at once (nothing reached the platform, so nothing loads it); one the
//! platform answered and that still failed waits the policy's backoff. A connection that
//! established its session and made progress (it was not given up as blocked) resets the
//! schedule and is followed by a new attempt at once.

use super::reconnect::Backoff;
use super::stall::Stall;
use super::{driver, ClientConfig, ClientError, ClientProgress, ClientSummary};
use crate::catalog::Catalog;
use crate::session::{AfterConnection, ConnectionEnd};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The shortest probe window (see the module doc): quinn's first Initial retransmission
/// comes about 1 s after the first with the default 333 ms initial RTT, later ones wait
/// longer; a fresh Initial every half second costs ~2.5 kB/s while the path is down and
/// brings the client back within half a second of it returning.
const MIN_PROBE: Duration = Duration::from_millis(500);

/// The probe window on a path whose round trip was `rtt`.
fn probe_window(rtt: Duration) -> Duration {
    (rtt * 3).max(MIN_PROBE)
}

/// Where the client connects.
pub(super) struct Target {
    pub endpoint: quinn::Endpoint,
    pub server: SocketAddr,
    pub server_name: String,
}

impl Target {
    /// One connection attempt of at most `timeout`, renewed after `probe` without any
    /// answer (see the module doc).
    pub(super) async fn connect(
        &self,
        timeout: Duration,
        probe: Option<Duration>,
    ) -> Result<quinn::Connection, ClientError> {
        let deadline = Instant::now() + timeout;
        loop {
            let mut connecting = self.endpoint.connect(self.server, &self.server_name)?;
            let probe_end = probe.map_or(deadline, |p| (Instant::now() + p).min(deadline));
            match tokio::time::timeout_at(probe_end, connecting.handshake_data()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(ClientError::Connection(e)),
                Err(_) if Instant::now() >= deadline => {
                    return Err(ClientError::ConnectTimeout { after: timeout })
                }
                // Unanswered: dropped (closed), and a fresh one probes at once.
                Err(_) => continue,
            }
            return match tokio::time::timeout_at(deadline, connecting).await {
                Ok(result) => result.map_err(ClientError::Connection),
                Err(_) => Err(ClientError::ConnectTimeout { after: timeout }),
            };
        }
    }
}

/// Runs the client over as many connections as it takes (see the module doc); without a
/// reconnection policy, over one.
pub(super) async fn supervise(
    target: Target,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    progress_tx: watch::Sender<ClientProgress>,
) -> Result<ClientSummary, ClientError> {
    let Some(policy) = config.reconnect.clone() else {
        let conn = target.connect(config.connect_timeout, None).await?;
        return driver::run(conn, catalog, config, shutdown, progress_tx)
            .await
            .result;
    };
    // One shutdown shared by every connection's driver.
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let mut s = Supervisor {
        target,
        catalog,
        config,
        backoff: Backoff::new(policy),
        stop_rx,
        progress_tx,
        previous: None,
        probe: None,
    };
    s.previous = s.config.resume_session;
    s.run().await
}

/// The state of a reconnecting client between connections.
struct Supervisor {
    target: Target,
    catalog: Arc<Catalog>,
    config: ClientConfig,
    backoff: Backoff,
    stop_rx: watch::Receiver<bool>,
    progress_tx: watch::Sender<ClientProgress>,
    /// The last session id adopted: named by the next connection.
    previous: Option<uuid::Uuid>,
    /// The probe window, once a connection measured the path's round trip.
    probe: Option<Duration>,
}

impl Supervisor {
    async fn run(&mut self) -> Result<ClientSummary, ClientError> {
        loop {
            if *self.stop_rx.borrow() {
                return Ok(ClientSummary {
                    session_id: self.previous,
                    transfers: self.progress_tx.borrow().transfers.clone(),
                    closed_with: None,
                });
            }
            let timeout = self.config.connect_timeout;
            let attempt = self.target.connect(timeout, self.probe).await;
            let conn = match attempt {
                Ok(conn) => conn,
                Err(e @ ClientError::Connect(_)) => return Err(e),
                // A certificate that does not fit now will not fit on the next attempt.
                Err(ClientError::Connection(e))
                    if driver::connection_end(&e) == ConnectionEnd::TlsRefused =>
                {
                    return Err(ClientError::Connection(e))
                }
                Err(e) => {
                    let wait = self.failed(e)?;
                    self.sleep(wait).await;
                    continue;
                }
            };
            let end = self.run_connection(conn).await;
            let established = self.progress_tx.borrow().session_id;
            if established.is_some() {
                self.previous = established;
            }
            if end.next == AfterConnection::End {
                return end.result;
            }
            let why = match &end.result {
                Err(e) => e.to_string(),
                Ok(_) => "closed".to_string(),
            };
            let server = self.target.server;
            if established.is_some() && end.stall != Some(Stall::Blocked) {
                tracing::warn!("connection to {server} lost ({why}); reconnecting");
                self.backoff.reset();
                continue;
            }
            let wait = self.failed(end.result.err().unwrap_or(ClientError::Task(why)))?;
            self.sleep(wait).await;
        }
    }

    /// Runs the driver over one connection.
    async fn run_connection(&mut self, conn: quinn::Connection) -> driver::RunEnd {
        if let Some(previous) = self.previous {
            tracing::info!(
                "connected to {}, resuming session {previous} (attempt {} since the last break)",
                self.target.server,
                self.backoff.attempt() + 1
            );
        }
        let config = ClientConfig {
            resume_session: self.previous,
            ..self.config.clone()
        };
        let mut stop_rx = self.stop_rx.clone();
        let shutdown = async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        };
        let catalog = Arc::clone(&self.catalog);
        let watched = conn.clone();
        let end = driver::run(conn, catalog, config, shutdown, self.progress_tx.clone()).await;
        // The smoothed round trip is not updated while nothing comes back: it is the
        // path's before the break.
        self.probe = Some(probe_window(watched.rtt()));
        end
    }

    /// A failed attempt: the wait before the next one (none after an unanswered one), or
    /// the error to end with once `max_retries` are spent.
    fn failed(&mut self, error: ClientError) -> Result<Duration, ClientError> {
        let Some(wait) = self.backoff.next_delay() else {
            return Err(ClientError::GaveUp {
                retries: self.backoff.attempt(),
                last: Box::new(error),
            });
        };
        let wait = match error {
            ClientError::ConnectTimeout { .. } => Duration::ZERO,
            _ => wait,
        };
        tracing::warn!(
            "connecting to {} failed: {error}; next attempt in {wait:?}",
            self.target.server
        );
        Ok(wait)
    }

    /// Sleeps `wait`, or less if the application asks to stop.
    async fn sleep(&mut self, wait: Duration) {
        let mut stop_rx = self.stop_rx.clone();
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            _ = stop_rx.wait_for(|stop| *stop) => {}
        }
    }
}
