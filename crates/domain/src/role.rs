//! Who may do what: the four roles of govcloud (角色).

use std::fmt;

/// A user's role. Every API route names the roles it admits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// 采购人: the Trading Center's IT office.
    Purchaser,
    /// 服务商运维: the provider's operations team.
    Operator,
    /// 审计员: reads the audit log, changes nothing.
    Auditor,
    /// 管理员: manages users and loads the contract.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Purchaser, Role::Operator, Role::Auditor, Role::Admin];

    pub fn code(self) -> &'static str {
        match self {
            Role::Purchaser => "purchaser",
            Role::Operator => "operator",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Purchaser => "采购人",
            Role::Operator => "服务商运维",
            Role::Auditor => "审计员",
            Role::Admin => "管理员",
        }
    }

    pub fn parse(s: &str) -> Result<Self, String> {
        Role::ALL
            .into_iter()
            .find(|r| r.code() == s)
            .ok_or_else(|| {
                format!("unknown role {s:?}, expected purchaser, operator, auditor or admin")
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A user name: 1 to 64 characters of letters, digits, `.`, `_`, `-` (Chinese letters allowed).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserName(String);

impl UserName {
    pub fn parse(s: &str) -> Result<Self, String> {
        let n = s.chars().count();
        let ok = (1..=64).contains(&n)
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(format!(
                "user name {s:?} must be 1 to 64 letters, digits, '.', '_' or '-'"
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Passwords need at least 12 characters; that is the whole policy (NIST SP 800-63B:
/// length over composition rules).
pub fn check_password_policy(p: &str) -> Result<(), String> {
    if p.chars().count() < 12 {
        return Err("password must be at least 12 characters".to_owned());
    }
    if p.len() > 1024 {
        return Err("password must be at most 1024 bytes".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip() {
        for r in Role::ALL {
            assert_eq!(Role::parse(r.code()), Ok(r));
        }
        assert!(Role::parse("root").is_err());
    }

    #[test]
    fn user_names() {
        assert!(UserName::parse("张三").is_ok());
        assert!(UserName::parse("ops.li-2").is_ok());
        assert!(UserName::parse("").is_err());
        assert!(UserName::parse("a b").is_err());
        assert!(UserName::parse("a/b").is_err());
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy("short").is_err());
        assert!(check_password_policy("correct horse battery").is_ok());
    }
}
