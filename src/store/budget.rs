//! A byte budget for everything the platform writes under its output folder: a write past
//! it fails exactly as a full disk does (`ErrorKind::StorageFull`, ENOSPC), so an operator
//! can keep a service from filling its disk, and the tests can fill a "disk" without a
//! filesystem of their own (docs/protocol.md D48).

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

/// Bytes that may still be written; shared by every output of a platform.
#[derive(Debug)]
pub struct DiskBudget {
    left: AtomicU64,
}

impl DiskBudget {
    /// A budget of `bytes`.
    pub fn new(bytes: u64) -> DiskBudget {
        DiskBudget {
            left: AtomicU64::new(bytes),
        }
    }

    /// Takes `n` bytes, or fails as a full disk would (taking nothing).
    pub fn take(&self, n: u64) -> io::Result<()> {
        self.left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |left| {
                left.checked_sub(n)
            })
            .map(|_| ())
            .map_err(|_| io::Error::from(io::ErrorKind::StorageFull))
    }

    /// Bytes still available.
    pub fn left(&self) -> u64 {
        self.left.load(Ordering::Acquire)
    }
}

/// Takes `n` bytes of `budget`, if there is one.
pub(crate) fn charge(budget: Option<&DiskBudget>, n: u64) -> io::Result<()> {
    budget.map_or(Ok(()), |b| b.take(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_past_the_budget_fails_as_a_full_disk_and_takes_nothing() {
        let b = DiskBudget::new(10);
        b.take(6).unwrap();
        let e = b.take(5).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert_eq!(b.left(), 4);
        b.take(4).unwrap();
        assert!(charge(Some(&b), 1).is_err());
        assert!(charge(None, u64::MAX).is_ok());
    }
}
