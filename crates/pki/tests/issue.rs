//! Certificates, CSRs, CRLs and holder keys checked by Debian's OpenSSL 3 as an independent
//! peer: it parses what govcloud issues, verifies SM2 and RSA chains (SM2 with the default
//! distinguishing ID), checks CRL signatures and revocation, and decrypts holder keys.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use govcloud_crypto::{KeyKind, MasterKey, Provider, SoftProvider};
use govcloud_pki::cert::{self, IssueParams, Pointers, Profile, San, Subject};
use govcloud_pki::{crl, csr, keygen, ProviderSigner, SigAlg};

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (Debian package openssl)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// OpenSSL 3.0 applies `-vfyopt distid:…` to the certificate being verified only; chain
/// certificates are checked without the ID and SM2 intermediates then fail ("certificate
/// signature failure"), whatever issued them. So each link of an SM2 chain is verified as
/// its own target: the intermediate against the root, then the leaf against the
/// intermediate taken as a trust anchor (`-partial_chain`). Every signature is still
/// checked by OpenSSL.
fn openssl_verify_sm2(
    dir: &Path,
    root: &str,
    intermediate: &str,
    leaf: &str,
    extra: &[&str],
) -> (bool, String) {
    let id = "distid:1234567812345678";
    let (ok, out) = openssl(
        dir,
        &["verify", "-CAfile", root, "-vfyopt", id, intermediate],
    );
    if !ok {
        return (ok, out);
    }
    let mut args = vec![
        "verify",
        "-partial_chain",
        "-CAfile",
        intermediate,
        "-vfyopt",
        id,
    ];
    args.extend_from_slice(extra);
    args.push(leaf);
    openssl(dir, &args)
}

fn signer(p: &Arc<dyn Provider>, kind: KeyKind, name: &str) -> ProviderSigner {
    let k = p.generate_key(kind, name.as_bytes()).unwrap();
    ProviderSigner {
        provider: p.clone(),
        kind,
        binding: k.binding,
        blob: k.blob,
    }
}

struct Ca {
    root: Vec<u8>,
    issuing: Vec<u8>,
    issuing_signer: ProviderSigner,
}

fn serial() -> [u8; 16] {
    let mut s = [0u8; 16];
    getrandom::fill(&mut s).unwrap();
    s
}

fn make_ca(p: &Arc<dyn Provider>, kind: KeyKind, label: &str) -> Ca {
    let now = SystemTime::now() - Duration::from_secs(60);
    let root_signer = signer(p, kind, &format!("{label}-root"));
    let root_name = Subject {
        common_name: format!("govcloud 测试根 CA {label}"),
        organization: Some("北京市公共资源交易中心".into()),
        ..Default::default()
    }
    .to_name()
    .unwrap();
    let root = cert::issue(
        &root_signer,
        &IssueParams {
            profile: Profile::RootCa,
            subject: root_name,
            public_key: &root_signer.public_key_spki().unwrap(),
            sans: &[],
            not_before: now,
            not_after: now + Profile::RootCa.default_validity(),
            serial: serial(),
            issuer: None,
            pointers: &Pointers::default(),
        },
    )
    .unwrap();
    let root_cert = cert::parse_certificate(&root).unwrap();
    let issuing_signer = signer(p, kind, &format!("{label}-issuing"));
    let issuing = cert::issue(
        &root_signer,
        &IssueParams {
            profile: Profile::IssuingCa,
            subject: Subject::new(format!("govcloud 测试签发 CA {label}"))
                .to_name()
                .unwrap(),
            public_key: &issuing_signer.public_key_spki().unwrap(),
            sans: &[],
            not_before: now,
            not_after: now + Profile::IssuingCa.default_validity(),
            serial: serial(),
            issuer: Some(&root_cert),
            pointers: &Pointers::default(),
        },
    )
    .unwrap();
    Ca {
        root,
        issuing,
        issuing_signer,
    }
}

fn provider() -> Arc<dyn Provider> {
    Arc::new(SoftProvider::new(MasterKey::generate().unwrap()))
}

fn write_pem(dir: &Path, name: &str, label: &str, der: &[u8]) {
    std::fs::write(dir.join(name), cert::to_pem(label, der)).unwrap();
}

#[test]
fn sm2_chain_from_an_openssl_csr_verifies_in_openssl_and_revocation_shows_in_the_crl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = provider();
    let ca = make_ca(&p, KeyKind::Sm2Sign, "sm2");
    write_pem(d, "root.pem", "CERTIFICATE", &ca.root);
    write_pem(d, "issuing.pem", "CERTIFICATE", &ca.issuing);
    assert!(cert::signed_by(
        &cert::parse_certificate(&ca.issuing).unwrap(),
        &cert::parse_certificate(&ca.root).unwrap()
    )
    .unwrap());

    // The holder's key and CSR come from OpenSSL.
    assert!(
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:SM2",
                "-out",
                "k.pem"
            ]
        )
        .0
    );
    let (ok, out) = openssl(
        d,
        &[
            "req",
            "-new",
            "-key",
            "k.pem",
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-subj",
            "/CN=jypt.bjggzy.example",
            "-out",
            "req.pem",
        ],
    );
    assert!(ok, "{out}");
    let checked = csr::parse_and_check(&std::fs::read(d.join("req.pem")).unwrap()).unwrap();
    assert_eq!(checked.alg, SigAlg::Sm2Sm3);

    let issuing = cert::parse_certificate(&ca.issuing).unwrap();
    let now = SystemTime::now() - Duration::from_secs(60);
    let sans = [
        San::parse("dns:jypt.bjggzy.example").unwrap(),
        San::parse("ip:10.1.2.3").unwrap(),
    ];
    let pointers = Pointers {
        crl_url: Some("http://127.0.0.1:8080/pki/crl/sm2.crl".into()),
        ocsp_url: Some("http://127.0.0.1:8080/pki/ocsp".into()),
        ca_issuers_url: None,
    };
    let leaf = cert::issue(
        &ca.issuing_signer,
        &IssueParams {
            profile: Profile::ServerSign,
            subject: checked.subject.clone(),
            public_key: &checked.public_key,
            sans: &sans,
            not_before: now,
            not_after: now + Profile::ServerSign.default_validity(),
            serial: serial(),
            issuer: Some(&issuing),
            pointers: &pointers,
        },
    )
    .unwrap();
    write_pem(d, "leaf.pem", "CERTIFICATE", &leaf);
    let (ok, text) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-text"]);
    assert!(ok, "{text}");
    for want in [
        "DNS:jypt.bjggzy.example",
        "IP Address:10.1.2.3",
        "TLS Web Server Authentication",
        "Digital Signature",
        "CA:FALSE",
        "http://127.0.0.1:8080/pki/crl/sm2.crl",
        "OCSP - URI:http://127.0.0.1:8080/pki/ocsp",
        "Subject Key Identifier",
        "Authority Key Identifier",
        "SM2-with-SM3",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    let (ok, out) = openssl_verify_sm2(d, "root.pem", "issuing.pem", "leaf.pem", &[]);
    assert!(ok && out.contains("leaf.pem: OK"), "{out}");
    assert!(cert::signed_by(&cert::parse_certificate(&leaf).unwrap(), &issuing).unwrap());

    // A tampered certificate does not verify.
    let mut bad = leaf.clone();
    let n = bad.len();
    bad[n - 10] ^= 1;
    write_pem(d, "bad.pem", "CERTIFICATE", &bad);
    let (ok, out) = openssl_verify_sm2(d, "root.pem", "issuing.pem", "bad.pem", &[]);
    assert!(!ok && out.contains("signature failure"), "{out}");

    // Revoke it: the CRL is signed by the issuing CA, and OpenSSL refuses the certificate.
    let leaf_cert = cert::parse_certificate(&leaf).unwrap();
    let crl_der = crl::build(
        &ca.issuing_signer,
        &issuing,
        7,
        SystemTime::now() - Duration::from_secs(30),
        SystemTime::now() + Duration::from_secs(86_400),
        &[crl::Revoked {
            serial: hex::decode(cert::serial_hex(&leaf_cert)).unwrap(),
            at: SystemTime::now() - Duration::from_secs(10),
            reason: crl::reason_code("keyCompromise").unwrap(),
        }],
    )
    .unwrap();
    std::fs::write(d.join("sm2.crl"), &crl_der).unwrap();
    let (ok, text) = openssl(
        d,
        &["crl", "-inform", "DER", "-in", "sm2.crl", "-noout", "-text"],
    );
    assert!(ok, "{text}");
    assert!(text.contains("Key Compromise"), "{text}");
    assert!(text.contains("X509v3 CRL Number"), "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains(&cert::serial_hex(&leaf_cert)),
        "{text}"
    );
    let (ok, out) = openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "sm2.crl",
            "-outform",
            "PEM",
            "-out",
            "sm2.crl.pem",
        ],
    );
    assert!(ok, "{out}");
    // OpenSSL 3.0 checks CRL signatures without the SM2 distinguishing ID too (`verify
    // -crl_check` says "CRL signature failure" for any SM2 CRL), so the CRL's signature is
    // checked with `openssl dgst -sm3 -sigopt distid:…` over its TBSCertList instead.
    let list = <x509_cert::crl::CertificateList as der::Decode>::from_der(&crl_der).unwrap();
    std::fs::write(
        d.join("tbs.der"),
        der::Encode::to_der(&list.tbs_cert_list).unwrap(),
    )
    .unwrap();
    std::fs::write(d.join("sig.der"), list.signature.raw_bytes()).unwrap();
    let (_, issuing_pub) = openssl(d, &["x509", "-in", "issuing.pem", "-noout", "-pubkey"]);
    std::fs::write(d.join("issuing.pub"), issuing_pub).unwrap();
    let dgst = |file: &str| {
        openssl(
            d,
            &[
                "dgst",
                "-sm3",
                "-verify",
                "issuing.pub",
                "-sigopt",
                "distid:1234567812345678",
                "-signature",
                "sig.der",
                file,
            ],
        )
    };
    let (ok, out) = dgst("tbs.der");
    assert!(ok && out.contains("Verified OK"), "{out}");
    std::fs::write(d.join("other.der"), b"not the CRL").unwrap();
    assert!(!dgst("other.der").0);
}

#[test]
fn rsa_chain_verifies_in_openssl_and_its_crl_signature_checks() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = provider();
    let ca = make_ca(&p, KeyKind::Rsa2048, "rsa");
    write_pem(d, "root.pem", "CERTIFICATE", &ca.root);
    write_pem(d, "issuing.pem", "CERTIFICATE", &ca.issuing);
    let holder = keygen::generate(SigAlg::RsaSha256, "a long password 1").unwrap();
    std::fs::write(d.join("key.pem"), &holder.encrypted_pkcs8_pem).unwrap();
    let issuing = cert::parse_certificate(&ca.issuing).unwrap();
    let now = SystemTime::now() - Duration::from_secs(60);
    let leaf = cert::issue(
        &ca.issuing_signer,
        &IssueParams {
            profile: Profile::ServerRsa,
            subject: Subject::new("jypt.bjggzy.example").to_name().unwrap(),
            public_key: &holder.public_key,
            sans: &[San::parse("dns:jypt.bjggzy.example").unwrap()],
            not_before: now,
            not_after: now + Profile::ServerRsa.default_validity(),
            serial: serial(),
            issuer: Some(&issuing),
            pointers: &Pointers::default(),
        },
    )
    .unwrap();
    write_pem(d, "leaf.pem", "CERTIFICATE", &leaf);
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "leaf.pem",
        ],
    );
    assert!(ok && out.contains("leaf.pem: OK"), "{out}");
    // The encrypted PKCS #8 opens with the password, and its key is the certificate's.
    let (ok, out) = openssl(
        d,
        &[
            "pkey",
            "-in",
            "key.pem",
            "-passin",
            "pass:a long password 1",
            "-pubout",
            "-out",
            "pub.pem",
        ],
    );
    assert!(ok, "{out}");
    let (_, cert_pub) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
    assert_eq!(
        std::fs::read_to_string(d.join("pub.pem")).unwrap(),
        cert_pub
    );
    let (ok, _) = openssl(
        d,
        &[
            "pkey",
            "-in",
            "key.pem",
            "-passin",
            "pass:wrong password",
            "-noout",
        ],
    );
    assert!(!ok);

    let crl_der = crl::build(
        &ca.issuing_signer,
        &issuing,
        1,
        SystemTime::now(),
        SystemTime::now() + Duration::from_secs(3600),
        &[],
    )
    .unwrap();
    std::fs::write(d.join("rsa.crl"), &crl_der).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "rsa.crl",
            "-CAfile",
            "issuing.pem",
            "-noout",
        ],
    );
    assert!(ok && out.contains("verify OK"), "{out}");
}

#[test]
fn sm2_holder_key_opens_in_openssl_and_matches_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = provider();
    let ca = make_ca(&p, KeyKind::Sm2Sign, "sm2");
    let issuing = cert::parse_certificate(&ca.issuing).unwrap();
    let password = keygen::random_password().unwrap();
    let holder = keygen::generate(SigAlg::Sm2Sm3, &password).unwrap();
    std::fs::write(d.join("key.pem"), &holder.encrypted_pkcs8_pem).unwrap();
    let now = SystemTime::now();
    let leaf = cert::issue(
        &ca.issuing_signer,
        &IssueParams {
            profile: Profile::Personal,
            subject: Subject {
                common_name: "张三".into(),
                serial_number: Some("11010519491231002X".into()),
                organization: Some("北京市公共资源交易中心".into()),
                organizational_unit: None,
            }
            .to_name()
            .unwrap(),
            public_key: &holder.public_key,
            sans: &[],
            not_before: now,
            not_after: now + Profile::Personal.default_validity(),
            serial: serial(),
            issuer: Some(&issuing),
            pointers: &Pointers::default(),
        },
    )
    .unwrap();
    write_pem(d, "leaf.pem", "CERTIFICATE", &leaf);
    let (ok, text) = openssl(
        d,
        &[
            "x509", "-in", "leaf.pem", "-noout", "-text", "-nameopt", "utf8",
        ],
    );
    assert!(ok, "{text}");
    assert!(
        text.contains("张三") && text.contains("11010519491231002X"),
        "{text}"
    );
    assert!(text.contains("Non Repudiation") && text.contains("TLS Web Client Authentication"));
    let pass = format!("pass:{}", password.as_str());
    let (ok, out) = openssl(
        d,
        &[
            "pkey", "-in", "key.pem", "-passin", &pass, "-pubout", "-out", "pub.pem",
        ],
    );
    assert!(ok, "{out}");
    let (_, cert_pub) = openssl(d, &["x509", "-in", "leaf.pem", "-noout", "-pubkey"]);
    assert_eq!(
        std::fs::read_to_string(d.join("pub.pem")).unwrap(),
        cert_pub
    );
}

#[test]
fn malformed_and_forged_requests_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:SM2",
                "-out",
                "k.pem"
            ]
        )
        .0
    );
    // Signed without the default ID: the proof of possession fails.
    assert!(
        openssl(
            d,
            &[
                "req",
                "-new",
                "-key",
                "k.pem",
                "-sm3",
                "-sigopt",
                "distid:other-id",
                "-subj",
                "/CN=x",
                "-outform",
                "DER",
                "-out",
                "req.der"
            ],
        )
        .0
    );
    let der = std::fs::read(d.join("req.der")).unwrap();
    let err = csr::parse_and_check(&der).unwrap_err().to_string();
    assert!(err.contains("does not verify"), "{err}");
    for bad in [
        &b""[..],
        &der[..der.len() / 2],
        b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff][..],
        &vec![0x30; 70_000][..],
    ] {
        assert!(csr::parse_and_check(bad).is_err());
    }
    // An EC key on another curve is not SM2.
    assert!(
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                "p.pem"
            ]
        )
        .0
    );
    assert!(
        openssl(
            d,
            &[
                "req", "-new", "-key", "p.pem", "-sha256", "-subj", "/CN=x", "-outform", "DER",
                "-out", "p.der"
            ]
        )
        .0
    );
    let err = csr::parse_and_check(&std::fs::read(d.join("p.der")).unwrap()).unwrap_err();
    assert!(err.to_string().contains("SM2"), "{err}");
    assert!(San::parse("dns:bad name").is_err());
    assert!(San::parse("ip:300.1.1.1").is_err());
    assert!(San::parse("uri:x").is_err());
    assert!(Subject::new("").to_name().is_err());
}
