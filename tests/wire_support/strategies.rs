//! proptest strategies for every wire value (finite floats, in-range fields), shared by
//! the wire property tests.

use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;
use vstream::wire::*;

pub fn finite_nonneg() -> impl Strategy<Value = f64> {
    prop_oneof![
        0.0..1e7f64,
        Just(0.0),
        (0u32..100_000).prop_map(|n| f64::from(n) / 8.0)
    ]
}

pub fn rate() -> impl Strategy<Value = f64> {
    prop_oneof![0.25..=4.0f64, Just(0.25), Just(4.0), Just(1.0)]
}

pub fn text() -> impl Strategy<Value = String> {
    prop_oneof!["[a-z_/.]{0,12}", any::<String>()]
}

pub fn transfer_id() -> impl Strategy<Value = TransferId> {
    (0..=TransferId::MAX).prop_map(|v| TransferId::new(v).expect("48 bits"))
}

pub fn segment_id() -> impl Strategy<Value = SegmentId> {
    prop_oneof![
        (transfer_id(), any::<u32>()).prop_map(|(t, i)| SegmentId::new(t, i)),
        any::<u128>().prop_map(|u| SegmentId::from_uuid(Uuid::from_u128(u))),
    ]
}

pub fn json_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-1e9..1e9f64).prop_map(Value::from),
        text().prop_map(Value::from),
    ]
}

pub fn json_value() -> impl Strategy<Value = Value> {
    json_leaf().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec(("[a-z_]{1,8}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

pub fn json_map() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec(("[a-z_]{1,8}", json_value()), 0..4)
        .prop_map(|kv| kv.into_iter().collect())
}

pub fn pick<T: Copy + std::fmt::Debug + 'static>(all: &'static [T]) -> impl Strategy<Value = T> {
    prop::sample::select(all)
}

pub fn file_request() -> impl Strategy<Value = FileRequest> {
    (
        (text(), 1u8..=255, prop::option::of(finite_nonneg()), rate()),
        (
            pick(QualityPreference::ALL),
            pick(SegmentMode::ALL),
            prop::option::of(1u64..),
            prop::option::of(prop_oneof![
                any::<u32>().prop_map(ResumePoint::Index),
                segment_id().prop_map(ResumePoint::SegmentId),
            ]),
            pick(Pacing::ALL),
            any::<bool>(),
        ),
    )
        .prop_map(
            |((path, priority, seek, rate), (q, mode, bw, resume, pacing, meta))| FileRequest {
                file_path: path,
                priority,
                seek_position: seek,
                playback_rate: rate,
                quality_preference: q,
                segment_mode: mode,
                max_bandwidth: bw,
                resume_from_segment: resume,
                pacing,
                segment_metadata: meta,
                held_segments: Vec::new(),
            },
        )
}

pub fn pause() -> impl Strategy<Value = Pause> {
    (prop::option::of(text()), any::<bool>()).prop_map(|(reason, preserve_position)| Pause {
        reason,
        preserve_position,
    })
}

pub fn resume() -> impl Strategy<Value = Resume> {
    (prop::option::of(finite_nonneg()), any::<bool>()).prop_map(|(from_position, fade_in)| Resume {
        from_position,
        fade_in,
    })
}

pub fn command() -> impl Strategy<Value = PlaybackCommand> {
    prop_oneof![
        (finite_nonneg(), any::<bool>(), any::<bool>()).prop_map(|(p, a, r)| {
            PlaybackCommand::Seek(Seek {
                position: p,
                accurate: a,
                resume_after_seek: r,
            })
        }),
        (rate(), any::<bool>(), any::<bool>()).prop_map(|(r, s, m)| {
            PlaybackCommand::SetRate(SetRate {
                rate: r,
                smooth_transition: s,
                maintain_audio: m,
            })
        }),
        pause().prop_map(PlaybackCommand::Pause),
        resume().prop_map(PlaybackCommand::Resume),
        (prop::option::of(text()), any::<bool>(), any::<bool>()).prop_map(|(r, c, s)| {
            PlaybackCommand::Stop(Stop {
                reason: r,
                cleanup_resources: c,
                send_statistics: s,
            })
        }),
        (
            prop::option::of(any::<u64>()),
            prop::option::of(text()),
            any::<bool>()
        )
            .prop_map(|(b, r, a)| PlaybackCommand::AdjustQuality(AdjustQuality {
                target_bitrate: b,
                max_resolution: r,
                adaptive: a,
            })),
        (
            prop::option::of(finite_nonneg()),
            prop::option::of(finite_nonneg()),
            prop::option::of(finite_nonneg())
        )
            .prop_map(|(t, m, p)| PlaybackCommand::BufferControl(BufferControl {
                target_buffer_size: t,
                max_buffer_size: m,
                prebuffer_duration: p,
            })),
    ]
}

pub fn file_entry() -> impl Strategy<Value = FileEntry> {
    (
        (
            text(),
            any::<u64>(),
            prop::option::of(finite_nonneg()),
            text(),
            any::<bool>(),
        ),
        (
            prop::option::of((any::<u32>(), any::<u32>()).prop_map(|(w, h)| Resolution::new(w, h))),
            prop::option::of((prop::option::of(text()), prop::option::of(text())))
                .prop_map(|c| c.map(|(video, audio)| CodecInfo { video, audio })),
            prop::option::of(finite_nonneg()),
            prop::option::of(any::<u64>()),
            prop::option::of(text()),
        ),
    )
        .prop_map(|((p, size, d, f, a), (res, codec, fr, br, ck))| FileEntry {
            file_path: p,
            file_size: size,
            duration: d,
            format: f,
            available: a,
            resolution: res,
            codec,
            frame_rate: fr,
            bit_rate: br,
            checksum: ck,
        })
}

pub fn error_report() -> impl Strategy<Value = ErrorReport> {
    (
        any::<u16>(),
        text(),
        prop::option::of(text()),
        prop::option::of(any::<u64>()),
        prop::option::of(any::<u32>()),
        prop::option::of(json_map()),
        prop::option::of(json_map()),
    )
        .prop_map(|(c, m, t, ra, mr, d, ctx)| ErrorReport {
            error_code: StatusCode::from_u16(c),
            error_message: m,
            error_type: t,
            retry_after: ra,
            max_retries: mr,
            details: d,
            context: ctx,
        })
}

pub fn message() -> impl Strategy<Value = Message> {
    let opt_tid = || prop::option::of(transfer_id());
    prop_oneof![
        // Plain text (which cannot start with `{`: that is the object form, D90) or the
        // object form with a device id and maybe a token.
        text()
            .prop_filter("object form", |t| !t.starts_with('{'))
            .prop_map(|text| Message::SessionStart(SessionStart {
                text,
                device_id: None,
                token: None,
            })),
        ("[A-Za-z0-9._:@-]{1,128}", prop::option::of("[!-~]{1,256}")).prop_map(|(id, token)| {
            Message::SessionStart(
                SessionStart::with_device(&id, token.as_deref()).expect("valid by construction"),
            )
        }),
        Just(Message::SessionEnd),
        (
            finite_nonneg(),
            pick(SeekType::ALL),
            pick(SeekDirection::ALL),
            prop::option::of(finite_nonneg()),
            opt_tid()
        )
            .prop_map(|(p, t, d, m, tid)| Message::SeekRequest(SeekRequest {
                target_position: p,
                seek_type: t,
                direction: d,
                max_seek_time: m,
                transfer_id: tid,
            })),
        (
            rate(),
            prop::option::of(finite_nonneg()),
            pick(AudioHandling::ALL),
            opt_tid()
        )
            .prop_map(|(r, t, a, tid)| Message::RateChange(RateChange {
                new_rate: r,
                transition_duration: t,
                audio_handling: a,
                transfer_id: tid,
            })),
        (pause(), opt_tid()).prop_map(|(pause, transfer_id)| Message::PauseRequest(PauseRequest {
            pause,
            transfer_id
        })),
        (resume(), opt_tid()).prop_map(|(resume, transfer_id)| Message::ResumeRequest(
            ResumeRequest {
                resume,
                transfer_id
            }
        )),
        error_report().prop_map(Message::ErrorReport),
        opt_tid().prop_map(|transfer_id| Message::StatsRequest(StatsRequest { transfer_id })),
        (any::<u16>(), any::<String>()).prop_map(|(c, m)| Message::StatusResponse(
            StatusResponse::new(StatusCode::from_u16(c), m)
        )),
        any::<[u8; 3]>()
            .prop_map(|[a, b, c]| Message::VersionNegotiation(ProtocolVersion::new(a, b, c))),
        file_request().prop_map(Message::FileRequest),
        (command(), opt_tid()).prop_map(|(command, transfer_id)| Message::PlaybackControl(
            PlaybackControl {
                command,
                transfer_id
            }
        )),
        prop::option::of(text())
            .prop_map(|filter| Message::FileListQuery(FileListQuery { filter })),
        (
            prop::collection::vec(file_entry(), 0..3),
            prop::option::of(any::<u64>())
        )
            .prop_map(|(files, ack)| Message::FileListResponse(FileListResponse { files, ack })),
        (15u8.., prop::collection::vec(any::<u8>(), 0..32)).prop_map(|(t, payload)| {
            Message::Unknown {
                message_type: t,
                payload,
            }
        }),
        prop::collection::vec(any::<u8>(), 0..32).prop_map(|payload| Message::Unknown {
            message_type: 0,
            payload
        }),
    ]
}

pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    // Years 0000 to 9999 with nanosecond precision.
    (-62_167_219_200i64..253_402_300_799, 0u32..1_000_000_000).prop_map(|(s, n)| {
        let at = OffsetDateTime::from_unix_timestamp(s).expect("in range")
            + time::Duration::nanoseconds(i64::from(n));
        Timestamp::new(at).expect("in range")
    })
}

pub fn segment() -> impl Strategy<Value = Segment> {
    let data = || prop::collection::vec(any::<u8>(), 0..64).prop_map(Bytes::from);
    let metadata = prop::option::of(
        json_map().prop_map(|m| serde_json::to_vec(&Value::Object(m)).expect("serializable")),
    );
    prop_oneof![
        (
            segment_id(),
            finite_nonneg(),
            finite_nonneg(),
            any::<u32>(),
            any::<u8>(),
            metadata,
            data()
        )
            .prop_map(|(id, ts, dur, fc, flags, metadata, data)| {
                Segment::video(
                    VideoHeader {
                        id,
                        timestamp: ts,
                        duration: dur,
                        frame_count: fc,
                        flags: SegmentFlags(flags),
                        data_length: 0,
                        metadata,
                    },
                    data,
                )
                .expect("small")
            }),
        (
            segment_id(),
            finite_nonneg(),
            finite_nonneg(),
            any::<u32>(),
            any::<u16>(),
            data()
        )
            .prop_map(|(id, ts, dur, sr, ch, data)| {
                Segment::audio(
                    AudioHeader {
                        id,
                        timestamp: ts,
                        duration: dur,
                        sample_rate: sr,
                        channels: ch,
                        data_length: 0,
                    },
                    data,
                )
                .expect("small")
            }),
    ]
}
