//! SM2 public keys from the forms callers bring: PEM SubjectPublicKeyInfo, an X.509
//! certificate (PEM or DER), or SEC1 bytes (`04 ‖ x ‖ y`).

use std::fmt;

use der::{Decode, DecodePem, Encode};
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use x509_cert::Certificate;

use crate::CryptoError;

// The SM2 recommended curve (GB/T 32918.5): a, b, x_G, y_G.
const CURVE_A: [u8; 32] = [
    0xFF, 0xFF, 0xFF, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
    0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFC,
];
const CURVE_B: [u8; 32] = [
    0x28, 0xE9, 0xFA, 0x9E, 0x9D, 0x9F, 0x5E, 0x34, 0x4D, 0x5A, 0x9E, 0x4B, 0xCF, 0x65, 0x09, 0xA7,
    0xF3, 0x97, 0x89, 0xF5, 0x15, 0xAB, 0x8F, 0x92, 0xDD, 0xBC, 0xBD, 0x41, 0x4D, 0x94, 0x0E, 0x93,
];
const GX: [u8; 32] = [
    0x32, 0xC4, 0xAE, 0x2C, 0x1F, 0x19, 0x81, 0x19, 0x5F, 0x99, 0x04, 0x46, 0x6A, 0x39, 0xC9, 0x94,
    0x8F, 0xE3, 0x0B, 0xBF, 0xF2, 0x66, 0x0B, 0xE1, 0x71, 0x5A, 0x45, 0x89, 0x33, 0x4C, 0x74, 0xC7,
];
const GY: [u8; 32] = [
    0xBC, 0x37, 0x36, 0xA2, 0xF4, 0xF6, 0x77, 0x9C, 0x59, 0xBD, 0xCE, 0xE3, 0x6B, 0x69, 0x21, 0x53,
    0xD0, 0xA9, 0x87, 0x7C, 0xC6, 0x2A, 0x47, 0x40, 0x02, 0xDF, 0x32, 0xE5, 0x21, 0x39, 0xF0, 0xA0,
];

/// An SM2 public key (a point on the SM2 curve).
#[derive(Clone)]
pub struct Sm2PublicKey {
    pub(crate) point: sm2::PublicKey,
    /// Z_A for the default signer ID, computed once per key (verification needs it every time).
    z_default: std::sync::OnceLock<[u8; 32]>,
}

impl PartialEq for Sm2PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.point == other.point
    }
}

impl Eq for Sm2PublicKey {}

impl fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm2PublicKey({})", hex::encode(self.to_sec1()))
    }
}

impl Sm2PublicKey {
    pub(crate) fn new(point: sm2::PublicKey) -> Self {
        Self {
            point,
            z_default: std::sync::OnceLock::new(),
        }
    }

    fn z(&self, signer_id: &str) -> Result<[u8; 32], CryptoError> {
        use sm3::{Digest, Sm3};
        let compute = || -> Result<[u8; 32], CryptoError> {
            let bits = signer_id
                .len()
                .checked_mul(8)
                .filter(|b| *b > 0 && *b <= 0xFFFF)
                .ok_or(CryptoError::SignerId)?;
            let mut z = Sm3::new();
            z.update((bits as u16).to_be_bytes());
            z.update(signer_id.as_bytes());
            for c in [CURVE_A, CURVE_B, GX, GY] {
                z.update(c);
            }
            z.update(&self.to_sec1()[1..]);
            Ok(z.finalize().into())
        };
        if signer_id == crate::DEFAULT_SIGNER_ID {
            if let Some(z) = self.z_default.get() {
                return Ok(*z);
            }
            let z = compute()?;
            let _ = self.z_default.set(z);
            return Ok(z);
        }
        compute()
    }
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CryptoError> {
        sm2::PublicKey::from_sec1_bytes(bytes)
            .map(Self::new)
            .map_err(|_| CryptoError::PublicKey("not a point on the SM2 curve in SEC1 form".into()))
    }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as `openssl pkey -pubout` writes it.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        sm2::PublicKey::from_public_key_pem(pem.trim())
            .map(Self::new)
            .map_err(|e| {
                CryptoError::PublicKey(format!("not an SM2 SubjectPublicKeyInfo PEM ({e})"))
            })
    }

    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        sm2::PublicKey::from_public_key_der(der)
            .map(Self::new)
            .map_err(|e| CryptoError::PublicKey(format!("not an SM2 SubjectPublicKeyInfo ({e})")))
    }

    /// The subject public key of an X.509 certificate, PEM or DER. The certificate's own
    /// validity (chain, dates, revocation) is not judged here.
    pub fn from_certificate(cert: &[u8]) -> Result<Self, CryptoError> {
        Self::from_parsed_certificate(&parse_certificate(cert)?)
    }

    pub(crate) fn from_parsed_certificate(cert: &Certificate) -> Result<Self, CryptoError> {
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| {
                CryptoError::Certificate(format!("cannot re-encode the public key ({e})"))
            })?;
        Self::from_spki_der(&spki)
            .map_err(|_| CryptoError::Certificate("the certificate's key is not an SM2 key".into()))
    }

    /// `04 ‖ x ‖ y`, 65 bytes.
    pub fn to_sec1(&self) -> Vec<u8> {
        self.point.to_sec1_point(false).as_bytes().to_vec()
    }

    /// e = SM3(Z_A ‖ M), where Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)
    /// (GB/T 32918.2 §5.5): what a caller computes to have a message signed "by digest".
    pub fn message_digest(&self, signer_id: &str, msg: &[u8]) -> Result<[u8; 32], CryptoError> {
        use sm3::{Digest, Sm3};
        let mut e = Sm3::new();
        e.update(self.z(signer_id)?);
        e.update(msg);
        Ok(e.finalize().into())
    }

    pub fn to_spki_der(&self) -> Vec<u8> {
        self.point
            .to_public_key_der()
            .expect("an SM2 point always encodes")
            .into_vec()
    }

    pub fn to_pem(&self) -> String {
        self.point
            .to_public_key_pem(LineEnding::LF)
            .expect("an SM2 point always encodes")
    }
}

/// An X.509 certificate in PEM or DER.
pub fn parse_certificate(cert: &[u8]) -> Result<Certificate, CryptoError> {
    match std::str::from_utf8(cert) {
        Ok(text) if text.trim_start().starts_with("-----BEGIN") => {
            Certificate::from_pem(text.trim().as_bytes())
        }
        _ => Certificate::from_der(cert),
    }
    .map_err(|e| CryptoError::Certificate(format!("cannot parse X.509 certificate ({e})")))
}

/// The 32-byte private scalar of an SM2 private key in PEM: PKCS#8 (`PRIVATE KEY`, as
/// `openssl genpkey` writes it) or SEC1 (`EC PRIVATE KEY`). For importing keys (BYOK).
pub fn sm2_private_scalar_from_pem(pem: &str) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    use sm2::pkcs8::DecodePrivateKey;
    let pem = pem.trim();
    let sk = sm2::SecretKey::from_pkcs8_pem(pem)
        .or_else(|_| sm2::SecretKey::from_sec1_pem(pem))
        .map_err(|_| CryptoError::KeyMaterial("not an SM2 private key in PKCS#8 or SEC1 PEM"))?;
    Ok(zeroize::Zeroizing::new(sk.to_bytes().to_vec()))
}
