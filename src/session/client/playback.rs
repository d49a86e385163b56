//! Playback commands at the client (profile section 6): PlaybackControl and the standalone
//! SeekRequest, RateChange, PauseRequest and ResumeRequest. Each is answered with
//! StatusResponse 200 carrying a [`PlaybackAck`], or ErrorReport 400 with `details.ack`.
//!
//! A seek (and a resume from a position) drops the segments not yet sent and restarts at a
//! restart point chosen by `seek_type` and `direction` (docs/protocol.md D42). Its
//! acknowledgement, and a Stop's, waits until every segment stream opened before it has
//! finished (D40), so nothing sent before the command reaches the platform after its
//! acknowledgement; acknowledgements of one transfer go out in command order.

use std::time::{Duration, Instant};

use super::transfer::Transfer;
use super::ClientSession;
use crate::media::plan::SeekBias;
use crate::session::TransferOutcome;
use crate::wire::{
    AdjustQuality, AudioHandling, BufferControl, PauseRequest, PlaybackAck, PlaybackCommand,
    PlaybackControl, PlaybackState, RateChange, ResumeRequest, SeekDirection, SeekRequest,
    SeekType, StatusCode, TransferId,
};

/// What the state is after a seek.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterSeek {
    /// Streaming (Seek with `resume_after_seek`, Resume with `from_position`).
    Stream,
    /// Paused (Seek without `resume_after_seek`).
    Pause,
    /// As before; a completed transfer streams again (SeekRequest).
    Keep,
}

/// What a command does to the transfer once it is known to be valid.
enum Effect {
    Pause,
    Resume,
    Stop {
        statistics: bool,
    },
    Rate(f64),
    Seek {
        position: f64,
        bias: SeekBias,
        after: AfterSeek,
        max_time: Option<f64>,
    },
    Quality(Option<u64>),
    Buffer(Option<f64>),
}

/// What applying an effect asks of the acknowledgement.
#[derive(Default)]
struct Applied {
    /// Wait for the segments in flight (seek, stop).
    drain: bool,
    /// At most until then (SeekRequest `max_seek_time`).
    deadline: Option<Instant>,
    /// Carry the transfer's statistics (Stop `send_statistics`).
    statistics: bool,
    /// The transfer stopped now (emit `TransferFinished{Stopped}`).
    stopped: bool,
}

/// Applies a validated effect to `t`; `restart` is a seek's restart segment.
fn apply_effect(t: &mut Transfer, now: Instant, effect: Effect, restart: Option<u32>) -> Applied {
    let mut applied = Applied::default();
    match effect {
        Effect::Pause => t.pause(now),
        Effect::Resume => t.resume(now),
        Effect::Stop { statistics } => {
            applied.stopped = t.stop();
            applied.drain = true;
            applied.statistics = statistics;
        }
        Effect::Rate(r) => t.set_rate(now, r),
        Effect::Seek {
            after, max_time, ..
        } => {
            if let Some(k) = restart {
                t.restart_at(k);
            }
            t.state = match (after, t.state) {
                (AfterSeek::Stream, _) | (AfterSeek::Keep, PlaybackState::Completed) => {
                    PlaybackState::Streaming
                }
                (AfterSeek::Pause, _) => PlaybackState::Paused,
                (AfterSeek::Keep, s) => s,
            };
            applied.drain = true;
            applied.deadline = max_time
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .and_then(|d| now.checked_add(d));
        }
        Effect::Quality(cap) => t.quality_cap = cap,
        Effect::Buffer(r) => {
            if let Some(r) = r {
                t.run_ahead = r;
            }
        }
    }
    applied
}

/// A command in the form the machine applies: its effect and the fields it accepted
/// without acting on them (reported in the ack's `not_applied`).
struct Command {
    effect: Effect,
    not_applied: Vec<String>,
}

impl Command {
    fn new(effect: Effect) -> Self {
        Command {
            effect,
            not_applied: Vec::new(),
        }
    }

    /// Names `field` in `not_applied` when `given`.
    fn ignoring(mut self, given: bool, field: &str) -> Self {
        if given {
            self.not_applied.push(field.to_owned());
        }
        self
    }
}

/// BufferControl's run-ahead: `target_buffer_size`, at most `max_buffer_size` (either
/// alone is the run-ahead); neither given: unchanged.
fn run_ahead(b: &BufferControl) -> Option<f64> {
    match (b.target_buffer_size, b.max_buffer_size) {
        (Some(t), Some(m)) => Some(t.min(m)),
        (t, m) => t.or(m),
    }
}

fn from_control(command: PlaybackCommand) -> Command {
    match command {
        PlaybackCommand::Pause(p) => {
            Command::new(Effect::Pause).ignoring(!p.preserve_position, "preserve_position")
        }
        PlaybackCommand::Resume(r) => resume(r.from_position).ignoring(r.fade_in, "fade_in"),
        PlaybackCommand::Stop(s) => Command::new(Effect::Stop {
            statistics: s.send_statistics,
        })
        .ignoring(!s.cleanup_resources, "cleanup_resources"),
        PlaybackCommand::SetRate(r) => Command::new(Effect::Rate(r.rate))
            .ignoring(r.smooth_transition, "smooth_transition")
            .ignoring(r.maintain_audio, "maintain_audio"),
        PlaybackCommand::Seek(s) => Command::new(Effect::Seek {
            position: s.position,
            bias: SeekBias::AtOrBefore,
            after: if s.resume_after_seek {
                AfterSeek::Stream
            } else {
                AfterSeek::Pause
            },
            max_time: None,
        }),
        PlaybackCommand::AdjustQuality(AdjustQuality {
            target_bitrate,
            max_resolution,
            adaptive,
        }) => Command::new(Effect::Quality(target_bitrate))
            .ignoring(max_resolution.is_some(), "max_resolution")
            .ignoring(adaptive, "adaptive"),
        PlaybackCommand::BufferControl(b) => Command::new(Effect::Buffer(run_ahead(&b)))
            .ignoring(b.prebuffer_duration.is_some(), "prebuffer_duration"),
    }
}

fn resume(from_position: Option<f64>) -> Command {
    Command::new(match from_position {
        Some(position) => Effect::Seek {
            position,
            bias: SeekBias::AtOrBefore,
            after: AfterSeek::Stream,
            max_time: None,
        },
        None => Effect::Resume,
    })
}

fn from_seek_request(r: &SeekRequest) -> Command {
    let bias = match (r.seek_type, r.direction) {
        (SeekType::Exact, _) | (_, SeekDirection::Backward) => SeekBias::AtOrBefore,
        (_, SeekDirection::Forward) => SeekBias::AtOrAfter,
        (_, SeekDirection::Nearest) => SeekBias::Nearest,
    };
    Command::new(Effect::Seek {
        position: r.target_position,
        bias,
        after: AfterSeek::Keep,
        max_time: r.max_seek_time,
    })
}

impl ClientSession {
    pub(super) fn on_playback(&mut self, now: Instant, seq: u64, c: PlaybackControl) {
        self.apply(now, seq, c.transfer_id, from_control(c.command));
    }

    pub(super) fn on_seek_request(&mut self, now: Instant, seq: u64, r: SeekRequest) {
        self.apply(now, seq, r.transfer_id, from_seek_request(&r));
    }

    pub(super) fn on_rate_change(&mut self, now: Instant, seq: u64, r: RateChange) {
        let c = Command::new(Effect::Rate(r.new_rate))
            .ignoring(r.transition_duration.is_some(), "transition_duration")
            .ignoring(r.audio_handling != AudioHandling::Normal, "audio_handling");
        self.apply(now, seq, r.transfer_id, c);
    }

    pub(super) fn on_pause_request(&mut self, now: Instant, seq: u64, r: PauseRequest) {
        let c = from_control(PlaybackCommand::Pause(r.pause));
        self.apply(now, seq, r.transfer_id, c);
    }

    pub(super) fn on_resume_request(&mut self, now: Instant, seq: u64, r: ResumeRequest) {
        let c = from_control(PlaybackCommand::Resume(r.resume));
        self.apply(now, seq, r.transfer_id, c);
    }

    /// Checks the command against the transfer; applies it and acknowledges, or refuses
    /// with 400 and changes nothing.
    fn apply(&mut self, now: Instant, seq: u64, named: Option<TransferId>, c: Command) {
        let checked = self.check(named, &c.effect);
        let restart = match checked {
            Ok(restart) => restart,
            Err(why) => {
                self.refuse(now, seq, StatusCode::BadRequest, why);
                return;
            }
        };
        let Some(t) = self.target(named) else {
            return;
        };
        let position_before = t.position();
        let Applied {
            drain,
            deadline,
            statistics,
            stopped,
        } = apply_effect(t, now, c.effect, restart);
        let position = if stopped {
            position_before
        } else {
            t.position()
        };
        let mut ack = PlaybackAck::new(seq, t.state, position, t.rate);
        ack.transfer_id = Some(t.id);
        ack.start_segment = restart;
        ack.bandwidth_cap = t.bandwidth_cap();
        ack.run_ahead = Some(t.run_ahead).filter(|r| *r > 0.0);
        ack.not_applied = c.not_applied;
        if drain || statistics || t.has_held_acks() {
            t.hold_ack(ack, drain, deadline, statistics);
        } else {
            self.send_status(now, ack.to_status_response());
        }
        if stopped {
            if let Some(t) = self.target(named) {
                let ev = Self::finished_event(t, now, TransferOutcome::Stopped);
                let transfer = t.id;
                self.events.push_back(ev);
                self.actions
                    .push_back(super::ClientAction::CloseSource { transfer });
            }
        }
        self.pump(now);
    }

    /// Validates a command before anything changes: the transfer exists, the rate is in
    /// range, a seek position has a restart point. Returns the restart segment of a seek.
    fn check(&mut self, named: Option<TransferId>, effect: &Effect) -> Result<Option<u32>, String> {
        let Some(t) = self.target(named) else {
            return Err(match named {
                Some(id) => format!("no transfer {id}"),
                None => "no transfer to control".to_owned(),
            });
        };
        match effect {
            Effect::Rate(r) if !(r.is_finite() && (0.25..=4.0).contains(r)) => {
                Err(format!("rate {r} outside 0.25-4.0"))
            }
            Effect::Quality(Some(0)) => Err("target_bitrate 0: nothing could be sent".into()),
            Effect::Buffer(Some(r)) if !(r.is_finite() && *r >= 0.0) => {
                Err(format!("buffer duration {r} is not a finite number >= 0"))
            }
            Effect::Seek { .. } if t.state == PlaybackState::Stopped => {
                Err("the transfer was stopped".into())
            }
            Effect::Seek { position, bias, .. } => {
                let plan = &t.prepared.plan;
                match plan.restart_segment(*position, *bias) {
                    Some(k) => Ok(Some(k)),
                    None => Err(match plan.duration() {
                        None => "seek on a file with no time axis".to_owned(),
                        Some(d) => format!("position {position} outside 0-{d} s"),
                    }),
                }
            }
            _ => Ok(None),
        }
    }
}
