//! Sessions per device at SessionStart (D96): an authenticated device claims a place
//! among its live sessions; at its maximum, SessionStart is refused with 1009.

use super::PlatformSession;
use crate::auth::DeviceIdentity;

impl PlatformSession {
    /// Claims a place for `identity` when sessions per device are limited
    /// (`SessionConfig::device_sessions`) and the identity is authenticated; the place is
    /// held until the connection is lost. Err: why the device is refused.
    pub(super) fn claim_device_slot(&mut self, identity: &DeviceIdentity) -> Result<(), String> {
        let (Some(table), Some(device)) = (&self.config.device_sessions, &identity.device_id)
        else {
            return Ok(());
        };
        if !identity.is_authenticated() {
            return Ok(());
        }
        let slot = table.claim(device).map_err(|e| e.to_string())?;
        self.device_slot = Some(slot);
        Ok(())
    }
}
