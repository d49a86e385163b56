//! Playback scripts: a schedule of playback commands at offsets from the start of a
//! transfer, e.g. `pause@1.0,resume@2.0,seek:30@2.5,rate:2@3.0,stop@9`, and the runner
//! that sends them through the [`Platform`] API and records every acknowledgement.
//!
//! # Syntax
//! Items separated by commas, each `COMMAND[:ARGUMENT]@SECONDS` (spaces around tokens are
//! ignored):
//!
//! | command | argument | sends |
//! | --- | --- | --- |
//! | `pause` | none | PlaybackControl `Pause` |
//! | `resume` | optional position, seconds | `Resume` (with `from_position`) |
//! | `seek` | position, seconds | `Seek` (keyframe at or before, streaming on) |
//! | `rate` | rate | `SetRate` |
//! | `stop` | none | `Stop` (with the client's statistics) |
//! | `quality` | bits per second, `k`/`M` suffix allowed | `AdjustQuality` `target_bitrate` |
//! | `buffer` | seconds | `BufferControl` `target_buffer_size` (realtime run-ahead) |
//!
//! Offsets are seconds >= 0, finite, and never decrease along the script (equal offsets run
//! in the order written). Arguments must be numbers; their protocol ranges (rate 0.25-4.0,
//! positions within the file) are not checked here, so a script can exercise refusals:
//! they are sent, refused, and reported.

use super::{Platform, PlatformError};
use crate::wire::{
    AdjustQuality, BufferControl, Pause, PlaybackAck, PlaybackCommand, PlaybackControl, Resume,
    Seek, SetRate, StatusCode, Stop, TransferId,
};
use serde_json::{json, Value};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::watch;
use uuid::Uuid;

/// One scripted command (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ScriptCommand {
    /// `pause`.
    Pause,
    /// `resume` or `resume:POSITION`.
    Resume(Option<f64>),
    /// `seek:POSITION`.
    Seek(f64),
    /// `rate:RATE`.
    Rate(f64),
    /// `stop`.
    Stop,
    /// `quality:BITS_PER_SECOND`.
    Quality(u64),
    /// `buffer:SECONDS`.
    Buffer(f64),
}

impl ScriptCommand {
    /// The PlaybackControl it sends, naming `transfer` when given.
    pub fn control(&self, transfer: Option<TransferId>) -> PlaybackControl {
        let command = match *self {
            ScriptCommand::Pause => PlaybackCommand::Pause(Pause::default()),
            ScriptCommand::Resume(from_position) => PlaybackCommand::Resume(Resume {
                from_position,
                fade_in: false,
            }),
            ScriptCommand::Seek(position) => PlaybackCommand::Seek(Seek {
                position,
                accurate: false,
                resume_after_seek: true,
            }),
            ScriptCommand::Rate(rate) => PlaybackCommand::SetRate(SetRate {
                rate,
                smooth_transition: false,
                maintain_audio: false,
            }),
            ScriptCommand::Stop => PlaybackCommand::Stop(Stop::default()),
            ScriptCommand::Quality(bits) => PlaybackCommand::AdjustQuality(AdjustQuality {
                target_bitrate: Some(bits),
                max_resolution: None,
                adaptive: false,
            }),
            ScriptCommand::Buffer(secs) => PlaybackCommand::BufferControl(BufferControl {
                target_buffer_size: Some(secs),
                max_buffer_size: None,
                prebuffer_duration: None,
            }),
        };
        PlaybackControl {
            command,
            transfer_id: transfer,
        }
    }
}

impl fmt::Display for ScriptCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScriptCommand::Pause => write!(f, "pause"),
            ScriptCommand::Resume(None) => write!(f, "resume"),
            ScriptCommand::Resume(Some(p)) => write!(f, "resume:{p}"),
            ScriptCommand::Seek(p) => write!(f, "seek:{p}"),
            ScriptCommand::Rate(r) => write!(f, "rate:{r}"),
            ScriptCommand::Stop => write!(f, "stop"),
            ScriptCommand::Quality(b) => write!(f, "quality:{b}"),
            ScriptCommand::Buffer(s) => write!(f, "buffer:{s}"),
        }
    }
}

/// One step: a command and when it is sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScriptStep {
    /// Offset from the script's start.
    pub at: Duration,
    /// What is sent.
    pub command: ScriptCommand,
}

impl fmt::Display for ScriptStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.command, self.at.as_secs_f64())
    }
}

/// Why a script does not parse. `item` counts from 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScriptError {
    /// Nothing to do.
    #[error("the script is empty")]
    Empty,
    /// `,,`, or a trailing comma.
    #[error("item {item} is empty")]
    EmptyItem {
        /// Which item.
        item: usize,
    },
    /// No `@SECONDS`.
    #[error("item {item} `{text}`: no time (write COMMAND[:ARGUMENT]@SECONDS)")]
    MissingTime {
        /// Which item.
        item: usize,
        /// Its text.
        text: String,
    },
    /// A command name not in the table.
    #[error(
        "item {item}: unknown command `{name}` (pause, resume, seek, rate, stop, quality, buffer)"
    )]
    UnknownCommand {
        /// Which item.
        item: usize,
        /// The name given.
        name: String,
    },
    /// `seek`, `rate`, `quality` or `buffer` without its argument.
    #[error("item {item}: `{name}` needs an argument (`{name}:VALUE@SECONDS`)")]
    MissingArgument {
        /// Which item.
        item: usize,
        /// The command.
        name: String,
    },
    /// `pause:3` or `stop:1`.
    #[error("item {item}: `{name}` takes no argument")]
    UnexpectedArgument {
        /// Which item.
        item: usize,
        /// The command.
        name: String,
    },
    /// A time or argument that is not a finite number (or, for a time, is negative; for
    /// `quality`, not a positive whole number of bits per second).
    #[error("item {item}: `{value}` is not a valid {what}")]
    BadNumber {
        /// Which item.
        item: usize,
        /// What was expected.
        what: &'static str,
        /// The text given.
        value: String,
    },
    /// A time earlier than the item before it.
    #[error("item {item}: time {at} s comes before the previous item's {previous} s (times must not decrease)")]
    OutOfOrder {
        /// Which item.
        item: usize,
        /// Its time.
        at: f64,
        /// The previous item's time.
        previous: f64,
    },
}

/// A parsed script: steps in the order they are sent.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PlaybackScript {
    steps: Vec<ScriptStep>,
}

impl PlaybackScript {
    /// The steps, in order.
    pub fn steps(&self) -> &[ScriptStep] {
        &self.steps
    }

    /// True when some step seeks, resumes from a position or stops: the transfer then
    /// need not deliver the whole file.
    pub fn leaves_parts_out(&self) -> bool {
        self.steps.iter().any(|s| {
            matches!(
                s.command,
                ScriptCommand::Seek(_) | ScriptCommand::Resume(Some(_)) | ScriptCommand::Stop
            )
        })
    }
}

fn number(item: usize, what: &'static str, text: &str) -> Result<f64, ScriptError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(ScriptError::BadNumber {
            item,
            what,
            value: text.trim().to_owned(),
        }),
    }
}

fn bitrate(item: usize, text: &str) -> Result<u64, ScriptError> {
    let t = text.trim();
    let (digits, scale) = match t.strip_suffix(['k', 'K']) {
        Some(d) => (d, 1_000),
        None => match t.strip_suffix('M') {
            Some(d) => (d, 1_000_000),
            None => (t, 1),
        },
    };
    match digits
        .parse::<u64>()
        .ok()
        .and_then(|v| v.checked_mul(scale))
    {
        Some(v) if v > 0 => Ok(v),
        _ => Err(ScriptError::BadNumber {
            item,
            what: "bit rate (bits per second, k or M suffix allowed)",
            value: t.to_owned(),
        }),
    }
}

fn parse_item(item: usize, text: &str) -> Result<ScriptStep, ScriptError> {
    let (head, time) = text
        .rsplit_once('@')
        .ok_or_else(|| ScriptError::MissingTime {
            item,
            text: text.to_owned(),
        })?;
    let at = number(item, "time (seconds >= 0)", time)?;
    let Some(at) = Duration::try_from_secs_f64(at).ok().filter(|_| at >= 0.0) else {
        return Err(ScriptError::BadNumber {
            item,
            what: "time (seconds >= 0)",
            value: time.trim().to_owned(),
        });
    };
    let (name, arg) = match head.split_once(':') {
        Some((n, a)) => (n.trim(), Some(a)),
        None => (head.trim(), None),
    };
    let missing = || ScriptError::MissingArgument {
        item,
        name: name.to_owned(),
    };
    let none = |arg: Option<&str>, c| match arg {
        Some(_) => Err(ScriptError::UnexpectedArgument {
            item,
            name: name.to_owned(),
        }),
        None => Ok(c),
    };
    let command = match name {
        "pause" => none(arg, ScriptCommand::Pause)?,
        "stop" => none(arg, ScriptCommand::Stop)?,
        "resume" => ScriptCommand::Resume(
            arg.map(|a| number(item, "position (seconds)", a))
                .transpose()?,
        ),
        "seek" => ScriptCommand::Seek(number(
            item,
            "position (seconds)",
            arg.ok_or_else(missing)?,
        )?),
        "rate" => ScriptCommand::Rate(number(item, "rate", arg.ok_or_else(missing)?)?),
        "quality" => ScriptCommand::Quality(bitrate(item, arg.ok_or_else(missing)?)?),
        "buffer" => ScriptCommand::Buffer(number(
            item,
            "duration (seconds)",
            arg.ok_or_else(missing)?,
        )?),
        other => {
            return Err(ScriptError::UnknownCommand {
                item,
                name: other.to_owned(),
            })
        }
    };
    Ok(ScriptStep { at, command })
}

impl FromStr for PlaybackScript {
    type Err = ScriptError;

    fn from_str(s: &str) -> Result<Self, ScriptError> {
        if s.trim().is_empty() {
            return Err(ScriptError::Empty);
        }
        let mut steps: Vec<ScriptStep> = Vec::new();
        for (i, text) in s.split(',').enumerate() {
            let item = i + 1;
            if text.trim().is_empty() {
                return Err(ScriptError::EmptyItem { item });
            }
            let step = parse_item(item, text.trim())?;
            if let Some(prev) = steps.last().filter(|p| p.at > step.at) {
                return Err(ScriptError::OutOfOrder {
                    item,
                    at: step.at.as_secs_f64(),
                    previous: prev.at.as_secs_f64(),
                });
            }
            steps.push(step);
        }
        Ok(PlaybackScript { steps })
    }
}

/// What became of one step.
#[derive(Debug, Clone, PartialEq)]
pub enum StepOutcome {
    /// The client acknowledged it.
    Acknowledged(PlaybackAck),
    /// Refused, by the client (its code) or before sending (400 for a value out of range).
    Refused {
        /// The status code, when there is one.
        code: Option<StatusCode>,
        /// Why.
        message: String,
    },
    /// Not sent: the transfer had ended before its time.
    Skipped,
}

/// One step as it ran: when it was sent and answered (seconds from the script's start).
#[derive(Debug, Clone, PartialEq)]
pub struct StepReport {
    /// The step.
    pub step: ScriptStep,
    /// When it was sent.
    pub sent_at: Option<f64>,
    /// When its answer came.
    pub answered_at: Option<f64>,
    /// What came of it.
    pub outcome: StepOutcome,
}

impl StepReport {
    /// One line for a terminal.
    pub fn line(&self) -> String {
        let when = self.sent_at.unwrap_or(self.step.at.as_secs_f64());
        let what = match &self.outcome {
            StepOutcome::Acknowledged(a) => {
                let state = serde_json::to_value(a.state).unwrap_or(Value::Null);
                let mut s = format!(
                    "ack {}: {} at {:.3} s, rate {}",
                    a.ack,
                    state.as_str().unwrap_or("-"),
                    a.position,
                    a.rate
                );
                if let Some(k) = a.start_segment {
                    s.push_str(&format!(", restart segment {k}"));
                }
                if let Some(cap) = a.bandwidth_cap {
                    s.push_str(&format!(", cap {cap} bit/s"));
                }
                if let Some(r) = a.run_ahead {
                    s.push_str(&format!(", run-ahead {r} s"));
                }
                s
            }
            StepOutcome::Refused { code, message } => match code {
                Some(c) => format!("refused {}: {message}", c.to_u16()),
                None => format!("failed: {message}"),
            },
            StepOutcome::Skipped => "skipped: the transfer had ended".to_string(),
        };
        format!("[{when:7.3} s] {} -> {what}", self.step.command)
    }

    /// The step as a JSON object: `command`, `at`, `sent_at`, `answered_at`, and `ack`
    /// (the acknowledgement), `refused` (`code`, `message`) or `skipped`.
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "command": self.step.command.to_string(),
            "at": self.step.at.as_secs_f64(),
            "sent_at": self.sent_at,
            "answered_at": self.answered_at,
        });
        let (key, value) = match &self.outcome {
            StepOutcome::Acknowledged(a) => ("ack", serde_json::to_value(a).unwrap_or_default()),
            StepOutcome::Refused { code, message } => (
                "refused",
                json!({"code": code.map(|c| c.to_u16()), "message": message}),
            ),
            StepOutcome::Skipped => ("skipped", Value::Bool(true)),
        };
        if let Value::Object(m) = &mut v {
            m.insert(key.to_owned(), value);
        }
        v
    }
}

/// Where a script runs: the session, the transfer its commands name (None: the session's
/// most recent), and when it started (step offsets count from here).
#[derive(Debug, Clone, Copy)]
pub struct ScriptTarget {
    /// The session.
    pub session: Uuid,
    /// The transfer.
    pub transfer: Option<TransferId>,
    /// The origin of the offsets (tokio's clock, so a simulated clock applies).
    pub start: tokio::time::Instant,
}

/// Sends each step at its offset and waits for its answer, calling `on_step` as each one
/// is answered. Once `ended` turns true (the transfer finished), the steps not sent yet are
/// skipped. Returns every step's report, in order.
pub async fn run_script(
    platform: &Platform,
    target: ScriptTarget,
    script: &PlaybackScript,
    mut ended: watch::Receiver<bool>,
    mut on_step: impl FnMut(&StepReport),
) -> Vec<StepReport> {
    let secs = |t: tokio::time::Instant| t.saturating_duration_since(target.start).as_secs_f64();
    let mut reports = Vec::new();
    let mut over = false;
    for step in script.steps() {
        if !over {
            let due = target.start + step.at;
            let ended_first = tokio::select! {
                () = tokio::time::sleep_until(due) => false,
                _ = ended.wait_for(|e| *e) => true,
            };
            over = ended_first || *ended.borrow();
        }
        let report = if over {
            StepReport {
                step: *step,
                sent_at: None,
                answered_at: None,
                outcome: StepOutcome::Skipped,
            }
        } else {
            let sent = tokio::time::Instant::now();
            let control = step.command.control(target.transfer);
            let result = platform.playback(target.session, control).await;
            StepReport {
                step: *step,
                sent_at: Some(secs(sent)),
                answered_at: Some(secs(tokio::time::Instant::now())),
                outcome: outcome(result),
            }
        };
        on_step(&report);
        reports.push(report);
    }
    reports
}

fn outcome(result: Result<PlaybackAck, PlatformError>) -> StepOutcome {
    match result {
        Ok(ack) => StepOutcome::Acknowledged(ack),
        Err(e) => StepOutcome::Refused {
            code: e.status_code(),
            message: match e {
                PlatformError::Refused { message, .. } => message,
                other => other.to_string(),
            },
        },
    }
}

#[cfg(test)]
#[path = "script_tests.rs"]
mod tests;
