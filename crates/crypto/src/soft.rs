//! The software provider: RustCrypto's `sm2`, `sm3`, `sm4` (with `cbc`, `ctr` and the
//! generic `AesGcm<Sm4, U12>`), keys wrapped with SM4-GCM under a master key that lives
//! outside the database. Unwrapped key material exists only inside one call and is zeroized.

use std::fmt;
use std::path::Path;

use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::AesGcm;
use cbc::cipher::block_padding::Pkcs7;
use cbc::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit, StreamCipher};
use getrandom::SysRng;
use hmac::{Hmac, Mac};
use sm2::dsa::signature::hazmat::RandomizedPrehashSigner;
use sm2::dsa::signature::RandomizedSigner;
use sm2::dsa::{Signature, SigningKey};
use sm2::elliptic_curve::Generate;
use sm2::pke::{DecryptingKey, EncryptingKey, Mode};
use sm2::SecretKey;
use sm3::{Digest, Sm3};
use sm4::Sm4;
use zeroize::Zeroizing;

use crate::keys::Sm2PublicKey;
use crate::{
    CipherFormat, CryptoError, KeyKind, KeyRef, MacKey, NewKey, Provider, Result, SigFormat,
    SignInput, Sm4Mode,
};

type Sm4Gcm = AesGcm<Sm4, U12>;

/// Blob layout: magic ‖ 12-byte nonce ‖ SM4-GCM(secret) ‖ 16-byte tag.
const BLOB_MAGIC: &[u8; 4] = b"GCK1";
const NONCE_LEN: usize = 12;

/// The key-encryption key: 16 bytes for SM4. Never stored in the database; its `Debug`
/// prints nothing of it and it is zeroized when dropped.
pub struct MasterKey(Zeroizing<[u8; 16]>);

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey([redacted])")
    }
}

impl MasterKey {
    pub fn generate() -> Result<Self> {
        let mut k = Zeroizing::new([0u8; 16]);
        getrandom::fill(k.as_mut()).map_err(|_| CryptoError::Rng)?;
        Ok(Self(k))
    }

    /// 32 hex digits (as in `GOVCLOUD_MASTER_KEY`).
    pub fn from_hex(s: &str) -> Result<Self> {
        let mut k = Zeroizing::new([0u8; 16]);
        hex::decode_to_slice(s.trim(), k.as_mut())
            .map_err(|_| CryptoError::KeyMaterial("the master key must be 32 hex digits"))?;
        Ok(Self(k))
    }

    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.as_ref()))
    }

    /// Read the key file, or create it (mode 0600) with a new random key when it is missing.
    pub fn load_or_create(path: &Path) -> std::io::Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::from_hex(&Zeroizing::new(text)).map_err(|e| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{}: {e}", path.display()),
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate().map_err(|e| std::io::Error::other(e.to_string()))?;
                let mut opts = std::fs::OpenOptions::new();
                opts.write(true).create_new(true);
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
                use std::io::Write;
                let mut f = opts.open(path)?;
                f.write_all(key.to_hex().as_bytes())?;
                f.write_all(b"\n")?;
                f.sync_all()?;
                Ok(key)
            }
            Err(e) => Err(e),
        }
    }

    fn cipher(&self) -> Sm4Gcm {
        Sm4Gcm::new_from_slice(self.0.as_ref()).expect("16-byte key")
    }
}

pub struct SoftProvider {
    master: MasterKey,
}

impl fmt::Debug for SoftProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SoftProvider")
    }
}

fn rng() -> SysRng {
    SysRng
}

fn aad(kind: KeyKind, binding: &[u8]) -> Vec<u8> {
    let mut a = Vec::with_capacity(kind.code().len() + 1 + binding.len());
    a.extend_from_slice(kind.code().as_bytes());
    a.push(0);
    a.extend_from_slice(binding);
    a
}

/// The exact length of the secret a kind wraps; `None` for RSA (PKCS #8 DER, checked by parsing).
fn secret_len(kind: KeyKind) -> Option<usize> {
    match kind {
        KeyKind::Sm2Sign | KeyKind::Sm2Enc => Some(32),
        KeyKind::Sm4 => Some(16),
        KeyKind::Rsa2048 => None,
    }
}

fn rsa_pair(pkcs8: &[u8]) -> Result<aws_lc_rs::rsa::KeyPair> {
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8)
        .map_err(|_| CryptoError::KeyMaterial("not an RSA private key in PKCS #8 DER"))?;
    if pair.public_modulus_len() != 256 {
        return Err(CryptoError::KeyMaterial("the RSA key must be 2048 bits"));
    }
    Ok(pair)
}

/// Verify an RSA PKCS #1 v1.5 SHA-256 signature with a SubjectPublicKeyInfo (DER).
pub fn rsa_verify_sha256(spki_der: &[u8], msg: &[u8], sig: &[u8]) -> Result<bool> {
    use der::Decode;
    let spki = spki::SubjectPublicKeyInfoRef::from_der(spki_der)
        .map_err(|e| CryptoError::PublicKey(format!("not a SubjectPublicKeyInfo ({e})")))?;
    if spki.algorithm.oid != der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1") {
        return Err(CryptoError::PublicKey("not an RSA public key".into()));
    }
    let pkcs1 = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| CryptoError::PublicKey("the RSA public key is not whole bytes".into()))?;
    let key = aws_lc_rs::signature::UnparsedPublicKey::new(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        pkcs1,
    );
    Ok(key.verify(msg, sig).is_ok())
}

fn expect_kind(key: &KeyRef<'_>, allowed: &[KeyKind], expected: &'static str) -> Result<()> {
    if allowed.contains(&key.kind) {
        Ok(())
    } else {
        Err(CryptoError::WrongKeyKind {
            expected,
            got: key.kind,
        })
    }
}

fn check_signer_id(id: &str) -> Result<()> {
    if id.is_empty() || id.len() > 8191 {
        return Err(CryptoError::SignerId);
    }
    Ok(())
}

/// Verify a DER SM2 signature over a precomputed e = SM3(Z_A ‖ M); `false` also for a
/// malformed signature.
pub fn verify_digest_der(public: &Sm2PublicKey, e: &[u8; 32], sig: &[u8]) -> bool {
    parse_signature(sig, SigFormat::Der).is_ok_and(|sig| verify_prehash_vartime(public, e, &sig))
}

fn parse_signature(sig: &[u8], format: SigFormat) -> Result<Signature> {
    match format {
        SigFormat::Der => Signature::from_der(sig).map_err(|_| {
            CryptoError::SignatureEncoding("not a DER SEQUENCE { r, s } with 0 < r, s < n")
        }),
        SigFormat::Raw if sig.len() == 64 => Signature::from_slice(sig)
            .map_err(|_| CryptoError::SignatureEncoding("r or s out of range")),
        SigFormat::Raw => Err(CryptoError::SignatureEncoding(
            "a raw signature is r ‖ s, 64 bytes",
        )),
    }
}

/// SM2 verification (GB/T 32918.2 §7.1, steps B5–B7) with the curve crate's variable-time
/// `s·G + t·P`: everything here is public, so constant time buys nothing, and the benchmark
/// (`benches/primitives.rs`) shows `sm2`'s own constant-time verifier 15% slower
/// (interleaving both products with `lincomb_vartime` measured the same as this).
/// Checked against `sm2::dsa::VerifyingKey` by `tests/vectors.rs`.
pub fn verify_prehash_vartime(public: &Sm2PublicKey, e: &[u8; 32], sig: &Signature) -> bool {
    use sm2::elliptic_curve::ops::{MulByGeneratorVartime, Reduce};
    use sm2::elliptic_curve::point::AffineCoordinates;
    use sm2::elliptic_curve::Group;
    use sm2::{FieldBytes, ProjectivePoint, Scalar};
    let (r, s) = (sig.r(), sig.s());
    let e = <Scalar as Reduce<FieldBytes>>::reduce(&FieldBytes::from(*e));
    let t = *r + *s;
    if bool::from(t.is_zero()) {
        return false;
    }
    let point = ProjectivePoint::mul_by_generator_and_mul_add_vartime(
        &s,
        &t,
        &ProjectivePoint::from(*public.point.as_affine()),
    );
    if bool::from(point.is_identity()) {
        return false;
    }
    *r == e + <Scalar as Reduce<FieldBytes>>::reduce(&point.to_affine().x())
}

impl SoftProvider {
    pub fn new(master: MasterKey) -> Self {
        Self { master }
    }

    fn wrap(&self, kind: KeyKind, binding: &[u8], secret: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::Rng)?;
        let sealed = self
            .master
            .cipher()
            .encrypt(
                &nonce.into(),
                Payload {
                    msg: secret,
                    aad: &aad(kind, binding),
                },
            )
            .map_err(|_| CryptoError::Internal("wrapping failed"))?;
        let mut blob = Vec::with_capacity(4 + NONCE_LEN + sealed.len());
        blob.extend_from_slice(BLOB_MAGIC);
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&sealed);
        Ok(blob)
    }

    fn unwrap(&self, key: &KeyRef<'_>) -> Result<Zeroizing<Vec<u8>>> {
        let body = key
            .blob
            .strip_prefix(BLOB_MAGIC.as_slice())
            .ok_or(CryptoError::Unwrap)?;
        if body.len() < NONCE_LEN + 16 {
            return Err(CryptoError::Unwrap);
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Unwrap)?;
        let secret = Zeroizing::new(
            self.master
                .cipher()
                .decrypt(
                    &nonce.into(),
                    Payload {
                        msg: sealed,
                        aad: &aad(key.kind, key.binding),
                    },
                )
                .map_err(|_| CryptoError::Unwrap)?,
        );
        if secret_len(key.kind).is_some_and(|n| n != secret.len()) {
            return Err(CryptoError::Unwrap);
        }
        Ok(secret)
    }

    fn sm2_secret(&self, key: &KeyRef<'_>) -> Result<SecretKey> {
        let raw = self.unwrap(key)?;
        SecretKey::from_slice(&raw).map_err(|_| CryptoError::Unwrap)
    }

    fn sm4_key(&self, key: &KeyRef<'_>) -> Result<Zeroizing<Vec<u8>>> {
        expect_kind(key, &[KeyKind::Sm4], "an sm4")?;
        self.unwrap(key)
    }

    fn new_key(&self, kind: KeyKind, binding: &[u8], secret: &[u8]) -> Result<NewKey> {
        let public = match kind {
            KeyKind::Sm4 => None,
            KeyKind::Rsa2048 => {
                rsa_pair(secret)?;
                None
            }
            KeyKind::Sm2Sign | KeyKind::Sm2Enc => {
                let sk = SecretKey::from_slice(secret).map_err(|_| {
                    CryptoError::KeyMaterial("an SM2 private key is a scalar in [1, n-1], 32 bytes")
                })?;
                Some(Sm2PublicKey::new(sk.public_key()))
            }
        };
        Ok(NewKey {
            kind,
            binding: binding.to_vec(),
            blob: self.wrap(kind, binding, secret)?,
            public,
        })
    }
}

impl Provider for SoftProvider {
    fn name(&self) -> &'static str {
        "soft"
    }

    fn generate_key(&self, kind: KeyKind, binding: &[u8]) -> Result<NewKey> {
        let secret: Zeroizing<Vec<u8>> = match kind {
            KeyKind::Sm4 => {
                let mut k = Zeroizing::new(vec![0u8; 16]);
                getrandom::fill(&mut k).map_err(|_| CryptoError::Rng)?;
                k
            }
            KeyKind::Rsa2048 => {
                use aws_lc_rs::encoding::AsDer;
                let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                    .map_err(|_| CryptoError::Rng)?;
                let der = pair
                    .as_der()
                    .map_err(|_| CryptoError::Internal("RSA key encoding failed"))?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            KeyKind::Sm2Sign | KeyKind::Sm2Enc => {
                let sk =
                    SecretKey::try_generate_from_rng(&mut rng()).map_err(|_| CryptoError::Rng)?;
                Zeroizing::new(sk.to_bytes().to_vec())
            }
        };
        self.new_key(kind, binding, &secret)
    }

    fn import_key(&self, kind: KeyKind, binding: &[u8], material: &[u8]) -> Result<NewKey> {
        if secret_len(kind).is_some_and(|n| n != material.len()) {
            return Err(CryptoError::KeyMaterial(match kind {
                KeyKind::Sm4 => "an SM4 key is 16 bytes",
                _ => "an SM2 private key is 32 bytes",
            }));
        }
        self.new_key(kind, binding, material)
    }

    fn rsa_public_key(&self, key: KeyRef<'_>) -> Result<Vec<u8>> {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        expect_kind(&key, &[KeyKind::Rsa2048], "an rsa-2048")?;
        let pair = rsa_pair(&self.unwrap(&key)?)?;
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::Internal("RSA public key encoding failed"))?;
        Ok(spki.as_ref().to_vec())
    }

    fn rsa_sign_sha256(&self, key: KeyRef<'_>, msg: &[u8]) -> Result<Vec<u8>> {
        expect_kind(&key, &[KeyKind::Rsa2048], "an rsa-2048")?;
        let pair = rsa_pair(&self.unwrap(&key)?)?;
        let mut sig = vec![0u8; pair.public_modulus_len()];
        pair.sign(
            &aws_lc_rs::signature::RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            msg,
            &mut sig,
        )
        .map_err(|_| CryptoError::Internal("RSA signing failed"))?;
        Ok(sig)
    }

    fn public_key(&self, key: KeyRef<'_>) -> Result<Sm2PublicKey> {
        expect_kind(&key, &[KeyKind::Sm2Sign, KeyKind::Sm2Enc], "an SM2")?;
        Ok(Sm2PublicKey::new(self.sm2_secret(&key)?.public_key()))
    }

    fn sign(
        &self,
        key: KeyRef<'_>,
        signer_id: &str,
        input: SignInput<'_>,
        format: SigFormat,
    ) -> Result<Vec<u8>> {
        expect_kind(&key, &[KeyKind::Sm2Sign], "an sm2-sign")?;
        check_signer_id(signer_id)?;
        let sk = self.sm2_secret(&key)?;
        let signer = SigningKey::new(signer_id, &sk).map_err(|_| CryptoError::SignerId)?;
        let sig: Signature = match input {
            SignInput::Data(m) => signer
                .try_sign_with_rng(&mut rng(), m)
                .map_err(|_| CryptoError::Rng)?,
            SignInput::Digest(e) if e.len() == 32 => signer
                .sign_prehash_with_rng(&mut rng(), e)
                .map_err(|_| CryptoError::Rng)?,
            SignInput::Digest(e) => return Err(CryptoError::DigestLength(e.len())),
        };
        Ok(match format {
            SigFormat::Der => sig.to_der().to_vec(),
            SigFormat::Raw => sig.to_vec(),
        })
    }

    fn verify(
        &self,
        public: &Sm2PublicKey,
        signer_id: &str,
        input: SignInput<'_>,
        signature: &[u8],
        format: SigFormat,
    ) -> Result<bool> {
        check_signer_id(signer_id)?;
        let sig = parse_signature(signature, format)?;
        let e = match input {
            SignInput::Data(m) => public.message_digest(signer_id, m)?,
            SignInput::Digest(e) => e
                .try_into()
                .map_err(|_| CryptoError::DigestLength(e.len()))?,
        };
        Ok(verify_prehash_vartime(public, &e, &sig))
    }

    fn sm2_encrypt(
        &self,
        public: &Sm2PublicKey,
        plaintext: &[u8],
        format: CipherFormat,
    ) -> Result<Vec<u8>> {
        if plaintext.is_empty() {
            return Err(CryptoError::KeyMaterial(
                "SM2 encryption needs at least one byte of plaintext",
            ));
        }
        let ek = EncryptingKey::new_with_mode(public.point, Mode::C1C3C2);
        match format {
            CipherFormat::Raw => ek.encrypt(&mut rng(), plaintext),
            CipherFormat::Der => ek.encrypt_der(&mut rng(), plaintext),
        }
        .map_err(|_| CryptoError::Rng)
    }

    fn sm2_decrypt(
        &self,
        key: KeyRef<'_>,
        ciphertext: &[u8],
        format: CipherFormat,
    ) -> Result<Vec<u8>> {
        expect_kind(&key, &[KeyKind::Sm2Enc], "an sm2-enc")?;
        let sk = self.sm2_secret(&key)?;
        let dk = DecryptingKey::new_with_mode(sk.to_nonzero_scalar(), Mode::C1C3C2);
        match format {
            CipherFormat::Raw => dk.decrypt(ciphertext),
            CipherFormat::Der => dk.decrypt_der(ciphertext),
        }
        .map_err(|_| CryptoError::Decrypt)
    }

    fn sm4_encrypt(
        &self,
        key: KeyRef<'_>,
        mode: Sm4Mode,
        iv: Option<&[u8]>,
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let k = self.sm4_key(&key)?;
        let iv = match iv {
            Some(iv) if iv.len() == mode.iv_len() => iv.to_vec(),
            Some(iv) => {
                return Err(CryptoError::IvLength {
                    expected: mode.iv_len(),
                    got: iv.len(),
                })
            }
            None => self.random(mode.iv_len())?,
        };
        let ct = match mode {
            Sm4Mode::Cbc => cbc::Encryptor::<Sm4>::new_from_slices(&k, &iv)
                .map_err(|_| CryptoError::Internal("cbc init"))?
                .encrypt_padded_vec::<Pkcs7>(plaintext),
            Sm4Mode::Ctr => {
                let mut buf = plaintext.to_vec();
                ctr::Ctr128BE::<Sm4>::new_from_slices(&k, &iv)
                    .map_err(|_| CryptoError::Internal("ctr init"))?
                    .apply_keystream(&mut buf);
                buf
            }
            Sm4Mode::Gcm => {
                let nonce: [u8; 12] = iv
                    .as_slice()
                    .try_into()
                    .map_err(|_| CryptoError::Internal("gcm nonce"))?;
                Sm4Gcm::new_from_slice(&k)
                    .map_err(|_| CryptoError::Internal("gcm init"))?
                    .encrypt(
                        &nonce.into(),
                        Payload {
                            msg: plaintext,
                            aad,
                        },
                    )
                    .map_err(|_| CryptoError::Internal("gcm encrypt"))?
            }
        };
        Ok((ct, iv))
    }

    fn sm4_decrypt(
        &self,
        key: KeyRef<'_>,
        mode: Sm4Mode,
        iv: &[u8],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Vec<u8>> {
        let k = self.sm4_key(&key)?;
        if iv.len() != mode.iv_len() {
            return Err(CryptoError::IvLength {
                expected: mode.iv_len(),
                got: iv.len(),
            });
        }
        match mode {
            Sm4Mode::Cbc => cbc::Decryptor::<Sm4>::new_from_slices(&k, iv)
                .map_err(|_| CryptoError::Internal("cbc init"))?
                .decrypt_padded_vec::<Pkcs7>(ciphertext)
                .map_err(|_| CryptoError::Decrypt),
            Sm4Mode::Ctr => {
                let mut buf = ciphertext.to_vec();
                ctr::Ctr128BE::<Sm4>::new_from_slices(&k, iv)
                    .map_err(|_| CryptoError::Internal("ctr init"))?
                    .apply_keystream(&mut buf);
                Ok(buf)
            }
            Sm4Mode::Gcm => {
                let nonce: [u8; 12] = iv
                    .try_into()
                    .map_err(|_| CryptoError::Internal("gcm nonce"))?;
                Sm4Gcm::new_from_slice(&k)
                    .map_err(|_| CryptoError::Internal("gcm init"))?
                    .decrypt(
                        &nonce.into(),
                        Payload {
                            msg: ciphertext,
                            aad,
                        },
                    )
                    .map_err(|_| CryptoError::Authentication)
            }
        }
    }

    fn session_key_for(&self, recipient: &Sm2PublicKey) -> Result<(NewKey, Vec<u8>)> {
        let mut k = Zeroizing::new(vec![0u8; 16]);
        getrandom::fill(&mut k).map_err(|_| CryptoError::Rng)?;
        let encrypted = self.sm2_encrypt(recipient, &k, CipherFormat::Der)?;
        Ok((
            self.new_key(KeyKind::Sm4, crate::SESSION_BINDING, &k)?,
            encrypted,
        ))
    }

    fn import_session_key(&self, key: KeyRef<'_>, encrypted: &[u8]) -> Result<NewKey> {
        let k = Zeroizing::new(self.sm2_decrypt(key, encrypted, CipherFormat::Der)?);
        if k.len() != 16 {
            return Err(CryptoError::Decrypt);
        }
        self.new_key(KeyKind::Sm4, crate::SESSION_BINDING, &k)
    }

    fn sm3(&self, data: &[u8]) -> [u8; 32] {
        Sm3::digest(data).into()
    }

    fn hmac_sm3(&self, key: MacKey<'_>, data: &[u8]) -> Result<[u8; 32]> {
        let held;
        let k: &[u8] = match key {
            MacKey::Raw(k) => k,
            MacKey::Stored(r) => {
                held = self.sm4_key(&r)?;
                &held
            }
        };
        let mut mac = <Hmac<Sm3> as KeyInit>::new_from_slice(k)
            .map_err(|_| CryptoError::KeyMaterial("HMAC key"))?;
        mac.update(data);
        Ok(mac.finalize().into_bytes().into())
    }

    fn random(&self, len: usize) -> Result<Vec<u8>> {
        let mut b = vec![0u8; len];
        getrandom::fill(&mut b).map_err(|_| CryptoError::Rng)?;
        Ok(b)
    }
}
