//! What a simulation script holds on the platform's host: the platform's API, the clock,
//! every segment's arrival time, and checks against the clients' source files.

use super::files::same_bytes;
use super::harness::SimError;
use super::trace::Trace;
use crate::platform::{Observation, Observed, Platform, TransferResult};
use crate::session::TransferOutcome;
use crate::store::durable_fs::StoreFs;
use crate::wire::{FileRequest, FileRequestAck};
use crate::wire::{SegmentFlags, TransferId};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use uuid::Uuid;

/// A stored segment and when it arrived, in simulated time since the run began.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrival {
    /// Simulated time since the run began.
    pub at: Duration,
    /// The session it arrived in.
    pub session: Uuid,
    /// Its transfer.
    pub transfer: TransferId,
    /// Its index in the transfer.
    pub index: u32,
    /// Its media timestamp in seconds (the header's).
    pub timestamp: f64,
    /// Its header flags.
    pub flags: SegmentFlags,
    /// Data bytes.
    pub bytes: u64,
}

/// One [`Observation`] of the platform, stamped in simulated time since the run began
/// (only with [`SimBuilder::observe`](super::SimBuilder::observe)).
#[derive(Debug, Clone, PartialEq)]
pub struct SimObservation {
    /// Simulated time since the run began.
    pub at: Duration,
    /// The connection's session.
    pub session: Uuid,
    /// What happened.
    pub event: Observed,
}

/// One finished pull: the result and when it was requested and finished.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The client's acknowledgement.
    pub ack: FileRequestAck,
    /// The transfer's result.
    pub result: TransferResult,
    /// Simulated time the FileRequest was sent.
    pub requested_at: Duration,
    /// Simulated time the transfer finished at the platform.
    pub finished_at: Duration,
}

impl Pulled {
    /// File bytes over the time from request to finish, in bits per second.
    pub fn goodput_bps(&self) -> f64 {
        let secs = self
            .finished_at
            .saturating_sub(self.requested_at)
            .as_secs_f64();
        if secs > 0.0 {
            self.ack.file_size as f64 * 8.0 / secs
        } else {
            0.0
        }
    }
}

/// The platform side of a run, handed to the script.
pub struct PlatformCtx {
    /// The platform's API (the real driver).
    pub platform: Platform,
    trace: Trace,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    arrived: watch::Receiver<usize>,
    observations: Arc<Mutex<Vec<SimObservation>>>,
    client_roots: Vec<PathBuf>,
    store: Arc<dyn StoreFs>,
}

impl PlatformCtx {
    /// `observed` is the platform's observer stream: stored segments become arrivals
    /// (and trace lines); every observation is also kept when `keep_all`
    /// ([`SimBuilder::observe`](super::SimBuilder::observe)).
    pub(crate) fn new(
        platform: Platform,
        trace: Trace,
        mut observed: mpsc::UnboundedReceiver<Observation>,
        keep_all: bool,
        client_roots: Vec<PathBuf>,
        store: Arc<dyn StoreFs>,
    ) -> Self {
        let arrivals: Arc<Mutex<Vec<Arrival>>> = Arc::default();
        let observations: Arc<Mutex<Vec<SimObservation>>> = Arc::default();
        let (count, arrived) = watch::channel(0);
        // tokio's clock against the simulation's, to stamp arrivals in simulated time.
        let base = (
            tokio::time::Instant::now().into_std(),
            turmoil::sim_elapsed().unwrap_or_default(),
        );
        let (log, all, trace_log) = (
            Arc::clone(&arrivals),
            Arc::clone(&observations),
            trace.clone(),
        );
        tokio::spawn(async move {
            while let Some(o) = observed.recv().await {
                let at = base.1 + o.at.saturating_duration_since(base.0);
                if let Observed::SegmentStored {
                    transfer,
                    index,
                    timestamp,
                    flags,
                    bytes,
                } = o.event
                {
                    trace_log.record(format!(
                        "platform: {transfer} segment {index} ({bytes} bytes, t={timestamp:.3}) at {:.6}",
                        at.as_secs_f64()
                    ));
                    let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
                    log.push(Arrival {
                        at,
                        session: o.session,
                        transfer,
                        index,
                        timestamp,
                        flags,
                        bytes,
                    });
                    count.send_replace(log.len());
                }
                if keep_all {
                    let mut all = all.lock().unwrap_or_else(|p| p.into_inner());
                    all.push(SimObservation {
                        at,
                        session: o.session,
                        event: o.event,
                    });
                }
            }
        });
        PlatformCtx {
            platform,
            trace,
            arrivals,
            arrived,
            observations,
            client_roots,
            store,
        }
    }

    /// The platform's store (its host's filesystem, D115): where `TransferResult::file`
    /// is to be read.
    pub fn store(&self) -> &dyn StoreFs {
        &*self.store
    }

    /// Simulated time since the run began.
    pub fn now(&self) -> Duration {
        turmoil::sim_elapsed().unwrap_or_default()
    }

    /// Sleeps until simulated time `at` (at once if it passed).
    pub async fn sleep_until(&self, at: Duration) {
        tokio::time::sleep(at.saturating_sub(self.now())).await;
    }

    /// Appends an event to the run's trace.
    pub fn record(&self, what: impl std::fmt::Display) {
        self.trace.record(format!("script: {what}"));
    }

    /// Every stored segment so far, in arrival order.
    pub fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every observation so far, in the platform's handling order (empty unless the world
    /// was built with [`SimBuilder::observe`](super::SimBuilder::observe)).
    pub fn observations(&self) -> Vec<SimObservation> {
        self.observations
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Waits until at least `n` segments were stored in the run.
    pub async fn wait_arrivals(&self, n: usize) {
        let mut arrived = self.arrived.clone();
        let _ = arrived.wait_for(|&count| count >= n).await;
    }

    /// Requests a file and waits for its end.
    pub async fn pull(&self, session: Uuid, request: FileRequest) -> Result<Pulled, SimError> {
        let requested_at = self.now();
        let handle = self.platform.request_file(session, request).await?;
        let ack = handle.ack.clone();
        self.record(format!(
            "{} acknowledged: {} bytes, {} segments",
            ack.transfer_id, ack.file_size, ack.total_segments
        ));
        let result = handle.finished().await?;
        let finished_at = self.now();
        self.record(format!(
            "{} finished: {:?}, sha256 {}",
            ack.transfer_id, result.outcome, result.sha256_ok
        ));
        Ok(Pulled {
            ack,
            result,
            requested_at,
            finished_at,
        })
    }

    /// Where client `client` serves `name` from.
    pub fn source(&self, client: usize, name: &str) -> Option<PathBuf> {
        self.client_roots.get(client).map(|root| root.join(name))
    }

    /// Fails unless `result` completed, its SHA-256 verified, and the written file equals
    /// client `client`'s `name` byte for byte.
    pub fn check_identical(
        &self,
        result: &TransferResult,
        client: usize,
        name: &str,
    ) -> Result<(), SimError> {
        if result.outcome != TransferOutcome::Completed || !result.sha256_ok {
            return Err(SimError::Check(format!(
                "{name}: {:?}, sha256_ok {}",
                result.outcome, result.sha256_ok
            )));
        }
        let source = self
            .source(client, name)
            .ok_or_else(|| SimError::Check(format!("no client {client}")))?;
        if !same_bytes(&source, self.store(), &result.file.path)? {
            return Err(SimError::Check(format!(
                "{} differs from {}",
                result.file.path.display(),
                source.display()
            )));
        }
        Ok(())
    }
}
