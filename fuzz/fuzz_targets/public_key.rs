//! Parsing arbitrary bytes as a certificate, a SubjectPublicKeyInfo, SEC1 or PEM never panics.
#![no_main]

use govcloud_crypto::{sm2_private_scalar_from_pem, Sm2PublicKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = Sm2PublicKey::from_certificate(data);
    let _ = Sm2PublicKey::from_spki_der(data);
    let _ = Sm2PublicKey::from_sec1(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Sm2PublicKey::from_pem(text);
        let _ = sm2_private_scalar_from_pem(text);
    }
});
