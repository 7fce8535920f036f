//! Arbitrary bytes as an SM2 signature (DER or raw) or SM2 ciphertext (GM/T 0009 DER or
//! C1C3C2) are refused or judged, never a panic.
#![no_main]

use std::sync::OnceLock;

use govcloud_crypto::{
    CipherFormat, KeyKind, MasterKey, NewKey, Provider, SigFormat, SignInput, SoftProvider,
    DEFAULT_SIGNER_ID,
};
use libfuzzer_sys::fuzz_target;

fn fixture() -> &'static (SoftProvider, NewKey) {
    static F: OnceLock<(SoftProvider, NewKey)> = OnceLock::new();
    F.get_or_init(|| {
        let p = SoftProvider::new(MasterKey::generate().unwrap());
        let k = p.generate_key(KeyKind::Sm2Enc, b"fuzz/1").unwrap();
        (p, k)
    })
}

fuzz_target!(|data: &[u8]| {
    let (p, k) = fixture();
    let public = k.public.as_ref().unwrap();
    for format in [SigFormat::Der, SigFormat::Raw] {
        let _ = p.verify(
            public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"message"),
            data,
            format,
        );
    }
    let key = k.key_ref();
    for format in [CipherFormat::Der, CipherFormat::Raw] {
        let _ = p.sm2_decrypt(key, data, format);
    }
});
