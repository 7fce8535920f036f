//! Credentials: Argon2id password hashes, console session tokens and API bearer tokens.
//! Only SM3 hashes of tokens are stored, so a copy of the database opens no session.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use rand::rngs::OsRng;
use rand::RngCore;
use sm3::{Digest, Sm3};

pub const SESSION_COOKIE: &str = "govcloud_session";
pub const TOKEN_PREFIX: &str = "gct_";
/// Business systems' credentials for the crypto service.
pub const APP_TOKEN_PREFIX: &str = "gca_";
pub const SESSION_HOURS: i64 = 8;

/// Argon2id with the crate's defaults (RFC 9106's second recommended option: m=19 MiB, t=2).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash of a random password, verified against when the user does not exist, so that
/// a login for an unknown name takes as long as one for a known name.
pub fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password(&random_secret(16)).expect("argon2 with default params"))
}

/// `n` random bytes from the OS, base64url without padding.
pub fn random_secret(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A readable random password (no look-alike characters), for first-start accounts.
pub fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut b = [0u8; 20];
    OsRng.fill_bytes(&mut b);
    let s: String = b
        .iter()
        .map(|x| ALPHABET[*x as usize % ALPHABET.len()] as char)
        .collect();
    format!("{}-{}-{}-{}", &s[0..5], &s[5..10], &s[10..15], &s[15..20])
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sm3::digest(token.as_bytes()))
}

pub fn new_session_token() -> String {
    random_secret(32)
}

pub fn new_app_token() -> String {
    format!("{APP_TOKEN_PREFIX}{}", random_secret(32))
}

/// A short random identifier such as `key_3f9a…` (64 bits, hex).
pub fn new_id(prefix: &str) -> String {
    let mut b = [0u8; 8];
    OsRng.fill_bytes(&mut b);
    format!("{prefix}_{}", hex::encode(b))
}

pub fn new_api_token() -> String {
    format!("{TOKEN_PREFIX}{}", random_secret(32))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_and_fail() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterY", &h));
        assert!(!verify_password("x", "not a hash"));
    }

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_api_token();
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_ne!(a, new_api_token());
        assert_eq!(token_hash(&a).len(), 64);
        assert_eq!(random_password().len(), 23);
    }
}
