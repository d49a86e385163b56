//! Everything random in QUIC and TLS, drawn from one seed, for simulation.
//!
//! With default settings two simulated runs differ: quinn and rustls draw connection ids,
//! keys, nonces and tokens from the operating system. [`SeededCrypto`] replaces each
//! source so that the same seed gives the same datagrams at the same simulated times:
//! - rustls: a `CryptoProvider` whose `secure_random` is a seeded ChaCha generator, and an
//!   X25519 key exchange (x25519-dalek) fed from it: ring's own key exchange draws from
//!   ring's sealed system RNG, which cannot be replaced;
//! - the certificate: Ed25519 (deterministic signatures) with a key derived from the seed;
//! - quinn: fixed stateless-reset HMAC key, seeded endpoint RNG, seeded connection-id
//!   generator, fixed handshake-token key, deterministic initial destination ids;
//! - TLS session tickets are turned off: their lifetimes involve the wall clock.
//!
//! Outside the seed: quinn's BBR controller draws its gain-cycle start from `rand::rng()`.
//! In quinn-proto 0.11 that gain feeds only the pacing rate BBR reports, never what is
//! sent, so BBR runs are byte-identical too (docs/protocol.md D36); Cubic draws nothing.
//!
//! Never use this outside simulation: the keys are derived from a number.

use crate::net::{SelfSignedCert, TlsError};
use quinn::{ConnectionId, ConnectionIdGenerator, EndpointConfig};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use rustls::crypto::{ActiveKeyExchange, CryptoProvider, SharedSecret, SupportedKxGroup};
use rustls::{NamedGroup, ProtocolVersion};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Seeded sources of randomness for one simulated endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeededCrypto {
    seed: u64,
}

impl SeededCrypto {
    /// Randomness for the endpoint identified by `seed` (give each endpoint of a run its
    /// own seed, derived from the simulation's).
    pub fn new(seed: u64) -> Self {
        SeededCrypto { seed }
    }

    fn bytes<const N: usize>(&self, purpose: u64) -> [u8; N] {
        let mut rng =
            StdRng::seed_from_u64(self.seed ^ purpose.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut out = [0u8; N];
        rng.fill_bytes(&mut out);
        out
    }

    /// A rustls provider (ring's algorithms) whose randomness and key exchange come from
    /// the seed. Leaks two small objects: rustls wants `'static` references.
    pub fn provider(&self) -> Arc<CryptoProvider> {
        let random: &'static SeededRandom = Box::leak(Box::new(SeededRandom(Mutex::new(
            StdRng::from_seed(self.bytes(1)),
        ))));
        let x25519: &'static SeededX25519 = Box::leak(Box::new(SeededX25519 { random }));
        let mut provider = rustls::crypto::ring::default_provider();
        provider.secure_random = random;
        provider.kx_groups = vec![x25519];
        Arc::new(provider)
    }

    /// An Ed25519 self-signed certificate whose key is derived from the seed.
    pub fn certificate(&self, names: &[&str]) -> Result<SelfSignedCert, TlsError> {
        // PKCS#8 v1 wrapping of a raw Ed25519 seed (RFC 8410, section 7).
        const PREFIX: [u8; 16] = [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        let mut pkcs8 = PREFIX.to_vec();
        pkcs8.extend_from_slice(&self.bytes::<32>(2));
        SelfSignedCert::from_pkcs8(names, &pkcs8)
    }

    /// quinn's endpoint configuration with a fixed reset key, seeded RNG and connection ids.
    pub fn endpoint_config(&self) -> EndpointConfig {
        let reset_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.bytes::<32>(3));
        let mut config = EndpointConfig::new(Arc::new(reset_key));
        config.rng_seed(Some(self.bytes(4)));
        let cid_seed = self.bytes::<32>(5);
        config.cid_generator(move || {
            Box::new(SeededCids {
                rng: StdRng::from_seed(cid_seed),
            }) as Box<dyn ConnectionIdGenerator>
        });
        config
    }

    /// quinn's server configuration with a fixed handshake-token key and no TLS tickets.
    pub fn server_config(
        &self,
        mut crypto: rustls::ServerConfig,
        transport: &crate::net::TransportSettings,
    ) -> Result<quinn::ServerConfig, crate::net::EndpointError> {
        crypto.send_tls13_tickets = 0;
        let quic = quinn::crypto::rustls::QuicServerConfig::try_from(crypto)?;
        let token_key = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, &self.bytes::<32>(6))
            .extract(&self.bytes::<32>(7));
        let mut config = quinn::ServerConfig::new(Arc::new(quic), Arc::new(token_key));
        config.transport_config(Arc::new(transport.to_quinn()));
        Ok(config)
    }

    /// quinn's client configuration with deterministic initial destination ids.
    pub fn client_config(
        &self,
        crypto: rustls::ClientConfig,
        transport: &crate::net::TransportSettings,
    ) -> Result<quinn::ClientConfig, crate::net::EndpointError> {
        let mut config = crate::net::client_config(crypto, transport)?;
        let rng = Mutex::new(StdRng::from_seed(self.bytes(8)));
        config.initial_dst_cid_provider(Arc::new(move || {
            let mut id = [0u8; 16];
            if let Ok(mut rng) = rng.lock() {
                rng.fill_bytes(&mut id);
            }
            ConnectionId::new(&id)
        }));
        Ok(config)
    }
}

/// rustls randomness from a seeded ChaCha generator.
#[derive(Debug)]
struct SeededRandom(Mutex<StdRng>);

impl rustls::crypto::SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), rustls::crypto::GetRandomFailed> {
        let mut rng = self.0.lock().map_err(|_| rustls::crypto::GetRandomFailed)?;
        rng.fill_bytes(buf);
        Ok(())
    }
}

/// X25519 whose ephemeral secrets come from [`SeededRandom`].
#[derive(Debug)]
struct SeededX25519 {
    random: &'static SeededRandom,
}

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, rustls::Error> {
        let mut secret = [0u8; 32];
        rustls::crypto::SecureRandom::fill(self.random, &mut secret)
            .map_err(|_| rustls::Error::FailedToGetRandomBytes)?;
        let secret = x25519_dalek::StaticSecret::from(secret);
        let public = x25519_dalek::PublicKey::from(&secret);
        Ok(Box::new(X25519Exchange {
            secret,
            public: public.to_bytes(),
        }))
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }

    fn usable_for_version(&self, version: ProtocolVersion) -> bool {
        version == ProtocolVersion::TLSv1_3
    }
}

struct X25519Exchange {
    secret: x25519_dalek::StaticSecret,
    public: [u8; 32],
}

impl ActiveKeyExchange for X25519Exchange {
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, rustls::Error> {
        let peer: [u8; 32] = peer
            .try_into()
            .map_err(|_| rustls::Error::from(rustls::PeerMisbehaved::InvalidKeyShare))?;
        let shared = self
            .secret
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        if !shared.was_contributory() {
            return Err(rustls::PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// Connection ids of 8 bytes drawn from a seeded generator.
struct SeededCids {
    rng: StdRng,
}

impl ConnectionIdGenerator for SeededCids {
    fn generate_cid(&mut self) -> ConnectionId {
        let mut id = [0u8; 8];
        self.rng.fill_bytes(&mut id);
        ConnectionId::new(&id)
    }

    fn cid_len(&self) -> usize {
        8
    }

    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}
