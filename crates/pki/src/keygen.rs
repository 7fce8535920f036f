//! Key pairs generated for a certificate holder who has no CSR: made here (not in the
//! provider, because the holder takes the private key away), returned once as encrypted
//! PKCS #8 (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC — what OpenSSL, browsers and USB-key
//! tools read), and never stored by govcloud.

use pkcs8::der::pem::LineEnding;
use pkcs8::pkcs5::pbes2;
use zeroize::Zeroizing;

use crate::{PkiError, Result, SigAlg};

/// PBKDF2 rounds for the holder's password.
pub const PBKDF2_ROUNDS: u32 = 200_000;

/// A generated key pair: the public key for the certificate, the private key encrypted.
pub struct HolderKey {
    /// SubjectPublicKeyInfo DER.
    pub public_key: Vec<u8>,
    /// PEM with the label `ENCRYPTED PRIVATE KEY` (RFC 7468 §11).
    pub encrypted_pkcs8_pem: String,
}

/// A random password for a bundle: 24 characters from an alphabet without look-alikes.
pub fn random_password() -> Result<Zeroizing<String>> {
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = Zeroizing::new(String::with_capacity(24));
    while out.len() < 24 {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|_| PkiError::Internal("random source failed".into()))?;
        for x in b {
            // 228 = 4 × 57: reject the tail so every character is equally likely.
            if (x as usize) < ALPHABET.len() * 4 && out.len() < 24 {
                out.push(ALPHABET[x as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

/// Generate an SM2 or RSA-2048 key pair and encrypt the private key under `password`.
pub fn generate(alg: SigAlg, password: &str) -> Result<HolderKey> {
    if password.chars().count() < 8 {
        return Err(PkiError::Rejected(
            "the key password must have at least 8 characters".into(),
        ));
    }
    let (pkcs8, public_key): (Zeroizing<Vec<u8>>, Vec<u8>) = match alg {
        SigAlg::Sm2Sm3 => {
            use sm2::elliptic_curve::Generate;
            use sm2::pkcs8::{EncodePrivateKey, EncodePublicKey};
            let sk = sm2::SecretKey::try_generate_from_rng(&mut getrandom::SysRng)
                .map_err(|_| PkiError::Internal("random source failed".into()))?;
            let doc = sk
                .to_pkcs8_der()
                .map_err(|e| PkiError::Internal(format!("PKCS #8: {e}")))?;
            let public = sk
                .public_key()
                .to_public_key_der()
                .map_err(|e| PkiError::Internal(format!("SPKI: {e}")))?;
            (Zeroizing::new(doc.as_bytes().to_vec()), public.into_vec())
        }
        SigAlg::RsaSha256 => {
            use aws_lc_rs::encoding::AsDer;
            use aws_lc_rs::signature::KeyPair;
            let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| PkiError::Internal("RSA key generation failed".into()))?;
            let der = pair
                .as_der()
                .map_err(|_| PkiError::Internal("RSA PKCS #8 encoding failed".into()))?;
            let public = pair
                .public_key()
                .as_der()
                .map_err(|_| PkiError::Internal("RSA SPKI encoding failed".into()))?;
            (
                Zeroizing::new(der.as_ref().to_vec()),
                public.as_ref().to_vec(),
            )
        }
    };
    let mut salt = [0u8; 16];
    let mut iv = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|_| PkiError::Internal("random source failed".into()))?;
    getrandom::fill(&mut iv).map_err(|_| PkiError::Internal("random source failed".into()))?;
    let params = pbes2::Parameters::generate_pbkdf2_sha256_aes256cbc(PBKDF2_ROUNDS, &salt, iv)
        .map_err(|e| PkiError::Internal(format!("PBES2: {e}")))?;
    let info = pkcs8::PrivateKeyInfoRef::try_from(pkcs8.as_slice())
        .map_err(|e| PkiError::Internal(format!("PKCS #8: {e}")))?;
    let encrypted = info
        .encrypt_with_params(params, password.as_bytes())
        .map_err(|e| PkiError::Internal(format!("PKCS #8 encryption: {e}")))?;
    let pem = encrypted
        .to_pem("ENCRYPTED PRIVATE KEY", LineEnding::LF)
        .map_err(|e| PkiError::Internal(format!("PEM: {e}")))?;
    Ok(HolderKey {
        public_key,
        encrypted_pkcs8_pem: pem.to_string(),
    })
}
/// Decrypt an `ENCRYPTED PRIVATE KEY` PEM (as [`generate`] writes) to PKCS #8 DER, for a
/// holder that is govcloud itself (the gateway's TLS key).
pub fn decrypt_pem(pem: &str, password: &str) -> Result<Zeroizing<Vec<u8>>> {
    use pkcs8::der::Decode;
    let (label, der) =
        pkcs8::der::pem::decode_vec(pem.as_bytes()).map_err(|e| PkiError::Malformed {
            what: "encrypted private key PEM",
            detail: e.to_string(),
        })?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(PkiError::Rejected(format!(
            "expected ENCRYPTED PRIVATE KEY, found {label}"
        )));
    }
    let info = pkcs8::EncryptedPrivateKeyInfoRef::from_der(&der)
        .map_err(crate::malformed("encrypted private key"))?;
    let doc = info
        .decrypt(password.as_bytes())
        .map_err(|_| PkiError::Rejected("wrong password or damaged key".into()))?;
    Ok(Zeroizing::new(doc.as_bytes().to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_decrypts_with_its_password_only() {
        let pw = random_password().unwrap();
        let k = generate(SigAlg::Sm2Sm3, &pw).unwrap();
        let der = decrypt_pem(&k.encrypted_pkcs8_pem, &pw).unwrap();
        let info = pkcs8::PrivateKeyInfoRef::try_from(der.as_slice()).unwrap();
        assert_eq!(
            info.algorithm.oid,
            pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1")
        );
        assert!(matches!(
            decrypt_pem(&k.encrypted_pkcs8_pem, "wrong"),
            Err(PkiError::Rejected(_))
        ));
        assert!(matches!(
            decrypt_pem(
                &pkcs8::der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &[0x30, 0x00])
                    .unwrap(),
                "x"
            ),
            Err(PkiError::Rejected(_))
        ));
    }
}
