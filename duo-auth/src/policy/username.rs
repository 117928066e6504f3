//! Portal username → Duo username.

use std::collections::HashMap;

use thiserror::Error;

/// How a portal username becomes a Duo username when no explicit mapping applies (the choices
/// Okta's Duo settings offer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum UsernameFormat {
    /// The portal username as it is.
    #[default]
    AsIs,
    /// The user's email address.
    Email,
    /// The part of the portal username (or, failing that, the email) before `@`.
    LocalPart,
}

/// Why no Duo username could be found.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum MappingError {
    /// The format needs an email address and the user has none.
    #[error("user {0:?} has no email address, which the Duo username format requires")]
    NoEmail(String),
    /// The result is empty.
    #[error("user {0:?} maps to an empty Duo username")]
    Empty(String),
}

/// Maps portal usernames to Duo usernames ("manually map users to Duo aliases").
///
/// Rules, in order: an explicit mapping for the portal username (compared case-insensitively)
/// wins; otherwise the [`UsernameFormat`] applies. Results are trimmed and lower-cased, because
/// Duo compares usernames and aliases case-insensitively and stores them lower-cased; explicit
/// targets are lower-cased too.
///
/// ```
/// use duo_auth::policy::{UsernameFormat, UsernameMapping};
/// let mapping = UsernameMapping::new(UsernameFormat::LocalPart).map("Admin@Corp.example", "break.glass");
/// assert_eq!(mapping.duo_username("jane.doe@corp.example", None).unwrap(), "jane.doe");
/// assert_eq!(mapping.duo_username("ADMIN@corp.example", None).unwrap(), "break.glass");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsernameMapping {
    format: UsernameFormat,
    explicit: HashMap<String, String>,
}

impl UsernameMapping {
    /// A mapping with this format and no explicit entries.
    pub fn new(format: UsernameFormat) -> Self {
        Self {
            format,
            explicit: HashMap::new(),
        }
    }

    /// Maps one portal username to a Duo username (or alias) explicitly.
    pub fn map(mut self, portal_username: &str, duo_username: &str) -> Self {
        self.explicit
            .insert(normalize(portal_username), normalize(duo_username));
        self
    }

    /// The Duo username for a portal user.
    pub fn duo_username(
        &self,
        portal_username: &str,
        email: Option<&str>,
    ) -> Result<String, MappingError> {
        if let Some(target) = self.explicit.get(&normalize(portal_username)) {
            return Ok(target.clone());
        }
        let raw = match self.format {
            UsernameFormat::AsIs => portal_username.to_owned(),
            UsernameFormat::Email => email
                .filter(|e| !e.trim().is_empty())
                .ok_or_else(|| MappingError::NoEmail(portal_username.to_owned()))?
                .to_owned(),
            UsernameFormat::LocalPart => {
                let source = if portal_username.contains('@') {
                    portal_username
                } else {
                    email.unwrap_or(portal_username)
                };
                source.split('@').next().unwrap_or_default().to_owned()
            }
        };
        let out = normalize(&raw);
        if out.is_empty() {
            return Err(MappingError::Empty(portal_username.to_owned()));
        }
        Ok(out)
    }
}

fn normalize(s: &str) -> String {
    s.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_explicit_entries() {
        let m = UsernameMapping::default();
        assert_eq!(m.duo_username(" Jane.Doe ", None).unwrap(), "jane.doe");
        let m = UsernameMapping::new(UsernameFormat::Email);
        assert_eq!(
            m.duo_username("jdoe", Some("Jane@Example.com")).unwrap(),
            "jane@example.com"
        );
        assert_eq!(
            m.duo_username("jdoe", None),
            Err(MappingError::NoEmail("jdoe".into()))
        );
        let m = UsernameMapping::new(UsernameFormat::LocalPart);
        assert_eq!(
            m.duo_username("jdoe", Some("jane@example.com")).unwrap(),
            "jane"
        );
        assert_eq!(m.duo_username("x@y", None).unwrap(), "x");
        assert!(matches!(
            m.duo_username("@y", None),
            Err(MappingError::Empty(_))
        ));
        let m = m.map("ROOT", "Duo-Alias");
        assert_eq!(m.duo_username("root", None).unwrap(), "duo-alias");
    }
}
