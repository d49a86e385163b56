//! Playback commands at the client (profile section 6): PlaybackControl and the standalone
//! SeekRequest, RateChange, PauseRequest and ResumeRequest. Each is answered with
//! StatusResponse 200 carrying a [`PlaybackAck`], or ErrorReport 400 with `details.ack`.

use std::time::Instant;

use serde_json::json;

use super::ClientSession;
use crate::session::TransferOutcome;
use crate::wire::{
    PauseRequest, PlaybackAck, PlaybackCommand, PlaybackControl, PlaybackState, RateChange,
    ResumeRequest, SeekRequest, StatusCode, TransferId,
};

/// What a command does to the transfer once it is known to be valid.
enum Effect {
    Pause,
    Resume(Option<f64>),
    Stop,
    Rate(f64),
    Seek { position: f64, resume: bool },
    Record(&'static str, serde_json::Value),
}

impl ClientSession {
    pub(super) fn on_playback(&mut self, now: Instant, seq: u64, c: PlaybackControl) {
        let effect = match c.command {
            PlaybackCommand::Pause(_) => Effect::Pause,
            PlaybackCommand::Resume(r) => Effect::Resume(r.from_position),
            PlaybackCommand::Stop(_) => Effect::Stop,
            PlaybackCommand::SetRate(r) => Effect::Rate(r.rate),
            PlaybackCommand::Seek(s) => Effect::Seek {
                position: s.position,
                resume: s.resume_after_seek,
            },
            PlaybackCommand::AdjustQuality(q) => Effect::Record(
                "quality",
                json!({"target_bitrate": q.target_bitrate, "max_resolution": q.max_resolution,
                       "adaptive": q.adaptive}),
            ),
            PlaybackCommand::BufferControl(b) => Effect::Record(
                "buffer",
                json!({"target_buffer_size": b.target_buffer_size,
                       "max_buffer_size": b.max_buffer_size,
                       "prebuffer_duration": b.prebuffer_duration}),
            ),
        };
        self.apply(now, seq, c.transfer_id, effect);
    }

    pub(super) fn on_seek_request(&mut self, now: Instant, seq: u64, r: SeekRequest) {
        let effect = Effect::Seek {
            position: r.target_position,
            resume: false,
        };
        self.apply(now, seq, r.transfer_id, effect);
    }

    pub(super) fn on_rate_change(&mut self, now: Instant, seq: u64, r: RateChange) {
        self.apply(now, seq, r.transfer_id, Effect::Rate(r.new_rate));
    }

    pub(super) fn on_pause_request(&mut self, now: Instant, seq: u64, r: PauseRequest) {
        self.apply(now, seq, r.transfer_id, Effect::Pause);
    }

    pub(super) fn on_resume_request(&mut self, now: Instant, seq: u64, r: ResumeRequest) {
        self.apply(
            now,
            seq,
            r.transfer_id,
            Effect::Resume(r.resume.from_position),
        );
    }

    fn apply(&mut self, now: Instant, seq: u64, named: Option<TransferId>, effect: Effect) {
        let bad = StatusCode::BadRequest;
        let Some(t) = self.target(named) else {
            let why = match named {
                Some(id) => format!("no transfer {id}"),
                None => "no transfer to control".to_owned(),
            };
            self.refuse(now, seq, bad, why);
            return;
        };
        // Validate first: a refused command changes nothing.
        let restart = match &effect {
            Effect::Rate(r) if !(r.is_finite() && (0.25..=4.0).contains(r)) => {
                let why = format!("rate {r} outside 0.25-4.0");
                self.refuse(now, seq, bad, why);
                return;
            }
            Effect::Seek { position: p, .. } | Effect::Resume(Some(p)) => {
                if t.state == PlaybackState::Stopped {
                    self.refuse(now, seq, bad, "the transfer was stopped");
                    return;
                }
                match t.prepared.plan.segment_for_time(*p) {
                    Some(k) => Some(k),
                    None => {
                        let why = match t.prepared.plan.duration() {
                            None => "seek on a file with no time axis".to_owned(),
                            Some(d) => format!("position {p} outside 0-{d} s"),
                        };
                        self.refuse(now, seq, bad, why);
                        return;
                    }
                }
            }
            _ => None,
        };
        let mut stopped = false;
        match effect {
            Effect::Pause => {
                if t.state == PlaybackState::Streaming {
                    t.state = PlaybackState::Paused;
                }
            }
            Effect::Resume(_) => {
                if let Some(k) = restart {
                    t.restart_at(k);
                    t.state = PlaybackState::Streaming;
                } else if t.state == PlaybackState::Paused {
                    t.state = PlaybackState::Streaming;
                }
                t.reset_pacing();
            }
            Effect::Stop => {
                stopped = t.stop();
            }
            Effect::Rate(r) => {
                t.rate = r;
                t.reset_pacing();
            }
            Effect::Seek { resume, .. } => {
                if let Some(k) = restart {
                    t.restart_at(k);
                }
                if resume || t.state == PlaybackState::Completed {
                    t.state = PlaybackState::Streaming;
                }
            }
            Effect::Record(which, value) => {
                if which == "quality" {
                    t.quality = value;
                } else {
                    t.buffer = value;
                }
            }
        }
        let ack = PlaybackAck {
            ack: seq,
            state: t.state,
            position: t.position(),
            rate: t.rate,
            transfer_id: Some(t.id),
            start_segment: restart,
        };
        let finished = stopped.then(|| Self::finished_event(t, now, TransferOutcome::Stopped));
        self.send_status(now, ack.to_status_response());
        if let Some(ev) = finished {
            self.events.push_back(ev);
        }
        self.pump(now);
    }
}
