//! The `codec` runner: decode bytes with one of the wire decoders, check the outcome.
//!
//! # Keys
//! ```text
//! decode: <target>         what decodes the next input:
//!     payload <TypeName|0xNN>   Message::decode
//!     json-envelope | binary-envelope
//!     segment                    whole segment stream (Segment::decode)
//!     uni-stream                 whole unidirectional stream, first-byte dispatch
//!     segment-header             SegmentHeader::decode_maybe (Debug of the Option)
//!     segment-header-bounded [N] the same, then the stream bound (default 16 MiB)
//!     first-byte                 classify_stream(first input byte)
//!     segment-id                 16 bytes -> SegmentId (Debug shows transfer#index)
//!     ack <Ack|FileRequestAck|PlaybackAck>  StatusResponse 200 whose message is the input
//!     version-compat             VersionNegotiation payload checked against 1.0.0
//!     h264-access-units          AccessUnitSplitter over an Annex-B stream: each unit as
//!                                `offset+len picture idr`, then the redundant slice count
//!     media-format <ext>         the format sniffed from the bytes, `ext` the name's hint
//! hex: / base64: / text: / json:    the input; decoding happens here
//! expect: <Debug>                   the decoded value's Debug, whitespace-insensitive
//! expect-contains: <text>           a substring of that Debug
//! expect-error: <status code>       decoding failed with this status
//! expect-error-contains: <text>     a substring of the error's Debug
//! reencode-hex: / reencode-base64: / reencode-text: / reencode-json:
//!                                   what the decoded value encodes back to (json: as JSON)
//! expect-message: / expect-message-contains: / expect-message-error:
//!                                   the envelope's payload decoded as its message type
//! expect-ack: <n>                   the `ack` a StatusResponse or ErrorReport carries
//! expect-retransmission: <Debug>    ErrorReport::retransmission_request()
//! ```

use vstream::wire::*;

use crate::trace::Entry;

#[derive(Debug)]
enum Decoded {
    Message(Message),
    JsonEnvelope(JsonEnvelope),
    BinaryEnvelope(BinaryEnvelope),
    Segment(Segment),
    Uni(UniStream),
    Header(Option<(SegmentHeader, usize)>),
    Stream(StreamKind),
    SegmentId(SegmentId),
    Ack(Ack),
    FileRequestAck(FileRequestAck),
    PlaybackAck(PlaybackAck),
    Version(ProtocolVersion),
    /// What a media-layer target (`h264-access-units`, `media-format`) found, as text.
    Media(String),
}

impl Decoded {
    fn debug(&self) -> String {
        match self {
            Decoded::Message(v) => format!("{v:?}"),
            Decoded::JsonEnvelope(v) => format!("{v:?}"),
            Decoded::BinaryEnvelope(v) => format!("{v:?}"),
            Decoded::Segment(v) => format!("{v:?}"),
            Decoded::Uni(v) => format!("{v:?}"),
            Decoded::Header(v) => format!("{v:?}"),
            Decoded::Stream(v) => format!("{v:?}"),
            Decoded::SegmentId(v) => format!("{v:?} {:?}", v.parts()),
            Decoded::Ack(v) => format!("{v:?}"),
            Decoded::FileRequestAck(v) => format!("{v:?}"),
            Decoded::PlaybackAck(v) => format!("{v:?}"),
            Decoded::Version(v) => format!("{v:?}"),
            Decoded::Media(text) => text.clone(),
        }
    }

    fn reencode(&self) -> Result<Vec<u8>, String> {
        Ok(match self {
            Decoded::Message(m) => m.to_payload(),
            Decoded::JsonEnvelope(e) => e.to_bytes(),
            Decoded::BinaryEnvelope(e) => e.to_bytes(),
            Decoded::Segment(s) => s.to_bytes(),
            Decoded::Uni(u) => u.to_bytes(),
            Decoded::Header(Some((h, _))) => {
                let mut v = Vec::new();
                h.encode(&mut v);
                v
            }
            Decoded::SegmentId(id) => id.to_bytes().to_vec(),
            Decoded::Ack(a) => a.to_status_response().message.into_bytes(),
            Decoded::FileRequestAck(a) => a.to_status_response().message.into_bytes(),
            Decoded::PlaybackAck(a) => a.to_status_response().message.into_bytes(),
            Decoded::Version(v) => {
                let mut out = Vec::new();
                v.encode(&mut out);
                out
            }
            other => return Err(format!("{other:?} has no encoding")),
        })
    }

    fn message(&self) -> Result<Message, WireError> {
        match self {
            Decoded::JsonEnvelope(e) | Decoded::Uni(UniStream::Envelope(e)) => e.message(),
            Decoded::BinaryEnvelope(e) => e.message(),
            Decoded::Message(m) => Ok(m.clone()),
            other => Err(WireError::Json {
                kind: "conformance",
                reason: format!("{other:?} carries no message"),
            }),
        }
    }
}

fn normalize(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn decode(target: &str, input: &[u8]) -> Result<Result<Decoded, WireError>, String> {
    let (what, arg) = target.split_once(' ').unwrap_or((target, ""));
    Ok(match what {
        "payload" => {
            let t = match arg.strip_prefix("0x") {
                Some(h) => MessageType::from_u8(
                    u8::from_str_radix(h, 16).map_err(|e| format!("bad type byte: {e}"))?,
                ),
                None => MessageType::from_name(arg).ok_or(format!("unknown type {arg}"))?,
            };
            Message::decode(t, input).map(Decoded::Message)
        }
        "json-envelope" => JsonEnvelope::decode(input).map(Decoded::JsonEnvelope),
        "binary-envelope" => BinaryEnvelope::decode_exact(input).map(Decoded::BinaryEnvelope),
        "segment" => Segment::decode(input).map(Decoded::Segment),
        "uni-stream" => UniStream::decode(input).map(Decoded::Uni),
        "segment-header" => SegmentHeader::decode_maybe(input).map(Decoded::Header),
        "segment-header-bounded" => {
            let limit = match arg {
                "" => DEFAULT_MAX_STREAM_LEN,
                n => n.parse().map_err(|e| format!("bad bound: {e}"))?,
            };
            SegmentHeader::decode_maybe(input).and_then(|h| {
                if let Some((header, _)) = &h {
                    header.check_bound(limit)?;
                }
                Ok(Decoded::Header(h))
            })
        }
        "first-byte" => {
            let b = *input.first().ok_or("first-byte needs one byte")?;
            classify_stream(b).map(Decoded::Stream)
        }
        "segment-id" => {
            let bytes: [u8; 16] = input.try_into().map_err(|_| "segment-id needs 16 bytes")?;
            Ok(Decoded::SegmentId(SegmentId::from_uuid(
                uuid::Uuid::from_bytes(bytes),
            )))
        }
        "ack" => {
            let text = String::from_utf8(input.to_vec()).map_err(|_| "ack input must be text")?;
            let r = StatusResponse::new(StatusCode::Success, text);
            match arg {
                "Ack" => Ack::from_status_response(&r).map(Decoded::Ack),
                "FileRequestAck" => {
                    FileRequestAck::from_status_response(&r).map(Decoded::FileRequestAck)
                }
                "PlaybackAck" => PlaybackAck::from_status_response(&r).map(Decoded::PlaybackAck),
                _ => return Err(format!("unknown ack type {arg}")),
            }
        }
        "version-compat" => ProtocolVersion::decode(&mut &input[..]).and_then(|v| {
            ProtocolVersion::CURRENT
                .check_compatible(&v)
                .map(|()| Decoded::Version(v))
        }),
        "h264-access-units" => Ok(Decoded::Media(h264_access_units(input))),
        "media-format" => {
            let hint = vstream::media::FileFormat::from_path(std::path::Path::new(&format!(
                "input.{arg}"
            )));
            let mut cursor = std::io::Cursor::new(input);
            let found =
                vstream::media::sniff::sniff(&mut cursor, hint).map_err(|e| e.to_string())?;
            Ok(Decoded::Media(format!("{found:?}")))
        }
        _ => return Err(format!("unknown decode target `{target}`")),
    })
}

/// The access units of an Annex-B stream, as the `h264-access-units` target prints them.
fn h264_access_units(input: &[u8]) -> String {
    let mut splitter = vstream::media::h264::AccessUnitSplitter::new();
    splitter.push(input);
    splitter.finish();
    let mut units = Vec::new();
    while let Some(u) = splitter.poll_access_unit() {
        units.push(format!(
            "{}+{} picture={} idr={}",
            u.offset,
            u.len,
            u.has_picture(),
            u.is_idr()
        ));
    }
    let stats = splitter.stats();
    format!(
        "units: [{}] redundant_slices: {}",
        units.join("; "),
        stats.redundant_slices
    )
}

fn input_bytes(key: &str, value: &str) -> Result<Option<Vec<u8>>, String> {
    Ok(Some(match key {
        "hex" => hex::decode(value.split_whitespace().collect::<String>())
            .map_err(|e| format!("bad hex: {e}"))?,
        "base64" => base64_decode(value).ok_or("bad base64")?,
        "text" | "json" => value.as_bytes().to_vec(),
        _ => return Ok(None),
    }))
}

/// Runs a codec case's entries; Err names the first failing entry.
pub fn run(entries: &[Entry]) -> Result<(), String> {
    let mut target: Option<String> = None;
    let mut result: Option<Result<Decoded, WireError>> = None;
    let mut checks = 0usize;
    for e in entries {
        let fail = |why: String| format!("line {} `{}`: {why}", e.line, e.key);
        if e.key == "decode" {
            target = Some(e.value.clone());
            result = None;
            continue;
        }
        if let Some(bytes) = input_bytes(&e.key, &e.value).map_err(fail)? {
            let t = target
                .as_deref()
                .ok_or_else(|| fail("input before `decode:`".into()))?;
            result = Some(decode(t, &bytes).map_err(fail)?);
            continue;
        }
        let r = result
            .as_ref()
            .ok_or_else(|| fail("expectation before any input".into()))?;
        checks += 1;
        check(&e.key, &e.value, r).map_err(fail)?;
    }
    if checks == 0 {
        return Err("the case checks nothing".into());
    }
    Ok(())
}

fn ok(r: &Result<Decoded, WireError>) -> Result<&Decoded, String> {
    r.as_ref().map_err(|e| format!("decoding failed: {e:?}"))
}

fn check(key: &str, want: &str, r: &Result<Decoded, WireError>) -> Result<(), String> {
    let eq = |got: String, want: &str| {
        if normalize(&got) == normalize(want) {
            Ok(())
        } else {
            Err(format!("got {got}\n      want {want}"))
        }
    };
    let contains = |got: String, want: &str| {
        if normalize(&got).contains(&normalize(want)) {
            Ok(())
        } else {
            Err(format!("{got}\n      does not contain {want}"))
        }
    };
    match key {
        "expect" => eq(ok(r)?.debug(), want),
        "expect-contains" => contains(ok(r)?.debug(), want),
        "expect-error" => match r {
            Err(e) if e.status_code().to_string() == want => Ok(()),
            Err(e) => Err(format!("error {e:?} has status {}", e.status_code())),
            Ok(v) => Err(format!("decoded {}", v.debug())),
        },
        "expect-error-contains" => match r {
            Err(e) => contains(format!("{e:?}"), want),
            Ok(v) => Err(format!("decoded {}", v.debug())),
        },
        "reencode-hex" => eq(hex::encode(ok(r)?.reencode()?), &want.replace(' ', "")),
        "reencode-base64" => eq(base64_encode(&ok(r)?.reencode()?), want),
        "reencode-text" => eq(
            String::from_utf8_lossy(&ok(r)?.reencode()?).into_owned(),
            want,
        ),
        "reencode-json" => {
            let got: serde_json::Value = serde_json::from_slice(&ok(r)?.reencode()?)
                .map_err(|e| format!("re-encoding is not JSON: {e}"))?;
            let want: serde_json::Value =
                serde_json::from_str(want).map_err(|e| format!("bad expected JSON: {e}"))?;
            if got == want {
                Ok(())
            } else {
                Err(format!("got {got}\n      want {want}"))
            }
        }
        "expect-message" => eq(
            format!("{:?}", ok(r)?.message().map_err(|e| format!("{e:?}"))?),
            want,
        ),
        "expect-message-contains" => contains(
            format!("{:?}", ok(r)?.message().map_err(|e| format!("{e:?}"))?),
            want,
        ),
        "expect-message-error" => match ok(r)?.message() {
            Err(e) if e.status_code().to_string() == want => Ok(()),
            other => Err(format!("message decoding gave {other:?}")),
        },
        "expect-ack" => {
            let ack = match ok(r)?.message().map_err(|e| format!("{e:?}"))? {
                Message::StatusResponse(s) => s.ack(),
                Message::ErrorReport(e) => e.ack(),
                other => return Err(format!("{other:?} carries no ack")),
            };
            eq(format!("{ack:?}"), want)
        }
        "expect-retransmission" => match ok(r)?.message().map_err(|e| format!("{e:?}"))? {
            Message::ErrorReport(e) => eq(format!("{:?}", e.retransmission_request()), want),
            other => Err(format!("{other:?} is not an ErrorReport")),
        },
        _ => Err("unknown key".into()),
    }
}
