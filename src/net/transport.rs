//! QUIC transport parameters of the specification ("连接参数", "QUIC传输优化").

use quinn::congestion::{BbrConfig, CubicConfig};
use quinn::{EndpointConfig, IdleTimeout, MtuDiscoveryConfig, TransportConfig, VarInt};
use std::sync::Arc;
use std::time::Duration;

/// Which congestion controller a connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Congestion {
    /// BBR, as the specification asks.
    #[default]
    Bbr,
    /// CUBIC (quinn's default). Both are byte-deterministic in simulation (D36).
    Cubic,
}

/// The transport parameters, with the specification's values as defaults.
#[derive(Debug, Clone)]
pub struct TransportSettings {
    /// Concurrent unidirectional streams the peer may open (100).
    pub max_concurrent_uni_streams: u32,
    /// Concurrent bidirectional streams the peer may open (10).
    pub max_concurrent_bidi_streams: u32,
    /// Receive window of one stream (5 MiB).
    pub stream_receive_window: u32,
    /// Receive window of the connection (50 MiB): the most a connection is given.
    pub receive_window: u32,
    /// The connection receive window advertised in the handshake (8 MiB), before the
    /// platform sets each connection's share of its receive budget (at once, up to
    /// `receive_window`: D38). Credit granted in the handshake cannot be taken back, so
    /// advertising the full 50 MiB let ten clients connecting together park 500 MiB
    /// before any budget applied.
    pub initial_receive_window: u32,
    /// Bytes the sender may have written but not yet had acknowledged, all streams together
    /// (16 MiB). The specification sets no send window; this bounds the client's memory
    /// (every such byte is buffered) while covering a 1 Gbit/s x 100 ms path.
    pub send_window: u64,
    /// Idle timeout (30 s).
    pub idle_timeout: Duration,
    /// Keep-alive interval (5 s).
    pub keep_alive: Duration,
    /// Congestion controller (BBR).
    pub congestion: Congestion,
    /// Initial RTT estimate before any sample (quinn's default 333 ms).
    pub initial_rtt: Duration,
    /// Round-robin among streams of equal priority (quinn's default) when true; when false
    /// (ours), the stream opened first is sent first. Segments are opened in order, so
    /// without fairness they also arrive in order and each finishes as soon as it can,
    /// instead of every in-flight segment advancing one packet at a time. Priorities still
    /// apply (control streams first, then audio at 255, video at 128, and FileRequest
    /// `priority` between transfers): fairness only orders equals (D38).
    pub send_fairness: bool,
    /// The largest UDP payload this side sends and accepts (D102; default 1452, quinn's
    /// Ethernet-safe bound). Above it, MTU discovery climbs from 1200 up to this bound
    /// (e.g. 8952 on a LAN with 9000-byte jumbo frames; loopback carries up to 65527).
    /// Both sides must allow it: a peer accepts no more than its own setting.
    pub max_udp_payload: u16,
    /// The UDP payload the path is known to carry (default 1200, QUIC's minimum): where
    /// MTU discovery starts and the floor black-hole detection falls back to (D102). Raise
    /// it only for a path that certainly carries it (a LAN whose MTU you set).
    pub min_udp_payload: u16,
    /// Bytes of received QUIC DATAGRAM frames quinn may hold for this side (D109); `None`
    /// turns datagrams off: nothing is advertised, none may be sent or received. The
    /// default, 64 KiB (`u16::MAX`) plus room for quinn's per-datagram overhead, advertises
    /// the same `max_datagram_frame_size` (65535) as quinn's default while holding 19 times
    /// less than its 1.25 MB. The only datagrams vstream sends are the client's tail probes
    /// after realtime segments (D109), which the platform reads and discards; quinn drops
    /// the oldest held datagram when the bound is reached, so this is a hard bound. A
    /// value below `u16::MAX` is also what is advertised, and quinn closes the connection
    /// on a datagram within 32 bytes of it: keep the default unless turning datagrams off.
    pub datagram_receive_buffer: Option<usize>,
}

/// The default [`TransportSettings::datagram_receive_buffer`]: the largest DATAGRAM frame
/// a peer may send under the advertised 65535 bytes, plus quinn's 32-byte bookkeeping per
/// held datagram, with room to spare (a frame that did not fit quinn's buffer would be a
/// protocol violation).
pub const DATAGRAM_RECEIVE_BUFFER: usize = u16::MAX as usize + 1024;

/// The payload above which segmentation offload is turned off (D102): the Ethernet MTU's.
const OFFLOAD_LIMIT: u16 = 1472;

impl Default for TransportSettings {
    fn default() -> Self {
        TransportSettings {
            max_concurrent_uni_streams: 100,
            max_concurrent_bidi_streams: 10,
            stream_receive_window: 5 * 1024 * 1024,
            receive_window: 50 * 1024 * 1024,
            initial_receive_window: 8 * 1024 * 1024,
            send_window: 16 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(5),
            congestion: Congestion::Bbr,
            initial_rtt: Duration::from_millis(333),
            send_fairness: false,
            max_udp_payload: 1452,
            min_udp_payload: 1200,
            datagram_receive_buffer: Some(DATAGRAM_RECEIVE_BUFFER),
        }
    }
}

impl TransportSettings {
    /// The quinn transport configuration these settings describe.
    pub fn to_quinn(&self) -> TransportConfig {
        let mut t = TransportConfig::default();
        t.max_concurrent_uni_streams(VarInt::from_u32(self.max_concurrent_uni_streams))
            .max_concurrent_bidi_streams(VarInt::from_u32(self.max_concurrent_bidi_streams))
            .stream_receive_window(VarInt::from_u32(self.stream_receive_window))
            .receive_window(VarInt::from_u32(
                self.initial_receive_window.min(self.receive_window),
            ))
            .send_window(self.send_window)
            .keep_alive_interval(Some(self.keep_alive))
            .initial_rtt(self.initial_rtt)
            .send_fairness(self.send_fairness)
            .datagram_receive_buffer_size(self.datagram_receive_buffer);
        // An idle timeout beyond 2^62 ms is not representable; ours are seconds.
        t.max_idle_timeout(IdleTimeout::try_from(self.idle_timeout).ok());
        match self.congestion {
            Congestion::Bbr => t.congestion_controller_factory(Arc::new(BbrConfig::default())),
            Congestion::Cubic => t.congestion_controller_factory(Arc::new(CubicConfig::default())),
        };
        let (min, max) = self.udp_payload_bounds();
        let mut mtud = MtuDiscoveryConfig::default();
        mtud.upper_bound(max);
        t.initial_mtu(min)
            .min_mtu(min)
            .mtu_discovery_config(Some(mtud))
            // Large datagrams in segmentation-offload batches (up to 64 KiB each sendmsg)
            // overflow the receiver's socket in bursts of big packets only, which quinn's
            // black-hole detector reads as "the path drops large packets" and falls back to
            // 1200 bytes for good (D102). Without offload, 9000-byte datagrams carry more
            // than 1452-byte ones with it.
            .enable_segmentation_offload(max <= OFFLOAD_LIMIT);
        t
    }

    /// `(min_udp_payload, max_udp_payload)` clamped to what QUIC allows: 1200..=65527, the
    /// minimum no larger than the maximum.
    pub fn udp_payload_bounds(&self) -> (u16, u16) {
        let max = self.max_udp_payload.clamp(1200, 65_527);
        (self.min_udp_payload.clamp(1200, max), max)
    }

    /// The endpoint configuration: accepts datagrams up to `max_udp_payload` (quinn's
    /// default, 1472, would cap what the peer may send whatever MTU discovery finds).
    pub fn endpoint_config(&self) -> EndpointConfig {
        let mut config = EndpointConfig::default();
        let (_, max) = self.udp_payload_bounds();
        // In range by construction (udp_payload_bounds), so this cannot fail.
        let _ = config.max_udp_payload_size(max.max(1472));
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_payload_bounds_are_clamped_to_what_quic_allows() {
        let mut s = TransportSettings::default();
        assert_eq!(s.udp_payload_bounds(), (1200, 1452));
        s.max_udp_payload = 9000;
        assert_eq!(s.udp_payload_bounds(), (1200, 9000));
        s.max_udp_payload = 100;
        assert_eq!(s.udp_payload_bounds(), (1200, 1200));
        s.max_udp_payload = u16::MAX;
        s.min_udp_payload = u16::MAX;
        assert_eq!(s.udp_payload_bounds(), (65_527, 65_527));
        s.max_udp_payload = 9000;
        s.min_udp_payload = 1500;
        assert_eq!(s.udp_payload_bounds(), (1500, 9000));
        // Building never panics, whatever the values.
        let _ = s.to_quinn();
        let _ = s.endpoint_config();
    }
}
