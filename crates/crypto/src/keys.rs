//! SM2 public keys from the forms callers bring: PEM SubjectPublicKeyInfo, an X.509
//! certificate (PEM or DER), or SEC1 bytes (`04 ‖ x ‖ y`).

use std::fmt;

use der::{Decode, DecodePem, Encode};
use sm2::elliptic_curve::sec1::ToSec1Point;
use sm2::pkcs8::{DecodePublicKey, EncodePublicKey, LineEnding};
use x509_cert::Certificate;

use crate::CryptoError;

// The SM2 recommended curve (GB/T 32918.5).
const CURVE_A: &str = "FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC";
const CURVE_B: &str = "28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93";
const GX: &str = "32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7";
const GY: &str = "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0";

/// An SM2 public key (a point on the SM2 curve).
#[derive(Clone, PartialEq, Eq)]
pub struct Sm2PublicKey(pub(crate) sm2::PublicKey);

impl fmt::Debug for Sm2PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sm2PublicKey({})", hex::encode(self.to_sec1()))
    }
}

impl Sm2PublicKey {
    pub fn from_sec1(bytes: &[u8]) -> Result<Self, CryptoError> {
        sm2::PublicKey::from_sec1_bytes(bytes)
            .map(Self)
            .map_err(|_| CryptoError::PublicKey("not a point on the SM2 curve in SEC1 form".into()))
    }

    /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo), as `openssl pkey -pubout` writes it.
    pub fn from_pem(pem: &str) -> Result<Self, CryptoError> {
        sm2::PublicKey::from_public_key_pem(pem.trim())
            .map(Self)
            .map_err(|e| {
                CryptoError::PublicKey(format!("not an SM2 SubjectPublicKeyInfo PEM ({e})"))
            })
    }

    pub fn from_spki_der(der: &[u8]) -> Result<Self, CryptoError> {
        sm2::PublicKey::from_public_key_der(der)
            .map(Self)
            .map_err(|e| CryptoError::PublicKey(format!("not an SM2 SubjectPublicKeyInfo ({e})")))
    }

    /// The subject public key of an X.509 certificate, PEM or DER. The certificate's own
    /// validity (chain, dates, revocation) is not judged here.
    pub fn from_certificate(cert: &[u8]) -> Result<Self, CryptoError> {
        let parsed = match std::str::from_utf8(cert) {
            Ok(text) if text.trim_start().starts_with("-----BEGIN") => {
                Certificate::from_pem(text.trim().as_bytes())
            }
            _ => Certificate::from_der(cert),
        }
        .map_err(|e| CryptoError::Certificate(format!("cannot parse X.509 certificate ({e})")))?;
        let spki = parsed
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
        self.0.to_sec1_point(false).as_bytes().to_vec()
    }

    /// e = SM3(Z_A ‖ M), where Z_A = SM3(ENTL_A ‖ ID_A ‖ a ‖ b ‖ x_G ‖ y_G ‖ x_A ‖ y_A)
    /// (GB/T 32918.2 §5.5): what a caller computes to have a message signed "by digest".
    pub fn message_digest(&self, signer_id: &str, msg: &[u8]) -> Result<[u8; 32], CryptoError> {
        use sm3::{Digest, Sm3};
        let bits = signer_id
            .len()
            .checked_mul(8)
            .filter(|b| *b > 0 && *b <= 0xFFFF)
            .ok_or(CryptoError::SignerId)?;
        let mut z = Sm3::new();
        z.update((bits as u16).to_be_bytes());
        z.update(signer_id.as_bytes());
        for c in [CURVE_A, CURVE_B, GX, GY] {
            z.update(hex::decode(c).expect("constant hex"));
        }
        z.update(&self.to_sec1()[1..]);
        let mut e = Sm3::new();
        e.update(z.finalize());
        e.update(msg);
        Ok(e.finalize().into())
    }

    pub fn to_pem(&self) -> String {
        self.0
            .to_public_key_pem(LineEnding::LF)
            .expect("an SM2 point always encodes")
    }
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
