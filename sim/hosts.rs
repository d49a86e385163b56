//! The software of each simulated host: the platform (driver plus the run's script) and
//! the clients (the real client driver). Both build their endpoints exactly as the real
//! binaries do, over `SimUdpSocket` and with `SeededCrypto` in place of the system's
//! randomness.

use super::ctx::PlatformCtx;
use super::harness::{
    derive, ClientOutcome, ClientSpec, SimBuilder, SimError, PLATFORM_HOST, PLATFORM_PORT,
};
use super::trace::Trace;
use crate::catalog::Catalog;
use crate::client::run_client;
use crate::net::{
    build_endpoint, client_crypto_with, server_crypto_with, LinkCounters, LinkFaults, SeededCrypto,
    SelfSignedCert, ServerVerification, SimUdpSocket, TransportSettings, ALPN,
};
use crate::platform::{Platform, PlatformConfig};
use crate::store::durable_fs::{StoreFs, TurmoilFs};
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

// Purposes of the seeds derived from the run's (see `derive`).
const PLATFORM_CRYPTO: u64 = 1;
const PLATFORM_LINK: u64 = 2;
const PLATFORM_SESSION_IDS: u64 = 3;
const PLATFORM_TRANSFERS: u64 = 4;
const CLIENT_CRYPTO: u64 = 1000;
const CLIENT_LINK: u64 = 2000;
const CLIENT_TRANSFERS: u64 = 3000;
const CLIENT_FILES: u64 = 4000;
const CLIENT_RECONNECT: u64 = 5000;
const RESTART: u64 = 6000;

/// How long a reconnecting client is left running after the platform shut down.
const CLIENT_STOP_GRACE: Duration = Duration::from_secs(5);

/// What every host of one run shares (single-threaded: turmoil runs hosts in turn).
#[derive(Clone)]
pub(crate) struct HostShared {
    seed: u64,
    transport: TransportSettings,
    uplink: LinkFaults,
    downlink: LinkFaults,
    request_timeout: Duration,
    platform_session: crate::session::SessionConfig,
    observe: bool,
    wait_through_breaks: bool,
    cert: Arc<SelfSignedCert>,
    clients: Vec<ClientSpec>,
    client_roots: Vec<PathBuf>,
    out_dir: PathBuf,
    pub(crate) trace: Trace,
    outcomes: Rc<RefCell<Vec<Option<ClientOutcome>>>>,
    /// Set once the platform shut down (after the script).
    platform_down: tokio::sync::watch::Sender<bool>,
    /// Times each client's software started (more than once after a crash and restart).
    starts: Rc<RefCell<Vec<u64>>>,
    /// Times the platform's software started.
    platform_starts: Rc<Cell<u64>>,
    platform_link: Rc<Cell<LinkCounters>>,
    /// The platform host's filesystem, its store (D115): captured at its first start,
    /// the same across restarts; the harness reads the `.part` files through it.
    platform_fs: Rc<RefCell<Option<TurmoilFs>>>,
    /// What each crash of the platform's host discarded.
    power_cuts: Rc<RefCell<Vec<PowerCut>>>,
}

/// What a crash of the platform's host did to one `.part` (a power cut, D115).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PowerCut {
    /// The file's name (`<name>.part`).
    pub file: String,
    /// Its length just before the crash: every byte written, synced or not.
    pub written: u64,
    /// Its length after the crash: what had been synced (0 when the file is gone).
    pub durable: u64,
}

impl PowerCut {
    /// Written bytes the crash discarded.
    pub fn lost(&self) -> u64 {
        self.written.saturating_sub(self.durable)
    }
}

impl HostShared {
    /// Writes every client's files under `dir` and makes the platform's certificate.
    pub(crate) fn prepare(builder: &SimBuilder, dir: &std::path::Path) -> Result<Self, SimError> {
        let mut client_roots = Vec::new();
        for (i, spec) in builder.clients.iter().enumerate() {
            let root = dir.join(format!("client-{i}"));
            std::fs::create_dir_all(&root)?;
            let files_seed = derive(builder.seed, CLIENT_FILES + i as u64);
            for (j, file) in spec.files.iter().enumerate() {
                file.create(&root, derive(files_seed, j as u64))?;
            }
            client_roots.push(root);
        }
        let out_dir = dir.join("platform");
        std::fs::create_dir_all(&out_dir)?;
        let cert = SeededCrypto::new(derive(builder.seed, PLATFORM_CRYPTO))
            .certificate(&[PLATFORM_HOST])
            .map_err(|e| SimError::Setup(format!("certificate: {e}")))?;
        Ok(HostShared {
            seed: builder.seed,
            transport: builder.transport.clone(),
            uplink: builder.uplink,
            downlink: builder.downlink,
            request_timeout: builder.request_timeout,
            platform_session: builder.platform_session.clone(),
            observe: builder.observe,
            wait_through_breaks: builder.wait_through_breaks,
            cert: Arc::new(cert),
            clients: builder.clients.clone(),
            client_roots,
            out_dir,
            trace: Trace::default(),
            outcomes: Rc::new(RefCell::new(builder.clients.iter().map(|_| None).collect())),
            platform_down: tokio::sync::watch::channel(false).0,
            starts: Rc::new(RefCell::new(vec![0; builder.clients.len()])),
            platform_starts: Rc::default(),
            platform_link: Rc::default(),
            platform_fs: Rc::default(),
            power_cuts: Rc::default(),
        })
    }

    /// Every `.part` in the platform's store (`out_dir` and its session folders) with its
    /// length now, in path order; empty before the platform first started.
    pub(crate) fn parts(&self) -> Vec<(PathBuf, u64)> {
        let Some(fs) = self.platform_fs.borrow().clone() else {
            return Vec::new();
        };
        let mut folders = vec![self.out_dir.clone()];
        folders.extend(
            fs.read_dir(&self.out_dir)
                .unwrap_or_default()
                .into_iter()
                .filter(|p| fs.is_dir(p)),
        );
        let mut parts = Vec::new();
        for folder in folders {
            for path in fs.read_dir(&folder).unwrap_or_default() {
                if path.extension().is_some_and(|e| e == "part") {
                    if let Ok(len) = fs.file_len(&path) {
                        parts.push((path, len));
                    }
                }
            }
        }
        parts.sort();
        parts
    }

    /// After a crash of the platform's host: compares each `.part` that was there before
    /// (`before`, from [`HostShared::parts`]) with what survived, and records it.
    pub(crate) fn note_power_cut(&self, before: Vec<(PathBuf, u64)>) {
        let Some(fs) = self.platform_fs.borrow().clone() else {
            return;
        };
        for (path, written) in before {
            let cut = PowerCut {
                file: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                written,
                durable: fs.file_len(&path).unwrap_or(0),
            };
            self.trace.record(format!(
                "platform: power cut: {} had {} bytes written, {} durable",
                cut.file, cut.written, cut.durable
            ));
            self.power_cuts.borrow_mut().push(cut);
        }
    }

    pub(crate) fn take_power_cuts(&self) -> Vec<PowerCut> {
        self.power_cuts.take()
    }

    pub(crate) fn platform_link(&self) -> LinkCounters {
        self.platform_link.get()
    }

    pub(crate) fn take_client_outcomes(&self) -> Vec<Option<ClientOutcome>> {
        self.outcomes.take()
    }
}

/// The platform's host: the driver on a simulated endpoint, then `script` (told how many
/// times the host started before: 0, or more after a crash and restart), then shutdown.
/// A restarted platform keeps its certificate and `out_dir` (its journals) and draws
/// fresh keys and session ids, as a restarted process would.
pub(crate) async fn platform_host<T, F, Fut>(
    shared: HostShared,
    script: Rc<F>,
    out: Rc<RefCell<Option<Result<T, SimError>>>>,
) -> turmoil::Result
where
    T: 'static,
    F: Fn(PlatformCtx, u64) -> Fut + 'static,
    Fut: Future<Output = Result<T, SimError>> + 'static,
{
    let start = shared.platform_starts.get();
    shared.platform_starts.set(start + 1);
    let seed = match start {
        0 => shared.seed,
        n => {
            shared.trace.record(format!("platform: restarted ({n})"));
            derive(shared.seed, RESTART + n)
        }
    };
    let rng = SeededCrypto::new(derive(seed, PLATFORM_CRYPTO));
    let crypto = server_crypto_with(
        rng.provider(),
        vec![shared.cert.cert.clone()],
        shared.cert.key.clone_key().into(),
    )?;
    let server = rng.server_config(crypto, &shared.transport)?;
    let addr = SocketAddr::from((Ipv4Addr::UNSPECIFIED, PLATFORM_PORT));
    let link_seed = derive(seed, PLATFORM_LINK);
    let socket = SimUdpSocket::bind(addr, shared.downlink, link_seed).await?;
    let endpoint = build_endpoint(socket.clone(), Some(server), rng.endpoint_config())?;
    // The store is the host's own filesystem (D115): a crash of the host loses what was
    // not synced. `--out` exists there as it would on a real disk.
    let fs = shared
        .platform_fs
        .borrow_mut()
        .get_or_insert_with(TurmoilFs::current)
        .clone();
    fs.create_dir_all(&shared.out_dir)?;
    let store: Arc<dyn StoreFs> = Arc::new(fs);
    let mut config = PlatformConfig::new(&shared.out_dir);
    config.store_fs = Arc::clone(&store);
    config.seed = Some(derive(seed, PLATFORM_SESSION_IDS));
    config.session = shared.platform_session.clone();
    config.session.seed = derive(seed, PLATFORM_TRANSFERS);
    config.request_timeout = shared.request_timeout;
    config.wait_through_breaks = shared.wait_through_breaks;
    let (observer, observations) = tokio::sync::mpsc::unbounded_channel();
    config.observer = Some(observer);
    let platform = Platform::start(endpoint, config);
    let ctx = PlatformCtx::new(
        platform.clone(),
        shared.trace.clone(),
        observations,
        shared.observe,
        shared.client_roots.clone(),
        store,
    );
    let result = script(ctx, start).await;
    match &result {
        Ok(_) => shared.trace.record("platform: script finished"),
        Err(e) => shared.trace.record(format!("platform: script failed: {e}")),
    }
    *out.borrow_mut() = Some(result);
    platform.shutdown().await;
    shared.platform_down.send_replace(true);
    // Stay up until every client ended, as a real platform's endpoint would: a client
    // whose copy of the CONNECTION_CLOSE was lost learns of the end from the endpoint's
    // answer to its next packet, not from its idle timeout.
    while shared.outcomes.borrow().iter().any(Option::is_none) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    shared.platform_link.set(socket.counters());
    Ok(())
}

/// Client `i`'s host: the client driver serving its files until the session ends.
pub(crate) async fn client_host(shared: HostShared, i: usize) -> turmoil::Result {
    let spec = shared.clients.get(i).cloned().ok_or("no such client")?;
    // A restarted client draws new keys and connection ids (as a restarted process
    // would); the first start keeps the seeds every earlier run had.
    let start = {
        let mut starts = shared.starts.borrow_mut();
        let slot = starts.get_mut(i).ok_or("no such client")?;
        *slot += 1;
        *slot - 1
    };
    let seed = match start {
        0 => shared.seed,
        n => derive(shared.seed, RESTART + n),
    };
    if start > 0 {
        shared
            .trace
            .record(format!("client-{i}: restarted ({start})"));
    } else {
        tokio::time::sleep(spec.start_after).await;
    }
    let rng = SeededCrypto::new(derive(seed, CLIENT_CRYPTO + i as u64));
    let roots = ServerVerification::Roots(vec![shared.cert.cert.clone()]);
    let crypto = client_crypto_with(rng.provider(), &roots, ALPN)?;
    let client_config = rng.client_config(crypto, &shared.transport)?;
    let bind = SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0));
    let link_seed = derive(seed, CLIENT_LINK + i as u64);
    let socket = SimUdpSocket::bind(bind, shared.uplink, link_seed).await?;
    let mut endpoint = build_endpoint(socket.clone(), None, rng.endpoint_config())?;
    endpoint.set_default_client_config(client_config);
    let root = shared.client_roots.get(i).ok_or("no such client")?;
    let catalog = Catalog::new(root.clone())?;
    for file in &spec.files {
        catalog.register(file.name())?;
    }
    // Every checksum known before the run (D101's "checksum follows" path depends on how
    // the background hashing races the real clock, which a deterministic run cannot).
    catalog.wait_for_checksums();
    let mut config = spec.config;
    config.session.seed = derive(seed, CLIENT_TRANSFERS + i as u64);
    if let Some(policy) = config.reconnect.as_mut() {
        policy.seed = derive(seed, CLIENT_RECONNECT + i as u64);
    }
    let platform = SocketAddr::from((turmoil::lookup(PLATFORM_HOST), PLATFORM_PORT));
    // A reconnecting client whose copy of the platform's close was lost would try again
    // forever (as a device must): it is stopped once the platform is down and the close
    // had time to arrive. Others end with the close (or their idle timeout).
    let stop = match config.reconnect {
        Some(_) => Some(shared.platform_down.subscribe()),
        None => None,
    };
    let shutdown = async move {
        match stop {
            Some(mut down) => {
                let _ = down.wait_for(|down| *down).await;
                tokio::time::sleep(CLIENT_STOP_GRACE).await;
            }
            None => std::future::pending().await,
        }
    };
    shared.trace.record(format!("client-{i}: connecting"));
    let result = run_client(
        endpoint,
        platform,
        PLATFORM_HOST,
        Arc::new(catalog),
        config,
        shutdown,
    )
    .await;
    match &result {
        Ok(summary) => shared.trace.record(format!(
            "client-{i}: session ended, {} transfers, closed with {:?}",
            summary.transfers.len(),
            summary.closed_with
        )),
        Err(e) => shared.trace.record(format!("client-{i}: failed: {e}")),
    }
    let link = socket.counters();
    if let Some(slot) = shared.outcomes.borrow_mut().get_mut(i) {
        *slot = Some(ClientOutcome { result, link });
    }
    Ok(())
}
