//! Verifying arbitrary bytes as a GM/T 0010 signed message, attached or detached, never panics.
#![no_main]

use govcloud_crypto::{cms, MasterKey, SoftProvider};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    static P: std::sync::OnceLock<SoftProvider> = std::sync::OnceLock::new();
    let p = P.get_or_init(|| SoftProvider::new(MasterKey::generate().unwrap()));
    let _ = cms::verify_message(p, data, None);
    let _ = cms::verify_message(p, data, Some(b"detached content"));
});
