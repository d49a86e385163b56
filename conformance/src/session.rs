//! The `session` runner: feeds one session machine the messages of a script and checks the
//! replies it produces, in order.
//!
//! # Keys
//! ```text
//! role: platform | client         the machine under test (the runner plays the other
//!                                  side and the machine's driver); first entry
//! config: max_in_flight N | max_stream_len N | grace_ms N | checksum_later 1
//!       | requests_per_sec N | request_burst N | max_transfers N | busy_retry_ms N
//!                                  before the first input (the last four: the client's
//!                                  limits, D97, D98; unlimited unless set)
//!       | device_sessions N        (role platform) live sessions per authenticated device
//!                                  (D96), the table shared with no other session
//! token: <device> <token>          (role platform) tokens are required and this device's
//!                                  is <token> (the file holds its hash, D91); repeatable
//! C->P: <seq> <Type> [payload]     (role platform) a message from the client
//! P->C: <seq> <Type> [payload]     (role client) a message from the platform
//!     payload: VersionNegotiation `1.0.0`; StatusResponse `<code> <message text>`;
//!     SessionEnd nothing; others the payload's JSON text as sent (may be malformed).
//!     `$T` is replaced by the most recent transfer id (12 hex digits), `$SEG(i)` by the
//!     segment id of index i of that transfer.
//! app: <command>                   (role platform) an application command:
//!     query_files [filter] | request_file <FileRequest JSON> | playback <PlaybackControl
//!     JSON> | stats | retransmit <index>
//! segment: <index> [len] [transfer | segment id UUID]
//!                                  (role platform) a segment header of the most recent
//!                                  transfer (or the transfer named, or with that raw id);
//!                                  written at once when the verdict is Write
//! segment-open: <index> [len] [..] (role platform) the same header, judged but not written
//!                                  yet (its data still arriving)
//! segment-done: <index> [len] [..] (role platform) that segment's data was written
//! segment-damaged: <index>         (role platform) that segment's stream failed (1005,
//!                                  its header read)
//! output-failed: <kind> [index]    (role platform) the most recent transfer's output could
//!                                  not be opened or written: no-space | permission | other
//! connection-lost: -               the connection ended (`handle_connection_lost`)
//! connection-end: <how>            (role client) the connection ended
//!                                  (`handle_connection_end`): broken | stalled | tls |
//!                                  local | closed <code>; its `AfterConnection` becomes
//!                                  the verdict `expect verdict:` reads
//! session: <uuid>                  (role platform) later `C->P` envelopes carry this id
//! registry: <uuid>                 (role platform) the registry holds this finished
//!                                  session: `LookupSession` for it is answered true
//!                                  (others false), at once
//! bad-stream: <first byte hex>     a stream whose first byte is not `{`, 0x01 or 0x02
//! segments-sent: all               (role client) every issued segment reported sent
//! checksum-known: <seq> [fail]     (role client, with `config: checksum_later 1`: every
//!                                  FileRequest is prepared without its checksum) the
//!                                  driver's checksum of request <seq> (or a hashing error)
//! output-finished: <sha256:..|none> (role platform) the most recent transfer's output was
//!                                  finished, its digest this (or none: a gap remains)
//! wait: <ms>                       advance virtual time, then handle_timeout
//! expect P->C: / expect C->P: <Type> [<code>] [<JSON subset>]
//!                                  the next message the machine sent: its type, its status
//!                                  code (StatusResponse, ErrorReport) and a JSON object
//!                                  each of whose fields the sent JSON holds, recursively
//!                                  (StatusResponse: its message; other types: the payload)
//! expect action: <text>            the next other action (Close, OpenOutput,
//!                                  FinishOutput, SendSegment) holds <text> in its Debug;
//!                                  for SendSegment, `a & b` means both substrings
//! expect segments-issued: <n>     (role client) segment jobs issued so far
//! expect verdict: <text>           the last segment verdict's Debug holds <text>
//! expect event: <text>             a later event (since the previous input) holds <text>
//! expect established: true|false   client established / platform ready
//! ```
//! After each input every produced message and action must have been expected (segment
//! jobs of the client excepted: they are checked only by `expect action: SendSegment`,
//! in order, when the case asks). Whatever is left unexpected fails the case.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;
use uuid::Uuid;
use vstream::catalog::{Catalog, CatalogError};
use vstream::media::plan::PlanOptions;
use vstream::media::probe::plan_file;
use vstream::session::{
    ClientAction, ClientSession, PlatformAction, PlatformSession, PreparedTransfer, SegmentVerdict,
    SessionConfig, StorageFailure, TransferRefusal,
};
use vstream::wire::*;

use crate::trace::Entry;

/// The platform's session id in every case.
const SESSION: Uuid = Uuid::from_u128(0x5e55_10a0_0000_4000_8000_0000_0000_0001);

fn videos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../test_videos")
}

enum Machine {
    Platform(Box<PlatformSession>),
    Client(Box<ClientSession>),
}

/// What a machine produced, in order.
enum Output {
    Message(JsonEnvelope),
    Action(String),
}

struct Runner {
    machine: Option<Machine>,
    config: SessionConfig,
    role: String,
    now: Instant,
    outputs: VecDeque<Output>,
    segments: VecDeque<String>,
    jobs: Vec<SegmentJob>,
    events: Vec<String>,
    verdict: Option<String>,
    transfer: Option<TransferId>,
    issued: usize,
    checks: usize,
    /// Prepare FileRequests without their checksum (D101) and keep it here by request.
    checksum_later: bool,
    later: std::collections::BTreeMap<u64, String>,
    /// The session id written in the envelopes of later `C->P` lines (`session:`).
    envelope_session: Uuid,
    /// Finished sessions the registry holds (`registry:`), for `LookupSession`.
    registry: Vec<Uuid>,
}

use vstream::session::SegmentJob;

impl Runner {
    fn machine(&mut self) -> &mut Machine {
        if self.machine.is_none() {
            let m = if self.role == "client" {
                Machine::Client(Box::new(ClientSession::new(
                    self.config.clone(),
                    self.now,
                    None,
                )))
            } else {
                Machine::Platform(Box::new(PlatformSession::new(
                    self.config.clone(),
                    self.now,
                    SESSION,
                )))
            };
            self.machine = Some(m);
        }
        self.machine.as_mut().expect("set above")
    }

    fn substitute(&self, text: &str) -> String {
        let Some(t) = self.transfer else {
            return text.to_owned();
        };
        let mut out = text.replace("$T", &t.to_string());
        while let Some(start) = out.find("$SEG(") {
            let Some(len) = out[start..].find(')') else {
                break;
            };
            let index: u32 = out[start + 5..start + len].trim().parse().unwrap_or(0);
            out.replace_range(start..=start + len, &SegmentId::new(t, index).to_string());
        }
        out
    }

    /// Drains the machine, running the driver-side actions the runner plays.
    fn drain(&mut self) -> Result<(), String> {
        loop {
            let mut p_acts = Vec::new();
            let mut c_acts = Vec::new();
            let mut events = Vec::new();
            let mut started = None;
            match self.machine() {
                Machine::Platform(p) => {
                    while let Some(a) = p.poll_action() {
                        p_acts.push(a);
                    }
                    while let Some(e) = p.poll_event() {
                        events.push(format!("{e:?}"));
                    }
                }
                Machine::Client(c) => {
                    while let Some(a) = c.poll_action() {
                        c_acts.push(a);
                    }
                    while let Some(e) = c.poll_event() {
                        if let vstream::session::ClientEvent::TransferStarted(a) = &e {
                            started = Some(a.transfer_id);
                        }
                        events.push(format!("{e:?}"));
                    }
                }
            }
            self.events.extend(events);
            if started.is_some() {
                self.transfer = started;
            }
            if p_acts.is_empty() && c_acts.is_empty() {
                return Ok(());
            }
            for a in p_acts {
                match a {
                    PlatformAction::SendControl(env) => {
                        self.outputs.push_back(Output::Message(env))
                    }
                    other => {
                        if let PlatformAction::OpenOutput { ack, .. } = &other {
                            self.transfer = Some(ack.transfer_id);
                        }
                        if let PlatformAction::LookupSession { previous } = &other {
                            let (now, held) = (self.now, self.registry.contains(previous));
                            if let Machine::Platform(p) = self.machine() {
                                p.handle_session_lookup(now, *previous, held);
                            }
                        }
                        self.outputs.push_back(Output::Action(format!("{other:?}")));
                    }
                }
            }
            let now = self.now;
            for a in c_acts {
                match a {
                    ClientAction::SendControl(env) => self.outputs.push_back(Output::Message(env)),
                    ClientAction::PrepareTransfer {
                        request_seq,
                        request,
                    } => {
                        let mut r = prepare(&request);
                        if let (true, Ok(p)) = (self.checksum_later, r.as_mut()) {
                            if let Some(c) = p.checksum.take() {
                                self.later.insert(request_seq, c);
                            }
                        }
                        if let Machine::Client(c) = self.machine() {
                            c.handle_transfer_prepared(now, request_seq, r);
                        }
                    }
                    ClientAction::ListFiles {
                        request_seq,
                        filter,
                    } => {
                        let files = list(filter.as_deref());
                        if let Machine::Client(c) = self.machine() {
                            c.handle_file_list(now, request_seq, files);
                        }
                    }
                    // The source is the driver's business (D54).
                    ClientAction::OpenSource { .. } | ClientAction::CloseSource { .. } => {}
                    ClientAction::SendSegment(job) => {
                        self.segments.push_back(format!("{job:?}"));
                        self.issued += 1;
                        self.jobs.push(job);
                    }
                    other => self.outputs.push_back(Output::Action(format!("{other:?}"))),
                }
            }
        }
    }

    fn check_all_expected(&self) -> Result<(), String> {
        match self.outputs.front() {
            None => Ok(()),
            Some(Output::Message(env)) => Err(format!(
                "unexpected output {:?} #{} {}",
                env.message_type,
                env.sequence_number,
                describe(env)
            )),
            Some(Output::Action(a)) => Err(format!("unexpected action {a}")),
        }
    }

    fn input(&mut self, e: &Entry) -> Result<(), String> {
        let now = self.now;
        match e.key.as_str() {
            "C->P" | "P->C" => {
                let want = if self.role == "client" {
                    "P->C"
                } else {
                    "C->P"
                };
                if e.key != want {
                    return Err(format!("a {} machine receives {want} lines", self.role));
                }
                let mut env = envelope(&self.substitute(&e.value))?;
                env.session_id = self.envelope_session;
                match self.machine() {
                    Machine::Platform(p) => p.handle_message(now, env),
                    Machine::Client(c) => c.handle_message(now, env),
                }
            }
            "app" => {
                let text = self.substitute(&e.value);
                let (cmd, arg) = text.split_once(' ').unwrap_or((text.as_str(), ""));
                let transfer = self.transfer;
                let Machine::Platform(p) = self.machine() else {
                    return Err("app: needs role platform".into());
                };
                let r = match cmd {
                    "query_files" => {
                        p.query_files(now, Some(arg.to_owned()).filter(|a| !a.is_empty()))
                    }
                    "request_file" => {
                        let req =
                            FileRequest::decode(arg.as_bytes()).map_err(|e| format!("{e}"))?;
                        p.request_file(now, req)
                    }
                    "playback" => {
                        let c =
                            PlaybackControl::decode(arg.as_bytes()).map_err(|e| format!("{e}"))?;
                        p.playback(now, c)
                    }
                    "stats" => p.send_request(
                        now,
                        Message::StatsRequest(StatsRequest { transfer_id: None }),
                    ),
                    "retransmit" => {
                        let t = transfer.ok_or("no transfer yet")?;
                        let i: u32 = arg.trim().parse().map_err(|_| "retransmit <index>")?;
                        p.request_retransmission(now, SegmentId::new(t, i), None)
                    }
                    other => return Err(format!("unknown app command `{other}`")),
                };
                r.map_err(|e| format!("app command refused: {e}"))?;
            }
            "segment" | "segment-open" | "segment-done" => {
                let mut it = e.value.split_whitespace();
                let index: u32 = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("segment: <index> [len] [transfer]")?;
                let len: u32 = it.next().and_then(|v| v.parse().ok()).unwrap_or(10);
                let id = match it.next() {
                    Some(u) if u.contains('-') => {
                        SegmentId::from_uuid(Uuid::parse_str(u).map_err(|_| "a segment id UUID")?)
                    }
                    Some(hex) => SegmentId::new(
                        hex.parse::<TransferId>()
                            .map_err(|_| "transfer: 12 hex digits")?,
                        index,
                    ),
                    None => SegmentId::new(self.transfer.ok_or("no transfer yet")?, index),
                };
                let h = SegmentHeader::Video(VideoHeader {
                    id,
                    timestamp: 0.0,
                    duration: 0.0,
                    frame_count: 0,
                    flags: SegmentFlags::empty(),
                    data_length: len,
                    metadata: None,
                });
                let Machine::Platform(p) = self.machine() else {
                    return Err("segment: needs role platform".into());
                };
                if e.key == "segment-done" {
                    p.handle_segment_written(now, &h, Duration::ZERO);
                    return Ok(());
                }
                let v = p.handle_segment_header(now, &h);
                if e.key == "segment" && matches!(v, SegmentVerdict::Write { .. }) {
                    p.handle_segment_written(now, &h, Duration::ZERO);
                }
                self.verdict = Some(format!("{v:?}"));
            }
            "bad-stream" => {
                let b = u8::from_str_radix(e.value.trim_start_matches("0x"), 16)
                    .map_err(|_| "bad-stream: <hex byte>")?;
                let err = classify_stream(b)
                    .err()
                    .ok_or("that byte starts a valid stream")?;
                match self.machine() {
                    Machine::Platform(p) => p.handle_bad_stream(now, err),
                    Machine::Client(c) => c.handle_bad_stream(now, err),
                }
            }
            "segment-damaged" => {
                let index: u32 = e
                    .value
                    .trim()
                    .parse()
                    .map_err(|_| "segment-damaged: <index>")?;
                let t = self.transfer.ok_or("no transfer yet")?;
                let header = SegmentHeader::Video(VideoHeader {
                    id: SegmentId::new(t, index),
                    timestamp: 0.0,
                    duration: 0.0,
                    frame_count: 1,
                    flags: SegmentFlags::empty(),
                    data_length: 10,
                    metadata: None,
                });
                let Machine::Platform(p) = self.machine() else {
                    return Err("segment-damaged: needs role platform".into());
                };
                let error = WireError::CorruptedSegment {
                    kind: "VideoSegment",
                    reason: "damaged".into(),
                };
                p.handle_segment_failed(now, Some(&header), error);
            }
            "output-failed" => {
                let mut words = e.value.split_whitespace();
                let kind = match words.next() {
                    Some("no-space") => StorageFailure::NoSpace,
                    Some("permission") => StorageFailure::Permission,
                    Some("other") => StorageFailure::Other,
                    _ => return Err("output-failed: no-space|permission|other [index]".into()),
                };
                let index = words.next().and_then(|w| w.parse().ok());
                let t = self.transfer.ok_or("no transfer yet")?;
                let Machine::Platform(p) = self.machine() else {
                    return Err("output-failed: needs role platform".into());
                };
                p.handle_output_failed(now, t, index, kind, "as the case says");
            }
            "session" => {
                self.envelope_session =
                    Uuid::parse_str(e.value.trim()).map_err(|_| "session: <uuid>")?;
            }
            "registry" => {
                let id = Uuid::parse_str(e.value.trim()).map_err(|_| "registry: <uuid>")?;
                self.registry.push(id);
            }
            "connection-lost" => match self.machine() {
                Machine::Platform(p) => p.handle_connection_lost(now),
                Machine::Client(c) => c.handle_connection_lost(now),
            },
            "connection-end" => {
                use vstream::session::ConnectionEnd as End;
                let value = e.value.trim();
                let end = match value.split_once(' ') {
                    Some(("closed", code)) => {
                        let code: u16 = code.trim().parse().map_err(|_| "closed <code>")?;
                        End::ClosedByPlatform(StatusCode::from_u16(code))
                    }
                    _ => match value {
                        "broken" => End::Broken,
                        "stalled" => End::Stalled,
                        "tls" => End::TlsRefused,
                        "local" => End::ClosedLocally,
                        _ => return Err(format!("connection-end: unknown `{value}`")),
                    },
                };
                let Machine::Client(c) = self.machine() else {
                    return Err("connection-end: needs role client".into());
                };
                let after = c.handle_connection_end(now, end);
                self.verdict = Some(format!("{after:?}"));
            }
            "segments-sent" => {
                let jobs = std::mem::take(&mut self.jobs);
                let Machine::Client(c) = self.machine() else {
                    return Err("segments-sent: needs role client".into());
                };
                for j in jobs {
                    c.handle_segment_sent(now, j.transfer, j.index, Duration::from_millis(1));
                }
            }
            "checksum-known" => {
                let mut it = e.value.split_whitespace();
                let seq: u64 = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("checksum-known: <seq> [fail]")?;
                let checksum = match it.next() {
                    Some("fail") => Err("disk error".to_string()),
                    _ => self
                        .later
                        .get(&seq)
                        .cloned()
                        .map(Ok)
                        .ok_or("no checksum kept")?,
                };
                let Machine::Client(c) = self.machine() else {
                    return Err("checksum-known: needs role client".into());
                };
                c.handle_checksum_known(now, seq, checksum);
            }
            "output-finished" => {
                let checksum = match e.value.trim() {
                    "none" => None,
                    c => Some(c.to_string()),
                };
                let t = self.transfer.ok_or("output-finished: no transfer")?;
                let Machine::Platform(p) = self.machine() else {
                    return Err("output-finished: needs role platform".into());
                };
                let file = vstream::store::FinishedFile {
                    path: PathBuf::from("out"),
                    size: 0,
                    checksum,
                };
                p.handle_output_finished(now, t, file);
            }
            "wait" => {
                let ms: u64 = e.value.trim().parse().map_err(|_| "wait: <ms>")?;
                self.now += Duration::from_millis(ms);
                let now = self.now;
                match self.machine() {
                    Machine::Platform(p) => p.handle_timeout(now),
                    Machine::Client(c) => c.handle_timeout(now),
                }
            }
            other => return Err(format!("unknown input `{other}`")),
        }
        Ok(())
    }

    fn expect(&mut self, e: &Entry) -> Result<(), String> {
        self.checks += 1;
        let value = self.substitute(&e.value);
        match e.key.as_str() {
            "expect P->C" | "expect C->P" => {
                let from = if self.role == "client" {
                    "C->P"
                } else {
                    "P->C"
                };
                if !e.key.ends_with(from) {
                    return Err(format!("a {} machine sends {from}", self.role));
                }
                match self.outputs.pop_front() {
                    Some(Output::Message(env)) => match_message(&env, &value),
                    Some(Output::Action(a)) => Err(format!("expected a message, got {a}")),
                    None => Err("expected a message, none was sent".into()),
                }
            }
            "expect action" => {
                if value.starts_with("SendSegment") {
                    let want = value.trim_start_matches("SendSegment").trim();
                    return match self.segments.pop_front() {
                        Some(s) if want.split(" & ").all(|w| s.contains(w.trim())) => Ok(()),
                        Some(s) => Err(format!("segment job {s} does not hold `{want}`")),
                        None => Err("no segment job issued".into()),
                    };
                }
                match self.outputs.pop_front() {
                    Some(Output::Action(a)) if a.contains(&value) => Ok(()),
                    Some(Output::Action(a)) => Err(format!("action {a} does not hold `{value}`")),
                    Some(Output::Message(env)) => Err(format!(
                        "expected an action, got {:?} {}",
                        env.message_type,
                        describe(&env)
                    )),
                    None => Err("expected an action, none".into()),
                }
            }
            "expect segments-issued" => {
                let n: usize = value.trim().parse().map_err(|_| "a count")?;
                (self.issued == n)
                    .then_some(())
                    .ok_or(format!("{} segment jobs issued, expected {n}", self.issued))
            }
            "expect verdict" => match &self.verdict {
                Some(v) if v.contains(&value) => Ok(()),
                other => Err(format!("verdict {other:?} does not hold `{value}`")),
            },
            "expect event" => match self.events.iter().position(|ev| ev.contains(&value)) {
                Some(i) => {
                    self.events.drain(..=i);
                    Ok(())
                }
                None => Err(format!("no event holds `{value}`: {:?}", self.events)),
            },
            "expect established" => {
                let want = value == "true";
                let is = match self.machine() {
                    Machine::Platform(p) => p.is_established(),
                    Machine::Client(c) => c.is_established(),
                };
                (is == want)
                    .then_some(())
                    .ok_or(format!("established is {is}"))
            }
            other => Err(format!("unknown key `{other}`")),
        }
    }
}

/// Replays a `kind: session` case.
pub fn run(entries: &[Entry]) -> Result<(), String> {
    let mut r = Runner {
        machine: None,
        config: SessionConfig::default(),
        role: String::new(),
        now: Instant::now(),
        outputs: VecDeque::new(),
        segments: VecDeque::new(),
        jobs: Vec::new(),
        events: Vec::new(),
        verdict: None,
        transfer: None,
        issued: 0,
        checks: 0,
        checksum_later: false,
        later: Default::default(),
        envelope_session: Uuid::nil(),
        registry: Vec::new(),
    };
    let mut token_lines = String::new();
    for e in entries {
        let fail = |why: String| format!("line {} `{}`: {why}", e.line, e.key);
        match e.key.as_str() {
            "role" => {
                if e.value != "platform" && e.value != "client" {
                    return Err(fail("role is platform or client".into()));
                }
                r.role = e.value.clone();
                continue;
            }
            "token" => {
                let (device, token) = e
                    .value
                    .split_once(' ')
                    .ok_or_else(|| fail("token: <device> <token>".into()))?;
                let hash = vstream::auth::Token::new(token.trim()).hash();
                token_lines.push_str(&format!("{device} {hash}\n"));
                let file = vstream::auth::TokenFile::parse(&token_lines)
                    .map_err(|e| fail(format!("token: {e}")))?;
                r.config.auth.tokens = Some(std::sync::Arc::new(file));
                continue;
            }
            "config" => {
                let (k, v) = e
                    .value
                    .split_once(' ')
                    .ok_or_else(|| fail("config: <key> <n>".into()))?;
                let n: u64 = v.trim().parse().map_err(|_| fail("not a number".into()))?;
                match k {
                    "max_in_flight" => r.config.max_in_flight_segments = n as usize,
                    "max_stream_len" => r.config.max_stream_len = n,
                    "grace_ms" => r.config.unknown_transfer_grace = Duration::from_millis(n),
                    "checksum_later" => r.checksum_later = n != 0,
                    "requests_per_sec" => r.config.client_limits.requests_per_sec = n as f64,
                    "request_burst" => r.config.client_limits.request_burst = n as f64,
                    "max_transfers" => r.config.client_limits.max_transfers = n as usize,
                    "device_sessions" => {
                        r.config.device_sessions =
                            Some(vstream::auth::DeviceSessions::new(n as usize))
                    }
                    "busy_retry_ms" => {
                        r.config.client_limits.busy_retry_after = Duration::from_millis(n)
                    }
                    _ => return Err(fail(format!("unknown config `{k}`"))),
                }
                continue;
            }
            _ => {}
        }
        if r.role.is_empty() {
            return Err(fail("`role:` must come first".into()));
        }
        if is_input(&e.key) {
            // Everything the previous inputs produced must have been expected.
            r.check_all_expected().map_err(fail)?;
            r.events.clear();
            r.input(e).map_err(fail)?;
            r.drain().map_err(fail)?;
            continue;
        }
        if r.machine.is_none() {
            r.drain().map_err(fail)?;
        }
        r.expect(e).map_err(fail)?;
    }
    r.check_all_expected()
        .map_err(|why| format!("at the end: {why}"))?;
    if r.checks == 0 {
        return Err("the case checks nothing".into());
    }
    Ok(())
}

fn is_input(key: &str) -> bool {
    matches!(
        key,
        "C->P"
            | "P->C"
            | "app"
            | "segment"
            | "segment-open"
            | "segment-done"
            | "bad-stream"
            | "segments-sent"
            | "checksum-known"
            | "output-finished"
            | "segment-damaged"
            | "output-failed"
            | "connection-lost"
            | "connection-end"
            | "session"
            | "registry"
            | "wait"
    )
}

fn envelope(text: &str) -> Result<JsonEnvelope, String> {
    let mut it = text.splitn(3, ' ');
    let seq: u64 = it
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or("expected `<seq> <Type> [payload]`")?;
    let name = it.next().ok_or("missing message type")?;
    let rest = it.next().unwrap_or("").trim();
    let t = MessageType::from_name(name).ok_or(format!("unknown message type `{name}`"))?;
    let payload = match t {
        MessageType::VersionNegotiation => {
            let parts: Vec<u8> = rest.split('.').filter_map(|p| p.parse().ok()).collect();
            if parts.len() != 3 {
                return Err(format!("version `{rest}` is not x.y.z"));
            }
            parts
        }
        MessageType::StatusResponse => {
            let (code, msg) = rest.split_once(' ').unwrap_or((rest, ""));
            let code: u16 = code
                .parse()
                .map_err(|_| "StatusResponse <code> <message>")?;
            Message::StatusResponse(StatusResponse::new(StatusCode::from_u16(code), msg))
                .to_payload()
        }
        _ => rest.as_bytes().to_vec(),
    };
    let session = Uuid::nil();
    Ok(JsonEnvelope {
        message_type: t,
        payload,
        sequence_number: seq,
        timestamp: Timestamp::UNIX_EPOCH,
        session_id: session,
    })
}

/// (code, JSON) of a sent message, for matching and for messages.
fn view(env: &JsonEnvelope) -> (Option<u16>, Value) {
    match env.message() {
        Ok(Message::StatusResponse(r)) => (
            Some(r.code.to_u16()),
            serde_json::from_str(&r.message).unwrap_or(Value::String(r.message.clone())),
        ),
        Ok(Message::ErrorReport(r)) => (
            Some(r.error_code.to_u16()),
            serde_json::from_slice(&Message::ErrorReport(r).to_payload()).unwrap_or(Value::Null),
        ),
        Ok(Message::VersionNegotiation(v)) => (None, Value::String(v.to_string())),
        _ => (
            None,
            serde_json::from_slice(&env.payload).unwrap_or(Value::Null),
        ),
    }
}

fn describe(env: &JsonEnvelope) -> String {
    let (code, v) = view(env);
    match code {
        Some(c) => format!("{c} {v}"),
        None => v.to_string(),
    }
}

fn match_message(env: &JsonEnvelope, want: &str) -> Result<(), String> {
    let mut rest = want.trim();
    let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
    let got = env.message_type.name().unwrap_or("?");
    if got != name {
        return Err(format!("expected {name}, got {got} {}", describe(env)));
    }
    rest = tail.trim();
    let (code, value) = view(env);
    if let Some(c) = code {
        let (num, tail) = rest.split_once(' ').unwrap_or((rest, ""));
        if let Ok(n) = num.parse::<u16>() {
            if n != c {
                return Err(format!("expected {name} {n}, got {c} {value}"));
            }
            rest = tail.trim();
        }
    }
    if rest.is_empty() {
        return Ok(());
    }
    let expected: Value = match serde_json::from_str(rest) {
        Ok(v) => v,
        Err(_) => Value::String(rest.to_owned()),
    };
    if subset(&expected, &value) {
        if env.sequence_number == 0 {
            return Err("sequence number 0".into());
        }
        Ok(())
    } else {
        Err(format!("{name}: {value} does not hold {expected}"))
    }
}

fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        (Value::Array(w), Value::Array(g)) => {
            w.len() == g.len() && w.iter().zip(g).all(|(a, b)| subset(a, b))
        }
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::String(b)) if a.starts_with('~') => b.contains(&a[1..]),
        (a, b) => a == b,
    }
}

fn catalog() -> Result<Catalog, String> {
    let c = Catalog::new(videos()).map_err(|e| e.to_string())?;
    c.register_root().map_err(|e| e.to_string())?;
    Ok(c)
}

/// What the client driver does for a FileRequest: resolve in the catalog of
/// `test_videos/`, then plan. A path ending `.unsupported` stands for a format the client
/// cannot send (1001).
fn prepare(request: &FileRequest) -> Result<PreparedTransfer, TransferRefusal> {
    let refuse = |code, m: String| TransferRefusal { code, message: m };
    if request.file_path.ends_with(".unsupported") {
        return Err(refuse(
            StatusCode::UnsupportedFormat,
            "unsupported format".into(),
        ));
    }
    let c = catalog().map_err(|e| refuse(StatusCode::InternalError, e))?;
    let resolved = c.resolve(&request.file_path).map_err(|e| match e {
        CatalogError::NotFound { .. } => refuse(StatusCode::NotFound, e.to_string()),
        other => refuse(StatusCode::InternalError, other.to_string()),
    })?;
    let (_, plan, media) = plan_file(&resolved.path, request.segment_mode, PlanOptions::default())
        .map_err(|e| refuse(StatusCode::UnsupportedFormat, e.to_string()))?;
    Ok(PreparedTransfer {
        local_path: resolved.path,
        file_path: request.file_path.clone(),
        file_size: plan.file_size(),
        checksum: Some(resolved.checksum),
        plan,
        media,
    })
}

fn list(filter: Option<&str>) -> Vec<FileEntry> {
    catalog().map(|c| c.list(filter)).unwrap_or_default()
}
