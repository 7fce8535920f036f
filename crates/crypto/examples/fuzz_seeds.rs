//! Writes valid inputs for the fuzz targets (`fuzz/seeds/<target>/`), so that fuzzing starts
//! from well-formed envelopes, signed messages, certificates and SM2 DER rather than noise.
//! Run: `cargo run -p govcloud-crypto --example fuzz_seeds -- fuzz/seeds CERT.pem KEY.pem`
//! where CERT/KEY are an SM2 certificate and its private key (e.g. from `openssl req -x509`).

use std::path::Path;
use std::time::SystemTime;

use govcloud_crypto::{
    cms, sm2_private_scalar_from_pem, CipherFormat, KeyKind, MasterKey, Provider, SigFormat,
    SignInput, SoftProvider, DEFAULT_SIGNER_ID,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, out, cert, key] = args.as_slice() else {
        eprintln!("usage: fuzz_seeds OUT_DIR CERT.pem KEY.pem");
        std::process::exit(2);
    };
    let out = Path::new(out);
    let cert_pem = std::fs::read(cert).expect("certificate");
    let scalar =
        sm2_private_scalar_from_pem(&std::fs::read_to_string(key).expect("key")).expect("SM2 key");
    let p = SoftProvider::new(MasterKey::generate().unwrap());
    let sign = p.import_key(KeyKind::Sm2Sign, b"s/1", &scalar).unwrap();
    let sref = sign.key_ref();
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    write(
        "envelope",
        "to-certificate.der",
        &cms::seal_envelope(&p, &cert_pem, b"seed content").unwrap(),
    );
    write(
        "envelope",
        "to-key.der",
        &cms::seal_envelope_to_key(&p, sign.public.as_ref().unwrap(), &[7u8; 16]).unwrap(),
    );
    let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_795_000_000);
    write(
        "signed_message",
        "attached.der",
        &cms::sign_message(&p, sref, &cert_pem, b"seed content", false, at).unwrap(),
    );
    write(
        "signed_message",
        "detached.der",
        &cms::sign_message(&p, sref, &cert_pem, b"detached content", true, at).unwrap(),
    );
    write("public_key", "certificate.pem", &cert_pem);
    write(
        "public_key",
        "spki.pem",
        sign.public.as_ref().unwrap().to_pem().as_bytes(),
    );
    write(
        "public_key",
        "sec1.bin",
        &sign.public.as_ref().unwrap().to_sec1(),
    );
    let sig = p
        .sign(
            sref,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"message"),
            SigFormat::Der,
        )
        .unwrap();
    write("sm2_der", "signature.der", &sig);
    let ct = p
        .sm2_encrypt(sign.public.as_ref().unwrap(), b"seed", CipherFormat::Der)
        .unwrap();
    write("sm2_der", "ciphertext.der", &ct);
    println!("seeds written under {}", out.display());
}
