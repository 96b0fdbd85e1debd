//! Time-based one-time passwords (RFC 6238): HMAC-SHA1, 30-second steps, 6 digits — what every
//! authenticator app speaks.
//!
//! Replay protection is the caller's half of the contract: [`verify`] returns the step it
//! accepted, the caller stores it, and passes it back as `last_used_step` next time.

use std::fmt;

use aws_lc_rs::hmac;
use data_encoding::BASE32_NOPAD;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use rand::Rng as _;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// Length of a generated secret: 160 bits, the HMAC-SHA1 block-output size RFC 4226 recommends.
pub const SECRET_LEN: usize = 20;
/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;

/// RFC 3986 unreserved characters stay as they are; everything else in a label or issuer is
/// percent-encoded (a ':' inside an issuer would otherwise split the label).
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("a TOTP secret is {expected} bytes, got {actual}")]
    WrongSecretLength { expected: usize, actual: usize },
}

/// A shared TOTP secret. Store it sealed (see `envelope`), never in the clear; `Debug` does not
/// show it.
#[derive(Clone)]
pub struct TotpSecret([u8; SECRET_LEN]);

impl TotpSecret {
    /// A new random secret for an enrolment.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_LEN];
        rand::rng().fill(&mut bytes);
        TotpSecret(bytes)
    }

    /// Restores a stored secret.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        <[u8; SECRET_LEN]>::try_from(bytes)
            .map(TotpSecret)
            .map_err(|_| TotpError::WrongSecretLength {
                expected: SECRET_LEN,
                actual: bytes.len(),
            })
    }

    pub fn as_bytes(&self) -> &[u8; SECRET_LEN] {
        &self.0
    }

    /// RFC 4648 base32 (upper case, no padding): the form authenticator apps accept typed in.
    pub fn to_base32(&self) -> String {
        BASE32_NOPAD.encode(&self.0)
    }

    /// From the base32 form (as typed into an app; case and spaces ignored).
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        let cleaned: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        let bytes =
            BASE32_NOPAD
                .decode(cleaned.as_bytes())
                .map_err(|_| TotpError::WrongSecretLength {
                    expected: SECRET_LEN,
                    actual: 0,
                })?;
        Self::from_bytes(&bytes)
    }

    /// The `otpauth://` URI shown as a QR code at enrolment (Key Uri Format). The label is
    /// `issuer:account` with each part percent-encoded; the parameters spell out the defaults
    /// so that no app has to guess.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = utf8_percent_encode(issuer, URI_COMPONENT);
        let account = utf8_percent_encode(account, URI_COMPONENT);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
            self.to_base32()
        )
    }

    /// The 6-digit code for time step `step`.
    pub fn code_at_step(&self, step: u64) -> u32 {
        self.code_at_step_digits(step, DIGITS)
    }

    /// HOTP (RFC 4226 §5.3) over the step counter: HMAC-SHA1, dynamic truncation to 31 bits,
    /// then the last `digits` decimal digits.
    fn code_at_step_digits(&self, step: u64, digits: u32) -> u32 {
        let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.0);
        let tag = hmac::sign(&key, &step.to_be_bytes());
        let mac = tag.as_ref();
        let offset = usize::from(mac[mac.len() - 1] & 0x0f);
        let truncated = u32::from_be_bytes([
            mac[offset] & 0x7f,
            mac[offset + 1],
            mac[offset + 2],
            mac[offset + 3],
        ]);
        truncated % 10u32.pow(digits)
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// The time step containing `unix_secs`. Times before 1970 map to step 0.
pub fn step_at(unix_secs: i64) -> u64 {
    u64::try_from(unix_secs.div_euclid(STEP_SECS)).unwrap_or(0)
}

/// Checks a code typed by the user at `now_unix`.
///
/// ASCII spaces are removed first (apps display `123 456`, and people copy it so); what is
/// left must be exactly six ASCII digits. Steps t−1, t and t+1 are tried — one step of clock
/// drift either way — all three always, compared in constant time, so the response time does
/// not reveal which one matched. Returns the matched step only if it is after
/// `last_used_step`: a code, or any older code, cannot be used twice. The caller stores the
/// returned step.
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now_unix: i64,
    last_used_step: Option<u64>,
) -> Option<u64> {
    let entered = parse_code(code)?;
    let now = step_at(now_unix);
    let mut found = Choice::from(0);
    let mut matched = 0u64;
    for step in [now.checked_sub(1), Some(now), now.checked_add(1)]
        .into_iter()
        .flatten()
    {
        // Whether a step was used already is not secret; only the code comparison is.
        let fresh = Choice::from(u8::from(last_used_step.is_none_or(|last| step > last)));
        let hit = secret.code_at_step(step).ct_eq(&entered) & fresh & !found;
        matched = u64::conditional_select(&matched, &step, hit);
        found |= hit;
    }
    bool::from(found).then_some(matched)
}

fn parse_code(code: &str) -> Option<u32> {
    let digits: Vec<u8> = code.bytes().filter(|&b| b != b' ').collect();
    if digits.len() != DIGITS as usize || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0')),
    )
}

/// RFC 4648 §6 base32 without padding: every 5 bits, most significant first, become one
/// letter of `A–Z2–7`.
#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    fn code_text(secret: &TotpSecret, step: u64) -> String {
        format!("{:06}", secret.code_at_step(step))
    }

    /// A time in the middle of a step, so t±1 are whole neighbouring steps.
    const NOW: i64 = 1_700_000_015;

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let secret = rfc_secret();
        for (time, expected) in [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ] {
            let step = step_at(time);
            assert_eq!(secret.code_at_step_digits(step, 8), expected, "T = {time}");
            assert_eq!(
                secret.code_at_step(step),
                expected % 1_000_000,
                "T = {time}"
            );
        }
    }

    #[test]
    fn steps_are_thirty_seconds_and_never_negative() {
        assert_eq!(step_at(0), 0);
        assert_eq!(step_at(29), 0);
        assert_eq!(step_at(30), 1);
        assert_eq!(step_at(59), 1);
        assert_eq!(step_at(-1), 0);
        assert_eq!(step_at(i64::MIN), 0);
    }

    #[test]
    fn the_previous_current_and_next_step_are_accepted() {
        let secret = rfc_secret();
        let t = step_at(NOW);
        for step in [t - 1, t, t + 1] {
            assert_eq!(
                verify(&secret, &code_text(&secret, step), NOW, None),
                Some(step)
            );
        }
    }

    #[test]
    fn two_steps_away_is_refused() {
        let secret = rfc_secret();
        let t = step_at(NOW);
        for step in [t - 2, t + 2] {
            let code = code_text(&secret, step);
            // Guard against the one-in-a-million collision with a code inside the window.
            let in_window = [t - 1, t, t + 1].map(|s| code_text(&secret, s));
            assert!(!in_window.contains(&code));
            assert_eq!(verify(&secret, &code, NOW, None), None, "step {step}");
        }
    }

    #[test]
    fn a_code_cannot_be_replayed() {
        let secret = rfc_secret();
        let code = code_text(&secret, step_at(NOW));
        let used = verify(&secret, &code, NOW, None).unwrap();
        assert_eq!(verify(&secret, &code, NOW, Some(used)), None);
        assert_eq!(verify(&secret, &code, NOW + 5, Some(used)), None);
    }

    #[test]
    fn an_older_code_is_refused_after_a_newer_one_was_used() {
        let secret = rfc_secret();
        let t = step_at(NOW);
        let used = verify(&secret, &code_text(&secret, t), NOW, None).unwrap();
        assert_eq!(
            verify(&secret, &code_text(&secret, t - 1), NOW, Some(used)),
            None
        );
        // The next step's code is still good (a slow clock on the phone).
        assert_eq!(
            verify(&secret, &code_text(&secret, t + 1), NOW, Some(used)),
            Some(t + 1)
        );
    }

    #[test]
    fn malformed_codes_are_refused() {
        let secret = rfc_secret();
        let valid = code_text(&secret, step_at(NOW));
        let with_letter = format!("{}a{}", &valid[..2], &valid[3..]);
        for code in [
            "",
            "12345",
            "1234567",
            "12a456",
            with_letter.as_str(),
            "１２３４５６", // full-width digits are not ASCII
            "-12345",
            "+12345",
        ] {
            assert_eq!(verify(&secret, code, NOW, None), None, "{code:?}");
        }
    }

    #[test]
    fn spaces_inside_a_code_are_ignored() {
        let secret = rfc_secret();
        let t = step_at(NOW);
        let code = code_text(&secret, t);
        let spaced = format!(" {} {} ", &code[..3], &code[3..]);
        assert_eq!(verify(&secret, &spaced, NOW, None), Some(t));
    }

    #[test]
    fn codes_keep_their_leading_zeros() {
        // RFC vector at T = 1111111109 has 8 digits 07081804, so 6 digits 081804.
        let secret = rfc_secret();
        let step = step_at(1111111109);
        assert_eq!(verify(&secret, "081804", 1111111109, None), Some(step));
        assert_eq!(verify(&secret, "81804", 1111111109, None), None);
    }

    #[test]
    fn base32_matches_rfc_4648_section_10_without_padding() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(BASE32_NOPAD.encode(input.as_bytes()), expected, "{input:?}");
        }
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        let back = TotpSecret::from_base32("gezd gnbv gy3t qojq gezd gnbv gy3t qojq").unwrap();
        assert_eq!(back.as_bytes(), rfc_secret().as_bytes());
        assert!(TotpSecret::from_base32("GEZD").is_err());
        assert!(TotpSecret::from_base32("not base32!").is_err());
    }

    #[test]
    fn otpauth_uri_encodes_label_and_issuer() {
        let secret = rfc_secret();
        assert_eq!(
            secret.otpauth_uri("MVidarr Cloud", "alice+tv@example.com"),
            "otpauth://totp/MVidarr%20Cloud:alice%2Btv%40example.com\
             ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=MVidarr%20Cloud\
             &algorithm=SHA1&digits=6&period=30"
        );
        assert!(
            secret
                .otpauth_uri("a:b", "c")
                .starts_with("otpauth://totp/a%3Ab:c?")
        );
    }

    #[test]
    fn secrets_are_random_and_restore_from_bytes() {
        let a = TotpSecret::generate();
        let b = TotpSecret::generate();
        assert_ne!(a.as_bytes(), b.as_bytes());
        let restored = TotpSecret::from_bytes(a.as_bytes()).unwrap();
        assert_eq!(restored.as_bytes(), a.as_bytes());
        assert_eq!(
            TotpSecret::from_bytes(&[0; 16]).err(),
            Some(TotpError::WrongSecretLength {
                expected: 20,
                actual: 16
            })
        );
    }

    #[test]
    fn debug_does_not_show_the_secret() {
        let secret = rfc_secret();
        let text = format!("{secret:?}");
        assert_eq!(text, "TotpSecret(<redacted>)");
        assert!(!text.contains(&secret.to_base32()));
    }
}
