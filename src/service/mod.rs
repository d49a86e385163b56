//! The platform as a service: an HTTP admin API (axum), Prometheus metrics, transfer
//! events (Server-Sent Events) and a web console, all beside the QUIC listener.
//!
//! The service holds no protocol rule: each endpoint translates HTTP into one call of the
//! [`Platform`] library API and its answer (or [`PlatformError`](crate::platform::PlatformError))
//! back into JSON. What the library does not keep (finished transfers' verdicts, rates,
//! the last playback acknowledgement) the service records in its [`TransferBook`] from the
//! platform's observations and a sampler.
//!
//! # Layout
//! - `api`: the `/api/...` handlers and `/healthz`.
//! - `auth`: the bearer token check.
//! - `book`: the transfers the service knows and their event channel.
//! - `config`: the TOML configuration files of `vstream platform` and `vstream client`.
//! - `console`: the web page at `/`.
//! - `error`: the JSON error shape.
//! - `events`: `GET /api/transfers/{tid}/events` (SSE).
//! - `metrics`: the Prometheus registry.
//! - `monitor`: the observation reader and the sampler.

mod api;
mod auth;
pub mod book;
pub mod config;
mod console;
pub mod error;
mod events;
pub mod metrics;
mod monitor;

use crate::platform::{Observation, Platform};
use axum::routing::{get, post};
use axum::Router;
use book::TransferBook;
use metrics::Metrics;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

pub use error::ApiError;

/// Why the admin listener was refused.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A non-loopback admin address needs a token.
    #[error(
        "the admin API on {0} would be reachable from the network without a token: give --admin-token or admin.token_file, or bind it to 127.0.0.1"
    )]
    NoTokenOffLoopback(SocketAddr),
    /// The token is empty or has characters a header cannot carry.
    #[error("the admin token must be 16 to 256 visible ASCII characters")]
    BadToken,
}

/// Checks the admin listener's address against its token: without a token it may only
/// listen on loopback (and the caller should warn). docs/protocol.md D81.
pub fn check_admin_access(addr: SocketAddr, token: Option<&str>) -> Result<(), ServiceError> {
    match token {
        Some(t) if !(16..=256).contains(&t.len()) || !t.bytes().all(|b| b.is_ascii_graphic()) => {
            Err(ServiceError::BadToken)
        }
        Some(_) => Ok(()),
        None if addr.ip().is_loopback() => Ok(()),
        None => Err(ServiceError::NoTokenOffLoopback(addr)),
    }
}

/// What every handler shares.
pub(crate) struct Shared {
    pub(crate) platform: Platform,
    pub(crate) book: Arc<TransferBook>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) token: Option<String>,
}

pub(crate) type State = Arc<Shared>;

/// The admin service of one platform: its routes and its background tasks (stopped when
/// the service is dropped).
pub struct AdminService {
    shared: State,
    tasks: Vec<JoinHandle<()>>,
}

impl AdminService {
    /// Starts recording `platform`'s activity. `observations` is the receiving end of the
    /// channel given as the platform's [`PlatformConfig::observer`](crate::platform::PlatformConfig):
    /// without it the metrics miss per-segment counters. `token`: the bearer token the API
    /// and `/metrics` require, if any. Must run inside a tokio runtime.
    pub fn start(
        platform: Platform,
        observations: Option<mpsc::UnboundedReceiver<Observation>>,
        token: Option<String>,
    ) -> AdminService {
        let shared = Arc::new(Shared {
            platform: platform.clone(),
            book: Arc::new(TransferBook::new()),
            metrics: Arc::new(Metrics::new()),
            token,
        });
        let mut tasks = vec![tokio::spawn(monitor::sample(
            platform,
            shared.metrics.clone(),
            shared.book.clone(),
        ))];
        if let Some(rx) = observations {
            tasks.push(tokio::spawn(monitor::observe(
                rx,
                shared.metrics.clone(),
                shared.book.clone(),
            )));
        }
        AdminService { shared, tasks }
    }

    /// The metrics (for tests and the binary's own figures).
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// Every route: `/`, `/healthz`, `/metrics`, `/api/...`.
    pub fn router(&self) -> Router {
        let protected = Router::new()
            .route("/metrics", get(api::metrics))
            .route("/api/sessions", get(api::sessions))
            .route(
                "/api/sessions/{sid}",
                get(api::session).delete(api::close_session),
            )
            .route("/api/sessions/{sid}/files", get(api::files))
            .route("/api/sessions/{sid}/stats", get(api::stats))
            .route("/api/sessions/{sid}/transfers", post(api::request_file))
            .route("/api/transfers", get(api::transfers))
            .route("/api/transfers/{tid}", get(api::transfer))
            .route("/api/transfers/{tid}/playback", post(api::playback))
            .route("/api/transfers/{tid}/events", get(events::stream))
            .route("/api/transfers/{tid}/file", get(api::file))
            .route_layer(axum::middleware::from_fn_with_state(
                self.shared.clone(),
                auth::require_token,
            ));
        Router::new()
            .route("/", get(console::page))
            .route("/healthz", get(api::healthz))
            .merge(protected)
            .fallback(api::no_route)
            .with_state(self.shared.clone())
    }

    /// Serves on `listener` until `shutdown` resolves, then lets open requests finish
    /// (event streams end when their transfer ends or the service is dropped).
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
    }
}

impl Drop for AdminService {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}
