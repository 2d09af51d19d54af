//! The master key and what is derived from it (DESIGN.md §3). The master key lives outside
//! the database (a key file), so a stolen database dump alone opens nothing sealed with it
//! and lets nobody test a guessed code against a stored keyed hash.
//!
//! Each purpose gets its own subkey (HMAC-SHA256 of a label), so one use can never be
//! turned against another.

use crate::secret::Secret;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

pub const MASTER_KEY_BYTES: usize = 32;
const NONCE_BYTES: usize = 12;

#[derive(Clone)]
pub struct MasterKey(Secret<[u8; MASTER_KEY_BYTES]>);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the master key must be exactly 32 bytes")]
    WrongLength,
    #[error("sealed data could not be opened (wrong key, or tampered)")]
    CannotOpen,
}

impl MasterKey {
    pub fn generate() -> Self {
        let mut bytes = [0u8; MASTER_KEY_BYTES];
        OsRng.fill_bytes(&mut bytes);
        Self(Secret::new(bytes))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let array: [u8; MASTER_KEY_BYTES] = bytes.try_into().map_err(|_| KeyError::WrongLength)?;
        Ok(Self(Secret::new(array)))
    }

    pub fn to_bytes(&self) -> [u8; MASTER_KEY_BYTES] {
        *self.0.expose()
    }

    fn derive(&self, label: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose())
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The key for the keyed hashes of e-mailed codes (S11).
    pub fn code_mac_key(&self) -> [u8; 32] {
        self.derive("gatehouse/v1/code-mac")
    }

    /// The key that seals short-lived secrets at rest (a pending backup code while its page
    /// is open).
    pub fn sealing_key(&self) -> SealingKey {
        SealingKey(Secret::new(self.derive("gatehouse/v1/seal")))
    }
}

#[derive(Clone)]
pub struct SealingKey(Secret<[u8; 32]>);

impl SealingKey {
    /// AES-256-GCM with a random nonce; `context` (for example a flow id) is bound in as
    /// associated data, so a sealed value copied to another row does not open.
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let cipher = Aes256Gcm::new(self.0.expose().into());
        let mut nonce = [0u8; NONCE_BYTES];
        OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and nonce only fails for inputs over 64 GiB.
        let sealed = cipher
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        [nonce.as_slice(), sealed.as_slice()].concat()
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, KeyError> {
        if sealed.len() < NONCE_BYTES {
            return Err(KeyError::CannotOpen);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_BYTES);
        let cipher = Aes256Gcm::new(self.0.expose().into());
        cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| KeyError::CannotOpen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let key = MasterKey::generate();
        let sealed = key.sealing_key().seal(b"ABCD-EFGH", "flow-1");
        assert!(!sealed.windows(9).any(|w| w == b"ABCD-EFGH"));
        assert_eq!(
            key.sealing_key().open(&sealed, "flow-1"),
            Ok(b"ABCD-EFGH".to_vec())
        );
        assert_eq!(
            key.sealing_key().open(&sealed, "flow-2"),
            Err(KeyError::CannotOpen)
        );
        assert_eq!(
            MasterKey::generate().sealing_key().open(&sealed, "flow-1"),
            Err(KeyError::CannotOpen)
        );
        let mut tampered = sealed.clone();
        tampered[20] ^= 1;
        assert_eq!(
            key.sealing_key().open(&tampered, "flow-1"),
            Err(KeyError::CannotOpen)
        );
    }

    #[test]
    fn purposes_get_different_subkeys() {
        let key = MasterKey::generate();
        assert_ne!(key.code_mac_key(), key.derive("gatehouse/v1/seal"));
        assert_eq!(
            MasterKey::from_bytes(&[1; 31]).err(),
            Some(KeyError::WrongLength)
        );
    }
}
