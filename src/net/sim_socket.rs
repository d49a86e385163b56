//! quinn's datagram socket over turmoil's simulated UDP: the simulator side of the seam.
//!
//! turmoil's `UdpSocket` has no `poll_*` methods, only `readable()` / `try_recv_from` /
//! `try_send_to`. While a `readable()` future is pending it holds the socket's lock, so a
//! `try_recv_from` then reports a spurious `WouldBlock`: the adapter keeps the pending
//! future and reads only after it resolves. Send errors other than `WouldBlock` would
//! kill quinn's connection driver, so they count as lost datagrams (a partitioned link
//! looks like loss, which is what it is).
//!
//! turmoil's own faults cut whole links; per-datagram loss, duplication and the path MTU
//! live here in [`LinkFaults`], drawn from a seeded generator so a run replays exactly.

use quinn::udp::{RecvMeta, Transmit};
use quinn::{AsyncUdpSocket, UdpPoller};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::future::Future;
use std::io::{self, IoSliceMut};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

/// Faults applied to each datagram this socket sends.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkFaults {
    /// Probability that a datagram is dropped (0.0-1.0).
    pub loss: f64,
    /// Probability that a datagram is sent twice.
    pub duplicate: f64,
    /// Datagrams larger than this are dropped, as on a real path (IP MTU minus headers).
    pub max_datagram: usize,
}

impl Default for LinkFaults {
    fn default() -> Self {
        // 1500-byte Ethernet MTU minus 20 (IPv4) and 8 (UDP) header bytes.
        LinkFaults {
            loss: 0.0,
            duplicate: 0.0,
            max_datagram: 1472,
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

type Readable = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

/// Counters of what the adapter did to outgoing datagrams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Datagrams handed to the simulated network.
    pub sent: u64,
    /// Datagrams dropped by `loss`.
    pub lost: u64,
    /// Extra copies sent by `duplicate`.
    pub duplicated: u64,
    /// Datagrams dropped for exceeding `max_datagram`.
    pub oversized: u64,
    /// Datagrams the simulated network refused (e.g. partitioned link).
    pub refused: u64,
    /// FNV-1a hash over every datagram handed to the network: simulated send time,
    /// destination and contents. Equal hashes mean identical traffic.
    pub trace_hash: u64,
}

struct SendState {
    rng: SmallRng,
    faults: LinkFaults,
    counters: LinkCounters,
}

/// A turmoil UDP socket usable as quinn's [`AsyncUdpSocket`].
pub struct SimUdpSocket {
    socket: Arc<turmoil::net::UdpSocket>,
    local: SocketAddr,
    readable: Mutex<Option<Readable>>,
    send: Mutex<SendState>,
}

impl fmt::Debug for SimUdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimUdpSocket")
            .field("local", &self.local)
            .finish()
    }
}

impl SimUdpSocket {
    /// Binds a simulated UDP socket on the current turmoil host, applying `faults` to
    /// what it sends, with randomness drawn from `seed`.
    pub async fn bind(addr: SocketAddr, faults: LinkFaults, seed: u64) -> io::Result<Arc<Self>> {
        let socket = turmoil::net::UdpSocket::bind(addr).await?;
        let local = socket.local_addr()?;
        Ok(Arc::new(SimUdpSocket {
            socket: Arc::new(socket),
            local,
            readable: Mutex::new(None),
            send: Mutex::new(SendState {
                rng: SmallRng::seed_from_u64(seed),
                faults,
                counters: LinkCounters::default(),
            }),
        }))
    }

    /// Changes the faults from now on (e.g. loss starting mid-transfer).
    pub fn set_faults(&self, faults: LinkFaults) {
        if let Ok(mut s) = self.send.lock() {
            s.faults = faults;
        }
    }

    /// What the adapter did so far.
    pub fn counters(&self) -> LinkCounters {
        self.send.lock().map(|s| s.counters).unwrap_or_default()
    }

    fn send_one(&self, contents: &[u8], to: SocketAddr, counters: &mut LinkCounters) {
        match self.socket.try_send_to(contents, to) {
            Ok(_) => {
                counters.sent += 1;
                let at = turmoil::sim_elapsed().unwrap_or_default().as_nanos() as u64;
                let mut h = if counters.trace_hash == 0 {
                    FNV_OFFSET
                } else {
                    counters.trace_hash
                };
                for chunk in [&at.to_be_bytes()[..], to.to_string().as_bytes(), contents] {
                    for &b in chunk {
                        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
                    }
                }
                counters.trace_hash = h;
            }
            // WouldBlock does not happen (turmoil's send is always ready); anything else
            // is a refused link: a lost datagram, never an error that would kill quinn.
            Err(_) => counters.refused += 1,
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
        let mut state = self.send.lock().map_err(|_| io::Error::other("poisoned"))?;
        let SendState {
            rng,
            faults,
            counters,
        } = &mut *state;
        // One datagram per transmit: max_transmit_segments is 1, but split anyway.
        let size = transmit
            .segment_size
            .unwrap_or(transmit.contents.len())
            .max(1);
        for datagram in transmit.contents.chunks(size) {
            if datagram.len() > faults.max_datagram {
                counters.oversized += 1;
                continue;
            }
            if faults.loss > 0.0 && rng.random_bool(faults.loss.clamp(0.0, 1.0)) {
                counters.lost += 1;
                continue;
            }
            self.send_one(datagram, transmit.destination, counters);
            if faults.duplicate > 0.0 && rng.random_bool(faults.duplicate.clamp(0.0, 1.0)) {
                counters.duplicated += 1;
                self.send_one(datagram, transmit.destination, counters);
            }
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
