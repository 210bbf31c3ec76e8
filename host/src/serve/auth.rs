//! Bearer tokens and roles. A token is known by its sha256 only; the
//! presented token is hashed and compared with every known hash in
//! constant time, so neither the comparison nor which token matched leaks
//! through timing.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

pub use crate::config::serve::{Role, Token};

/// Who made a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
}

/// Why a request was not let in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No `Authorization: Bearer …` header (401).
    Missing,
    /// A token no entry matches (401).
    Unknown,
    /// A known token whose role is too low (403).
    Role {
        name: String,
        has: Role,
        needs: Role,
    },
}

/// The principal whose token `header` (an `Authorization` value) carries.
pub fn authenticate(tokens: &[Token], header: Option<&str>) -> Result<Principal, Denied> {
    let presented = header
        .and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or(Denied::Missing)?;
    let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    // Every entry is compared, matched or not: the time taken does not
    // depend on which (if any) matched.
    let mut found = None;
    for t in tokens {
        if bool::from(t.sha256.ct_eq(&digest)) {
            found = Some(t);
        }
    }
    found
        .map(|t| Principal {
            name: t.name.clone(),
            role: t.role,
        })
        .ok_or(Denied::Unknown)
}

impl Principal {
    /// Ok when the principal's role is at least `needs`.
    pub fn require(&self, needs: Role) -> Result<(), Denied> {
        if self.role >= needs {
            Ok(())
        } else {
            Err(Denied::Role {
                name: self.name.clone(),
                has: self.role,
                needs,
            })
        }
    }
}

/// The sha256 of a token, hex: what `[[serve.tokens]]` records.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.trim().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(name: &str, role: Role, secret: &str) -> Token {
        let mut sha256 = [0u8; 32];
        hex::decode_to_slice(hash_token(secret), &mut sha256).unwrap();
        Token {
            name: name.into(),
            role,
            sha256,
        }
    }

    #[test]
    fn a_token_is_known_by_its_hash_and_its_role_is_enforced() {
        let tokens = [
            token("ci", Role::Operator, "s3cret"),
            token("boss", Role::Admin, "other"),
        ];
        let p = authenticate(&tokens, Some("Bearer s3cret")).unwrap();
        assert_eq!(p.name, "ci");
        assert!(p.require(Role::Viewer).is_ok());
        assert!(p.require(Role::Operator).is_ok());
        assert_eq!(
            p.require(Role::Admin),
            Err(Denied::Role {
                name: "ci".into(),
                has: Role::Operator,
                needs: Role::Admin
            })
        );
        assert_eq!(
            authenticate(&tokens, Some("bearer other")).unwrap().role,
            Role::Admin
        );
        assert_eq!(authenticate(&tokens, None), Err(Denied::Missing));
        assert_eq!(authenticate(&tokens, Some("Bearer ")), Err(Denied::Missing));
        assert_eq!(
            authenticate(&tokens, Some("Basic s3cret")),
            Err(Denied::Missing)
        );
        assert_eq!(
            authenticate(&tokens, Some("Bearer s3cre")),
            Err(Denied::Unknown)
        );
        assert_eq!(
            authenticate(&[], Some("Bearer s3cret")),
            Err(Denied::Unknown)
        );
    }
}
