//! The standalone player requests (SeekRequest, RateChange, PauseRequest, ResumeRequest),
//! StatsRequest (SessionStart is in `session_start.rs`).
//!
//! Each standalone request may name a `transfer_id` (extension, profile section 7). An
//! empty payload reads as `{}` for PauseRequest, ResumeRequest and StatsRequest, whose
//! fields are all optional.

use bytes::BufMut;

use super::file_request::{check_position, check_rate, wire_names};
use super::json_fields::{num, Fields, ObjectWriter};
use super::playback::{Pause, Resume};
use super::{TransferId, WireError};

wire_names! {
    /// SeekRequest `seek_type`.
    SeekType {
        /// `keyframe` (the default): restart at the keyframe at or before the target.
        Keyframe = "keyframe",
        /// `exact`.
        Exact = "exact",
        /// `fast`.
        Fast = "fast",
    }
}

wire_names! {
    /// SeekRequest `direction`.
    SeekDirection {
        /// `forward`.
        Forward = "forward",
        /// `backward`.
        Backward = "backward",
        /// `nearest` (the default).
        Nearest = "nearest",
    }
}

wire_names! {
    /// RateChange `audio_handling`.
    AudioHandling {
        /// `pitch_preserve`.
        PitchPreserve = "pitch_preserve",
        /// `mute`.
        Mute = "mute",
        /// `normal` (the default).
        Normal = "normal",
    }
}

fn fields(kind: &'static str, bytes: &[u8], empty_is_object: bool) -> Result<Fields, WireError> {
    if empty_is_object && bytes.iter().all(u8::is_ascii_whitespace) {
        return Fields::parse(kind, b"{}");
    }
    Fields::parse(kind, bytes)
}

/// SeekRequest payload.
///
/// # Format
/// ```text
/// {"target_position":120.5,"seek_type":"keyframe","direction":"forward","max_seek_time":2.0}
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SeekRequest {
    /// Target position in seconds (required, >= 0).
    pub target_position: f64,
    /// Default `keyframe`.
    pub seek_type: SeekType,
    /// Default `nearest`.
    pub direction: SeekDirection,
    /// Longest the seek may take, seconds (>= 0).
    pub max_seek_time: Option<f64>,
    /// Extension: the transfer it applies to.
    pub transfer_id: Option<TransferId>,
}

impl SeekRequest {
    const KIND: &'static str = "SeekRequest";

    /// Writes the request as JSON.
    pub fn encode(&self, buf: &mut impl BufMut) {
        ObjectWriter::default()
            .put("target_position", num(self.target_position))
            .put("seek_type", self.seek_type.name())
            .put("direction", self.direction.name())
            .put_opt("max_seek_time", self.max_seek_time.map(num))
            .put_opt("transfer_id", self.transfer_id.map(|t| t.to_string()))
            .write(buf)
    }

    /// Checks a constructed request as decoding does (positions finite and >= 0).
    pub fn validate(&self) -> Result<(), WireError> {
        check_position(Self::KIND, "target_position", self.target_position)?;
        match self.max_seek_time {
            Some(t) => check_position(Self::KIND, "max_seek_time", t),
            None => Ok(()),
        }
    }

    /// Reads the request, checking positions.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = fields(Self::KIND, bytes, false)?;
        let target_position = f.req_f64("target_position")?;
        check_position(Self::KIND, "target_position", target_position)?;
        let max_seek_time = f.opt_f64("max_seek_time")?;
        if let Some(t) = max_seek_time {
            check_position(Self::KIND, "max_seek_time", t)?;
        }
        Ok(SeekRequest {
            target_position,
            seek_type: f
                .opt_name("seek_type", SeekType::from_name, "keyframe, exact or fast")?
                .unwrap_or(SeekType::Keyframe),
            direction: f
                .opt_name(
                    "direction",
                    SeekDirection::from_name,
                    "forward, backward or nearest",
                )?
                .unwrap_or(SeekDirection::Nearest),
            max_seek_time,
            transfer_id: f.opt_transfer_id("transfer_id")?,
        })
    }
}

/// RateChange payload.
///
/// # Format
/// ```text
/// {"new_rate":1.5,"transition_duration":1.0,"audio_handling":"pitch_preserve"}
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RateChange {
    /// New rate, 0.25-4.0 (required).
    pub new_rate: f64,
    /// Transition in seconds (>= 0).
    pub transition_duration: Option<f64>,
    /// Default `normal`.
    pub audio_handling: AudioHandling,
    /// Extension: the transfer it applies to.
    pub transfer_id: Option<TransferId>,
}

impl RateChange {
    const KIND: &'static str = "RateChange";

    /// Writes the request as JSON.
    pub fn encode(&self, buf: &mut impl BufMut) {
        ObjectWriter::default()
            .put("new_rate", num(self.new_rate))
            .put_opt("transition_duration", self.transition_duration.map(num))
            .put("audio_handling", self.audio_handling.name())
            .put_opt("transfer_id", self.transfer_id.map(|t| t.to_string()))
            .write(buf)
    }

    /// Checks a constructed request as decoding does (rate 0.25-4.0, finite).
    pub fn validate(&self) -> Result<(), WireError> {
        check_rate(Self::KIND, "new_rate", self.new_rate)?;
        match self.transition_duration {
            Some(t) => check_position(Self::KIND, "transition_duration", t),
            None => Ok(()),
        }
    }

    /// Reads the request, checking the rate range.
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = fields(Self::KIND, bytes, false)?;
        let new_rate = f.req_f64("new_rate")?;
        check_rate(Self::KIND, "new_rate", new_rate)?;
        let transition_duration = f.opt_f64("transition_duration")?;
        if let Some(t) = transition_duration {
            check_position(Self::KIND, "transition_duration", t)?;
        }
        Ok(RateChange {
            new_rate,
            transition_duration,
            audio_handling: f
                .opt_name(
                    "audio_handling",
                    AudioHandling::from_name,
                    "pitch_preserve, mute or normal",
                )?
                .unwrap_or(AudioHandling::Normal),
            transfer_id: f.opt_transfer_id("transfer_id")?,
        })
    }
}

/// PauseRequest payload: PlaybackControl's `Pause` object (`{}` allowed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PauseRequest {
    /// The pause fields.
    pub pause: Pause,
    /// Extension: the transfer it applies to.
    pub transfer_id: Option<TransferId>,
}

impl PauseRequest {
    const KIND: &'static str = "PauseRequest";

    /// Writes the object.
    pub fn encode(&self, buf: &mut impl BufMut) {
        self.pause
            .write(ObjectWriter::default())
            .put_opt("transfer_id", self.transfer_id.map(|t| t.to_string()))
            .write(buf)
    }

    /// Reads the object (an empty payload reads as `{}`).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = fields(Self::KIND, bytes, true)?;
        Ok(PauseRequest {
            pause: Pause::read(&f)?,
            transfer_id: f.opt_transfer_id("transfer_id")?,
        })
    }
}

/// ResumeRequest payload: PlaybackControl's `Resume` object (`{}` allowed).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResumeRequest {
    /// The resume fields.
    pub resume: Resume,
    /// Extension: the transfer it applies to.
    pub transfer_id: Option<TransferId>,
}

impl ResumeRequest {
    const KIND: &'static str = "ResumeRequest";

    /// Checks a constructed request as decoding does (`from_position` finite, >= 0).
    pub fn validate(&self) -> Result<(), WireError> {
        match self.resume.from_position {
            Some(p) => check_position(Self::KIND, "from_position", p),
            None => Ok(()),
        }
    }

    /// Writes the object.
    pub fn encode(&self, buf: &mut impl BufMut) {
        self.resume
            .write(ObjectWriter::default())
            .put_opt("transfer_id", self.transfer_id.map(|t| t.to_string()))
            .write(buf)
    }

    /// Reads the object (an empty payload reads as `{}`).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = fields(Self::KIND, bytes, true)?;
        Ok(ResumeRequest {
            resume: Resume::read(&f)?,
            transfer_id: f.opt_transfer_id("transfer_id")?,
        })
    }
}

/// StatsRequest payload: `{}` (the whole session) or `{"transfer_id": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatsRequest {
    /// The transfer asked about, or None for the session and all its transfers.
    pub transfer_id: Option<TransferId>,
}

impl StatsRequest {
    const KIND: &'static str = "StatsRequest";

    /// Writes the object.
    pub fn encode(&self, buf: &mut impl BufMut) {
        ObjectWriter::default()
            .put_opt("transfer_id", self.transfer_id.map(|t| t.to_string()))
            .write(buf)
    }

    /// Reads the object (an empty payload reads as `{}`).
    pub fn decode(bytes: &[u8]) -> Result<Self, WireError> {
        let f = fields(Self::KIND, bytes, true)?;
        Ok(StatsRequest {
            transfer_id: f.opt_transfer_id("transfer_id")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_object_stats_requests() {
        assert_eq!(StatsRequest::decode(b"").unwrap(), StatsRequest::default());
        assert_eq!(
            StatsRequest::decode(b"{}").unwrap(),
            StatsRequest::default()
        );
        let r = StatsRequest::decode(br#"{"transfer_id":"00000000000f"}"#).unwrap();
        assert_eq!(r.transfer_id.unwrap().value(), 15);
        assert!(StatsRequest::decode(br#"{"transfer_id":"xyz"}"#).is_err());
    }

    #[test]
    fn seek_and_rate_ranges() {
        assert!(SeekRequest::decode(br#"{"target_position":-1}"#).is_err());
        assert!(SeekRequest::decode(br#"{"target_position":1,"direction":"up"}"#).is_err());
        assert!(RateChange::decode(br#"{"new_rate":0.1}"#).is_err());
        let r = RateChange::decode(br#"{"new_rate":0.25}"#).unwrap();
        assert_eq!(r.audio_handling, AudioHandling::Normal);
    }
}
