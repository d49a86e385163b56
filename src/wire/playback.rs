//! PlaybackControl: the seven player commands, in the specification's JSON shape.
//!
//! The payload is an externally tagged object, `{"Seek": {...}}`. Pause, Resume and Stop
//! are also read in the bare string form `"Pause"` (profile section 7), with every field at
//! its default; we always write the object form. An optional `transfer_id` (extension,
//! profile section 7) names the transfer the command applies to: we write it inside the
//! command object (where a reference peer ignores it) and read it there or beside the tag.

use bytes::BufMut;
use serde_json::Value;

use super::file_request::{check_position, check_rate};
use super::json_fields::{num, Fields, ObjectWriter};
use super::{TransferId, WireError};

const KIND: &str = "PlaybackControl";

/// `Seek`: jump to a position.
#[derive(Debug, Clone, PartialEq)]
pub struct Seek {
    /// Target position in seconds (required, >= 0).
    pub position: f64,
    /// Position exactly rather than at a keyframe (default false).
    pub accurate: bool,
    /// Resume playing after the seek (default true).
    pub resume_after_seek: bool,
}

/// `SetRate`: change the playback rate.
#[derive(Debug, Clone, PartialEq)]
pub struct SetRate {
    /// New rate, 0.25-4.0 (required).
    pub rate: f64,
    /// Smooth transition (default false).
    pub smooth_transition: bool,
    /// Keep audio at high rates (default false).
    pub maintain_audio: bool,
}

/// `Pause` (also the PauseRequest payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// `user_request`, `buffering`, `error`, or another text.
    pub reason: Option<String>,
    /// Keep the current position (default true).
    pub preserve_position: bool,
}

/// `Resume` (also the ResumeRequest payload).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resume {
    /// Resume from this position (seconds, >= 0) instead of the next segment.
    pub from_position: Option<f64>,
    /// Fade in (default false).
    pub fade_in: bool,
}

/// `Stop`: end the transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    /// Why.
    pub reason: Option<String>,
    /// Release resources (default true).
    pub cleanup_resources: bool,
    /// Send statistics (default true).
    pub send_statistics: bool,
}

/// `AdjustQuality`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjustQuality {
    /// Target bit rate in bits per second.
    pub target_bitrate: Option<u64>,
    /// Largest resolution, e.g. `1080p`.
    pub max_resolution: Option<String>,
    /// Adapt automatically (default false).
    pub adaptive: bool,
}

/// `BufferControl` (durations in seconds, each >= 0).
#[derive(Debug, Clone, PartialEq)]
pub struct BufferControl {
    /// Target buffer duration.
    pub target_buffer_size: Option<f64>,
    /// Largest buffer duration.
    pub max_buffer_size: Option<f64>,
    /// Prebuffer duration.
    pub prebuffer_duration: Option<f64>,
}

impl Default for Pause {
    fn default() -> Self {
        Pause {
            reason: None,
            preserve_position: true,
        }
    }
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            reason: None,
            cleanup_resources: true,
            send_statistics: true,
        }
    }
}

impl Pause {
    pub(crate) fn read(f: &Fields) -> Result<Self, WireError> {
        Ok(Pause {
            reason: f.opt_str("reason")?,
            preserve_position: f.opt_bool("preserve_position")?.unwrap_or(true),
        })
    }
    pub(crate) fn write(&self, w: ObjectWriter) -> ObjectWriter {
        w.put_opt("reason", self.reason.as_deref())
            .put("preserve_position", self.preserve_position)
    }
}

impl Resume {
    pub(crate) fn read(f: &Fields) -> Result<Self, WireError> {
        let from_position = f.opt_f64("from_position")?;
        if let Some(p) = from_position {
            check_position(KIND, "from_position", p)?;
        }
        Ok(Resume {
            from_position,
            fade_in: f.opt_bool("fade_in")?.unwrap_or(false),
        })
    }
    pub(crate) fn write(&self, w: ObjectWriter) -> ObjectWriter {
        w.put_opt("from_position", self.from_position.map(num))
            .put("fade_in", self.fade_in)
    }
}

/// One of the seven commands.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaybackCommand {
    /// `{"Seek": {...}}`.
    Seek(Seek),
    /// `{"SetRate": {...}}`.
    SetRate(SetRate),
    /// `{"Pause": {...}}` or `"Pause"`.
    Pause(Pause),
    /// `{"Resume": {...}}` or `"Resume"`.
    Resume(Resume),
    /// `{"Stop": {...}}` or `"Stop"`.
    Stop(Stop),
    /// `{"AdjustQuality": {...}}`.
    AdjustQuality(AdjustQuality),
    /// `{"BufferControl": {...}}`.
    BufferControl(BufferControl),
}

impl PlaybackCommand {
    /// The command's tag.
    pub fn name(&self) -> &'static str {
        match self {
            PlaybackCommand::Seek(_) => "Seek",
            PlaybackCommand::SetRate(_) => "SetRate",
            PlaybackCommand::Pause(_) => "Pause",
            PlaybackCommand::Resume(_) => "Resume",
            PlaybackCommand::Stop(_) => "Stop",
            PlaybackCommand::AdjustQuality(_) => "AdjustQuality",
            PlaybackCommand::BufferControl(_) => "BufferControl",
        }
    }

    const NAMES: [&'static str; 7] = [
        "Seek",
        "SetRate",
        "Pause",
        "Resume",
        "Stop",
        "AdjustQuality",
        "BufferControl",
    ];

    fn read(name: &str, f: &Fields) -> Result<Self, WireError> {
        let opt_secs = |field| -> Result<Option<f64>, WireError> {
            let v = f.opt_f64(field)?;
            if let Some(s) = v {
                check_position(KIND, field, s)?;
            }
            Ok(v)
        };
        Ok(match name {
            "Seek" => {
                let position = f.req_f64("position")?;
                check_position(KIND, "position", position)?;
                PlaybackCommand::Seek(Seek {
                    position,
                    accurate: f.opt_bool("accurate")?.unwrap_or(false),
                    resume_after_seek: f.opt_bool("resume_after_seek")?.unwrap_or(true),
                })
            }
            "SetRate" => {
                let rate = f.req_f64("rate")?;
                check_rate(KIND, "rate", rate)?;
                PlaybackCommand::SetRate(SetRate {
                    rate,
                    smooth_transition: f.opt_bool("smooth_transition")?.unwrap_or(false),
                    maintain_audio: f.opt_bool("maintain_audio")?.unwrap_or(false),
                })
            }
            "Pause" => PlaybackCommand::Pause(Pause::read(f)?),
            "Resume" => PlaybackCommand::Resume(Resume::read(f)?),
            "Stop" => PlaybackCommand::Stop(Stop {
                reason: f.opt_str("reason")?,
                cleanup_resources: f.opt_bool("cleanup_resources")?.unwrap_or(true),
                send_statistics: f.opt_bool("send_statistics")?.unwrap_or(true),
            }),
            "AdjustQuality" => PlaybackCommand::AdjustQuality(AdjustQuality {
                target_bitrate: check_bitrate(f.opt_u64("target_bitrate")?)?,
                max_resolution: f.opt_str("max_resolution")?,
                adaptive: f.opt_bool("adaptive")?.unwrap_or(false),
            }),
            _ => PlaybackCommand::BufferControl(BufferControl {
                target_buffer_size: opt_secs("target_buffer_size")?,
                max_buffer_size: opt_secs("max_buffer_size")?,
                prebuffer_duration: opt_secs("prebuffer_duration")?,
            }),
        })
    }

    /// Checks a constructed command as decoding does: `rate` 0.25-4.0 and finite,
    /// positions and buffer durations finite and >= 0, `target_bitrate` > 0 (400 naming
    /// the field otherwise).
    pub fn validate(&self) -> Result<(), WireError> {
        let secs = |field, v: Option<f64>| v.map_or(Ok(()), |s| check_position(KIND, field, s));
        match self {
            PlaybackCommand::Seek(s) => check_position(KIND, "position", s.position),
            PlaybackCommand::SetRate(s) => check_rate(KIND, "rate", s.rate),
            PlaybackCommand::Resume(r) => secs("from_position", r.from_position),
            PlaybackCommand::AdjustQuality(q) => check_bitrate(q.target_bitrate).map(|_| ()),
            PlaybackCommand::BufferControl(b) => {
                secs("target_buffer_size", b.target_buffer_size)?;
                secs("max_buffer_size", b.max_buffer_size)?;
                secs("prebuffer_duration", b.prebuffer_duration)
            }
            PlaybackCommand::Pause(_) | PlaybackCommand::Stop(_) => Ok(()),
        }
    }

    fn write(&self, w: ObjectWriter) -> ObjectWriter {
        match self {
            PlaybackCommand::Seek(s) => w
                .put("position", num(s.position))
                .put("accurate", s.accurate)
                .put("resume_after_seek", s.resume_after_seek),
            PlaybackCommand::SetRate(s) => w
                .put("rate", num(s.rate))
                .put("smooth_transition", s.smooth_transition)
                .put("maintain_audio", s.maintain_audio),
            PlaybackCommand::Pause(p) => p.write(w),
            PlaybackCommand::Resume(r) => r.write(w),
            PlaybackCommand::Stop(s) => w
                .put_opt("reason", s.reason.as_deref())
                .put("cleanup_resources", s.cleanup_resources)
                .put("send_statistics", s.send_statistics),
            PlaybackCommand::AdjustQuality(a) => w
                .put_opt("target_bitrate", a.target_bitrate)
                .put_opt("max_resolution", a.max_resolution.as_deref())
                .put("adaptive", a.adaptive),
            PlaybackCommand::BufferControl(b) => w
                .put_opt("target_buffer_size", b.target_buffer_size.map(num))
                .put_opt("max_buffer_size", b.max_buffer_size.map(num))
                .put_opt("prebuffer_duration", b.prebuffer_duration.map(num)),
        }
    }
}

/// A bit rate of 0 would never let anything be sent: 400.
fn check_bitrate(bitrate: Option<u64>) -> Result<Option<u64>, WireError> {
    match bitrate {
        Some(0) => Err(WireError::FieldOutOfRange {
            kind: KIND,
            field: "target_bitrate",
            value: "0".into(),
            allowed: "> 0 bits per second",
        }),
        other => Ok(other),
    }
}

/// PlaybackControl payload: a command and, optionally, the transfer it applies to.
///
/// # Format
/// ```text
/// {"Seek":{"position":45.5,"accurate":true,"resume_after_seek":true}}
/// {"Pause":{"reason":"user_request","preserve_position":true,"transfer_id":"0123456789ab"}}
/// "Pause"                                      (read only)
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct PlaybackControl {
    /// The command.
    pub command: PlaybackCommand,
    /// Extension: the transfer the command applies to; None means the session's most
    /// recently requested transfer.
    pub transfer_id: Option<TransferId>,
}

impl PlaybackControl {
    /// A command for the session's most recent transfer.
    pub fn new(command: PlaybackCommand) -> Self {
        PlaybackControl {
            command,
            transfer_id: None,
        }
    }

    /// Writes `{"<Command>": {...fields, "transfer_id"?}}`.
    pub fn encode(&self, buf: &mut impl BufMut) {
        let inner = self
            .command
            .write(ObjectWriter::default())
            .put_opt("transfer_id", self.transfer_id.map(|t| t.to_string()));
        ObjectWriter::default()
            .put(self.command.name(), inner.into_value())
            .write(buf)
    }

    /// Checks the command's values (see [`PlaybackCommand::validate`]).
    pub fn validate(&self) -> Result<(), WireError> {
        self.command.validate()
    }

    /// Reads the object or bare-string form, checking ranges (rate, positions).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let value: Value = serde_json::from_slice(bytes).map_err(|e| WireError::Json {
            kind: KIND,
            reason: e.to_string(),
        })?;
        if let Value::String(name) = &value {
            let command = match name.as_str() {
                "Pause" => PlaybackCommand::Pause(Pause::default()),
                "Resume" => PlaybackCommand::Resume(Resume::default()),
                "Stop" => PlaybackCommand::Stop(Stop::default()),
                _ => {
                    return Err(WireError::FieldOutOfRange {
                        kind: KIND,
                        field: "command",
                        value: format!("{name:?}"),
                        allowed: "bare form only for Pause, Resume or Stop",
                    })
                }
            };
            return Ok(PlaybackControl::new(command));
        }
        let outer = Fields::from_value(KIND, value)?;
        let mut tags = PlaybackCommand::NAMES
            .iter()
            .filter(|n| outer.map().contains_key(**n));
        let (Some(name), None) = (tags.next(), tags.next()) else {
            return Err(WireError::Json {
                kind: KIND,
                reason: "expected exactly one command tag (Seek, SetRate, Pause, Resume, Stop, AdjustQuality, BufferControl)".into(),
            });
        };
        let inner = match outer.map().get(*name) {
            Some(Value::Null) | None => {
                Fields::from_value(KIND, Value::Object(Default::default()))?
            }
            Some(v) => Fields::from_value(KIND, v.clone()).map_err(|_| WireError::FieldType {
                kind: KIND,
                field: "command",
                expected: "a JSON object",
            })?,
        };
        let command = PlaybackCommand::read(name, &inner)?;
        let transfer_id = match inner.opt_transfer_id("transfer_id")? {
            Some(t) => Some(t),
            None => outer.opt_transfer_id("transfer_id")?,
        };
        Ok(PlaybackControl {
            command,
            transfer_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_pause_reads_with_defaults_and_writes_object_form() {
        let p = PlaybackControl::decode(br#""Pause""#).unwrap();
        assert_eq!(p.command, PlaybackCommand::Pause(Pause::default()));
        let mut out = Vec::new();
        p.encode(&mut out);
        assert_eq!(out, br#"{"Pause":{"preserve_position":true}}"#);
        assert!(PlaybackControl::decode(br#""Seek""#).is_err());
    }

    #[test]
    fn transfer_id_is_read_inside_or_beside_the_tag() {
        let a = PlaybackControl::decode(br#"{"Stop":{"transfer_id":"00000000002a"}}"#).unwrap();
        let b = PlaybackControl::decode(br#"{"Stop":{},"transfer_id":"00000000002a"}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.transfer_id.unwrap().value(), 42);
    }

    #[test]
    fn rate_out_of_range_and_two_tags_are_400() {
        let e = PlaybackControl::decode(br#"{"SetRate":{"rate":8.0}}"#).unwrap_err();
        assert!(matches!(
            e,
            WireError::FieldOutOfRange { field: "rate", .. }
        ));
        let e = PlaybackControl::decode(br#"{"Pause":{},"Stop":{}}"#).unwrap_err();
        assert_eq!(e.status_code(), 400);
    }
}
