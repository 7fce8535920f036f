//! RFC 3161 Time-Stamp Protocol: parse requests, build granted responses (a CMS SignedData
//! token over TSTInfo, with the RFC 5035 ESS signingCertificateV2 attribute) and rejections,
//! and verify tokens.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cms::cert::IssuerAndSerialNumber;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier};
use der::asn1::{BitString, ObjectIdentifier, OctetString, SetOfVec, Uint};
use der::{
    Any, Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence,
    SliceReader, Tag, Tagged, Writer,
};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extension;
use x509_cert::Certificate;

use crate::{malformed, PkiError, Result, SigAlg};

/// id-signedData (RFC 5652).
pub const OID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
/// id-ct-TSTInfo (RFC 3161).
pub const OID_CT_TSTINFO: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub const OID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const OID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
/// GM/T 0006 sm2sign, the SignerInfo signature algorithm for SM2 (as GM/T 0010 uses it).
pub const OID_SM2_SIGN: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.301.1");
/// id-kp-timeStamping (the critical EKU of a TSA certificate).
pub const OID_KP_TIME_STAMPING: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.8");
const OID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const OID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const OID_SIGNING_TIME: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.5");
/// id-aa-signingCertificate (RFC 2634, ESSCertID with SHA-1).
const OID_SIGNING_CERTIFICATE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.12");
/// id-aa-signingCertificateV2 (RFC 5035).
const OID_SIGNING_CERTIFICATE_V2: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.2.47");

/// Longest request nonce accepted, in octets.
const MAX_NONCE_LEN: usize = 64;

// ---------------------------------------------------------------------------------------
// ASN.1 structures (RFC 3161 §2.4, an IMPLICIT TAGS module; RFC 5652; RFC 5035).

#[derive(Clone, Debug, Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Clone, Debug, Sequence)]
struct TimeStampReqAsn1 {
    version: u8,
    message_imprint: MessageImprint,
    req_policy: Option<ObjectIdentifier>,
    nonce: Option<Uint>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    extensions: Option<Vec<Extension>>,
}

#[derive(Clone, Debug, Sequence)]
struct PkiStatusInfo {
    status: u8,
    status_string: Option<Vec<String>>,
    fail_info: Option<BitString>,
}

#[derive(Clone, Debug, Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    time_stamp_token: Option<ContentInfoAsn1>,
}

#[derive(Clone, Debug, Sequence)]
struct ContentInfoAsn1 {
    content_type: ObjectIdentifier,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    content: Any,
}

#[derive(Clone, Debug, Sequence)]
struct Accuracy {
    seconds: Option<u32>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

#[derive(Clone, Debug, Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Uint,
    gen_time: GenTime,
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    nonce: Option<Uint>,
    /// `[0] GeneralName`: explicit, as GeneralName is a CHOICE.
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<GeneralName>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    extensions: Option<Vec<Extension>>,
}

/// SignedData with the parts that must stay byte-exact kept as received.
#[derive(Clone, Debug, Sequence)]
struct SignedDataAsn1 {
    version: u8,
    digest_algorithms: SetOfVec<AlgorithmIdentifierOwned>,
    encap_content_info: EncapsulatedContentInfo,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    certificates: Option<SetOfVec<Any>>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    crls: Option<SetOfVec<Any>>,
    /// SET OF SignerInfo, each decoded on its own.
    signer_infos: SetOfVec<Any>,
}

#[derive(Clone, Debug, Sequence)]
struct SignerInfoAsn1 {
    version: u8,
    sid: SignerIdentifier,
    digest_alg: AlgorithmIdentifierOwned,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    signed_attrs: Option<RawSet>,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: OctetString,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    unsigned_attrs: Option<RawSet>,
}

/// RFC 5035 SigningCertificateV2 (and, with SHA-1 and no hash algorithm, RFC 2634's
/// SigningCertificate, which has the same shape).
#[derive(Clone, Debug, Sequence)]
struct SigningCertificate {
    certs: Vec<EssCertId>,
    policies: Option<Vec<Any>>,
}

#[derive(Clone, Debug, Sequence)]
struct EssCertId {
    /// DEFAULT id-sha256 in ESSCertIDv2; absent in ESSCertID (SHA-1).
    hash_algorithm: Option<AlgorithmIdentifierOwned>,
    cert_hash: OctetString,
    issuer_serial: Option<IssuerSerial>,
}

#[derive(Clone, Debug, Sequence)]
struct IssuerSerial {
    issuer: Vec<GeneralName>,
    serial_number: Any,
}

/// The contents of a SET, kept exactly as received (signed attributes are signed as
/// encoded, so they are not re-encoded before checking the signature).
#[derive(Clone, Debug, PartialEq, Eq)]
struct RawSet(Vec<u8>);

impl<'a> DecodeValue<'a> for RawSet {
    type Error = der::Error;
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        Ok(RawSet(reader.read_vec(header.length())?))
    }
}

impl EncodeValue for RawSet {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

impl FixedTag for RawSet {
    const TAG: Tag = Tag::Set;
}

impl RawSet {
    /// The DER of the whole SET (tag 0x31), as signed attributes are signed.
    fn to_set_der(&self) -> der::Result<Vec<u8>> {
        self.to_der()
    }

    fn elements<'a, T: Decode<'a, Error = der::Error>>(&'a self) -> der::Result<Vec<T>> {
        let mut r = SliceReader::new(&self.0)?;
        let mut out = Vec::new();
        while !r.is_finished() {
            out.push(T::decode(&mut r)?);
        }
        Ok(out)
    }
}

/// GeneralizedTime with an optional fraction of a second (RFC 3161 §2.4.2 allows one in
/// genTime; `der`'s GeneralizedTime does not). Encodes milliseconds, trailing zeros removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct GenTime(Duration);

impl GenTime {
    fn from_system_time(t: SystemTime) -> Result<Self> {
        let d = t
            .duration_since(UNIX_EPOCH)
            .map_err(|_| PkiError::Malformed {
                what: "genTime",
                detail: "before 1970".into(),
            })?;
        let d = Duration::from_millis(u64::try_from(d.as_millis()).map_err(|_| {
            PkiError::Malformed {
                what: "genTime",
                detail: "out of range".into(),
            }
        })?);
        der::DateTime::from_unix_duration(Duration::from_secs(d.as_secs()))
            .map_err(malformed("genTime"))?;
        Ok(GenTime(d))
    }

    fn text(&self) -> der::Result<Vec<u8>> {
        let dt = der::DateTime::from_unix_duration(Duration::from_secs(self.0.as_secs()))?;
        let mut s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            dt.year(),
            dt.month(),
            dt.day(),
            dt.hour(),
            dt.minutes(),
            dt.seconds()
        );
        let millis = self.0.subsec_millis();
        if millis != 0 {
            let frac = format!("{millis:03}");
            s.push('.');
            s.push_str(frac.trim_end_matches('0'));
        }
        s.push('Z');
        Ok(s.into_bytes())
    }
}

impl<'a> DecodeValue<'a> for GenTime {
    type Error = der::Error;
    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length())?;
        if !(15..=25).contains(&len) {
            return Err(reader.error(Tag::GeneralizedTime.value_error()));
        }
        let bytes = reader.read_vec(header.length())?;
        parse_gen_time(&bytes).ok_or_else(|| reader.error(Tag::GeneralizedTime.value_error()))
    }
}

/// `YYYYMMDDHHMMSS[.f{1,9}]Z`, the fraction without trailing zeros (DER).
fn parse_gen_time(b: &[u8]) -> Option<GenTime> {
    let (last, body) = b.split_last()?;
    if *last != b'Z' || body.len() < 14 {
        return None;
    }
    let digits = |s: &[u8]| -> Option<u32> {
        s.iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let year = u16::try_from(digits(&body[0..4])?).ok()?;
    let num = |i: usize| -> Option<u8> { u8::try_from(digits(&body[i..i + 2])?).ok() };
    let dt = der::DateTime::new(year, num(4)?, num(6)?, num(8)?, num(10)?, num(12)?).ok()?;
    let mut nanos = 0u32;
    match &body[14..] {
        [] => {}
        [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 9 && frac.last() != Some(&b'0') => {
            nanos = digits(frac)? * 10u32.pow(9 - frac.len() as u32);
        }
        _ => return None,
    }
    Some(GenTime(
        dt.unix_duration() + Duration::from_nanos(u64::from(nanos)),
    ))
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text()?.len())
    }
    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.text()?)
    }
}

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

// ---------------------------------------------------------------------------------------
// Requests and rejections.

/// A parsed `TimeStampReq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeStampRequest {
    pub hash_alg: ObjectIdentifier,
    pub hashed_message: Vec<u8>,
    pub policy: Option<ObjectIdentifier>,
    /// The nonce INTEGER as unsigned big-endian bytes.
    pub nonce: Option<Vec<u8>>,
    pub cert_req: bool,
}

/// Why a request is refused; each maps to a PKIFailureInfo bit ([`TspError::fail_bit`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TspError {
    /// badAlg (0): unrecognized or unsupported hash algorithm.
    #[error("unsupported hash algorithm: {0}")]
    BadAlg(String),
    /// badRequest (2): transaction not permitted or supported.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// badDataFormat (5): the data submitted has the wrong format.
    #[error("bad data format: {0}")]
    BadDataFormat(String),
    /// unacceptedPolicy (15): the requested TSA policy is not supported.
    #[error("unaccepted policy: {0}")]
    UnacceptedPolicy(String),
}

impl TspError {
    /// The PKIFailureInfo bit number.
    pub fn fail_bit(&self) -> u8 {
        match self {
            TspError::BadAlg(_) => 0,
            TspError::BadRequest(_) => 2,
            TspError::BadDataFormat(_) => 5,
            TspError::UnacceptedPolicy(_) => 15,
        }
    }
}

/// The imprint length of the hash algorithms a request may use (SM3, SHA-256/384/512).
fn imprint_len(oid: &ObjectIdentifier) -> Option<usize> {
    if *oid == crate::OID_SM3 || *oid == crate::OID_SHA256 {
        Some(32)
    } else if *oid == OID_SHA384 {
        Some(48)
    } else if *oid == OID_SHA512 {
        Some(64)
    } else {
        None
    }
}

/// Hash `data` with the algorithm `oid` names: SM3, SHA-1, SHA-256, SHA-384 or SHA-512
/// (`None` for any other).
pub fn digest_with(oid: &ObjectIdentifier, data: &[u8]) -> Option<Vec<u8>> {
    use sha2::Digest;
    if *oid == crate::OID_SM3 {
        Some(sm3::Sm3::digest(data).to_vec())
    } else if *oid == crate::OID_SHA1 {
        Some(sha1::Sha1::digest(data).to_vec())
    } else if *oid == crate::OID_SHA256 {
        Some(sha2::Sha256::digest(data).to_vec())
    } else if *oid == OID_SHA384 {
        Some(sha2::Sha384::digest(data).to_vec())
    } else if *oid == OID_SHA512 {
        Some(sha2::Sha512::digest(data).to_vec())
    } else {
        None
    }
}

/// Hash parameters must be absent or NULL.
fn params_ok(alg: &AlgorithmIdentifierOwned) -> bool {
    match &alg.parameters {
        None => true,
        Some(p) => p.tag() == Tag::Null && p.value().is_empty(),
    }
}

/// Parse a DER `TimeStampReq` (version 1). Hash algorithms: SM3, SHA-256 (32 bytes),
/// SHA-384 (48), SHA-512 (64); any other is `BadAlg`, a wrong imprint length or a
/// structure that does not decode is `BadDataFormat`, another version or a critical
/// extension is `BadRequest`. The policy is not judged here (see [`check_policy`]).
pub fn parse_request(der: &[u8]) -> Result<TimeStampRequest, TspError> {
    let req = TimeStampReqAsn1::from_der(der)
        .map_err(|e| TspError::BadDataFormat(format!("not a DER TimeStampReq ({e})")))?;
    if req.version != 1 {
        return Err(TspError::BadRequest(format!(
            "TimeStampReq version {} is not supported",
            req.version
        )));
    }
    let alg = &req.message_imprint.hash_algorithm;
    let Some(len) = imprint_len(&alg.oid) else {
        return Err(TspError::BadAlg(format!(
            "hash algorithm {} is not accepted (SM3, SHA-256, SHA-384, SHA-512 are)",
            alg.oid
        )));
    };
    if !params_ok(alg) {
        return Err(TspError::BadDataFormat(
            "hash algorithm parameters must be absent or NULL".into(),
        ));
    }
    let hashed = req.message_imprint.hashed_message.as_bytes();
    if hashed.len() != len {
        return Err(TspError::BadDataFormat(format!(
            "a {} imprint is {len} bytes, this one is {}",
            alg.oid,
            hashed.len()
        )));
    }
    let nonce = req.nonce.map(|n| n.as_bytes().to_vec());
    if nonce.as_ref().is_some_and(|n| n.len() > MAX_NONCE_LEN) {
        return Err(TspError::BadDataFormat(format!(
            "the nonce is longer than {MAX_NONCE_LEN} bytes"
        )));
    }
    if let Some(ext) = req.extensions.iter().flatten().find(|e| e.critical) {
        return Err(TspError::BadRequest(format!(
            "unsupported critical extension {}",
            ext.extn_id
        )));
    }
    Ok(TimeStampRequest {
        hash_alg: alg.oid,
        hashed_message: hashed.to_vec(),
        policy: req.req_policy,
        nonce,
        cert_req: req.cert_req,
    })
}

/// The policy to stamp `req` under: the requested one if it is in `accepted`
/// (`UnacceptedPolicy` otherwise), else `default`.
pub fn check_policy(
    req: &TimeStampRequest,
    default: &ObjectIdentifier,
    accepted: &[ObjectIdentifier],
) -> Result<ObjectIdentifier, TspError> {
    match &req.policy {
        None => Ok(*default),
        Some(p) if p == default || accepted.contains(p) => Ok(*p),
        Some(p) => Err(TspError::UnacceptedPolicy(format!(
            "policy {p} is not offered by this TSA"
        ))),
    }
}

fn fail_info(bit: u8) -> Vec<u8> {
    // Named-bit BIT STRING in DER: no trailing zero bits.
    let byte = usize::from(bit / 8);
    let mut bytes = vec![0u8; byte + 1];
    bytes[byte] = 0x80 >> (bit % 8);
    let unused = 7 - bit % 8;
    let mut out = vec![0x03, (bytes.len() + 1) as u8, unused];
    out.extend_from_slice(&bytes);
    out
}

/// A `TimeStampResp` with status rejection (2), the error as statusString and the
/// matching failInfo bit.
pub fn rejection(err: &TspError) -> Vec<u8> {
    let fail = BitString::from_der(&fail_info(err.fail_bit())).ok();
    let resp = TimeStampResp {
        status: PkiStatusInfo {
            status: 2,
            status_string: Some(vec![err.to_string()]),
            fail_info: fail,
        },
        time_stamp_token: None,
    };
    resp.to_der().unwrap_or_else(|_| {
        // Unreachable in practice (the message would have to exceed 256 MiB); fall back to
        // the status alone rather than panic.
        vec![0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02]
    })
}

// ---------------------------------------------------------------------------------------
// Tokens.

/// What the TSA puts in a token besides the request's imprint and nonce.
#[derive(Clone, Debug)]
pub struct TokenParams<'a> {
    pub policy: ObjectIdentifier,
    pub serial: u64,
    /// Encoded as GeneralizedTime with a millisecond fraction (trailing zeros dropped).
    pub gen_time: SystemTime,
    /// Accuracy in milliseconds (0: no accuracy field).
    pub accuracy_millis: u32,
    /// The TSA certificate (DER) whose key `signer` holds.
    pub tsa_cert_der: &'a [u8],
    /// The CA chain (DER), included with the TSA certificate when the request asks.
    pub extra_certs: &'a [Vec<u8>],
}

fn attribute(oid: ObjectIdentifier, value: &impl Encode) -> Result<Attribute> {
    let v = Any::from_der(&value.to_der().map_err(malformed("attribute"))?)
        .map_err(malformed("attribute"))?;
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![v]).map_err(malformed("attribute"))?,
    })
}

/// The SignerInfo signature algorithm for `alg`: rsaEncryption for RSA (RFC 3370), sm2sign
/// (1.2.156.10197.1.301.1, GM/T 0010) for SM2.
fn signer_info_sig_alg(alg: SigAlg) -> AlgorithmIdentifierOwned {
    match alg {
        SigAlg::RsaSha256 => AlgorithmIdentifierOwned {
            oid: crate::OID_RSA_ENCRYPTION,
            parameters: Some(der::asn1::Null.into()),
        },
        SigAlg::Sm2Sm3 => AlgorithmIdentifierOwned {
            oid: OID_SM2_SIGN,
            parameters: None,
        },
    }
}

/// The signature algorithm a SignerInfo names, given its digest algorithm.
fn sig_alg_of_signer_info(
    digest: &AlgorithmIdentifierOwned,
    sig: &AlgorithmIdentifierOwned,
) -> Option<SigAlg> {
    let sm2 = [OID_SM2_SIGN, crate::OID_SM2_WITH_SM3];
    let rsa = [crate::OID_RSA_ENCRYPTION, crate::OID_SHA256_WITH_RSA];
    if digest.oid == crate::OID_SM3 && sm2.contains(&sig.oid) {
        Some(SigAlg::Sm2Sm3)
    } else if digest.oid == crate::OID_SHA256 && rsa.contains(&sig.oid) {
        Some(SigAlg::RsaSha256)
    } else {
        None
    }
}

/// Build a granted `TimeStampResp` (status 0) for `req`: a token whose TSTInfo copies the
/// imprint and nonce, names the TSA by its certificate subject, and is signed by `signer`
/// (SignedData v3, SignerInfo by issuer and serial, signed attributes contentType,
/// signingTime, messageDigest and ESS signingCertificateV2 with the SHA-256 of the TSA
/// certificate). Certificates are included when `req.cert_req`. A requested policy other
/// than `params.policy` is `Rejected` (see [`check_policy`]).
pub fn build_response(
    signer: &dyn crate::Signer,
    req: &TimeStampRequest,
    params: &TokenParams,
) -> Result<Vec<u8>> {
    let token = build_token(signer, req, params)?;
    let resp = TimeStampResp {
        status: PkiStatusInfo {
            status: 0,
            status_string: None,
            fail_info: None,
        },
        time_stamp_token: Some(token),
    };
    resp.to_der().map_err(malformed("TimeStampResp"))
}

fn build_token(
    signer: &dyn crate::Signer,
    req: &TimeStampRequest,
    params: &TokenParams,
) -> Result<ContentInfoAsn1> {
    use sha2::Digest;
    if let Some(p) = &req.policy {
        if *p != params.policy {
            return Err(PkiError::Rejected(format!(
                "the request asks for policy {p}, the token would be issued under {}",
                params.policy
            )));
        }
    }
    let alg = signer.alg();
    let cert = Certificate::from_der(params.tsa_cert_der).map_err(malformed("TSA certificate"))?;
    let tbs = cert.tbs_certificate();
    if !crate::ocsp::key_fits(alg, tbs.subject_public_key_info()) {
        return Err(PkiError::Internal(format!(
            "the TSA certificate's key is not a {} key",
            alg.code()
        )));
    }

    let accuracy = (params.accuracy_millis != 0).then(|| Accuracy {
        seconds: Some(params.accuracy_millis / 1000).filter(|s| *s != 0),
        millis: Some((params.accuracy_millis % 1000) as u16).filter(|m| *m != 0),
        micros: None,
    });
    let tst = TstInfo {
        version: 1,
        policy: params.policy,
        message_imprint: MessageImprint {
            // NULL parameters, as OpenSSL, BouncyCastle and Java send them (the request's
            // own encoding is not kept; verifiers compare the OID).
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: req.hash_alg,
                parameters: Some(der::asn1::Null.into()),
            },
            hashed_message: OctetString::new(req.hashed_message.clone())
                .map_err(malformed("message imprint"))?,
        },
        serial_number: Uint::new(&params.serial.to_be_bytes())
            .map_err(malformed("serial number"))?,
        gen_time: GenTime::from_system_time(params.gen_time)?,
        accuracy,
        ordering: false,
        nonce: req
            .nonce
            .as_deref()
            .map(Uint::new)
            .transpose()
            .map_err(malformed("nonce"))?,
        tsa: Some(GeneralName::DirectoryName(tbs.subject().clone())),
        extensions: None,
    };
    let tst_der = tst.to_der().map_err(malformed("TSTInfo"))?;

    let ess = SigningCertificate {
        certs: vec![EssCertId {
            hash_algorithm: None, // DEFAULT id-sha256
            cert_hash: OctetString::new(sha2::Sha256::digest(params.tsa_cert_der).to_vec())
                .map_err(malformed("ESS certificate hash"))?,
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(tbs.issuer().clone())],
                serial_number: Any::encode_from(tbs.serial_number())
                    .map_err(malformed("serial number"))?,
            }),
        }],
        policies: None,
    };
    let signing_time = x509_cert::time::Time::try_from(
        UNIX_EPOCH
            + Duration::from_secs(
                params
                    .gen_time
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_secs(),
            ),
    )
    .map_err(malformed("signing time"))?;
    let digest = OctetString::new(alg.digest(&tst_der)).map_err(malformed("digest"))?;
    let attrs: SetOfVec<Attribute> = SetOfVec::try_from(vec![
        attribute(OID_CONTENT_TYPE, &OID_CT_TSTINFO)?,
        attribute(OID_SIGNING_TIME, &signing_time)?,
        attribute(OID_MESSAGE_DIGEST, &digest)?,
        attribute(OID_SIGNING_CERTIFICATE_V2, &ess)?,
    ])
    .map_err(malformed("signed attributes"))?;
    let attrs_der = attrs.to_der().map_err(malformed("signed attributes"))?;
    let signature = signer.sign(&attrs_der)?;

    let si = SignerInfoAsn1 {
        version: 1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: tbs.issuer().clone(),
            serial_number: tbs.serial_number().clone(),
        }),
        digest_alg: alg.digest_identifier(),
        signed_attrs: Some(RawSet::from_der(&attrs_der).map_err(malformed("signed attributes"))?),
        signature_algorithm: signer_info_sig_alg(alg),
        signature: OctetString::new(signature).map_err(malformed("signature"))?,
        unsigned_attrs: None,
    };
    let certificates = if req.cert_req {
        let mut certs =
            vec![Any::from_der(params.tsa_cert_der).map_err(malformed("TSA certificate"))?];
        for c in params.extra_certs {
            certs.push(Any::from_der(c).map_err(malformed("CA certificate"))?);
        }
        Some(SetOfVec::try_from(certs).map_err(malformed("certificates"))?)
    } else {
        None
    };
    let sd = SignedDataAsn1 {
        version: 3,
        digest_algorithms: SetOfVec::try_from(vec![alg.digest_identifier()])
            .map_err(malformed("digest algorithms"))?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: OID_CT_TSTINFO,
            econtent: Some(
                Any::encode_from(&OctetString::new(tst_der).map_err(malformed("TSTInfo"))?)
                    .map_err(malformed("TSTInfo"))?,
            ),
        },
        certificates,
        crls: None,
        signer_infos: SetOfVec::try_from(vec![
            Any::encode_from(&si).map_err(malformed("SignerInfo"))?
        ])
        .map_err(malformed("SignerInfo"))?,
    };
    Ok(ContentInfoAsn1 {
        content_type: OID_SIGNED_DATA,
        content: Any::encode_from(&sd).map_err(malformed("SignedData"))?,
    })
}

/// What a verified token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    pub gen_time: SystemTime,
    /// Serial numbers longer than 128 bits are rejected as malformed.
    pub serial: u128,
    pub policy: ObjectIdentifier,
    pub hash_alg: ObjectIdentifier,
    pub hashed_message: Vec<u8>,
    /// The nonce as unsigned big-endian bytes.
    pub nonce: Option<Vec<u8>>,
    /// The TSA certificate the signature verified with (DER): its chain and its
    /// timeStamping EKU are for the caller to judge.
    pub tsa_cert_der: Vec<u8>,
    pub alg: SigAlg,
}

fn rejected(msg: impl Into<String>) -> PkiError {
    PkiError::Rejected(msg.into())
}

/// Verify a token — a `TimeStampResp` or a bare TimeStampToken `ContentInfo` — against
/// `data`, with the TSA certificate included in the token. See [`verify_token_with`].
pub fn verify_token(token: &[u8], data: &[u8]) -> Result<VerifiedToken> {
    verify_token_with(token, data, None)
}

/// Verify a token against `data`: the imprint must be the hash of `data` under the
/// token's hash algorithm, the messageDigest attribute must match the TSTInfo, the ESS
/// signingCertificate(V2) attribute must name the TSA certificate, and the signature must
/// verify with that certificate's key (SM2 with SM3 and the default ID, or RSA with
/// SHA-256). The TSA certificate is `tsa_cert_der` when given, else the one the token
/// includes that matches the signer identifier.
///
/// `Err(Malformed)` for input that does not decode; `Err(Rejected(reason))` for a token
/// that decodes but fails a check (wrong data, bad signature, digest or certificate
/// mismatch, a rejection response, unsupported algorithms). `Ok` only when every check
/// passes. Chain trust of the returned certificate is the caller's job.
pub fn verify_token_with(
    token: &[u8],
    data: &[u8],
    tsa_cert_der: Option<&[u8]>,
) -> Result<VerifiedToken> {
    let ci = match ContentInfoAsn1::from_der(token) {
        Ok(ci) => ci,
        Err(_) => {
            let resp = TimeStampResp::from_der(token).map_err(malformed("time-stamp token"))?;
            if resp.status.status > 1 {
                let text = resp.status.status_string.unwrap_or_default().join("; ");
                return Err(rejected(format!(
                    "the TSA refused the request (status {}): {text}",
                    resp.status.status
                )));
            }
            resp.time_stamp_token.ok_or_else(|| PkiError::Malformed {
                what: "time-stamp response",
                detail: "granted, but without a token".into(),
            })?
        }
    };
    if ci.content_type != OID_SIGNED_DATA {
        return Err(PkiError::Malformed {
            what: "time-stamp token",
            detail: format!("content type {} is not SignedData", ci.content_type),
        });
    }
    let sd = SignedDataAsn1::from_der(&ci.content.to_der().map_err(malformed("SignedData"))?)
        .map_err(malformed("SignedData"))?;
    if sd.encap_content_info.econtent_type != OID_CT_TSTINFO {
        return Err(PkiError::Malformed {
            what: "time-stamp token",
            detail: format!(
                "encapsulated content type {} is not TSTInfo",
                sd.encap_content_info.econtent_type
            ),
        });
    }
    let econtent: OctetString = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| PkiError::Malformed {
            what: "time-stamp token",
            detail: "no TSTInfo".into(),
        })?
        .decode_as()
        .map_err(malformed("TSTInfo"))?;
    let tst_der = econtent.as_bytes();
    let tst = TstInfo::from_der(tst_der).map_err(malformed("TSTInfo"))?;
    if tst.version != 1 {
        return Err(rejected(format!("TSTInfo version {}", tst.version)));
    }
    let mut signer_infos = sd.signer_infos.iter();
    let (Some(si_any), None) = (signer_infos.next(), signer_infos.next()) else {
        return Err(PkiError::Malformed {
            what: "time-stamp token",
            detail: "a token has exactly one signer".into(),
        });
    };
    let si: SignerInfoAsn1 =
        SignerInfoAsn1::from_der(&si_any.to_der().map_err(malformed("SignerInfo"))?)
            .map_err(malformed("SignerInfo"))?;

    // The TSA certificate: given, or included and matching the signer identifier.
    let included: Vec<Vec<u8>> = sd
        .certificates
        .iter()
        .flat_map(|s| s.iter())
        .filter(|c| c.tag() == Tag::Sequence)
        .filter_map(|c| c.to_der().ok())
        .collect();
    let candidates: Vec<&[u8]> = match tsa_cert_der {
        Some(c) => vec![c],
        None => included.iter().map(Vec::as_slice).collect(),
    };
    let mut found = None;
    for der in candidates {
        let Ok(cert) = Certificate::from_der(der) else {
            continue;
        };
        if names_signer(&si.sid, &cert) {
            found = Some((der.to_vec(), cert));
            break;
        }
    }
    let Some((cert_der, cert)) = found else {
        return Err(rejected(
            "the TSA certificate (named by the signer identifier) is not available",
        ));
    };

    let alg = sig_alg_of_signer_info(&si.digest_alg, &si.signature_algorithm).ok_or_else(|| {
        rejected(format!(
            "unsupported signature: {} with {}",
            si.signature_algorithm.oid, si.digest_alg.oid
        ))
    })?;

    // Signed attributes.
    let attrs_raw = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| rejected("the token has no signed attributes"))?;
    let attrs: Vec<Attribute> = attrs_raw
        .elements()
        .map_err(malformed("signed attributes"))?;
    let single = |oid: ObjectIdentifier| -> Result<Option<&Any>> {
        let mut it = attrs.iter().filter(|a| a.oid == oid);
        match (it.next(), it.next()) {
            (None, _) => Ok(None),
            (Some(a), None) if a.values.len() == 1 => Ok(a.values.iter().next()),
            _ => Err(PkiError::Malformed {
                what: "signed attributes",
                detail: format!("attribute {oid} is repeated or multi-valued"),
            }),
        }
    };
    let content_type: ObjectIdentifier = single(OID_CONTENT_TYPE)?
        .ok_or_else(|| rejected("no contentType attribute"))?
        .decode_as()
        .map_err(malformed("contentType attribute"))?;
    if content_type != OID_CT_TSTINFO {
        return Err(rejected("the contentType attribute is not TSTInfo"));
    }
    let md: OctetString = single(OID_MESSAGE_DIGEST)?
        .ok_or_else(|| rejected("no messageDigest attribute"))?
        .decode_as()
        .map_err(malformed("messageDigest attribute"))?;
    if md.as_bytes() != alg.digest(tst_der) {
        return Err(rejected(
            "the messageDigest attribute does not match the TSTInfo",
        ));
    }
    let (ess, v2) = match (
        single(OID_SIGNING_CERTIFICATE_V2)?,
        single(OID_SIGNING_CERTIFICATE)?,
    ) {
        (Some(v), _) => (v, true),
        (None, Some(v)) => (v, false),
        (None, None) => return Err(rejected("no ESS signingCertificate(V2) attribute")),
    };
    let ess: SigningCertificate = ess
        .decode_as()
        .map_err(malformed("signingCertificate attribute"))?;
    let first = ess
        .certs
        .first()
        .ok_or_else(|| rejected("the ESS attribute names no certificate"))?;
    let ess_hash_alg = match (&first.hash_algorithm, v2) {
        (Some(a), true) => a.oid,
        (None, true) => crate::OID_SHA256,
        (None, false) => crate::OID_SHA1,
        (Some(_), false) => {
            return Err(PkiError::Malformed {
                what: "signingCertificate attribute",
                detail: "ESSCertID has no hash algorithm".into(),
            })
        }
    };
    let cert_hash = digest_with(&ess_hash_alg, &cert_der)
        .ok_or_else(|| rejected(format!("unsupported ESS hash algorithm {ess_hash_alg}")))?;
    if cert_hash != first.cert_hash.as_bytes() {
        return Err(rejected(
            "the ESS signingCertificate attribute names another certificate",
        ));
    }
    if let Some(is) = &first.issuer_serial {
        let tbs = cert.tbs_certificate();
        let serial = Any::encode_from(tbs.serial_number()).map_err(malformed("serial number"))?;
        let issuer_ok = is
            .issuer
            .iter()
            .any(|g| matches!(g, GeneralName::DirectoryName(n) if n == tbs.issuer()));
        if !issuer_ok || is.serial_number != serial {
            return Err(rejected(
                "the ESS issuerSerial does not match the TSA certificate",
            ));
        }
    }

    // The signature over the signed attributes, as encoded.
    let signed = attrs_raw
        .to_set_der()
        .map_err(malformed("signed attributes"))?;
    let spki = cert
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(malformed("TSA public key"))?;
    match crate::verify_signature(alg, &spki, &signed, si.signature.as_bytes()) {
        Ok(true) => {}
        Ok(false) => return Err(rejected("the token's signature does not verify")),
        Err(e) => {
            return Err(rejected(format!(
                "the token's signature cannot be checked with the TSA certificate: {e}"
            )))
        }
    }

    // Last, the imprint against the data (after the structure and signature, so that a
    // fuzzer reaches them).
    let imprint_alg = tst.message_imprint.hash_algorithm.oid;
    let expected = digest_with(&imprint_alg, data)
        .ok_or_else(|| rejected(format!("unsupported imprint hash algorithm {imprint_alg}")))?;
    if expected != tst.message_imprint.hashed_message.as_bytes() {
        return Err(rejected(
            "the data does not match the token's message imprint",
        ));
    }

    let serial_bytes = tst.serial_number.as_bytes();
    if serial_bytes.len() > 16 {
        return Err(PkiError::Malformed {
            what: "TSTInfo",
            detail: "serial number longer than 128 bits".into(),
        });
    }
    let serial = serial_bytes
        .iter()
        .fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    Ok(VerifiedToken {
        gen_time: UNIX_EPOCH + tst.gen_time.0,
        serial,
        policy: tst.policy,
        hash_alg: imprint_alg,
        hashed_message: tst.message_imprint.hashed_message.as_bytes().to_vec(),
        nonce: tst.nonce.map(|n| n.as_bytes().to_vec()),
        tsa_cert_der: cert_der,
        alg,
    })
}

/// Does the signer identifier name `cert`?
fn names_signer(sid: &SignerIdentifier, cert: &Certificate) -> bool {
    let tbs = cert.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == *tbs.issuer() && isn.serial_number == *tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(
                tbs.get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>(),
                Ok(Some((_, own))) if own == *ski
            )
        }
    }
}

/// A DER `TimeStampReq` (version 1) for a digest: what a client such as
/// `openssl ts -query` sends. `nonce` is unsigned big-endian bytes.
pub fn request_der(
    hash_alg: &ObjectIdentifier,
    digest: &[u8],
    nonce: Option<&[u8]>,
    cert_req: bool,
) -> Result<Vec<u8>> {
    let req = TimeStampReqAsn1 {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: *hash_alg,
                parameters: Some(der::asn1::Null.into()),
            },
            hashed_message: OctetString::new(digest).map_err(malformed("imprint"))?,
        },
        req_policy: None,
        nonce: nonce
            .map(Uint::new)
            .transpose()
            .map_err(malformed("nonce"))?,
        cert_req,
        extensions: None,
    };
    req.to_der().map_err(malformed("TimeStampReq"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gen_time_round_trips_with_millis() {
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_120);
        let g = GenTime::from_system_time(t).unwrap();
        let der = g.to_der().unwrap();
        assert_eq!(&der[2..], b"20231114221320.12Z");
        assert_eq!(GenTime::from_der(&der).unwrap(), g);
        let whole = GenTime::from_system_time(UNIX_EPOCH + Duration::from_secs(1)).unwrap();
        assert_eq!(&whole.to_der().unwrap()[2..], b"19700101000001Z");
        // not DER: a trailing zero, an empty fraction, no Z, a local time
        for bad in [
            &b"20231114221320.10Z"[..],
            b"20231114221320.Z",
            b"20231114221320",
            b"20231114221320+0800",
            b"2023111422132aZ",
            b"20231314221320Z",
        ] {
            assert!(
                parse_gen_time(bad).is_none(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert_eq!(
            parse_gen_time(b"20231114221320.123456789Z").unwrap().0,
            Duration::new(1_700_000_000, 123_456_789)
        );
    }

    #[test]
    fn fail_info_bits() {
        assert_eq!(fail_info(0), [0x03, 0x02, 0x07, 0x80]);
        assert_eq!(fail_info(2), [0x03, 0x02, 0x05, 0x20]);
        assert_eq!(fail_info(5), [0x03, 0x02, 0x02, 0x04]);
        assert_eq!(fail_info(15), [0x03, 0x03, 0x00, 0x00, 0x01]);
        for bit in [0, 2, 5, 15] {
            assert!(BitString::from_der(&fail_info(bit)).is_ok());
        }
    }
}
