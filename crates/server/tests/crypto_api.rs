//! The crypto service over HTTP with an app credential, against the real server.

mod common;

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use common::{error_code, spawn_app, App};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

struct Client<'a> {
    app: &'a App,
    token: String,
    id: String,
}

impl Client<'_> {
    async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.app
            .http
            .post(self.app.url(&format!("/api/v1/crypto{path}")))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn ok(&self, path: &str, body: Value) -> Value {
        let r = self.post(path, body).await;
        let status = r.status();
        let v: Value = r.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    async fn err(&self, path: &str, body: Value) -> (StatusCode, String) {
        let (s, code, _) = error_code(self.post(path, body).await).await;
        (s, code)
    }

    async fn key(&self, kind: &str) -> String {
        self.ok(
            "/keys",
            json!({"type": kind, "label": format!("{kind} 测试")}),
        )
        .await["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn new_app<'a>(app: &'a App, name: &str) -> Client<'a> {
    let r = app
        .as_role(Method::POST, "/api/v1/apps", "operator")
        .json(&json!({"name": name, "system": "jypt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let v: Value = r.json().await.unwrap();
    Client {
        app,
        token: v["token"].as_str().unwrap().to_owned(),
        id: v["id"].as_str().unwrap().to_owned(),
    }
}

fn b(s: &[u8]) -> String {
    B64.encode(s)
}

#[tokio::test]
async fn only_app_credentials_reach_the_crypto_service() {
    let app = spawn_app().await;
    // Purchasers may not issue app credentials.
    let r = app
        .as_role(Method::POST, "/api/v1/apps", "purchaser")
        .json(&json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // A console user's token is not an app credential.
    let r = app
        .as_role(Method::POST, "/api/v1/crypto/hash", "admin")
        .json(&json!({"data": "YWJj"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = new_app(&app, "交易平台").await;
    let v = c.ok("/hash", json!({"data": b(b"abc")})).await;
    assert_eq!(
        hex::encode(B64.decode(v["digest"].as_str().unwrap()).unwrap()),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    // Disabling the app stops its credential at once.
    let r = app
        .as_role(
            Method::POST,
            &format!("/api/v1/apps/{}/disable", c.id),
            "operator",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        c.post("/hash", json!({"data": "YWJj"})).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sign_verify_encrypt_decrypt_and_keys_stay_with_their_app() {
    let app = spawn_app().await;
    let c = new_app(&app, "交易平台").await;
    let other = new_app(&app, "专家库").await;
    let sign_key = c.key("sm2-sign").await;
    let msg = b("中标结果公示".as_bytes());

    for format in ["der", "raw"] {
        let sig = c
            .ok(
                "/sign",
                json!({"key_id": sign_key, "data": msg, "format": format}),
            )
            .await;
        let v = c.ok("/verify", json!({"key_id": sign_key, "data": msg, "signature": sig["signature"], "format": format})).await;
        assert_eq!(
            (v["valid"].as_bool(), v["key_version"].as_i64()),
            (Some(true), Some(1))
        );
        let v = c.ok("/verify", json!({"key_id": sign_key, "data": b(b"tampered"), "signature": sig["signature"], "format": format})).await;
        assert_eq!(v["valid"], false);
    }
    // verify with the PEM public key
    let key: Value = app
        .http
        .get(app.url(&format!("/api/v1/crypto/keys/{sign_key}")))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let pem = key["public_key_pem"].as_str().unwrap().to_owned();
    let sig = c
        .ok("/sign", json!({"key_id": sign_key, "data": msg}))
        .await;
    let v = c
        .ok(
            "/verify",
            json!({"public_key_pem": pem, "data": msg, "signature": sig["signature"]}),
        )
        .await;
    assert_eq!(v["valid"], true);

    // The other app cannot use this key.
    assert_eq!(
        other
            .err("/sign", json!({"key_id": sign_key, "data": msg}))
            .await,
        (StatusCode::NOT_FOUND, "key_not_found".into())
    );

    // SM4 in every mode, SM2 in both formats.
    let sm4 = c.key("sm4").await;
    for mode in ["sm4-cbc", "sm4-ctr", "sm4-gcm"] {
        let aad = if mode == "sm4-gcm" {
            json!(b(b"header"))
        } else {
            Value::Null
        };
        let e = c
            .ok(
                "/encrypt",
                json!({"key_id": sm4, "plaintext": msg, "mode": mode, "aad": aad}),
            )
            .await;
        let d = c.ok("/decrypt", json!({"key_id": sm4, "ciphertext": e["ciphertext"], "iv": e["iv"], "mode": mode, "aad": aad})).await;
        assert_eq!(d["plaintext"], msg, "{mode}");
    }
    let enc_key = c.key("sm2-enc").await;
    for format in ["der", "raw"] {
        let e = c
            .ok(
                "/encrypt",
                json!({"key_id": enc_key, "plaintext": msg, "mode": "sm2", "format": format}),
            )
            .await;
        let d = c.ok("/decrypt", json!({"key_id": enc_key, "ciphertext": e["ciphertext"], "mode": "sm2", "format": format})).await;
        assert_eq!(d["plaintext"], msg);
    }

    // HMAC with a stored key and a supplied key; random.
    let m1 = c.ok("/hmac", json!({"key_id": sm4, "data": msg})).await;
    assert_eq!(B64.decode(m1["mac"].as_str().unwrap()).unwrap().len(), 32);
    let m2 = c.ok("/hmac", json!({"key": b(b"k"), "data": msg})).await;
    assert_ne!(m1["mac"], m2["mac"]);
    let r = c.ok("/random", json!({"length": 48})).await;
    assert_eq!(B64.decode(r["data"].as_str().unwrap()).unwrap().len(), 48);

    // Batches: good and bad items side by side.
    let batch = c
        .ok("/sign/batch", json!({"items": [{"key_id": sign_key, "data": msg}, {"key_id": "key_nope", "data": msg}, {"key_id": sign_key, "data": "%%%"}]}))
        .await;
    let results = batch["results"].as_array().unwrap();
    assert!(results[0]["signature"].is_string());
    assert_eq!(results[1]["error"]["code"], "key_not_found");
    assert_eq!(results[2]["error"]["code"], "invalid_base64");
    let items: Vec<Value> = (0..20).map(|i| json!({"key_id": enc_key, "plaintext": b(format!("item {i}").as_bytes()), "mode": "sm2"})).collect();
    let enc = c.ok("/encrypt/batch", json!({"items": items})).await;
    let dec_items: Vec<Value> = enc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| json!({"key_id": enc_key, "ciphertext": r["ciphertext"], "mode": "sm2"}))
        .collect();
    let dec = c.ok("/decrypt/batch", json!({"items": dec_items})).await;
    assert_eq!(dec["results"][7]["plaintext"], b(b"item 7"));

    // Usage is counted per app and key.
    app.state
        .crypto
        .flush_usage(app.store.as_ref())
        .await
        .unwrap();
    let usage = app.store.usage(Some(&c.id)).await.unwrap();
    let signs: i64 = usage
        .iter()
        .filter(|(k, _)| k.key_id == sign_key && k.operation == "sign")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(
        signs,
        2 + 1 + 1,
        "two formats, one for the PEM check, one good batch item"
    );
    let apps: Value = app
        .as_role(Method::GET, "/api/v1/apps", "purchaser")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(apps
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == c.id.as_str() && a["operations"].as_i64().unwrap() > 40));
}

#[tokio::test]
async fn rotation_keeps_old_signatures_and_ciphertexts_working() {
    let app = spawn_app().await;
    let c = new_app(&app, "交易平台").await;
    let sk = c.key("sm2-sign").await;
    let sm4 = c.key("sm4").await;
    let enc = c.key("sm2-enc").await;
    let msg = b(b"before rotation");
    let old_sig = c.ok("/sign", json!({"key_id": sk, "data": msg})).await;
    let old_gcm = c
        .ok(
            "/encrypt",
            json!({"key_id": sm4, "plaintext": msg, "mode": "sm4-gcm"}),
        )
        .await;
    let old_cbc = c
        .ok(
            "/encrypt",
            json!({"key_id": sm4, "plaintext": msg, "mode": "sm4-cbc"}),
        )
        .await;
    let old_sm2 = c
        .ok(
            "/encrypt",
            json!({"key_id": enc, "plaintext": msg, "mode": "sm2"}),
        )
        .await;
    for k in [&sk, &sm4, &enc] {
        let v = c.ok(&format!("/keys/{k}/rotate"), json!({})).await;
        assert_eq!(v["version"], 2);
    }
    let new_sig = c.ok("/sign", json!({"key_id": sk, "data": msg})).await;
    assert_eq!(new_sig["key_version"], 2);
    let v = c
        .ok(
            "/verify",
            json!({"key_id": sk, "data": msg, "signature": old_sig["signature"]}),
        )
        .await;
    assert_eq!(
        (v["valid"].as_bool(), v["key_version"].as_i64()),
        (Some(true), Some(1))
    );
    let d = c.ok("/decrypt", json!({"key_id": sm4, "ciphertext": old_gcm["ciphertext"], "iv": old_gcm["iv"], "mode": "sm4-gcm"})).await;
    assert_eq!(
        (d["plaintext"].as_str(), d["key_version"].as_i64()),
        (Some(msg.as_str()), Some(1))
    );
    let d = c.ok("/decrypt", json!({"key_id": sm4, "ciphertext": old_cbc["ciphertext"], "iv": old_cbc["iv"], "mode": "sm4-cbc", "key_version": 1})).await;
    assert_eq!(d["plaintext"], msg);
    let d = c
        .ok(
            "/decrypt",
            json!({"key_id": enc, "ciphertext": old_sm2["ciphertext"], "mode": "sm2"}),
        )
        .await;
    assert_eq!(d["key_version"], 1);

    // Disable, enable, destroy.
    c.ok(&format!("/keys/{sk}/disable"), json!({})).await;
    assert_eq!(
        c.err("/sign", json!({"key_id": sk, "data": msg})).await,
        (StatusCode::CONFLICT, "key_disabled".into())
    );
    c.ok(&format!("/keys/{sk}/enable"), json!({})).await;
    let r = app
        .http
        .delete(app.url(&format!("/api/v1/crypto/keys/{sk}")))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        c.err("/sign", json!({"key_id": sk, "data": msg})).await,
        (StatusCode::GONE, "key_destroyed".into())
    );
    // every key change is audited
    let audit = app.store.audit_recent(50).await.unwrap();
    for action in [
        "key.create",
        "key.rotate",
        "key.disable",
        "key.enable",
        "key.destroy",
        "app.create",
    ] {
        assert!(
            audit.iter().any(|e| e.event.action == action),
            "{action} audited"
        );
    }
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx() {
    let app = spawn_app().await;
    let c = new_app(&app, "交易平台").await;
    let sk = c.key("sm2-sign").await;
    let sm4 = c.key("sm4").await;
    let cases: Vec<(&str, Value, StatusCode, &str)> = vec![
        (
            "/sign",
            json!({"key_id": sk, "data": "not base64!"}),
            StatusCode::BAD_REQUEST,
            "invalid_base64",
        ),
        (
            "/sign",
            json!({"key_id": "key_0000000000000000", "data": "YQ=="}),
            StatusCode::NOT_FOUND,
            "key_not_found",
        ),
        (
            "/sign",
            json!({"key_id": sm4, "data": "YQ=="}),
            StatusCode::BAD_REQUEST,
            "wrong_key_type",
        ),
        (
            "/sign",
            json!({"key_id": sk, "data": "YQ==", "digest": "YQ=="}),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            "/sign",
            json!({"key_id": sk, "digest": "YQ=="}),
            StatusCode::BAD_REQUEST,
            "invalid_digest",
        ),
        (
            "/sign",
            json!({"key_id": sk, "data": "YQ==", "format": "pem"}),
            StatusCode::BAD_REQUEST,
            "invalid_format",
        ),
        (
            "/verify",
            json!({"key_id": sk, "data": "YQ==", "signature": "MEUCIQ=="}),
            StatusCode::BAD_REQUEST,
            "invalid_signature_encoding",
        ),
        (
            "/verify",
            json!({"public_key_pem": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "data": "YQ==", "signature": "YQ=="}),
            StatusCode::BAD_REQUEST,
            "invalid_public_key",
        ),
        (
            "/encrypt",
            json!({"key_id": sm4, "plaintext": "YQ==", "mode": "sm4-xts"}),
            StatusCode::BAD_REQUEST,
            "invalid_mode",
        ),
        (
            "/encrypt",
            json!({"key_id": sm4, "plaintext": "YQ==", "mode": "sm4-cbc", "iv": "YWJj"}),
            StatusCode::BAD_REQUEST,
            "invalid_iv",
        ),
        (
            "/decrypt",
            json!({"key_id": sm4, "ciphertext": "YWJjZGVmZ2hpamtsbW5vcA==", "mode": "sm4-gcm", "iv": "AAAAAAAAAAAAAAAA"}),
            StatusCode::BAD_REQUEST,
            "authentication_failed",
        ),
        (
            "/random",
            json!({"length": 0}),
            StatusCode::BAD_REQUEST,
            "invalid_length",
        ),
        (
            "/hash",
            json!({"data": "YQ==", "algorithm": "md5"}),
            StatusCode::BAD_REQUEST,
            "invalid_algorithm",
        ),
        (
            "/envelope/open",
            json!({"key_id": sk, "envelope": "MAA="}),
            StatusCode::BAD_REQUEST,
            "wrong_key_type",
        ),
        (
            "/message/verify",
            json!({"message": "MIIBAAA="}),
            StatusCode::BAD_REQUEST,
            "malformed_input",
        ),
        (
            "/envelope/seal",
            json!({"data": "YQ==", "certificate_pem": "nope"}),
            StatusCode::BAD_REQUEST,
            "invalid_certificate",
        ),
        (
            "/keys",
            json!({"type": "rsa"}),
            StatusCode::BAD_REQUEST,
            "invalid_key_type",
        ),
        (
            "/sign/batch",
            json!({"items": []}),
            StatusCode::BAD_REQUEST,
            "invalid_batch",
        ),
    ];
    for (path, body, status, code) in cases {
        assert_eq!(
            c.err(path, body.clone()).await,
            (status, code.to_owned()),
            "{path} {body}"
        );
    }
    // A tampered SM2 ciphertext and a truncated one.
    let enc = c.key("sm2-enc").await;
    let e = c
        .ok(
            "/encrypt",
            json!({"key_id": enc, "plaintext": "YWJj", "mode": "sm2"}),
        )
        .await;
    let mut ct = B64.decode(e["ciphertext"].as_str().unwrap()).unwrap();
    let n = ct.len();
    ct[n - 1] ^= 1;
    assert_eq!(
        c.err(
            "/decrypt",
            json!({"key_id": enc, "ciphertext": b(&ct), "mode": "sm2"})
        )
        .await
        .1,
        "decryption_failed"
    );
    assert_eq!(
        c.err(
            "/decrypt",
            json!({"key_id": enc, "ciphertext": b(&ct[..10]), "mode": "sm2"})
        )
        .await
        .1,
        "decryption_failed"
    );
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn envelopes_signed_messages_and_byok_import() {
    let app = spawn_app().await;
    let c = new_app(&app, "交易平台").await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // OpenSSL makes the key pairs and certificates; the private keys come in by BYOK, sealed
    // in an envelope to the service's import key (as a client SDK would, with our library).
    let import: Value = app
        .http
        .get(app.url("/api/v1/crypto/import-key"))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let import_pub =
        govcloud_crypto::Sm2PublicKey::from_pem(import["public_key_pem"].as_str().unwrap())
            .unwrap();
    let mut ids = Vec::new();
    for (name, kind) in [("enc", "sm2-enc"), ("sig", "sm2-sign")] {
        openssl(
            d,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:SM2",
                "-out",
                &format!("{name}.key"),
            ],
        );
        openssl(
            d,
            &[
                "req",
                "-new",
                "-x509",
                "-key",
                &format!("{name}.key"),
                "-sm3",
                "-sigopt",
                "distid:1234567812345678",
                "-subj",
                &format!("/CN={name}"),
                "-days",
                "2",
                "-out",
                &format!("{name}.crt"),
            ],
        );
        let scalar = govcloud_crypto::sm2_private_scalar_from_pem(
            &std::fs::read_to_string(d.join(format!("{name}.key"))).unwrap(),
        )
        .unwrap();
        let envelope = seal_to_public_key(&import_pub, &scalar);
        let r = c
            .post(
                "/keys/import",
                json!({"type": kind, "label": name, "envelope": b(&envelope)}),
            )
            .await;
        assert_eq!(r.status(), StatusCode::CREATED);
        ids.push(
            r.json::<Value>().await.unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let enc_cert = std::fs::read_to_string(d.join("enc.crt")).unwrap();
    let sig_cert = std::fs::read_to_string(d.join("sig.crt")).unwrap();
    let secret = b("评标专家抽取结果".as_bytes());
    let env = c
        .ok(
            "/envelope/seal",
            json!({"data": secret, "certificate_pem": enc_cert}),
        )
        .await;
    let opened = c
        .ok(
            "/envelope/open",
            json!({"key_id": ids[0], "envelope": env["envelope"]}),
        )
        .await;
    assert_eq!(opened["data"], secret);

    for detached in [false, true] {
        let m = c.ok("/message/sign", json!({"key_id": ids[1], "data": secret, "certificate_pem": sig_cert, "detached": detached})).await;
        let body = if detached {
            json!({"message": m["message"], "data": secret})
        } else {
            json!({"message": m["message"]})
        };
        let v = c.ok("/message/verify", body).await;
        assert_eq!(
            (v["valid"].as_bool(), v["data"].as_str()),
            (Some(true), Some(secret.as_str()))
        );
        assert!(v["signer_certificate_pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN CERTIFICATE-----"));
    }
    // A signature made here verifies with the certificate too.
    let s = c
        .ok("/sign", json!({"key_id": ids[1], "data": secret}))
        .await;
    let v = c
        .ok(
            "/verify",
            json!({"certificate_pem": sig_cert, "data": secret, "signature": s["signature"]}),
        )
        .await;
    assert_eq!(v["valid"], true);
}

/// What a client SDK does for BYOK: a GM/T 0010 envelope to the import key's public key.
fn seal_to_public_key(public: &govcloud_crypto::Sm2PublicKey, material: &[u8]) -> Vec<u8> {
    let p = govcloud_crypto::SoftProvider::new(govcloud_crypto::MasterKey::generate().unwrap());
    govcloud_crypto::cms::seal_envelope_to_key(&p, public, material).unwrap()
}

#[tokio::test]
async fn the_console_crypto_page() {
    let app = spawn_app().await;
    let ops = app.console_session("operator").await;
    let page = app
        .http
        .post(app.url("/crypto/apps"))
        .header("cookie", &ops)
        .form(&[("name", "评标专家库管理系统"), ("system", "zjk")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"new-app\"") && page.contains("gca_"),
        "the token is shown once after issuing"
    );
    let token = page
        .split("gca_")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    let c = Client {
        app: &app,
        token: format!("gca_{token}"),
        id: String::new(),
    };
    let key = c.key("sm4").await;
    c.ok(
        "/encrypt",
        json!({"key_id": key, "plaintext": "YQ==", "mode": "sm4-ctr"}),
    )
    .await;

    let buyer = app.console_session("purchaser").await;
    let page = app
        .http
        .get(app.url("/crypto"))
        .header("cookie", &buyer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("评标专家库管理系统") && page.contains(&key) && page.contains("encrypt 1"),
        "keys and usage are listed"
    );
    assert!(
        !page.contains("gca_"),
        "the credential is never shown again"
    );
    assert!(
        !page.contains("签发应用凭据</button>"),
        "purchasers do not issue credentials"
    );
    let r = app
        .http
        .post(app.url("/crypto/apps"))
        .header("cookie", &buyer)
        .form(&[("name", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}
