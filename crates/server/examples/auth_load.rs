//! Load generator for strong authentication in `signature+certificate` mode: each worker
//! asks for a challenge, signs it with the holder's SM2 key (as a USB key would) and asks
//! for verification. Used by `scripts/bench-pki.sh`; prints authentications per second.
//!
//! auth_load BASE_URL APP_TOKEN CERT_PEM_FILE KEY_PEM_FILE(unencrypted PKCS #8) SECONDS CONCURRENCY

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use govcloud_crypto::{KeyKind, MasterKey, Provider, SigFormat, SignInput, SoftProvider};
use serde_json::{json, Value};

#[tokio::main]
async fn main() {
    let a: Vec<String> = std::env::args().collect();
    let (base, token, cert, key) = (a[1].clone(), a[2].clone(), a[3].clone(), a[4].clone());
    let secs: u64 = a[5].parse().unwrap();
    let conc: usize = a[6].parse().unwrap();
    let cert = std::fs::read_to_string(cert).unwrap();
    let scalar =
        govcloud_crypto::sm2_private_scalar_from_pem(&std::fs::read_to_string(key).unwrap())
            .unwrap();
    let provider = Arc::new(SoftProvider::new(MasterKey::generate().unwrap()));
    let k = provider
        .import_key(KeyKind::Sm2Sign, b"holder", &scalar)
        .unwrap();
    let http = reqwest::Client::new();
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (http, base, token, cert) = (http.clone(), base.clone(), token.clone(), cert.clone());
        let (provider, blob, done, failed) = (
            provider.clone(),
            k.blob.clone(),
            done.clone(),
            failed.clone(),
        );
        tasks.push(tokio::spawn(async move {
            while Instant::now() < end {
                let ch: Value = http
                    .post(format!("{base}/api/v1/auth/challenge"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let bytes = B64.decode(ch["challenge"].as_str().unwrap()).unwrap();
                let key = govcloud_crypto::KeyRef { kind: KeyKind::Sm2Sign, binding: b"holder", blob: &blob };
                let sig = provider
                    .sign(key, govcloud_crypto::DEFAULT_SIGNER_ID, SignInput::Data(&bytes), SigFormat::Der)
                    .unwrap();
                let v: Value = http
                    .post(format!("{base}/api/v1/auth/verify"))
                    .bearer_auth(&token)
                    .json(&json!({"mode": "signature+certificate", "challenge_id": ch["challenge_id"], "signature": B64.encode(&sig), "certificate_pem": cert}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                if v["ok"] == true {
                    done.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let n = done.load(Ordering::Relaxed);
    println!(
        "authentications: {n} ok, {} failed in {secs} s = {:.0}/s",
        failed.load(Ordering::Relaxed),
        n as f64 / secs as f64
    );
}
