//! Helpers shared by the OCSP and TSP interop tests: running OpenSSL, a small DER walker
//! (to pull signed bytes out of responses independently of the code under test), DER
//! builders for malformed inputs, and GmSSL as a second SM2 verifier.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

pub const DISTID: &str = "distid:1234567812345678";

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Sm2,
    Rsa,
}

/// Runs `openssl` in `dir` with `args` (a command line split on whitespace).
pub fn openssl(dir: &Path, args: &str) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args.split_whitespace())
        .output()
        .expect("Debian's openssl is installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[track_caller]
pub fn ok(dir: &Path, args: &str) -> String {
    let (ok, out) = openssl(dir, args);
    assert!(ok, "openssl {args}: {out}");
    out
}

/// (tag, header length, content length) of the DER element at the start of `b`.
pub fn tlv(b: &[u8]) -> (u8, usize, usize) {
    let l = b[1];
    if l < 0x80 {
        (b[0], 2, usize::from(l))
    } else {
        let n = usize::from(l & 0x7f);
        let len = b[2..2 + n]
            .iter()
            .fold(0usize, |a, x| (a << 8) | usize::from(*x));
        (b[0], 2 + n, len)
    }
}

/// The contents of the element at the start of `b`.
pub fn content(b: &[u8]) -> &[u8] {
    let (_, h, l) = tlv(b);
    &b[h..h + l]
}

/// The child elements (whole TLVs) of the constructed element at the start of `b`.
pub fn children(b: &[u8]) -> Vec<&[u8]> {
    let mut rest = content(b);
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (_, h, l) = tlv(rest);
        out.push(&rest[..h + l]);
        rest = &rest[h + l..];
    }
    out
}

/// GmSSL's verdict (PyPI `gmssl-pyx`, default signer ID) on an SM2 signature, when
/// `GOVCLOUD_TEST_GMSSL_PYTHON` names a Python that has it; `None` otherwise.
pub fn gmssl_verify(spki: &[u8], msg: &[u8], sig: &[u8]) -> Option<bool> {
    let python = std::env::var("GOVCLOUD_TEST_GMSSL_PYTHON").ok()?;
    let out = Command::new(python)
        .arg("-c")
        .arg(
            "import sys, gmssl_pyx as g; a = [bytes.fromhex(x) for x in sys.argv[1:]]; \
             print('1' if g.sm2_verify(a[0], a[1], a[2]) else '0')",
        )
        .arg(hex::encode(&spki[spki.len() - 64..])) // x || y
        .arg(hex::encode(msg))
        .arg(hex::encode(sig))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).trim() == "1")
}

pub fn der_tlv(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(body);
    out
}

pub fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    der_tlv(0x30, &parts.concat())
}
