//! Segment copies received in QUIC DATAGRAM frames (D121): fragments reassembled in a
//! small bounded buffer, then each whole copy judged by the machine like a stream's
//! header and data, outside the stream order (D45). A unit whose stream lost a packet, and
//! the units whose streams wait behind it in the stream order, are then stored without
//! waiting a round trip for the retransmission.

use super::super::streams::StreamInput;
use super::{now, Connection};
use crate::session::{PlatformSession, SegmentVerdict};
use crate::wire::{
    CopyFragment, Segment, SegmentHeader, SegmentId, TransferId, MAX_COPY_FRAGMENTS,
};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Copies being reassembled at most, per connection (each at most `MAX_COPY_LEN` bytes).
const MAX_PARTIAL: usize = 16;
/// A copy not whole after this is dropped.
const PARTIAL_LIFE: Duration = Duration::from_secs(1);

/// One copy being reassembled.
#[derive(Debug)]
struct Partial {
    key: (TransferId, u32),
    parts: Vec<Option<Bytes>>,
    born: Instant,
}

/// The connection's copies being reassembled (at most [`MAX_PARTIAL`], none older than
/// [`PARTIAL_LIFE`]), and what became of the whole ones.
#[derive(Debug, Default)]
pub(super) struct Copies {
    partial: VecDeque<Partial>,
    /// Whole copies stored (their stream had not brought the segment yet).
    pub(super) stored: u64,
    /// Whole copies dropped (the segment was held already, or refused).
    pub(super) dropped: u64,
    /// Segments stored from a copy before their stream's header was judged, most recent
    /// last (at most [`MAX_CAME_FIRST`]): that header's arrival is not a second one.
    came_first: VecDeque<SegmentId>,
}

/// Segments remembered as stored from their copy first, per connection.
const MAX_CAME_FIRST: usize = 256;

impl Copies {
    /// True (once) when `header`'s segment was stored from its copy before this header.
    pub(super) fn came_first(&mut self, header: &SegmentHeader) -> bool {
        let id = header.id();
        match self.came_first.iter().position(|c| *c == id) {
            Some(at) => {
                self.came_first.remove(at);
                true
            }
            None => false,
        }
    }

    /// Adds `fragment`; returns the copy's bytes once every fragment has arrived.
    fn add(&mut self, fragment: CopyFragment, now: Instant) -> Option<Bytes> {
        self.partial
            .retain(|p| now.saturating_duration_since(p.born) < PARTIAL_LIFE);
        let key = (fragment.transfer, fragment.index);
        let count = usize::from(fragment.count.min(MAX_COPY_FRAGMENTS));
        let at = match self.partial.iter().position(|p| p.key == key) {
            Some(at) if self.partial[at].parts.len() == count => at,
            // A fragment count that disagrees with the first one's: the copy is dropped.
            Some(at) => {
                self.partial.remove(at);
                return None;
            }
            None => {
                if self.partial.len() >= MAX_PARTIAL {
                    self.partial.pop_front();
                }
                self.partial.push_back(Partial {
                    key,
                    parts: vec![None; count],
                    born: now,
                });
                self.partial.len() - 1
            }
        };
        let partial = &mut self.partial[at];
        let slot = partial.parts.get_mut(usize::from(fragment.number))?;
        *slot = Some(fragment.bytes);
        if partial.parts.iter().any(Option::is_none) {
            return None;
        }
        let partial = self.partial.remove(at)?;
        let mut whole = BytesMut::new();
        for part in partial.parts.into_iter().flatten() {
            whole.extend_from_slice(&part);
        }
        Some(whole.freeze())
    }
}

impl Connection {
    /// A datagram from the client: a fragment of a segment copy (D121), or anything else
    /// (a tail probe, D109), discarded. A whole copy of a segment of a transfer received
    /// in order (frame, GOP and time modes: fixed-size transfers' streams write at their
    /// offsets themselves and take no copies) is judged by the machine now and written
    /// when the machine would write it, or when its stream is still being read
    /// ([`PlatformSession::copy_may_complete`]): whichever is whole first is stored, the
    /// other is dropped.
    pub(super) fn segment_copy(&mut self, session: &mut PlatformSession, datagram: Bytes) {
        let Ok(fragment) = CopyFragment::decode(&datagram) else {
            return;
        };
        let (transfer, index) = (fragment.transfer, fragment.index);
        match self.outputs.get(&transfer) {
            Some(output) if output.direct_target(index).is_none() => {}
            _ => return,
        }
        let Some(bytes) = self.copies.add(fragment, now()) else {
            return;
        };
        let Ok((header, data)) = Segment::decode(&bytes).map(Segment::into_parts) else {
            self.copies.dropped += 1;
            return;
        };
        let id = header.id();
        if id.transfer_id() != Some(transfer) || id.index() != Some(index) {
            self.copies.dropped += 1;
            return;
        }
        let judged = session.handle_segment_header(now(), &header);
        let store = match judged {
            // The segment arrives first as this copy: an arrival like a stream's header.
            SegmentVerdict::Write { .. } => {
                self.observe_arrival(&header, &judged);
                if self.copies.came_first.len() >= MAX_CAME_FIRST {
                    self.copies.came_first.pop_front();
                }
                self.copies.came_first.push_back(header.id());
                true
            }
            // Its stream's header arrived (and was observed) before.
            SegmentVerdict::Duplicate => session.copy_may_complete(transfer, index),
            _ => false,
        };
        if !store {
            self.copies.dropped += 1;
            return;
        }
        self.copies.stored += 1;
        self.handle_input(
            session,
            StreamInput::SegmentData {
                header,
                transfer,
                index,
                data: data.to_vec(),
                receive_time: Duration::ZERO,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fragments(index: u32, len: usize) -> Vec<CopyFragment> {
        let t = TransferId::new(5).unwrap();
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        CopyFragment::split(t, index, &bytes, 1000)
            .unwrap()
            .iter()
            .map(|d| CopyFragment::decode(d).unwrap())
            .collect()
    }

    #[test]
    fn fragments_in_any_order_make_the_copy_once() {
        let mut c = Copies::default();
        let now = Instant::now();
        let mut f = fragments(3, 2500);
        f.reverse();
        let last = f.pop().unwrap();
        for part in f {
            assert!(c.add(part, now).is_none());
        }
        let whole = c.add(last.clone(), now).unwrap();
        assert_eq!(whole.len(), 2500);
        assert_eq!(whole[2499], (2499 % 256) as u8);
        // A late duplicate fragment starts a partial copy that never completes.
        assert!(c.add(last, now).is_none());
    }

    #[test]
    fn partial_copies_are_bounded_and_expire() {
        let mut c = Copies::default();
        let now = Instant::now();
        for i in 0..100 {
            let first = fragments(i, 2500).remove(0);
            assert!(c.add(first, now).is_none());
        }
        assert_eq!(c.partial.len(), MAX_PARTIAL);
        let first = fragments(1000, 2500).remove(0);
        assert!(c.add(first, now + PARTIAL_LIFE).is_none());
        assert_eq!(c.partial.len(), 1, "the old ones expired");
    }
}
