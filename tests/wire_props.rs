//! Property tests of the wire layer: every typed value survives encode -> decode, and no
//! decoder panics on arbitrary input (bytes, or arbitrary JSON for the JSON payloads).

use proptest::prelude::*;
use serde_json::{Map, Value};
use uuid::Uuid;
use vstream::wire::*;

#[path = "wire_support/strategies.rs"]
mod strategies;
use strategies::*;

// ---------- round trips ----------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_message_round_trips(m in message()) {
        let payload = m.to_payload();
        let back = Message::decode(m.message_type(), &payload);
        prop_assert_eq!(back, Ok(m));
    }

    #[test]
    fn json_envelope_round_trips(
        m in message(), seq in any::<u64>(), ts in timestamp(), session in any::<u128>()
    ) {
        let env = JsonEnvelope::wrap(&m, seq, ts, Uuid::from_u128(session));
        let bytes = env.to_bytes();
        prop_assert_eq!(bytes.first(), Some(&b'{'));
        let back = JsonEnvelope::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &env);
        prop_assert_eq!(UniStream::decode(&bytes), Ok(UniStream::Envelope(env)));
        prop_assert_eq!(back.message(), Ok(m));
    }

    #[test]
    fn binary_envelope_round_trips(m in message(), seq in any::<u64>(), ms in any::<u64>()) {
        let env = BinaryEnvelope::wrap(&m, seq, ms).unwrap();
        let bytes = env.to_bytes();
        prop_assert_eq!(bytes.len(), 21 + env.payload().len());
        let back = BinaryEnvelope::decode_exact(&bytes).unwrap();
        prop_assert_eq!(&back, &env);
        prop_assert_eq!(back.message(), Ok(m));
    }

    #[test]
    fn segments_round_trip_and_decode_maybe_waits_at_every_split(s in segment()) {
        let bytes = s.to_bytes();
        prop_assert_eq!(Segment::decode(&bytes), Ok(s.clone()));
        prop_assert_eq!(UniStream::decode(&bytes), Ok(UniStream::Segment(s.clone())));
        let header_len = s.header().encoded_len();
        for cut in 0..=bytes.len() {
            let got = SegmentHeader::decode_maybe(&bytes[..cut]).unwrap();
            if cut < header_len {
                prop_assert!(got.is_none());
            } else {
                prop_assert_eq!(got, Some((s.header().clone(), header_len)));
            }
        }
    }

    #[test]
    fn segment_ids_carry_transfer_and_index(t in transfer_id(), i in any::<u32>()) {
        let id = SegmentId::new(t, i);
        prop_assert_eq!(id.parts(), Some((t, i)));
        prop_assert_eq!(id.as_uuid().get_version_num(), 8);
        prop_assert_eq!(t.to_string().parse::<TransferId>(), Ok(t));
    }

    #[test]
    fn acks_round_trip(
        ack in any::<u64>(), t in transfer_id(), path in text(), size in any::<u64>(),
        mode in pick(SegmentMode::ALL), seg in prop::option::of(any::<u64>()),
        total in any::<u32>(), start in any::<u32>(), pos in finite_nonneg(), r in rate(),
        state in pick(&[PlaybackState::Streaming, PlaybackState::Paused, PlaybackState::Stopped, PlaybackState::Completed]),
    ) {
        let fra = FileRequestAck {
            ack, transfer_id: t, file_path: path, file_size: size, checksum: Some("sha256:00".into()),
            segment_mode: mode, segment_size: seg, total_segments: total, start_segment: start,
        };
        prop_assert_eq!(FileRequestAck::from_status_response(&fra.to_status_response()), Ok(fra));
        let mut pa = PlaybackAck::new(ack, state, pos, r);
        pa.transfer_id = Some(t);
        pa.start_segment = Some(start);
        pa.bandwidth_cap = Some(size.max(1));
        pa.not_applied = vec!["max_resolution".into()];
        prop_assert_eq!(PlaybackAck::from_status_response(&pa.to_status_response()), Ok(pa));
    }
}

// ---------- arbitrary input never panics ----------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_bytes_never_panic_any_decoder(t in any::<u8>(), bytes in prop::collection::vec(any::<u8>(), 0..128)) {
        let _ = Message::decode(MessageType::from_u8(t), &bytes);
        let _ = JsonEnvelope::decode(&bytes);
        let _ = BinaryEnvelope::decode(&mut &bytes[..]);
        let _ = BinaryEnvelope::decode_exact(&bytes);
        let _ = Segment::decode(&bytes);
        let _ = UniStream::decode(&bytes);
        let _ = ExtendedMetadata::from_bytes(&bytes);
        let _ = SegmentRetransmissionRequest::decode(&bytes);
        for cut in 0..=bytes.len() {
            let _ = SegmentHeader::decode_maybe(&bytes[..cut]);
        }
        if let Some(&b) = bytes.first() {
            let _ = classify_stream(b);
        }
        let r = StatusResponse::new(StatusCode::Success, String::from_utf8_lossy(&bytes));
        let _ = (Ack::from_status_response(&r), FileRequestAck::from_status_response(&r), PlaybackAck::from_status_response(&r), r.ack());
    }

    #[test]
    fn segment_shaped_bytes_never_panic(
        kind in prop_oneof![Just(1u8), Just(2u8)], flags in any::<u8>(),
        rest in prop::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut bytes = vec![kind];
        bytes.extend_from_slice(&rest);
        if bytes.len() > 37 { bytes[37] = flags; }
        let _ = Segment::decode(&bytes);
        for cut in 0..=bytes.len() {
            let _ = SegmentHeader::decode_maybe(&bytes[..cut]);
        }
    }

    #[test]
    fn binary_envelope_shaped_bytes_never_panic(
        t in any::<u8>(), len in prop_oneof![0u32..64, any::<u32>()],
        rest in prop::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut bytes = vec![t];
        bytes.extend_from_slice(&[0; 16]);
        bytes.extend_from_slice(&len.to_be_bytes());
        bytes.extend_from_slice(&rest);
        if let Ok(env) = BinaryEnvelope::decode_exact(&bytes) {
            let _ = env.message();
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_json_never_panics_payload_decoders(v in json_value(), t in 1u8..=14) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let _ = Message::decode(MessageType::from_u8(t), &bytes);
        let _ = JsonEnvelope::decode(&bytes);
    }

    #[test]
    fn json_objects_with_known_keys_never_panic(
        t in 1u8..=14,
        fields in prop::collection::vec((
            prop::sample::select(&[
                "file_path", "priority", "seek_position", "playback_rate", "quality_preference",
                "segment_mode", "max_bandwidth", "resume_from_segment", "pacing", "segment_metadata",
                "error_code", "error_message", "details", "context", "segment_id", "reason",
                "transfer_id", "target_position", "new_rate", "Seek", "SetRate", "Pause", "Resume",
                "Stop", "position", "rate", "from_position", "files", "filter", "message_type",
                "payload", "sequence_number", "timestamp", "session_id",
            ][..]),
            json_value(),
        ), 0..6),
    ) {
        let obj: Map<String, Value> = fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let bytes = serde_json::to_vec(&Value::Object(obj)).unwrap();
        let _ = Message::decode(MessageType::from_u8(t), &bytes);
        let _ = JsonEnvelope::decode(&bytes);
    }
}
