//! `Pair`: a ClientSession and a PlatformSession joined in virtual time.
//!
//! It moves envelopes and segments between the two with a latency, optionally shuffling
//! what arrives in the same step and duplicating segments; it plays both drivers:
//! PrepareTransfer plans real files of `test_videos/` with `media::probe::plan_file`,
//! ListFiles lists them, SendSegment jobs become `handle_segment_header` /
//! `handle_segment_written` calls (data read from the file at the job's offset), and
//! OpenOutput / FinishOutput are answered with a FinishedFile whose checksum is the
//! SHA-256 of the segments that arrived, concatenated in index order.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::media::plan::PlanOptions;
use crate::media::probe::plan_file;
use crate::session::{
    ClientAction, ClientEvent, ClientSession, PlatformAction, PlatformEvent, PlatformSession,
    PreparedTransfer, SegmentJob, SegmentVerdict, SessionConfig, TransferOutcome, TransferRefusal,
};
use crate::store::FinishedFile;
use crate::wire::{FileEntry, FileRequest, JsonEnvelope, StatusCode, TransferId};

pub(crate) fn videos() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("test_videos")
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

#[derive(Debug, Clone)]
enum Packet {
    ToPlatform(JsonEnvelope),
    ToClient(JsonEnvelope),
    Segment(SegmentJob),
}

/// What the platform side "wrote" for one transfer.
#[derive(Debug, Default)]
pub(crate) struct Output {
    pub(crate) segments: BTreeMap<u32, Vec<u8>>,
    pub(crate) finished: Vec<TransferOutcome>,
    pub(crate) writes: u64,
    /// `RestartOutput` indices, in order.
    pub(crate) restarts: Vec<u32>,
}

pub(crate) struct Pair {
    pub(crate) client: ClientSession,
    pub(crate) platform: PlatformSession,
    pub(crate) now: Instant,
    pub(crate) latency: Duration,
    /// Shuffle the packets that arrive in the same step.
    pub(crate) shuffle: bool,
    /// Per mille of segments delivered twice.
    pub(crate) duplicate_permille: u64,
    /// Drop the next N control messages from the platform to the client.
    pub(crate) drop_to_client: usize,
    /// Lose the first copy of the segments with these indices (the client believes them
    /// sent: a lost stream the transport could not report).
    pub(crate) drop_segments: std::collections::BTreeSet<u32>,
    /// Deliver segments under random version-4 ids (another client's ids).
    pub(crate) foreign_ids: bool,
    /// Keep segment jobs queued instead of delivering them.
    pub(crate) hold_segments: bool,
    /// The platform's disk fills after this many segment writes: the next write fails
    /// with no space (`handle_output_failed`).
    pub(crate) disk_full_after: Option<u64>,
    /// Drain each machine's events before its actions (D54: the order must not matter).
    pub(crate) events_first: bool,
    /// Segment jobs whose header the platform parked, by segment id (D55).
    parked: HashMap<crate::wire::SegmentId, std::collections::VecDeque<(SegmentJob, bool)>>,
    /// Source files the client opened (`OpenSource`), by transfer.
    sources: HashMap<TransferId, PathBuf>,
    /// Finished sessions the platform's registry holds (answers `LookupSession`).
    pub(crate) registry: Vec<Uuid>,
    /// Segments whose every copy arrives damaged (`handle_segment_failed`, 1005).
    pub(crate) always_damaged: std::collections::BTreeSet<u32>,
    rng: u64,
    packets: Vec<(Instant, Packet)>,
    pub(crate) held: Vec<SegmentJob>,
    pub(crate) client_events: Vec<ClientEvent>,
    pub(crate) platform_events: Vec<PlatformEvent>,
    pub(crate) to_platform: Vec<JsonEnvelope>,
    pub(crate) to_client: Vec<JsonEnvelope>,
    pub(crate) jobs: Vec<SegmentJob>,
    /// When each job of `jobs` was issued.
    pub(crate) job_times: Vec<Instant>,
    pub(crate) client_closed: Option<StatusCode>,
    pub(crate) platform_closed: Option<StatusCode>,
    pub(crate) outputs: HashMap<TransferId, Output>,
    /// Segment jobs issued and not yet reported sent or failed, per transfer.
    outstanding: HashMap<TransferId, usize>,
    pub(crate) max_outstanding: usize,
    checksums: HashMap<PathBuf, String>,
}

impl Pair {
    pub(crate) fn new(config: SessionConfig) -> Self {
        Self::with_ids(config, Uuid::from_u128(0x5e55_1011), None)
    }

    pub(crate) fn with_ids(config: SessionConfig, session: Uuid, resume: Option<Uuid>) -> Self {
        let now = Instant::now();
        Pair {
            client: ClientSession::new(config.clone(), now, resume),
            platform: PlatformSession::new(config, now, session),
            now,
            latency: Duration::from_millis(10),
            shuffle: false,
            duplicate_permille: 0,
            drop_to_client: 0,
            hold_segments: false,
            disk_full_after: None,
            events_first: false,
            sources: HashMap::new(),
            parked: HashMap::new(),
            registry: Vec::new(),
            always_damaged: Default::default(),
            drop_segments: Default::default(),
            foreign_ids: false,
            rng: 0x1234_5678,
            packets: Vec::new(),
            held: Vec::new(),
            client_events: Vec::new(),
            platform_events: Vec::new(),
            to_platform: Vec::new(),
            to_client: Vec::new(),
            jobs: Vec::new(),
            job_times: Vec::new(),
            client_closed: None,
            platform_closed: None,
            outputs: HashMap::new(),
            outstanding: HashMap::new(),
            max_outstanding: 0,
            checksums: HashMap::new(),
        }
    }

    /// A pair whose handshake completed.
    pub(crate) fn established(config: SessionConfig) -> Self {
        let mut p = Pair::new(config);
        p.drive();
        assert!(p.client.is_established() && p.platform.is_established());
        p
    }

    pub(crate) fn seed(&mut self, seed: u64) {
        self.rng = seed | 1;
    }

    fn rand(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn checksum(&mut self, path: &Path) -> String {
        if let Some(c) = self.checksums.get(path) {
            return c.clone();
        }
        let c = sha256_hex(&std::fs::read(path).unwrap_or_default());
        self.checksums.insert(path.to_owned(), c.clone());
        c
    }

    fn prepare(&mut self, request: &FileRequest) -> Result<PreparedTransfer, TransferRefusal> {
        let refuse = |code, message: &str| TransferRefusal {
            code,
            message: message.to_owned(),
        };
        if request.file_path.ends_with(".unsupported") {
            return Err(refuse(StatusCode::UnsupportedFormat, "unsupported format"));
        }
        let path = videos().join(&request.file_path);
        if request.file_path.contains("..") || !path.is_file() {
            return Err(refuse(StatusCode::NotFound, "no such file"));
        }
        let (_, plan, media) = plan_file(&path, request.segment_mode, PlanOptions::default())
            .map_err(|e| refuse(StatusCode::UnsupportedFormat, &e.to_string()))?;
        Ok(PreparedTransfer {
            local_path: path.clone(),
            file_path: request.file_path.clone(),
            file_size: plan.file_size(),
            checksum: Some(self.checksum(&path)),
            plan,
            media,
        })
    }

    fn list(&self, filter: Option<&str>) -> Vec<FileEntry> {
        let mut names: Vec<String> = std::fs::read_dir(videos())
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.path().is_file())
                    .filter_map(|e| e.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
            .into_iter()
            .filter(|n| filter.is_none_or(|f| n.contains(f)))
            .map(|n| FileEntry {
                file_size: std::fs::metadata(videos().join(&n)).map_or(0, |m| m.len()),
                format: n.rsplit('.').next().unwrap_or("").to_owned(),
                file_path: n,
                duration: None,
                available: true,
                resolution: None,
                codec: None,
                frame_rate: None,
                bit_rate: None,
                checksum: None,
            })
            .collect()
    }

    /// Performs every queued action of both machines (repeatedly, until both are idle),
    /// each machine's actions before its events, or after them with `events_first`.
    pub(crate) fn drain(&mut self) {
        loop {
            let mut any = false;
            if self.events_first {
                self.drain_events();
            }
            while let Some(a) = self.client.poll_action() {
                any = true;
                self.client_action(a);
            }
            while let Some(a) = self.platform.poll_action() {
                any = true;
                self.platform_action(a);
            }
            self.drain_events();
            if !any {
                return;
            }
        }
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            self.client_events.push(e);
        }
        while let Some(e) = self.platform.poll_event() {
            self.platform_events.push(e);
        }
    }

    fn client_action(&mut self, a: ClientAction) {
        let at = self.now + self.latency;
        match a {
            ClientAction::SendControl(env) => {
                self.to_platform.push(env.clone());
                self.packets.push((at, Packet::ToPlatform(env)));
            }
            ClientAction::PrepareTransfer {
                request_seq,
                request,
            } => {
                let result = self.prepare(&request);
                self.client
                    .handle_transfer_prepared(self.now, request_seq, result);
            }
            ClientAction::ListFiles {
                request_seq,
                filter,
            } => {
                let files = self.list(filter.as_deref());
                self.client.handle_file_list(self.now, request_seq, files);
            }
            ClientAction::SendSegment(job) => {
                let n = self.outstanding.entry(job.transfer).or_default();
                *n += 1;
                self.max_outstanding = self.max_outstanding.max(*n);
                self.jobs.push(job.clone());
                self.job_times.push(self.now);
                if self.hold_segments {
                    self.held.push(job);
                } else {
                    self.packets.push((at, Packet::Segment(job)));
                }
            }
            ClientAction::OpenSource { transfer, path } => {
                self.sources.insert(transfer, path);
            }
            ClientAction::CloseSource { transfer } => {
                self.sources.remove(&transfer);
            }
            ClientAction::Close { code, .. } => self.client_closed = Some(code),
        }
    }

    fn platform_action(&mut self, a: PlatformAction) {
        match a {
            PlatformAction::SendControl(env) => {
                self.to_client.push(env.clone());
                if self.drop_to_client > 0 {
                    self.drop_to_client -= 1;
                } else {
                    self.packets
                        .push((self.now + self.latency, Packet::ToClient(env)));
                }
            }
            PlatformAction::OpenOutput { ack, .. } => {
                self.outputs.entry(ack.transfer_id).or_default();
            }
            PlatformAction::RestartOutput { transfer, index } => {
                self.outputs
                    .entry(transfer)
                    .or_default()
                    .restarts
                    .push(index);
            }
            PlatformAction::FinishOutput { transfer, outcome } => {
                let out = self.outputs.entry(transfer).or_default();
                out.finished.push(outcome);
                let contiguous = out
                    .segments
                    .keys()
                    .enumerate()
                    .all(|(i, &k)| i as u64 == u64::from(k));
                let data: Vec<u8> = out.segments.values().flatten().copied().collect();
                let file = FinishedFile {
                    path: PathBuf::from(format!("out/{transfer}")),
                    size: data.len() as u64,
                    checksum: contiguous.then(|| sha256_hex(&data)),
                };
                self.platform
                    .handle_output_finished(self.now, transfer, file);
            }
            PlatformAction::SegmentJudged { header, verdict } => {
                let id = header.id();
                let waiting = self.parked.get_mut(&id).and_then(|q| q.pop_front());
                if let Some((job, duplicate)) = waiting {
                    self.apply_verdict(&job, verdict, duplicate);
                }
            }
            PlatformAction::LookupSession { previous } => {
                let held = self.registry.contains(&previous);
                self.platform
                    .handle_session_lookup(self.now, previous, held);
            }
            PlatformAction::Close { code, .. } => self.platform_closed = Some(code),
        }
    }

    /// Releases held segment jobs (in the order given, or all in queue order).
    pub(crate) fn release_held(&mut self) {
        let at = self.now + self.latency;
        for job in std::mem::take(&mut self.held) {
            self.packets.push((at, Packet::Segment(job)));
        }
    }

    fn deliver(&mut self, p: Packet) {
        match p {
            Packet::ToPlatform(env) => self.platform.handle_message(self.now, env),
            Packet::ToClient(env) => self.client.handle_message(self.now, env),
            Packet::Segment(job) => {
                if self.drop_segments.remove(&job.index) {
                    self.sent(&job);
                    return;
                }
                let copies = if self.rand() % 1000 < self.duplicate_permille {
                    2
                } else {
                    1
                };
                for copy in 0..copies {
                    self.deliver_segment(&job, copy > 0);
                }
            }
        }
    }

    fn deliver_segment(&mut self, job: &SegmentJob, duplicate: bool) {
        let mut job = job.clone();
        if self.foreign_ids {
            let v4 = uuid::Builder::from_random_bytes(
                (u128::from(self.rand()) << 64 | u128::from(self.rand())).to_be_bytes(),
            )
            .into_uuid();
            if let crate::wire::SegmentHeader::Video(v) = &mut job.header {
                v.id = crate::wire::SegmentId::from_uuid(v4);
            }
        }
        let verdict = self.platform.handle_segment_header(self.now, &job.header);
        self.apply_verdict(&job, verdict, duplicate);
    }

    /// What the driver does with a verdict (at once, or when a parked header is judged).
    fn apply_verdict(&mut self, job: &SegmentJob, verdict: SegmentVerdict, duplicate: bool) {
        match verdict {
            SegmentVerdict::Write { .. } if self.always_damaged.contains(&job.index) => {
                let error = crate::wire::WireError::CorruptedSegment {
                    kind: "VideoSegment",
                    reason: "damaged in the test".into(),
                };
                self.platform
                    .handle_segment_failed(self.now, Some(&job.header), error);
                if !duplicate {
                    self.sent(job);
                }
            }
            SegmentVerdict::Write {
                transfer, index, ..
            } => {
                let written: u64 = self.outputs.values().map(|o| o.writes).sum();
                if self.disk_full_after.is_some_and(|n| written >= n) {
                    let failure = crate::session::StorageFailure::NoSpace;
                    self.platform.handle_output_failed(
                        self.now,
                        transfer,
                        Some(index),
                        failure,
                        "full",
                    );
                    if !duplicate {
                        self.release(job.transfer);
                        let code = Some(failure.status());
                        self.client
                            .handle_segment_failed(self.now, transfer, index, code);
                    }
                    return;
                }
                let data = self.read(job);
                let out = self.outputs.entry(transfer).or_default();
                out.writes += 1;
                out.segments.insert(index, data);
                self.platform
                    .handle_segment_written(self.now, &job.header, self.latency);
                if !duplicate {
                    self.sent(job);
                }
            }
            SegmentVerdict::Duplicate => {
                if !duplicate {
                    self.sent(job);
                }
            }
            SegmentVerdict::NotYetKnown => {
                // The machine parked the header: it answers with `SegmentJudged` (D55).
                self.parked
                    .entry(job.header.id())
                    .or_default()
                    .push_back((job.clone(), duplicate));
            }
            SegmentVerdict::Refuse(code) => {
                if !duplicate {
                    self.release(job.transfer);
                    self.client.handle_segment_failed(
                        self.now,
                        job.transfer,
                        job.index,
                        Some(code),
                    );
                }
            }
        }
    }

    fn release(&mut self, t: TransferId) {
        if let Some(n) = self.outstanding.get_mut(&t) {
            *n = n.saturating_sub(1);
        }
    }

    fn sent(&mut self, job: &SegmentJob) {
        self.release(job.transfer);
        self.client
            .handle_segment_sent(self.now, job.transfer, job.index, self.latency);
    }

    /// The job's bytes, read from the source its transfer's `OpenSource` named.
    fn read(&self, job: &SegmentJob) -> Vec<u8> {
        let Some(path) = self.sources.get(&job.transfer) else {
            return Vec::new();
        };
        let bytes = std::fs::read(path).unwrap_or_default();
        let start = usize::try_from(job.offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = start.saturating_add(job.len as usize).min(bytes.len());
        bytes[start..end].to_vec()
    }

    /// One step: drain actions, advance to the next arrival or timer, deliver what is due.
    /// False when nothing is left to do.
    pub(crate) fn step(&mut self) -> bool {
        self.drain();
        let timers = [self.client.poll_timeout(), self.platform.poll_timeout()];
        let Some(at) = self.next_event() else {
            return false;
        };
        self.now = self.now.max(at);
        let (mut due, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.packets)
            .into_iter()
            .partition(|(t, _)| *t <= self.now);
        self.packets = rest;
        if self.shuffle {
            for i in (1..due.len()).rev() {
                let j = (self.rand() % (i as u64 + 1)) as usize;
                due.swap(i, j);
            }
        }
        for (_, p) in due {
            self.deliver(p);
            self.drain();
        }
        if timers.iter().flatten().any(|t| *t <= self.now) {
            self.client.handle_timeout(self.now);
            self.platform.handle_timeout(self.now);
        }
        self.drain();
        true
    }

    /// When the next packet arrives or timer fires.
    fn next_event(&self) -> Option<Instant> {
        let next_packet = self.packets.iter().map(|(t, _)| *t).min();
        let timers = [self.client.poll_timeout(), self.platform.poll_timeout()];
        let next_timer = timers.into_iter().flatten().min();
        [next_packet, next_timer].into_iter().flatten().min()
    }

    /// Steps through every event up to `at`, then sets the clock to `at`.
    pub(crate) fn run_until(&mut self, at: Instant) {
        loop {
            self.drain();
            match self.next_event() {
                Some(t) if t <= at => {
                    self.step();
                }
                _ => break,
            }
        }
        self.now = self.now.max(at);
    }

    /// Steps until idle (bounded).
    pub(crate) fn drive(&mut self) {
        for _ in 0..2_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("pair did not settle");
    }

    /// Platform: request a file and run until idle; returns the request's sequence number.
    pub(crate) fn request(&mut self, r: FileRequest) -> u64 {
        let seq = self
            .platform
            .request_file(self.now, r)
            .expect("request_file");
        self.drive();
        seq
    }

    /// The platform's TransferFinished events for `t`.
    pub(crate) fn platform_finished(&self, t: TransferId) -> Vec<(TransferOutcome, bool)> {
        self.platform_events
            .iter()
            .filter_map(|e| match e {
                PlatformEvent::TransferFinished {
                    transfer,
                    outcome,
                    sha256_ok,
                    ..
                } if *transfer == t => Some((*outcome, *sha256_ok)),
                _ => None,
            })
            .collect()
    }

    /// The transfer the platform accepted for request `ack`.
    pub(crate) fn accepted(&self, ack: u64) -> Option<crate::wire::FileRequestAck> {
        self.platform_events.iter().find_map(|e| match e {
            PlatformEvent::TransferAccepted(a) if a.ack == ack => Some(a.clone()),
            _ => None,
        })
    }

    /// Segment jobs the client issued for `t`, in order.
    pub(crate) fn jobs_for(&self, t: TransferId) -> Vec<&SegmentJob> {
        self.jobs.iter().filter(|j| j.transfer == t).collect()
    }
}
