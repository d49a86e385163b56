//! Building and running one simulated world: a platform, its clients, the links between
//! them, and a script of platform API calls.
//!
//! ```no_run
//! use std::time::Duration;
//! use vstream::sim::harness::{ClientSpec, SimBuilder};
//! use vstream::sim::SimFile;
//! use vstream::wire::FileRequest;
//!
//! let run = SimBuilder::new(7)
//!     .latency(Duration::from_millis(15))
//!     .client(ClientSpec::serving(vec![SimFile::generated("clip.bin", 1 << 20)]))
//!     .run(|ctx| async move {
//!         let session = ctx.platform.wait_for_session().await.session_id;
//!         let pulled = ctx.pull(session, FileRequest::new("clip.bin")).await?;
//!         ctx.check_identical(&pulled.result, 0, "clip.bin")?;
//!         Ok(pulled.goodput_bps())
//!     });
//! assert!(run.script.is_ok());
//! ```
//!
//! The script runs on the platform's host as ordinary async code (tokio's clock is the
//! simulation's); every client runs the real client driver (`run_client`) on its own host
//! until the platform closes its session or the connection is lost. Everything random is
//! drawn from the builder's seed: turmoil's generator, every endpoint's keys, connection
//! ids and TLS randomness (`SeededCrypto`), the links' faults, session and transfer ids,
//! the served files' bytes. With [`Congestion::Cubic`] the same seed gives the same
//! trace hash; quinn's BBR draws from an unseeded generator.

use super::ctx::PlatformCtx;
use super::files::SimFile;
use super::hosts::{client_host, platform_host, HostShared, PowerCut};
use super::trace::TraceEvent;
use crate::client::{ClientConfig, ClientError, ClientSummary};
use crate::net::{Congestion, LinkCounters, LinkFaults, TransportSettings};
use crate::platform::PlatformError;
use crate::session::SessionConfig;
use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// The platform's host name in the simulation (also its TLS server name).
pub const PLATFORM_HOST: &str = "platform";
/// The platform's UDP port.
pub const PLATFORM_PORT: u16 = 8080;
/// Simulated wall-clock time at the start of every run (envelope timestamps replay).
pub const SIM_EPOCH_SECS: u64 = 1_750_000_000;

/// Why a simulated run or its script failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A host could not be set up (socket, TLS, files).
    #[error("setup: {0}")]
    Setup(String),
    /// turmoil stopped the run: time limit reached, or a host failed.
    #[error("simulation: {0}")]
    Simulation(String),
    /// A platform API call failed.
    #[error("platform: {0}")]
    Platform(#[from] PlatformError),
    /// The script's own check failed.
    #[error("{0}")]
    Check(String),
    /// Reading or writing the run's files failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

/// One simulated client: the files it serves, when it connects, its driver's settings.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Files written under the client's own folder and registered in its catalog.
    pub files: Vec<SimFile>,
    /// Simulated time before it connects.
    pub start_after: Duration,
    /// The driver's settings (the harness sets `session.seed` from the run's seed).
    pub config: ClientConfig,
}

impl ClientSpec {
    /// A client serving `files`, connecting at once with the default settings.
    pub fn serving(files: Vec<SimFile>) -> Self {
        ClientSpec {
            files,
            start_after: Duration::ZERO,
            config: ClientConfig::default(),
        }
    }
}

/// How one client's run ended.
#[derive(Debug)]
pub struct ClientOutcome {
    /// What `run_client` returned.
    pub result: Result<ClientSummary, ClientError>,
    /// What the client's link did.
    pub link: LinkCounters,
}

/// Everything a run leaves.
#[derive(Debug)]
pub struct SimRun<T> {
    /// The script's result (or why the simulation stopped first).
    pub script: Result<T, SimError>,
    /// Each client's outcome, in spec order (None: still running when the run ended).
    pub clients: Vec<Option<ClientOutcome>>,
    /// What the platform's link did.
    pub platform_link: LinkCounters,
    /// Simulated time the run took.
    pub sim_time: Duration,
    /// Wall-clock time the run took (files included).
    pub wall_time: Duration,
    /// Wall-clock time spent stepping the simulation (without writing the served files).
    pub step_wall_time: Duration,
    /// CPU time of the simulating thread over the whole run (None where not measurable):
    /// the speed figure that other processes on the machine do not disturb.
    pub cpu_time: Option<Duration>,
    /// The ordered event trace.
    pub trace: Vec<TraceEvent>,
    /// Hash of the trace and of every socket's datagrams: equal for equal runs.
    pub trace_hash: u64,
    /// What each crash of the platform's host did to its `.part` files (D115).
    pub power_cuts: Vec<PowerCut>,
}

/// The settings of a simulated world; [`SimBuilder::run`] runs it.
#[derive(Debug, Clone)]
pub struct SimBuilder {
    /// Seed of everything random in the run.
    pub seed: u64,
    /// Transport settings of both ends (congestion controller, idle timeout...).
    pub transport: TransportSettings,
    /// One-way propagation delay of every link.
    pub latency: Duration,
    /// Extra random delay per datagram, 0 to this (turmoil's; reorders datagrams).
    pub jitter: Duration,
    /// What the clients' links do to what they send (towards the platform).
    pub uplink: LinkFaults,
    /// What the platform's link does to what it sends (towards the clients).
    pub downlink: LinkFaults,
    /// Simulated time after which the run fails.
    pub time_limit: Duration,
    /// The clients, each on its own host.
    pub clients: Vec<ClientSpec>,
    /// Partitions between the platform and every client: (start, length).
    pub partitions: Vec<(Duration, Duration)>,
    /// How long a platform API request waits for the client's answer.
    pub request_timeout: Duration,
    /// The platform's machine settings (the harness sets `seed` from the run's seed).
    pub platform_session: SessionConfig,
    /// Whether the platform reports [`Observation`](crate::platform::Observation)s to the
    /// script ([`PlatformCtx::observations`]); off by default.
    pub observe: bool,
    /// Whether a pull waits through connection breaks while the platform resumes the
    /// transfer when its client comes back (`PlatformConfig::wait_through_breaks`, D65);
    /// off by default (a pull then ends `ConnectionLost` at the break).
    pub wait_through_breaks: bool,
    /// Client hosts crash at (start) and restart after (length): their software stops
    /// mid-run, as a process killed or a device losing power, and starts again from the
    /// beginning with its files but no memory (turmoil's crash and bounce).
    pub client_crashes: Vec<(Duration, Duration)>,
    /// The platform's host crashes at (start) and restarts after (length); the script
    /// then runs again from the beginning ([`SimBuilder::run_restartable`]). Its store is
    /// the host's filesystem: the crash is a power cut, everything not synced is lost
    /// ([`SimRun::power_cuts`], D115).
    pub platform_crashes: Vec<(Duration, Duration)>,
}

impl SimBuilder {
    /// A world with no clients yet: 5 ms one-way, no faults, specification transport
    /// settings (BBR), a 300 s time limit.
    pub fn new(seed: u64) -> Self {
        SimBuilder {
            seed,
            transport: TransportSettings::default(),
            latency: Duration::from_millis(5),
            jitter: Duration::ZERO,
            uplink: LinkFaults::default(),
            downlink: LinkFaults::default(),
            time_limit: Duration::from_secs(300),
            clients: Vec::new(),
            partitions: Vec::new(),
            request_timeout: Duration::from_secs(120),
            platform_session: SessionConfig::default(),
            observe: false,
            wait_through_breaks: false,
            client_crashes: Vec::new(),
            platform_crashes: Vec::new(),
        }
    }

    /// The congestion controller of both ends.
    pub fn congestion(mut self, congestion: Congestion) -> Self {
        self.transport.congestion = congestion;
        self
    }

    /// One-way delay of every link.
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    /// Extra random per-datagram delay (0 to `jitter`), drawn by turmoil.
    pub fn jitter(mut self, jitter: Duration) -> Self {
        self.jitter = jitter;
        self
    }

    /// The same link in both directions.
    pub fn link(mut self, faults: LinkFaults) -> Self {
        self.uplink = faults;
        self.downlink = faults;
        self
    }

    /// Simulated time after which the run fails.
    pub fn time_limit(mut self, limit: Duration) -> Self {
        self.time_limit = limit;
        self
    }

    /// Adds a client.
    pub fn client(mut self, spec: ClientSpec) -> Self {
        self.clients.push(spec);
        self
    }

    /// Keeps every observation of the platform: the script then reads every segment header judged,
    /// segment stored and playback acknowledgement, in the platform's handling order and in
    /// simulated time, from [`PlatformCtx::observations`].
    pub fn observe(mut self) -> Self {
        self.observe = true;
        self
    }

    /// Pulls wait through connection breaks: the platform resumes the transfer when its
    /// client comes back, and the pull ends with the resumed transfer's result (D65).
    pub fn wait_through_breaks(mut self) -> Self {
        self.wait_through_breaks = true;
        self
    }

    /// Crashes every client's host at `at` and restarts its software `down` later.
    pub fn crash_clients(mut self, at: Duration, down: Duration) -> Self {
        self.client_crashes.push((at, down));
        self
    }

    /// Crashes the platform's host at `at` and restarts its software `down` later.
    pub fn crash_platform(mut self, at: Duration, down: Duration) -> Self {
        self.platform_crashes.push((at, down));
        self
    }

    /// Cuts every client off the platform from `at` for `length` (turmoil partition).
    pub fn partition(mut self, at: Duration, length: Duration) -> Self {
        self.partitions.push((at, length));
        self
    }

    /// Runs the world: `script` drives the platform's API on its host, the clients serve
    /// their files; the run ends when the script and every client have finished (the
    /// platform shuts down after the script, which ends the clients' sessions).
    pub fn run<T, F, Fut>(self, script: F) -> SimRun<T>
    where
        T: 'static,
        F: FnOnce(PlatformCtx) -> Fut + 'static,
        Fut: Future<Output = Result<T, SimError>> + 'static,
    {
        let once = RefCell::new(Some(script));
        self.run_restartable(move |ctx, _start| {
            let script = once.borrow_mut().take();
            async move {
                match script {
                    Some(script) => script(ctx).await,
                    None => Err(SimError::Check("the script ran twice".into())),
                }
            }
        })
    }

    /// As [`SimBuilder::run`], with a script that runs again from the beginning when the
    /// platform's host restarts after a crash (`start` counts the earlier starts).
    pub fn run_restartable<T, F, Fut>(self, script: F) -> SimRun<T>
    where
        T: 'static,
        F: Fn(PlatformCtx, u64) -> Fut + 'static,
        Fut: Future<Output = Result<T, SimError>> + 'static,
    {
        let wall = Instant::now();
        let cpu = thread_cpu_time();
        let dir = match tempfile::tempdir() {
            Ok(dir) => dir,
            Err(e) => return self.failed(SimError::Setup(format!("temporary folder: {e}"))),
        };
        let shared = match HostShared::prepare(&self, dir.path()) {
            Ok(shared) => shared,
            Err(e) => return self.failed(e),
        };
        let script_out: Rc<RefCell<Option<Result<T, SimError>>>> = Rc::default();
        let mut sim = turmoil::Builder::new()
            .simulation_duration(self.time_limit)
            .min_message_latency(self.latency)
            .max_message_latency(self.latency + self.jitter)
            .udp_capacity(4096)
            .rng_seed(self.seed)
            .epoch(SystemTime::UNIX_EPOCH + Duration::from_secs(SIM_EPOCH_SECS))
            .build();
        let script = Rc::new(script);
        if self.platform_crashes.is_empty() {
            sim.client(
                PLATFORM_HOST,
                platform_host(shared.clone(), script, Rc::clone(&script_out)),
            );
        } else {
            // Restartable software (turmoil crashes and bounces only hosts); the run
            // ends with the clients, which end after the platform's close.
            let (shared, out) = (shared.clone(), Rc::clone(&script_out));
            sim.host(PLATFORM_HOST, move || {
                platform_host(shared.clone(), Rc::clone(&script), Rc::clone(&out))
            });
        }
        for i in 0..self.clients.len() {
            if self.client_crashes.is_empty() {
                sim.client(client_name(i), client_host(shared.clone(), i));
            } else {
                // Restartable software (turmoil crashes and bounces only hosts).
                let shared = shared.clone();
                sim.host(client_name(i), move || client_host(shared.clone(), i));
            }
        }
        let stepping = Instant::now();
        let stopped = self.step_to_end(&mut sim, &shared);
        let step_wall_time = stepping.elapsed();
        let sim_time = sim.elapsed();
        drop(sim);
        let script = match (script_out.take(), stopped) {
            (Some(result), _) => result,
            (None, Some(e)) => Err(e),
            (None, None) => Err(SimError::Simulation("the script never finished".into())),
        };
        let platform_link = shared.platform_link();
        let clients = shared.take_client_outcomes();
        let mut hashes = vec![platform_link.trace_hash];
        hashes.extend(clients.iter().flatten().map(|c| c.link.trace_hash));
        SimRun {
            script,
            clients,
            platform_link,
            sim_time,
            wall_time: wall.elapsed(),
            step_wall_time,
            cpu_time: thread_cpu_time()
                .zip(cpu)
                .map(|(end, start)| end.saturating_sub(start)),
            trace: shared.trace.events(),
            trace_hash: shared.trace.hash(&hashes),
            power_cuts: shared.take_power_cuts(),
        }
    }

    /// Steps the simulation until every host finished, applying partitions on time.
    /// Returns why turmoil stopped it, if it did.
    fn step_to_end(&self, sim: &mut turmoil::Sim<'_>, shared: &HostShared) -> Option<SimError> {
        let mut cut = vec![false; self.partitions.len()];
        let mut crashed = vec![(false, false); self.client_crashes.len()];
        let mut platform_crashed = vec![(false, false); self.platform_crashes.len()];
        loop {
            let now = sim.elapsed();
            for (i, &(at, down)) in self.platform_crashes.iter().enumerate() {
                let (gone, back) = &mut platform_crashed[i];
                if !*gone && now >= at {
                    *gone = true;
                    let before = shared.parts();
                    sim.crash(PLATFORM_HOST);
                    shared.note_power_cut(before);
                }
                if !*back && now >= at + down {
                    *back = true;
                    sim.bounce(PLATFORM_HOST);
                }
            }
            for (i, &(at, down)) in self.client_crashes.iter().enumerate() {
                let (gone, back) = &mut crashed[i];
                if !*gone && now >= at {
                    *gone = true;
                    for c in 0..self.clients.len() {
                        sim.crash(client_name(c));
                    }
                }
                if !*back && now >= at + down {
                    *back = true;
                    for c in 0..self.clients.len() {
                        sim.bounce(client_name(c));
                    }
                }
            }
            for (i, &(start, length)) in self.partitions.iter().enumerate() {
                let inside = now >= start && now < start + length;
                if inside != cut[i] {
                    cut[i] = inside;
                    for c in 0..self.clients.len() {
                        if inside {
                            sim.partition(PLATFORM_HOST, client_name(c));
                        } else {
                            sim.repair(PLATFORM_HOST, client_name(c));
                        }
                    }
                }
            }
            match sim.step() {
                Ok(true) => return None,
                Ok(false) => {}
                Err(e) => return Some(SimError::Simulation(e.to_string())),
            }
        }
    }

    fn failed<T>(&self, error: SimError) -> SimRun<T> {
        SimRun {
            script: Err(error),
            clients: Vec::new(),
            platform_link: LinkCounters::default(),
            sim_time: Duration::ZERO,
            wall_time: Duration::ZERO,
            step_wall_time: Duration::ZERO,
            cpu_time: None,
            trace: Vec::new(),
            trace_hash: 0,
            power_cuts: Vec::new(),
        }
    }
}

/// CPU time the calling thread used so far (the simulation runs on one thread).
fn thread_cpu_time() -> Option<Duration> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: getrusage only writes the struct it is given.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a rusage struct owned by this frame.
        if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
            return None;
        }
        let micros = |t: libc::timeval| -> Option<u64> {
            Some(u64::try_from(t.tv_sec).ok()? * 1_000_000 + u64::try_from(t.tv_usec).ok()?)
        };
        Some(Duration::from_micros(
            micros(usage.ru_utime)? + micros(usage.ru_stime)?,
        ))
    }
    #[cfg(not(target_os = "linux"))]
    {
        None
    }
}

/// The host name of client `i`.
pub fn client_name(i: usize) -> String {
    format!("client-{i}")
}

/// A seed for one purpose, derived from the run's (SplitMix64 of both).
pub(crate) fn derive(seed: u64, purpose: u64) -> u64 {
    let mut z = seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
