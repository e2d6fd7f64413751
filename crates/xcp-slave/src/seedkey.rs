//! Seed & key: which resources are locked, and the pluggable key check.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use xcp_proto::Resources;

/// Produces seeds and checks keys for protected resources.
///
/// The slave calls [`SeedKey::seed`] on GET_SEED for a locked resource and
/// [`SeedKey::check`] once the master has sent the whole key with UNLOCK. Seeds may be longer
/// than one packet; the slave splits them (GET_SEED mode 1) and reassembles long keys.
pub trait SeedKey: Send + Sync {
    /// A fresh seed (1 to 255 bytes) for one resource bit (CAL/PAG, DAQ, STIM or PGM).
    fn seed(&self, resource: Resources) -> Vec<u8>;
    /// Whether `key` answers `seed` for `resource`.
    fn check(&self, resource: Resources, seed: &[u8], key: &[u8]) -> bool;
}

/// The documented demo algorithm (not security; for tests and the virtual ECU).
///
/// The seed is `seed_len` pseudo-random bytes. The key has the seed's length and is
/// `key[i] = seed[i] ^ secret[i % secret.len()] ^ resource ^ i` (all bytes, wrapping `i`
/// to 8 bits). [`DemoSeedKey::compute_key`] is the master's side of it.
#[derive(Debug)]
pub struct DemoSeedKey {
    secret: Vec<u8>,
    seed_len: usize,
    state: AtomicU64,
}

impl DemoSeedKey {
    /// The demo algorithm with `secret` and seeds of `seed_len` bytes (clamped to 1..=255).
    pub fn new(secret: &[u8], seed_len: usize) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0x5EED, |d| d.as_nanos());
        #[allow(
            clippy::cast_possible_truncation,
            reason = "only mixing bits for a seed"
        )]
        let state = AtomicU64::new(now as u64 ^ 0x9E37_79B9_7F4A_7C15);
        Self {
            secret: if secret.is_empty() {
                vec![0]
            } else {
                secret.to_vec()
            },
            seed_len: seed_len.clamp(1, 255),
            state,
        }
    }

    /// The key for `seed`, as a master computes it.
    pub fn compute_key(secret: &[u8], resource: Resources, seed: &[u8]) -> Vec<u8> {
        let secret = if secret.is_empty() { &[0][..] } else { secret };
        seed.iter()
            .enumerate()
            .map(|(i, &s)| {
                #[allow(clippy::cast_possible_truncation, reason = "the index wraps to 8 bits")]
                let i8 = i as u8;
                s ^ secret[i % secret.len()] ^ resource.0 ^ i8
            })
            .collect()
    }

    fn next(&self) -> u64 {
        // SplitMix64: enough spread for demo seeds.
        let mut z = self
            .state
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl SeedKey for DemoSeedKey {
    fn seed(&self, _resource: Resources) -> Vec<u8> {
        let mut seed = Vec::with_capacity(self.seed_len);
        while seed.len() < self.seed_len {
            let r = self.next().to_le_bytes();
            let take = (self.seed_len - seed.len()).min(8);
            seed.extend_from_slice(&r[..take]);
        }
        seed
    }

    fn check(&self, resource: Resources, seed: &[u8], key: &[u8]) -> bool {
        Self::compute_key(&self.secret, resource, seed) == key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_key_matches_and_a_wrong_one_does_not() {
        let sk = DemoSeedKey::new(b"xcpkit", 300);
        let seed = sk.seed(Resources::PGM);
        assert_eq!(seed.len(), 255, "clamped");
        let key = DemoSeedKey::compute_key(b"xcpkit", Resources::PGM, &seed);
        assert!(sk.check(Resources::PGM, &seed, &key));
        assert!(
            !sk.check(Resources::DAQ, &seed, &key),
            "bound to the resource"
        );
        let mut bad = key.clone();
        bad[100] ^= 1;
        assert!(!sk.check(Resources::PGM, &seed, &bad));
        assert_ne!(sk.seed(Resources::PGM), seed, "seeds differ");
    }
}
