//! Signing keys and compact JWS (RFC 7515) for ID tokens: RS256 (the protocol's default,
//! always offered, S42), ES256 and EdDSA (far cheaper; chosen per client).
//!
//! The cryptography is aws-lc-rs, the same library our TLS stack already uses. Private keys
//! leave this module only as PKCS#8 inside a `Secret`, for sealing under the master key;
//! public keys leave as JWKs (RFC 7517) for the JWKS endpoint. No I/O here: storing and
//! choosing keys is `app`'s job.

use crate::secret::Secret;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair, UnparsedPublicKey,
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, ED25519, RSA_PKCS1_2048_8192_SHA256,
    RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

/// The JWS algorithms an ID token may be signed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlgorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl SigningAlgorithm {
    pub const ALL: [Self; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    /// The `alg` name (RFC 7518 §3.1, RFC 8037 §3.1).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == text)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JoseError {
    #[error("the key could not be generated or read")]
    BadKey,
    #[error("the token is not a well-formed compact JWS")]
    Malformed,
    #[error("the token's signature does not verify")]
    BadSignature,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its key id (`kid`), which names it in JWS headers and in the
/// JWKS so products can pick the right public key while keys rotate (S42).
pub struct SigningKey {
    alg: SigningAlgorithm,
    kid: String,
    pair: Pair,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl SigningKey {
    /// A fresh key. RSA keys are 2048 bits (RFC 7518 §3.3 asks for at least that).
    pub fn generate(alg: SigningAlgorithm, kid: String) -> Result<Self, JoseError> {
        let pair = match alg {
            SigningAlgorithm::Rs256 => Pair::Rsa(
                RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| JoseError::BadKey)?,
            ),
            SigningAlgorithm::Es256 => Pair::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                    .map_err(|_| JoseError::BadKey)?,
            ),
            SigningAlgorithm::EdDsa => {
                Pair::Ed(Ed25519KeyPair::generate().map_err(|_| JoseError::BadKey)?)
            }
        };
        Ok(Self { alg, kid, pair })
    }

    /// Reads back a key from the PKCS#8 form `to_pkcs8` gave.
    pub fn from_pkcs8(alg: SigningAlgorithm, kid: String, der: &[u8]) -> Result<Self, JoseError> {
        let pair = match alg {
            SigningAlgorithm::Rs256 => {
                Pair::Rsa(RsaKeyPair::from_pkcs8(der).map_err(|_| JoseError::BadKey)?)
            }
            SigningAlgorithm::Es256 => Pair::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|_| JoseError::BadKey)?,
            ),
            SigningAlgorithm::EdDsa => {
                Pair::Ed(Ed25519KeyPair::from_pkcs8(der).map_err(|_| JoseError::BadKey)?)
            }
        };
        Ok(Self { alg, kid, pair })
    }

    /// The private key as PKCS#8 DER, to be sealed before it is stored.
    pub fn to_pkcs8(&self) -> Result<Secret<Vec<u8>>, JoseError> {
        let der = match &self.pair {
            Pair::Rsa(pair) => pair.as_der().map(|d| d.as_ref().to_vec()),
            Pair::Ec(pair) => pair.to_pkcs8v1().map(|d| d.as_ref().to_vec()),
            Pair::Ed(pair) => pair.to_pkcs8().map(|d| d.as_ref().to_vec()),
        };
        der.map(Secret::new).map_err(|_| JoseError::BadKey)
    }

    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public half as a JWK (RFC 7517 §4; RFC 7518 §6; RFC 8037 §2).
    pub fn public_jwk(&self) -> Value {
        let mut jwk = match &self.pair {
            Pair::Rsa(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
            Pair::Ec(pair) => {
                // An uncompressed point: 0x04, then x and y, 32 bytes each.
                let point = pair.public_key().as_ref();
                let (x, y) = point
                    .get(1..)
                    .unwrap_or_default()
                    .split_at(32.min(point.len()));
                json!({ "kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y) })
            }
            Pair::Ed(pair) => {
                json!({ "kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref()) })
            }
        };
        if let Some(fields) = jwk.as_object_mut() {
            fields.insert("use".into(), "sig".into());
            fields.insert("alg".into(), self.alg.as_str().into());
            fields.insert("kid".into(), self.kid.clone().into());
        }
        jwk
    }

    /// Signs `claims` as a compact JWS with `alg`, `kid` and `typ: JWT` in the header.
    pub fn sign(&self, claims: &Map<String, Value>) -> Result<String, JoseError> {
        let header = json!({ "alg": self.alg.as_str(), "kid": self.kid, "typ": "JWT" });
        let signing_input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(Value::Object(claims.clone()).to_string().as_bytes())
        );
        let message = signing_input.as_bytes();
        let signature = match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(
                    &RSA_PKCS1_SHA256,
                    &SystemRandom::new(),
                    message,
                    &mut signature,
                )
                .map_err(|_| JoseError::BadKey)?;
                signature
            }
            Pair::Ec(pair) => pair
                .sign(&SystemRandom::new(), message)
                .map_err(|_| JoseError::BadKey)?
                .as_ref()
                .to_vec(),
            Pair::Ed(pair) => pair.sign(message).as_ref().to_vec(),
        };
        Ok(format!("{signing_input}.{}", b64(&signature)))
    }

    /// The claims of a JWS this key signed. Only the signature is checked: what the claims
    /// must say (issuer, audience, expiry) is for the caller to decide.
    pub fn verify(&self, token: &str) -> Result<Map<String, Value>, JoseError> {
        let parts = split(token)?;
        if parts.header.get("alg").and_then(Value::as_str) != Some(self.alg.as_str()) {
            return Err(JoseError::BadSignature);
        }
        let signing_input_len = token.rfind('.').ok_or(JoseError::Malformed)?;
        let message = token.get(..signing_input_len).ok_or(JoseError::Malformed)?;
        let public = match &self.pair {
            Pair::Rsa(pair) => UnparsedPublicKey::new(
                &RSA_PKCS1_2048_8192_SHA256,
                pair.public_key().as_ref().to_vec(),
            ),
            Pair::Ec(pair) => UnparsedPublicKey::new(
                &ECDSA_P256_SHA256_FIXED,
                pair.public_key().as_ref().to_vec(),
            ),
            Pair::Ed(pair) => UnparsedPublicKey::new(&ED25519, pair.public_key().as_ref().to_vec()),
        };
        public
            .verify(message.as_bytes(), &parts.signature)
            .map_err(|_| JoseError::BadSignature)?;
        Ok(parts.claims)
    }
}

/// The parts of a compact JWS, decoded but not verified.
pub struct UnverifiedJws {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
    signature: Vec<u8>,
}

impl UnverifiedJws {
    /// The `kid` of the header: which of our keys to verify it with.
    pub fn kid(&self) -> Option<&str> {
        self.header.get("kid").and_then(Value::as_str)
    }
}

/// Decodes a compact JWS without trusting it.
pub fn split(token: &str) -> Result<UnverifiedJws, JoseError> {
    let mut parts = token.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JoseError::Malformed);
    };
    let object = |part: &str| -> Result<Map<String, Value>, JoseError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| JoseError::Malformed)?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(JoseError::Malformed),
        }
    };
    Ok(UnverifiedJws {
        header: object(header)?,
        claims: object(claims)?,
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| JoseError::Malformed)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Map<String, Value> {
        let mut claims = Map::new();
        claims.insert("sub".into(), "account-1".into());
        claims.insert("aud".into(), "client-1".into());
        claims
    }

    #[test]
    fn every_algorithm_signs_what_it_verifies_and_survives_pkcs8() {
        for alg in SigningAlgorithm::ALL {
            let key = SigningKey::generate(alg, format!("kid-{}", alg.as_str()))
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            let token = key.sign(&claims()).unwrap_or_else(|e| panic!("{e}"));
            let stored = key.to_pkcs8().unwrap_or_else(|e| panic!("{e}"));
            let restored = SigningKey::from_pkcs8(alg, key.kid().into(), stored.expose())
                .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(restored.verify(&token), Ok(claims()), "{alg:?}");
            let parts = split(&token).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(parts.kid(), Some(key.kid()));
            assert_eq!(parts.header["alg"], alg.as_str());
            assert_eq!(restored.public_jwk(), key.public_jwk());
        }
    }

    #[test]
    fn a_changed_claim_or_another_key_fails_verification() {
        for alg in SigningAlgorithm::ALL {
            let key = SigningKey::generate(alg, "a".into()).unwrap_or_else(|e| panic!("{e}"));
            let other = SigningKey::generate(alg, "b".into()).unwrap_or_else(|e| panic!("{e}"));
            let token = key.sign(&claims()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(other.verify(&token), Err(JoseError::BadSignature));
            let mut forged = claims();
            forged.insert("sub".into(), "someone-else".into());
            let forged_payload = b64(Value::Object(forged).to_string().as_bytes());
            let mut pieces: Vec<&str> = token.split('.').collect();
            pieces[1] = &forged_payload;
            assert_eq!(key.verify(&pieces.join(".")), Err(JoseError::BadSignature));
        }
    }

    #[test]
    fn a_token_claiming_another_algorithm_is_refused() {
        // alg confusion: a header saying "none" or another family never verifies.
        let key = SigningKey::generate(SigningAlgorithm::Es256, "k".into())
            .unwrap_or_else(|e| panic!("{e}"));
        let token = key.sign(&claims()).unwrap_or_else(|e| panic!("{e}"));
        let none_header = b64(br#"{"alg":"none","kid":"k"}"#);
        let mut pieces: Vec<&str> = token.split('.').collect();
        pieces[0] = &none_header;
        assert_eq!(key.verify(&pieces.join(".")), Err(JoseError::BadSignature));
        assert_eq!(key.verify("a.b"), Err(JoseError::Malformed));
    }

    #[test]
    fn jwks_carry_the_fields_products_need() {
        let rsa = SigningKey::generate(SigningAlgorithm::Rs256, "r".into())
            .unwrap_or_else(|e| panic!("{e}"))
            .public_jwk();
        assert_eq!(rsa["kty"], "RSA");
        assert_eq!(rsa["e"], "AQAB");
        let n = URL_SAFE_NO_PAD
            .decode(rsa["n"].as_str().unwrap_or_default())
            .unwrap_or_default();
        assert_eq!(n.len(), 256, "a 2048-bit modulus");
        let ec = SigningKey::generate(SigningAlgorithm::Es256, "e".into())
            .unwrap_or_else(|e| panic!("{e}"))
            .public_jwk();
        assert_eq!(
            (ec["crv"].as_str(), ec["use"].as_str()),
            (Some("P-256"), Some("sig"))
        );
        for coordinate in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD
                .decode(ec[coordinate].as_str().unwrap_or_default())
                .unwrap_or_default();
            assert_eq!(bytes.len(), 32);
        }
        let ed = SigningKey::generate(SigningAlgorithm::EdDsa, "d".into())
            .unwrap_or_else(|e| panic!("{e}"))
            .public_jwk();
        assert_eq!(
            (ed["kty"].as_str(), ed["alg"].as_str()),
            (Some("OKP"), Some("EdDSA"))
        );
    }
}
