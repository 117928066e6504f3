//! SP-initiated login: the AuthnRequest and its HTTP-Redirect encoding.

use std::fmt;
use std::io::Write as _;
use std::time::SystemTime;

use base64::Engine as _;

use crate::xml::{BINDING_POST, SAML, SAMLP, escape};

/// The ID of an AuthnRequest, remembered until its Response arrives (`InResponseTo`).
///
/// Made from 16 random bytes the caller supplies (this crate reads no randomness source):
/// `_` followed by 32 hex digits. The leading underscore is there because an `xs:ID` must not
/// start with a digit.
///
/// ```
/// # use saml_sp::RequestId;
/// let id = RequestId::from_random([0xab; 16]);
/// assert_eq!(id.as_str(), "_abababababababababababababababab");
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(String);

impl RequestId {
    /// The ID made from 128 random bits (from a CSPRNG: the ID is what ties a Response to the
    /// browser that started the login).
    pub fn from_random(bytes: [u8; 16]) -> Self {
        let mut s = String::with_capacity(33);
        s.push('_');
        for b in bytes {
            s.push_str(&format!("{b:02x}"));
        }
        Self(s)
    }

    /// The ID as it appears in the AuthnRequest and in `InResponseTo`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RequestId({})", self.0)
    }
}

/// Where to send the browser to log in, and what to remember until the Response comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginRedirect {
    /// The IdP's SSO URL with `SAMLRequest` (and `RelayState`): answer with a 302 to it.
    pub url: String,
    /// The AuthnRequest's ID; pass the whole redirect to [`PendingLogins::insert`].
    ///
    /// [`PendingLogins::insert`]: crate::PendingLogins::insert
    pub request_id: RequestId,
    /// The RelayState sent with it (it must come back unchanged).
    pub relay_state: Option<String>,
    /// When the SP stops waiting for the Response (`now` + the request lifetime).
    pub expires_at: SystemTime,
}

/// The AuthnRequest XML (unsigned; `AuthnRequestsSigned="false"` in the SP metadata).
pub(crate) fn authn_request_xml(
    id: &RequestId,
    issue_instant: SystemTime,
    destination: &str,
    sp_entity_id: &str,
    acs_url: &str,
) -> String {
    format!(
        concat!(
            r#"<samlp:AuthnRequest xmlns:samlp="{samlp}" xmlns:saml="{saml}" ID="{id}" Version="2.0" IssueInstant="{instant}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="{post}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>"#,
            r#"</samlp:AuthnRequest>"#
        ),
        samlp = SAMLP,
        saml = SAML,
        id = escape(id.as_str()),
        instant = crate::time::format(issue_instant),
        dest = escape(destination),
        acs = escape(acs_url),
        post = BINDING_POST,
        issuer = escape(sp_entity_id),
    )
}

/// The HTTP-Redirect binding (bindings §3.4.4.1): raw DEFLATE (RFC 1951, no zlib header),
/// base64, then URL-encoding as a query parameter next to any query the SSO URL already has.
pub(crate) fn redirect_url(
    sso_url: &str,
    authn_request: &str,
    relay_state: Option<&str>,
) -> Result<String, crate::SamlError> {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing into a Vec cannot fail.
    let deflated = enc
        .write_all(authn_request.as_bytes())
        .and_then(|()| enc.finish())
        .map_err(|e| crate::SamlError::Config {
            detail: format!("deflate: {e}"),
        })?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(deflated);
    let mut url = url::Url::parse(sso_url).map_err(|e| crate::SamlError::Config {
        detail: format!("SSO URL {sso_url:?}: {e}"),
    })?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("SAMLRequest", &encoded);
        if let Some(rs) = relay_state {
            q.append_pair("RelayState", rs);
        }
    }
    Ok(url.into())
}
