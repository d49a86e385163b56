//! The service's Prometheus metrics (`GET /metrics`, OpenMetrics text).
//!
//! Crate: `prometheus-client`, the Prometheus project's own Rust client (docs/protocol.md
//! D83). It keeps metrics in a registry we own rather than a process-global recorder, so
//! two platforms in one test process never mix their counters, label sets are typed
//! structs (a per-session label cannot slip in by a format string), and it encodes the
//! text itself without an HTTP server of its own (axum serves it). `metrics` +
//! `metrics-exporter-prometheus` installs a global recorder and brings its own listener.
//!
//! No label names a session or a transfer: the series count stays fixed however many
//! clients connect.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// How a transfer ended (`completed`, `stopped`, `connection_lost`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    /// The outcome's name.
    pub outcome: String,
}

/// The kind of a received segment: `keyframe` (flag 0x01) or `delta`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// `keyframe` or `delta`.
    pub kind: String,
}

/// A protocol status code (the client's refusals, the errors answered over the API).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    /// The number, e.g. `404`, `1001`.
    pub code: String,
}

/// Every metric of the service, registered in its own registry.
pub struct Metrics {
    registry: Registry,
    /// Sessions whose connection is up.
    pub sessions_active: Gauge,
    /// Sessions ever accepted.
    pub sessions_total: Counter,
    /// Transfers still receiving.
    pub transfers_active: Gauge,
    /// Transfers ended, by outcome.
    pub transfers_total: Family<OutcomeLabel, Counter>,
    /// Segment data bytes written.
    pub bytes_received_total: Counter,
    /// Segments written, by kind.
    pub segments_received_total: Family<KindLabel, Counter>,
    /// Segments written that the client flagged as resent (0x20).
    pub segment_retransmissions_total: Counter,
    /// Sessions that named a previous session, and FileRequests with `resume_from_segment`.
    pub resumes_total: Counter,
    /// Refusals and errors by protocol status code.
    pub errors_total: Family<CodeLabel, Counter>,
    /// Connections' smoothed RTT, seconds, sampled once a second per connection.
    pub connection_rtt_seconds: Histogram,
    /// Connections' congestion windows, bytes, sampled once a second per connection.
    pub connection_congestion_window_bytes: Histogram,
    /// Packets quinn declared lost, all connections.
    pub lost_packets_total: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let m = Metrics {
            registry: Registry::default(),
            sessions_active: Gauge::default(),
            sessions_total: Counter::default(),
            transfers_active: Gauge::default(),
            transfers_total: Family::default(),
            bytes_received_total: Counter::default(),
            segments_received_total: Family::default(),
            segment_retransmissions_total: Counter::default(),
            resumes_total: Counter::default(),
            errors_total: Family::default(),
            // 0.1 ms .. ~3.3 s
            connection_rtt_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            // 4 KiB .. 128 MiB
            connection_congestion_window_bytes: Histogram::new(exponential_buckets(
                4096.0, 2.0, 16,
            )),
            lost_packets_total: Counter::default(),
        };
        // Counters get their `_total` suffix from the encoder.
        let r = &mut registry;
        r.register(
            "vstream_sessions_active",
            "Sessions whose connection is up",
            m.sessions_active.clone(),
        );
        r.register(
            "vstream_sessions",
            "Sessions accepted",
            m.sessions_total.clone(),
        );
        r.register(
            "vstream_transfers_active",
            "Transfers receiving",
            m.transfers_active.clone(),
        );
        r.register(
            "vstream_transfers",
            "Transfers ended, by outcome",
            m.transfers_total.clone(),
        );
        r.register(
            "vstream_bytes_received",
            "Segment data bytes written",
            m.bytes_received_total.clone(),
        );
        r.register(
            "vstream_segments_received",
            "Segments written, by kind (keyframe, delta)",
            m.segments_received_total.clone(),
        );
        r.register(
            "vstream_segment_retransmissions",
            "Segments written that were flagged as resent (0x20)",
            m.segment_retransmissions_total.clone(),
        );
        r.register(
            "vstream_resumes",
            "Transfers resumed: asked for again by the platform after a break (D64) or requested with resume_from_segment",
            m.resumes_total.clone(),
        );
        r.register(
            "vstream_errors",
            "Refusals and errors, by protocol status code",
            m.errors_total.clone(),
        );
        r.register(
            "vstream_connection_rtt_seconds",
            "Smoothed RTT of the connections, sampled each second",
            m.connection_rtt_seconds.clone(),
        );
        r.register(
            "vstream_connection_congestion_window_bytes",
            "Congestion window of the connections, sampled each second",
            m.connection_congestion_window_bytes.clone(),
        );
        r.register(
            "vstream_lost_packets",
            "Packets declared lost on the connections",
            m.lost_packets_total.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts an error with this protocol code.
    pub fn error(&self, code: u16) {
        self.errors_total
            .get_or_create(&CodeLabel {
                code: code.to_string(),
            })
            .inc();
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_required_family_is_in_the_text() {
        let m = Metrics::new();
        m.error(404);
        m.transfers_total
            .get_or_create(&OutcomeLabel {
                outcome: "completed".into(),
            })
            .inc();
        let text = m.encode();
        for name in [
            "vstream_sessions_active ",
            "vstream_sessions_total ",
            "vstream_transfers_active ",
            "vstream_transfers_total{outcome=\"completed\"} 1",
            "vstream_bytes_received_total ",
            "vstream_segment_retransmissions_total ",
            "vstream_resumes_total ",
            "vstream_errors_total{code=\"404\"} 1",
            "vstream_connection_rtt_seconds_bucket",
            "vstream_connection_congestion_window_bytes_bucket",
            "vstream_lost_packets_total ",
        ] {
            assert!(text.contains(name), "{name} missing from\n{text}");
        }
    }
}
