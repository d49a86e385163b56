//! The connection task's stream-order delivery (docs/protocol.md D32, D45) and its
//! observations ([`PlatformConfig::observer`](super::super::PlatformConfig)).

use super::super::observe::{observe, Observed};
use super::super::streams::Verdict;
use super::{now, Connection};
use crate::session::{PlatformSession, SegmentVerdict};
use crate::wire::{JsonEnvelope, SegmentHeader, WireError};
use tokio::sync::oneshot;

/// What a unidirectional stream brings the machine, in stream order.
pub(super) enum Ordered {
    Envelope(Result<JsonEnvelope, WireError>),
    Header(SegmentHeader, oneshot::Sender<Verdict>),
}

impl Connection {
    /// Hands control messages and segment headers to the machine, in stream order.
    pub(super) fn deliver(
        &mut self,
        session: &mut PlatformSession,
        ready: Vec<Ordered>,
        mut binary_reply: Option<quinn::SendStream>,
    ) {
        let at = now();
        for item in ready {
            match item {
                Ordered::Envelope(Ok(mut envelope)) => {
                    if binary_reply.is_some() {
                        envelope.session_id = session.session_id();
                    }
                    self.binary_reply = binary_reply.take();
                    session.handle_message(at, envelope);
                    // Its events (an acknowledgement...) before the next stream's header.
                    while let Some(event) = session.poll_event() {
                        self.on_event(session, event);
                    }
                }
                Ordered::Envelope(Err(error)) => {
                    tracing::warn!("bad stream from {}: {error}", self.conn.remote_address());
                    session.handle_bad_stream(at, error);
                }
                Ordered::Header(header, verdict) => {
                    self.judge_header(session, at, header, verdict);
                }
            }
        }
    }

    pub(super) fn observe(&self, event: Observed) {
        let observer = self.platform.config().observer.as_ref();
        observe(observer, self.session_id, now(), event);
    }

    pub(super) fn observe_arrival(&self, header: &SegmentHeader, verdict: &SegmentVerdict) {
        if self.platform.config().observer.is_some() {
            self.observe(Observed::SegmentArrived {
                id: header.id(),
                timestamp: header.timestamp(),
                flags: header.flags(),
                verdict: verdict.clone(),
            });
        }
    }
}
