//! Parsing arbitrary bytes as an OCSP request, or as the issuer certificate a CertID is
//! matched against, never panics.
#![no_main]

use govcloud_pki::ocsp::{issued_by, parse_request, CertId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(req) = parse_request(data) {
        assert!(!req.cert_ids.is_empty() && req.cert_ids.len() <= 64);
    }
    let id = CertId {
        hash_alg: govcloud_pki::OID_SHA1,
        issuer_name_hash: vec![0; 20],
        issuer_key_hash: vec![0; 20],
        serial: vec![1],
    };
    let _ = issued_by(&id, data);
});
