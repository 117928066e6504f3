//! [`ServiceProvider`]: configuration, login requests, and the checks on a Response.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use xml_sec::Node;

use crate::error::{SamlError, found};
use crate::login::{NameIdFormat, SamlLogin};
use crate::metadata::{IdpMetadata, check_url, sp_metadata_xml};
use crate::request::{LoginRedirect, RequestId, authn_request_xml, redirect_url};
use crate::store::{PendingStore, ReplayStore};
use crate::verify::{ResponseFields, Settings, child, text};
use crate::xml::{CM_BEARER, SAML};

/// Default [`ServiceProviderBuilder::clock_skew`]: 3 minutes.
///
/// Servers synchronised by NTP are within a second of each other; the skew is for the ones
/// that are not, and it widens the window in which a captured Response is accepted. Three
/// minutes is Shibboleth's default and well inside the 5 minutes Okta gives an assertion.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(180);
/// Largest skew the builder accepts (10 minutes): beyond, fix the clocks instead.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(600);
/// Default [`ServiceProviderBuilder::max_response_bytes`]: 256 KiB of decoded XML. Okta's
/// Responses are 4–10 KiB; a user in a few hundred groups stays far below.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 256 * 1024;
/// Default [`ServiceProviderBuilder::request_lifetime`]: 10 minutes for the user to log in
/// at the IdP (password, MFA) before the SP stops waiting.
pub const DEFAULT_REQUEST_LIFETIME: Duration = Duration::from_secs(600);
/// Element nesting a Response may have. Okta's are 7 levels deep.
const MAX_DEPTH: usize = 64;

/// Configures a [`ServiceProvider`].
#[derive(Debug, Clone)]
pub struct ServiceProviderBuilder {
    entity_id: String,
    acs_url: String,
    idp: IdpMetadata,
    clock_skew: Duration,
    allow_idp_initiated: bool,
    allow_sha1: bool,
    max_response_bytes: usize,
    request_lifetime: Duration,
}

impl ServiceProviderBuilder {
    /// How far the IdP's clock may be from this server's (default [`DEFAULT_CLOCK_SKEW`],
    /// at most [`MAX_CLOCK_SKEW`]).
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.clock_skew = skew;
        self
    }

    /// Whether a Response that answers no request (an IdP-initiated login, such as a click on
    /// the app's tile in the Okta dashboard) is accepted. Default `false`: such a Response can
    /// be posted to a victim's browser to log it into the attacker's account (login CSRF), and
    /// its RelayState is not one the SP chose.
    pub fn allow_idp_initiated(mut self, allow: bool) -> Self {
        self.allow_idp_initiated = allow;
        self
    }

    /// Whether RSA-SHA1 signatures and SHA-1 digests are accepted. Default `false`: SHA-1 is
    /// broken for collision resistance; Okta signs with RSA-SHA256 unless told otherwise.
    pub fn allow_sha1(mut self, allow: bool) -> Self {
        self.allow_sha1 = allow;
        self
    }

    /// The largest decoded Response read (default [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// How long a started login waits for its Response (default
    /// [`DEFAULT_REQUEST_LIFETIME`]).
    pub fn request_lifetime(mut self, lifetime: Duration) -> Self {
        self.request_lifetime = lifetime;
        self
    }

    /// Checks the configuration and builds the SP.
    pub fn build(self) -> Result<ServiceProvider, SamlError> {
        let config = |detail: String| SamlError::Config { detail };
        if self.entity_id.trim().is_empty() {
            return Err(config(
                "the SP entity ID is empty; use a URL you own, e.g. https://portal.example.com/saml"
                    .into(),
            ));
        }
        check_url(&self.acs_url).map_err(|e| config(format!("ACS URL {:?}: {e}", self.acs_url)))?;
        if self.clock_skew > MAX_CLOCK_SKEW {
            return Err(config(format!(
                "a clock skew of {}s is more than {}s: synchronise the clocks (NTP) instead",
                self.clock_skew.as_secs(),
                MAX_CLOCK_SKEW.as_secs()
            )));
        }
        if self.max_response_bytes < 1024 {
            return Err(config(
                "max_response_bytes below 1 KiB refuses every Response".into(),
            ));
        }
        if self.request_lifetime.is_zero() {
            return Err(config(
                "a zero request lifetime refuses every Response".into(),
            ));
        }
        Ok(ServiceProvider {
            entity_id: self.entity_id,
            acs_url: self.acs_url,
            idp: self.idp,
            clock_skew: self.clock_skew,
            allow_idp_initiated: self.allow_idp_initiated,
            allow_sha1: self.allow_sha1,
            max_response_bytes: self.max_response_bytes,
            request_lifetime: self.request_lifetime,
        })
    }
}

/// A SAML 2.0 Service Provider for one IdP: builds login redirects and accepts Responses.
///
/// It reads no clock, draws no random numbers and does no IO: `now`, request IDs and the
/// state stores are passed in. It is immutable and `Send + Sync`; share one between requests.
///
/// ```
/// # use std::time::{Duration, SystemTime};
/// use saml_sp::{IdpMetadata, RequestId, ServiceProvider};
/// # let xml = saml_sp::doc_support::okta_metadata();
/// let idp = IdpMetadata::parse(&xml)?;
/// let sp = ServiceProvider::builder(
///     "https://portal.example.com/saml",
///     "https://portal.example.com/saml/acs",
///     idp,
/// )
/// .build()?;
/// let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800);
/// let login = sp.login_request(RequestId::from_random([42; 16]), now, Some("r1"))?;
/// assert!(login.url.starts_with("https://dev-123456.okta.com/app/"));
/// assert!(login.url.contains("SAMLRequest=") && login.url.ends_with("&RelayState=r1"));
/// # Ok::<(), saml_sp::SamlError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ServiceProvider {
    entity_id: String,
    acs_url: String,
    idp: IdpMetadata,
    clock_skew: Duration,
    allow_idp_initiated: bool,
    allow_sha1: bool,
    max_response_bytes: usize,
    request_lifetime: Duration,
}

impl ServiceProvider {
    /// Starts configuring an SP: its entity ID (Okta: "Audience URI (SP Entity ID)"), its
    /// Assertion Consumer Service URL (Okta: "Single sign-on URL", where the Response is
    /// posted) and the IdP's metadata.
    pub fn builder(
        entity_id: impl Into<String>,
        acs_url: impl Into<String>,
        idp: IdpMetadata,
    ) -> ServiceProviderBuilder {
        ServiceProviderBuilder {
            entity_id: entity_id.into(),
            acs_url: acs_url.into(),
            idp,
            clock_skew: DEFAULT_CLOCK_SKEW,
            allow_idp_initiated: false,
            allow_sha1: false,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            request_lifetime: DEFAULT_REQUEST_LIFETIME,
        }
    }

    /// This SP's entity ID.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// This SP's ACS URL.
    pub fn acs_url(&self) -> &str {
        &self.acs_url
    }

    /// The IdP this SP trusts.
    pub fn idp(&self) -> &IdpMetadata {
        &self.idp
    }

    /// The allowed clock skew.
    pub fn clock_skew(&self) -> Duration {
        self.clock_skew
    }

    /// The SP's metadata: an `EntityDescriptor` with the HTTP-POST AssertionConsumerService,
    /// `NameIDFormat` emailAddress, `AuthnRequestsSigned="false"` and
    /// `WantAssertionsSigned="true"`. Serve it (e.g. at the entity ID's URL) or upload it to
    /// the IdP.
    pub fn metadata_xml(&self) -> String {
        sp_metadata_xml(&self.entity_id, &self.acs_url)
    }

    /// An SP-initiated login: the URL to redirect the browser to (an AuthnRequest over the
    /// HTTP-Redirect binding) and what to remember for the Response
    /// ([`PendingLogins::insert`](crate::PendingLogins::insert)).
    ///
    /// `id` must come from fresh randomness; `relay_state` (at most 80 bytes) comes back with
    /// the Response, e.g. a key for the page to return to.
    pub fn login_request(
        &self,
        id: RequestId,
        now: SystemTime,
        relay_state: Option<&str>,
    ) -> Result<LoginRedirect, SamlError> {
        if let Some(rs) = relay_state
            && rs.len() > 80
        {
            return Err(SamlError::RelayStateTooLong { len: rs.len() });
        }
        let sso = self
            .idp
            .sso_redirect_url()
            .ok_or(SamlError::NoRedirectBinding)?;
        let xml = authn_request_xml(&id, now, sso, &self.entity_id, &self.acs_url);
        Ok(LoginRedirect {
            url: redirect_url(sso, &xml, relay_state)?,
            request_id: id,
            relay_state: relay_state.map(str::to_string),
            expires_at: crate::time::add(now, self.request_lifetime),
        })
    }

    /// Checks a Response posted to the ACS URL and returns the login it vouches for.
    ///
    /// `saml_response` is the `SAMLResponse` form field (base64, after form decoding) and
    /// `relay_state` the `RelayState` field. Every check is listed in the crate documentation;
    /// the first that fails is returned as its own [`SamlError`]. The stores are consulted only
    /// after every other check passed, so a forged Response cannot use up a pending login.
    pub fn accept(
        &self,
        saml_response: &str,
        relay_state: Option<&str>,
        now: SystemTime,
        pending: &mut impl PendingStore,
        replay: &mut impl ReplayStore,
    ) -> Result<SamlLogin, SamlError> {
        let checked = self.check(saml_response, now)?;

        // InResponseTo: a pending request of ours, taken once; or none, if allowed.
        match &checked.in_response_to {
            Some(id) => {
                let login = pending.take(id, now)?;
                if login.relay_state.as_deref() != relay_state {
                    return Err(SamlError::RelayStateMismatch);
                }
            }
            None if !self.allow_idp_initiated => return Err(SamlError::IdpInitiatedRefused),
            None => {}
        }
        replay.remember(&checked.login.assertion_id, checked.keep_until, now)?;

        let mut login = checked.login;
        login.relay_state = relay_state.map(str::to_string);
        Ok(login)
    }

    /// Every check that needs no state.
    fn check(&self, saml_response: &str, now: SystemTime) -> Result<Checked, SamlError> {
        let xml = self.decode(saml_response)?;
        let signed = crate::verify::verify(
            &xml,
            &Settings {
                certificates: self.idp.signing_certificates(),
                allow_sha1: self.allow_sha1,
                max_bytes: self.max_response_bytes,
                max_depth: MAX_DEPTH,
                max_nodes: self.max_response_bytes / 4,
            },
        )?;

        // From here on, values come only from the canonical bytes that were verified.
        let c14n_error = |e: xml_sec::ParseError| SamlError::SignatureInvalid {
            detail: format!("the signed bytes do not parse: {e}"),
        };
        let response_doc = signed
            .response
            .as_deref()
            .map(xml_sec::Document::parse)
            .transpose()
            .map_err(c14n_error)?;
        let assertion_doc = signed
            .assertion
            .as_deref()
            .map(xml_sec::Document::parse)
            .transpose()
            .map_err(c14n_error)?;
        let assertion = match (&assertion_doc, &response_doc) {
            (Some(a), _) => a.root_element(),
            (None, Some(r)) => child(r.root_element(), SAML, "Assertion").ok_or_else(|| {
                SamlError::SignatureWrapping {
                    detail: "the signed Response holds no Assertion".into(),
                }
            })?,
            (None, None) => return Err(SamlError::Unsigned),
        };
        if !assertion.has_tag_name((SAML, "Assertion")) {
            return Err(SamlError::SignatureWrapping {
                detail: "the signed element is not the Assertion".into(),
            });
        }

        // The Response's own attributes count only if the Response was signed; otherwise its
        // InResponseTo must agree with the (signed) assertion's, and its Destination and
        // Issuer, when present, with this SP and the IdP.
        let response = match &response_doc {
            Some(r) => ResponseFields::read(r.root_element(), true),
            None => signed.unsigned_response,
        };
        let a = read_assertion(assertion)?;
        self.check_fields(&response, &a, now)
    }

    fn decode(&self, saml_response: &str) -> Result<Vec<u8>, SamlError> {
        // Base64 is 4/3 of the bytes; line breaks (some IdPs wrap at 76) add a little more.
        // Refuse what cannot fit before decoding it.
        let limit = self.max_response_bytes;
        if saml_response.len() > limit / 3 * 4 + limit / 16 + 8 {
            return Err(SamlError::TooLarge {
                size: saml_response.len(),
                limit,
            });
        }
        let compact: String = saml_response
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let xml = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .map_err(|e| SamlError::Base64 {
                detail: e.to_string(),
            })?;
        if xml.len() > limit {
            return Err(SamlError::TooLarge {
                size: xml.len(),
                limit,
            });
        }
        Ok(xml)
    }

    fn check_fields(
        &self,
        response: &ResponseFields,
        a: &AssertionFields,
        now: SystemTime,
    ) -> Result<Checked, SamlError> {
        let idp = self.idp.entity_id();
        let skew = self.clock_skew;
        let late = |element: &'static str, bound: SystemTime| -> Result<(), SamlError> {
            if now >= crate::time::add(bound, skew) {
                Err(SamlError::Expired {
                    element,
                    not_on_or_after: bound,
                    now,
                    skew,
                })
            } else {
                Ok(())
            }
        };
        let early = |element: &'static str, bound: SystemTime| -> Result<(), SamlError> {
            if crate::time::add(now, skew) < bound {
                Err(SamlError::NotYetValid {
                    element,
                    not_before: bound,
                    now,
                    skew,
                })
            } else {
                Ok(())
            }
        };

        // Issuers.
        if a.issuer.as_deref() != Some(idp) {
            return Err(SamlError::IssuerMismatch {
                element: "Assertion",
                found: a.issuer.as_deref().map(found),
                expected: idp.to_string(),
            });
        }
        if let Some(issuer) = &response.issuer
            && issuer != idp
        {
            return Err(SamlError::IssuerMismatch {
                element: "Response",
                found: Some(found(issuer)),
                expected: idp.to_string(),
            });
        }
        // Destination: required on a signed Response (bindings §3.5.5.2), checked if present.
        match &response.destination {
            Some(d) if d == &self.acs_url => {}
            None if !response.signed => {}
            other => {
                return Err(SamlError::DestinationMismatch {
                    found: other.as_deref().map(found),
                    expected: self.acs_url.clone(),
                });
            }
        }
        // Audience: every AudienceRestriction must name us (core §2.5.1.4).
        let audiences: Vec<String> = a.audience_restrictions.iter().flatten().cloned().collect();
        if a.audience_restrictions.is_empty()
            || !a
                .audience_restrictions
                .iter()
                .all(|r| r.iter().any(|x| x == &self.entity_id))
        {
            return Err(SamlError::AudienceMismatch {
                found: audiences.iter().map(|s| found(s)).collect(),
                expected: self.entity_id.clone(),
            });
        }
        // Time.
        early("Assertion IssueInstant", a.issue_instant)?;
        if let Some(t) = a.not_before {
            early("Conditions NotBefore", t)?;
        }
        if let Some(t) = a.not_on_or_after {
            late("Conditions NotOnOrAfter", t)?;
        }
        // Bearer confirmation: at least one that satisfies every check (profiles §4.1.4.2);
        // the first one's failure is reported.
        if a.bearers.is_empty() {
            return Err(SamlError::NoBearerConfirmation);
        }
        let check_bearer = |b: &Bearer| -> Result<(), SamlError> {
            if b.recipient.as_deref() != Some(self.acs_url.as_str()) {
                return Err(SamlError::RecipientMismatch {
                    found: b.recipient.as_deref().map(found),
                    expected: self.acs_url.clone(),
                });
            }
            let until = b.not_on_or_after.ok_or_else(|| SamlError::Malformed {
                detail: "the bearer SubjectConfirmationData has no NotOnOrAfter".into(),
            })?;
            late("SubjectConfirmationData NotOnOrAfter", until)?;
            if let Some(t) = b.not_before {
                early("SubjectConfirmationData NotBefore", t)?;
            }
            Ok(())
        };
        let mut first_error = None;
        let mut chosen = None;
        for b in &a.bearers {
            match check_bearer(b) {
                Ok(()) => {
                    chosen = Some(b);
                    break;
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let Some(bearer) = chosen else {
            return Err(first_error.unwrap_or(SamlError::NoBearerConfirmation));
        };
        // Subject and authentication.
        let (name_id, format) = a.name_id.clone().ok_or_else(|| SamlError::NoNameId {
            detail: a.no_name_id.clone(),
        })?;
        let authn = a.authn.first().ok_or(SamlError::NoAuthnStatement)?;
        if let Some(t) = authn.session_not_on_or_after {
            late("AuthnStatement SessionNotOnOrAfter", t)?;
        }
        // InResponseTo: the Response's (if any) and the assertion's must agree.
        let in_response_to = match (&response.in_response_to, &bearer.in_response_to) {
            (r, b) if r == b => b.clone(),
            // A signed Response vouches for its own InResponseTo; an assertion without one
            // then inherits it.
            (Some(r), None) if response.signed => Some(r.clone()),
            (r, b) => {
                return Err(SamlError::InResponseToMismatch {
                    response: r.as_deref().map(found),
                    assertion: b.as_deref().map(found),
                });
            }
        };

        // Kept until the assertion could not pass the time checks anyway.
        let mut until = bearer.not_on_or_after.unwrap_or(now);
        if let Some(t) = a.not_on_or_after {
            until = until.min(t);
        }
        Ok(Checked {
            in_response_to: in_response_to.clone(),
            keep_until: crate::time::add(until, skew),
            login: SamlLogin {
                name_id,
                name_id_format: format,
                session_index: authn.session_index.clone(),
                attributes: a.attributes.clone(),
                issuer: idp.to_string(),
                in_response_to,
                authn_instant: authn.instant,
                session_not_on_or_after: authn.session_not_on_or_after,
                relay_state: None,
                assertion_id: a.id.clone(),
            },
        })
    }
}

/// The outcome of the stateless checks.
struct Checked {
    in_response_to: Option<String>,
    keep_until: SystemTime,
    login: SamlLogin,
}

struct Bearer {
    recipient: Option<String>,
    not_before: Option<SystemTime>,
    not_on_or_after: Option<SystemTime>,
    in_response_to: Option<String>,
}

struct Authn {
    instant: Option<SystemTime>,
    session_index: Option<String>,
    session_not_on_or_after: Option<SystemTime>,
}

/// What the checks need from the (signed) Assertion.
struct AssertionFields {
    id: String,
    issue_instant: SystemTime,
    issuer: Option<String>,
    name_id: Option<(String, NameIdFormat)>,
    /// Why there is no NameID, for the error.
    no_name_id: String,
    bearers: Vec<Bearer>,
    not_before: Option<SystemTime>,
    not_on_or_after: Option<SystemTime>,
    audience_restrictions: Vec<Vec<String>>,
    authn: Vec<Authn>,
    attributes: BTreeMap<String, Vec<String>>,
}

fn time_attr(node: Node<'_, '_>, name: &str, what: &str) -> Result<Option<SystemTime>, SamlError> {
    match node.attribute(name) {
        None => Ok(None),
        Some(v) => crate::time::parse(v)
            .map(Some)
            .ok_or_else(|| SamlError::Malformed {
                detail: format!("{what} {name} {} is not a UTC dateTime", found(v)),
            }),
    }
}

fn read_assertion(a: Node<'_, '_>) -> Result<AssertionFields, SamlError> {
    let malformed = |detail: &str| SamlError::Malformed {
        detail: detail.to_string(),
    };
    if a.attribute("Version") != Some("2.0") {
        return Err(malformed("the Assertion's Version is not 2.0"));
    }
    let id = a
        .attribute("ID")
        .ok_or_else(|| malformed("the Assertion has no ID"))?
        .to_string();
    let issue_instant = time_attr(a, "IssueInstant", "Assertion")?
        .ok_or_else(|| malformed("the Assertion has no IssueInstant"))?;
    let issuer = child(a, SAML, "Issuer").map(|n| text(n).trim().to_string());

    let mut name_id = None;
    let mut no_name_id = "the Assertion has no Subject".to_string();
    let mut bearers = Vec::new();
    if let Some(subject) = child(a, SAML, "Subject") {
        if let Some(n) = child(subject, SAML, "NameID") {
            if n.children().any(|c| c.is_element()) {
                return Err(malformed("the NameID contains elements"));
            }
            // The whole text: in the canonical bytes a comment is gone, so
            // `alice@example.com<!---->.evil.com` reads as what was signed.
            let value = text(n).trim().to_string();
            if value.is_empty() {
                no_name_id = "the NameID is empty".into();
            } else {
                name_id = Some((value, NameIdFormat::from_uri(n.attribute("Format"))));
            }
        } else if child(subject, SAML, "EncryptedID").is_some() {
            no_name_id = "it is an EncryptedID, which this SP does not decrypt; turn NameID \
                          encryption off in the IdP app"
                .into();
        } else {
            no_name_id = "the Subject has no NameID (set the IdP app's Name ID format)".into();
        }
        for sc in subject
            .children()
            .filter(|n| n.has_tag_name((SAML, "SubjectConfirmation")))
            .filter(|n| n.attribute("Method") == Some(CM_BEARER))
        {
            let data = child(sc, SAML, "SubjectConfirmationData");
            bearers.push(match data {
                Some(d) => Bearer {
                    recipient: d.attribute("Recipient").map(str::to_string),
                    not_before: time_attr(d, "NotBefore", "SubjectConfirmationData")?,
                    not_on_or_after: time_attr(d, "NotOnOrAfter", "SubjectConfirmationData")?,
                    in_response_to: d.attribute("InResponseTo").map(str::to_string),
                },
                None => Bearer {
                    recipient: None,
                    not_before: None,
                    not_on_or_after: None,
                    in_response_to: None,
                },
            });
        }
    }

    let (mut not_before, mut not_on_or_after, mut audience_restrictions) = (None, None, Vec::new());
    if let Some(c) = child(a, SAML, "Conditions") {
        not_before = time_attr(c, "NotBefore", "Conditions")?;
        not_on_or_after = time_attr(c, "NotOnOrAfter", "Conditions")?;
        for r in c
            .children()
            .filter(|n| n.has_tag_name((SAML, "AudienceRestriction")))
        {
            audience_restrictions.push(
                r.children()
                    .filter(|n| n.has_tag_name((SAML, "Audience")))
                    .map(|n| text(n).trim().to_string())
                    .collect(),
            );
        }
    }

    let mut authn = Vec::new();
    for s in a
        .children()
        .filter(|n| n.has_tag_name((SAML, "AuthnStatement")))
    {
        authn.push(Authn {
            instant: time_attr(s, "AuthnInstant", "AuthnStatement")?,
            session_index: s.attribute("SessionIndex").map(str::to_string),
            session_not_on_or_after: time_attr(s, "SessionNotOnOrAfter", "AuthnStatement")?,
        });
    }

    let mut attributes: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for at in a
        .children()
        .filter(|n| n.has_tag_name((SAML, "AttributeStatement")))
        .flat_map(|s| s.children())
        .filter(|n| n.has_tag_name((SAML, "Attribute")))
    {
        let Some(name) = at.attribute("Name") else {
            continue;
        };
        let values = attributes.entry(name.to_string()).or_default();
        for v in at
            .children()
            .filter(|n| n.has_tag_name((SAML, "AttributeValue")))
        {
            values.push(text(v));
        }
    }
    Ok(AssertionFields {
        id,
        issue_instant,
        issuer,
        name_id,
        no_name_id,
        bearers,
        not_before,
        not_on_or_after,
        audience_restrictions,
        authn,
        attributes,
    })
}
