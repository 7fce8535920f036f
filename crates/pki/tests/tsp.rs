//! The RFC 3161 time-stamp authority against Debian's `openssl` 3.0: OpenSSL makes the CAs,
//! the TSA certificates and the queries, reads our responses and verifies our RSA tokens
//! (`openssl ts -verify`); its own RSA tokens verify with `verify_token`.
//!
//! SM2 limitation (OpenSSL 3.0): OpenSSL 3.0 cannot verify an SM2 token, and cannot make
//! one. `openssl ts -verify` on our SM2 token fails at the chain (`certificate signature
//! failure`: OpenSSL checks certificate signatures with an empty SM2 ID and `ts` has no
//! `-vfyopt`); given a chain OpenSSL signed without an ID, it fails at the token signature
//! (`PKCS7_signatureVerify:signature failure`, whether the SignerInfo names sm2sign
//! 1.2.156.10197.1.301.1 or sm2-with-sm3 1.2.156.10197.1.501); and `openssl ts -reply`
//! with an SM2 key fails with `PKCS7_SIGNER_INFO_set:signing not supported for this key
//! type`. See `openssl_cannot_verify_sm2_tokens`. So the SM2 token is read by
//! `openssl ts -reply -text`, and its SignerInfo is checked piece by piece with OpenSSL's
//! primitives on parts extracted by a DER walk written here: the signature over the signed
//! attributes with `openssl dgst -sm3 -sigopt distid:1234567812345678`, the messageDigest
//! attribute against `openssl dgst -sm3` of the TSTInfo, the ESS certificate hash against
//! `openssl dgst -sha256` of the TSA certificate. When `GOVCLOUD_TEST_GMSSL_PYTHON` names a
//! Python with PyPI `gmssl-pyx` (as `.ci/run` sets up), GmSSL checks the signature too.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::asn1::ObjectIdentifier;
use govcloud_crypto::{sm2_private_scalar_from_pem, KeyKind, MasterKey, Provider, SoftProvider};
use govcloud_pki::tsp::{
    build_response, check_policy, parse_request, rejection, verify_token, verify_token_with,
    TimeStampRequest, TokenParams, TspError,
};
use govcloud_pki::{PkiError, ProviderSigner, SigAlg, Signer};

const POLICY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.112233.1.1");
const DATA: &[u8] = "政府采购 招标文件 第三包：时间戳".as_bytes();

const EXT: &str = "\
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[tsa]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
extendedKeyUsage=critical,timeStamping
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid:always
";

/// A CA and two TSA certificates made by OpenSSL: `tsa` (serial 7) and `tsa2` (another
/// key, serial 8), plus `twin` (tsa2's key under tsa's issuer and serial).
struct Tsa {
    dir: tempfile::TempDir,
    kind: Kind,
}

impl Tsa {
    fn new(kind: Kind) -> Tsa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("ext.cnf"), EXT).unwrap();
        std::fs::write(d.join("data"), DATA).unwrap();
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
        for name in ["ca", "tsa", "tsa2"] {
            ok(d, &format!("genpkey {keyopts} -out {name}.key"));
        }
        ok(
            d,
            &format!(
                "req -new -x509 -key ca.key -subj /C=CN/O=govcloud/CN={label}_Root_CA -days 30 \
                 -config ext.cnf -extensions ca -out ca.pem {digest}"
            ),
        );
        for (name, key, serial) in [("tsa", "tsa", 7), ("tsa2", "tsa2", 8), ("twin", "tsa2", 7)] {
            ok(
                d,
                &format!(
                    "req -new -key {key}.key -subj /C=CN/O=govcloud/CN={label}_TSA \
                     -out {name}.csr {digest}"
                ),
            );
            ok(
                d,
                &format!(
                    "x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -set_serial {serial} \
                     -days 30 -extfile ext.cnf -extensions tsa -out {name}.pem {digest} {vfy}"
                ),
            );
            ok(
                d,
                &format!("verify -CAfile ca.pem {vfy} -purpose timestampsign {name}.pem"),
            );
            ok(
                d,
                &format!("x509 -in {name}.pem -outform DER -out {name}.der"),
            );
        }
        ok(d, "x509 -in ca.pem -outform DER -out ca.der");
        ok(d, "x509 -in tsa.pem -pubkey -noout -out tsa.pub.pem");
        Tsa { dir, kind }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path().join(file)).unwrap()
    }

    fn write(&self, file: &str, bytes: &[u8]) {
        std::fs::write(self.path().join(file), bytes).unwrap()
    }

    /// The key of `tsa.pem`, imported into a software provider.
    fn signer(&self) -> ProviderSigner {
        let p = SoftProvider::new(MasterKey::generate().unwrap());
        let d = self.path();
        let (kind, material) = match self.kind {
            Kind::Sm2 => {
                let pem = std::fs::read_to_string(d.join("tsa.key")).unwrap();
                let scalar = sm2_private_scalar_from_pem(&pem).unwrap();
                (KeyKind::Sm2Sign, scalar.to_vec())
            }
            Kind::Rsa => {
                ok(
                    d,
                    "pkcs8 -topk8 -nocrypt -in tsa.key -outform DER -out tsa.p8",
                );
                (KeyKind::Rsa2048, self.read("tsa.p8"))
            }
        };
        let k = p.import_key(kind, b"tsa/1", &material).unwrap();
        ProviderSigner {
            provider: Arc::new(p),
            kind: k.kind,
            binding: k.binding,
            blob: k.blob,
        }
    }

    /// An OpenSSL query over `data` with `flags` (a digest, `-cert`, `-no_nonce`, …).
    fn query(&self, flags: &str) -> Vec<u8> {
        ok(
            self.path(),
            &format!("ts -query -data data {flags} -out req.tsq"),
        );
        self.read("req.tsq")
    }

    /// Our answer to `req` (certificate `cert`), written to `resp.tsr`.
    fn respond(&self, req: &TimeStampRequest, cert: &str, gen_time: SystemTime) -> Vec<u8> {
        let tsa = self.read(cert);
        let chain = vec![self.read("ca.der")];
        let params = TokenParams {
            policy: POLICY,
            serial: 42,
            gen_time,
            accuracy_millis: 1500,
            tsa_cert_der: &tsa,
            extra_certs: &chain,
        };
        let resp = build_response(&self.signer(), req, &params).unwrap();
        self.write("resp.tsr", &resp);
        resp
    }
}

/// A time with milliseconds (GeneralizedTime in the token keeps them).
fn now_millis() -> SystemTime {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    // avoid a whole second, so that the fraction shows
    let ms = (d.as_millis() as u64 / 1000) * 1000 + 123;
    UNIX_EPOCH + Duration::from_millis(ms)
}

fn sha256(data: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(data).to_vec()
}

#[test]
fn rsa_tokens_verify_in_openssl() {
    let tsa = Tsa::new(Kind::Rsa);
    let d = tsa.path();
    assert_eq!(tsa.signer().alg(), SigAlg::RsaSha256);

    let query = tsa.query("-sha256 -cert");
    let req = parse_request(&query).unwrap();
    assert_eq!(req.hash_alg, govcloud_pki::OID_SHA256);
    assert_eq!(req.hashed_message, sha256(DATA));
    assert!(req.cert_req);
    assert_eq!(req.policy, None);
    let nonce = req.nonce.clone().expect("openssl sends a nonce");
    assert!(!nonce.is_empty() && nonce.len() <= 8);

    let gen_time = now_millis();
    let resp = tsa.respond(&req, "tsa.der", gen_time);
    // the MessageImprint is OpenSSL's, byte for byte
    let imprint = children(&query)[1];
    let tst_info = token_parts(&resp).tst_info;
    assert!(tst_info.windows(imprint.len()).any(|w| w == imprint));
    let text = ok(d, "ts -reply -in resp.tsr -text");
    for expected in [
        "Status: Granted.".to_owned(),
        "Policy OID: 1.2.156.112233.1.1".to_owned(),
        "Hash Algorithm: sha256".to_owned(),
        "Serial number: 0x2A".to_owned(),
        ".123 ".to_owned(), // genTime with milliseconds
        "Accuracy: 0x01 seconds, 0x01F4 millis, unspecified micros".to_owned(),
        "Ordering: no".to_owned(),
        format!("Nonce: 0x{}", hex::encode_upper(&nonce)),
        "TSA: DirName:/C=CN/O=govcloud/CN=RSA_TSA".to_owned(),
    ] {
        assert!(text.contains(&expected), "{expected}: {text}");
    }

    // OpenSSL verifies the token against the data, and against the query (nonce, imprint).
    let out = ok(
        d,
        "ts -verify -data data -in resp.tsr -CAfile ca.pem -untrusted tsa.pem",
    );
    assert!(out.contains("Verification: OK"), "{out}");
    let out = ok(
        d,
        "ts -verify -queryfile req.tsq -in resp.tsr -CAfile ca.pem",
    );
    assert!(out.contains("Verification: OK"), "{out}");
    // … and notices other data.
    std::fs::write(d.join("other"), b"other data").unwrap();
    let (verified, out) = openssl(d, "ts -verify -data other -in resp.tsr -CAfile ca.pem");
    assert!(!verified && out.contains("Verification: FAILED"), "{out}");

    // Our verifier agrees.
    let v = verify_token(&resp, DATA).unwrap();
    assert_eq!(v.gen_time, gen_time);
    assert_eq!(v.serial, 42);
    assert_eq!(v.policy, POLICY);
    assert_eq!(v.hash_alg, govcloud_pki::OID_SHA256);
    assert_eq!(v.hashed_message, sha256(DATA));
    assert_eq!(v.nonce.as_deref(), Some(&nonce[..]));
    assert_eq!(v.tsa_cert_der, tsa.read("tsa.der"));
    assert_eq!(v.alg, SigAlg::RsaSha256);
    assert!(matches!(
        verify_token(&resp, b"other data"),
        Err(PkiError::Rejected(_))
    ));

    // No certificates asked for, no nonce: OpenSSL needs the TSA certificate given, so
    // does our verifier.
    let req = parse_request(&tsa.query("-sha256 -no_nonce")).unwrap();
    assert!(!req.cert_req && req.nonce.is_none());
    let resp = tsa.respond(&req, "tsa.der", gen_time);
    let out = ok(
        d,
        "ts -verify -queryfile req.tsq -in resp.tsr -CAfile ca.pem -untrusted tsa.pem",
    );
    assert!(out.contains("Verification: OK"), "{out}");
    assert!(matches!(
        verify_token(&resp, DATA),
        Err(PkiError::Rejected(_))
    ));
    let v = verify_token_with(&resp, DATA, Some(&tsa.read("tsa.der"))).unwrap();
    assert_eq!(v.nonce, None);

    // SHA-384 and SHA-512 imprints.
    for (flag, len) in [("-sha384", 48), ("-sha512", 64)] {
        let req = parse_request(&tsa.query(&format!("{flag} -cert"))).unwrap();
        assert_eq!(req.hashed_message.len(), len);
        let resp = tsa.respond(&req, "tsa.der", gen_time);
        let out = ok(
            d,
            "ts -verify -queryfile req.tsq -in resp.tsr -CAfile ca.pem",
        );
        assert!(out.contains("Verification: OK"), "{flag}: {out}");
        verify_token(&resp, DATA).unwrap();
    }
}

/// The parts of a granted TimeStampResp's token that a verifier needs, found by walking
/// the DER by hand.
struct TokenParts {
    tst_info: Vec<u8>,
    /// The signed attributes re-tagged as a SET (0x31), as they are signed.
    signed_attrs: Vec<u8>,
    signature: Vec<u8>,
    digest_alg: Vec<u8>,
    sig_alg: Vec<u8>,
    message_digest: Vec<u8>,
    ess_v2_cert_hash: Vec<u8>,
}

fn token_parts(resp: &[u8]) -> TokenParts {
    let top = children(resp);
    let token = top[1]; // ContentInfo
    let sd = content(children(token)[1]); // [0] EXPLICIT SignedData
    let sd = children(sd);
    let eci = children(sd[2]);
    let tst_info = content(content(eci[1])).to_vec(); // [0] EXPLICIT OCTET STRING
    let signer_infos = children(sd.last().unwrap());
    assert_eq!(signer_infos.len(), 1);
    let si = children(signer_infos[0]);
    assert_eq!(si[3][0], 0xa0, "signed attributes");
    let mut signed_attrs = si[3].to_vec();
    signed_attrs[0] = 0x31;
    let attr = |oid: &[u8]| -> Vec<u8> {
        let a = children(&signed_attrs)
            .into_iter()
            .find(|a| content(children(a)[0]) == oid)
            .unwrap();
        content(children(a)[1]).to_vec() // SET OF → the one value
    };
    let md = attr(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x04]);
    let ess = attr(&[
        0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x10, 0x02, 0x2f,
    ]);
    // SigningCertificateV2 { certs { ESSCertIDv2 { certHash, issuerSerial } } }
    let ess_cert_id = children(children(&ess)[0])[0].to_vec();
    let first = children(&ess_cert_id)[0];
    assert_eq!(first[0], 0x04, "hashAlgorithm left at its default, SHA-256");
    TokenParts {
        tst_info,
        signature: content(si[5]).to_vec(),
        digest_alg: si[2].to_vec(),
        sig_alg: si[4].to_vec(),
        message_digest: content(&md).to_vec(),
        ess_v2_cert_hash: content(first).to_vec(),
        signed_attrs,
    }
}

fn openssl_digest(dir: &Path, alg: &str, file: &str) -> Vec<u8> {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(["dgst", alg, "-binary", file])
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

#[test]
fn sm2_tokens_are_checked_with_openssl_primitives() {
    let tsa = Tsa::new(Kind::Sm2);
    let d = tsa.path();
    assert_eq!(tsa.signer().alg(), SigAlg::Sm2Sm3);

    let req = parse_request(&tsa.query("-sm3 -cert")).unwrap();
    assert_eq!(req.hash_alg, govcloud_pki::OID_SM3);
    assert_eq!(req.hashed_message, openssl_digest(d, "-sm3", "data"));
    let gen_time = now_millis();
    let resp = tsa.respond(&req, "tsa.der", gen_time);

    // OpenSSL reads it.
    let text = ok(d, "ts -reply -in resp.tsr -text");
    for expected in [
        "Status: Granted.",
        "Hash Algorithm: sm3",
        "Serial number: 0x2A",
        "TSA: DirName:/C=CN/O=govcloud/CN=SM2_TSA",
    ] {
        assert!(text.contains(expected), "{expected}: {text}");
    }

    // The SignerInfo, checked with OpenSSL's primitives.
    let p = token_parts(&resp);
    // digestAlgorithm SM3, signatureAlgorithm sm2sign (1.2.156.10197.1.301.1)
    assert_eq!(
        p.digest_alg,
        [0x30, 0x0a, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x11]
    );
    assert_eq!(
        p.sig_alg,
        [0x30, 0x0b, 0x06, 0x09, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d, 0x01]
    );
    tsa.write("tst.der", &p.tst_info);
    tsa.write("attrs.der", &p.signed_attrs);
    tsa.write("sig.der", &p.signature);
    assert_eq!(p.message_digest, openssl_digest(d, "-sm3", "tst.der"));
    assert_eq!(p.ess_v2_cert_hash, openssl_digest(d, "-sha256", "tsa.der"));
    let out = ok(
        d,
        &format!("dgst -sm3 -verify tsa.pub.pem -sigopt {DISTID} -signature sig.der attrs.der"),
    );
    assert!(out.contains("Verified OK"), "{out}");
    // the TSTInfo as OpenSSL parses it
    let out = ok(d, "asn1parse -inform DER -in tst.der");
    assert!(out.contains("1.2.156.112233.1.1"), "{out}");
    assert!(out.contains(":sm3"), "{out}");

    // GmSSL, when available, checks the signature too.
    ok(d, "pkey -pubin -in tsa.pub.pem -outform DER -out tsa.spki");
    let spki = tsa.read("tsa.spki");
    match gmssl_verify(&spki, &p.signed_attrs, &p.signature) {
        Some(verdict) => {
            assert!(verdict, "GmSSL rejects the token signature");
            assert_eq!(gmssl_verify(&spki, &p.tst_info, &p.signature), Some(false));
            eprintln!("GmSSL verified the SM2 token signature");
        }
        None => eprintln!("GOVCLOUD_TEST_GMSSL_PYTHON is not set: GmSSL check skipped"),
    }

    // Our verifier.
    let v = verify_token(&resp, DATA).unwrap();
    assert_eq!(v.alg, SigAlg::Sm2Sm3);
    assert_eq!(v.gen_time, gen_time);
    assert_eq!(v.nonce, req.nonce);
    assert_eq!(v.hash_alg, govcloud_pki::OID_SM3);
    assert!(matches!(
        verify_token(&resp, b"other"),
        Err(PkiError::Rejected(_))
    ));
}

/// Evidence for the module comment: OpenSSL 3.0 has no SM2 in PKCS #7.
#[test]
fn openssl_cannot_verify_sm2_tokens() {
    let tsa = Tsa::new(Kind::Sm2);
    let d = tsa.path();
    let req = parse_request(&tsa.query("-sm3 -cert")).unwrap();
    tsa.respond(&req, "tsa.der", now_millis());
    let (verified, out) = openssl(
        d,
        "ts -verify -data data -in resp.tsr -CAfile ca.pem -untrusted tsa.pem",
    );
    eprintln!("openssl ts -verify, our SM2 token:\n{out}");
    if verified && out.contains("Verification: OK") {
        eprintln!("this OpenSSL verifies SM2 time-stamp tokens");
        return;
    }
    assert!(out.contains("Verification: FAILED"), "{out}");
    // That failed at the chain (OpenSSL checks certificate signatures with an empty SM2 ID,
    // `ts -verify` has no `-vfyopt`). With a chain OpenSSL signed without an ID …
    ok(
        d,
        "req -new -x509 -key ca.key -subj /CN=SM2_CA_no_ID -days 30 -config ext.cnf \
         -extensions ca -out ca_noid.pem -sm3",
    );
    ok(
        d,
        "x509 -req -in tsa.csr -CA ca_noid.pem -CAkey ca.key -set_serial 9 -days 30 \
         -extfile ext.cnf -extensions tsa -out tsa_noid.pem -sm3 -vfyopt distid:1234567812345678",
    );
    ok(
        d,
        "verify -CAfile ca_noid.pem -purpose timestampsign tsa_noid.pem",
    );
    ok(d, "x509 -in tsa_noid.pem -outform DER -out tsa_noid.der");
    tsa.respond(&req, "tsa_noid.der", now_millis());
    let (_, out) = openssl(
        d,
        "ts -verify -data data -in resp.tsr -CAfile ca_noid.pem -untrusted tsa_noid.pem",
    );
    eprintln!("openssl ts -verify, our SM2 token, a chain OpenSSL accepts:\n{out}");
    // … it fails at the token's signature (the same with sm2-with-sm3, 1.2.156.10197.1.501,
    // as the SignerInfo signature algorithm).
    assert!(
        out.contains("PKCS7_signatureVerify:signature failure"),
        "{out}"
    );

    // OpenSSL itself cannot make an SM2 token.
    std::fs::write(
        d.join("ts.cnf"),
        "[tsa]\ndefault_tsa = t\n[t]\nserial = ./serial\nsigner_cert = ./tsa.pem\n\
         signer_key = ./tsa.key\nsigner_digest = sm3\ndefault_policy = 1.2.3.4\n\
         digests = sm3\ness_cert_id_alg = sha256\n",
    )
    .unwrap();
    std::fs::write(d.join("serial"), "01\n").unwrap();
    let (_, out) = openssl(
        d,
        "ts -reply -config ts.cnf -queryfile req.tsq -out theirs.tsr",
    );
    eprintln!("openssl ts -reply with an SM2 key:\n{out}");
    assert!(
        out.contains("signing not supported for this key type"),
        "{out}"
    );
}

#[test]
fn openssl_tokens_verify_here() {
    let tsa = Tsa::new(Kind::Rsa);
    let d = tsa.path();
    std::fs::write(d.join("serial"), "0102030405060708090A0B0C0D0E0F10\n").unwrap();
    for (ess_alg, token_out) in [("sha1", ""), ("sha256", "-token_out")] {
        std::fs::write(
            d.join("ts.cnf"),
            format!(
                "[tsa]\ndefault_tsa = t\n[t]\nserial = ./serial\nsigner_cert = ./tsa.pem\n\
                 certs = ./ca.pem\nsigner_key = ./tsa.key\nsigner_digest = sha256\n\
                 default_policy = 1.2.3.4.5\ndigests = sha256, sm3\naccuracy = secs:1\n\
                 ess_cert_id_alg = {ess_alg}\n"
            ),
        )
        .unwrap();
        tsa.query("-sha256 -cert");
        ok(
            d,
            &format!("ts -reply -config ts.cnf -queryfile req.tsq {token_out} -out theirs.tsr"),
        );
        let theirs = tsa.read("theirs.tsr");
        let v = verify_token(&theirs, DATA)
            .unwrap_or_else(|e| panic!("ESS {ess_alg} {token_out}: {e}"));
        assert_eq!(v.policy.to_string(), "1.2.3.4.5");
        assert_eq!(v.tsa_cert_der, tsa.read("tsa.der"));
        assert_eq!(v.alg, SigAlg::RsaSha256);
        assert!(v.serial > 0x0102030405060708090A0B0C0D0E0F00);
        assert!(matches!(
            verify_token(&theirs, b"not the data"),
            Err(PkiError::Rejected(_))
        ));
    }
}

#[test]
fn tampered_tokens_and_wrong_certificates_fail() {
    let tsa = Tsa::new(Kind::Rsa);
    let req = parse_request(&tsa.query("-sha256 -cert")).unwrap();
    let gen_time = now_millis();
    let good = tsa.respond(&req, "tsa.der", gen_time);
    verify_token(&good, DATA).unwrap();

    let rejected = |token: &[u8], what: &str| {
        let r = verify_token(token, DATA);
        assert!(matches!(r, Err(PkiError::Rejected(_))), "{what}: {r:?}");
    };
    // the policy inside the TSTInfo: the messageDigest no longer matches
    let oid = POLICY.as_bytes();
    let at = good.windows(oid.len()).position(|w| w == oid).unwrap();
    let mut t = good.clone();
    t[at + oid.len() - 1] ^= 0x01;
    rejected(&t, "TSTInfo");
    // the signature
    let mut t = good.clone();
    let n = t.len();
    t[n - 1] ^= 0x01;
    rejected(&t, "signature");
    // the signing time in the signed attributes (UTCTime ends with 'Z')
    let p = token_parts(&good);
    let (_, h, _) = tlv(&p.signed_attrs);
    let body = &p.signed_attrs[h..];
    let at = good.windows(body.len()).position(|w| w == body).unwrap();
    let z = good[at..].iter().position(|b| *b == b'Z').unwrap();
    let mut t = good.clone();
    t[at + z - 1] = if t[at + z - 1] == b'0' { b'1' } else { b'0' };
    rejected(&t, "signed attributes");

    // Every corruption is an error or (outside what is signed, e.g. the CA certificate) a
    // token that still verifies; never a panic.
    for i in 0..good.len() {
        let mut t = good.clone();
        t[i] ^= 0x5a;
        let _ = verify_token(&t, DATA);
    }

    // A token carrying the wrong certificate: `twin` has tsa's issuer and serial but
    // another key.
    let twin = tsa.respond(&req, "twin.der", gen_time);
    rejected(&twin, "wrong key in the included certificate");
    // The right token checked against a certificate given by the caller.
    for (cert, what) in [("twin.der", "twin"), ("tsa2.der", "another TSA")] {
        let r = verify_token_with(&good, DATA, Some(&tsa.read(cert)));
        assert!(matches!(r, Err(PkiError::Rejected(_))), "{what}: {r:?}");
    }
    verify_token_with(&good, DATA, Some(&tsa.read("tsa.der"))).unwrap();
    // OpenSSL agrees about the twin.
    let (_, out) = openssl(
        tsa.path(),
        "ts -verify -data data -in resp.tsr -CAfile ca.pem",
    );
    assert!(out.contains("Verification: FAILED"), "{out}");

    // An SM2 certificate for an RSA key: refused when building.
    let sm2 = Tsa::new(Kind::Sm2);
    let sm2_cert = sm2.read("tsa.der");
    let params = TokenParams {
        policy: POLICY,
        serial: 1,
        gen_time,
        accuracy_millis: 0,
        tsa_cert_der: &sm2_cert,
        extra_certs: &[],
    };
    assert!(build_response(&tsa.signer(), &req, &params).is_err());
}

#[test]
fn rejections_are_read_by_openssl() {
    let tsa = Tsa::new(Kind::Rsa);
    let d = tsa.path();
    // SHA-1 is not accepted: badAlg.
    let err = parse_request(&tsa.query("-sha1 -cert")).unwrap_err();
    assert!(matches!(err, TspError::BadAlg(_)), "{err:?}");
    assert_eq!(err.fail_bit(), 0);
    // A policy the TSA does not offer: unacceptedPolicy.
    let req = parse_request(&tsa.query("-sha256 -tspolicy 1.2.3.4.5")).unwrap();
    assert_eq!(req.policy.unwrap().to_string(), "1.2.3.4.5");
    let policy_err = check_policy(&req, &POLICY, &[]).unwrap_err();
    assert!(matches!(policy_err, TspError::UnacceptedPolicy(_)));
    let other = ObjectIdentifier::new_unwrap("1.2.3.4.5");
    assert_eq!(check_policy(&req, &POLICY, &[other]).unwrap(), other);
    let gen_time = now_millis();
    // building a token under another policy than the one asked for is refused
    let tsa_der = tsa.read("tsa.der");
    let params = TokenParams {
        policy: POLICY,
        serial: 1,
        gen_time,
        accuracy_millis: 0,
        tsa_cert_der: &tsa_der,
        extra_certs: &[],
    };
    assert!(matches!(
        build_response(&tsa.signer(), &req, &params),
        Err(PkiError::Rejected(_))
    ));

    for (err, info) in [
        (err, "unrecognized or unsupported algorithm identifier"),
        (
            TspError::BadRequest("no".into()),
            "transaction not permitted or supported",
        ),
        (
            TspError::BadDataFormat("no".into()),
            "the data submitted has the wrong format",
        ),
        (
            policy_err,
            "the requested TSA policy is not supported by the TSA",
        ),
    ] {
        let r = rejection(&err);
        tsa.write("rej.tsr", &r);
        let text = ok(d, "ts -reply -in rej.tsr -text");
        assert!(text.contains("Status: Rejected."), "{text}");
        assert!(
            text.contains(&format!("Status description: {err}")),
            "{text}"
        );
        assert!(text.contains(&format!("Failure info: {info}")), "{text}");
        assert!(text.contains("Not included."), "{text}");
        let (verified, out) = openssl(d, "ts -verify -data data -in rej.tsr -CAfile ca.pem");
        assert!(!verified && out.contains("status code: rejection"), "{out}");
        assert!(matches!(verify_token(&r, DATA), Err(PkiError::Rejected(_))));
    }
}

// --- hand-made DER for requests OpenSSL will not make ----------------------------------

const SHA256_OID: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];

fn ts_req(version: u8, alg: &[u8], imprint: &[u8], rest: &[Vec<u8>]) -> Vec<u8> {
    let mut parts = vec![
        der_tlv(0x02, &[version]),
        seq(&[seq(&[der_tlv(0x06, alg)]), der_tlv(0x04, imprint)]),
    ];
    parts.extend_from_slice(rest);
    seq(&parts)
}

#[test]
fn malformed_requests_are_errors_not_panics() {
    let tsa = Tsa::new(Kind::Rsa);
    let good = tsa.query("-sha256 -cert -tspolicy 1.2.3.4");
    assert!(parse_request(&good).is_ok());
    assert!(matches!(
        parse_request(&[]),
        Err(TspError::BadDataFormat(_))
    ));
    for n in 0..good.len() {
        assert!(parse_request(&good[..n]).is_err(), "prefix {n}");
    }
    assert!(parse_request(&[good.clone(), vec![0]].concat()).is_err());
    for i in 0..good.len() {
        for x in [0x01, 0x80, 0xff] {
            let mut b = good.clone();
            b[i] ^= x;
            let _ = parse_request(&b);
        }
    }
    let mut seed = 0x9e3779b9u32;
    let garbage: Vec<u8> = (0..4096)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    assert!(parse_request(&garbage).is_err());
    assert!(parse_request(&vec![0x30; 10 << 20]).is_err());
    assert!(parse_request(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02]).is_err());

    // hand-made: a well-formed minimal request, then one thing wrong at a time
    let imprint = sha256(DATA);
    let r = parse_request(&ts_req(1, &SHA256_OID, &imprint, &[])).unwrap();
    assert_eq!(
        (r.policy, r.nonce, r.cert_req),
        (None, None, false),
        "defaults"
    );
    assert!(matches!(
        parse_request(&ts_req(2, &SHA256_OID, &imprint, &[])),
        Err(TspError::BadRequest(_))
    ));
    assert!(matches!(
        parse_request(&ts_req(1, &SHA256_OID, &imprint[..20], &[])),
        Err(TspError::BadDataFormat(_))
    ));
    assert!(matches!(
        parse_request(&ts_req(1, &[0x2a, 0x03], &imprint, &[])),
        Err(TspError::BadAlg(_))
    ));
    // MD5
    let md5 = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x02, 0x05];
    assert!(matches!(
        parse_request(&ts_req(1, &md5, &imprint[..16], &[])),
        Err(TspError::BadAlg(_))
    ));
    // a negative nonce, a huge nonce
    assert!(parse_request(&ts_req(1, &SHA256_OID, &imprint, &[der_tlv(0x02, &[0x80])])).is_err());
    let mut big = vec![0x01];
    big.extend([0u8; 100]);
    assert!(parse_request(&ts_req(1, &SHA256_OID, &imprint, &[der_tlv(0x02, &big)])).is_err());
    // certReq TRUE; a critical extension is refused, a non-critical one ignored
    let ext = |critical: bool| {
        let mut e = vec![der_tlv(0x06, &[0x2a, 0x03, 0x04])];
        if critical {
            e.push(vec![0x01, 0x01, 0xff]);
        }
        e.push(der_tlv(0x04, b"x"));
        der_tlv(0xa0, &seq(&e))
    };
    let cert_req = vec![0x01, 0x01, 0xff];
    let r = parse_request(&ts_req(
        1,
        &SHA256_OID,
        &imprint,
        &[cert_req.clone(), ext(false)],
    ))
    .unwrap();
    assert!(r.cert_req);
    assert!(matches!(
        parse_request(&ts_req(1, &SHA256_OID, &imprint, &[cert_req, ext(true)])),
        Err(TspError::BadRequest(_))
    ));
    // hash parameters other than NULL
    let odd_params = seq(&[
        der_tlv(0x02, &[1]),
        seq(&[
            seq(&[der_tlv(0x06, &SHA256_OID), der_tlv(0x04, b"")]),
            der_tlv(0x04, &imprint),
        ]),
    ]);
    assert!(matches!(
        parse_request(&odd_params),
        Err(TspError::BadDataFormat(_))
    ));
    // a TimeStampResp is not a request
    assert!(parse_request(&rejection(&TspError::BadRequest("x".into()))).is_err());
}

#[test]
fn malformed_tokens_are_errors_not_panics() {
    assert!(matches!(
        verify_token(&[], DATA),
        Err(PkiError::Malformed { .. })
    ));
    assert!(verify_token(b"garbage", DATA).is_err());
    assert!(verify_token(&vec![0x30; 1 << 20], DATA).is_err());
    let tsa = Tsa::new(Kind::Sm2);
    let req = parse_request(&tsa.query("-sm3 -cert")).unwrap();
    let good = tsa.respond(&req, "tsa.der", now_millis());
    for n in 0..good.len() {
        assert!(verify_token(&good[..n], DATA).is_err(), "prefix {n}");
    }
    // SM2 verification is slower: corrupt every 7th byte
    for i in (0..good.len()).step_by(7) {
        let mut t = good.clone();
        t[i] ^= 0xa5;
        let _ = verify_token(&t, DATA);
    }
    // a query is not a token
    assert!(matches!(
        verify_token(&tsa.read("req.tsq"), DATA),
        Err(PkiError::Malformed { .. })
    ));
}
