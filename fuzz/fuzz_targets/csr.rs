//! Parsing arbitrary bytes as a PKCS #10 request (PEM or DER) and checking its proof of
//! possession never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = govcloud_pki::csr::parse_and_check(data);
});
