//! The bodies of vstream's fuzz targets, one function per target.
//!
//! Each takes arbitrary bytes, runs one decoder of input that comes from the network or
//! from disk, and panics only when a property fails: a decoder must never panic, and what
//! it accepts must survive a round trip. `fuzz_targets/*.rs` hand them to libFuzzer
//! (`cargo fuzz run NAME`, nightly); `tests/proptest_targets.rs` runs the same functions as
//! long proptest runs where nightly is missing. `cargo xtask fuzz --secs N` picks one.
//!
//! | target | input | property |
//! | --- | --- | --- |
//! | `json_envelope` | a control stream's bytes | decode, payload decode, encode round trip |
//! | `binary_envelope` | a bidirectional stream's bytes | the same for the binary envelope |
//! | `payload` | type byte + payload | every message payload, encode round trip |
//! | `segment` | a segment stream | header (prefix: incomplete, never wrong), segment, first-byte dispatch |
//! | `h264` | an Annex-B stream | access units and stats independent of chunking; SPS/slice parsing; probe |
//! | `mp4` | an ISO-BMFF file | box parser and sample tables, strict and lenient; the segment plan |
//! | `token_file` | a token file | parsing and verification never panic |

use std::io::Cursor;
use vstream::media::h264::{probe_h264, AccessUnitSplitter};
use vstream::media::mp4::{read_mp4_info_with, Mp4ReadOptions, Strictness};
use vstream::media::plan::{PlanOptions, SegmentPlan};
use vstream::media::{FileFormat, SegmentMode};
use vstream::wire::{
    BinaryEnvelope, JsonEnvelope, Message, MessageType, Segment, SegmentHeader, UniStream,
};

/// The names of every target, in the order `cargo xtask fuzz` runs them.
pub const TARGETS: &[&str] = &[
    "json_envelope",
    "binary_envelope",
    "payload",
    "segment",
    "h264",
    "mp4",
    "token_file",
];

/// Runs the target called `name` on `data`; false if there is no such target.
pub fn run(name: &str, data: &[u8]) -> bool {
    match name {
        "json_envelope" => json_envelope(data),
        "binary_envelope" => binary_envelope(data),
        "payload" => payload(data),
        "segment" => segment(data),
        "h264" => h264(data),
        "mp4" => mp4(data),
        "token_file" => token_file(data),
        _ => return false,
    }
    true
}

/// A decoded message re-encodes to a payload that decodes to the same message.
fn message_round_trip(message_type: MessageType, message: &Message) {
    let again = Message::decode(message_type, &message.to_payload());
    assert_eq!(again.as_ref(), Ok(message), "{message_type:?} round trip");
}

/// JSON envelope: decode; its payload as its type; encode, decode again, same envelope.
pub fn json_envelope(data: &[u8]) {
    let Ok(envelope) = JsonEnvelope::decode(data) else {
        return;
    };
    let again = JsonEnvelope::decode(&envelope.to_bytes());
    assert_eq!(again.as_ref(), Ok(&envelope), "JSON envelope round trip");
    if let Ok(message) = envelope.message() {
        message_round_trip(envelope.message_type, &message);
    }
}

/// Binary envelope: decode exactly; its payload; encode round trip.
pub fn binary_envelope(data: &[u8]) {
    let Ok(envelope) = BinaryEnvelope::decode_exact(data) else {
        return;
    };
    assert_eq!(
        envelope.to_bytes(),
        data,
        "binary envelope re-encodes byte for byte"
    );
    if let Ok(message) = envelope.message() {
        message_round_trip(envelope.message_type(), &message);
    }
}

/// Every payload: the first byte is the message type, the rest its payload.
pub fn payload(data: &[u8]) {
    let Some((&type_byte, payload)) = data.split_first() else {
        return;
    };
    let message_type = MessageType::from_u8(type_byte);
    if let Ok(message) = Message::decode(message_type, payload) {
        message_round_trip(message_type, &message);
    }
}

/// Segment streams: the header parser says "incomplete" on every strict prefix of a
/// header it accepts (so a receiver reading in pieces sees what a whole read sees); a whole
/// segment round-trips; the first-byte dispatch agrees.
pub fn segment(data: &[u8]) {
    if let Ok(Some((header, consumed))) = SegmentHeader::decode_maybe(data) {
        assert!(consumed <= data.len());
        for end in 0..consumed {
            assert!(
                matches!(SegmentHeader::decode_maybe(&data[..end]), Ok(None)),
                "a prefix of {end} of a {consumed}-byte header is not 'incomplete'"
            );
        }
        let mut bytes = Vec::new();
        header.encode(&mut bytes);
        let again = SegmentHeader::decode_maybe(&bytes);
        assert_eq!(again, Ok(Some((header, bytes.len()))), "header round trip");
    }
    if let Ok(segment) = Segment::decode(data) {
        assert_eq!(Segment::decode(&segment.to_bytes()).as_ref(), Ok(&segment));
    }
    if let Ok(stream) = UniStream::decode(data) {
        assert_eq!(UniStream::decode(&stream.to_bytes()).as_ref(), Ok(&stream));
    }
}

/// Access units of `data` pushed in chunks cut at `cuts` (sorted offsets).
fn split_access_units(
    data: &[u8],
    cuts: &[usize],
) -> (Vec<vstream::media::h264::AccessUnit>, String) {
    let mut splitter = AccessUnitSplitter::new();
    let mut units = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&data.len())) {
        let cut = cut.clamp(start, data.len());
        splitter.push(&data[start..cut]);
        start = cut;
        while let Some(unit) = splitter.poll_access_unit() {
            units.push(unit);
        }
    }
    splitter.finish();
    while let Some(unit) = splitter.poll_access_unit() {
        units.push(unit);
    }
    let summary = format!("{:?} {:?}", splitter.stats(), splitter.stream_info());
    (units, summary)
}

/// H.264: the Annex-B scanner, access-unit assembly, SPS and slice-header parsing give the
/// same result whole and in pieces (cuts derived from the input); probing never panics.
pub fn h264(data: &[u8]) {
    let whole = split_access_units(data, &[]);
    let n = data.len().max(1);
    let seed = data
        .iter()
        .take(4)
        .fold(7usize, |a, &b| a.wrapping_mul(31) + b as usize);
    let mut cuts: Vec<usize> = (0..4).map(|i| seed.wrapping_mul(i * 2 + 1) % n).collect();
    cuts.extend((0..data.len()).step_by(3).take(64));
    cuts.sort_unstable();
    let pieces = split_access_units(data, &cuts);
    assert_eq!(whole, pieces, "access units depend on chunking");
    let _ = probe_h264(data);
    let _ = SegmentPlan::build(
        Cursor::new(data),
        &FileFormat::H264,
        SegmentMode::Gop,
        &PlanOptions::default(),
    );
}

/// MP4: the box parser and sample tables in both strictness modes, with a small `moov`
/// bound; then the segment plan of the file (fixed chunks, seek table).
pub fn mp4(data: &[u8]) {
    for strictness in [Strictness::Strict, Strictness::Lenient] {
        let options = Mp4ReadOptions {
            strictness,
            max_moov_size: 1 << 20,
        };
        let _ = read_mp4_info_with(&mut Cursor::new(data), &options);
    }
    let _ = SegmentPlan::build(
        Cursor::new(data),
        &FileFormat::Mp4,
        SegmentMode::Fixed,
        &PlanOptions::default(),
    );
}

/// Token files (read from disk at start-up): parse; verify a token for each device.
pub fn token_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(tokens) = vstream::auth::TokenFile::parse(text) {
        for device in tokens.devices() {
            let _ = tokens.verify(device, "vst1_not-the-token");
        }
    }
}
