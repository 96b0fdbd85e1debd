//! The one stable hash every deterministic choice in this crate is made with: feature buckets,
//! the held-out split and the calibration folds. Not std's hasher, which is seeded per process:
//! a model trained today must see the same buckets and the same held-out media tomorrow.

/// FNV-1a over the bytes, then murmur3's 64-bit finaliser so that every output bit depends on
/// every input bit (plain FNV-1a mixes its high bits poorly for short tokens).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut h = FNV_OFFSET;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// The hash of `salt` and `key` mapped to `[0, 1)`; different salts give independent draws.
pub(crate) fn unit_draw(salt: &str, key: &str) -> f64 {
    let mut bytes = Vec::with_capacity(salt.len() + 1 + key.len());
    bytes.extend_from_slice(salt.as_bytes());
    // A separator no salt contains, so ("ab", "c") and ("a", "bc") differ.
    bytes.push(0);
    bytes.extend_from_slice(key.as_bytes());
    (stable_hash(&bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_same_on_every_run_and_machine() {
        // Golden values: changing them changes every trained model's buckets and split.
        assert_eq!(stable_hash(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(stable_hash(b"title:love"), 0x32ff_1b58_a4bf_e4b2);
    }

    #[test]
    fn salted_draws_are_independent_and_in_range() {
        let a = unit_draw("held-out", "media-1");
        let b = unit_draw("calibration", "media-1");
        assert_ne!(a, b);
        assert!((0.0..1.0).contains(&a) && (0.0..1.0).contains(&b));
        assert_ne!(unit_draw("ab", "c"), unit_draw("a", "bc"));
    }
}
