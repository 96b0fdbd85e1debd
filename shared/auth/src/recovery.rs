//! MFA recovery codes: one-time codes shown once at enrolment, stored only as digests.
//!
//! A code is 12 symbols of Crockford's base32 (`0-9`, `a-z` without `i l o u`), grouped as
//! `abcd-efgh-jkmn`: 5 random bits a symbol, 60 bits a code. When typed back, case, spaces
//! and hyphens do not matter, and the letters people confuse with digits are read as those
//! digits (`o` → `0`, `i`/`l` → `1`), so a misread code still works.

use std::fmt;

use rand::Rng as _;
use sha2::{Digest as _, Sha256};

/// Crockford's base32 alphabet, lower case.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Symbols in a code (12 × 5 bits = 60 bits of entropy).
pub const CODE_SYMBOLS: usize = 12;
const _: () = assert!(
    CODE_SYMBOLS * 5 >= 60,
    "recovery codes need at least 60 bits"
);
const GROUP: usize = 4;

/// A fresh set of recovery codes. Show [`codes`](Self::codes) to the person once and store
/// only [`digests_hex`](Self::digests_hex); `Debug` does not show the codes.
pub struct RecoveryCodes {
    codes: Vec<String>,
}

impl RecoveryCodes {
    /// How many codes an enrolment gets.
    pub const DEFAULT_COUNT: usize = 10;

    /// `n` distinct random codes.
    pub fn generate(n: usize) -> Self {
        let mut rng = rand::rng();
        let mut codes: Vec<String> = Vec::with_capacity(n);
        while codes.len() < n {
            let symbols: Vec<u8> = (0..CODE_SYMBOLS)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())])
                .collect();
            let code = symbols
                .chunks(GROUP)
                .map(|group| String::from_utf8_lossy(group))
                .collect::<Vec<_>>()
                .join("-");
            // A repeat is a 2^-60 event; skipping it keeps "n codes" true without argument.
            if !codes.contains(&code) {
                codes.push(code);
            }
        }
        RecoveryCodes { codes }
    }

    /// The codes in display form (`abcd-efgh-jkmn`).
    pub fn codes(&self) -> &[String] {
        &self.codes
    }

    /// What to store: the hex digest of each code, in the same order.
    pub fn digests_hex(&self) -> Vec<String> {
        self.codes
            .iter()
            .filter_map(|code| normalize(code))
            .map(|normalized| digest_hex(&normalized))
            .collect()
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecoveryCodes({} codes, <redacted>)", self.codes.len())
    }
}

/// The canonical form of a typed code (12 lower-case symbols, no separators), or `None` if it
/// cannot be a recovery code. Case, spaces and hyphens are ignored; `o` reads as `0`, `i` and
/// `l` as `1`.
pub fn normalize(input: &str) -> Option<String> {
    let mut normalized = String::with_capacity(CODE_SYMBOLS);
    for c in input.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        };
        if !c.is_ascii() || !ALPHABET.contains(&(c as u8)) || normalized.len() == CODE_SYMBOLS {
            return None;
        }
        normalized.push(c);
    }
    (normalized.len() == CODE_SYMBOLS).then_some(normalized)
}

/// SHA-256 of a normalized code. A fast hash is right here, unlike for passwords: the codes
/// are 60 random bits, so there is no dictionary to try and brute force over the whole space
/// is out of reach however fast each guess is.
pub fn digest(normalized: &str) -> [u8; 32] {
    Sha256::digest(normalized.as_bytes()).into()
}

/// [`digest`] in lower-case hex: the storage key under which a code is looked up.
pub fn digest_hex(normalized: &str) -> String {
    hex::encode(digest(normalized))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generates_distinct_codes_in_groups_of_four() {
        let set = RecoveryCodes::generate(RecoveryCodes::DEFAULT_COUNT);
        assert_eq!(set.codes().len(), 10);
        let unique: HashSet<_> = set.codes().iter().collect();
        assert_eq!(unique.len(), 10);
        for code in set.codes() {
            assert_eq!(code.len(), 14, "{code}");
            let groups: Vec<&str> = code.split('-').collect();
            assert_eq!(groups.len(), 3, "{code}");
            assert!(groups.iter().all(|g| g.len() == 4), "{code}");
            assert!(
                code.bytes().all(|b| b == b'-' || ALPHABET.contains(&b)),
                "{code}"
            );
            assert_eq!(
                normalize(code).as_deref(),
                Some(code.replace('-', "").as_str())
            );
        }
    }

    #[test]
    fn two_sets_share_no_code() {
        let a = RecoveryCodes::generate(10);
        let b = RecoveryCodes::generate(10);
        assert!(a.codes().iter().all(|code| !b.codes().contains(code)));
    }

    #[test]
    fn the_alphabet_has_thirty_two_distinct_symbols() {
        assert_eq!(ALPHABET.len(), 32);
        let unique: HashSet<_> = ALPHABET.iter().collect();
        assert_eq!(unique.len(), 32);
    }

    #[test]
    fn normalize_ignores_case_spaces_and_hyphens() {
        for input in [
            "ABCD EFGH JKMN",
            "abcdefghjkmn",
            "abcd-efgh-jkmn",
            " Abcd - Efgh - Jkmn ",
        ] {
            assert_eq!(
                normalize(input).as_deref(),
                Some("abcdefghjkmn"),
                "{input:?}"
            );
        }
    }

    #[test]
    fn normalize_reads_confusable_letters_as_digits() {
        assert_eq!(normalize("oooo-iiii-llll").as_deref(), Some("000011111111"));
        assert_eq!(normalize("O0O0 I1L1 abcd"), normalize("0000 1111 abcd"));
    }

    #[test]
    fn normalize_rejects_garbage() {
        for input in [
            "",
            "abcd-efgh-jkm",
            "abcd-efgh-jkmnp",
            "abcd-efgh-jkm!",
            "abcd-efgh-jkmu",
            "abcd_efgh_jkmn",
            "abcd-efgh-jkmé",
            "ａbcd-efgh-jkmn",
            "abcd-efgh-jkmn-abcd-efgh-jkmn",
        ] {
            assert_eq!(normalize(input), None, "{input:?}");
        }
    }

    #[test]
    fn digest_is_sha256_of_the_normalized_code_and_stable() {
        // SHA-256("abcdefghjkmn"), fixed so that a change of scheme cannot go unnoticed:
        // stored digests would stop matching.
        assert_eq!(
            digest_hex("abcdefghjkmn"),
            "ff25e0a8f930ea31f7d2fdefc87340e34d7f6849d0781d0cd87701a5301722c0"
        );
        assert_eq!(digest("abcdefghjkmn"), digest("abcdefghjkmn"));
        assert_ne!(digest("abcdefghjkmn"), digest("abcdefghjkmp"));
        let typed = normalize("ABCD EFGH JKMN").unwrap();
        assert_eq!(digest_hex(&typed), digest_hex("abcdefghjkmn"));
    }

    #[test]
    fn stored_digests_match_what_the_person_types_back() {
        let set = RecoveryCodes::generate(3);
        let stored = set.digests_hex();
        assert_eq!(stored.len(), 3);
        let typed = set.codes()[1].to_uppercase().replace('-', " ");
        let key = digest_hex(&normalize(&typed).unwrap());
        assert_eq!(stored.iter().position(|d| *d == key), Some(1));
    }

    #[test]
    fn debug_does_not_show_the_codes() {
        let set = RecoveryCodes::generate(2);
        let text = format!("{set:?}");
        assert_eq!(text, "RecoveryCodes(2 codes, <redacted>)");
    }
}
