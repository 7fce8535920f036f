//! PKI, OCSP, CRLs, timestamps and strong authentication over HTTP against the real
//! server, with Debian's OpenSSL 3 as the relying party, the OCSP client, the timestamp
//! client and the holder who signs challenges.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{error_code, spawn_app, App};
use govcloud_pki::cert::{self, IssueParams, Profile, San, Subject};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl must be installed (Debian package openssl)");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

async fn issue(app: &App, body: Value) -> reqwest::Response {
    app.as_role(Method::POST, "/api/v1/pki/certificates", "operator")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn issued(app: &App, body: Value) -> Value {
    let r = issue(app, body).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, StatusCode::CREATED, "{v}");
    v
}

async fn get_bytes(app: &App, path: &str) -> Vec<u8> {
    let r = app.http.get(app.url(path)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.bytes().await.unwrap().to_vec()
}

async fn get_json(app: &App, path: &str, role: &str) -> Value {
    let r = app.as_role(Method::GET, path, role).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path}");
    r.json().await.unwrap()
}

async fn revoke(app: &App, serial: &str, reason: &str) -> StatusCode {
    app.as_role(
        Method::POST,
        &format!("/api/v1/pki/certificates/{serial}/revoke"),
        "operator",
    )
    .json(&json!({"reason": reason}))
    .send()
    .await
    .unwrap()
    .status()
}

async fn app_token(app: &App, name: &str) -> String {
    let r = app
        .as_role(Method::POST, "/api/v1/apps", "operator")
        .json(&json!({"name": name, "system": "jypt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    v["token"].as_str().unwrap().to_owned()
}

/// OpenSSL 3.0 checks only the target certificate with the SM2 ID, so SM2 chains are
/// verified link by link (see crates/pki/tests/issue.rs).
fn verify_sm2_chain(d: &Path, chain_pem: &str, leaf: &str) -> (bool, String) {
    let mut certs = chain_pem.split_inclusive("-----END CERTIFICATE-----\n");
    std::fs::write(d.join("issuing.pem"), certs.next().unwrap()).unwrap();
    std::fs::write(d.join("root.pem"), certs.next().unwrap()).unwrap();
    let id = "distid:1234567812345678";
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-vfyopt",
            id,
            "issuing.pem",
        ],
    );
    if !ok {
        return (ok, out);
    }
    openssl(
        d,
        &[
            "verify",
            "-partial_chain",
            "-CAfile",
            "issuing.pem",
            "-vfyopt",
            id,
            leaf,
        ],
    )
}

#[tokio::test]
async fn server_certificates_chain_to_the_published_cas_and_the_contract_caps_them() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = issued(
        &app,
        json!({"profile": "server", "sans": ["dns:jypt.bjggzy.example", "ip:10.0.0.8"], "organization": "北京市公共资源交易中心"}),
    )
    .await;
    let certs = v["certificates"].as_array().unwrap();
    let profiles: Vec<&str> = certs
        .iter()
        .map(|c| c["profile"].as_str().unwrap())
        .collect();
    assert_eq!(profiles, ["server-sign", "server-enc", "server-rsa"]);
    let password = v["key_password"].as_str().unwrap();
    assert_eq!(password.len(), 24);
    for c in certs {
        let pem = c["encrypted_private_key_pem"].as_str().unwrap();
        let label = der::pem::decode_label(pem.as_bytes()).unwrap();
        assert_eq!(label, ["ENCRYPTED", "PRIVATE", "KEY"].join(" "));
    }
    // The private keys are not kept: the certificate as shown later has none.
    let serial = certs[0]["serial"].as_str().unwrap();
    let shown: Value = get_json(
        &app,
        &format!("/api/v1/pki/certificates/{serial}"),
        "auditor",
    )
    .await;
    assert!(shown.get("encrypted_private_key_pem").is_none());

    // SM2 signing and encryption certificates verify against the published SM2 chain.
    let sm2_chain = String::from_utf8(get_bytes(&app, "/pki/ca/sm2.pem").await).unwrap();
    for (i, c) in certs[..2].iter().enumerate() {
        let f = format!("sm2-{i}.pem");
        std::fs::write(d.join(&f), c["certificate_pem"].as_str().unwrap()).unwrap();
        let (ok, out) = verify_sm2_chain(d, &sm2_chain, &f);
        assert!(ok, "{out}");
    }
    let (_, text) = openssl(d, &["x509", "-in", "sm2-1.pem", "-noout", "-text"]);
    assert!(
        text.contains("Key Encipherment") && !text.contains("Digital Signature"),
        "{text}"
    );
    // The RSA certificate verifies against the RSA chain, and its key opens with the password.
    std::fs::write(
        d.join("rsa-chain.pem"),
        get_bytes(&app, "/pki/ca/rsa.pem").await,
    )
    .unwrap();
    std::fs::write(
        d.join("rsa.pem"),
        certs[2]["certificate_pem"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        d.join("rsa-key.pem"),
        certs[2]["encrypted_private_key_pem"].as_str().unwrap(),
    )
    .unwrap();
    let (ok, out) = openssl(d, &["verify", "-CAfile", "rsa-chain.pem", "rsa.pem"]);
    assert!(ok && out.contains("rsa.pem: OK"), "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "pkey",
            "-in",
            "rsa-key.pem",
            "-passin",
            &format!("pass:{password}"),
            "-noout",
        ],
    );
    assert!(ok, "{out}");

    // The contract has two server certificates (one per system); the third is refused.
    issued(
        &app,
        json!({"profile": "server", "sans": ["dns:zjk.bjggzy.example"]}),
    )
    .await;
    let (status, code, body) = error_code(
        issue(
            &app,
            json!({"profile": "server", "sans": ["dns:third.example"]}),
        )
        .await,
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "over_contract"),
        "{body}"
    );
    assert_eq!(body["details"]["contracted"], 2);

    // Bad requests: no SAN, device without IP, personal without ID, bad CSR, wrong role.
    for (body, code) in [
        (
            json!({"profile": "device", "sans": ["dns:x.example"]}),
            "san_required",
        ),
        (
            json!({"profile": "personal", "common_name": "张三"}),
            "id_number_required",
        ),
        (
            json!({"profile": "device", "sans": ["ip:10.0.0.9"], "csr_pem": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}),
            "malformed_input",
        ),
        (json!({"profile": "root"}), "invalid_profile"),
        (
            json!({"profile": "device", "sans": ["ip:999.0.0.1"]}),
            "rejected",
        ),
        (
            json!({"profile": "personal", "common_name": "张三", "id_number": "110", "key_password": "short"}),
            "rejected",
        ),
    ] {
        let (status, got, b) = error_code(issue(&app, body.clone()).await).await;
        assert_eq!(
            (status, got.as_str()),
            (StatusCode::BAD_REQUEST, code),
            "{body} → {b}"
        );
    }
    let r = app
        .as_role(Method::POST, "/api/v1/pki/certificates", "purchaser")
        .json(&json!({"profile": "device", "sans": ["ip:10.0.0.9"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

// OpenSSL calls the server while the test waits for it: the server needs its own thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ocsp_and_crl_follow_revocation_as_openssl_sees_them() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let v = issued(&app, json!({"profile": "server", "sans": ["dns:jypt.bjggzy.example"], "key_password": "openssl test password"})).await;
    let certs = v["certificates"].as_array().unwrap();
    std::fs::write(
        d.join("sm2.pem"),
        certs[0]["certificate_pem"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::write(
        d.join("rsa.pem"),
        certs[2]["certificate_pem"].as_str().unwrap(),
    )
    .unwrap();
    let rsa_chain = get_bytes(&app, "/pki/ca/rsa.pem").await;
    std::fs::write(d.join("rsa-chain.pem"), &rsa_chain).unwrap();
    let rsa_issuing = String::from_utf8(rsa_chain).unwrap();
    std::fs::write(
        d.join("rsa-issuing.pem"),
        rsa_issuing
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap(),
    )
    .unwrap();
    let sm2_chain = String::from_utf8(get_bytes(&app, "/pki/ca/sm2.pem").await).unwrap();
    std::fs::write(
        d.join("sm2-issuing.pem"),
        sm2_chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .next()
            .unwrap(),
    )
    .unwrap();
    let url = app.url("/pki/ocsp");
    // RSA: OpenSSL verifies the response signature (delegated responder) and reads the status.
    let ocsp_rsa = |extra: &[&str]| {
        let mut args = vec![
            "ocsp",
            "-issuer",
            "rsa-issuing.pem",
            "-url",
            &url,
            "-CAfile",
            "rsa-chain.pem",
        ];
        args.extend_from_slice(extra);
        openssl(d, &args)
    };
    let (ok, out) = ocsp_rsa(&["-cert", "rsa.pem"]);
    assert!(
        ok && out.contains("Response verify OK") && out.contains("rsa.pem: good"),
        "{out}"
    );
    let (ok, out) = ocsp_rsa(&["-serial", "0x1234567890"]);
    assert!(ok && out.contains("unknown"), "{out}");
    // SM2: OpenSSL reads the status; the SM2 response signature is checked by the pki
    // crate's tests, as OpenSSL 3.0 cannot pass the SM2 ID to OCSP verification.
    let ocsp_sm2 = |file: &str| {
        openssl(
            d,
            &[
                "ocsp",
                "-issuer",
                "sm2-issuing.pem",
                "-url",
                &url,
                "-cert",
                file,
                "-noverify",
            ],
        )
    };
    let (ok, out) = ocsp_sm2("sm2.pem");
    assert!(ok && out.contains("sm2.pem: good"), "{out}");

    // Revoke both; OCSP and the CRLs say so at once.
    for (c, reason) in [(&certs[0], "keyCompromise"), (&certs[2], "superseded")] {
        let serial = c["serial"].as_str().unwrap();
        assert_eq!(revoke(&app, serial, reason).await, StatusCode::OK);
        assert_eq!(revoke(&app, serial, reason).await, StatusCode::CONFLICT);
    }
    let (ok, out) = ocsp_rsa(&["-cert", "rsa.pem"]);
    assert!(
        ok && out.contains("rsa.pem: revoked") && out.contains("Reason: superseded"),
        "{out}"
    );
    let (ok, out) = ocsp_sm2("sm2.pem");
    assert!(
        ok && out.contains("sm2.pem: revoked") && out.contains("keyCompromise"),
        "{out}"
    );
    // GET form (RFC 6960 A.1) with a nonce: OpenSSL builds the request, we send it by GET.
    assert!(
        openssl(
            d,
            &[
                "ocsp",
                "-issuer",
                "rsa-issuing.pem",
                "-cert",
                "rsa.pem",
                "-reqout",
                "req.der"
            ]
        )
        .0
    );
    let req = std::fs::read(d.join("req.der")).unwrap();
    let enc: String = url::form_urlencoded::byte_serialize(B64.encode(&req).as_bytes()).collect();
    let resp = get_bytes(&app, &format!("/pki/ocsp/{enc}")).await;
    std::fs::write(d.join("resp.der"), resp).unwrap();
    let (ok, out) = openssl(
        d,
        // (-cert here would make OpenSSL build a new request with a new nonce.)
        &[
            "ocsp",
            "-respin",
            "resp.der",
            "-reqin",
            "req.der",
            "-CAfile",
            "rsa-chain.pem",
            "-resp_text",
        ],
    );
    assert!(
        ok && out.contains("Response verify OK") && out.contains("Cert Status: revoked"),
        "{out}"
    );
    assert!(!out.contains("nonce"), "OpenSSL compared the nonces: {out}");
    // Garbage gets an OCSP malformedRequest, not an HTTP error.
    let r = app
        .http
        .post(app.url("/pki/ocsp"))
        .body(vec![0x30, 0x03, 1, 2, 3])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    std::fs::write(d.join("bad.der"), r.bytes().await.unwrap()).unwrap();
    let (_, out) = openssl(
        d,
        &["ocsp", "-respin", "bad.der", "-resp_text", "-noverify"],
    );
    assert!(out.contains("malformedrequest"), "{out}");

    // The RSA CRL verifies under the issuing CA and lists the revoked serial.
    std::fs::write(d.join("rsa.crl"), get_bytes(&app, "/pki/crl/rsa.crl").await).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "rsa.crl",
            "-CAfile",
            "rsa-issuing.pem",
            "-noout",
            "-text",
        ],
    );
    assert!(ok && out.contains("verify OK"), "{out}");
    let rsa_serial = certs[2]["serial"].as_str().unwrap().to_ascii_uppercase();
    assert!(out.to_ascii_uppercase().contains(&rsa_serial), "{out}");
    std::fs::write(
        d.join("rsa.crl.pem"),
        get_bytes(&app, "/pki/crl/rsa.crl.pem").await,
    )
    .unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "verify",
            "-crl_check",
            "-CAfile",
            "rsa-chain.pem",
            "-CRLfile",
            "rsa.crl.pem",
            "rsa.pem",
        ],
    );
    assert!(!ok && out.contains("certificate revoked"), "{out}");
    // The SM2 CRL parses and lists its revoked serial.
    std::fs::write(d.join("sm2.crl"), get_bytes(&app, "/pki/crl/sm2.crl").await).unwrap();
    let (ok, out) = openssl(
        d,
        &["crl", "-inform", "DER", "-in", "sm2.crl", "-noout", "-text"],
    );
    let sm2_serial = certs[0]["serial"].as_str().unwrap().to_ascii_uppercase();
    assert!(
        ok && out.to_ascii_uppercase().contains(&sm2_serial) && out.contains("Key Compromise"),
        "{out}"
    );
    let r = app
        .http
        .get(app.url("/pki/crl/ecdsa.crl"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rfc3161_timestamps_verify_in_openssl_and_through_the_api() {
    let app = spawn_app().await;
    let token = app_token(&app, "tsa-client").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("data.txt"), "投标文件 bid document 2026").unwrap();
    std::fs::write(
        d.join("rsa-chain.pem"),
        get_bytes(&app, "/pki/ca/rsa.pem").await,
    )
    .unwrap();
    let stamp = |query: &str| {
        let body = std::fs::read(d.join(query)).unwrap();
        let http = app.http.clone();
        let url = app.url("/tsa");
        let token = token.clone();
        async move {
            let r = http
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/timestamp-query")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            assert_eq!(r.headers()["content-type"], "application/timestamp-reply");
            r.bytes().await.unwrap().to_vec()
        }
    };
    // SHA-256 → the RSA TSA; OpenSSL verifies the reply against the data and the query.
    assert!(
        openssl(
            d,
            &["ts", "-query", "-data", "data.txt", "-sha256", "-cert", "-out", "q.tsq"]
        )
        .0
    );
    let reply = stamp("q.tsq").await;
    std::fs::write(d.join("r.tsr"), &reply).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "data.txt",
            "-in",
            "r.tsr",
            "-CAfile",
            "rsa-chain.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-queryfile",
            "q.tsq",
            "-in",
            "r.tsr",
            "-CAfile",
            "rsa-chain.pem",
        ],
    );
    assert!(ok && out.contains("Verification: OK"), "{out}");
    std::fs::write(d.join("other.txt"), "tampered").unwrap();
    let (ok, _) = openssl(
        d,
        &[
            "ts",
            "-verify",
            "-data",
            "other.txt",
            "-in",
            "r.tsr",
            "-CAfile",
            "rsa-chain.pem",
        ],
    );
    assert!(!ok);
    let (_, text) = openssl(d, &["ts", "-reply", "-in", "r.tsr", "-text"]);
    assert!(
        text.contains("Status: Granted") && text.contains(govcloud::pki::TSA_POLICY),
        "{text}"
    );
    // Serial numbers increase.
    let reply2 = stamp("q.tsq").await;
    std::fs::write(d.join("r2.tsr"), &reply2).unwrap();
    let serial = |f: &str| {
        let (_, t) = openssl(d, &["ts", "-reply", "-in", f, "-text"]);
        let line = t
            .lines()
            .find(|l| l.starts_with("Serial number:"))
            .unwrap()
            .to_owned();
        u64::from_str_radix(line.trim_start_matches("Serial number: 0x").trim(), 16).unwrap()
    };
    assert!(serial("r2.tsr") > serial("r.tsr"));

    // SM3 → the SM2 TSA; verified through the API (and by the pki crate's tests).
    assert!(
        openssl(
            d,
            &["ts", "-query", "-data", "data.txt", "-sm3", "-cert", "-out", "sm3.tsq"]
        )
        .0
    );
    let sm2_reply = stamp("sm3.tsq").await;
    let data = std::fs::read(d.join("data.txt")).unwrap();
    let check = |tok: &[u8], data: &[u8]| {
        app.http
            .post(app.url("/api/v1/tsa/verify"))
            .bearer_auth(&token)
            .json(&json!({"token": B64.encode(tok), "data": B64.encode(data)}))
            .send()
    };
    let v: Value = check(&sm2_reply, &data)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["valid"], true, "{v}");
    assert!(v["tsa"].as_str().unwrap().contains("SM2"), "{v}");
    let v: Value = check(&reply, &data).await.unwrap().json().await.unwrap();
    assert_eq!(v["valid"], true, "{v}");
    let v: Value = check(&sm2_reply, b"other")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["valid"], false);
    let (status, code, _) = error_code(check(b"not a token", &data).await.unwrap()).await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::BAD_REQUEST, "malformed_input")
    );

    // SHA-1 is refused with badAlg inside a proper reply; no credential → 401.
    assert!(
        openssl(
            d,
            &["ts", "-query", "-data", "data.txt", "-sha1", "-out", "sha1.tsq"]
        )
        .0
    );
    std::fs::write(d.join("rej.tsr"), stamp("sha1.tsq").await).unwrap();
    let (_, text) = openssl(d, &["ts", "-reply", "-in", "rej.tsr", "-text"]);
    assert!(
        text.contains("Status: Rejected") && text.contains("unrecognized or unsupported algorithm"),
        "{text}"
    );
    let r = app
        .http
        .post(app.url("/tsa"))
        .body(reply.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Three granted tokens are recorded; the refusal is not a token.
    assert_eq!(app.store.count_timestamps().await.unwrap(), 3);
}

struct Holder {
    cert_pem: String,
    key_file: String,
}

/// A personal certificate with its key decrypted by OpenSSL, ready to sign challenges.
async fn personal(app: &App, d: &Path, name: &str, id: &str) -> Holder {
    let v = issued(app, json!({"profile": "personal", "common_name": name, "id_number": id, "key_password": "holder password 1"})).await;
    let c = &v["certificates"][0];
    let key_file = format!("{id}.key");
    std::fs::write(
        d.join(format!("{id}.enc")),
        c["encrypted_private_key_pem"].as_str().unwrap(),
    )
    .unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "pkey",
            "-in",
            &format!("{id}.enc"),
            "-passin",
            "pass:holder password 1",
            "-out",
            &key_file,
        ],
    );
    assert!(ok, "{out}");
    Holder {
        cert_pem: c["certificate_pem"].as_str().unwrap().to_owned(),
        key_file,
    }
}

fn sign_with_openssl(d: &Path, key_file: &str, msg: &[u8]) -> Vec<u8> {
    std::fs::write(d.join("challenge.bin"), msg).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "dgst",
            "-sm3",
            "-sign",
            key_file,
            "-sigopt",
            "distid:1234567812345678",
            "-out",
            "sig.der",
            "challenge.bin",
        ],
    );
    assert!(ok, "{out}");
    std::fs::read(d.join("sig.der")).unwrap()
}

struct AuthClient<'a> {
    app: &'a App,
    token: String,
}

impl AuthClient<'_> {
    async fn challenge(&self) -> (String, Vec<u8>) {
        let v: Value = self
            .app
            .http
            .post(self.app.url("/api/v1/auth/challenge"))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        (
            v["challenge_id"].as_str().unwrap().to_owned(),
            B64.decode(v["challenge"].as_str().unwrap()).unwrap(),
        )
    }

    async fn verify(&self, body: Value) -> (StatusCode, Value) {
        let r = self
            .app
            .http
            .post(self.app.url("/api/v1/auth/verify"))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status(), r.json().await.unwrap())
    }

    /// Sign a fresh challenge with `key_file` and verify it in `mode` with `cert_pem`.
    async fn attempt(
        &self,
        d: &Path,
        mode: &str,
        cert_pem: &str,
        key_file: &str,
        tamper: bool,
    ) -> Value {
        let (id, ch) = self.challenge().await;
        let mut sig = sign_with_openssl(d, key_file, &ch);
        if tamper {
            let n = sig.len();
            sig[n - 3] ^= 0x40;
        }
        let (status, v) = self
            .verify(json!({"mode": mode, "challenge_id": id, "signature": B64.encode(&sig), "certificate_pem": cert_pem}))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v
    }
}

/// A certificate from this platform's SM2 issuing CA with chosen dates, recorded like any
/// other (the API never backdates, so the test issues it through the library).
async fn dated_cert(
    app: &App,
    key_pub_spki: &[u8],
    not_before: SystemTime,
    not_after: SystemTime,
) -> String {
    let h = &app.state.pki.sm2;
    let mut serial = [0u8; 16];
    getrandom::fill(&mut serial).unwrap();
    let der = cert::issue(
        &h.issuing_signer,
        &IssueParams {
            profile: Profile::Personal,
            subject: Subject {
                common_name: "李四".into(),
                serial_number: Some("X1".into()),
                ..Default::default()
            }
            .to_name()
            .unwrap(),
            public_key: key_pub_spki,
            sans: &[] as &[San],
            not_before,
            not_after,
            serial,
            issuer: Some(&h.issuing),
            pointers: &Default::default(),
        },
    )
    .unwrap();
    let parsed = cert::parse_certificate(&der).unwrap();
    let rec = govcloud_store::CertRecord {
        serial: cert::serial_hex(&parsed),
        alg: "sm2".into(),
        profile: "personal".into(),
        subject: cert::subject_string(&parsed),
        sans: String::new(),
        not_before: not_before.into(),
        not_after: not_after.into(),
        der: der.clone(),
        key_id: None,
        request_id: "test".into(),
        renews: None,
        revoked_at: None,
        reason: None,
        created_at: chrono::Utc::now(),
        created_by: "test".into(),
    };
    app.store
        .insert_certificates(
            &[rec],
            govcloud_domain::audit::AuditEvent::new(
                chrono::Utc::now(),
                "test",
                "pki.issue",
                "test",
                "{}".into(),
            ),
        )
        .await
        .unwrap();
    cert::to_pem("CERTIFICATE", &der)
}

#[tokio::test]
async fn strong_authentication_in_three_modes_with_every_failure_named() {
    let app = spawn_app().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let client = AuthClient {
        app: &app,
        token: app_token(&app, "jypt-login").await,
    };
    let alice = personal(&app, d, "张三", "110105194912310021").await;

    // Good in all three modes.
    for mode in ["signature", "signature+certificate", "certificate"] {
        let v = client
            .attempt(d, mode, &alice.cert_pem, &alice.key_file, false)
            .await;
        assert_eq!(v["ok"], true, "{mode}: {v}");
        assert!(v["subject"].as_str().unwrap().contains("张三"), "{v}");
    }
    let v = client
        .attempt(
            d,
            "signature+certificate",
            &alice.cert_pem,
            &alice.key_file,
            false,
        )
        .await;
    assert_eq!(
        v["checks"],
        json!({"signature": true, "chain": true, "validity": true, "key_usage": true, "revocation": true})
    );
    // Signature mode with a bare public key.
    let (_, pubkey) = openssl(d, &["pkey", "-in", &alice.key_file, "-pubout"]);
    let (id, ch) = client.challenge().await;
    let sig = sign_with_openssl(d, &alice.key_file, &ch);
    let (_, v) = client.verify(json!({"mode": "signature", "challenge_id": id, "signature": B64.encode(&sig), "public_key_pem": pubkey})).await;
    assert_eq!(v["ok"], true, "{v}");
    // Replay: the same challenge and signature again.
    let (_, v) = client.verify(json!({"mode": "signature", "challenge_id": id, "signature": B64.encode(&sig), "public_key_pem": pubkey})).await;
    assert_eq!(
        (v["ok"].clone(), v["reason"].clone()),
        (json!(false), json!("challenge_invalid"))
    );
    // Another app cannot answer this app's challenge.
    let other = AuthClient {
        app: &app,
        token: app_token(&app, "zjk-login").await,
    };
    let (id, ch) = client.challenge().await;
    let sig = sign_with_openssl(d, &alice.key_file, &ch);
    let (_, v) = other.verify(json!({"mode": "signature", "challenge_id": id, "signature": B64.encode(&sig), "public_key_pem": pubkey})).await;
    assert_eq!(v["reason"], "challenge_invalid");

    // Tampered signature.
    for mode in ["signature", "signature+certificate"] {
        let v = client
            .attempt(d, mode, &alice.cert_pem, &alice.key_file, true)
            .await;
        assert_eq!(
            (v["ok"].clone(), v["reason"].clone()),
            (json!(false), json!("signature_invalid")),
            "{mode}"
        );
    }
    // Expired and not yet valid.
    let (ok, out) = openssl(
        d,
        &[
            "pkey",
            "-in",
            &alice.key_file,
            "-pubout",
            "-outform",
            "DER",
            "-out",
            "alice.spki",
        ],
    );
    assert!(ok, "{out}");
    let spki = std::fs::read(d.join("alice.spki")).unwrap();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = dated_cert(&app, &spki, now - 400 * day, now - day).await;
    let future = dated_cert(&app, &spki, now + day, now + 400 * day).await;
    for (pem, reason) in [(&expired, "expired"), (&future, "not_yet_valid")] {
        for mode in ["signature+certificate", "certificate"] {
            let v = client.attempt(d, mode, pem, &alice.key_file, false).await;
            assert_eq!(
                (v["ok"].clone(), v["reason"].clone()),
                (json!(false), json!(reason)),
                "{mode}: {v}"
            );
            assert_eq!(v["checks"]["validity"], false);
        }
        // Signature-only mode does not judge the certificate.
        let v = client
            .attempt(d, "signature", pem, &alice.key_file, false)
            .await;
        assert_eq!(v["ok"], true, "{v}");
    }
    // Wrong CA: a certificate OpenSSL made for the same key.
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
                "ca.key"
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
            &alice.key_file,
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-subj",
            "/CN=张三",
            "-out",
            "alice.csr",
            "-utf8",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca.key",
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-subj",
            "/CN=Other CA",
            "-out",
            "other-ca.pem",
            "-days",
            "30",
        ],
    );
    assert!(ok, "{out}");
    let (ok, out) = openssl(
        d,
        &[
            "x509",
            "-req",
            "-in",
            "alice.csr",
            "-CA",
            "other-ca.pem",
            "-CAkey",
            "ca.key",
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-vfyopt",
            "distid:1234567812345678",
            "-days",
            "30",
            "-out",
            "foreign.pem",
        ],
    );
    assert!(ok, "{out}");
    let foreign = std::fs::read_to_string(d.join("foreign.pem")).unwrap();
    for mode in ["signature+certificate", "certificate"] {
        let v = client
            .attempt(d, mode, &foreign, &alice.key_file, false)
            .await;
        assert_eq!(
            (v["ok"].clone(), v["reason"].clone()),
            (json!(false), json!("untrusted_issuer")),
            "{mode}: {v}"
        );
    }
    // Wrong key usage: a server's encryption certificate (key encipherment only).
    let server = issued(&app, json!({"profile": "server", "sans": ["dns:jypt.bjggzy.example"], "key_password": "holder password 1"})).await;
    let enc = &server["certificates"][1];
    std::fs::write(
        d.join("enc.enc"),
        enc["encrypted_private_key_pem"].as_str().unwrap(),
    )
    .unwrap();
    assert!(
        openssl(
            d,
            &[
                "pkey",
                "-in",
                "enc.enc",
                "-passin",
                "pass:holder password 1",
                "-out",
                "enc.key"
            ]
        )
        .0
    );
    let v = client
        .attempt(
            d,
            "signature+certificate",
            enc["certificate_pem"].as_str().unwrap(),
            "enc.key",
            false,
        )
        .await;
    assert_eq!(
        (v["ok"].clone(), v["reason"].clone()),
        (json!(false), json!("key_usage")),
        "{v}"
    );
    // The server's signing certificate (serverAuth + clientAuth) is accepted: 服务器SSL证书.
    let sign = &server["certificates"][0];
    std::fs::write(
        d.join("sign.enc"),
        sign["encrypted_private_key_pem"].as_str().unwrap(),
    )
    .unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "pkey",
            "-in",
            "sign.enc",
            "-passin",
            "pass:holder password 1",
            "-out",
            "sign.key",
        ],
    );
    assert!(ok, "{out}");
    let v = client
        .attempt(
            d,
            "signature+certificate",
            sign["certificate_pem"].as_str().unwrap(),
            "sign.key",
            false,
        )
        .await;
    assert_eq!(v["ok"], true, "{v}");

    // Revoked.
    let serial = cert::serial_hex(&cert::parse_certificate(alice.cert_pem.as_bytes()).unwrap());
    assert_eq!(revoke(&app, &serial, "keyCompromise").await, StatusCode::OK);
    for mode in ["signature+certificate", "certificate"] {
        let v = client
            .attempt(d, mode, &alice.cert_pem, &alice.key_file, false)
            .await;
        assert_eq!(
            (v["ok"].clone(), v["reason"].clone()),
            (json!(false), json!("revoked")),
            "{mode}: {v}"
        );
        assert_eq!(v["checks"]["revocation"], false);
    }

    // Malformed requests: 400 with a code; no credential: 401.
    let (id, _) = client.challenge().await;
    for (body, code) in [
        (
            json!({"mode": "password", "challenge_id": id}),
            "invalid_mode",
        ),
        (
            json!({"mode": "signature", "challenge_id": id, "certificate_pem": alice.cert_pem}),
            "missing_field",
        ),
        (
            json!({"mode": "certificate", "challenge_id": id}),
            "missing_field",
        ),
        (
            json!({"mode": "signature", "challenge_id": id, "signature": "%%%", "certificate_pem": alice.cert_pem}),
            "invalid_base64",
        ),
        (
            json!({"mode": "certificate", "challenge_id": id, "certificate_pem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
            "malformed_input",
        ),
    ] {
        let (status, v) = client.verify(body.clone()).await;
        assert_eq!(
            (status, v["code"].as_str().unwrap()),
            (StatusCode::BAD_REQUEST, code),
            "{body}"
        );
    }
    let r = app
        .http
        .post(app.url("/api/v1/auth/challenge"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn renewal_inventory_and_summary_against_the_contract() {
    let app = spawn_app().await;
    let v = issued(
        &app,
        json!({"profile": "device", "sans": ["ip:10.8.0.1"], "common_name": "交易平台网闸"}),
    )
    .await;
    let old = v["certificates"][0]["serial"].as_str().unwrap().to_owned();
    let r = app
        .as_role(
            Method::POST,
            &format!("/api/v1/pki/certificates/{old}/renew"),
            "operator",
        )
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let renewed: Value = r.json().await.unwrap();
    assert_ne!(renewed["serial"], old.as_str());
    assert_eq!(renewed["sans"], json!(["ip:10.8.0.1"]));
    let list: Value = get_json(&app, "/api/v1/pki/certificates", "auditor").await;
    let old_row = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == old.as_str())
        .unwrap();
    assert_eq!(
        (
            old_row["status"].as_str(),
            old_row["revocation_reason"].as_str()
        ),
        (Some("revoked"), Some("superseded"))
    );

    let r = app
        .as_role(Method::POST, "/api/v1/pki/inventory", "operator")
        .json(&json!({"kind": "usbkey", "labels": ["UK-0001", "UK-0002"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let r = app
        .as_role(
            Method::POST,
            "/api/v1/pki/inventory/usbkey-UK-0001/assign",
            "operator",
        )
        .json(&json!({"to": "张三"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let too_many: Vec<String> = (0..199).map(|i| format!("X{i}")).collect();
    let (status, code, body) = error_code(
        app.as_role(Method::POST, "/api/v1/pki/inventory", "operator")
            .json(&json!({"kind": "usbkey", "labels": too_many}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, code.as_str()),
        (StatusCode::CONFLICT, "over_contract")
    );
    assert_eq!(body["details"]["remaining"], 198);

    let s: Value = get_json(&app, "/api/v1/pki/summary", "purchaser").await;
    let line = |k: &str| {
        s["lines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["kind"] == k)
            .unwrap()
            .clone()
    };
    assert_eq!(
        (
            line("server-sign")["contracted"].as_i64(),
            line("device")["contracted"].as_i64(),
            line("personal")["contracted"].as_i64()
        ),
        (Some(2), Some(2), Some(200))
    );
    assert_eq!(
        (
            line("usbkey")["contracted"].as_i64(),
            line("browser")["contracted"].as_i64()
        ),
        (Some(200), Some(200))
    );
    assert_eq!(line("device")["in_use"], 1);
    assert_eq!(
        (
            line("usbkey")["in_use"].as_i64(),
            line("usbkey")["on_hand"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // Audited.
    let audit: Value = get_json(&app, "/api/v1/audit?limit=20", "auditor").await;
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    for a in [
        "pki.issue",
        "pki.renew",
        "pki.revoke",
        "pki.inventory.add",
        "pki.inventory.assign",
    ] {
        assert!(actions.contains(&a), "{a} in {actions:?}");
    }
}

#[tokio::test]
async fn operators_issue_download_and_revoke_in_the_console() {
    let app = spawn_app().await;
    let post = |cookie: String, path: &'static str, form: Vec<(&'static str, String)>| {
        let req = app
            .http
            .post(app.url(path))
            .header("cookie", cookie)
            .form(&form);
        async move { req.send().await.unwrap() }
    };
    let ops = app.console_session("operator").await;
    let r = post(
        ops.clone(),
        "/pki/issue",
        vec![
            ("profile", "device".into()),
            ("common_name", "交易平台网闸".into()),
            ("sans", "ip:10.8.0.2".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let page = r.text().await.unwrap();
    assert!(
        page.contains("id=\"pki-issued\"") && page.contains("私钥口令"),
        "{page}"
    );
    assert!(page.contains("ENCRYPTED PRIVATE KEY"));
    let list = get_json(&app, "/api/v1/pki/certificates", "auditor").await;
    let serial = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["profile"] == "device")
        .unwrap()["serial"]
        .as_str()
        .unwrap()
        .to_owned();
    // The page shown again has no key material.
    let again = app
        .http
        .get(app.url("/pki"))
        .header("cookie", &ops)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!again.contains("ENCRYPTED PRIVATE KEY") && again.contains(&serial));
    // Download as PEM.
    let r = app
        .http
        .get(app.url(&format!("/pki/download/{serial}.pem")))
        .header("cookie", &ops)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pem = r.text().await.unwrap();
    assert_eq!(
        cert::serial_hex(&cert::parse_certificate(pem.as_bytes()).unwrap()),
        serial
    );
    // Bad input is shown as a message and issues nothing.
    let page = post(
        ops.clone(),
        "/pki/issue",
        vec![
            ("profile", "device".into()),
            ("sans", "dns:x.example".into()),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        page.contains("设备证书须以 ip: 给出设备的 IP 地址"),
        "{page}"
    );
    // Purchasers may look but not issue or revoke.
    let buyer = app.console_session("purchaser").await;
    let r = post(
        buyer.clone(),
        "/pki/revoke",
        vec![
            ("serial", serial.clone()),
            ("reason", "keyCompromise".into()),
        ],
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Revoke.
    let page = post(
        ops,
        "/pki/revoke",
        vec![
            ("serial", serial.clone()),
            ("reason", "cessationOfOperation".into()),
        ],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(page.contains("已吊销"), "{page}");
    let shown = get_json(&app, "/api/v1/pki/certificates", "auditor").await;
    let row = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["serial"] == serial.as_str())
        .unwrap()
        .clone();
    assert_eq!(row["revocation_reason"], "cessationOfOperation");
    assert_eq!(
        list.as_array().unwrap().len(),
        shown.as_array().unwrap().len(),
        "the refused request issued nothing"
    );
}
