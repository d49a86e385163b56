//! vstream: on-demand video upload over QUIC (`video-streaming/1.0`).
//!
//! An edge device (the *client*) holds video files; a *platform* pulls them on demand,
//! steers the upload like a player (seek, rate, pause, resume, stop), reassembles and
//! verifies what arrives. The specification is `video-streaming-protocol-v1.0.0`, with the
//! decisions of its wire profile; `docs/protocol.md` records the choices made beyond both.
//!
//! # Layout
//! - [`wire`]: pure codecs: envelopes, payloads, segment headers, status codes. No I/O.
//! - [`media`]: H.264 access units, MP4 metadata and sample tables, segment plans. No network.
//! - [`catalog`]: the files a client serves: registration, filtering, checksums.
//! - [`auth`]: device authentication: token files, the platform's policy (pure).
//! - [`net`]: quinn endpoints, TLS, transport parameters; the runtime seam (real UDP or
//!   simulation) lives here and nowhere else.
//! - [`session`]: sans-IO state machines of both roles: every protocol rule, no I/O.
//! - [`store`]: where received segments land: offset writes, `.debug`, `.report`.
//! - [`client`]: the upload client's async driver and library API (glue only).
//! - [`platform`]: the platform's async driver and library API (glue only).
//! - [`service`]: the platform as a service: admin HTTP API, metrics, events, web console,
//!   configuration files.
//! - [`sim`]: deterministic simulation (turmoil): named scenarios and a harness over the
//!   real drivers (the crate's top-level `sim/` folder).
//!
//! Layers only reach downward: `catalog` uses `media` and `wire`; `media` uses `wire`'s
//! segment flags; `wire` uses nothing of the crate.
#![warn(missing_docs, unreachable_pub)]

pub mod auth;
pub mod catalog;
pub mod client;
pub mod media;
pub mod net;
pub mod platform;
pub mod service;
pub mod session;
#[cfg(feature = "sim")]
#[path = "../sim/mod.rs"]
pub mod sim;
pub mod store;
pub mod wire;
