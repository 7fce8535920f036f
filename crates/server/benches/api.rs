//! What the API costs per request on top of the cryptography, without the network: a verify
//! request (stored SM2 key, 256-byte message) sent through the real router (`oneshot`:
//! routing, middleware, the app credential, JSON, base64, the keystore, metering, the
//! response) next to the bare provider call it makes. The difference is the cost of
//! "HTTP, JSON and the keystore" minus hyper and the kernel's sockets, which
//! `scripts/bench-http.sh` measures end to end.
//! Run: `taskset -c 0 cargo bench -p govcloud --bench api`; figures in docs/PERFORMANCE.md.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use base64::Engine as _;
use chrono::Utc;
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use govcloud::app::{self, AppState};
use govcloud::ops::{self, Ctx};
use govcloud_crypto::{KeyKind, SigFormat, SignInput, DEFAULT_SIGNER_ID};
use govcloud_store::{SqliteStore, Store};
use tower::ServiceExt;

fn crypto_sign(state: &AppState, key: govcloud_crypto::KeyRef<'_>, msg: &[u8]) -> Vec<u8> {
    state
        .crypto
        .provider
        .sign(key, DEFAULT_SIGNER_ID, SignInput::Data(msg), SigFormat::Der)
        .unwrap()
}

fn api(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let msg = [0x5au8; 256];
    let (state, token, key_id, public, sig) = rt.block_on(async {
        let store: Arc<dyn Store> = Arc::new(
            SqliteStore::open(&dir.path().join("govcloud.db"))
                .await
                .unwrap(),
        );
        let crypto = govcloud::crypto::CryptoService::new(Arc::new(
            govcloud_crypto::SoftProvider::new(govcloud_crypto::MasterKey::generate().unwrap()),
        ));
        let pki = govcloud::pki::PkiService::load_or_init(
            store.as_ref(),
            crypto.provider.clone(),
            "http://127.0.0.1",
        )
        .await
        .unwrap();
        let cx = Ctx {
            store: store.as_ref(),
            actor: "bench",
            now: Utc::now(),
        };
        let (app, token) = ops::create_app(cx, "bench", None).await.unwrap();
        let key = ops::create_key(
            cx,
            crypto.provider.as_ref(),
            &app,
            KeyKind::Sm2Sign,
            None,
            None,
        )
        .await
        .unwrap();
        let state = AppState::new(store, crypto, pki);
        let resolved = state
            .crypto
            .resolve(state.store.as_ref(), &app, &key.id, &[KeyKind::Sm2Sign])
            .await
            .unwrap();
        let (_, key_ref) = resolved.current().unwrap();
        let sig = crypto_sign(&state, key_ref, &msg);
        let public = resolved.publics[0].clone().unwrap();
        (state, token, key.id, public, sig)
    });
    let p = state.crypto.provider.clone();
    let b64 = base64::engine::general_purpose::STANDARD;
    let body = serde_json::json!({
        "key_id": key_id,
        "data": b64.encode(msg),
        "signature": b64.encode(&sig),
    })
    .to_string();
    let router = app::router(state.clone());
    let request = || {
        Request::post("/api/v1/crypto/verify")
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.clone()))
            .unwrap()
    };
    // The answer is checked once, so the loop measures a real verification.
    rt.block_on(async {
        let resp = router.clone().oneshot(request()).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 16)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["valid"], true, "{v}");
    });

    let mut g = c.benchmark_group("api");
    g.throughput(Throughput::Elements(1));
    g.bench_function("provider verify (256 B, the primitive alone)", |b| {
        b.iter(|| {
            assert!(p
                .verify(
                    &public,
                    DEFAULT_SIGNER_ID,
                    SignInput::Data(black_box(&msg)),
                    &sig,
                    SigFormat::Der,
                )
                .unwrap())
        })
    });
    g.bench_function(
        "POST /api/v1/crypto/verify through the router (no network)",
        |b| {
            b.iter(|| {
                rt.block_on(async {
                    let resp = router.clone().oneshot(request()).await.unwrap();
                    assert_eq!(resp.status(), StatusCode::OK);
                    axum::body::to_bytes(resp.into_body(), 1 << 16)
                        .await
                        .unwrap()
                })
            })
        },
    );
    g.finish();
}

criterion_group!(benches, api);
criterion_main!(benches);
