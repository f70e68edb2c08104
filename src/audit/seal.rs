//! Sealing of submitted code at rest: AES-256-GCM with a fresh random 96-bit
//! nonce per record and the execution id as associated data, plus loading (or
//! first-start creation) of the 32-byte key file.
//!
//! The key never leaves this module: [`SealKey`] has no accessor for the bytes,
//! its `Debug` prints only the key id, and errors name the key *file*, never
//! its content. The key id (first 16 hex digits of SHA-256 over a domain tag
//! and the key) is stored with each record so a rotated key can be matched.
//!
//! Sealed layout: `nonce (12 bytes) || ciphertext || tag (16 bytes)`;
//! associated data: the execution id as its lowercase hyphenated UUID text.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::AuditError;

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// The audit key. Deliberately not `Clone`-able into plain bytes and not printable.
pub struct SealKey {
    cipher: Aes256Gcm,
    id: String,
    checkpoint_key: [u8; 32],
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Outcome of [`load_or_create`]: the key and whether it was just created.
#[derive(Debug)]
pub struct LoadedKey {
    pub key: SealKey,
    pub created: bool,
}

impl SealKey {
    fn from_bytes(bytes: &[u8; KEY_LEN]) -> Result<SealKey, AuditError> {
        let cipher = Aes256Gcm::new_from_slice(bytes).map_err(|_| AuditError::KeyFile {
            path: PathBuf::new(),
            reason: "key has the wrong length".into(),
        })?;
        let mut h = Sha256::new();
        h.update(b"cordon-audit-key-id-v1\0");
        h.update(bytes);
        let id = hex::encode(h.finalize())[..16].to_string();
        let mut h = Sha256::new();
        h.update(b"cordon-audit-checkpoint-v1\0");
        h.update(bytes);
        let mut checkpoint_key = [0u8; 32];
        checkpoint_key.copy_from_slice(&h.finalize());
        Ok(SealKey {
            cipher,
            id,
            checkpoint_key,
        })
    }

    /// A random key that lives only in memory (tests, `--no-audit` style dry runs).
    pub fn ephemeral() -> Result<SealKey, AuditError> {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        SealKey::from_bytes(&bytes)
    }

    /// Stable identifier of this key (not secret).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `code` bound to `execution_id` (the associated data: the
    /// execution id for code, `<id>/stdin` for the program's stdin).
    pub fn seal(&self, execution_id: &str, code: &[u8]) -> Result<Vec<u8>, AuditError> {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = Nonce::from(nonce_bytes);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: code,
                    aad: execution_id.as_bytes(),
                },
            )
            .map_err(|_| AuditError::Seal("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts a sealed record. Any mismatch (wrong key, other execution id,
    /// flipped bit) is the same clear error; no partial plaintext is returned.
    pub fn open(
        &self,
        execution_id: &str,
        key_id: &str,
        sealed: &[u8],
    ) -> Result<Vec<u8>, AuditError> {
        if key_id != self.id {
            return Err(AuditError::WrongKey {
                record_key_id: key_id.to_string(),
                loaded_key_id: self.id.clone(),
            });
        }
        if sealed.len() < NONCE_LEN + 16 {
            return Err(AuditError::Unseal("sealed record is truncated".into()));
        }
        let (nonce_bytes, ct) = sealed.split_at(NONCE_LEN);
        let mut n = [0u8; NONCE_LEN];
        n.copy_from_slice(nonce_bytes);
        self.cipher
            .decrypt(&Nonce::from(n), Payload { msg: ct, aad: execution_id.as_bytes() })
            .map_err(|_| {
                AuditError::Unseal(
                    "authentication failed: the sealed record was altered or belongs to another execution".into(),
                )
            })
    }

    /// HMAC-SHA256 signature (hex) with a key derived from the audit key.
    pub fn sign(&self, message: &[u8]) -> String {
        hex::encode(super::chain::hmac_sha256(&self.checkpoint_key, message))
    }
}

/// Reads the key file, or creates it (32 random bytes, mode 0600, parent
/// directories as needed) when it does not exist and `create` is set.
pub fn load_or_create(path: &Path, create: bool) -> Result<Option<LoadedKey>, AuditError> {
    let key_err = |reason: String| AuditError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            let arr: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| {
                key_err(format!(
                    "expected exactly {KEY_LEN} bytes, found {}",
                    bytes.len()
                ))
            })?;
            warn_if_permissive(path);
            Ok(Some(LoadedKey {
                key: SealKey::from_bytes(&arr)?,
                created: false,
            }))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return Ok(None);
            }
            if let Some(dir) = path.parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| key_err(format!("cannot create directory: {e}")))?;
                }
            }
            let mut bytes = [0u8; KEY_LEN];
            rand::rng().fill_bytes(&mut bytes);
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                opts.mode(0o600);
            }
            match opts.open(path) {
                Ok(mut f) => {
                    f.write_all(&bytes)
                        .and_then(|_| f.sync_all())
                        .map_err(|e| key_err(format!("cannot write: {e}")))?;
                    Ok(Some(LoadedKey {
                        key: SealKey::from_bytes(&bytes)?,
                        created: true,
                    }))
                }
                // Another process created it between our read and open: use theirs.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    load_or_create(path, false)
                }
                Err(e) => Err(key_err(format!("cannot create: {e}"))),
            }
        }
        Err(e) => Err(key_err(format!("cannot read: {e}"))),
    }
}

fn warn_if_permissive(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "audit key file is readable by group or others; chmod 600 it");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = SealKey::ephemeral().unwrap();
        let id = "6f1f0c3e-0000-4000-8000-000000000001";
        let sealed = k.seal(id, b"print(1)").unwrap();
        assert_eq!(k.open(id, k.id(), &sealed).unwrap(), b"print(1)");
        let mut flipped = sealed.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(
            k.open(id, k.id(), &flipped),
            Err(AuditError::Unseal(_))
        ));
        assert!(matches!(
            k.open("other", k.id(), &sealed),
            Err(AuditError::Unseal(_))
        ));
        let other = SealKey::ephemeral().unwrap();
        assert!(matches!(
            other.open(id, k.id(), &sealed),
            Err(AuditError::WrongKey { .. })
        ));
        // Same key id claimed, different key bytes: still an error, never garbage.
        assert!(matches!(
            other.open(id, other.id(), &sealed),
            Err(AuditError::Unseal(_))
        ));
    }
}
