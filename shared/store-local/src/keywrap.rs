//! [`KeyWrap`] on one machine: the key-encryption key is 32 random bytes in
//! `{data_dir}/keys/master.key`, readable by its owner only, and wrapping is AES-256-GCM under
//! it with a random 96-bit nonce and the context as additional authenticated data.
//!
//! A wrapped key is `version (1) ‖ nonce (12) ‖ encrypted key (32) ‖ tag (16)`, 61 bytes.
//!
//! The master key is made on first use. Two processes opening a fresh data directory at once
//! must end up with the same key, so each writes a key of its own to a private temporary file
//! and publishes it with `link`, which, like `create_new`, fails if `master.key` exists: the
//! loser throws its key away and reads the winner's. A reader never sees a half-written key.
//!
//! A key file (or `keys/` directory) that others may read or write is refused rather than
//! used or fixed: the key may already have leaked, and the operator has to decide what to do.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use mvidarr_core::ports::keywrap::{
    DATA_KEY_LEN, DataKey, KeyWrap, KeyWrapError, PlaintextKey, check_context, wipe,
};

/// The folder under the data directory that holds the master key.
pub const KEYS_DIR: &str = "keys";
pub const MASTER_KEY_FILE: &str = "master.key";

const FORMAT_VERSION: u8 = 1;
const TAG_LEN: usize = 16;
/// Length of every wrapped key this adapter makes.
pub const WRAPPED_LEN: usize = 1 + NONCE_LEN + DATA_KEY_LEN + TAG_LEN;

/// Why the master key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("cannot use {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path} is open to other users (mode {mode:04o}); refusing to use a key others may have \
         read or replaced. If no one else could have read it, restrict it (chmod 700 for the \
         keys directory, 600 for master.key) and start again"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "{path} holds {len} bytes, not {DATA_KEY_LEN}: it is not a master key. Restore it from a \
         backup; a new key cannot open the secrets the old one sealed"
    )]
    WrongLength { path: PathBuf, len: u64 },
    #[error("{path} is not a regular file")]
    NotAFile { path: PathBuf },
    #[error("cannot use the master key: {0}")]
    Crypto(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MasterKeyError + '_ {
    move |source| MasterKeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The embedded key service. Cheap to clone.
#[derive(Clone)]
pub struct LocalKeyWrap {
    key: Arc<RandomizedNonceKey>,
    path: Arc<Path>,
}

impl std::fmt::Debug for LocalKeyWrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeyWrap")
            .field("master_key", &self.path)
            .finish_non_exhaustive()
    }
}

impl LocalKeyWrap {
    /// The key service of `data_dir`, with its master key, made now if there is none.
    pub fn open(data_dir: &Path) -> Result<Self, MasterKeyError> {
        let dir = data_dir.join(KEYS_DIR);
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_error(&dir))?;
        refuse_if_open_to_others(&dir, &std::fs::metadata(&dir).map_err(io_error(&dir))?)?;
        let path = dir.join(MASTER_KEY_FILE);
        let master = match read_master_key(&path)? {
            Some(key) => key,
            None => create_master_key(&dir, &path)?,
        };
        let key = RandomizedNonceKey::new(&AES_256_GCM, master.expose())
            .map_err(|_| MasterKeyError::Crypto("AES-256-GCM refused the key".to_owned()))?;
        Ok(Self {
            key: Arc::new(key),
            path: path.into(),
        })
    }

    pub fn master_key_path(&self) -> &Path {
        &self.path
    }

    fn wrap(&self, plaintext: &PlaintextKey, context: &str) -> Result<Vec<u8>, KeyWrapError> {
        // Sealed in place: this buffer holds the ciphertext afterwards, not the key.
        let mut sealed = plaintext.expose().to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context.as_bytes()), &mut sealed)
            .map_err(|_| KeyWrapError::Backend("AES-256-GCM sealing failed".to_owned()))?;
        let mut wrapped = Vec::with_capacity(WRAPPED_LEN);
        wrapped.push(FORMAT_VERSION);
        wrapped.extend_from_slice(nonce.as_ref());
        wrapped.extend_from_slice(&sealed);
        Ok(wrapped)
    }
}

impl KeyWrap for LocalKeyWrap {
    async fn generate_data_key(&self, context: &str) -> Result<DataKey, KeyWrapError> {
        check_context(context)?;
        let plaintext = PlaintextKey::generate_with(|bytes| aws_lc_rs::rand::fill(bytes))
            .map_err(|_| KeyWrapError::Backend("the system random source failed".to_owned()))?;
        let wrapped = self.wrap(&plaintext, context)?;
        Ok(DataKey::new(plaintext, wrapped))
    }

    async fn unwrap(&self, wrapped: &[u8], context: &str) -> Result<PlaintextKey, KeyWrapError> {
        check_context(context)?;
        if wrapped.len() != WRAPPED_LEN {
            return Err(KeyWrapError::CannotUnwrap(format!(
                "a wrapped key is {WRAPPED_LEN} bytes, this is {}",
                wrapped.len()
            )));
        }
        let (version, rest) = wrapped.split_at(1);
        if version != [FORMAT_VERSION] {
            return Err(KeyWrapError::CannotUnwrap(format!(
                "unknown format version {}",
                version[0]
            )));
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| KeyWrapError::CannotUnwrap("malformed nonce".to_owned()))?;
        let mut buffer = sealed.to_vec();
        let opened = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map(|plain| PlaintextKey::from_slice(plain));
        wipe(&mut buffer);
        match opened {
            Ok(Some(key)) => Ok(key),
            Ok(None) => Err(KeyWrapError::CannotUnwrap(
                "the wrapped key has the wrong length".to_owned(),
            )),
            Err(_) => Err(KeyWrapError::CannotUnwrap(
                "wrapped under another context or master key, or altered".to_owned(),
            )),
        }
    }
}

fn refuse_if_open_to_others(
    path: &Path,
    metadata: &std::fs::Metadata,
) -> Result<(), MasterKeyError> {
    let mode = metadata.mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(MasterKeyError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// The master key at `path`, or `None` if there is no file.
fn read_master_key(path: &Path) -> Result<Option<PlaintextKey>, MasterKeyError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    // The open file's metadata, so the checks and the read are of the same file.
    let metadata = file.metadata().map_err(io_error(path))?;
    if !metadata.is_file() {
        return Err(MasterKeyError::NotAFile {
            path: path.to_owned(),
        });
    }
    refuse_if_open_to_others(path, &metadata)?;
    if metadata.len() != DATA_KEY_LEN as u64 {
        return Err(MasterKeyError::WrongLength {
            path: path.to_owned(),
            len: metadata.len(),
        });
    }
    let key =
        PlaintextKey::generate_with(|bytes| file.read_exact(bytes)).map_err(io_error(path))?;
    Ok(Some(key))
}

/// Make a master key and publish it at `path`; if another process published one first, that
/// one is the key.
fn create_master_key(dir: &Path, path: &Path) -> Result<PlaintextKey, MasterKeyError> {
    let key = PlaintextKey::generate_with(|bytes| aws_lc_rs::rand::fill(bytes))
        .map_err(|_| MasterKeyError::Crypto("the system random source failed".to_owned()))?;
    let mut suffix = [0u8; 8];
    aws_lc_rs::rand::fill(&mut suffix)
        .map_err(|_| MasterKeyError::Crypto("the system random source failed".to_owned()))?;
    let temp = dir.join(format!(
        "{MASTER_KEY_FILE}.{}.{}.tmp",
        std::process::id(),
        u64::from_le_bytes(suffix)
    ));
    let written = write_new_private(&temp, key.expose());
    let published = written.and_then(|()| std::fs::hard_link(&temp, path));
    // The temporary name goes whatever happened; `master.key` (ours or the winner's) stays.
    let _ = std::fs::remove_file(&temp);
    match published {
        Ok(()) => {
            // Make the new directory entry durable before anything is sealed under the key.
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(dir))?;
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            read_master_key(path)?.ok_or_else(|| MasterKeyError::Io {
                path: path.to_owned(),
                source: std::io::Error::new(
                    ErrorKind::NotFound,
                    "another process created the master key and it is gone again",
                ),
            })
        }
        Err(e) => Err(io_error(path)(e)),
    }
}

fn write_new_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    fn set_mode(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[tokio::test]
    async fn the_master_key_is_created_owner_only_in_an_owner_only_folder() {
        let dir = tempfile::tempdir().unwrap();
        let keys = LocalKeyWrap::open(dir.path()).unwrap();
        let path = dir.path().join("keys/master.key");
        assert_eq!(keys.master_key_path(), path);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&dir.path().join("keys")), 0o700);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 32);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("keys"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, ["master.key"], "no temporary file is left");
    }

    #[tokio::test]
    async fn a_master_key_others_can_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        LocalKeyWrap::open(dir.path()).unwrap();
        let path = dir.path().join("keys/master.key");
        for loose in [0o640, 0o604, 0o660, 0o666] {
            set_mode(&path, loose);
            let err = LocalKeyWrap::open(dir.path()).unwrap_err();
            assert!(
                matches!(&err, MasterKeyError::TooOpen { mode, .. } if *mode == loose),
                "{err}"
            );
            let message = err.to_string();
            assert!(message.contains("master.key"), "{message}");
            assert!(message.contains(&format!("{loose:04o}")), "{message}");
        }
        set_mode(&path, 0o400);
        LocalKeyWrap::open(dir.path()).expect("owner-only read is fine");
    }

    #[tokio::test]
    async fn a_keys_folder_others_can_enter_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        LocalKeyWrap::open(dir.path()).unwrap();
        set_mode(&dir.path().join("keys"), 0o755);
        let err = LocalKeyWrap::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, MasterKeyError::TooOpen { mode: 0o755, .. }),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_master_key_of_the_wrong_length_is_refused_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        DirBuilder::new().mode(0o700).create(&keys).unwrap();
        write_new_private(&keys.join("master.key"), &[1; 16]).unwrap();
        let err = LocalKeyWrap::open(dir.path()).unwrap_err();
        assert!(
            matches!(err, MasterKeyError::WrongLength { len: 16, .. }),
            "{err}"
        );
        assert_eq!(std::fs::read(keys.join("master.key")).unwrap(), [1; 16]);
    }

    #[tokio::test]
    async fn a_second_adapter_on_the_same_folder_unwraps_what_the_first_wrapped() {
        let dir = tempfile::tempdir().unwrap();
        let first = LocalKeyWrap::open(dir.path()).unwrap();
        let key = first.generate_data_key("totp:t1:u1").await.unwrap();
        drop(first);

        let second = LocalKeyWrap::open(dir.path()).unwrap();
        let unwrapped = second.unwrap(key.wrapped(), "totp:t1:u1").await.unwrap();
        assert_eq!(unwrapped.expose(), key.plaintext().expose());
    }

    #[tokio::test]
    async fn another_data_folders_master_key_cannot_unwrap() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let key = LocalKeyWrap::open(a.path())
            .unwrap()
            .generate_data_key("ctx")
            .await
            .unwrap();
        let other = LocalKeyWrap::open(b.path()).unwrap();
        assert!(matches!(
            other.unwrap(key.wrapped(), "ctx").await,
            Err(KeyWrapError::CannotUnwrap(_))
        ));
    }

    #[tokio::test]
    async fn concurrent_first_opens_agree_on_one_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let opened: Vec<LocalKeyWrap> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| LocalKeyWrap::open(dir.path())))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap().unwrap())
                .collect()
        });
        let key = opened[0].generate_data_key("ctx").await.unwrap();
        for keys in &opened[1..] {
            let unwrapped = keys.unwrap(key.wrapped(), "ctx").await.unwrap();
            assert_eq!(unwrapped.expose(), key.plaintext().expose());
        }
        assert_eq!(
            std::fs::read_dir(dir.path().join("keys")).unwrap().count(),
            1
        );
    }

    #[tokio::test]
    async fn wrapped_keys_have_the_documented_layout() {
        let dir = tempfile::tempdir().unwrap();
        let keys = LocalKeyWrap::open(dir.path()).unwrap();
        let key = keys.generate_data_key("ctx").await.unwrap();
        assert_eq!(key.wrapped().len(), WRAPPED_LEN);
        assert_eq!(key.wrapped()[0], FORMAT_VERSION);

        let mut other_version = key.wrapped().to_vec();
        other_version[0] = 2;
        let err = keys.unwrap(&other_version, "ctx").await.unwrap_err();
        assert!(err.to_string().contains("version 2"), "{err}");
    }
}
