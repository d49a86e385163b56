//! A UDP relay on loopback between clients and a platform, which can black-hole every
//! datagram for a while: the network outage of the recovery tests, over a real UDP path.
//!
//! A client connects to [`UdpRelay::addr`]; each client address gets its own upstream
//! socket towards the platform, so the platform sees one peer per client, as through a NAT.
//! While the relay is down, datagrams in both directions are read and dropped (counted),
//! as a cut cable or a dead cell would lose them.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

/// Shared switches and counters of a relay.
#[derive(Debug, Default)]
struct RelayState {
    down: AtomicBool,
    forwarded: AtomicU64,
    dropped: AtomicU64,
}

/// A running relay; dropping it stops it.
pub struct UdpRelay {
    addr: SocketAddr,
    state: Arc<RelayState>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl UdpRelay {
    /// A relay on `127.0.0.1:0` forwarding to `target`.
    pub async fn start(target: SocketAddr) -> io::Result<UdpRelay> {
        let front = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = front.local_addr()?;
        let state = Arc::new(RelayState::default());
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let front_task = tokio::spawn(run_front(
            front,
            target,
            Arc::clone(&state),
            Arc::clone(&tasks),
        ));
        tasks.lock().unwrap().push(front_task);
        Ok(UdpRelay { addr, state, tasks })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Drops (true) or forwards (false) every datagram from now on.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    /// True while datagrams are dropped.
    pub fn is_down(&self) -> bool {
        self.state.down.load(Ordering::SeqCst)
    }

    /// Drops every datagram for `outage`, then forwards again.
    pub async fn black_hole_for(&self, outage: Duration) {
        self.set_down(true);
        tokio::time::sleep(outage).await;
        self.set_down(false);
    }

    /// Datagrams forwarded and dropped so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.state.forwarded.load(Ordering::Relaxed),
            self.state.dropped.load(Ordering::Relaxed),
        )
    }
}

impl Drop for UdpRelay {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl RelayState {
    /// Counts the datagram and says whether to pass it on.
    fn pass(&self) -> bool {
        if self.down.load(Ordering::SeqCst) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            false
        } else {
            self.forwarded.fetch_add(1, Ordering::Relaxed);
            true
        }
    }
}

/// Client -> platform: one upstream socket per client address.
async fn run_front(
    front: Arc<UdpSocket>,
    target: SocketAddr,
    state: Arc<RelayState>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    let mut upstreams: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, client)) = front.recv_from(&mut buf).await else {
            return;
        };
        if !state.pass() {
            continue;
        }
        let upstream = match upstreams.get(&client) {
            Some(u) => Arc::clone(u),
            None => {
                let Ok(socket) = UdpSocket::bind("127.0.0.1:0").await else {
                    continue;
                };
                let socket = Arc::new(socket);
                upstreams.insert(client, Arc::clone(&socket));
                let back = tokio::spawn(run_back(
                    Arc::clone(&socket),
                    Arc::clone(&front),
                    client,
                    Arc::clone(&state),
                ));
                tasks.lock().unwrap().push(back);
                socket
            }
        };
        let _ = upstream.send_to(&buf[..n], target).await;
    }
}

/// Platform -> one client.
async fn run_back(
    upstream: Arc<UdpSocket>,
    front: Arc<UdpSocket>,
    client: SocketAddr,
    state: Arc<RelayState>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        let Ok((n, _)) = upstream.recv_from(&mut buf).await else {
            return;
        };
        if state.pass() {
            let _ = front.send_to(&buf[..n], client).await;
        }
    }
}
