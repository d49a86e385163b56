//! FileRequest: the platform asks the client to upload a file.
//!
//! Decoding checks every range the specification and profile set, so a client can answer
//! an out-of-range request with ErrorReport 400 naming the field (profile section 5). The
//! path is *not* checked here: an absolute path or one with `..` is refused with 404 by the
//! client's catalog, exactly like a missing file.

use bytes::BufMut;
use serde_json::Value;

use super::json_fields::{num, Fields, ObjectWriter};
use super::{SegmentId, WireError};

const KIND: &str = "FileRequest";

macro_rules! wire_names {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// The name on the wire.
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
            /// The value named `name` (exact, lowercase).
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == name)
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::from_name(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown {} {s:?}", stringify!($name))))
            }
        }
    };
}
pub(crate) use wire_names;

wire_names! {
    /// `quality_preference`.
    QualityPreference {
        /// `low_latency`.
        LowLatency = "low_latency",
        /// `high_quality`.
        HighQuality = "high_quality",
        /// `balanced` (the default).
        Balanced = "balanced",
    }
}

wire_names! {
    /// `segment_mode` as named on the wire (the media layer has its own planning type).
    SegmentMode {
        /// `frame`: one H.264 access unit per segment.
        Frame = "frame",
        /// `gop`: IDR to IDR.
        Gop = "gop",
        /// `time`: runs covering a fixed media duration.
        Time = "time",
        /// `auto` (the default): the client chooses.
        Auto = "auto",
        /// `fixed`: fixed-size byte chunks (also what an acknowledgement reports for MP4).
        Fixed = "fixed",
    }
}

wire_names! {
    /// `pacing` (extension field, profile section 6).
    Pacing {
        /// `max_speed` (the default): no artificial delay.
        MaxSpeed = "max_speed",
        /// `realtime`: released at media timestamp / playback rate.
        Realtime = "realtime",
    }
}

/// Where a resumed transfer restarts (`resume_from_segment`, inclusive).
///
/// Read as either a segment index (JSON number) or a segment id (UUID string); a segment id
/// of the profile's form carries its index (profile section 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResumePoint {
    /// A segment index.
    Index(u32),
    /// A segment id.
    SegmentId(SegmentId),
}

impl ResumePoint {
    /// The index to restart at; None for a segment id not of the profile's form.
    pub fn index(&self) -> Option<u32> {
        match self {
            ResumePoint::Index(i) => Some(*i),
            ResumePoint::SegmentId(id) => id.index(),
        }
    }
}

/// FileRequest payload (JSON) with every field of the specification and two extensions.
///
/// # Format
/// ```text
/// {"file_path":"test_videos/video1.mp4","priority":1,"seek_position":30.0,
///  "playback_rate":1.0,"quality_preference":"low_latency","segment_mode":"frame",
///  "max_bandwidth":10000000,"resume_from_segment":null,
///  "pacing":"realtime","segment_metadata":true}          <- extensions
/// ```
/// Only `file_path` is required; absent fields take the defaults of [`FileRequest::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct FileRequest {
    /// Path relative to the served root, `/`-separated.
    pub file_path: String,
    /// 1-255, higher first (default 1).
    pub priority: u8,
    /// Start position in seconds (>= 0).
    pub seek_position: Option<f64>,
    /// 0.25-4.0 (default 1.0).
    pub playback_rate: f64,
    /// Default `balanced`.
    pub quality_preference: QualityPreference,
    /// Default `auto`.
    pub segment_mode: SegmentMode,
    /// Send-rate cap in bits per second (> 0).
    pub max_bandwidth: Option<u64>,
    /// Restart at this segment (inclusive).
    pub resume_from_segment: Option<ResumePoint>,
    /// Extension: default `max_speed`.
    pub pacing: Pacing,
    /// Extension: ask for extended metadata on video segments (default false).
    pub segment_metadata: bool,
    /// Extension `held_segments` (D63): inclusive ranges `[first, last]` of segment
    /// indices the platform already holds, ascending and disjoint, at most
    /// [`MAX_HELD_RANGES`]; the client does not send them (default none).
    pub held_segments: Vec<(u32, u32)>,
}

/// Bound on `held_segments` ranges in one FileRequest.
pub const MAX_HELD_RANGES: usize = 4096;

impl FileRequest {
    /// A request for `file_path` with every other field at its default.
    pub fn new(file_path: impl Into<String>) -> Self {
        FileRequest {
            file_path: file_path.into(),
            priority: 1,
            seek_position: None,
            playback_rate: 1.0,
            quality_preference: QualityPreference::Balanced,
            segment_mode: SegmentMode::Auto,
            max_bandwidth: None,
            resume_from_segment: None,
            pacing: Pacing::MaxSpeed,
            segment_metadata: false,
            held_segments: Vec::new(),
        }
    }

    /// Checks every range; the error (status 400) names the first field out of range.
    pub fn validate(&self) -> Result<(), WireError> {
        let out = |field, value: String, allowed| WireError::FieldOutOfRange {
            kind: KIND,
            field,
            value,
            allowed,
        };
        if self.priority == 0 {
            return Err(out("priority", "0".into(), "1-255"));
        }
        check_rate(KIND, "playback_rate", self.playback_rate)?;
        if let Some(p) = self.seek_position {
            check_position(KIND, "seek_position", p)?;
        }
        if self.max_bandwidth == Some(0) {
            return Err(out("max_bandwidth", "0".into(), "> 0 bits per second"));
        }
        check_held(&self.held_segments)
    }

    /// True when segment `index` is in `held_segments` (the platform has it).
    pub fn is_held(&self, index: u32) -> bool {
        let at = self
            .held_segments
            .partition_point(|&(first, _)| first <= index);
        at > 0 && self.held_segments[at - 1].1 >= index
    }

    /// Writes the request as compact JSON (extensions only when not at their default).
    pub fn encode(&self, buf: &mut impl BufMut) {
        let resume = self.resume_from_segment.map(|r| match r {
            ResumePoint::Index(i) => Value::from(i),
            ResumePoint::SegmentId(id) => Value::from(id.to_string()),
        });
        ObjectWriter::default()
            .put("file_path", self.file_path.as_str())
            .put("priority", self.priority)
            .put_opt("seek_position", self.seek_position.map(num))
            .put("playback_rate", num(self.playback_rate))
            .put("quality_preference", self.quality_preference.name())
            .put("segment_mode", self.segment_mode.name())
            .put_opt("max_bandwidth", self.max_bandwidth)
            .put_opt("resume_from_segment", resume)
            .put_opt(
                "pacing",
                (self.pacing != Pacing::MaxSpeed).then(|| self.pacing.name()),
            )
            .put_opt("segment_metadata", self.segment_metadata.then_some(true))
            .put_opt(
                "held_segments",
                (!self.held_segments.is_empty()).then(|| {
                    Value::Array(
                        self.held_segments
                            .iter()
                            .map(|&(a, b)| Value::from(vec![a, b]))
                            .collect(),
                    )
                }),
            )
            .write(buf)
    }

    /// Reads and validates a request.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = Fields::parse(KIND, bytes)?;
        let d = FileRequest::new(f.req_str("file_path")?);
        let resume = match f.get("resume_from_segment") {
            None => None,
            Some(Value::Number(n)) => match n.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(i) => Some(ResumePoint::Index(i)),
                None => {
                    return Err(f.range_error(
                        "resume_from_segment",
                        n,
                        "a u32 index or a segment id",
                    ))
                }
            },
            Some(Value::String(_)) => f
                .opt_uuid("resume_from_segment")?
                .map(|u| ResumePoint::SegmentId(SegmentId::from_uuid(u))),
            Some(_) => {
                return Err(WireError::FieldType {
                    kind: KIND,
                    field: "resume_from_segment",
                    expected: "a segment index or a segment id",
                })
            }
        };
        let r = FileRequest {
            priority: f
                .opt_u64_in("priority", 1, 255, "1-255")?
                .map_or(d.priority, |p| p as u8),
            seek_position: f.opt_f64("seek_position")?,
            playback_rate: f.opt_f64("playback_rate")?.unwrap_or(d.playback_rate),
            quality_preference: f
                .opt_name(
                    "quality_preference",
                    QualityPreference::from_name,
                    "low_latency, high_quality or balanced",
                )?
                .unwrap_or(d.quality_preference),
            segment_mode: f
                .opt_name(
                    "segment_mode",
                    SegmentMode::from_name,
                    "frame, gop, time, auto or fixed",
                )?
                .unwrap_or(d.segment_mode),
            max_bandwidth: f.opt_u64("max_bandwidth")?,
            resume_from_segment: resume,
            pacing: f
                .opt_name("pacing", Pacing::from_name, "max_speed or realtime")?
                .unwrap_or(d.pacing),
            segment_metadata: f.opt_bool("segment_metadata")?.unwrap_or(false),
            held_segments: read_held(f.get("held_segments"))?,
            ..d
        };
        r.validate()?;
        Ok(r)
    }
}

const HELD_SHAPE: &str = "an array of [first, last] u32 index pairs";
const HELD_ORDER: &str =
    "ascending, disjoint [first, last] ranges with first <= last, at most 4096";

/// `held_segments`: absent or null is none; anything but `[[u32, u32], ...]` is a type
/// error (400).
fn read_held(value: Option<&Value>) -> Result<Vec<(u32, u32)>, WireError> {
    let shape = WireError::FieldType {
        kind: KIND,
        field: "held_segments",
        expected: HELD_SHAPE,
    };
    let items = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(shape),
    };
    if items.len() > MAX_HELD_RANGES {
        return Err(WireError::FieldOutOfRange {
            kind: KIND,
            field: "held_segments",
            value: format!("{} ranges", items.len()),
            allowed: HELD_ORDER,
        });
    }
    let index = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    items
        .iter()
        .map(|item| match item.as_array().map(Vec::as_slice) {
            Some([a, b]) => match (index(a), index(b)) {
                (Some(a), Some(b)) => Ok((a, b)),
                _ => Err(shape.clone()),
            },
            _ => Err(shape.clone()),
        })
        .collect()
}

/// Ranges must be ascending, disjoint, `first <= last`, and bounded in number.
fn check_held(held: &[(u32, u32)]) -> Result<(), WireError> {
    let bad = |value: String| WireError::FieldOutOfRange {
        kind: KIND,
        field: "held_segments",
        value,
        allowed: HELD_ORDER,
    };
    if held.len() > MAX_HELD_RANGES {
        return Err(bad(format!("{} ranges", held.len())));
    }
    if let Some(&(a, b)) = held.iter().find(|(a, b)| a > b) {
        return Err(bad(format!("[{a}, {b}]")));
    }
    if let Some(w) = held.windows(2).find(|w| w[1].0 <= w[0].1) {
        return Err(bad(format!(
            "[{}, {}] then [{}, {}]",
            w[0].0, w[0].1, w[1].0, w[1].1
        )));
    }
    Ok(())
}

/// A playback rate must be finite and within 0.25-4.0.
pub(crate) fn check_rate(
    kind: &'static str,
    field: &'static str,
    rate: f64,
) -> Result<(), WireError> {
    if rate.is_finite() && (0.25..=4.0).contains(&rate) {
        Ok(())
    } else {
        Err(WireError::FieldOutOfRange {
            kind,
            field,
            value: rate.to_string(),
            allowed: "0.25-4.0",
        })
    }
}

/// A media position must be finite and non-negative.
pub(crate) fn check_position(
    kind: &'static str,
    field: &'static str,
    pos: f64,
) -> Result<(), WireError> {
    if pos.is_finite() && pos >= 0.0 {
        Ok(())
    } else {
        Err(WireError::FieldOutOfRange {
            kind,
            field,
            value: pos.to_string(),
            allowed: "a finite number of seconds >= 0",
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn held_segments_round_trip_and_are_written_only_when_present() {
        let mut r = FileRequest::new("a");
        let mut plain = Vec::new();
        r.encode(&mut plain);
        assert!(!String::from_utf8_lossy(&plain).contains("held_segments"));
        r.resume_from_segment = Some(ResumePoint::Index(3));
        r.held_segments = vec![(5, 9), (12, 12)];
        let mut buf = Vec::new();
        r.encode(&mut buf);
        let text = String::from_utf8(buf.clone()).unwrap();
        assert!(
            text.contains(r#""held_segments":[[5,9],[12,12]]"#),
            "{text}"
        );
        assert_eq!(FileRequest::decode(&buf).unwrap(), r);
        assert!(r.is_held(5) && r.is_held(9) && r.is_held(12));
        assert!(!r.is_held(4) && !r.is_held(10) && !r.is_held(13));
        let null = FileRequest::decode(br#"{"file_path":"a","held_segments":null}"#).unwrap();
        assert!(null.held_segments.is_empty());
    }

    #[test]
    fn held_segments_out_of_order_or_malformed_are_refused_with_400() {
        for bad in [r#"[[3,2]]"#, r#"[[0,4],[4,6]]"#, r#"[[5,6],[0,1]]"#] {
            let json = format!(r#"{{"file_path":"a","held_segments":{bad}}}"#);
            let e = FileRequest::decode(json.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    e,
                    WireError::FieldOutOfRange {
                        field: "held_segments",
                        ..
                    }
                ),
                "{bad}: {e:?}"
            );
            assert_eq!(e.status(), crate::wire::StatusCode::BadRequest);
        }
        for bad in [
            r#"[1,2]"#,
            r#"[[1]]"#,
            r#"[[1,-2]]"#,
            r#"[[1,4294967296]]"#,
            r#""x""#,
        ] {
            let json = format!(r#"{{"file_path":"a","held_segments":{bad}}}"#);
            let e = FileRequest::decode(json.as_bytes()).unwrap_err();
            assert!(
                matches!(
                    e,
                    WireError::FieldType {
                        field: "held_segments",
                        ..
                    }
                ),
                "{bad}: {e:?}"
            );
        }
        let many: Vec<String> = (0..=MAX_HELD_RANGES as u32)
            .map(|i| format!("[{},{}]", 2 * i, 2 * i))
            .collect();
        let json = format!(
            r#"{{"file_path":"a","held_segments":[{}]}}"#,
            many.join(",")
        );
        assert!(matches!(
            FileRequest::decode(json.as_bytes()),
            Err(WireError::FieldOutOfRange {
                field: "held_segments",
                ..
            })
        ));
    }

    use super::*;

    fn field_of(e: WireError) -> &'static str {
        match e {
            WireError::FieldOutOfRange { field, .. } => field,
            other => panic!("expected FieldOutOfRange, got {other:?}"),
        }
    }

    #[test]
    fn out_of_range_fields_are_named() {
        let cases: [(&str, &str); 8] = [
            (r#"{"file_path":"a","playback_rate":4.5}"#, "playback_rate"),
            (r#"{"file_path":"a","playback_rate":0.2}"#, "playback_rate"),
            (r#"{"file_path":"a","priority":0}"#, "priority"),
            (r#"{"file_path":"a","priority":256}"#, "priority"),
            (r#"{"file_path":"a","seek_position":-1}"#, "seek_position"),
            (
                r#"{"file_path":"a","segment_mode":"chunk"}"#,
                "segment_mode",
            ),
            (
                r#"{"file_path":"a","quality_preference":"best"}"#,
                "quality_preference",
            ),
            (r#"{"file_path":"a","pacing":"slow"}"#, "pacing"),
        ];
        for (json, field) in cases {
            let e = FileRequest::decode(json.as_bytes()).unwrap_err();
            assert_eq!(e.status_code(), 400);
            assert_eq!(field_of(e), field, "{json}");
        }
    }

    #[test]
    fn validate_catches_nan_and_infinite_values() {
        let mut r = FileRequest::new("a");
        r.playback_rate = f64::NAN;
        assert_eq!(field_of(r.validate().unwrap_err()), "playback_rate");
        let mut r = FileRequest::new("a");
        r.seek_position = Some(f64::INFINITY);
        assert_eq!(field_of(r.validate().unwrap_err()), "seek_position");
        let mut r = FileRequest::new("/etc/passwd");
        r.segment_mode = SegmentMode::Fixed;
        assert!(
            r.validate().is_ok(),
            "paths are the catalog's business (404)"
        );
    }

    #[test]
    fn resume_from_segment_reads_index_or_id() {
        let r = FileRequest::decode(br#"{"file_path":"a","resume_from_segment":7}"#).unwrap();
        assert_eq!(r.resume_from_segment, Some(ResumePoint::Index(7)));
        let r = FileRequest::decode(
            br#"{"file_path":"a","resume_from_segment":"0123456789ab-8000-8000-000000000007"}"#,
        );
        assert!(r.is_err(), "not a UUID");
        let r = FileRequest::decode(
            br#"{"file_path":"a","resume_from_segment":"01234567-89ab-8000-8000-000000000007"}"#,
        )
        .unwrap();
        assert_eq!(r.resume_from_segment.unwrap().index(), Some(7));
    }
}
