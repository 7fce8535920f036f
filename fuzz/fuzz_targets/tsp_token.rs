//! Verifying arbitrary bytes as a time-stamp token (a TimeStampResp or a bare token), with
//! the TSA certificate from the token or given, never panics.
#![no_main]

use govcloud_pki::tsp::{verify_token, verify_token_with};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = verify_token(data, b"fuzz");
    // the first half as a token, the rest as the TSA certificate
    let (token, cert) = data.split_at(data.len() / 2);
    let _ = verify_token_with(token, b"fuzz", Some(cert));
});
