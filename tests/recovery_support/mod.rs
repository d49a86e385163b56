//! Helpers of the recovery tests (`tests/recovery_*.rs`).
#![allow(dead_code)]

pub mod udp_relay;
