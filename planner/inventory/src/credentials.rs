//! Credentials at rest: BMC and switch passwords are sealed with AES-256-GCM (ring) before they reach
//! the inventory, and opened only to talk to the device.
//!
//! A sealed value reads `bmk1:<key id>:<base64(nonce ‖ ciphertext ‖ tag)>`. The key id is the first
//! 8 hex digits of the key's SHA-256, so a value sealed under another key is a clear error rather than
//! an opaque authentication failure. The associated data binds each value to its owner (`node:42`), so
//! a sealed password copied onto another row does not open.
//!
//! The key is 32 random bytes in base64: `BAREMETAL_CREDENTIALS_KEY`, or a file named by
//! `BAREMETAL_CREDENTIALS_KEY_FILE`. `bmplan credentials keygen` makes one; `bmplan credentials
//! rotate` re-seals everything under a new one.

use std::path::Path;

use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use planner_core::hardware::Secret;

pub const KEY_ENV: &str = "BAREMETAL_CREDENTIALS_KEY";
pub const KEY_FILE_ENV: &str = "BAREMETAL_CREDENTIALS_KEY_FILE";
const PREFIX: &str = "bmk1";

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("no credentials key: set {KEY_ENV} (base64 of 32 random bytes) or {KEY_FILE_ENV} (a file holding one); `bmplan credentials keygen` makes one")]
    NoKey,
    #[error("the credentials key {origin} is not valid: {detail}")]
    BadKey { origin: String, detail: String },
    #[error("cannot read the credentials key file {path}: {source}")]
    KeyFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the credentials key file {path} can be read by its group or by others (mode {mode:03o}); only its owner may: chmod 600 {path}")]
    KeyFileExposed { path: String, mode: u32 },
    #[error("cannot write the credentials key file {path}: {source}")]
    KeyFileWrite {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("the credentials of {owner} were sealed with key {sealed_with}, but the configured key is {configured}")]
    WrongKey {
        owner: String,
        sealed_with: String,
        configured: String,
    },
    #[error("the credentials of {owner} do not open: the stored value is damaged or was moved from another object")]
    Corrupt { owner: String },
    #[error("the random number generator failed")]
    Random,
}

/// An AES-256-GCM key and its id.
pub struct CredentialsKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for CredentialsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialsKey({})", self.id)
    }
}

impl CredentialsKey {
    pub fn from_bytes(bytes: &[u8], origin: &str) -> Result<CredentialsKey, CredentialsError> {
        if bytes.len() != 32 {
            return Err(CredentialsError::BadKey {
                origin: origin.into(),
                detail: format!("it decodes to {} bytes, not 32", bytes.len()),
            });
        }
        let unbound =
            UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| CredentialsError::BadKey {
                origin: origin.into(),
                detail: "rejected by AES-256-GCM".into(),
            })?;
        let id = hex::encode(&Sha256::digest(bytes)[..4]);
        Ok(CredentialsKey {
            key: LessSafeKey::new(unbound),
            id,
        })
    }

    /// Parses the base64 text of a key (surrounding whitespace ignored).
    pub fn from_base64(text: &str, origin: &str) -> Result<CredentialsKey, CredentialsError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| CredentialsError::BadKey {
                origin: origin.into(),
                detail: format!("not base64 ({e})"),
            })?;
        CredentialsKey::from_bytes(&bytes, origin)
    }

    /// The key in a file that only its owner can read (mode 0600 or stricter): a key file the
    /// group or others can read is refused, as ssh refuses such a private key.
    pub fn from_file(path: &Path) -> Result<CredentialsKey, CredentialsError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let meta = std::fs::metadata(path).map_err(|source| CredentialsError::KeyFile {
                path: path.display().to_string(),
                source,
            })?;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(CredentialsError::KeyFileExposed {
                    path: path.display().to_string(),
                    mode,
                });
            }
        }
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsError::KeyFile {
            path: path.display().to_string(),
            source,
        })?;
        CredentialsKey::from_base64(&text, &format!("in {}", path.display()))
    }

    /// The key configured in the environment: `BAREMETAL_CREDENTIALS_KEY`, else the file named by
    /// `BAREMETAL_CREDENTIALS_KEY_FILE`; `Ok(None)` when neither is set.
    pub fn from_env() -> Result<Option<CredentialsKey>, CredentialsError> {
        if let Ok(v) = std::env::var(KEY_ENV) {
            if !v.trim().is_empty() {
                return CredentialsKey::from_base64(&v, &format!("in {KEY_ENV}")).map(Some);
            }
        }
        if let Ok(p) = std::env::var(KEY_FILE_ENV) {
            if !p.trim().is_empty() {
                return CredentialsKey::from_file(Path::new(&p)).map(Some);
            }
        }
        Ok(None)
    }

    /// Writes a key file readable by its owner only (mode 0600, also when the file existed).
    /// Without `overwrite`, an existing file is left alone and refused: overwriting a key loses
    /// every secret sealed with it.
    pub fn write_file(path: &Path, text: &str, overwrite: bool) -> Result<(), CredentialsError> {
        use std::io::Write as _;
        let err = |source| CredentialsError::KeyFileWrite {
            path: path.display().to_string(),
            source,
        };
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true);
        if overwrite {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
            opts.mode(0o600);
            let mut f = opts.open(path).map_err(err)?;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(err)?;
            f.write_all(text.as_bytes()).map_err(err)?;
            f.write_all(b"\n").map_err(err)
        }
        #[cfg(not(unix))]
        {
            let mut f = opts.open(path).map_err(err)?;
            f.write_all(text.as_bytes()).map_err(err)
        }
    }

    /// A new random key, as the base64 text `from_base64` reads.
    pub fn generate() -> Result<String, CredentialsError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| CredentialsError::Random)?;
        Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `secret` for `owner` (e.g. `node:42`).
    pub fn seal(&self, owner: &str, secret: &Secret) -> Result<String, CredentialsError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CredentialsError::Random)?;
        let mut buf = secret.expose().as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CredentialsError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(format!(
            "{PREFIX}:{}:{}",
            self.id,
            base64::engine::general_purpose::STANDARD.encode(out)
        ))
    }

    /// Opens a value [`seal`](Self::seal) produced for the same `owner`.
    pub fn open(&self, owner: &str, sealed: &str) -> Result<Secret, CredentialsError> {
        let corrupt = || CredentialsError::Corrupt {
            owner: owner.to_string(),
        };
        let mut parts = sealed.splitn(3, ':');
        let (Some(PREFIX), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt());
        };
        if id != self.id {
            return Err(CredentialsError::WrongKey {
                owner: owner.to_string(),
                sealed_with: id.to_string(),
                configured: self.id.clone(),
            });
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(body)
            .map_err(|_| corrupt())?;
        if raw.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, rest) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| corrupt())?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut buf)
            .map_err(|_| corrupt())?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| corrupt())
    }
}

/// The key id a sealed value names, if it is one.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    let mut parts = sealed.splitn(3, ':');
    match (parts.next(), parts.next()) {
        (Some(PREFIX), Some(id)) => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> CredentialsKey {
        CredentialsKey::from_base64(&CredentialsKey::generate().unwrap(), "test").unwrap()
    }

    #[test]
    fn a_sealed_password_opens_for_its_owner_only() {
        let k = key();
        let sealed = k.seal("node:1", &Secret::new("calvin")).unwrap();
        assert!(!sealed.contains("calvin"));
        assert_eq!(k.open("node:1", &sealed).unwrap().expose(), "calvin");
        assert!(matches!(
            k.open("node:2", &sealed),
            Err(CredentialsError::Corrupt { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn key_files_are_written_0600_and_read_only_when_no_one_else_can() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.key");
        let text = CredentialsKey::generate().unwrap();
        CredentialsKey::write_file(&path, &text, false).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(CredentialsKey::from_file(&path).is_ok());
        // Not overwritten unless asked: a new key would orphan every sealed secret.
        assert!(matches!(
            CredentialsKey::write_file(&path, &text, false),
            Err(CredentialsError::KeyFileWrite { .. })
        ));
        // Readable by the group or others: refused, naming the mode and the fix.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = CredentialsKey::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("mode 644") && e.contains("chmod 600"), "{e}");
        // Overwriting rewrites the mode too.
        CredentialsKey::write_file(&path, &text, true).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn the_same_password_seals_differently_each_time() {
        let k = key();
        let a = k.seal("node:1", &Secret::new("pw")).unwrap();
        let b = k.seal("node:1", &Secret::new("pw")).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn another_key_is_named_in_the_error() {
        let (a, b) = (key(), key());
        let sealed = a.seal("switch:1", &Secret::new("pw")).unwrap();
        let e = b.open("switch:1", &sealed).unwrap_err().to_string();
        assert!(e.contains(a.id()) && e.contains(b.id()), "{e}");
    }

    #[test]
    fn bad_keys_are_refused_with_the_reason() {
        let e = CredentialsKey::from_base64("c2hvcnQ=", "in TEST")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "the credentials key in TEST is not valid: it decodes to 5 bytes, not 32"
        );
        assert!(CredentialsKey::from_base64("***", "x").is_err());
    }
}
