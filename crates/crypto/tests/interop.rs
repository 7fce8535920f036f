//! Interoperability with implementations nobody here wrote: Debian's `openssl` 3 (always on
//! this kind of machine) and GmSSL through PyPI's `gmssl-pyx` (when `GOVCLOUD_TEST_GMSSL_PYTHON`
//! names a Python that has it; `.ci/run` sets it up and insists that it ran).

use std::path::Path;
use std::process::Command;

use govcloud_crypto::{
    sm2_private_scalar_from_pem, CipherFormat, KeyKind, MasterKey, Provider, SigFormat, SignInput,
    Sm2PublicKey, Sm4Mode, SoftProvider, DEFAULT_SIGNER_ID,
};

fn provider() -> SoftProvider {
    SoftProvider::new(MasterKey::generate().unwrap())
}

fn openssl(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("Debian's openssl is installed");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

const MSG: &[u8] = "招标文件 第二包 签名验签服务".as_bytes();

#[test]
fn openssl_verifies_our_signatures_and_we_verify_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("msg"), MSG).unwrap();
    let p = provider();

    // Ours → OpenSSL.
    let k = p.generate_key(KeyKind::Sm2Sign, b"k/1").unwrap();
    std::fs::write(d.join("ours.pub.pem"), k.public.as_ref().unwrap().to_pem()).unwrap();
    let sig = p
        .sign(
            k.key_ref(),
            DEFAULT_SIGNER_ID,
            SignInput::Data(MSG),
            SigFormat::Der,
        )
        .unwrap();
    std::fs::write(d.join("ours.sig"), &sig).unwrap();
    let distid = format!("distid:{DEFAULT_SIGNER_ID}");
    let (ok, out) = openssl(
        d,
        &[
            "dgst",
            "-sm3",
            "-verify",
            "ours.pub.pem",
            "-sigopt",
            &distid,
            "-signature",
            "ours.sig",
            "msg",
        ],
    );
    assert!(ok && out.contains("Verified OK"), "{out}");
    // and OpenSSL notices a different message
    std::fs::write(d.join("msg2"), b"other").unwrap();
    let (ok, _) = openssl(
        d,
        &[
            "dgst",
            "-sm3",
            "-verify",
            "ours.pub.pem",
            "-sigopt",
            &distid,
            "-signature",
            "ours.sig",
            "msg2",
        ],
    );
    assert!(!ok);

    // OpenSSL → ours.
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
                "theirs.pem"
            ]
        )
        .0
    );
    assert!(
        openssl(
            d,
            &[
                "pkey",
                "-in",
                "theirs.pem",
                "-pubout",
                "-out",
                "theirs.pub.pem"
            ]
        )
        .0
    );
    let (ok, out) = openssl(
        d,
        &[
            "dgst",
            "-sm3",
            "-sign",
            "theirs.pem",
            "-sigopt",
            &distid,
            "-out",
            "theirs.sig",
            "msg",
        ],
    );
    assert!(ok, "{out}");
    let public =
        Sm2PublicKey::from_pem(&std::fs::read_to_string(d.join("theirs.pub.pem")).unwrap())
            .unwrap();
    let their_sig = std::fs::read(d.join("theirs.sig")).unwrap();
    assert!(p
        .verify(
            &public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(MSG),
            &their_sig,
            SigFormat::Der
        )
        .unwrap());
    assert!(!p
        .verify(
            &public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"other"),
            &their_sig,
            SigFormat::Der
        )
        .unwrap());

    // OpenSSL's private key imported (BYOK) gives OpenSSL's public key.
    let scalar =
        sm2_private_scalar_from_pem(&std::fs::read_to_string(d.join("theirs.pem")).unwrap())
            .unwrap();
    let imported = p.import_key(KeyKind::Sm2Sign, b"k/2", &scalar).unwrap();
    assert_eq!(imported.public.unwrap(), public);

    // A self-signed certificate from OpenSSL carries the key too.
    let (ok, out) = openssl(
        d,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "theirs.pem",
            "-sm3",
            "-sigopt",
            &distid,
            "-subj",
            "/CN=govcloud interop",
            "-days",
            "1",
            "-out",
            "theirs.crt",
        ],
    );
    assert!(ok, "{out}");
    let from_cert =
        Sm2PublicKey::from_certificate(&std::fs::read(d.join("theirs.crt")).unwrap()).unwrap();
    assert_eq!(from_cert, public);
}

#[test]
fn sm4_cbc_crosses_with_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = provider();
    let key_hex = "0123456789abcdeffedcba9876543210";
    let iv_hex = "000102030405060708090a0b0c0d0e0f";
    let k = p
        .import_key(KeyKind::Sm4, b"k/1", &hex::decode(key_hex).unwrap())
        .unwrap();
    let key = k.key_ref();
    let plaintext = "评标专家库管理系统：SM4-CBC 与 OpenSSL 互通".repeat(3);
    let (ct, _) = p
        .sm4_encrypt(
            key,
            Sm4Mode::Cbc,
            Some(&hex::decode(iv_hex).unwrap()),
            b"",
            plaintext.as_bytes(),
        )
        .unwrap();
    std::fs::write(d.join("ours.ct"), &ct).unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "enc", "-d", "-sm4-cbc", "-K", key_hex, "-iv", iv_hex, "-in", "ours.ct", "-out",
            "ours.pt",
        ],
    );
    assert!(ok, "{out}");
    assert_eq!(
        std::fs::read(d.join("ours.pt")).unwrap(),
        plaintext.as_bytes()
    );

    std::fs::write(d.join("theirs.pt"), b"from openssl, 33 bytes of text..").unwrap();
    let (ok, out) = openssl(
        d,
        &[
            "enc",
            "-e",
            "-sm4-cbc",
            "-K",
            key_hex,
            "-iv",
            iv_hex,
            "-in",
            "theirs.pt",
            "-out",
            "theirs.ct",
        ],
    );
    assert!(ok, "{out}");
    let theirs = std::fs::read(d.join("theirs.ct")).unwrap();
    assert_eq!(
        p.sm4_decrypt(
            key,
            Sm4Mode::Cbc,
            &hex::decode(iv_hex).unwrap(),
            b"",
            &theirs
        )
        .unwrap(),
        b"from openssl, 33 bytes of text.."
    );
}

/// Runs a GmSSL operation through `gmssl_pyx`; arguments and results are hex.
fn gmssl(python: &str, op: &str, args: &[&str]) -> String {
    const SCRIPT: &str = r#"
import sys, gmssl_pyx as g
op, args = sys.argv[1], [bytes.fromhex(a) for a in sys.argv[2:]]
if op == "keygen":
    pub, priv = g.sm2_key_generate(); print(pub.hex(), priv.hex())
elif op == "sign":
    print(g.sm2_sign(args[0], args[1], args[2]).hex())
elif op == "verify":
    print("1" if g.sm2_verify(args[0], args[1], args[2]) else "0")
elif op == "encrypt":
    print(g.sm2_encrypt(args[0], args[1]).hex())
elif op == "decrypt":
    print(g.sm2_decrypt(args[0], args[1]).hex())
"#;
    let out = Command::new(python)
        .arg("-c")
        .arg(SCRIPT)
        .arg(op)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gmssl {op}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn gmssl_crosses_signatures_and_sm2_ciphertexts() {
    let Ok(python) = std::env::var("GOVCLOUD_TEST_GMSSL_PYTHON") else {
        eprintln!("GOVCLOUD_TEST_GMSSL_PYTHON is not set: GmSSL interop skipped");
        return;
    };
    let p = provider();
    let msg_hex = hex::encode(MSG);

    // Ours → GmSSL: signature and ciphertext.
    let k = p.generate_key(KeyKind::Sm2Sign, b"k/1").unwrap();
    let pub64 = hex::encode(&k.public.as_ref().unwrap().to_sec1()[1..]);
    let sig = p
        .sign(
            k.key_ref(),
            DEFAULT_SIGNER_ID,
            SignInput::Data(MSG),
            SigFormat::Der,
        )
        .unwrap();
    assert_eq!(
        gmssl(&python, "verify", &[&pub64, &msg_hex, &hex::encode(&sig)]),
        "1"
    );
    assert_eq!(
        gmssl(
            &python,
            "verify",
            &[&pub64, &hex::encode(b"other"), &hex::encode(&sig)]
        ),
        "0"
    );

    // GmSSL's keys and signatures → ours.
    let kp = gmssl(&python, "keygen", &[]);
    let (their_pub, their_priv) = kp.split_once(' ').unwrap();
    let their_public =
        Sm2PublicKey::from_sec1(&hex::decode(format!("04{their_pub}")).unwrap()).unwrap();
    let their_sig =
        hex::decode(gmssl(&python, "sign", &[their_priv, their_pub, &msg_hex])).unwrap();
    assert!(p
        .verify(
            &their_public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(MSG),
            &their_sig,
            SigFormat::Der
        )
        .unwrap());

    // SM2 ciphertexts (GM/T 0009 ASN.1, C1C3C2) both ways.
    let ct = p
        .sm2_encrypt(&their_public, MSG, CipherFormat::Der)
        .unwrap();
    assert_eq!(
        gmssl(&python, "decrypt", &[their_priv, &hex::encode(&ct)]),
        msg_hex
    );
    let enc = p.generate_key(KeyKind::Sm2Enc, b"e/1").unwrap();
    let enc_pub64 = hex::encode(&enc.public.as_ref().unwrap().to_sec1()[1..]);
    let their_ct = hex::decode(gmssl(&python, "encrypt", &[&enc_pub64, &msg_hex])).unwrap();
    let opened = p
        .sm2_decrypt(enc.key_ref(), &their_ct, CipherFormat::Der)
        .unwrap();
    assert_eq!(opened, MSG);
    eprintln!("GmSSL interop: ran");
}
