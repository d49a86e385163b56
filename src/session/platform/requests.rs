//! The platform's requests to the client (profile section 4): each sent envelope is kept
//! as outstanding until its answer (`ack`) arrives, except retransmission requests, which
//! the segment answers (D50).

use std::time::Instant;

use super::{Outstanding, Phase, PlatformSession};
use crate::session::SessionError;
use crate::wire::{
    ErrorReport, FileListQuery, FileRequest, Message, PlaybackCommand, PlaybackControl, SegmentId,
    WireError,
};

impl PlatformSession {
    fn command(
        &mut self,
        now: Instant,
        message: &Message,
        o: Outstanding,
    ) -> Result<u64, SessionError> {
        match self.phase {
            Phase::Ready => {}
            Phase::Closed => return Err(SessionError::Closed),
            _ => return Err(SessionError::NotReady),
        }
        let seq = self.send(now, message);
        self.outstanding.insert(seq, o);
        Ok(seq)
    }

    /// Forgets request `seq` (its caller stopped waiting): a late answer is then refused
    /// like any unknown ack, and nothing is kept for it (D50).
    pub fn cancel_request(&mut self, seq: u64) {
        self.outstanding.remove(&seq);
    }

    /// Sends FileListQuery; the answer comes as [`PlatformEvent::FileList`] with this number.
    pub fn query_files(
        &mut self,
        now: Instant,
        filter: Option<String>,
    ) -> Result<u64, SessionError> {
        let m = Message::FileListQuery(FileListQuery { filter });
        self.command(now, &m, Outstanding::FileList)
    }

    /// Sends a FileRequest (validated first).
    pub fn request_file(
        &mut self,
        now: Instant,
        request: FileRequest,
    ) -> Result<u64, SessionError> {
        request.validate()?;
        let m = Message::FileRequest(request);
        self.command(now, &m, Outstanding::File)
    }

    /// Sends a PlaybackControl command (`NoSuchTransfer` when it names a transfer this
    /// session never accepted).
    pub fn playback(
        &mut self,
        now: Instant,
        control: PlaybackControl,
    ) -> Result<u64, SessionError> {
        control.validate()?;
        let seek = matches!(
            control.command,
            PlaybackCommand::Seek(_)
                | PlaybackCommand::Resume(crate::wire::Resume {
                    from_position: Some(_),
                    ..
                })
        );
        if let Some(id) = control.transfer_id {
            if !self.transfers.contains_key(&id) {
                return Err(SessionError::NoSuchTransfer);
            }
        }
        let m = Message::PlaybackControl(control);
        self.command(now, &m, Outstanding::Playback { seek })
    }

    /// Sends a SeekRequest, RateChange, PauseRequest, ResumeRequest or StatsRequest;
    /// other messages are `Invalid`, a `transfer_id` this session never accepted is
    /// `NoSuchTransfer`.
    pub fn send_request(&mut self, now: Instant, message: Message) -> Result<u64, SessionError> {
        let o = match &message {
            Message::SeekRequest(_) => Outstanding::Playback { seek: true },
            Message::ResumeRequest(r) => Outstanding::Playback {
                seek: r.resume.from_position.is_some(),
            },
            Message::RateChange(_) | Message::PauseRequest(_) => {
                Outstanding::Playback { seek: false }
            }
            Message::StatsRequest(_) => Outstanding::Stats,
            other => {
                return Err(SessionError::Invalid(WireError::FieldOutOfRange {
                    kind: "PlatformSession::send_request",
                    field: "message_type",
                    value: format!("{:?}", other.message_type()),
                    allowed: "SeekRequest, RateChange, PauseRequest, ResumeRequest, StatsRequest",
                }))
            }
        };
        match &message {
            Message::SeekRequest(r) => r.validate()?,
            Message::RateChange(r) => r.validate()?,
            Message::ResumeRequest(r) => r.validate()?,
            _ => {}
        }
        let named = match &message {
            Message::SeekRequest(r) => r.transfer_id,
            Message::ResumeRequest(r) => r.transfer_id,
            Message::RateChange(r) => r.transfer_id,
            Message::PauseRequest(r) => r.transfer_id,
            Message::StatsRequest(r) => r.transfer_id,
            _ => None,
        };
        if named.is_some_and(|id| !self.transfers.contains_key(&id)) {
            return Err(SessionError::NoSuchTransfer);
        }
        self.command(now, &message, o)
    }

    /// Asks the client to send segment `id` again (ErrorReport 1005, `details.segment_id`,
    /// `max_retries`). The client answers with the segment, not with a message, so nothing
    /// is kept for an answer (D50).
    pub fn request_retransmission(
        &mut self,
        now: Instant,
        id: SegmentId,
        reason: Option<&str>,
    ) -> Result<u64, SessionError> {
        match self.phase {
            Phase::Ready => {}
            Phase::Closed => return Err(SessionError::Closed),
            _ => return Err(SessionError::NotReady),
        }
        let mut report = ErrorReport::retransmission(id, reason);
        report.max_retries = Some(self.config.max_retries);
        Ok(self.send(now, &Message::ErrorReport(report)))
    }
}
