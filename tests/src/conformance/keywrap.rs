//! The `KeyWrap` conformance suite: what every key service must do for envelope encryption to
//! be safe. Each check takes a fresh adapter (its own master key: a temp data dir locally, a
//! new KMS key on moto).

use std::collections::HashSet;

use mvidarr_core::ports::keywrap::{DATA_KEY_LEN, KeyWrap, KeyWrapError, PlaintextKey};

/// Expands to one `#[tokio::test]` per check. `$make` is an expression evaluated afresh for
/// every test whose future yields `(key_wrap, guard)`: the adapter under test and anything that
/// must live as long as the test (a temp dir, a server).
#[macro_export]
macro_rules! keywrap_conformance {
    ($make:expr) => {
        $crate::keywrap_conformance!(@checks $make;
            a_wrapped_key_unwraps_to_the_key_it_was_made_with,
            a_key_unwraps_under_its_own_context_only,
            a_wrapped_key_with_any_byte_flipped_does_not_unwrap,
            a_shortened_or_lengthened_wrapped_key_does_not_unwrap,
            every_call_makes_a_fresh_key,
            garbage_and_empty_input_are_refused_not_panicked_on,
            an_empty_context_is_refused,
        );
    };
    (@checks $make:expr; $($check:ident),+ $(,)?) => {
        $(
            #[tokio::test]
            async fn $check() {
                let (key_wrap, _guard) = $make.await;
                $crate::conformance::keywrap::$check(&key_wrap).await;
            }
        )+
    };
}

const CONTEXT: &str = "totp:01J9ZTENANT:01J9ZUSER";

async fn generate<K: KeyWrap>(kw: &K, context: &str) -> (PlaintextKey, Vec<u8>) {
    kw.generate_data_key(context)
        .await
        .unwrap_or_else(|e| panic!("generate_data_key({context:?}): {e}"))
        .into_parts()
}

fn assert_cannot_unwrap(result: Result<PlaintextKey, KeyWrapError>, what: &str) {
    match result {
        Err(KeyWrapError::CannotUnwrap(_)) => {}
        Err(other) => panic!("{what}: expected CannotUnwrap, got {other:?}"),
        Ok(_) => panic!("{what}: unwrapped, but must not"),
    }
}

pub async fn a_wrapped_key_unwraps_to_the_key_it_was_made_with<K: KeyWrap>(kw: &K) {
    let (plaintext, wrapped) = generate(kw, CONTEXT).await;
    assert_eq!(plaintext.expose().len(), DATA_KEY_LEN);
    assert_ne!(
        plaintext.expose(),
        &[0; DATA_KEY_LEN],
        "a real key, not zeros"
    );
    assert!(
        !contains(&wrapped, plaintext.expose()),
        "the wrapped form does not hold the key in the clear"
    );
    for attempt in 1..=2 {
        let unwrapped = kw
            .unwrap(&wrapped, CONTEXT)
            .await
            .unwrap_or_else(|e| panic!("unwrap #{attempt}: {e}"));
        assert_eq!(unwrapped.expose(), plaintext.expose(), "unwrap #{attempt}");
    }
}

pub async fn a_key_unwraps_under_its_own_context_only<K: KeyWrap>(kw: &K) {
    let (_, wrapped) = generate(kw, CONTEXT).await;
    for other in [
        "totp:01J9ZTENANT:01J9ZOTHER",
        "totp:01J9ZTENANT:01J9ZUSER ",
        "TOTP:01J9ZTENANT:01J9ZUSER",
        "totp:01J9ZTENANT:01J9ZUSE",
        "totp:01J9ZTENANT:01J9ZUSERX",
        "signing-key:01J9ZTENANT",
    ] {
        assert_cannot_unwrap(
            kw.unwrap(&wrapped, other).await,
            &format!("unwrap under {other:?}"),
        );
    }
}

pub async fn a_wrapped_key_with_any_byte_flipped_does_not_unwrap<K: KeyWrap>(kw: &K) {
    let (_, wrapped) = generate(kw, CONTEXT).await;
    for position in 0..wrapped.len() {
        let mut tampered = wrapped.clone();
        tampered[position] ^= 0x01;
        assert_cannot_unwrap(
            kw.unwrap(&tampered, CONTEXT).await,
            &format!("byte {position} of {} flipped", wrapped.len()),
        );
    }
}

pub async fn a_shortened_or_lengthened_wrapped_key_does_not_unwrap<K: KeyWrap>(kw: &K) {
    let (_, wrapped) = generate(kw, CONTEXT).await;
    let shortened = &wrapped[..wrapped.len() - 1];
    assert_cannot_unwrap(kw.unwrap(shortened, CONTEXT).await, "last byte cut off");
    let mut lengthened = wrapped.clone();
    lengthened.push(0);
    assert_cannot_unwrap(kw.unwrap(&lengthened, CONTEXT).await, "a byte appended");
}

pub async fn every_call_makes_a_fresh_key<K: KeyWrap>(kw: &K) {
    let mut plaintexts = HashSet::new();
    let mut wrapped_keys = HashSet::new();
    for _ in 0..5 {
        let (plaintext, wrapped) = generate(kw, CONTEXT).await;
        assert!(plaintexts.insert(*plaintext.expose()), "a repeated key");
        assert!(wrapped_keys.insert(wrapped), "a repeated wrapped key");
    }
}

pub async fn garbage_and_empty_input_are_refused_not_panicked_on<K: KeyWrap>(kw: &K) {
    let (_, wrapped) = generate(kw, CONTEXT).await;
    let inputs: [(&str, Vec<u8>); 6] = [
        ("empty", Vec::new()),
        ("one byte", vec![1]),
        ("zeros of the right length", vec![0; wrapped.len()]),
        ("0xff of the right length", vec![0xff; wrapped.len()]),
        ("text", b"not a wrapped key at all".to_vec()),
        ("64 KiB", vec![0x5a; 64 * 1024]),
    ];
    for (what, input) in inputs {
        assert_cannot_unwrap(kw.unwrap(&input, CONTEXT).await, what);
    }
}

pub async fn an_empty_context_is_refused<K: KeyWrap>(kw: &K) {
    let generated = kw.generate_data_key("").await;
    assert!(
        matches!(generated, Err(KeyWrapError::InvalidContext(_))),
        "generate under an empty context: {generated:?}"
    );
    let (_, wrapped) = generate(kw, CONTEXT).await;
    let unwrapped = kw.unwrap(&wrapped, "").await;
    assert!(
        matches!(unwrapped, Err(KeyWrapError::InvalidContext(_))),
        "unwrap under an empty context: {unwrapped:?}"
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
