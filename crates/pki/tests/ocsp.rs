//! The OCSP responder against Debian's `openssl` 3.0 as an independent client: OpenSSL makes
//! the CA, responder and leaf certificates and the requests, and reads (and, for RSA,
//! verifies) our responses, including over HTTP where it checks its own nonce.
//!
//! SM2 limitation (OpenSSL 3.0): `openssl ocsp` cannot verify an SM2 response signed with
//! the GM/T 0009 default signer ID `1234567812345678` (what govcloud and GM/T
//! implementations use). OpenSSL 3.0 verifies OCSP response signatures *and* the responder's
//! certificate chain with an empty SM2 ID, and `openssl ocsp` has no `-vfyopt distid:`
//! option: our response fails with `ocsp_verify:signature failure`; a response OpenSSL signs
//! itself without an ID gets past the signature but fails at the chain (`certificate
//! signature failure`, the certificates being signed with the standard ID), and one it signs
//! with `-rsigopt distid:1234567812345678` fails like ours. See
//! `openssl_cannot_verify_sm2_ocsp_with_the_standard_id`. So the SM2 tests let
//! `openssl ocsp` read the statuses and check the nonce with signature and chain checks off,
//! and check the signature with `openssl dgst -sm3 -sigopt distid:1234567812345678` over
//! the tbsResponseData (extracted by a DER walk written here), with
//! `govcloud_pki::verify_signature`, and with GmSSL when `GOVCLOUD_TEST_GMSSL_PYTHON` names a
//! Python with PyPI `gmssl-pyx` (as `.ci/run` sets up).

mod common;

use common::*;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use govcloud_crypto::{sm2_private_scalar_from_pem, KeyKind, MasterKey, Provider, SoftProvider};
use govcloud_pki::ocsp::{
    build_response, error_response, issued_by, parse_request, CertId, ErrorStatus, SingleStatus,
    Status,
};
use govcloud_pki::{PkiError, ProviderSigner, SigAlg, Signer};

/// A CA, a delegated responder (EKU OCSPSigning) and two leaves (serials 0x1001, 0x1002),
/// all made by OpenSSL.
struct Pki {
    dir: tempfile::TempDir,
    kind: Kind,
}

const EXT: &str = "\
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[ocsp]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=OCSPSigning
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
[leaf]
basicConstraints=CA:FALSE
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
";

impl Pki {
    fn new(kind: Kind) -> Pki {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ext.cnf"), EXT).unwrap();
        let (label, keyopts, digest, vfy) = match kind {
            Kind::Sm2 => (
                "SM2",
                "-algorithm EC -pkeyopt ec_paramgen_curve:SM2",
                format!("-sm3 -sigopt {DISTID}"),
                format!("-vfyopt {DISTID}"),
            ),
            Kind::Rsa => (
                "RSA",
                "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
                "-sha256".to_owned(),
                String::new(),
            ),
        };
        for name in ["ca", "responder", "leaf1", "leaf2"] {
            ok(d, &format!("genpkey {keyopts} -out {name}.key"));
        }
        ok(
            d,
            &format!(
                "req -new -x509 -key ca.key -subj /C=CN/O=govcloud/CN={label}_Root_CA -days 30 \
                 -config ext.cnf -extensions ca -out ca.pem {digest}"
            ),
        );
        for (name, ext, serial) in [
            ("responder", "ocsp", "0x64"),
            ("leaf1", "leaf", "0x1001"),
            ("leaf2", "leaf", "0x1002"),
        ] {
            ok(
                d,
                &format!(
                    "req -new -key {name}.key -subj /C=CN/O=govcloud/CN={label}_{name} \
                     -out {name}.csr {digest}"
                ),
            );
            ok(
                d,
                &format!(
                    "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial {serial} \
                     -days 30 -extfile ext.cnf -extensions {ext} -out {name}.pem {digest} {vfy}"
                ),
            );
            ok(d, &format!("verify -CAfile ca.pem {vfy} {name}.pem"));
        }
        ok(
            d,
            "x509 -in responder.pem -pubkey -noout -out responder.pub.pem",
        );
        Pki { dir, kind }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn der(&self, pem: &str) -> Vec<u8> {
        ok(
            self.path(),
            &format!("x509 -in {pem} -outform DER -out {pem}.der"),
        );
        std::fs::read(self.path().join(format!("{pem}.der"))).unwrap()
    }

    /// The responder's key, imported into a software provider.
    fn signer(&self) -> ProviderSigner {
        let p = SoftProvider::new(MasterKey::generate().unwrap());
        let d = self.path();
        let (kind, material) = match self.kind {
            Kind::Sm2 => {
                let pem = std::fs::read_to_string(d.join("responder.key")).unwrap();
                let scalar = sm2_private_scalar_from_pem(&pem).unwrap();
                (KeyKind::Sm2Sign, scalar.to_vec())
            }
            Kind::Rsa => {
                ok(
                    d,
                    "pkcs8 -topk8 -nocrypt -in responder.key -outform DER -out responder.p8",
                );
                let p8 = std::fs::read(d.join("responder.p8")).unwrap();
                (KeyKind::Rsa2048, p8)
            }
        };
        let k = p.import_key(kind, b"ocsp/1", &material).unwrap();
        ProviderSigner {
            provider: Arc::new(p),
            kind: k.kind,
            binding: k.binding,
            blob: k.blob,
        }
    }

    /// What a responder for this CA answers: 0x1001 good, 0x1002 revoked (keyCompromise,
    /// 2026-01-01), any other serial or another issuer unknown; the nonce echoed.
    fn answer(&self, request: &[u8], signer: &dyn Signer, now: SystemTime) -> Vec<u8> {
        let req = parse_request(request).unwrap();
        let ca = self.der("ca.pem");
        let responses: Vec<SingleStatus> = req
            .cert_ids
            .iter()
            .map(|id| SingleStatus {
                cert_id: id.clone(),
                status: status_for(id, &ca),
                this_update: now - Duration::from_secs(60),
                next_update: Some(now + Duration::from_secs(86400)),
            })
            .collect();
        let responder = self.der("responder.pem");
        build_response(signer, &responder, now, &responses, req.nonce.as_deref()).unwrap()
    }

    /// An OpenSSL request about leaf1, leaf2 and serial 0x9999; `extra` goes before the
    /// certificates (a digest must).
    fn request(&self, extra: &str) -> Vec<u8> {
        ok(
            self.path(),
            &format!(
                "ocsp -issuer ca.pem {extra} -cert leaf1.pem -cert leaf2.pem -serial 0x9999 \
                 -reqout req.der"
            ),
        );
        std::fs::read(self.path().join("req.der")).unwrap()
    }
}

const REVOKED_AT: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn status_for(id: &CertId, ca: &[u8]) -> Status {
    if !issued_by(id, ca).unwrap() {
        return Status::Unknown;
    }
    match id.serial.as_slice() {
        [0x10, 0x01] => Status::Good,
        [0x10, 0x02] => Status::Revoked {
            at: UNIX_EPOCH + Duration::from_secs(REVOKED_AT),
            reason: Some(1),
        },
        _ => Status::Unknown,
    }
}

/// What `openssl ocsp` prints about the three certificates of [`Pki::request`].
#[track_caller]
fn assert_statuses(out: &str) {
    for expected in [
        "leaf1.pem: good",
        "leaf2.pem: revoked",
        "Reason: keyCompromise",
        "Revocation Time: Jan  1 00:00:00 2026 GMT",
        "0x9999: unknown",
    ] {
        assert!(out.contains(expected), "{expected}: {out}");
    }
}

/// tbsResponseData (DER) and the signature of a successful OCSPResponse.
fn tbs_and_signature(resp: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let top = children(resp);
    assert_eq!(top[0], [0x0a, 0x01, 0x00], "successful");
    let response_bytes = children(content(top[1])); // [0] EXPLICIT ResponseBytes
    let parts = children(content(response_bytes[1])); // OCTET STRING → BasicOCSPResponse
    let sig = content(parts[2]);
    assert_eq!(sig[0], 0, "no unused bits");
    (parts[0].to_vec(), sig[1..].to_vec())
}

/// A one-shot HTTP/1.0 OCSP responder on loopback: `openssl ocsp -url` is the client, so
/// OpenSSL makes the request with a fresh nonce and checks the echo itself.
fn serve_once(
    handler: impl FnOnce(&[u8]) -> Vec<u8> + Send + 'static,
) -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let (head_end, len) = loop {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed early");
            buf.extend_from_slice(&chunk[..n]);
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
                assert!(head.starts_with("post "), "{head}");
                assert!(head.contains("application/ocsp-request"), "{head}");
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .unwrap()
                    .trim()
                    .parse()
                    .unwrap();
                break (p + 4, len);
            }
        };
        while buf.len() < head_end + len {
            let n = s.read(&mut chunk).unwrap();
            assert!(n > 0);
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = handler(&buf[head_end..head_end + len]);
        let mut reply = format!(
            "HTTP/1.0 200 OK\r\nContent-Type: application/ocsp-response\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        reply.extend_from_slice(&body);
        s.write_all(&reply).unwrap();
    });
    (url, t)
}

/// `openssl ocsp` as a client of a one-shot responder for `pki`, with `flags`.
fn roundtrip(pki: Pki, flags: &str) -> String {
    let now = SystemTime::now();
    let pki = Arc::new(pki);
    let p2 = Arc::clone(&pki);
    let (url, t) = serve_once(move |body| p2.answer(body, &p2.signer(), now));
    let out = ok(
        pki.path(),
        &format!(
            "ocsp -issuer ca.pem -cert leaf1.pem -cert leaf2.pem -serial 0x9999 -url {url} \
             -nonce {flags}"
        ),
    );
    t.join().unwrap();
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(!out.contains("Nonce Verify error"), "{out}");
    assert!(!out.contains("WARNING: no nonce"), "{out}");
    assert_statuses(&out);
    out
}

#[test]
fn rsa_responses_verify_in_openssl() {
    let pki = Pki::new(Kind::Rsa);
    let d = pki.path();
    let signer = pki.signer();
    assert_eq!(signer.alg(), SigAlg::RsaSha256);

    // A request from OpenSSL, answered and checked from files.
    let req_der = pki.request("-nonce");
    let req = parse_request(&req_der).unwrap();
    assert_eq!(req.cert_ids.len(), 3);
    assert_eq!(req.cert_ids[0].hash_alg, govcloud_pki::OID_SHA1);
    assert_eq!(req.cert_ids[0].serial, [0x10, 0x01]);
    assert_eq!(req.cert_ids[2].serial, [0x99, 0x99]);
    let nonce = req.nonce.clone().expect("openssl -nonce");
    // OpenSSL wraps its 16 random bytes in an OCTET STRING inside the extension value.
    assert_eq!((nonce[0], nonce[1], nonce.len()), (0x04, 0x10, 18));

    let resp = pki.answer(&req_der, &signer, SystemTime::now());
    std::fs::write(d.join("resp.der"), &resp).unwrap();
    let out = ok(
        d,
        "ocsp -respin resp.der -issuer ca.pem -CAfile ca.pem -cert leaf1.pem -cert leaf2.pem \
         -serial 0x9999 -no_nonce -resp_text",
    );
    assert!(out.contains("Response verify OK"), "{out}");
    assert!(out.contains("Responder Id: "), "{out}");
    assert!(
        out.contains("Signature Algorithm: sha256WithRSAEncryption"),
        "{out}"
    );
    assert_statuses(&out);
    assert!(
        out.contains(&hex::encode_upper(&nonce)),
        "nonce echoed: {out}"
    );

    // A tampered response fails OpenSSL's signature check.
    let mut bad = resp.clone();
    let n = bad.len();
    bad[n / 3] ^= 0x01;
    std::fs::write(d.join("bad.der"), &bad).unwrap();
    let (_, out) = openssl(
        d,
        "ocsp -respin bad.der -issuer ca.pem -CAfile ca.pem -cert leaf1.pem -no_nonce",
    );
    assert!(!out.contains("Response verify OK"), "{out}");

    // The full client flow over HTTP: OpenSSL sends its own nonce and checks the echo and
    // the signature.
    roundtrip(pki, "-CAfile ca.pem");
}

#[test]
fn sm2_responses_read_by_openssl_and_signatures_checked_with_the_standard_id() {
    let pki = Pki::new(Kind::Sm2);
    let d = pki.path();
    let signer = pki.signer();
    assert_eq!(signer.alg(), SigAlg::Sm2Sm3);

    let req_der = pki.request("-nonce");
    let req = parse_request(&req_der).unwrap();
    assert_eq!(req.cert_ids.len(), 3);
    let resp = pki.answer(&req_der, &signer, SystemTime::now());
    std::fs::write(d.join("resp.der"), &resp).unwrap();

    // Statuses and the nonce, read by OpenSSL (no signature check: see the module comment).
    let out = ok(
        d,
        "ocsp -respin resp.der -issuer ca.pem -cert leaf1.pem -cert leaf2.pem -serial 0x9999 \
         -no_nonce -noverify -resp_text",
    );
    assert!(out.contains("Signature Algorithm: SM2-with-SM3"), "{out}");
    assert_statuses(&out);
    let nonce = req.nonce.as_ref().unwrap();
    assert!(
        out.contains(&hex::encode_upper(nonce)),
        "nonce echoed: {out}"
    );

    // The signature, checked by OpenSSL with the standard ID over the tbsResponseData,
    // and by govcloud's verifier.
    let (tbs, sig) = tbs_and_signature(&resp);
    std::fs::write(d.join("tbs.der"), &tbs).unwrap();
    std::fs::write(d.join("sig.der"), &sig).unwrap();
    let out = ok(
        d,
        &format!("dgst -sm3 -verify responder.pub.pem -sigopt {DISTID} -signature sig.der tbs.der"),
    );
    assert!(out.contains("Verified OK"), "{out}");
    ok(
        d,
        "pkey -pubin -in responder.pub.pem -outform DER -out responder.spki",
    );
    let spki = std::fs::read(d.join("responder.spki")).unwrap();
    assert!(govcloud_pki::verify_signature(SigAlg::Sm2Sm3, &spki, &tbs, &sig).unwrap());
    let mut other = tbs.clone();
    let n = other.len();
    other[n - 1] ^= 1;
    assert!(!govcloud_pki::verify_signature(SigAlg::Sm2Sm3, &spki, &other, &sig).unwrap());

    match gmssl_verify(&spki, &tbs, &sig) {
        Some(verdict) => {
            assert!(verdict, "GmSSL rejects the response signature");
            assert_eq!(gmssl_verify(&spki, &other, &sig), Some(false));
            eprintln!("GmSSL verified the SM2 response signature");
        }
        None => eprintln!("GOVCLOUD_TEST_GMSSL_PYTHON is not set: GmSSL check skipped"),
    }

    // The client flow over HTTP: OpenSSL's own nonce is echoed (nonce checked; SM2
    // signature and chain checks off).
    roundtrip(pki, "-no_signature_verify -no_cert_verify");
}

/// Evidence for the module comment.
#[test]
fn openssl_cannot_verify_sm2_ocsp_with_the_standard_id() {
    let pki = Pki::new(Kind::Sm2);
    let d = pki.path();
    let verify = "ocsp -respin resp.der -issuer ca.pem -CAfile ca.pem -cert leaf1.pem -no_nonce";

    // Ours: the response signature check fails.
    let req_der = pki.request("");
    let resp = pki.answer(&req_der, &pki.signer(), SystemTime::now());
    std::fs::write(d.join("resp.der"), &resp).unwrap();
    let (_, out) = openssl(d, verify);
    eprintln!("openssl ocsp, our SM2 response:\n{out}");
    if out.contains("Response verify OK") {
        eprintln!("this OpenSSL verifies SM2 OCSP responses with the standard ID");
        return;
    }
    assert!(out.contains("ocsp_verify:signature failure"), "{out}");

    // OpenSSL's own responder signing with the standard ID: the same failure.
    std::fs::write(
        d.join("index.txt"),
        "V\t301231000000Z\t\t1001\tunknown\t/CN=leaf1\n",
    )
    .unwrap();
    let respond = "ocsp -index index.txt -CA ca.pem -rsigner responder.pem -rkey responder.key \
                   -reqin req.der -respout resp.der";
    ok(d, &format!("{respond} -rsigopt {DISTID}"));
    let (_, out) = openssl(d, verify);
    eprintln!("openssl ocsp, OpenSSL's SM2 response with the standard ID:\n{out}");
    assert!(out.contains("ocsp_verify:signature failure"), "{out}");

    // OpenSSL's own responder signing without an ID: past the signature, the chain fails.
    ok(d, respond);
    let (_, out) = openssl(d, verify);
    eprintln!("openssl ocsp, OpenSSL's SM2 response without an ID:\n{out}");
    assert!(!out.contains("ocsp_verify:signature failure"), "{out}");
    assert!(out.contains("certificate signature failure"), "{out}");

    // And our signature is over the standard ID: `dgst` without an ID rejects it.
    let (tbs, sig) = tbs_and_signature(&resp);
    std::fs::write(d.join("tbs.der"), &tbs).unwrap();
    std::fs::write(d.join("sig.der"), &sig).unwrap();
    let (verified, out) = openssl(
        d,
        "dgst -sm3 -verify responder.pub.pem -signature sig.der tbs.der",
    );
    assert!(!verified && out.contains("Verification failure"), "{out}");
}

#[test]
fn issued_by_matches_name_and_key_hashes() {
    let sm2 = Pki::new(Kind::Sm2);
    let rsa = Pki::new(Kind::Rsa);
    let sm2_ca = sm2.der("ca.pem");
    let rsa_ca = rsa.der("ca.pem");
    for (digest, oid) in [
        ("-sha1", govcloud_pki::OID_SHA1),
        ("-sha256", govcloud_pki::OID_SHA256),
        ("-sm3", govcloud_pki::OID_SM3),
    ] {
        let req = parse_request(&sm2.request(digest)).unwrap();
        let id = &req.cert_ids[0];
        assert_eq!(id.hash_alg, oid);
        assert!(issued_by(id, &sm2_ca).unwrap(), "{digest}");
        assert!(!issued_by(id, &rsa_ca).unwrap(), "{digest}");
        // another hash algorithm is not understood: no match rather than an error
        let mut odd = id.clone();
        odd.hash_alg = der::asn1::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
        assert!(!issued_by(&odd, &sm2_ca).unwrap());
    }
    let req = parse_request(&rsa.request("-sha256")).unwrap();
    assert!(issued_by(&req.cert_ids[1], &rsa_ca).unwrap());
    assert!(!issued_by(&req.cert_ids[1], &sm2_ca).unwrap());
    assert!(matches!(
        issued_by(&req.cert_ids[1], b"not a certificate"),
        Err(PkiError::Malformed { .. })
    ));

    // An SM3 CertID comes back as OpenSSL sent it: OpenSSL matches it.
    let d = sm2.path();
    let resp = sm2.answer(&sm2.request("-sm3"), &sm2.signer(), SystemTime::now());
    std::fs::write(d.join("resp.der"), resp).unwrap();
    let out = ok(
        d,
        "ocsp -respin resp.der -issuer ca.pem -sm3 -cert leaf1.pem -cert leaf2.pem \
         -serial 0x9999 -no_nonce -noverify",
    );
    assert_statuses(&out);
}

#[test]
fn error_responses_are_read_by_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (status, text) in [
        (ErrorStatus::MalformedRequest, "malformedrequest (1)"),
        (ErrorStatus::InternalError, "internalerror (2)"),
        (ErrorStatus::TryLater, "trylater (3)"),
        (ErrorStatus::SigRequired, "sigrequired (5)"),
        (ErrorStatus::Unauthorized, "unauthorized (6)"),
    ] {
        std::fs::write(d.join("err.der"), error_response(status)).unwrap();
        let (_, out) = openssl(d, "ocsp -respin err.der -resp_text -noverify");
        assert!(out.contains(&format!("Responder Error: {text}")), "{out}");
    }
}

// --- hand-made DER for requests OpenSSL will not make ----------------------------------

/// sha1 OID, DER.
fn sha1_alg() -> Vec<u8> {
    seq(&[
        vec![0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a],
        vec![0x05, 0x00],
    ])
}

fn cert_id(serial: &[u8]) -> Vec<u8> {
    seq(&[
        sha1_alg(),
        der_tlv(0x04, &[0x11; 20]),
        der_tlv(0x04, &[0x22; 20]),
        der_tlv(0x02, serial),
    ])
}

fn request(n: usize, extensions: Option<Vec<u8>>) -> Vec<u8> {
    request_for(
        (0..n).map(|i| cert_id(&[0x01, (i % 128) as u8])).collect(),
        extensions,
    )
}

fn request_for(cert_ids: Vec<Vec<u8>>, extensions: Option<Vec<u8>>) -> Vec<u8> {
    let list: Vec<Vec<u8>> = cert_ids.into_iter().map(|c| seq(&[c])).collect();
    let mut tbs = vec![seq(&list)];
    if let Some(e) = extensions {
        tbs.push(der_tlv(0xa2, &e));
    }
    seq(&[seq(&tbs)])
}

fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let mut parts = vec![der_tlv(0x06, oid)];
    if critical {
        parts.push(vec![0x01, 0x01, 0xff]);
    }
    parts.push(der_tlv(0x04, value));
    seq(&parts)
}

const NONCE_OID: [u8; 9] = [0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02];

#[test]
fn limits_and_extensions() {
    // 64 requests are fine, 65 are too many.
    assert_eq!(
        parse_request(&request(64, None)).unwrap().cert_ids.len(),
        64
    );
    assert!(matches!(
        parse_request(&request(65, None)),
        Err(PkiError::Rejected(_))
    ));
    assert!(matches!(
        parse_request(&request(0, None)),
        Err(PkiError::Malformed { .. })
    ));
    // A nonce is kept verbatim, critical or not; an unknown critical extension is refused,
    // an unknown non-critical one ignored.
    let nonce = der_tlv(0x04, &[7; 32]);
    let r = parse_request(&request(
        1,
        Some(seq(&[extension(&NONCE_OID, true, &nonce)])),
    ))
    .unwrap();
    assert_eq!(r.nonce.as_deref(), Some(&nonce[..]));
    let unknown = [0x2a, 0x03, 0x04];
    assert!(matches!(
        parse_request(&request(1, Some(seq(&[extension(&unknown, true, b"x")])))),
        Err(PkiError::Rejected(_))
    ));
    let r = parse_request(&request(1, Some(seq(&[extension(&unknown, false, b"x")])))).unwrap();
    assert_eq!(r.nonce, None);
    // Nonces: too long (RFC 8954), empty, repeated.
    let long = der_tlv(0x04, &[7; 64]);
    assert!(parse_request(&request(
        1,
        Some(seq(&[extension(&NONCE_OID, false, &long)]))
    ))
    .is_err());
    assert!(parse_request(&request(1, Some(seq(&[extension(&NONCE_OID, false, b"")])))).is_err());
    let twice = seq(&[
        extension(&NONCE_OID, false, &nonce),
        extension(&NONCE_OID, false, &nonce),
    ]);
    assert!(parse_request(&request(1, Some(twice))).is_err());
    // A negative serial number is not a certificate's; a positive one comes back without
    // its sign byte.
    assert!(parse_request(&request_for(vec![cert_id(&[0x80, 0x01])], None)).is_err());
    let r = parse_request(&request_for(vec![cert_id(&[0x00, 0x80, 0x01])], None)).unwrap();
    assert_eq!(r.cert_ids[0].serial, [0x80, 0x01]);
    // Non-minimal INTEGER encodings are not DER.
    assert!(parse_request(&request_for(vec![cert_id(&[0x00, 0x01])], None)).is_err());
    // A hash algorithm nobody knows still parses (the CertID just matches no issuer).
    let odd = seq(&[
        seq(&[der_tlv(0x06, &[0x2a, 0x03, 0x04])]),
        der_tlv(0x04, &[0x11; 20]),
        der_tlv(0x04, &[0x22; 20]),
        der_tlv(0x02, &[0x05]),
    ]);
    let r = parse_request(&request_for(vec![odd], None)).unwrap();
    assert_eq!(r.cert_ids[0].hash_alg.to_string(), "1.2.3.4");
    // A signed request: the signature is accepted and ignored.
    let sig = seq(&[sha1_alg(), der_tlv(0x03, &[0x00, 0x01, 0x02])]);
    let mut signed = children(&request(1, None))[0].to_vec();
    signed = seq(&[signed, der_tlv(0xa0, &sig)]);
    assert_eq!(parse_request(&signed).unwrap().cert_ids.len(), 1);
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    let pki = Pki::new(Kind::Rsa);
    let good = pki.request("-nonce");
    assert!(parse_request(&good).is_ok());
    assert!(parse_request(&[]).is_err());
    // every truncation
    for n in 0..good.len() {
        assert!(parse_request(&good[..n]).is_err(), "prefix {n}");
    }
    // trailing garbage
    assert!(parse_request(&[good.clone(), vec![0]].concat()).is_err());
    // wrong outer tag, and every single-byte corruption (errors or not, never a panic)
    let mut wrong = good.clone();
    wrong[0] = 0x31;
    assert!(parse_request(&wrong).is_err());
    for i in 0..good.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= x;
            let _ = parse_request(&b);
        }
    }
    // garbage and huge inputs
    let mut seed = 0x2545f491u32;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    assert!(parse_request(&garbage).is_err());
    assert!(parse_request(&vec![0u8; 10 << 20]).is_err());
    assert!(parse_request(&der_tlv(0x30, &vec![0x30; 1 << 20])).is_err());
    // a length claiming more than there is
    assert!(parse_request(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x30]).is_err());
    // deep nesting
    let mut deep = vec![0x05, 0x00];
    for _ in 0..2000 {
        deep = der_tlv(0x30, &deep);
    }
    assert!(parse_request(&deep).is_err());
    // a CertID whose hash "algorithm" is not an OID
    let not_oid = seq(&[
        seq(&[der_tlv(0x04, b"sha1")]),
        der_tlv(0x04, &[0x11; 20]),
        der_tlv(0x04, &[0x22; 20]),
        der_tlv(0x02, &[0x05]),
    ]);
    assert!(matches!(
        parse_request(&request_for(vec![not_oid], None)),
        Err(PkiError::Malformed { .. })
    ));
    // an OCSP response is not a request
    assert!(parse_request(&error_response(ErrorStatus::TryLater)).is_err());
}

#[test]
fn build_response_refuses_mistakes() {
    let pki = Pki::new(Kind::Rsa);
    let signer = pki.signer();
    let req = parse_request(&pki.request("")).unwrap();
    let now = SystemTime::now();
    let single = |status| SingleStatus {
        cert_id: req.cert_ids[0].clone(),
        status,
        this_update: now,
        next_update: None,
    };
    let responder = pki.der("responder.pem");
    // CRLReason 7 is unused, 11 does not exist
    for reason in [7, 11] {
        let s = single(Status::Revoked {
            at: now,
            reason: Some(reason),
        });
        assert!(build_response(&signer, &responder, now, &[s], None).is_err());
    }
    // no status at all, a certificate that is not one, the wrong kind of key
    assert!(build_response(&signer, &responder, now, &[], None).is_err());
    assert!(build_response(&signer, b"junk", now, &[single(Status::Good)], None).is_err());
    let sm2 = Pki::new(Kind::Sm2);
    assert!(build_response(
        &signer,
        &sm2.der("responder.pem"),
        now,
        &[single(Status::Good)],
        None
    )
    .is_err());
    // a revocation without a reason
    let r = build_response(
        &signer,
        &responder,
        now,
        &[single(Status::Revoked {
            at: now,
            reason: None,
        })],
        None,
    )
    .unwrap();
    std::fs::write(pki.path().join("r.der"), r).unwrap();
    let out = ok(
        pki.path(),
        "ocsp -respin r.der -issuer ca.pem -CAfile ca.pem -cert leaf1.pem -no_nonce",
    );
    assert!(
        out.contains("Response verify OK") && out.contains("leaf1.pem: revoked"),
        "{out}"
    );
    assert!(!out.contains("Reason:"), "{out}");
}
