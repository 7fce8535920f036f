//! Parsing arbitrary bytes as an RFC 3161 TimeStampReq never panics, and every refusal
//! becomes a rejection response.
#![no_main]

use govcloud_pki::tsp::{check_policy, parse_request, rejection};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse_request(data) {
        Ok(req) => {
            // any OID serves as the TSA's policy here
            let default = govcloud_pki::OID_SM2_WITH_SM3;
            if let Err(e) = check_policy(&req, &default, &[]) {
                assert!(!rejection(&e).is_empty());
            }
        }
        Err(e) => assert!(!rejection(&e).is_empty()),
    }
});
