//! Passwords: Argon2id hashing into PHC strings, and the rules a new password must pass.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::PasswordHasher as _;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordVerifier as _, Version};

/// Stored hashes with costs above these are refused rather than verified: a corrupted or
/// planted row must not make a login allocate gigabytes or spin for minutes.
const MAX_STORED_M_COST_KIB: u32 = 256 * 1024;
const MAX_STORED_T_COST: u32 = 16;
const MAX_STORED_P_COST: u32 = 8;

/// Argon2's default output length; a stored hash of another length is rehashed on next login.
const OUTPUT_LEN: usize = 32;

/// Salt of the dummy hash. It is never compared with a real hash: it only gives
/// [`PasswordHasher::verify_dummy`] something to spend the same time on.
const DUMMY_SALT: &[u8] = b"mvidarr-dummy-salt";

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(argon2::Error),
    #[error("hashing the password failed: {0}")]
    Hash(argon2::password_hash::Error),
}

/// Hashes and verifies passwords with Argon2id (version 0x13) under one parameter set.
///
/// Build it once per process (cold start) and share it: the dummy hash behind
/// [`verify_dummy`](Self::verify_dummy) is computed on first use and kept.
pub struct PasswordHasher {
    params: Params,
    dummy_phc: OnceLock<String>,
}

impl PasswordHasher {
    /// OWASP's recommended Argon2id configuration (Password Storage Cheat Sheet): 19 MiB of
    /// memory (m = 19456 KiB), 2 iterations (t = 2), 1 degree of parallelism (p = 1).
    pub fn production() -> Self {
        Self::with_costs(19 * 1024, 2, 1).expect("OWASP parameters are valid Argon2 parameters")
    }

    /// Tiny costs (256 KiB, one pass) so tests hash in microseconds. Never for real passwords.
    pub fn for_tests() -> Self {
        Self::with_costs(256, 1, 1).expect("test parameters are valid Argon2 parameters")
    }

    /// Custom costs: memory in KiB, iterations, lanes.
    pub fn with_costs(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self, PasswordError> {
        let params =
            Params::new(m_cost_kib, t_cost, p_cost, None).map_err(PasswordError::Params)?;
        Ok(PasswordHasher {
            params,
            dummy_phc: OnceLock::new(),
        })
    }

    /// The current costs as (memory KiB, iterations, lanes).
    pub fn costs(&self) -> (u32, u32, u32) {
        (
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
        )
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// Hashes `password` with a fresh random salt into a PHC string
    /// (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(PasswordError::Hash)
    }

    /// Whether `password` matches the stored `phc` string. The parameters come from the PHC
    /// string, so hashes made under older costs still verify; the output comparison is
    /// constant-time inside the argon2 crate. Anything unparseable is simply `false`.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return false;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return false;
        };
        if params.m_cost() > MAX_STORED_M_COST_KIB
            || params.t_cost() > MAX_STORED_T_COST
            || params.p_cost() > MAX_STORED_P_COST
        {
            return false;
        }
        self.argon2()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    }

    /// Whether `phc` was made with other settings than the current ones (algorithm, version,
    /// costs or output length) and should be replaced after the next successful login.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(hash) = PasswordHash::new(phc) else {
            return true;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return true;
        };
        hash.algorithm != Algorithm::Argon2id.ident()
            || hash.version != Some(Version::V0x13.into())
            || params.m_cost() != self.params.m_cost()
            || params.t_cost() != self.params.t_cost()
            || params.p_cost() != self.params.p_cost()
            || params.output_len() != Some(OUTPUT_LEN)
    }

    /// Runs a full verification against a fixed hash made with the current parameters and
    /// returns `false`, so that a login for an unknown account costs the same time as a wrong
    /// password for a known one (no account enumeration by timing).
    pub fn verify_dummy(&self, password: &str) -> bool {
        let dummy = self.dummy_phc.get_or_init(|| {
            // A fixed salt cannot fail for want of randomness; with validated params the
            // hash cannot fail at all, and the empty fallback is only there to avoid a panic.
            self.argon2()
                .hash_password_with_salt(b"not a password anyone has", DUMMY_SALT)
                .map(|hash| hash.to_string())
                .unwrap_or_default()
        });
        let _ = self.verify(password, dummy);
        false
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, t, p) = self.costs();
        f.debug_struct("PasswordHasher")
            .field("algorithm", &"argon2id")
            .field("m_cost_kib", &m)
            .field("t_cost", &t)
            .field("p_cost", &p)
            .finish()
    }
}

/// Why a new password was refused; the message is meant for the person choosing it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordRejected {
    #[error("the password must be at least {min} characters long (it has {actual})")]
    TooShort { min: usize, actual: usize },
    #[error("the password must be at most {max} characters long (it has {actual})")]
    TooLong { max: usize, actual: usize },
    #[error("the password must not contain your email address or the name part of it")]
    ContainsEmail,
    #[error("{}", guessable_message(.warning, .suggestions))]
    TooGuessable {
        /// zxcvbn's warning, when it has one (e.g. "This is a top-100 common password.").
        warning: Option<String>,
        /// zxcvbn's suggestions (e.g. "Add another word or two.").
        suggestions: Vec<String>,
    },
}

fn guessable_message(warning: &Option<String>, suggestions: &[String]) -> String {
    let mut message = String::from("the password is too easy to guess.");
    for part in warning.iter().chain(suggestions) {
        message.push(' ');
        message.push_str(part);
    }
    message
}

/// The rules a new password must pass, in the spirit of NIST SP 800-63B: length rather than
/// composition rules, nothing derived from the account, and nothing a guesser would try early.
#[derive(Debug, Clone, Copy)]
pub struct PasswordRules;

impl PasswordRules {
    /// Minimum length in characters (Unicode scalar values, not bytes).
    pub const MIN_CHARS: usize = 12;
    /// Maximum length in characters: long passphrases are welcome, megabytes are not.
    pub const MAX_CHARS: usize = 256;
    /// The lowest acceptable zxcvbn score (3: more than 10^8 guesses).
    pub const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;
    /// Local parts shorter than this are only refused as the whole password: refusing every
    /// password that merely contains "jo" would reject good passphrases for no gain.
    const MIN_LOCAL_PART_FOR_CONTAINS: usize = 4;

    /// Checks a password someone wants to set. `email` is the account's address;
    /// `context_words` are other words a guesser would try first (product name, tenant name,
    /// the person's name).
    pub fn check(
        password: &str,
        email: &str,
        context_words: &[&str],
    ) -> Result<(), PasswordRejected> {
        let actual = password.chars().count();
        if actual < Self::MIN_CHARS {
            return Err(PasswordRejected::TooShort {
                min: Self::MIN_CHARS,
                actual,
            });
        }
        if actual > Self::MAX_CHARS {
            return Err(PasswordRejected::TooLong {
                max: Self::MAX_CHARS,
                actual,
            });
        }

        let email = email.trim().to_lowercase();
        let local_part = email
            .rsplit_once('@')
            .map_or(email.as_str(), |(local, _)| local);
        let lowered = password.to_lowercase();
        let contains_email = !email.is_empty() && lowered.contains(&email);
        let is_local_part = !local_part.is_empty() && lowered == local_part;
        let contains_local_part = local_part.chars().count() >= Self::MIN_LOCAL_PART_FOR_CONTAINS
            && lowered.contains(local_part);
        if contains_email || is_local_part || contains_local_part {
            return Err(PasswordRejected::ContainsEmail);
        }

        let mut user_inputs = vec![email.as_str(), local_part];
        user_inputs.extend_from_slice(context_words);
        let entropy = zxcvbn::zxcvbn(password, &user_inputs);
        if entropy.score() < Self::MIN_SCORE {
            let feedback = entropy.feedback();
            return Err(PasswordRejected::TooGuessable {
                warning: feedback.and_then(|f| f.warning()).map(|w| w.to_string()),
                suggestions: feedback
                    .map(|f| f.suggestions().iter().map(ToString::to_string).collect())
                    .unwrap_or_default(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "Alice.Wonder@Example.com";
    const STRONG: &str = "velvet harbor quietly orbits 57 lanterns";

    #[test]
    fn hash_then_verify_round_trips_and_a_wrong_password_fails() {
        let hasher = PasswordHasher::for_tests();
        let phc = hasher.hash(STRONG).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        assert!(hasher.verify(STRONG, &phc));
        assert!(!hasher.verify("velvet harbor quietly orbits 57 lanternz", &phc));
        assert!(!hasher.verify("", &phc));
    }

    #[test]
    fn two_hashes_of_one_password_differ_by_salt() {
        let hasher = PasswordHasher::for_tests();
        assert_ne!(hasher.hash(STRONG).unwrap(), hasher.hash(STRONG).unwrap());
    }

    #[test]
    fn garbage_or_hostile_phc_strings_verify_false_without_panicking() {
        let hasher = PasswordHasher::for_tests();
        let real = hasher.hash(STRONG).unwrap();
        let truncated = &real[..real.len() - 10];
        for phc in [
            "",
            "not a hash",
            "$argon2id$",
            "$argon2id$v=19$m=256,t=1,p=1$",
            "$argon2id$v=19$m=1,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaA",
            "$bcrypt$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            // 4 GiB of memory: refused before Argon2 tries to allocate it.
            "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA",
            truncated,
        ] {
            assert!(!hasher.verify(STRONG, phc), "{phc:?}");
            assert!(hasher.needs_rehash(phc), "{phc:?}");
        }
    }

    #[test]
    fn a_hash_with_other_parameters_verifies_but_needs_rehash() {
        let old = PasswordHasher::with_costs(512, 1, 1).unwrap();
        let current = PasswordHasher::for_tests();
        let phc = old.hash(STRONG).unwrap();
        assert!(
            current.verify(STRONG, &phc),
            "the PHC string's own costs are used"
        );
        assert!(current.needs_rehash(&phc));
        assert!(PasswordHasher::production().needs_rehash(&phc));
        assert!(!old.needs_rehash(&phc));
        assert!(!current.needs_rehash(&current.hash(STRONG).unwrap()));
    }

    #[test]
    fn argon2i_hashes_need_rehash_to_argon2id() {
        let params = Params::new(256, 1, 1, None).unwrap();
        let phc = Argon2::new(Algorithm::Argon2i, Version::V0x13, params)
            .hash_password(STRONG.as_bytes())
            .unwrap()
            .to_string();
        let hasher = PasswordHasher::for_tests();
        assert!(hasher.verify(STRONG, &phc));
        assert!(hasher.needs_rehash(&phc));
    }

    #[test]
    fn production_costs_are_owasps() {
        assert_eq!(PasswordHasher::production().costs(), (19456, 2, 1));
        assert!(PasswordHasher::with_costs(1, 1, 1).is_err());
    }

    #[test]
    fn verify_dummy_is_false_for_any_password() {
        let hasher = PasswordHasher::for_tests();
        assert!(!hasher.verify_dummy(STRONG));
        assert!(!hasher.verify_dummy("not a password anyone has"));
        assert!(!hasher.verify_dummy(""));
        let dummy = hasher.dummy_phc.get().expect("computed on first use");
        assert!(!hasher.needs_rehash(dummy), "made with the current costs");
        assert!(hasher.verify("not a password anyone has", dummy));
    }

    #[test]
    fn debug_shows_costs_only() {
        let text = format!("{:?}", PasswordHasher::for_tests());
        assert!(text.contains("m_cost_kib: 256"), "{text}");
    }

    #[test]
    fn a_strong_passphrase_is_accepted() {
        assert_eq!(PasswordRules::check(STRONG, EMAIL, &["mvidarr"]), Ok(()));
    }

    #[test]
    fn length_is_counted_in_characters_not_bytes() {
        // 11 characters, 22 bytes: too short.
        let eleven = "ééééééééééé";
        assert_eq!(
            PasswordRules::check(eleven, EMAIL, &[]),
            Err(PasswordRejected::TooShort {
                min: 12,
                actual: 11
            })
        );
        let long = "x".repeat(257);
        assert_eq!(
            PasswordRules::check(&long, EMAIL, &[]),
            Err(PasswordRejected::TooLong {
                max: 256,
                actual: 257
            })
        );
    }

    #[test]
    fn the_email_or_its_local_part_is_refused_in_any_case() {
        for password in [
            "alice.wonder@example.com",
            "ALICE.WONDER@EXAMPLE.COM plus more",
            "my Alice.Wonder secret 99",
        ] {
            assert_eq!(
                PasswordRules::check(password, EMAIL, &[]),
                Err(PasswordRejected::ContainsEmail),
                "{password}"
            );
        }
        // A short local part is refused only as the whole password.
        assert_eq!(
            PasswordRules::check("jo", "jo@example.com", &[]),
            Err(PasswordRejected::TooShort { min: 12, actual: 2 })
        );
        assert_eq!(
            PasswordRules::check(STRONG, "or@example.com", &[]),
            Ok(()),
            "contains \"or\" but that is no reason to refuse"
        );
    }

    #[test]
    fn guessable_passwords_are_refused_with_zxcvbn_feedback() {
        let Err(rejected) = PasswordRules::check("password1234", EMAIL, &[]) else {
            panic!("password1234 was accepted");
        };
        let PasswordRejected::TooGuessable {
            warning,
            suggestions,
        } = &rejected
        else {
            panic!("unexpected {rejected:?}");
        };
        assert!(warning.is_some() || !suggestions.is_empty());
        let message = rejected.to_string();
        assert!(message.starts_with("the password is too easy to guess."));
        assert!(
            message.len() > "the password is too easy to guess.".len(),
            "{message}"
        );

        assert!(matches!(
            PasswordRules::check("aaaaaaaaaaaaaaaa", EMAIL, &[]),
            Err(PasswordRejected::TooGuessable { .. })
        ));
    }

    #[test]
    fn context_words_count_as_guessable() {
        let password = "mvidarrcloud2024";
        assert!(matches!(
            PasswordRules::check(password, EMAIL, &["mvidarrcloud"]),
            Err(PasswordRejected::TooGuessable { .. })
        ));
        assert_eq!(
            PasswordRules::check(password, EMAIL, &[]),
            Ok(()),
            "without the context word it is strong enough"
        );
    }
}
