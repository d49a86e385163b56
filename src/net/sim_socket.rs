//! quinn's datagram socket over turmoil's simulated UDP: the simulator side of the seam.
//!
//! turmoil's `UdpSocket` has no `poll_*` methods, only `readable()` / `try_recv_from` /
//! `try_send_to`. While a `readable()` future is pending it holds the socket's lock, so a
//! `try_recv_from` then reports a spurious `WouldBlock`: the adapter keeps the pending
//! future and reads only after it resolves. Send errors other than `WouldBlock` would
//! kill quinn's connection driver, so they count as lost datagrams (a partitioned link
//! looks like loss, which is what it is).
//!
//! turmoil's own faults cut whole links; per-datagram loss, duplication, reordering, the
//! path MTU and a rate-limited link with a drop-tail queue live here ([`LinkFaults`],
//! decided by `sim_link`), drawn from a seeded generator so a run replays exactly.
//! Datagrams the link delays wait in the socket and are released by a task on the host at
//! their departure time (tokio's clock, which turmoil drives).

use crate::net::sim_link::{Link, LinkCounters, LinkFaults};
use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use tokio::sync::Notify;

type Readable = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// A turmoil UDP socket usable as quinn's [`AsyncUdpSocket`].
pub struct SimUdpSocket {
    socket: Arc<turmoil::net::UdpSocket>,
    local: SocketAddr,
    readable: Mutex<Option<Readable>>,
    link: Mutex<Link>,
    /// Wakes the releaser when a held datagram is due earlier than it planned.
    release: Arc<Notify>,
}

impl fmt::Debug for SimUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimUdpSocket")
            .field("local", &self.local)
            .finish()
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

impl SimUdpSocket {
    /// Binds a simulated UDP socket on the current turmoil host, applying `faults` to
    /// what it sends, with randomness drawn from `seed`. Spawns the task that releases
    /// delayed datagrams (it ends with the socket).
    pub async fn bind(addr: SocketAddr, faults: LinkFaults, seed: u64) -> io::Result<Arc<Self>> {
        let socket = turmoil::net::UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        let release = Arc::new(Notify::new());
        let this = Arc::new(SimUdpSocket {
            socket: Arc::new(socket),
            local,
            readable: Mutex::new(None),
            link: Mutex::new(Link::new(faults, seed)),
            release: Arc::clone(&release),
        });
        tokio::spawn(release_held(Arc::downgrade(&this), release));
        Ok(this)
    }

    /// Changes the faults from now on (e.g. loss starting mid-transfer).
    pub fn set_faults(&self, faults: LinkFaults) {
        if let Ok(mut link) = self.link.lock() {
            link.faults = faults;
        }
    }

    /// What the link did so far.
    pub fn counters(&self) -> LinkCounters {
        self.link.lock().map(|l| l.counters).unwrap_or_default()
    }

    fn send_one(&self, contents: &[u8], to: SocketAddr, counters: &mut LinkCounters) {
        match self.socket.try_send_to(contents, to) {
            Ok(_) => {
                let at = turmoil::sim_elapsed().unwrap_or_default();
                counters.record_sent(at, to, contents);
            }
            // WouldBlock does not happen (turmoil's send is always ready); anything else
            // is a refused link: a lost datagram, never an error that would kill quinn.
            Err(_) => counters.refused += 1,
        }
    }

    /// Sends the held datagrams now due; returns when the next one is.
    fn release_due(&self) -> Option<std::time::Instant> {
        let mut link = self.link.lock().ok()?;
        for held in link.release_due(now()) {
            self.send_one(&held.contents, held.to, &mut link.counters);
        }
        link.peek()
    }
}

impl Drop for SimUdpSocket {
    fn drop(&mut self) {
        self.release.notify_one();
    }
}

/// Releases `socket`'s held datagrams at their departure times, until the socket is gone.
async fn release_held(socket: Weak<SimUdpSocket>, wake: Arc<Notify>) {
    loop {
        let next = match socket.upgrade() {
            Some(socket) => socket.release_due(),
            None => return,
        };
        match next {
            Some(at) => {
                tokio::select! {
                    biased;
                    () = wake.notified() => {}
                    () = tokio::time::sleep_until(at.into()) => {}
                }
            }
            None => wake.notified().await,
        }
    }
}

#[derive(Debug)]
struct AlwaysWritable;

impl UdpPoller for AlwaysWritable {
    fn poll_writable(self: Pin<&mut Self>, _cx: &mut Context) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl AsyncUdpSocket for SimUdpSocket {
    fn create_io_poller(self: Arc<Self>) -> Pin<Box<dyn UdpPoller>> {
        Box::pin(AlwaysWritable)
    }

    fn try_send(&self, transmit: &Transmit) -> io::Result<()> {
        let mut link = self.link.lock().map_err(|_| io::Error::other("poisoned"))?;
        let now = now();
        // One datagram per transmit: max_transmit_segments is 1, but split anyway.
        let size = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        let mut wake = false;
        for datagram in transmit.contents.chunks(size) {
            let admitted = link.admit(now, datagram, transmit.destination);
            wake |= admitted.earliest_changed;
            for _ in 0..admitted.now {
                self.send_one(datagram, transmit.destination, &mut link.counters);
            }
        }
        if wake {
            self.release.notify_one();
        }
        Ok(())
    }

    fn poll_recv(
        &self,
        cx: &mut Context,
        bufs: &mut [IoSliceMut<'_>],
        meta: &mut [RecvMeta],
    ) -> Poll<io::Result<usize>> {
        let (Some(buf), Some(meta)) = (bufs.first_mut(), meta.first_mut()) else {
            return Poll::Ready(Ok(0));
        };
        let mut pending = self
            .readable
            .lock()
            .map_err(|_| io::Error::other("poisoned"))?;
        loop {
            if let Some(fut) = pending.as_mut() {
                match fut.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(result) => {
                        *pending = None;
                        result?;
                    }
                }
            }
            match self.socket.try_recv_from(buf) {
                Ok((len, from)) => {
                    *meta = RecvMeta {
                        addr: from,
                        len,
                        stride: len,
                        ecn: None,
                        dst_ip: Some(self.local.ip()),
                    };
                    return Poll::Ready(Ok(1));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let socket = Arc::clone(&self.socket);
                    *pending = Some(Box::pin(async move { socket.readable().await }));
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }

    fn may_fragment(&self) -> bool {
        false
    }
}
