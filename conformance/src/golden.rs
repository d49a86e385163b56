//! The golden vectors: one binary frame per message type and per segment kind, and the
//! specification's JSON examples, each with its fully written expected value.
//!
//! This list is the single source for both the golden test (`tests/golden.rs`), which only
//! reads the files, and `cargo xtask bless-golden`, which rewrites the binary files from the
//! expected values here. The spec JSON files are verbatim copies of the specification's
//! text and are never rewritten.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::{json, Map, Value};
use uuid::Uuid;
use vstream::wire::*;

/// The `golden/` folder at the workspace root.
pub fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("golden")
}

/// The session id of the specification's examples.
pub fn spec_session() -> Uuid {
    Uuid::from_u128(0x550e8400_e29b_41d4_a716_446655440000)
}

/// What a binary golden file holds.
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenValue {
    /// A message in the binary envelope.
    Envelope {
        /// Sequence number.
        sequence_number: u64,
        /// Unix milliseconds.
        timestamp_ms: u64,
        /// The message.
        message: Message,
    },
    /// A whole segment stream.
    Segment(Segment),
}

impl GoldenValue {
    /// The bytes the file must hold.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            GoldenValue::Envelope {
                sequence_number,
                timestamp_ms,
                message,
            } => BinaryEnvelope::wrap(message, *sequence_number, *timestamp_ms)
                .expect("golden payloads are small")
                .to_bytes(),
            GoldenValue::Segment(s) => s.to_bytes(),
        }
    }

    /// Decodes `bytes` as the same kind of value as `self`.
    pub fn decode_like(&self, bytes: &[u8]) -> Result<GoldenValue, WireError> {
        match self {
            GoldenValue::Envelope { .. } => {
                let env = BinaryEnvelope::decode_exact(bytes)?;
                Ok(GoldenValue::Envelope {
                    sequence_number: env.sequence_number(),
                    timestamp_ms: env.timestamp_ms(),
                    message: env.message()?,
                })
            }
            GoldenValue::Segment(_) => Segment::decode(bytes).map(GoldenValue::Segment),
        }
    }
}

/// One binary golden file.
#[derive(Debug, Clone)]
pub struct Golden {
    /// File name under `golden/`.
    pub file: &'static str,
    /// The expected value.
    pub value: GoldenValue,
}

const T0: u64 = 1_765_415_785_000; // 2025-12-11T01:16:25Z, as in the specification

fn env(file: &'static str, seq: u64, message: Message) -> Golden {
    Golden {
        file,
        value: GoldenValue::Envelope {
            sequence_number: seq,
            timestamp_ms: T0 + seq,
            message,
        },
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// The transfer id used by the golden segments and examples.
pub fn golden_transfer() -> TransferId {
    TransferId::new(0x0123_4567_89ab).expect("48 bits")
}

/// Every binary golden vector.
pub fn vectors() -> Vec<Golden> {
    let t = golden_transfer();
    let mut file_request = FileRequest::new("test_videos/video1.mp4");
    file_request.priority = 200;
    file_request.seek_position = Some(30.0);
    file_request.quality_preference = QualityPreference::LowLatency;
    file_request.segment_mode = SegmentMode::Frame;
    file_request.max_bandwidth = Some(10_000_000);
    file_request.resume_from_segment = Some(ResumePoint::Index(12));
    file_request.pacing = Pacing::Realtime;
    file_request.segment_metadata = true;
    vec![
        env(
            "01-session-start.bin",
            1,
            Message::SessionStart(SessionStart::client_ready()),
        ),
        env("02-session-end.bin", 999, Message::SessionEnd),
        env(
            "03-seek-request.bin",
            6,
            Message::SeekRequest(SeekRequest {
                target_position: 120.5,
                seek_type: SeekType::Keyframe,
                direction: SeekDirection::Forward,
                max_seek_time: Some(2.0),
                transfer_id: Some(t),
            }),
        ),
        env(
            "04-rate-change.bin",
            7,
            Message::RateChange(RateChange {
                new_rate: 1.5,
                transition_duration: Some(1.0),
                audio_handling: AudioHandling::PitchPreserve,
                transfer_id: None,
            }),
        ),
        env(
            "05-pause-request.bin",
            8,
            Message::PauseRequest(PauseRequest {
                pause: Pause {
                    reason: Some("buffering".into()),
                    preserve_position: true,
                },
                transfer_id: None,
            }),
        ),
        env(
            "06-resume-request.bin",
            9,
            Message::ResumeRequest(ResumeRequest {
                resume: Resume {
                    from_position: Some(42.0),
                    fade_in: false,
                },
                transfer_id: Some(t),
            }),
        ),
        env(
            "07-error-report.bin",
            100,
            Message::ErrorReport(ErrorReport {
                error_code: StatusCode::NotFound,
                error_message: "no such file: test_videos/missing.mp4".into(),
                error_type: Some("NotFound".into()),
                retry_after: None,
                max_retries: None,
                details: Some(obj(json!({"ack": 4, "file_path": "test_videos/missing.mp4"}))),
                context: None,
            }),
        ),
        env(
            "08-stats-request.bin",
            11,
            Message::StatsRequest(StatsRequest {
                transfer_id: Some(t),
            }),
        ),
        env(
            "09-status-response.bin",
            2,
            Message::StatusResponse(StatusResponse {
                code: StatusCode::Success,
                message: format!(r#"{{"ack":1,"session_id":"{}"}}"#, spec_session()),
            }),
        ),
        env(
            "0a-version-negotiation.bin",
            1,
            Message::VersionNegotiation(ProtocolVersion::new(1, 0, 0)),
        ),
        env("0b-file-request.bin", 4, Message::FileRequest(file_request)),
        env(
            "0c-playback-control.bin",
            5,
            Message::PlaybackControl(PlaybackControl {
                command: PlaybackCommand::Seek(Seek {
                    position: 45.5,
                    accurate: true,
                    resume_after_seek: true,
                }),
                transfer_id: Some(t),
            }),
        ),
        env(
            "0d-file-list-query.bin",
            2,
            Message::FileListQuery(FileListQuery {
                filter: Some("mp4".into()),
            }),
        ),
        env(
            "0e-file-list-response.bin",
            3,
            Message::FileListResponse(spec_file_list()),
        ),
        env(
            "unknown-0x2a.bin",
            12,
            Message::Unknown {
                message_type: 0x2A,
                payload: b"future".to_vec(),
            },
        ),
        Golden {
            file: "segment-video.bin",
            value: GoldenValue::Segment(
                Segment::video(
                    VideoHeader {
                        id: SegmentId::new(t, 0),
                        timestamp: 0.0,
                        duration: 0.04,
                        frame_count: 1,
                        flags: SegmentFlags::KEYFRAME
                            | SegmentFlags::SPS
                            | SegmentFlags::PPS
                            | SegmentFlags::IDR,
                        data_length: 0,
                        metadata: None,
                    },
                    Bytes::from_static(&[0, 0, 0, 1, 0x67, 0x42, 0, 0x1e, 0, 0, 0, 1, 0x65, 0x88]),
                )
                .expect("small"),
            ),
        },
        Golden {
            file: "segment-audio.bin",
            value: GoldenValue::Segment(
                Segment::audio(
                    AudioHeader {
                        id: SegmentId::new(t, 1),
                        timestamp: 0.021_333_333_333_333_333,
                        duration: 0.021_333_333_333_333_333,
                        sample_rate: 48_000,
                        channels: 2,
                        data_length: 0,
                    },
                    Bytes::from_static(&[0xFF, 0xF1, 0x50, 0x80, 0x02, 0x1F, 0xFC]),
                )
                .expect("small"),
            ),
        },
        Golden {
            file: "segment-video-metadata.bin",
            value: GoldenValue::Segment(
                Segment::video(
                    VideoHeader {
                        id: SegmentId::new(t, 2),
                        timestamp: 0.08,
                        duration: 0.04,
                        frame_count: 1,
                        flags: SegmentFlags::END_OF_TRANSFER,
                        data_length: 0,
                        metadata: Some(br#"{"codec":"h264","profile":"High","level":"4.1","resolution":"1920x1080","frame_rate":30.0,"segment_mode":"frame_level"}"#.to_vec()),
                    },
                    Bytes::from_static(&[0, 0, 0, 1, 0x41, 0x9a]),
                )
                .expect("small"),
            ),
        },
    ]
}

/// The FileListResponse of the specification's example.
pub fn spec_file_list() -> FileListResponse {
    FileListResponse {
        files: vec![FileEntry {
            file_path: "test_videos/video1.mp4".into(),
            file_size: 1_048_576,
            duration: Some(60.5),
            format: "mp4".into(),
            available: true,
            resolution: Some(Resolution {
                width: 1920,
                height: 1080,
                aspect_ratio: "16:9".into(),
            }),
            codec: Some(CodecInfo {
                video: Some("H.264".into()),
                audio: Some("AAC".into()),
            }),
            frame_rate: Some(30.0),
            bit_rate: Some(5_000_000),
            checksum: Some("sha256:abc123...".into()),
        }],
        ack: None,
    }
}

/// Writes every binary golden file from its expected value; returns the paths written.
pub fn bless(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for g in vectors() {
        let path = dir.join(g.file);
        std::fs::write(&path, g.value.encode())?;
        written.push(path);
    }
    Ok(written)
}

/// Checks every binary golden file: it decodes to the expected value and the expected
/// value encodes to exactly its bytes. Returns one line per failure.
pub fn check(dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    for g in vectors() {
        let path = dir.join(g.file);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{}: {e} (run `cargo xtask bless-golden`)", g.file));
                continue;
            }
        };
        match g.value.decode_like(&bytes) {
            Ok(v) if v == g.value => {}
            Ok(v) => failures.push(format!("{}: decoded {v:?}, expected {:?}", g.file, g.value)),
            Err(e) => failures.push(format!("{}: does not decode: {e}", g.file)),
        }
        let encoded = g.value.encode();
        if encoded != bytes {
            failures.push(format!(
                "{}: expected value encodes to {}, file holds {}",
                g.file,
                hex::encode(&encoded),
                hex::encode(&bytes)
            ));
        }
    }
    failures
}

/// Removes `//` comments (outside strings) from the specification's annotated JSON.
///
/// The specification annotates its JSON examples with `//` comments; the wire format is
/// strict JSON (a comment in an envelope is a 400), so the examples are read through this.
pub fn strip_json_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let mut in_string = false;
        let mut escaped = false;
        let mut cut = line.len();
        let bytes = line.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            if in_string {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => in_string = false,
                    _ => {}
                }
            } else if b == b'"' {
                in_string = true;
            } else if b == b'/' && bytes.get(i + 1) == Some(&b'/') {
                cut = i;
                break;
            }
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}
