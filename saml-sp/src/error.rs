//! The crate's error: one variant per check, each saying what to fix.
//!
//! A refused Response is the common case for an SP under attack and a frequent one while an
//! integration is set up. The variants name the check that failed, carry what was found and
//! what was expected, and their messages say where to fix it (most often in the IdP's app
//! settings). Values quoted from a refused Response are shortened to 200 characters, so a
//! hostile Response cannot make the error arbitrarily large.

use std::time::{Duration, SystemTime};

/// Everything that can go wrong configuring this SP or checking a Response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamlError {
    // ---- configuration ---------------------------------------------------------------------
    /// The IdP metadata cannot be used; `detail` says why.
    #[error("IdP metadata: {detail}")]
    Metadata {
        /// What is wrong, and the fix.
        detail: String,
    },
    /// The SP configuration cannot work (empty entity ID, ACS URL that is not absolute, …).
    #[error("SP configuration: {detail}")]
    Config {
        /// What is wrong, and the fix.
        detail: String,
    },
    /// The IdP metadata has no HTTP-Redirect SingleSignOnService, so no login can be started.
    #[error(
        "the IdP metadata has no SingleSignOnService with the HTTP-Redirect binding; \
         an SP-initiated login needs one (use the IdP's full metadata XML)"
    )]
    NoRedirectBinding,
    /// A RelayState longer than the 80 bytes the HTTP-Redirect binding allows (bindings §3.4.3).
    #[error(
        "the RelayState is {len} bytes; SAML allows at most 80: keep a short key and look the \
         return URL up on your side"
    )]
    RelayStateTooLong {
        /// Its length in bytes.
        len: usize,
    },

    // ---- the encoded message ---------------------------------------------------------------
    /// The posted Response is larger than this SP reads.
    #[error(
        "the SAML Response is {size} bytes, more than the {limit} this SP reads \
         (ServiceProviderBuilder::max_response_bytes)"
    )]
    TooLarge {
        /// Its size in bytes (of the base64 text if it was refused before decoding).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The `SAMLResponse` field is not base64.
    #[error(
        "the SAMLResponse field is not base64 ({detail}): pass the form field's value as posted, \
         after form decoding"
    )]
    Base64 {
        /// The decoder's message.
        detail: String,
    },
    /// The Response is not well-formed XML (or not in a supported encoding).
    #[error("the SAML Response is not well-formed XML: {detail}")]
    Xml {
        /// The parser's message.
        detail: String,
    },
    /// The Response contains a document type declaration.
    #[error(
        "the SAML Response contains a DTD (<!DOCTYPE …>): SAML forbids them and this SP refuses \
         entity declarations (entity expansion, external entities)"
    )]
    Dtd,
    /// Elements nested deeper than this SP parses.
    #[error("the SAML Response nests elements deeper than {limit} levels")]
    TooDeep {
        /// The depth limit.
        limit: usize,
    },
    /// More XML nodes than this SP parses.
    #[error("the SAML Response has more than {limit} XML nodes")]
    TooManyNodes {
        /// The node limit.
        limit: usize,
    },

    // ---- the Response's shape --------------------------------------------------------------
    /// The document is not a SAML 2.0 `samlp:Response`.
    #[error(
        "expected a SAML 2.0 samlp:Response, found {found}: post the SAMLResponse field of the \
         IdP's HTTP-POST binding"
    )]
    NotAResponse {
        /// The root element found (`{namespace}name`), or the version.
        found: String,
    },
    /// A required element or attribute is missing or unreadable (an ID, a time value, …).
    #[error("malformed SAML Response: {detail}")]
    Malformed {
        /// What is missing or wrong.
        detail: String,
    },
    /// The IdP answered with a status other than Success.
    #[error("the IdP refused the login: status {code}{}{}{}", 
        sub_code.as_deref().map(|s| format!(" / {s}")).unwrap_or_default(),
        message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default(),
        status_hint(code, sub_code.as_deref()))]
    Status {
        /// The top-level `StatusCode` (e.g. `urn:oasis:names:tc:SAML:2.0:status:Responder`).
        code: String,
        /// The second-level `StatusCode`, if any (e.g. `…:status:AuthnFailed`).
        sub_code: Option<String>,
        /// The `StatusMessage`, if any.
        message: Option<String>,
    },
    /// The Response carries an `EncryptedAssertion`.
    #[error(
        "the Response carries an EncryptedAssertion; this SP does not decrypt assertions: turn \
         assertion encryption off in the IdP's app (Okta: Assertion Encryption = Unencrypted)"
    )]
    EncryptedAssertion,
    /// Not exactly one `Assertion` in the whole document.
    #[error(
        "the Response holds {found} Assertion elements; exactly one is accepted (extra copies are \
         how signature wrapping hides the signed original)"
    )]
    AssertionCount {
        /// How many were found anywhere in the document.
        found: usize,
    },
    /// An ID value appears on more than one element, so a reference to it is ambiguous.
    #[error(
        "the ID {id:?} appears on more than one element: a signature reference to it is ambiguous \
         (signature wrapping)"
    )]
    DuplicateId {
        /// The repeated ID.
        id: String,
    },
    /// A signature does not sit in the element it signs, or signs something other than the
    /// Response or its Assertion.
    #[error("signature wrapping: {detail}")]
    SignatureWrapping {
        /// Where the signature is and what it references.
        detail: String,
    },

    // ---- the signature ---------------------------------------------------------------------
    /// Neither the Response nor its Assertion is signed.
    #[error(
        "neither the Response nor its Assertion is signed: configure the IdP to sign the \
         assertion (Okta: Assertion Signature = Signed)"
    )]
    Unsigned,
    /// Signed with a certificate this SP does not trust.
    #[error(
        "the signature was made with the certificate {found}, which this SP does not trust \
         (trusted: {}): load the IdP's current metadata (its signing certificate may have been \
         rolled over)", trusted.join(", "))]
    UntrustedSignature {
        /// SHA-256 fingerprint (hex) of the certificate in the signature's `KeyInfo`.
        found: String,
        /// SHA-256 fingerprints of the certificates from the IdP metadata.
        trusted: Vec<String>,
    },
    /// A SHA-1 signature or digest while SHA-1 is not allowed.
    #[error(
        "the signature uses SHA-1 ({algorithm}): set the IdP app's signature algorithm to \
         RSA-SHA256 (Okta: Signature Algorithm = RSA-SHA256), or allow SHA-1 explicitly with \
         ServiceProviderBuilder::allow_sha1(true)"
    )]
    WeakAlgorithm {
        /// The algorithm URI.
        algorithm: String,
    },
    /// A signature, digest or canonicalization algorithm outside the allowlist.
    #[error(
        "the signature uses {algorithm}, which this SP does not accept: RSA-SHA256/384/512 with \
         SHA-256/384/512 digests and exclusive canonicalization"
    )]
    UnsupportedAlgorithm {
        /// The algorithm URI.
        algorithm: String,
    },
    /// A transform other than enveloped-signature and exclusive C14N.
    #[error(
        "the signature uses the transform {algorithm}; only enveloped-signature and exclusive \
         canonicalization (without comments) are accepted"
    )]
    DisallowedTransform {
        /// The transform URI.
        algorithm: String,
    },
    /// The signed content was changed after signing (a reference digest does not match).
    #[error("the content signed as {element} was changed after it was signed (digest mismatch)")]
    ContentModified {
        /// `Response` or `Assertion`, and its ID.
        element: String,
    },
    /// The signature does not verify.
    #[error("the signature does not verify: {detail}")]
    SignatureInvalid {
        /// Why, as the verifier reported it.
        detail: String,
    },

    // ---- the SAML checks -------------------------------------------------------------------
    /// The Issuer is not the IdP's entity ID.
    #[error(
        "the {element} Issuer was {}, but the IdP's entity ID is {expected:?}: load the metadata \
         of the IdP app that sends these Responses",
        quote(found)
    )]
    IssuerMismatch {
        /// `Response` or `Assertion`.
        element: &'static str,
        /// The Issuer found (None when absent).
        found: Option<String>,
        /// The IdP's entity ID from its metadata.
        expected: String,
    },
    /// The Response's Destination is not this SP's ACS URL.
    #[error(
        "the Response's Destination was {}, this SP's ACS URL is {expected:?}: set the IdP app's \
         Single sign-on URL / Destination to {expected}",
        quote(found)
    )]
    DestinationMismatch {
        /// The Destination found (None when a signed Response has none).
        found: Option<String>,
        /// This SP's ACS URL.
        expected: String,
    },
    /// The bearer `SubjectConfirmationData` Recipient is not this SP's ACS URL.
    #[error(
        "the SubjectConfirmationData Recipient was {}, this SP's ACS URL is {expected:?}: set \
         the IdP app's Recipient URL (Okta: Single sign-on URL) to {expected}",
        quote(found)
    )]
    RecipientMismatch {
        /// The Recipient found.
        found: Option<String>,
        /// This SP's ACS URL.
        expected: String,
    },
    /// The AudienceRestriction does not name this SP.
    #[error(
        "the Audience was {}, this SP is {expected:?}: set the IdP app's Audience URI \
         (SP Entity ID) to {expected}",
        audiences(found)
    )]
    AudienceMismatch {
        /// The Audience values found (empty when there is no AudienceRestriction).
        found: Vec<String>,
        /// This SP's entity ID.
        expected: String,
    },
    /// A time bound lies in the future beyond the allowed clock skew.
    #[error(
        "the {element} is {} but it is {} (clock skew allowed: {}s): check the clocks of this \
         server and the IdP", crate::time::format(*not_before), crate::time::format(*now), skew.as_secs())]
    NotYetValid {
        /// Which time bound (`Conditions NotBefore`, `Assertion IssueInstant`, …).
        element: &'static str,
        /// The bound.
        not_before: SystemTime,
        /// The time passed to `accept`.
        now: SystemTime,
        /// The configured skew.
        skew: Duration,
    },
    /// A time bound has passed, beyond the allowed clock skew.
    #[error(
        "the {element} was {} and it is {} (clock skew allowed: {}s): the Response is too old; \
         start the login again (or check the clocks)", crate::time::format(*not_on_or_after),
         crate::time::format(*now), skew.as_secs())]
    Expired {
        /// Which time bound (`Conditions NotOnOrAfter`, `SubjectConfirmationData NotOnOrAfter`,
        /// `AuthnStatement SessionNotOnOrAfter`).
        element: &'static str,
        /// The bound.
        not_on_or_after: SystemTime,
        /// The time passed to `accept`.
        now: SystemTime,
        /// The configured skew.
        skew: Duration,
    },
    /// No `SubjectConfirmation` with the bearer method.
    #[error(
        "the Assertion has no bearer SubjectConfirmation (Web Browser SSO requires one with \
         Recipient and NotOnOrAfter)"
    )]
    NoBearerConfirmation,
    /// The Subject has no plain `NameID` (absent, or an `EncryptedID`).
    #[error("the Assertion's Subject has no NameID: {detail}")]
    NoNameId {
        /// What was there instead.
        detail: String,
    },
    /// No `AuthnStatement`.
    #[error("the Assertion has no AuthnStatement (Web Browser SSO requires one)")]
    NoAuthnStatement,

    // ---- state: requests and replays -------------------------------------------------------
    /// The Response's and the Assertion's `InResponseTo` differ.
    #[error(
        "the Response answers request {} but its Assertion answers {}",
        quote(response),
        quote(assertion)
    )]
    InResponseToMismatch {
        /// The Response's `InResponseTo`.
        response: Option<String>,
        /// The bearer `SubjectConfirmationData`'s `InResponseTo`.
        assertion: Option<String>,
    },
    /// The Response answers a request this SP is not waiting for.
    #[error(
        "the Response answers request {id:?}, which this SP is not waiting for: the login was \
         started by another server or before a restart (share PendingLogins), or it is forged; \
         start the login again"
    )]
    UnknownInResponseTo {
        /// The request ID.
        id: String,
    },
    /// The request was already answered: a second Response for the same login.
    #[error("request {id:?} was already answered: a Response is accepted once per login (replay)")]
    InResponseToReused {
        /// The request ID.
        id: String,
    },
    /// The request waited longer than the SP's request lifetime.
    #[error(
        "the login request {id:?} expired at {} (ServiceProviderBuilder::request_lifetime): start \
         the login again", crate::time::format(*expired_at))]
    RequestExpired {
        /// The request ID.
        id: String,
        /// When it expired.
        expired_at: SystemTime,
    },
    /// The posted RelayState is not the one the login was started with.
    #[error(
        "the RelayState posted with the Response is not the one the login started with: the \
         Response was moved to another login (or the IdP changed the RelayState)"
    )]
    RelayStateMismatch,
    /// An IdP-initiated Response (no `InResponseTo`) while those are not allowed.
    #[error(
        "the Response answers no request (an IdP-initiated login, e.g. from the Okta dashboard) \
         and this SP accepts only logins it started: allow them with \
         ServiceProviderBuilder::allow_idp_initiated(true), or start logins from the SP"
    )]
    IdpInitiatedRefused,
    /// The Assertion was accepted before.
    #[error("the Assertion {assertion_id:?} was already accepted once (replay)")]
    Replayed {
        /// The Assertion's ID.
        assertion_id: String,
    },
    /// The replay cache is full of unexpired assertion IDs.
    #[error(
        "the replay cache is full ({capacity} unexpired assertion IDs): the login is refused \
         rather than an entry forgotten early; raise ReplayCache's capacity"
    )]
    ReplayCacheFull {
        /// Its capacity.
        capacity: usize,
    },
    /// Too many logins are waiting for their Response.
    #[error(
        "{capacity} logins are already waiting for their Response: raise PendingLogins' capacity \
         or shorten the request lifetime"
    )]
    PendingFull {
        /// Its capacity.
        capacity: usize,
    },
    /// A caller-provided store ([`PendingStore`](crate::PendingStore),
    /// [`ReplayStore`](crate::ReplayStore)) failed.
    #[error("login state store: {detail}")]
    Store {
        /// The store's message.
        detail: String,
    },
}

/// `"value"` or `none`, shortened.
fn quote(v: &Option<String>) -> String {
    match v {
        Some(v) => format!("{:?}", shorten(v)),
        None => "missing".to_string(),
    }
}

fn audiences(found: &[String]) -> String {
    if found.is_empty() {
        "missing (no AudienceRestriction)".to_string()
    } else {
        found
            .iter()
            .map(|a| format!("{:?}", shorten(a)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// At most 200 characters of a value taken from a Response.
pub(crate) fn shorten(v: &str) -> String {
    const MAX: usize = 200;
    if v.chars().count() <= MAX {
        v.to_string()
    } else {
        let mut s: String = v.chars().take(MAX).collect();
        s.push('…');
        s
    }
}

/// What an administrator can do about a non-Success status (Okta's usual ones first).
fn status_hint(code: &str, sub: Option<&str>) -> &'static str {
    let last = |s: &str| s.rsplit(':').next().unwrap_or("").to_string();
    match (last(code).as_str(), sub.map(last).as_deref()) {
        (_, Some("InvalidNameIDPolicy")) => {
            ": the IdP cannot issue the NameID format asked for; align the app's Name ID format"
        }
        (_, Some("RequestDenied")) => {
            ": the user is not assigned to the IdP app, or a policy denied it"
        }
        (_, Some("AuthnFailed")) => ": the user did not authenticate at the IdP",
        (_, Some("NoPassive")) => ": the IdP could not log the user in without interaction",
        ("Requester", _) => {
            ": the IdP found the AuthnRequest wrong; check the SP entity ID and ACS URL in the IdP app"
        }
        ("VersionMismatch", _) => ": the IdP does not speak SAML 2.0 here",
        _ => "",
    }
}

/// Keeps values from a Response bounded before they go into an error.
pub(crate) fn found(v: &str) -> String {
    shorten(v)
}
