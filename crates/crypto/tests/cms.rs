//! GM/T 0010 envelopes and signed messages, with keys and certificates made by OpenSSL.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use govcloud_crypto::cms::{
    open_envelope, seal_envelope, sign_message, verify_message, OID_GM_ENVELOPED_DATA,
    OID_GM_SIGNED_DATA,
};
use govcloud_crypto::{
    sm2_private_scalar_from_pem, CryptoError, KeyKind, KeyRef, MasterKey, NewKey, Provider,
    SoftProvider,
};

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

/// An OpenSSL-made SM2 key imported into the provider, and a self-signed certificate for it.
fn key_and_cert(p: &SoftProvider, dir: &Path, name: &str, kind: KeyKind) -> (NewKey, Vec<u8>) {
    let key = format!("{name}.key");
    let crt = format!("{name}.crt");
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            &key,
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            &key,
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-subj",
            &format!("/CN={name}"),
            "-days",
            "2",
            "-out",
            &crt,
        ],
    );
    let scalar =
        sm2_private_scalar_from_pem(&std::fs::read_to_string(dir.join(&key)).unwrap()).unwrap();
    (
        p.import_key(kind, name.as_bytes(), &scalar).unwrap(),
        std::fs::read(dir.join(&crt)).unwrap(),
    )
}

fn kref<'a>(kind: KeyKind, name: &'a str, k: &'a NewKey) -> KeyRef<'a> {
    KeyRef {
        kind,
        binding: name.as_bytes(),
        blob: &k.blob,
    }
}

#[test]
fn envelopes_open_only_for_their_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let p = SoftProvider::new(MasterKey::generate().unwrap());
    let (alice, alice_cert) = key_and_cert(&p, dir.path(), "alice", KeyKind::Sm2Enc);
    let (bob, _) = key_and_cert(&p, dir.path(), "bob", KeyKind::Sm2Enc);
    let secret = "评标专家名单（机密）".repeat(20);
    let env = seal_envelope(&p, &alice_cert, secret.as_bytes()).unwrap();
    // GM/T 0010 EnvelopedData content type, DER-encoded.
    let oid = OID_GM_ENVELOPED_DATA.to_string();
    assert!(oid == "1.2.156.10197.6.1.4.2.3");
    assert_eq!(env[0], 0x30);
    assert_eq!(
        open_envelope(&p, kref(KeyKind::Sm2Enc, "alice", &alice), &env).unwrap(),
        secret.as_bytes()
    );
    assert!(
        open_envelope(&p, kref(KeyKind::Sm2Enc, "bob", &bob), &env).is_err(),
        "not for bob"
    );
    // PEM certificates work as well as DER.
    assert!(seal_envelope(
        &p,
        std::fs::read_to_string(dir.path().join("alice.crt"))
            .unwrap()
            .as_bytes(),
        b"x"
    )
    .is_ok());

    // Tampering anywhere is caught: the last bytes are ciphertext (padding check), and a
    // truncated or garbled structure is refused as malformed.
    let mut bad = env.clone();
    let n = bad.len();
    bad[n - 1] ^= 0xff;
    bad[n - 17] ^= 0xff;
    assert!(
        open_envelope(&p, kref(KeyKind::Sm2Enc, "alice", &alice), &bad)
            .map(|pt| pt != secret.as_bytes())
            .unwrap_or(true)
    );
    assert!(matches!(
        open_envelope(
            &p,
            kref(KeyKind::Sm2Enc, "alice", &alice),
            &env[..env.len() / 2]
        ),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        open_envelope(
            &p,
            kref(KeyKind::Sm2Enc, "alice", &alice),
            b"\x30\x03\x02\x01\x00"
        ),
        Err(CryptoError::Malformed(_))
    ));
    assert!(matches!(
        seal_envelope(&p, b"not a certificate", b"x"),
        Err(CryptoError::Certificate(_))
    ));
}

#[test]
fn signed_messages_attached_and_detached() {
    let dir = tempfile::tempdir().unwrap();
    let p = SoftProvider::new(MasterKey::generate().unwrap());
    let (signer, cert) = key_and_cert(&p, dir.path(), "signer", KeyKind::Sm2Sign);
    let content = "北京市公共资源交易中心 中标通知书".as_bytes();
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_000_000);
    assert!(OID_GM_SIGNED_DATA.to_string() == "1.2.156.10197.6.1.4.2.2");

    let attached = sign_message(
        &p,
        kref(KeyKind::Sm2Sign, "signer", &signer),
        &cert,
        content,
        false,
        at,
    )
    .unwrap();
    let v = verify_message(&p, &attached, None).unwrap();
    assert!(v.valid);
    assert_eq!(v.content, content);
    assert_eq!(v.signing_time, Some(at));

    let detached = sign_message(
        &p,
        kref(KeyKind::Sm2Sign, "signer", &signer),
        &cert,
        content,
        true,
        at,
    )
    .unwrap();
    assert!(detached.len() < attached.len());
    assert!(verify_message(&p, &detached, Some(content)).unwrap().valid);
    assert!(
        !verify_message(&p, &detached, Some(b"altered"))
            .unwrap()
            .valid,
        "other content"
    );
    assert!(matches!(
        verify_message(&p, &detached, None),
        Err(CryptoError::Malformed(_))
    ));

    // The content inside an attached message altered: the digest no longer matches.
    let pos = attached
        .windows(content.len())
        .position(|w| w == content)
        .unwrap();
    let mut bad = attached.clone();
    bad[pos] ^= 1;
    assert!(!verify_message(&p, &bad, None).unwrap().valid);
    assert!(matches!(
        verify_message(&p, &attached[..40], None),
        Err(CryptoError::Malformed(_))
    ));

    // A certificate for another key is refused when signing.
    let (_, other_cert) = key_and_cert(&p, dir.path(), "other", KeyKind::Sm2Sign);
    assert!(matches!(
        sign_message(
            &p,
            kref(KeyKind::Sm2Sign, "signer", &signer),
            &other_cert,
            content,
            false,
            at
        ),
        Err(CryptoError::Certificate(_))
    ));
}
