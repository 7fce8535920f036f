//! What a request is (its operation and the keys it names) and whether an app's policy
//! admits it. Pure functions: the gateway calls them per request; the API and the CLI use
//! [`OPERATIONS`] to check the operation names operators give.

use axum::http::Method;
use serde::Deserialize;

/// Every operation the gateway knows, with its Chinese name. Policies and limits name
/// these (or `*`).
pub const OPERATIONS: &[(&str, &str)] = &[
    ("sign", "签名"),
    ("verify", "验签"),
    ("encrypt", "加密"),
    ("decrypt", "解密"),
    ("hash", "杂凑"),
    ("hmac", "消息鉴别码"),
    ("random", "随机数"),
    ("envelope.seal", "数字信封封装"),
    ("envelope.open", "数字信封解封"),
    ("message.sign", "签名消息"),
    ("message.verify", "签名消息验证"),
    ("keys", "密钥管理"),
    ("auth.challenge", "身份认证挑战"),
    ("auth.verify", "身份认证验证"),
    ("timestamp", "时间戳签发"),
    ("timestamp.verify", "时间戳验证"),
];

/// Whether `op` is an operation name (or `*`).
pub fn is_operation(op: &str) -> bool {
    op == "*" || OPERATIONS.iter().any(|(o, _)| *o == op)
}

/// The Chinese name of an operation.
pub fn operation_zh(op: &str) -> &'static str {
    OPERATIONS
        .iter()
        .find(|(o, _)| *o == op)
        .map_or("全部操作", |(_, zh)| zh)
}

/// Where a request names the app's keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// It uses no stored key.
    None,
    /// `key_id` at the top of the JSON body (absent when the caller brings its own
    /// public key, certificate or HMAC key).
    Body,
    /// `items[].key_id` of a batch.
    Batch,
    /// In the path: `/crypto/keys/{id}…`.
    Path(String),
}

/// A request the gateway forwards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub operation: &'static str,
    pub keys: KeySource,
}

/// Classify a request by method and path; `None` for anything the gateway does not serve.
pub fn classify(method: &Method, path: &str) -> Option<Route> {
    let r = |operation, keys| Some(Route { operation, keys });
    if path == "/tsa" {
        return (method == Method::POST).then_some(Route {
            operation: "timestamp",
            keys: KeySource::None,
        });
    }
    let rest = path.strip_prefix("/api/v1/")?;
    let post = method == Method::POST;
    match rest {
        "crypto/keys" if post || method == Method::GET => r("keys", KeySource::None),
        "crypto/keys/import" if post => r("keys", KeySource::None),
        "crypto/import-key" if method == Method::GET => r("keys", KeySource::None),
        "tsa/verify" if post => r("timestamp.verify", KeySource::None),
        "auth/challenge" if post => r("auth.challenge", KeySource::None),
        "auth/verify" if post => r("auth.verify", KeySource::None),
        _ => {
            let op = rest.strip_prefix("crypto/")?;
            if let Some(k) = op.strip_prefix("keys/") {
                let (id, action) = k.split_once('/').unwrap_or((k, ""));
                let ok = match action {
                    "" => method == Method::GET || method == Method::DELETE,
                    "rotate" | "disable" | "enable" => post,
                    _ => false,
                };
                return (ok && !id.is_empty()).then(|| Route {
                    operation: "keys",
                    keys: KeySource::Path(id.to_owned()),
                });
            }
            if !post {
                return None;
            }
            let (name, batch) = match op.strip_suffix("/batch") {
                Some(n) => (n, true),
                None => (op, false),
            };
            let (operation, keyed) = match name.replace('/', ".").as_str() {
                "sign" => ("sign", true),
                "verify" => ("verify", true),
                "encrypt" => ("encrypt", true),
                "decrypt" => ("decrypt", true),
                "hash" if !batch => ("hash", false),
                "hmac" if !batch => ("hmac", true),
                "random" if !batch => ("random", false),
                "envelope.seal" if !batch => ("envelope.seal", false),
                "envelope.open" if !batch => ("envelope.open", true),
                "message.sign" if !batch => ("message.sign", true),
                "message.verify" if !batch => ("message.verify", false),
                _ => return None,
            };
            let keys = match (keyed, batch) {
                (false, _) => KeySource::None,
                (true, false) => KeySource::Body,
                (true, true) => KeySource::Batch,
            };
            r(operation, keys)
        }
    }
}

#[derive(Deserialize)]
struct KeyOnly {
    key_id: Option<String>,
}

#[derive(Deserialize)]
struct BatchKeys {
    items: Vec<KeyOnly>,
}

/// The key ids a request names (none for keyless forms). `Err` when the body is not the
/// JSON the operation takes, so that the gateway never forwards what it could not check.
pub fn keys_of(source: &KeySource, body: &[u8]) -> Result<Vec<String>, String> {
    match source {
        KeySource::None => Ok(Vec::new()),
        KeySource::Path(id) => Ok(vec![id.clone()]),
        KeySource::Body => serde_json::from_slice::<KeyOnly>(body)
            .map(|k| k.key_id.into_iter().collect())
            .map_err(|e| e.to_string()),
        KeySource::Batch => serde_json::from_slice::<BatchKeys>(body)
            .map(|b| b.items.into_iter().filter_map(|k| k.key_id).collect())
            .map_err(|e| e.to_string()),
    }
}

/// One allow rule: an operation (or `*`) on a key (or `*`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    pub operation: String,
    pub key: String,
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denied {
    Operation,
    Key(String),
}

/// Whether rules admit `operation` on `keys`. No rules: unrestricted. Otherwise the
/// operation needs a rule (its own or `*`), and each named key needs such a rule with that
/// key or `*`. A request that names no key needs only the operation.
pub fn authorize(rules: &[Rule], operation: &str, keys: &[String]) -> Result<(), Denied> {
    if rules.is_empty() {
        return Ok(());
    }
    let applicable: Vec<&Rule> = rules
        .iter()
        .filter(|r| r.operation == operation || r.operation == "*")
        .collect();
    if applicable.is_empty() {
        return Err(Denied::Operation);
    }
    if applicable.iter().any(|r| r.key == "*") {
        return Ok(());
    }
    match keys
        .iter()
        .find(|k| !applicable.iter().any(|r| &r.key == *k))
    {
        Some(k) => Err(Denied::Key(k.clone())),
        None => Ok(()),
    }
}

/// Whether an operation needs a key restriction check at all (to skip reading the body).
pub fn needs_keys(rules: &[Rule], operation: &str) -> bool {
    !rules.is_empty()
        && !rules
            .iter()
            .any(|r| (r.operation == operation || r.operation == "*") && r.key == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(op: &str, key: &str) -> Rule {
        Rule {
            operation: op.into(),
            key: key.into(),
        }
    }

    #[test]
    fn routes_are_classified() {
        let p = Method::POST;
        let g = Method::GET;
        let c = |m: &Method, path: &str| classify(m, path).map(|r| (r.operation, r.keys));
        assert_eq!(
            c(&p, "/api/v1/crypto/sign"),
            Some(("sign", KeySource::Body))
        );
        assert_eq!(
            c(&p, "/api/v1/crypto/verify/batch"),
            Some(("verify", KeySource::Batch))
        );
        assert_eq!(
            c(&p, "/api/v1/crypto/hash"),
            Some(("hash", KeySource::None))
        );
        assert_eq!(c(&p, "/api/v1/crypto/hash/batch"), None);
        assert_eq!(
            c(&p, "/api/v1/crypto/envelope/open"),
            Some(("envelope.open", KeySource::Body))
        );
        assert_eq!(
            c(&p, "/api/v1/crypto/keys/key_1/rotate"),
            Some(("keys", KeySource::Path("key_1".into())))
        );
        assert_eq!(
            c(&Method::DELETE, "/api/v1/crypto/keys/key_1"),
            Some(("keys", KeySource::Path("key_1".into())))
        );
        assert_eq!(c(&p, "/api/v1/crypto/keys/key_1/explode"), None);
        assert_eq!(
            c(&g, "/api/v1/crypto/keys"),
            Some(("keys", KeySource::None))
        );
        assert_eq!(c(&g, "/api/v1/crypto/sign"), None);
        assert_eq!(c(&p, "/tsa"), Some(("timestamp", KeySource::None)));
        assert_eq!(
            c(&p, "/api/v1/auth/verify"),
            Some(("auth.verify", KeySource::None))
        );
        assert_eq!(c(&g, "/api/v1/apps"), None);
        assert_eq!(c(&p, "/api/v1/users"), None);
        // Every operation the classifier yields is a named operation.
        for (op, _) in OPERATIONS {
            assert!(is_operation(op));
        }
        assert!(!is_operation("sign.batch"));
    }

    #[test]
    fn keys_come_from_body_batch_and_path() {
        let body = br#"{"key_id":"k1","data":"AA=="}"#;
        assert_eq!(keys_of(&KeySource::Body, body).unwrap(), vec!["k1"]);
        assert!(keys_of(&KeySource::Body, br#"{"data":"AA=="}"#)
            .unwrap()
            .is_empty());
        let batch =
            br#"{"items":[{"key_id":"a"},{"key_id":"b","data":""},{"public_key_pem":"x"}]}"#;
        assert_eq!(keys_of(&KeySource::Batch, batch).unwrap(), vec!["a", "b"]);
        assert!(keys_of(&KeySource::Body, b"not json").is_err());
        // A duplicated field is refused rather than read one way here and another upstream.
        assert!(keys_of(&KeySource::Body, br#"{"key_id":"a","key_id":"b"}"#).is_err());
        assert!(keys_of(&KeySource::Body, br#"{"key_id":7}"#).is_err());
        assert_eq!(
            keys_of(&KeySource::Path("k9".into()), b"").unwrap(),
            vec!["k9"]
        );
    }

    #[test]
    fn rules_admit_exactly_what_they_name() {
        assert_eq!(authorize(&[], "sign", &["any".into()]), Ok(()));
        let rules = [rule("sign", "k1"), rule("verify", "*")];
        assert_eq!(authorize(&rules, "sign", &["k1".into()]), Ok(()));
        assert_eq!(
            authorize(&rules, "sign", &["k1".into(), "k2".into()]),
            Err(Denied::Key("k2".into()))
        );
        assert_eq!(authorize(&rules, "verify", &["k7".into()]), Ok(()));
        assert_eq!(authorize(&rules, "encrypt", &[]), Err(Denied::Operation));
        // Signing without naming a key cannot happen upstream, but the rule is the same:
        // the operation is allowed.
        assert_eq!(authorize(&rules, "sign", &[]), Ok(()));
        let all = [rule("*", "k1")];
        assert_eq!(authorize(&all, "decrypt", &["k1".into()]), Ok(()));
        assert_eq!(
            authorize(&all, "decrypt", &["k2".into()]),
            Err(Denied::Key("k2".into()))
        );
        assert!(needs_keys(&rules, "sign"));
        assert!(!needs_keys(&rules, "verify"));
        assert!(!needs_keys(&[], "sign"));
    }
}
