//! FileListQuery and FileListResponse payloads (JSON, specification "文件管理消息").

use serde::{Deserialize, Serialize};

/// FileListQuery payload: `{"filter": "mp4"}`; an absent or empty filter lists every file.
///
/// The filter is a format name (case-insensitive), else a glob if it holds `*`, `?` or `[`,
/// else a substring of `file_path` (profile section 7).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FileListQuery {
    /// Optional filter string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
}

/// FileListResponse payload: `{"files": [...]}`, and with the `ack` extension the
/// sequence number of the FileListQuery it answers (profile section 4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FileListResponse {
    /// The files the client serves that match the query.
    pub files: Vec<FileEntry>,
    /// Extension: the FileListQuery's sequence number (absent from peers that do not
    /// send it; then the platform matches its oldest outstanding query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<u64>,
}

/// One file of a FileListResponse, with every field of the specification's example.
///
/// Fields that do not apply to a file (a non-media file has no resolution) are `null`
/// on the wire; `file_path`, `file_size`, `format` and `available` are always present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path relative to the root the client serves, `/`-separated (profile section 5).
    pub file_path: String,
    /// Size in bytes.
    pub file_size: u64,
    /// Media duration in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    /// Format name: `mp4`, `h264`, or the file's extension for other files.
    pub format: String,
    /// False when the file vanished or cannot be read since it was registered.
    pub available: bool,
    /// Video resolution.
    #[serde(default)]
    pub resolution: Option<Resolution>,
    /// Video and audio codec names.
    #[serde(default)]
    pub codec: Option<CodecInfo>,
    /// Frames per second.
    #[serde(default)]
    pub frame_rate: Option<f64>,
    /// Bits per second over the whole file.
    #[serde(default)]
    pub bit_rate: Option<u64>,
    /// `sha256:<64 lowercase hex digits>` of the whole file.
    #[serde(default)]
    pub checksum: Option<String>,
}

/// Width, height and aspect ratio of a video.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolution {
    /// Width in pixels (after cropping).
    pub width: u32,
    /// Height in pixels (after cropping).
    pub height: u32,
    /// Reduced ratio such as `16:9`.
    pub aspect_ratio: AspectRatio,
}

/// An aspect ratio written `W:H` on the wire.
pub type AspectRatio = String;

impl Resolution {
    /// A resolution whose aspect ratio is `width:height` reduced by their greatest common divisor.
    pub fn new(width: u32, height: u32) -> Self {
        fn gcd(a: u32, b: u32) -> u32 {
            if b == 0 {
                a
            } else {
                gcd(b, a % b)
            }
        }
        let g = gcd(width, height).max(1);
        Resolution {
            width,
            height,
            aspect_ratio: format!("{}:{}", width / g, height / g),
        }
    }
}

/// Codec names, e.g. `{"video": "H.264", "audio": "AAC"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CodecInfo {
    /// Video codec name.
    #[serde(default)]
    pub video: Option<String>,
    /// Audio codec name.
    #[serde(default)]
    pub audio: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_response_round_trip_through_json() {
        for q in [
            FileListQuery { filter: None },
            FileListQuery {
                filter: Some("*.h264".into()),
            },
        ] {
            let json = serde_json::to_vec(&q).unwrap();
            assert_eq!(serde_json::from_slice::<FileListQuery>(&json).unwrap(), q);
        }
        assert_eq!(
            serde_json::to_string(&FileListQuery::default()).unwrap(),
            "{}"
        );
        let r = FileListResponse {
            files: vec![FileEntry {
                file_path: "test_videos/a.mp4".into(),
                file_size: 1_048_576,
                duration: Some(60.5),
                format: "mp4".into(),
                available: true,
                resolution: Some(Resolution::new(1920, 1080)),
                codec: Some(CodecInfo {
                    video: Some("H.264".into()),
                    audio: None,
                }),
                frame_rate: Some(30.0),
                bit_rate: Some(5_000_000),
                checksum: Some("sha256:00".into()),
            }],
            ack: Some(7),
        };
        let json = serde_json::to_vec(&r).unwrap();
        assert_eq!(
            serde_json::from_slice::<FileListResponse>(&json).unwrap(),
            r
        );
    }

    #[test]
    fn entry_without_optional_fields_reads_as_none() {
        let e: FileEntry = serde_json::from_str(
            r#"{"file_path":"x.bin","file_size":3,"format":"bin","available":false,"extra":1}"#,
        )
        .unwrap();
        assert_eq!(e.duration, None);
        assert_eq!(e.resolution, None);
        assert!(serde_json::from_str::<FileEntry>(r#"{"file_size":3}"#).is_err());
    }

    #[test]
    fn resolution_reduces_aspect_ratio() {
        assert_eq!(Resolution::new(1920, 1080).aspect_ratio, "16:9");
        assert_eq!(Resolution::new(640, 480).aspect_ratio, "4:3");
        assert_eq!(Resolution::new(0, 0).aspect_ratio, "0:0");
    }
}
