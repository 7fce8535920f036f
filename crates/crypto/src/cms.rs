//! GM/T 0010 cryptographic message syntax on RustCrypto's `cms` structures: the digital
//! envelope 数字信封 (EnvelopedData, SM2 key transport, SM4-CBC content encryption) and the
//! signed message (SignedData, SM2 with SM3, attached or detached, with the signer
//! certificate). Secret work goes through the [`Provider`]; this module only builds and
//! parses structures.

use std::time::SystemTime;

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::enveloped_data::{
    EncryptedContentInfo, EnvelopedData, KeyTransRecipientInfo, RecipientIdentifier, RecipientInfo,
    RecipientInfos,
};
use cms::signed_data::{
    CertificateSet, EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos,
};
use der::asn1::{ObjectIdentifier as Oid, OctetString, SetOfVec};
use der::{Any, Decode, Encode};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use crate::keys::parse_certificate;
use crate::{CryptoError, KeyRef, Provider, Result, SigFormat, SignInput, Sm2PublicKey, Sm4Mode};

/// GM/T 0010 content types.
pub const OID_GM_DATA: Oid = Oid::new_unwrap("1.2.156.10197.6.1.4.2.1");
pub const OID_GM_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.156.10197.6.1.4.2.2");
pub const OID_GM_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.156.10197.6.1.4.2.3");
/// GM/T 0006 algorithm identifiers.
pub const OID_SM2_SIGN: Oid = Oid::new_unwrap("1.2.156.10197.1.301.1");
pub const OID_SM2_ENCRYPT: Oid = Oid::new_unwrap("1.2.156.10197.1.301.3");
pub const OID_SM3: Oid = Oid::new_unwrap("1.2.156.10197.1.401");
pub const OID_SM4_CBC: Oid = Oid::new_unwrap("1.2.156.10197.1.104.2");
/// PKCS #9 attributes.
const OID_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
/// RFC 5652 types, accepted when parsing for tolerance of CMS-style peers.
const OID_CMS_SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const OID_CMS_ENVELOPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.3");

fn malformed(what: &str) -> impl Fn(der::Error) -> CryptoError + '_ {
    move |e| CryptoError::Malformed(format!("{what} ({e})"))
}

fn issuer_and_serial(cert: &Certificate) -> IssuerAndSerialNumber {
    let tbs = cert.tbs_certificate();
    IssuerAndSerialNumber {
        issuer: tbs.issuer().clone(),
        serial_number: tbs.serial_number().clone(),
    }
}

fn alg(oid: Oid, parameters: Option<Any>) -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned { oid, parameters }
}

fn content_info(
    content_type: Oid,
    content: &(impl der::EncodeValue + der::Tagged),
) -> Result<Vec<u8>> {
    let ci = ContentInfo {
        content_type,
        content: Any::encode_from(content).map_err(malformed("content"))?,
    };
    ci.to_der().map_err(malformed("ContentInfo"))
}

/// Seal `plaintext` for the holder of `recipient_cert`'s SM2 encryption key.
pub fn seal_envelope(p: &dyn Provider, recipient_cert: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let cert = parse_certificate(recipient_cert)?;
    let public = Sm2PublicKey::from_parsed_certificate(&cert)?;
    seal(
        p,
        &public,
        CmsVersion::V0,
        RecipientIdentifier::IssuerAndSerialNumber(issuer_and_serial(&cert)),
        plaintext,
    )
}

/// Seal `plaintext` for a bare SM2 public key (no certificate): the recipient is named by a
/// key identifier, the first 20 bytes of SM3 over the public key's SEC1 form.
pub fn seal_envelope_to_key(
    p: &dyn Provider,
    recipient: &Sm2PublicKey,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let ski = OctetString::new(p.sm3(&recipient.to_sec1())[..20].to_vec())
        .map_err(malformed("key identifier"))?;
    seal(
        p,
        recipient,
        CmsVersion::V2,
        RecipientIdentifier::SubjectKeyIdentifier(x509_cert::ext::pkix::SubjectKeyIdentifier(ski)),
        plaintext,
    )
}

fn seal(
    p: &dyn Provider,
    public: &Sm2PublicKey,
    ktri_version: CmsVersion,
    rid: RecipientIdentifier,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let (session, encrypted_key) = p.session_key_for(public)?;
    let session_ref = session.key_ref();
    let (ct, iv) = p.sm4_encrypt(session_ref, Sm4Mode::Cbc, None, b"", plaintext)?;
    let iv_param = Any::encode_from(&OctetString::new(iv).map_err(malformed("IV"))?)
        .map_err(malformed("IV"))?;
    let ktri = KeyTransRecipientInfo {
        version: ktri_version,
        rid,
        key_enc_alg: alg(OID_SM2_ENCRYPT, None),
        enc_key: OctetString::new(encrypted_key).map_err(malformed("encrypted key"))?,
    };
    let ed = EnvelopedData {
        // RFC 5652 §6.1: version 2 when a recipient is named by key identifier.
        version: if ktri_version == CmsVersion::V0 {
            CmsVersion::V0
        } else {
            CmsVersion::V2
        },
        originator_info: None,
        recip_infos: RecipientInfos(
            SetOfVec::try_from(vec![RecipientInfo::Ktri(ktri)]).map_err(malformed("recipients"))?,
        ),
        encrypted_content: EncryptedContentInfo {
            content_type: OID_GM_DATA,
            content_enc_alg: alg(OID_SM4_CBC, Some(iv_param)),
            encrypted_content: Some(OctetString::new(ct).map_err(malformed("content"))?),
        },
        unprotected_attrs: None,
    };
    content_info(OID_GM_ENVELOPED_DATA, &ed)
}

/// Open an envelope with `key` (the recipient's sm2-enc key).
pub fn open_envelope(p: &dyn Provider, key: KeyRef<'_>, envelope: &[u8]) -> Result<Vec<u8>> {
    let ci =
        ContentInfo::from_der(envelope).map_err(malformed("envelope: not a DER ContentInfo"))?;
    if ci.content_type != OID_GM_ENVELOPED_DATA && ci.content_type != OID_CMS_ENVELOPED_DATA {
        return Err(CryptoError::Malformed(format!(
            "envelope: content type {} is not EnvelopedData",
            ci.content_type
        )));
    }
    let ed: EnvelopedData = ci
        .content
        .decode_as()
        .map_err(malformed("envelope: EnvelopedData"))?;
    let eci = &ed.encrypted_content;
    if eci.content_enc_alg.oid != OID_SM4_CBC {
        return Err(CryptoError::Malformed(format!(
            "envelope: content encryption {} is not SM4-CBC",
            eci.content_enc_alg.oid
        )));
    }
    let iv: OctetString = eci
        .content_enc_alg
        .parameters
        .as_ref()
        .ok_or_else(|| CryptoError::Malformed("envelope: SM4-CBC without an IV".into()))?
        .decode_as()
        .map_err(malformed("envelope: IV"))?;
    let ct = eci
        .encrypted_content
        .as_ref()
        .ok_or_else(|| CryptoError::Malformed("envelope: no encrypted content".into()))?;
    // Try each SM2 key-transport recipient: the one meant for this key decrypts.
    let mut last = CryptoError::Malformed("envelope: no SM2 key-transport recipient".into());
    for ri in ed.recip_infos.0.iter() {
        let RecipientInfo::Ktri(k) = ri else { continue };
        if k.key_enc_alg.oid != OID_SM2_ENCRYPT {
            continue;
        }
        match p.import_session_key(key, k.enc_key.as_bytes()) {
            Ok(session) => {
                let r = session.key_ref();
                return p.sm4_decrypt(r, Sm4Mode::Cbc, iv.as_bytes(), b"", ct.as_bytes());
            }
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn attribute(oid: Oid, value: &(impl der::EncodeValue + der::Tagged)) -> Result<Attribute> {
    let v = Any::encode_from(value).map_err(malformed("attribute"))?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![v]).map_err(malformed("attribute"))?,
    })
}

/// Sign `content` with `key` (sm2-sign) whose certificate is `signer_cert`; attached keeps
/// the content inside, detached leaves it out. Signed attributes: content type, signing
/// time, message digest (SM3). The signature is SM2 with the default signer ID.
pub fn sign_message(
    p: &dyn Provider,
    key: KeyRef<'_>,
    signer_cert: &[u8],
    content: &[u8],
    detached: bool,
    signing_time: SystemTime,
) -> Result<Vec<u8>> {
    let cert = parse_certificate(signer_cert)?;
    let cert_public = Sm2PublicKey::from_parsed_certificate(&cert)?;
    if p.public_key(key)? != cert_public {
        return Err(CryptoError::Certificate(
            "the certificate is not for this key".into(),
        ));
    }
    let digest = OctetString::new(p.sm3(content).to_vec()).map_err(malformed("digest"))?;
    let time = x509_cert::time::Time::try_from(signing_time).map_err(malformed("signing time"))?;
    let attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
        attribute(OID_CONTENT_TYPE, &OID_GM_DATA)?,
        attribute(OID_SIGNING_TIME, &time)?,
        attribute(OID_MESSAGE_DIGEST, &digest)?,
    ])
    .map_err(malformed("signed attributes"))?;
    let to_sign = attrs.to_der().map_err(malformed("signed attributes"))?;
    let signature = p.sign(
        key,
        crate::DEFAULT_SIGNER_ID,
        SignInput::Data(&to_sign),
        SigFormat::Der,
    )?;
    let si = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(issuer_and_serial(&cert)),
        digest_alg: alg(OID_SM3, None),
        signed_attrs: Some(attrs),
        signature_algorithm: alg(OID_SM2_SIGN, None),
        signature: OctetString::new(signature).map_err(malformed("signature"))?,
        unsigned_attrs: None,
    };
    let econtent = if detached {
        None
    } else {
        Some(
            Any::encode_from(&OctetString::new(content.to_vec()).map_err(malformed("content"))?)
                .map_err(malformed("content"))?,
        )
    };
    let sd = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![alg(OID_SM3, None)])
            .map_err(malformed("digest algorithms"))?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: OID_GM_DATA,
            econtent,
        },
        certificates: Some(CertificateSet(
            SetOfVec::try_from(vec![cms::cert::CertificateChoices::Certificate(cert)])
                .map_err(malformed("certificates"))?,
        )),
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![si]).map_err(malformed("signer infos"))?),
    };
    content_info(OID_GM_SIGNED_DATA, &sd)
}

/// What a verified signed message says.
#[derive(Debug)]
pub struct VerifiedMessage {
    pub valid: bool,
    /// The signed content (the attached one, or the detached one given).
    pub content: Vec<u8>,
    /// The signer's certificate, DER.
    pub signer_certificate: Vec<u8>,
    pub signing_time: Option<SystemTime>,
}

/// Verify a signed message; `detached` is the content for a detached signature. Judges the
/// signature and the message digest only, not the certificate's chain or revocation.
pub fn verify_message(
    p: &dyn Provider,
    message: &[u8],
    detached: Option<&[u8]>,
) -> Result<VerifiedMessage> {
    let ci = ContentInfo::from_der(message)
        .map_err(malformed("signed message: not a DER ContentInfo"))?;
    if ci.content_type != OID_GM_SIGNED_DATA && ci.content_type != OID_CMS_SIGNED_DATA {
        return Err(CryptoError::Malformed(format!(
            "signed message: content type {} is not SignedData",
            ci.content_type
        )));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(malformed("signed message: SignedData"))?;
    let content = match (&sd.encap_content_info.econtent, detached) {
        (Some(any), _) => {
            let os: OctetString = any
                .decode_as()
                .map_err(malformed("signed message: content"))?;
            os.as_bytes().to_vec()
        }
        (None, Some(d)) => d.to_vec(),
        (None, None) => {
            return Err(CryptoError::Malformed(
                "signed message: detached, and no content was given".into(),
            ))
        }
    };
    let si = sd
        .signer_infos
        .0
        .iter()
        .next()
        .ok_or_else(|| CryptoError::Malformed("signed message: no signer".into()))?;
    let SignerIdentifier::IssuerAndSerialNumber(isn) = &si.sid else {
        return Err(CryptoError::Malformed(
            "signed message: signer not identified by issuer and serial".into(),
        ));
    };
    let cert = sd
        .certificates
        .as_ref()
        .and_then(|cs| {
            cs.0.iter().find_map(|c| match c {
                cms::cert::CertificateChoices::Certificate(c) if issuer_and_serial(c) == *isn => {
                    Some(c.clone())
                }
                _ => None,
            })
        })
        .ok_or_else(|| {
            CryptoError::Malformed(
                "signed message: the signer's certificate is not included".into(),
            )
        })?;
    let cert_der = cert.to_der().map_err(malformed("certificate"))?;
    let public = Sm2PublicKey::from_parsed_certificate(&cert)?;
    let mut signing_time = None;
    let signed = match &si.signed_attrs {
        Some(attrs) => {
            let mut digest_ok = false;
            for a in attrs.iter() {
                let Some(v) = a.values.iter().next() else {
                    continue;
                };
                if a.oid == OID_MESSAGE_DIGEST {
                    let d: OctetString = v.decode_as().map_err(malformed("message digest"))?;
                    digest_ok = d.as_bytes() == p.sm3(&content);
                } else if a.oid == OID_SIGNING_TIME {
                    let t: x509_cert::time::Time =
                        v.decode_as().map_err(malformed("signing time"))?;
                    signing_time = Some(t.to_system_time());
                }
            }
            if !digest_ok {
                return Ok(VerifiedMessage {
                    valid: false,
                    content,
                    signer_certificate: cert_der,
                    signing_time,
                });
            }
            attrs.to_der().map_err(malformed("signed attributes"))?
        }
        None => content.clone(),
    };
    let valid = p.verify(
        &public,
        crate::DEFAULT_SIGNER_ID,
        SignInput::Data(&signed),
        si.signature.as_bytes(),
        SigFormat::Der,
    )?;
    Ok(VerifiedMessage {
        valid,
        content,
        signer_certificate: cert_der,
        signing_time,
    })
}
