//! Opening arbitrary bytes as a GM/T 0010 envelope never panics.
#![no_main]

use std::sync::OnceLock;

use govcloud_crypto::{cms, KeyKind, MasterKey, NewKey, Provider, SoftProvider};
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
    let _ = cms::open_envelope(p, k.key_ref(), data);
});
