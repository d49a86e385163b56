//! Typed playback commands of the [`Platform`] API: one method per PlaybackControl command
//! and standalone request, each returning the client's acknowledgement (state, position,
//! rate, and what the command applied) or its refusal.
//!
//! Each applies to the session's most recently requested transfer; to steer another one,
//! send [`Platform::playback`] a [`PlaybackControl`] whose `transfer_id` names it (or set
//! `transfer_id` in a standalone request). Values are checked before anything is sent: a
//! rate outside 0.25-4.0 or a negative position is refused locally with 400
//! ([`PlatformError::Session`]); what only the client can judge (a position past the end,
//! a seek on a file with no time axis) comes back as [`PlatformError::Refused`] with 400.
//!
//! See docs/protocol.md D40-D44 for what each command does.

use super::{Platform, PlatformError, RequestReply};
use crate::wire::{
    AdjustQuality, BufferControl, Message, Pause, PauseRequest, PlaybackAck, PlaybackCommand,
    PlaybackControl, RateChange, Resume, ResumeRequest, Seek, SeekRequest, SetRate, Stop,
};
use uuid::Uuid;

impl Platform {
    async fn control(
        &self,
        session: Uuid,
        c: PlaybackCommand,
    ) -> Result<PlaybackAck, PlatformError> {
        self.playback(session, PlaybackControl::new(c)).await
    }

    async fn standalone(&self, session: Uuid, m: Message) -> Result<PlaybackAck, PlatformError> {
        match self.send_request(session, m).await? {
            RequestReply::Playback(ack) => Ok(ack),
            other => Err(PlatformError::UnexpectedReply(format!("{other:?}"))),
        }
    }

    /// Seeks to `position` seconds: sending restarts at the keyframe at or before it and
    /// streams on (`Seek` with `resume_after_seek`). The acknowledgement comes once every
    /// segment sent before the seek arrived; its `start_segment` is the restart segment.
    ///
    /// # Example
    /// ```no_run
    /// # async fn example(platform: vstream::platform::Platform, session: uuid::Uuid)
    /// #     -> Result<(), vstream::platform::PlatformError> {
    /// let ack = platform.seek(session, 30.0).await?;
    /// println!("restart at segment {:?} ({} s)", ack.start_segment, ack.position);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn seek(&self, session: Uuid, position: f64) -> Result<PlaybackAck, PlatformError> {
        let seek = Seek {
            position,
            accurate: false,
            resume_after_seek: true,
        };
        self.control(session, PlaybackCommand::Seek(seek)).await
    }

    /// Changes the playback rate (0.25-4.0); realtime pacing follows from the instant
    /// the client applies it.
    ///
    /// # Example
    /// ```no_run
    /// # async fn example(platform: vstream::platform::Platform, session: uuid::Uuid)
    /// #     -> Result<(), vstream::platform::PlatformError> {
    /// assert_eq!(platform.set_rate(session, 2.0).await?.rate, 2.0);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn set_rate(&self, session: Uuid, rate: f64) -> Result<PlaybackAck, PlatformError> {
        let c = SetRate {
            rate,
            smooth_transition: false,
            maintain_audio: false,
        };
        self.control(session, PlaybackCommand::SetRate(c)).await
    }

    /// Pauses: no new segment stream opens; those in flight finish.
    ///
    /// # Example
    /// ```no_run
    /// # async fn example(platform: vstream::platform::Platform, session: uuid::Uuid)
    /// #     -> Result<(), vstream::platform::PlatformError> {
    /// use vstream::wire::PlaybackState;
    /// assert_eq!(platform.pause(session).await?.state, PlaybackState::Paused);
    /// assert_eq!(platform.resume(session).await?.state, PlaybackState::Streaming);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn pause(&self, session: Uuid) -> Result<PlaybackAck, PlatformError> {
        self.control(session, PlaybackCommand::Pause(Pause::default()))
            .await
    }

    /// Resumes with the next segment.
    pub async fn resume(&self, session: Uuid) -> Result<PlaybackAck, PlatformError> {
        self.control(session, PlaybackCommand::Resume(Resume::default()))
            .await
    }

    /// Resumes from `position` seconds (restarting like a seek).
    pub async fn resume_from(
        &self,
        session: Uuid,
        position: f64,
    ) -> Result<PlaybackAck, PlatformError> {
        let r = Resume {
            from_position: Some(position),
            fade_in: false,
        };
        self.control(session, PlaybackCommand::Resume(r)).await
    }

    /// Stops the transfer. Its [`TransferHandle`](super::TransferHandle) then resolves
    /// with outcome `Stopped`, what arrived written and reported, the client's statistics
    /// in the report (`send_statistics`). The acknowledgement comes once every segment
    /// sent before the stop arrived.
    ///
    /// # Example
    /// ```no_run
    /// # async fn example(platform: vstream::platform::Platform, session: uuid::Uuid)
    /// #     -> Result<(), vstream::platform::PlatformError> {
    /// let ack = platform.stop(session).await?;
    /// println!("stopped at {} s; client figures: {:?}", ack.position, ack.statistics);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn stop(&self, session: Uuid) -> Result<PlaybackAck, PlatformError> {
        self.control(session, PlaybackCommand::Stop(Stop::default()))
            .await
    }

    /// Caps the send rate at `target_bitrate` bits per second (AdjustQuality; there is
    /// no transcoding: the ack's `bandwidth_cap` says what applies).
    pub async fn adjust_quality(
        &self,
        session: Uuid,
        target_bitrate: u64,
    ) -> Result<PlaybackAck, PlatformError> {
        let q = AdjustQuality {
            target_bitrate: Some(target_bitrate),
            max_resolution: None,
            adaptive: false,
        };
        self.control(session, PlaybackCommand::AdjustQuality(q))
            .await
    }

    /// Lets realtime sending run `seconds` of media ahead of the playback clock
    /// (BufferControl `target_buffer_size`).
    pub async fn set_buffer(
        &self,
        session: Uuid,
        seconds: f64,
    ) -> Result<PlaybackAck, PlatformError> {
        let b = BufferControl {
            target_buffer_size: Some(seconds),
            max_buffer_size: None,
            prebuffer_duration: None,
        };
        self.control(session, PlaybackCommand::BufferControl(b))
            .await
    }

    /// Sends a standalone SeekRequest (`seek_type`, `direction`, `max_seek_time`).
    ///
    /// # Example
    /// ```no_run
    /// # async fn example(platform: vstream::platform::Platform, session: uuid::Uuid)
    /// #     -> Result<(), vstream::platform::PlatformError> {
    /// use vstream::wire::{SeekDirection, SeekRequest, SeekType};
    /// let request = SeekRequest {
    ///     target_position: 12.0,
    ///     seek_type: SeekType::Keyframe,
    ///     direction: SeekDirection::Forward,
    ///     max_seek_time: Some(0.5),
    ///     transfer_id: None,
    /// };
    /// let ack = platform.seek_request(session, request).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn seek_request(
        &self,
        session: Uuid,
        request: SeekRequest,
    ) -> Result<PlaybackAck, PlatformError> {
        self.standalone(session, Message::SeekRequest(request))
            .await
    }

    /// Sends a standalone RateChange.
    pub async fn rate_change(
        &self,
        session: Uuid,
        request: RateChange,
    ) -> Result<PlaybackAck, PlatformError> {
        self.standalone(session, Message::RateChange(request)).await
    }

    /// Sends a standalone PauseRequest.
    pub async fn pause_request(
        &self,
        session: Uuid,
        request: PauseRequest,
    ) -> Result<PlaybackAck, PlatformError> {
        self.standalone(session, Message::PauseRequest(request))
            .await
    }

    /// Sends a standalone ResumeRequest.
    pub async fn resume_request(
        &self,
        session: Uuid,
        request: ResumeRequest,
    ) -> Result<PlaybackAck, PlatformError> {
        self.standalone(session, Message::ResumeRequest(request))
            .await
    }
}
