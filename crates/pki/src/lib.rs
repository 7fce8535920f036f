//! X.509 PKI on RustCrypto's `formats` crates: certificates (SM2 with SM3, RSA with SHA-256),
//! PKCS #10 requests, CRLs, OCSP (RFC 6960) and timestamps (RFC 3161). Private-key work is
//! done by a [`Signer`] (the crypto provider behind it), so this crate only builds, parses
//! and checks structures.

pub mod cert;
pub mod crl;
pub mod csr;
pub mod keygen;
pub mod ocsp;
pub mod tsp;

use der::asn1::ObjectIdentifier as Oid;
use spki::AlgorithmIdentifierOwned;

/// SM2 signature with SM3 (GM/T 0006), the certificate signature algorithm.
pub const OID_SM2_WITH_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.501");
/// RSA PKCS #1 v1.5 with SHA-256.
pub const OID_SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const OID_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const OID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const OID_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.401");
pub const OID_SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const OID_SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");

/// Everything that can go wrong, phrased for the caller.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// The input is not the structure it should be (truncated, wrong tags, wrong OIDs, …).
    #[error("malformed {what}: {detail}")]
    Malformed { what: &'static str, detail: String },
    /// Well-formed but not acceptable (unsupported algorithm, bad signature on a CSR, …).
    #[error("{0}")]
    Rejected(String),
    #[error(transparent)]
    Crypto(#[from] govcloud_crypto::CryptoError),
    #[error("internal PKI error: {0}")]
    Internal(String),
}

pub type Result<T, E = PkiError> = std::result::Result<T, E>;

pub(crate) fn malformed(what: &'static str) -> impl Fn(der::Error) -> PkiError {
    move |e| PkiError::Malformed {
        what,
        detail: e.to_string(),
    }
}

/// Signature algorithms govcloud signs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigAlg {
    /// SM2 with SM3 and the default signer ID (GM/T 0009 `1234567812345678`).
    Sm2Sm3,
    /// RSA PKCS #1 v1.5 with SHA-256.
    RsaSha256,
}

impl SigAlg {
    pub fn code(self) -> &'static str {
        match self {
            SigAlg::Sm2Sm3 => "sm2",
            SigAlg::RsaSha256 => "rsa",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        [SigAlg::Sm2Sm3, SigAlg::RsaSha256]
            .into_iter()
            .find(|a| a.code() == code)
    }

    /// The AlgorithmIdentifier for signatures (RSA carries NULL parameters, SM2 none).
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        match self {
            SigAlg::Sm2Sm3 => AlgorithmIdentifierOwned {
                oid: OID_SM2_WITH_SM3,
                parameters: None,
            },
            SigAlg::RsaSha256 => AlgorithmIdentifierOwned {
                oid: OID_SHA256_WITH_RSA,
                parameters: Some(der::asn1::Null.into()),
            },
        }
    }

    /// The digest the algorithm hashes with, as an AlgorithmIdentifier.
    pub fn digest_identifier(self) -> AlgorithmIdentifierOwned {
        match self {
            SigAlg::Sm2Sm3 => AlgorithmIdentifierOwned {
                oid: OID_SM3,
                parameters: None,
            },
            SigAlg::RsaSha256 => AlgorithmIdentifierOwned {
                oid: OID_SHA256,
                parameters: None,
            },
        }
    }

    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            SigAlg::Sm2Sm3 => sm3::Sm3::digest(data).to_vec(),
            SigAlg::RsaSha256 => sha2::Sha256::digest(data).to_vec(),
        }
    }
}

/// A private key that signs for the PKI (a CA, the OCSP responder, the TSA): the crypto
/// provider holds the key; this is a handle on it.
pub trait Signer: Send + Sync {
    fn alg(&self) -> SigAlg;
    /// Sign `msg` (the provider hashes: SM3 with Z for SM2, SHA-256 for RSA). SM2 signatures
    /// are DER `SEQUENCE { r, s }`; RSA signatures are the raw PKCS #1 v1.5 signature.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>>;
}

/// A [`Signer`] over a key the crypto provider holds (wrapped): SM2 (`sm2-sign`) or RSA
/// (`rsa-2048`).
pub struct ProviderSigner {
    pub provider: std::sync::Arc<dyn govcloud_crypto::Provider>,
    pub kind: govcloud_crypto::KeyKind,
    pub binding: Vec<u8>,
    pub blob: Vec<u8>,
}

impl ProviderSigner {
    pub fn key_ref(&self) -> govcloud_crypto::KeyRef<'_> {
        govcloud_crypto::KeyRef {
            kind: self.kind,
            binding: &self.binding,
            blob: &self.blob,
        }
    }

    /// The signer's public key as SubjectPublicKeyInfo DER.
    pub fn public_key_spki(&self) -> Result<Vec<u8>> {
        match self.kind {
            govcloud_crypto::KeyKind::Rsa2048 => {
                Ok(self.provider.rsa_public_key(self.key_ref())?)
            }
            _ => Ok(self.provider.public_key(self.key_ref())?.to_spki_der()),
        }
    }
}

impl Signer for ProviderSigner {
    fn alg(&self) -> SigAlg {
        match self.kind {
            govcloud_crypto::KeyKind::Rsa2048 => SigAlg::RsaSha256,
            _ => SigAlg::Sm2Sm3,
        }
    }

    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>> {
        use govcloud_crypto::{SigFormat, SignInput, DEFAULT_SIGNER_ID};
        Ok(match self.kind {
            govcloud_crypto::KeyKind::Rsa2048 => {
                self.provider.rsa_sign_sha256(self.key_ref(), msg)?
            }
            _ => self.provider.sign(
                self.key_ref(),
                DEFAULT_SIGNER_ID,
                SignInput::Data(msg),
                SigFormat::Der,
            )?,
        })
    }
}

/// Check a signature made by `alg` over `msg` with the public key `spki_der`
/// (SubjectPublicKeyInfo DER). SM2 uses the default signer ID. `Ok(false)` for a signature
/// that does not verify; `Err` for a key of the wrong type or an unparsable key.
pub fn verify_signature(alg: SigAlg, spki_der: &[u8], msg: &[u8], sig: &[u8]) -> Result<bool> {
    match alg {
        SigAlg::Sm2Sm3 => {
            let public = govcloud_crypto::Sm2PublicKey::from_spki_der(spki_der)?;
            let e = public.message_digest(govcloud_crypto::DEFAULT_SIGNER_ID, msg)?;
            Ok(govcloud_crypto::verify_digest_der(&public, &e, sig))
        }
        SigAlg::RsaSha256 => Ok(govcloud_crypto::rsa_verify_sha256(spki_der, msg, sig)?),
    }
}

/// The signature algorithm an AlgorithmIdentifier names, if govcloud accepts it.
pub fn sig_alg_of(oid: &Oid) -> Option<SigAlg> {
    if *oid == OID_SM2_WITH_SM3 {
        Some(SigAlg::Sm2Sm3)
    } else if *oid == OID_SHA256_WITH_RSA {
        Some(SigAlg::RsaSha256)
    } else {
        None
    }
}
