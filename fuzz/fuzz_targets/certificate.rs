//! Parsing arbitrary bytes as a certificate and judging it as the authentication service
//! does (issuer signature, key usage, purposes, validity) never panics.
#![no_main]

use govcloud_pki::cert;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = cert::parse_certificate(data) {
        let _ = cert::signed_by(&c, &c);
        let _ = cert::key_usages(&c);
        let _ = cert::allows_purpose(&c, cert::OID_KP_CLIENT_AUTH);
        let _ = cert::validity(&c);
        let _ = cert::serial_hex(&c);
        let _ = cert::subject_string(&c);
    }
});
