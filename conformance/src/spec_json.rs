//! The specification's JSON examples (`golden/spec-json/*.json`, verbatim) and what each
//! must decode to.
//!
//! Examples whose payload is a placeholder such as "Base64编码的文件请求" are not valid
//! envelopes: they must be refused with 400, which is what a peer would answer.

use std::path::Path;

use serde_json::json;
use vstream::wire::*;

use crate::golden::{spec_file_list, spec_session, strip_json_comments};

/// What an example must decode to.
#[derive(Debug, Clone)]
pub enum SpecExpect {
    /// A JSON envelope, and the message its payload decodes to (or the status of the error).
    Envelope(JsonEnvelope, Result<Message, u16>),
    /// An envelope refused with this status code.
    EnvelopeError(u16),
    /// A bare payload of the message's type.
    Payload(Message),
    /// Extended segment metadata.
    Metadata(ExtendedMetadata),
}

/// One example file.
#[derive(Debug, Clone)]
pub struct SpecExample {
    /// File name under `golden/spec-json/`.
    pub file: &'static str,
    /// Its expected decoding.
    pub expect: SpecExpect,
}

fn envelope(t: MessageType, payload: &[u8], seq: u64, ts: &str) -> JsonEnvelope {
    JsonEnvelope {
        message_type: t,
        payload: payload.to_vec(),
        sequence_number: seq,
        timestamp: Timestamp::parse(ts).expect("valid example timestamp"),
        session_id: spec_session(),
    }
}

fn obj(v: serde_json::Value) -> Option<serde_json::Map<String, serde_json::Value>> {
    v.as_object().cloned()
}

fn playback(command: PlaybackCommand) -> SpecExpect {
    SpecExpect::Payload(Message::PlaybackControl(PlaybackControl::new(command)))
}

/// Every example of the specification with its expectation.
pub fn examples() -> Vec<SpecExample> {
    use SpecExpect::*;
    let ex = |file, expect| SpecExample { file, expect };
    let mut file_request = FileRequest::new("test_videos/video1.mp4");
    file_request.priority = 1;
    file_request.seek_position = Some(30.0);
    file_request.playback_rate = 1.0;
    file_request.quality_preference = QualityPreference::LowLatency;
    file_request.segment_mode = SegmentMode::Frame;
    file_request.max_bandwidth = Some(10_000_000);
    vec![
        ex("envelope-schema.json", EnvelopeError(400)),
        ex(
            "session-start.json",
            Envelope(
                envelope(
                    MessageType::SessionStart,
                    b"CLIENT_READY",
                    1,
                    "2025-12-11T01:16:25Z",
                ),
                Ok(Message::SessionStart(SessionStart::client_ready())),
            ),
        ),
        ex(
            "session-end.json",
            Envelope(
                envelope(MessageType::SessionEnd, b"", 999, "2025-12-11T01:20:30Z"),
                Ok(Message::SessionEnd),
            ),
        ),
        // Profile section 1: six bytes, the first three read.
        ex(
            "version-negotiation.json",
            Envelope(
                envelope(
                    MessageType::VersionNegotiation,
                    &[1, 0, 0, 2, 0, 0],
                    1,
                    "2025-12-11T01:16:25Z",
                ),
                Ok(Message::VersionNegotiation(ProtocolVersion::new(1, 0, 0))),
            ),
        ),
        // Profile section 1: C8 00 is 51200 big-endian, reported as unknown.
        ex(
            "status-response.json",
            Envelope(
                envelope(
                    MessageType::StatusResponse,
                    &[0xC8, 0],
                    2,
                    "2025-12-11T01:16:26Z",
                ),
                Ok(Message::StatusResponse(StatusResponse::new(
                    StatusCode::Unknown(51200),
                    "",
                ))),
            ),
        ),
        ex("error-report-envelope.json", EnvelopeError(400)),
        ex(
            "error-report-payload.json",
            Payload(Message::ErrorReport(ErrorReport {
                error_code: StatusCode::UnsupportedFormat,
                error_message: "Unsupported file format: .avi".into(),
                error_type: None,
                retry_after: Some(5000),
                max_retries: None,
                details: obj(
                    json!({"file_path": "test.avi", "supported_formats": ["mp4", "h264"]}),
                ),
                context: None,
            })),
        ),
        ex(
            "file-list-query.json",
            Envelope(
                envelope(
                    MessageType::FileListQuery,
                    br#"{"filter": "mp4"}"#,
                    2,
                    "2025-12-11T01:16:30Z",
                ),
                Ok(Message::FileListQuery(FileListQuery {
                    filter: Some("mp4".into()),
                })),
            ),
        ),
        ex(
            "file-list-query-payload.json",
            Payload(Message::FileListQuery(FileListQuery {
                filter: Some("可选的文件过滤器字符串，支持格式名或路径匹配".into()),
            })),
        ),
        ex("file-list-response-envelope.json", EnvelopeError(400)),
        ex(
            "file-list-response-payload.json",
            Payload(Message::FileListResponse(spec_file_list())),
        ),
        ex("file-request-envelope.json", EnvelopeError(400)),
        ex(
            "file-request-payload.json",
            Payload(Message::FileRequest(file_request)),
        ),
        ex("playback-control-envelope.json", EnvelopeError(400)),
        ex(
            "playback-seek.json",
            playback(PlaybackCommand::Seek(Seek {
                position: 45.5,
                accurate: true,
                resume_after_seek: true,
            })),
        ),
        ex(
            "playback-set-rate.json",
            playback(PlaybackCommand::SetRate(SetRate {
                rate: 2.0,
                smooth_transition: true,
                maintain_audio: false,
            })),
        ),
        ex(
            "playback-pause.json",
            playback(PlaybackCommand::Pause(Pause {
                reason: Some("user_request".into()),
                preserve_position: true,
            })),
        ),
        ex(
            "playback-resume.json",
            playback(PlaybackCommand::Resume(Resume {
                from_position: None,
                fade_in: false,
            })),
        ),
        ex(
            "playback-stop.json",
            playback(PlaybackCommand::Stop(Stop {
                reason: Some("user_request".into()),
                cleanup_resources: true,
                send_statistics: true,
            })),
        ),
        ex(
            "playback-adjust-quality.json",
            playback(PlaybackCommand::AdjustQuality(AdjustQuality {
                target_bitrate: Some(5_000_000),
                max_resolution: Some("1080p".into()),
                adaptive: true,
            })),
        ),
        ex(
            "playback-buffer-control.json",
            playback(PlaybackCommand::BufferControl(BufferControl {
                target_buffer_size: Some(30.0),
                max_buffer_size: Some(60.0),
                prebuffer_duration: Some(5.0),
            })),
        ),
        ex("seek-request-envelope.json", EnvelopeError(400)),
        ex(
            "seek-request-payload.json",
            Payload(Message::SeekRequest(SeekRequest {
                target_position: 120.5,
                seek_type: SeekType::Keyframe,
                direction: SeekDirection::Forward,
                max_seek_time: Some(2.0),
                transfer_id: None,
            })),
        ),
        ex("rate-change-envelope.json", EnvelopeError(400)),
        ex(
            "rate-change-payload.json",
            Payload(Message::RateChange(RateChange {
                new_rate: 1.5,
                transition_duration: Some(1.0),
                audio_handling: AudioHandling::PitchPreserve,
                transfer_id: None,
            })),
        ),
        ex(
            "extended-metadata.json",
            Metadata(ExtendedMetadata {
                codec: Some("h264".into()),
                profile: Some("High".into()),
                level: Some("4.1".into()),
                resolution: Some("1920x1080".into()),
                frame_rate: Some(30.0),
                bit_rate: Some(5_000_000),
                encoding_params: obj(json!({
                    "constraint_set0_flag": true,
                    "chroma_format_idc": "1",
                    "bit_depth_luma_minus8": "0"
                })),
                quality_preserved: Some(true),
                segment_mode: Some("frame_level".into()),
                other: Default::default(),
            }),
        ),
        ex("error-report-envelope-2.json", EnvelopeError(400)),
        ex(
            "error-report-1005-payload.json",
            Payload(Message::ErrorReport(ErrorReport {
                error_code: StatusCode::SegmentCorrupted,
                error_message: "Segment data corrupted during transmission".into(),
                error_type: Some("SegmentCorrupted".into()),
                retry_after: Some(1000),
                max_retries: Some(3),
                details: obj(json!({
                    "segment_id": "550e8400-e29b-41d4-a716-446655440001",
                    "expected_checksum": "sha256:abc123...",
                    "actual_checksum": "sha256:def456...",
                    "corruption_offset": 1024,
                    "recovery_suggestion": "retransmit_segment"
                })),
                context: obj(json!({
                    "session_id": "550e8400-e29b-41d4-a716-446655440000",
                    "file_path": "test_videos/sample.mp4",
                    "segment_index": 42,
                    "timestamp": 15.5
                })),
            })),
        ),
    ]
}

/// Checks one example against its file's text; None when it holds.
pub fn check_example(example: &SpecExample, text: &str) -> Option<String> {
    let json = strip_json_comments(text);
    let bytes = json.as_bytes();
    match &example.expect {
        SpecExpect::EnvelopeError(code) => match JsonEnvelope::decode(bytes) {
            Err(e) if e.status_code() == *code => None,
            other => Some(format!("expected error {code}, got {other:?}")),
        },
        SpecExpect::Envelope(want, want_msg) => {
            let got = match JsonEnvelope::decode(bytes) {
                Ok(g) => g,
                Err(e) => return Some(format!("does not decode: {e}")),
            };
            if &got != want {
                return Some(format!("decoded {got:?}, expected {want:?}"));
            }
            let msg = got.message().map_err(|e| e.status_code());
            if &msg != want_msg {
                return Some(format!("message {msg:?}, expected {want_msg:?}"));
            }
            match JsonEnvelope::decode(&got.to_bytes()) {
                Ok(again) if again == got => None,
                other => Some(format!("re-encoded envelope decodes to {other:?}")),
            }
        }
        SpecExpect::Payload(want) => {
            let t = want.message_type();
            match Message::decode(t, bytes) {
                Ok(got) if &got == want => match Message::decode(t, &got.to_payload()) {
                    Ok(again) if &again == want => None,
                    other => Some(format!("re-encoded payload decodes to {other:?}")),
                },
                other => Some(format!("decoded {other:?}, expected {want:?}")),
            }
        }
        SpecExpect::Metadata(want) => match ExtendedMetadata::from_bytes(bytes) {
            Ok(got) if &got == want => match ExtendedMetadata::from_bytes(&got.to_bytes()) {
                Ok(again) if &again == want => None,
                other => Some(format!("re-encoded metadata decodes to {other:?}")),
            },
            other => Some(format!("decoded {other:?}, expected {want:?}")),
        },
    }
}

/// Checks every example in `dir`; one line per failure.
pub fn check_all(dir: &Path) -> Vec<String> {
    let mut failures = Vec::new();
    for ex in examples() {
        match std::fs::read_to_string(dir.join(ex.file)) {
            Err(e) => failures.push(format!("{}: {e}", ex.file)),
            Ok(text) => {
                if let Some(why) = check_example(&ex, &text) {
                    failures.push(format!("{}: {why}", ex.file));
                }
            }
        }
    }
    failures
}
