//! Live sessions per device (D96): one device may hold at most `max_per_device` sessions at
//! once, so that a stolen or misbehaving device cannot take the platform's whole session
//! budget (`ConnectionLimits::max_sessions`).
//!
//! Only *authenticated* identities count (certificate or token): with authentication off a
//! device id is a claim anyone can make, and counting it would let one client lock another
//! out by naming it. The count is shared by every connection of a platform; a session
//! claims a [`DeviceSlot`] when its SessionStart is accepted and gives it back when the
//! slot is dropped (the machine drops it when the connection is lost). The table holds one
//! entry per device with a live session, so it is bounded by the live sessions.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

/// The live sessions of each authenticated device, shared by a platform's connections.
#[derive(Debug)]
pub struct DeviceSessions {
    max_per_device: usize,
    live: Mutex<HashMap<String, usize>>,
}

/// A device already holds its maximum of sessions (1009 RateLimitExceeded, D96).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("device {device:?} already holds its maximum of {max} live sessions")]
pub struct DeviceLimitReached {
    /// The device.
    pub device: String,
    /// Its maximum.
    pub max: usize,
}

impl DeviceSessions {
    /// A table allowing `max_per_device` live sessions to each device.
    pub fn new(max_per_device: usize) -> Arc<Self> {
        Arc::new(DeviceSessions {
            max_per_device,
            live: Mutex::new(HashMap::new()),
        })
    }

    /// The maximum of live sessions per device.
    pub fn max_per_device(&self) -> usize {
        self.max_per_device
    }

    /// Claims one of `device`'s sessions: the slot is given back when dropped.
    pub fn claim(self: &Arc<Self>, device: &str) -> Result<DeviceSlot, DeviceLimitReached> {
        let mut live = self.lock();
        let held = live.get(device).copied().unwrap_or(0);
        if held >= self.max_per_device {
            return Err(DeviceLimitReached {
                device: device.to_owned(),
                max: self.max_per_device,
            });
        }
        live.insert(device.to_owned(), held + 1);
        Ok(DeviceSlot {
            sessions: Arc::clone(self),
            device: device.to_owned(),
        })
    }

    /// The live sessions `device` holds.
    pub fn live(&self, device: &str) -> usize {
        self.lock().get(device).copied().unwrap_or(0)
    }

    /// Devices with at least one live session (the table's size).
    pub fn devices(&self) -> usize {
        self.lock().len()
    }

    fn release(&self, device: &str) {
        let mut live = self.lock();
        match live.get_mut(device) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                live.remove(device);
            }
            None => {}
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, usize>> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// One live session of a device; dropping it frees the place.
pub struct DeviceSlot {
    sessions: Arc<DeviceSessions>,
    device: String,
}

impl DeviceSlot {
    /// The device holding it.
    pub fn device(&self) -> &str {
        &self.device
    }
}

impl fmt::Debug for DeviceSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSlot")
            .field("device", &self.device)
            .finish()
    }
}

impl Drop for DeviceSlot {
    fn drop(&mut self) {
        self.sessions.release(&self.device);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_gets_its_maximum_and_a_place_frees_on_drop() {
        let table = DeviceSessions::new(2);
        let a = table.claim("cam-1").unwrap();
        let _b = table.claim("cam-1").unwrap();
        assert_eq!(
            table.claim("cam-1").unwrap_err(),
            DeviceLimitReached {
                device: "cam-1".into(),
                max: 2
            }
        );
        // Another device is not affected.
        let _c = table.claim("cam-2").unwrap();
        assert_eq!(table.live("cam-1"), 2);
        drop(a);
        assert_eq!(table.live("cam-1"), 1);
        let _d = table.claim("cam-1").expect("a place was freed");
    }

    #[test]
    fn the_table_forgets_devices_without_sessions() {
        let table = DeviceSessions::new(1);
        for i in 0..100 {
            let slot = table.claim(&format!("cam-{i}")).unwrap();
            drop(slot);
        }
        assert_eq!(table.devices(), 0);
        let _kept = table.claim("cam-1").unwrap();
        assert_eq!(table.devices(), 1);
    }

    #[test]
    fn zero_refuses_every_session() {
        let table = DeviceSessions::new(0);
        assert!(table.claim("cam-1").is_err());
        assert_eq!(table.devices(), 0);
    }
}
