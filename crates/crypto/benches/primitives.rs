//! Per-operation throughput of the provider on one core, as the service calls it (key
//! unwrapping included). Run: `cargo bench -p govcloud-crypto`; figures in docs/PERFORMANCE.md.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use govcloud_crypto::{
    CipherFormat, KeyKind, MasterKey, Provider, SigFormat, SignInput, Sm4Mode, SoftProvider,
    DEFAULT_SIGNER_ID,
};

fn sm2(c: &mut Criterion) {
    let p = SoftProvider::new(MasterKey::generate().unwrap());
    let sk = p.generate_key(KeyKind::Sm2Sign, b"b/1").unwrap();
    let key = sk.key_ref();
    let public = sk.public.clone().unwrap();
    let msg = [0x5au8; 256];
    let sig = p
        .sign(
            key,
            DEFAULT_SIGNER_ID,
            SignInput::Data(&msg),
            SigFormat::Der,
        )
        .unwrap();
    let ek = p.generate_key(KeyKind::Sm2Enc, b"e/1").unwrap();
    let ekey = ek.key_ref();
    let epub = ek.public.clone().unwrap();
    let ct = p.sm2_encrypt(&epub, &msg[..32], CipherFormat::Der).unwrap();

    let mut g = c.benchmark_group("sm2");
    g.throughput(Throughput::Elements(1));
    g.bench_function("sign (256 B, unwrap + sign)", |b| {
        b.iter(|| {
            p.sign(
                key,
                DEFAULT_SIGNER_ID,
                SignInput::Data(black_box(&msg)),
                SigFormat::Der,
            )
            .unwrap()
        })
    });
    g.bench_function("verify (256 B)", |b| {
        b.iter(|| {
            assert!(p
                .verify(
                    &public,
                    DEFAULT_SIGNER_ID,
                    SignInput::Data(black_box(&msg)),
                    &sig,
                    SigFormat::Der
                )
                .unwrap())
        })
    });
    let crate_vk =
        sm2::dsa::VerifyingKey::from_sec1_bytes(DEFAULT_SIGNER_ID, &public.to_sec1()).unwrap();
    let crate_sig = sm2::dsa::Signature::from_der(&sig).unwrap();
    g.bench_function(
        "verify (256 B, sm2 crate's constant-time verifier, for comparison)",
        |b| {
            use sm2::dsa::signature::Verifier;
            b.iter(|| crate_vk.verify(black_box(&msg), &crate_sig).unwrap())
        },
    );
    g.bench_function("encrypt (32 B)", |b| {
        b.iter(|| {
            p.sm2_encrypt(&epub, black_box(&msg[..32]), CipherFormat::Der)
                .unwrap()
        })
    });
    g.bench_function("decrypt (32 B, unwrap + decrypt)", |b| {
        b.iter(|| {
            p.sm2_decrypt(ekey, black_box(&ct), CipherFormat::Der)
                .unwrap()
        })
    });
    g.finish();
}

fn symmetric(c: &mut Criterion) {
    let p = SoftProvider::new(MasterKey::generate().unwrap());
    let k = p.generate_key(KeyKind::Sm4, b"s/1").unwrap();
    let key = k.key_ref();
    let data = vec![0xa5u8; 1 << 20];
    let mut g = c.benchmark_group("bulk 1 MiB");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.sample_size(20);
    g.bench_function("sm3", |b| b.iter(|| p.sm3(black_box(&data))));
    for mode in [Sm4Mode::Cbc, Sm4Mode::Ctr, Sm4Mode::Gcm] {
        g.bench_with_input(
            BenchmarkId::new("sm4 encrypt", format!("{mode:?}")),
            &mode,
            |b, m| b.iter(|| p.sm4_encrypt(key, *m, None, b"", black_box(&data)).unwrap()),
        );
    }
    g.finish();
}

criterion_group!(benches, sm2, symmetric);
criterion_main!(benches);
