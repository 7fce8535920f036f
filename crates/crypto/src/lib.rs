//! 国密 cryptography for govcloud behind one boundary shaped like a crypto device
//! (GM/T 0018 SDF style): keys are referred to by handles, and secret key material never
//! leaves the provider unwrapped. The service keeps only *wrapped* key blobs, as an HSM's
//! key-blob interface does, so a hardware crypto card or an OSCCA-certified module can take
//! the place of [`SoftProvider`] (pure Rust on RustCrypto's `sm2`, `sm3`, `sm4`).

use std::fmt;

pub mod cms;
mod keys;
mod soft;

pub use keys::{parse_certificate, sm2_private_scalar_from_pem, Sm2PublicKey};
pub use soft::{rsa_verify_sha256, verify_digest_der};
pub use soft::{MasterKey, SoftProvider};

/// The binding of wrapped session keys (digital envelopes).
pub const SESSION_BINDING: &[u8] = b"session";

/// The signer ID GM/T 0009 sets as default (`1234567812345678`).
pub const DEFAULT_SIGNER_ID: &str = "1234567812345678";

/// The key types a business system may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Sm2Sign,
    Sm2Enc,
    Sm4,
    /// RSA-2048 for the RSA half of the PKI (server certificates, the RSA timestamp
    /// authority). Not offered to business systems, hence not in [`KeyKind::ALL`].
    Rsa2048,
}

impl KeyKind {
    /// The kinds a business system may hold.
    pub const ALL: [KeyKind; 3] = [KeyKind::Sm2Sign, KeyKind::Sm2Enc, KeyKind::Sm4];

    pub fn code(self) -> &'static str {
        match self {
            KeyKind::Sm2Sign => "sm2-sign",
            KeyKind::Sm2Enc => "sm2-enc",
            KeyKind::Sm4 => "sm4",
            KeyKind::Rsa2048 => "rsa-2048",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.code() == s)
    }

    pub fn is_asymmetric(self) -> bool {
        !matches!(self, KeyKind::Sm4)
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A key as the store keeps it: opaque, wrapped by the provider, bound to its identity.
#[derive(Clone, Copy)]
pub struct KeyRef<'a> {
    pub kind: KeyKind,
    /// What the wrapping is bound to (e.g. `key-id/version`): a blob copied to another row
    /// does not unwrap there.
    pub binding: &'a [u8],
    pub blob: &'a [u8],
}

/// A freshly generated or imported key: the wrapped blob to store and, for SM2, the public key.
pub struct NewKey {
    pub kind: KeyKind,
    pub binding: Vec<u8>,
    pub blob: Vec<u8>,
    pub public: Option<Sm2PublicKey>,
}

impl NewKey {
    /// A handle on this key for the provider's operations.
    pub fn key_ref(&self) -> KeyRef<'_> {
        KeyRef {
            kind: self.kind,
            binding: &self.binding,
            blob: &self.blob,
        }
    }
}

/// What an SM2 signature is computed over.
#[derive(Clone, Copy, Debug)]
pub enum SignInput<'a> {
    /// The message itself: the provider computes e = SM3(Z_A ‖ M) with the signer ID.
    Data(&'a [u8]),
    /// A precomputed e = SM3(Z_A ‖ M), 32 bytes.
    Digest(&'a [u8]),
}

/// SM2 signature encodings: DER `SEQUENCE { r, s }` (GM/T 0009) or raw `r ‖ s` (64 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigFormat {
    Der,
    Raw,
}

/// SM2 ciphertext encodings: GM/T 0009 ASN.1 `SEQUENCE { x, y, hash, ciphertext }` or raw
/// `C1 ‖ C3 ‖ C2` (C1 uncompressed, 04-prefixed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherFormat {
    Der,
    Raw,
}

/// SM4 modes: CBC with PKCS#7 padding (16-byte IV), CTR (16-byte initial counter block),
/// GCM (12-byte nonce, 16-byte tag appended to the ciphertext).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sm4Mode {
    Cbc,
    Ctr,
    Gcm,
}

impl Sm4Mode {
    pub fn iv_len(self) -> usize {
        match self {
            Sm4Mode::Cbc | Sm4Mode::Ctr => 16,
            Sm4Mode::Gcm => 12,
        }
    }
}

/// The key for HMAC-SM3: a stored secret key, or bytes the caller supplies.
#[derive(Clone, Copy)]
pub enum MacKey<'a> {
    Stored(KeyRef<'a>),
    Raw(&'a [u8]),
}

/// Everything that can go wrong, phrased for the caller: none of these is an internal error
/// except `Rng` and `Internal`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("the key is a {got} key, this operation needs {expected}")]
    WrongKeyKind {
        expected: &'static str,
        got: KeyKind,
    },
    #[error("the key cannot be unwrapped (wrong master key, or the stored blob was altered)")]
    Unwrap,
    #[error("invalid key material: {0}")]
    KeyMaterial(&'static str),
    #[error("invalid public key: {0}")]
    PublicKey(String),
    #[error("invalid certificate: {0}")]
    Certificate(String),
    #[error("invalid signature encoding: {0}")]
    SignatureEncoding(&'static str),
    #[error("a digest must be 32 bytes (SM3), got {0}")]
    DigestLength(usize),
    #[error("the signer ID must be 1 to 8191 bytes")]
    SignerId,
    #[error("the IV must be {expected} bytes, got {got}")]
    IvLength { expected: usize, got: usize },
    #[error("the ciphertext is malformed or does not decrypt under this key")]
    Decrypt,
    #[error("authentication failed: the ciphertext, tag, IV or AAD was altered")]
    Authentication,
    #[error("malformed {0}")]
    Malformed(String),
    #[error("the random source failed")]
    Rng,
    #[error("internal cryptographic error: {0}")]
    Internal(&'static str),
}

pub type Result<T, E = CryptoError> = std::result::Result<T, E>;

/// The crypto device. Secret operations take a [`KeyRef`] (a handle: the wrapped blob);
/// public operations take public keys. Implementations must be safe to share across threads.
pub trait Provider: Send + Sync + 'static {
    /// A short name for logs and metrics, e.g. `soft`.
    fn name(&self) -> &'static str;

    /// Generate a key inside the provider and return it wrapped.
    fn generate_key(&self, kind: KeyKind, binding: &[u8]) -> Result<NewKey>;

    /// Wrap key material brought in from outside (BYOK): a 32-byte SM2 private scalar, a
    /// 16-byte SM4 key, or an RSA private key as PKCS #8 DER.
    fn import_key(&self, kind: KeyKind, binding: &[u8], material: &[u8]) -> Result<NewKey>;

    /// The SM2 public key of a stored SM2 key.
    fn public_key(&self, key: KeyRef<'_>) -> Result<Sm2PublicKey>;

    fn sign(
        &self,
        key: KeyRef<'_>,
        signer_id: &str,
        input: SignInput<'_>,
        format: SigFormat,
    ) -> Result<Vec<u8>>;

    fn verify(
        &self,
        public: &Sm2PublicKey,
        signer_id: &str,
        input: SignInput<'_>,
        signature: &[u8],
        format: SigFormat,
    ) -> Result<bool>;

    fn sm2_encrypt(
        &self,
        public: &Sm2PublicKey,
        plaintext: &[u8],
        format: CipherFormat,
    ) -> Result<Vec<u8>>;

    fn sm2_decrypt(
        &self,
        key: KeyRef<'_>,
        ciphertext: &[u8],
        format: CipherFormat,
    ) -> Result<Vec<u8>>;

    /// Returns the ciphertext and the IV used (a fresh random one when `iv` is `None`).
    fn sm4_encrypt(
        &self,
        key: KeyRef<'_>,
        mode: Sm4Mode,
        iv: Option<&[u8]>,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)>;

    fn sm4_decrypt(
        &self,
        key: KeyRef<'_>,
        mode: Sm4Mode,
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>>;

    /// A fresh SM4 session key, returned wrapped (binding `session`) together with the same
    /// key encrypted to `recipient` (GM/T 0009 ASN.1): SDF_GenerateKeyWithEPK_ECC.
    fn session_key_for(&self, recipient: &Sm2PublicKey) -> Result<(NewKey, Vec<u8>)>;

    /// Decrypt a session key sent to `key` (an sm2-enc key) and keep it wrapped
    /// (binding `session`): SDF_ImportKeyWithISK_ECC.
    fn import_session_key(&self, key: KeyRef<'_>, encrypted: &[u8]) -> Result<NewKey>;

    /// The SubjectPublicKeyInfo (DER) of a stored RSA key.
    fn rsa_public_key(&self, key: KeyRef<'_>) -> Result<Vec<u8>>;

    /// RSA PKCS #1 v1.5 signature with SHA-256 (constant-time: AWS-LC).
    fn rsa_sign_sha256(&self, key: KeyRef<'_>, msg: &[u8]) -> Result<Vec<u8>>;

    fn sm3(&self, data: &[u8]) -> [u8; 32];

    fn hmac_sm3(&self, key: MacKey<'_>, data: &[u8]) -> Result<[u8; 32]>;

    fn random(&self, len: usize) -> Result<Vec<u8>>;
}
