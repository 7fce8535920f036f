//! Certificate revocation lists (RFC 5280 §5): v2, with the authority key identifier and a
//! CRL number, each entry with its reason code.

use std::time::SystemTime;

use der::asn1::{BitString, OctetString};
use der::oid::AssociatedOid;
use der::{Encode, Sequence};
use spki::AlgorithmIdentifierOwned;
use x509_cert::certificate::Version;
use x509_cert::crl::{CertificateList, RevokedCert};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, CrlNumber, CrlReason};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Time;
use x509_cert::Certificate;

use crate::cert::{key_identifier, time};
use crate::{malformed, PkiError, Result, Signer};

/// RFC 5280 reason codes govcloud accepts (7 is unused; removeFromCRL is for delta CRLs).
pub const REASONS: [(&str, u8); 9] = [
    ("unspecified", 0),
    ("keyCompromise", 1),
    ("cACompromise", 2),
    ("affiliationChanged", 3),
    ("superseded", 4),
    ("cessationOfOperation", 5),
    ("certificateHold", 6),
    ("privilegeWithdrawn", 9),
    ("aACompromise", 10),
];

pub fn reason_code(name: &str) -> Option<u8> {
    REASONS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, c)| *c)
}

pub fn reason_name(code: u8) -> &'static str {
    REASONS
        .iter()
        .find(|(_, c)| *c == code)
        .map(|(n, _)| *n)
        .unwrap_or("unspecified")
}

fn crl_reason(code: u8) -> CrlReason {
    match code {
        1 => CrlReason::KeyCompromise,
        2 => CrlReason::CaCompromise,
        3 => CrlReason::AffiliationChanged,
        4 => CrlReason::Superseded,
        5 => CrlReason::CessationOfOperation,
        6 => CrlReason::CertificateHold,
        9 => CrlReason::PrivilegeWithdrawn,
        10 => CrlReason::AaCompromise,
        _ => CrlReason::Unspecified,
    }
}

/// One revoked certificate.
pub struct Revoked {
    /// The serial as unsigned big-endian bytes.
    pub serial: Vec<u8>,
    pub at: SystemTime,
    pub reason: u8,
}

#[derive(Sequence)]
struct TbsCertListOut {
    version: Version,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    this_update: Time,
    next_update: Time,
    #[asn1(optional = "true")]
    revoked_certificates: Option<Vec<RevokedCert>>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    crl_extensions: Option<Vec<Extension>>,
}

#[derive(Sequence)]
struct CrlOut {
    tbs_cert_list: TbsCertListOut,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

fn ext<T: Encode>(oid: der::asn1::ObjectIdentifier, value: &T) -> Result<Extension> {
    Ok(Extension {
        extn_id: oid,
        critical: false,
        extn_value: OctetString::new(value.to_der().map_err(malformed("CRL extension"))?)
            .map_err(malformed("CRL extension"))?,
    })
}

/// Build and sign a CRL for `issuer` (whose key `signer` holds). Returns DER.
pub fn build(
    signer: &dyn Signer,
    issuer: &Certificate,
    number: u64,
    this_update: SystemTime,
    next_update: SystemTime,
    revoked: &[Revoked],
) -> Result<Vec<u8>> {
    let entries = revoked
        .iter()
        .map(|r| {
            let mut serial = r.serial.clone();
            if serial.first().is_some_and(|b| b & 0x80 != 0) {
                serial.insert(0, 0);
            }
            Ok(RevokedCert {
                serial_number: SerialNumber::new(&serial).map_err(malformed("serial"))?,
                revocation_date: time(r.at)?,
                crl_entry_extensions: (r.reason != 0)
                    .then(|| ext(<CrlReason as AssociatedOid>::OID, &crl_reason(r.reason)))
                    .transpose()?
                    .map(|e| vec![e]),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let aki = AuthorityKeyIdentifier {
        key_identifier: Some(
            OctetString::new(key_identifier(
                issuer.tbs_certificate().subject_public_key_info(),
            ))
            .map_err(malformed("AKI"))?,
        ),
        ..Default::default()
    };
    let number = der::asn1::Uint::new(&number.to_be_bytes()).map_err(malformed("CRL number"))?;
    let alg = signer.alg().algorithm_identifier();
    let tbs = TbsCertListOut {
        version: Version::V2,
        signature: alg.clone(),
        issuer: issuer.tbs_certificate().subject().clone(),
        this_update: time(this_update)?,
        next_update: time(next_update)?,
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![
            ext(<AuthorityKeyIdentifier as AssociatedOid>::OID, &aki)?,
            ext(<CrlNumber as AssociatedOid>::OID, &CrlNumber(number))?,
        ]),
    };
    let tbs_der = tbs.to_der().map_err(malformed("TBSCertList"))?;
    let signature = signer.sign(&tbs_der)?;
    let der = CrlOut {
        tbs_cert_list: tbs,
        signature_algorithm: alg,
        signature: BitString::from_bytes(&signature).map_err(malformed("CRL signature"))?,
    }
    .to_der()
    .map_err(malformed("CRL"))?;
    <CertificateList as der::Decode>::from_der(&der)
        .map_err(|e| PkiError::Internal(format!("built CRL does not parse: {e}")))?;
    Ok(der)
}
