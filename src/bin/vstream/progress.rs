//! Live progress of `vstream platform --pull` and `vstream client` (docs/protocol.md D85):
//! one indicatif bar per transfer on a terminal (bytes, rate, ETA, segments); a plain line
//! per transfer every few seconds when stderr is not a terminal (logs, CI), and one when
//! it ends; nothing with `--quiet`.
//!
//! indicatif is the terminal-bar crate of the Rust ecosystem (console's authors): it draws
//! several bars at once (`MultiProgress`), redraws at a bounded rate and hides itself when
//! stderr is not a terminal. The plain lines are ours, so a log file gets a readable line
//! instead of carriage returns.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;
use vstream::client::ClientProgress;
use vstream::platform::Platform;
use vstream::session::TransferOutcome;
use vstream::wire::FileRequestAck;

/// The bars on stderr, once a display drew one: log lines are written around them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// The log's writer (`tracing_subscriber`'s `with_writer`): each formatted line goes to
/// stderr whole, with the bars lifted while it is written, so that log lines and bars do
/// not overwrite each other.
pub(crate) struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine(Vec::new())
    }
}

/// One log line, written when dropped.
pub(crate) struct LogLine(Vec<u8>);

impl std::io::Write for LogLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine {
    fn drop(&mut self) {
        let line = std::mem::take(&mut self.0);
        let write = || {
            let _ = std::io::Write::write_all(&mut std::io::stderr(), &line);
        };
        match BARS.get() {
            Some(bars) => bars.suspend(write),
            None => write(),
        }
    }
}

/// How often the figures are read.
const READ_EVERY: Duration = Duration::from_millis(250);

/// Shows a client's uploads until its progress channel closes (the session ended).
pub(crate) fn watch_client(
    mut progress: watch::Receiver<ClientProgress>,
    quiet: bool,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut shown = Progress::new(quiet);
        loop {
            let closed = progress.changed().await.is_err();
            let figures: Vec<Figures> = progress
                .borrow_and_update()
                .transfers
                .iter()
                .map(|t| Figures {
                    id: t.transfer.value(),
                    name: t.file_path.clone(),
                    bytes: t.bytes,
                    total_bytes: t.total_bytes,
                    segments: u64::from(t.uploaded_segments),
                    total_segments: t.total_segments,
                    ended: t.outcome.map(TransferOutcome::name),
                })
                .collect();
            shown.update(&figures);
            if closed {
                break;
            }
            tokio::time::sleep(READ_EVERY).await;
        }
        shown.finish();
    })
}

/// Shows one pulled transfer until it ends; [`PullProgress::stop`] shows how.
pub(crate) struct PullProgress {
    task: JoinHandle<()>,
    shown: Arc<Mutex<Progress>>,
    ack: FileRequestAck,
}

impl PullProgress {
    /// Starts reading the transfer's figures from the platform.
    pub(crate) fn start(
        platform: &Platform,
        session: Uuid,
        ack: &FileRequestAck,
        quiet: bool,
    ) -> PullProgress {
        let shown = Arc::new(Mutex::new(Progress::new(quiet)));
        let (platform, ack) = (platform.clone(), ack.clone());
        let (shown2, ack2) = (shown.clone(), ack.clone());
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(READ_EVERY);
            loop {
                tick.tick().await;
                let Ok(all) = platform.transfers(session).await else {
                    break;
                };
                let Some(t) = all.iter().find(|t| t.status.transfer == ack.transfer_id) else {
                    continue;
                };
                let f = Figures {
                    id: ack.transfer_id.value(),
                    name: ack.file_path.clone(),
                    bytes: t.status.bytes,
                    total_bytes: Some(ack.file_size),
                    segments: t.status.received_segments,
                    total_segments: ack.total_segments,
                    ended: None,
                };
                lock(&shown2).update(&[f]);
            }
        });
        PullProgress {
            task,
            shown,
            ack: ack2,
        }
    }

    /// The transfer ended with `outcome`: its last figures are shown with it.
    pub(crate) fn stop(self, outcome: &'static str, bytes: u64, segments: u64) {
        self.task.abort();
        let mut shown = lock(&self.shown);
        shown.update(&[Figures {
            id: self.ack.transfer_id.value(),
            name: self.ack.file_path.clone(),
            bytes,
            total_bytes: Some(self.ack.file_size),
            segments,
            total_segments: self.ack.total_segments,
            ended: Some(outcome),
        }]);
        shown.finish();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How often a plain progress line is printed per transfer.
const PLAIN_EVERY: Duration = Duration::from_secs(3);

/// One transfer's figures at one moment.
pub(crate) struct Figures {
    /// Its id (the bar's key).
    pub(crate) id: u64,
    /// The file.
    pub(crate) name: String,
    /// Data bytes so far.
    pub(crate) bytes: u64,
    /// The file's size when known.
    pub(crate) total_bytes: Option<u64>,
    /// Segments so far.
    pub(crate) segments: u64,
    /// Segments in the transfer.
    pub(crate) total_segments: u32,
    /// How it ended (`completed`, `stopped`...), None while running.
    pub(crate) ended: Option<&'static str>,
}

/// What is shown, and where.
enum Display {
    Quiet,
    Bars(MultiProgress),
    Plain,
}

struct Shown {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: Instant,
    ended: bool,
}

/// The progress display of one command.
pub(crate) struct Progress {
    display: Display,
    shown: BTreeMap<u64, Shown>,
}

impl Progress {
    /// Bars when stderr is a terminal, plain lines otherwise, nothing when `quiet`.
    pub(crate) fn new(quiet: bool) -> Progress {
        let display = if quiet {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            Display::Bars(
                BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
                    .clone(),
            )
        } else {
            Display::Plain
        };
        Progress {
            display,
            shown: BTreeMap::new(),
        }
    }

    /// Shows the figures of every transfer.
    pub(crate) fn update(&mut self, all: &[Figures]) {
        for f in all {
            self.one(f);
        }
    }

    fn one(&mut self, f: &Figures) {
        let now = Instant::now();
        let bar = match &self.display {
            Display::Quiet => return,
            Display::Bars(multi) if !self.shown.contains_key(&f.id) => Some(multi.add(new_bar(f))),
            _ => None,
        };
        let shown = self.shown.entry(f.id).or_insert_with(|| Shown {
            bar,
            started: now,
            last_line: now,
            ended: false,
        });
        if shown.ended {
            return;
        }
        if let Some(bar) = &shown.bar {
            bar.set_position(f.total_bytes.map_or(f.segments, |_| f.bytes));
            let msg = match f.total_bytes {
                Some(_) => format!("{}/{} segments", f.segments, f.total_segments),
                None => format!("segments, {:.1} KiB", f.bytes as f64 / 1024.0),
            };
            match f.ended {
                Some(outcome) => {
                    bar.finish_with_message(format!("{msg}, {outcome}"));
                    shown.ended = true;
                }
                None => bar.set_message(msg),
            }
            return;
        }
        if f.ended.is_some() || now.duration_since(shown.last_line) >= PLAIN_EVERY {
            shown.last_line = now;
            shown.ended = f.ended.is_some();
            eprintln!("{}", plain_line(f, now.duration_since(shown.started)));
        }
    }

    /// The display is done: finished bars stay on screen as they are; plain lines need
    /// nothing.
    pub(crate) fn finish(&mut self) {}
}

fn new_bar(f: &Figures) -> ProgressBar {
    let (len, template) = match f.total_bytes {
        Some(total) => (
            total,
            "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}",
        ),
        None => (
            u64::from(f.total_segments),
            "{prefix} [{bar:30}] {pos}/{len} {per_sec} ETA {eta} {msg}",
        ),
    };
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let bar = ProgressBar::new(len).with_style(style);
    bar.set_prefix(f.name.clone());
    bar
}

/// `progress: av.mp4 412.3/634.3 KiB 65% 3.1 MB/s ETA 1 s, 40/61 segments`.
fn plain_line(f: &Figures, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64().max(0.001);
    let rate = f.bytes as f64 / secs;
    let done = match f.total_bytes {
        Some(total) if total > 0 => {
            let pct = 100.0 * f.bytes as f64 / total as f64;
            let eta = if rate > 0.0 && f.bytes < total {
                format!(" ETA {:.0} s", (total - f.bytes) as f64 / rate)
            } else {
                String::new()
            };
            format!(
                "{:.1}/{:.1} KiB {pct:.0}%{eta}",
                f.bytes as f64 / 1024.0,
                total as f64 / 1024.0
            )
        }
        _ => format!("{:.1} KiB", f.bytes as f64 / 1024.0),
    };
    let state = f.ended.map(|o| format!(", {o}")).unwrap_or_default();
    format!(
        "progress: {} {done} {:.2} MB/s, {}/{} segments{state}",
        f.name,
        rate / 1e6,
        f.segments,
        f.total_segments
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_line_has_bytes_percent_rate_and_segments() {
        let f = Figures {
            id: 1,
            name: "av.mp4".into(),
            bytes: 512 * 1024,
            total_bytes: Some(1024 * 1024),
            segments: 10,
            total_segments: 20,
            ended: None,
        };
        let line = plain_line(&f, Duration::from_secs(1));
        assert_eq!(
            line,
            "progress: av.mp4 512.0/1024.0 KiB 50% ETA 1 s 0.52 MB/s, 10/20 segments"
        );
    }
}
