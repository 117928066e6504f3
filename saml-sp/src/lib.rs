//! A sans-IO SAML 2.0 Service Provider: log users in with Okta (or any SAML 2.0 IdP).
//!
//! * [`IdpMetadata`]: the IdP's metadata in (entity ID, SSO URLs for HTTP-Redirect and
//!   HTTP-POST, one or two signing certificates: Okta lists two while it rolls its key over).
//! * [`ServiceProvider`]: this SP, built with [`ServiceProvider::builder`]; its metadata out
//!   ([`ServiceProvider::metadata_xml`]); SP-initiated login
//!   ([`ServiceProvider::login_request`]: an AuthnRequest over HTTP-Redirect, with RelayState);
//!   and [`ServiceProvider::accept`], which checks a Response posted to the ACS URL and returns
//!   a [`SamlLogin`] (NameID, attributes such as `groups`, session index).
//! * [`PendingLogins`] and [`ReplayCache`]: the state kept between requests (requests waiting
//!   for their Response, assertions already accepted), as plain data the caller owns, behind
//!   the [`PendingStore`] and [`ReplayStore`] traits for a shared store.
//! * [`SamlError`]: one variant per failed check, each saying what to fix.
//!
//! Time, request IDs (randomness) and state are passed in; the crate does no IO and reads no
//! clock, so it works under any HTTP stack and every check is testable at a fixed instant.
//!
//! ```
//! use saml_sp::{IdpMetadata, PendingLogins, ReplayCache, RequestId, ServiceProvider};
//! # use std::time::Duration;
//! # let okta_metadata_xml = saml_sp::doc_support::okta_metadata();
//! # let started = saml_sp::doc_support::login_started();
//! # let posted_saml_response = saml_sp::doc_support::okta_response_base64();
//!
//! let sp = ServiceProvider::builder(
//!     "https://portal.example.com/saml",     // Okta: Audience URI (SP Entity ID)
//!     "https://portal.example.com/saml/acs", // Okta: Single sign-on URL
//!     IdpMetadata::parse(&okta_metadata_xml)?,
//! )
//! .build()?;
//! let mut pending = PendingLogins::new(10_000);
//! let mut replay = ReplayCache::new(10_000);
//!
//! // GET /login: redirect to Okta (the ID's 16 bytes come from a CSPRNG).
//! let login = sp.login_request(RequestId::from_random([0x2a; 16]), started, Some("home"))?;
//! pending.insert(&login, started)?;
//! // … 302 to login.url; the user logs in at Okta, whose page posts to the ACS URL …
//!
//! // POST /saml/acs with the form fields SAMLResponse and RelayState.
//! let now = started + Duration::from_secs(30);
//! let user = sp.accept(&posted_saml_response, Some("home"), now, &mut pending, &mut replay)?;
//! assert_eq!(user.name_id, "alice@example.com");
//! assert_eq!(user.groups(), ["Everyone", "Portal Admins"]);
//! # Ok::<(), saml_sp::SamlError>(())
//! ```
//!
//! # What `accept` checks
//!
//! In this order; the first failure is the error returned.
//!
//! 1. Size ([`SamlError::TooLarge`], before and after base64 decoding), base64
//!    ([`SamlError::Base64`]), XML well-formedness ([`SamlError::Xml`]) with no DTD at all
//!    ([`SamlError::Dtd`]: no entity expansion, no external entities) and bounded depth and
//!    node count ([`SamlError::TooDeep`], [`SamlError::TooManyNodes`]).
//! 2. A SAML 2.0 `samlp:Response` ([`SamlError::NotAResponse`]) whose status is Success
//!    ([`SamlError::Status`], with Okta's codes and what they usually mean).
//! 3. No ID value on two elements ([`SamlError::DuplicateId`]), no `EncryptedAssertion`
//!    ([`SamlError::EncryptedAssertion`]).
//! 4. Every signature is enveloped in the element it signs, which is the Response or the
//!    Assertion directly in it, with one Reference to that element's own ID
//!    ([`SamlError::SignatureWrapping`]).
//! 5. Exactly one Assertion in the whole document, a child of the Response
//!    ([`SamlError::AssertionCount`]); at least one signature ([`SamlError::Unsigned`]).
//! 6. Algorithms: RSA-SHA256/384/512 with SHA-256/384/512 digests; SHA-1 only with
//!    [`ServiceProviderBuilder::allow_sha1`] ([`SamlError::WeakAlgorithm`],
//!    [`SamlError::UnsupportedAlgorithm`]); exclusive C14N without comments and the
//!    enveloped-signature transform only ([`SamlError::DisallowedTransform`]).
//! 7. The signing certificate is one of the metadata's ([`SamlError::UntrustedSignature`],
//!    naming both fingerprints); the signatures verify with its key, and xml-sec reports the
//!    Response or the Assertion as authenticated ([`SamlError::ContentModified`],
//!    [`SamlError::SignatureInvalid`]).
//! 8. From here, every value is read from the canonical bytes the signature covered: the
//!    Assertion's own, or the Response's (and the Assertion in it) when only the Response is
//!    signed. Issuers = the IdP's entity ID ([`SamlError::IssuerMismatch`]); Destination = the
//!    ACS URL, required on a signed Response ([`SamlError::DestinationMismatch`]); every
//!    AudienceRestriction names this SP ([`SamlError::AudienceMismatch`]); `IssueInstant`,
//!    `NotBefore` and `NotOnOrAfter` of the Conditions, the bearer confirmation and the
//!    session, within [`ServiceProviderBuilder::clock_skew`] ([`SamlError::NotYetValid`],
//!    [`SamlError::Expired`]); a bearer `SubjectConfirmation` whose Recipient is the ACS URL
//!    ([`SamlError::NoBearerConfirmation`], [`SamlError::RecipientMismatch`]); a NameID
//!    ([`SamlError::NoNameId`]), an AuthnStatement ([`SamlError::NoAuthnStatement`]); the
//!    Response's and the Assertion's `InResponseTo` agree
//!    ([`SamlError::InResponseToMismatch`]).
//! 9. State, only once all of the above passed (a forged Response cannot use up a login):
//!    `InResponseTo` names a pending request, taken once ([`SamlError::UnknownInResponseTo`],
//!    [`SamlError::InResponseToReused`], [`SamlError::RequestExpired`]) with the RelayState
//!    it started with ([`SamlError::RelayStateMismatch`]); no `InResponseTo` only with
//!    [`ServiceProviderBuilder::allow_idp_initiated`] ([`SamlError::IdpInitiatedRefused`]);
//!    the Assertion's ID was not accepted before ([`SamlError::Replayed`]).
//!
//! The repository's `saml-sp/tests/attacks.rs` refuses the signature-wrapping layouts of
//! Somorovsky et al. (XSW1–8), the NameID-comment truncation, and the other cases above, each
//! with its own error.
//!
//! # Why a crate of its own
//!
//! An integrator looking for SAML looks for a SAML crate, not in an Okta API client; and this
//! one has no HTTP and nothing Okta-specific: it speaks SAML 2.0 (Web Browser SSO profile) to
//! any IdP. It is tested against Okta's shapes (prefixes, IDs, validity windows, status codes,
//! metadata, key rollover) with the workspace's sandbox IdP, and against `signxml` (Python,
//! lxml + OpenSSL) in both directions.
//!
//! # Which XML security library, and why
//!
//! XML-DSig and canonicalization are not written here: they are
//! [`xml-sec`](https://crates.io/crates/xml-sec) 0.4 (pinned exactly), in pure Rust:
//!
//! * no system library and no `-sys` crate (the alternatives built on libxml2 and libxmlsec1,
//!   such as `samael`, need OpenSSL, libxml2 and libxmlsec1 installed); a cold build of this
//!   crate with all its dependencies took 38 s (debug; xml-sec itself 13 s) and 79 s (release)
//!   on two shared cores;
//! * the same RustCrypto generation as the rest of the workspace (`rsa` 0.10, `sha2` 0.11);
//! * fail-closed policy: SHA-1 refused unless allowed, a transform allowlist, bounded parsing
//!   (no DTD by default, depth, nodes, bytes), and verification results bound to the exact
//!   nodes they authenticated (`accepted()`), which is what defeats signature wrapping;
//! * it interoperated in both directions with signxml and libxmlsec1 in our evaluation;
//! * checking Okta's usual Response (about 5 KB, Assertion signed) takes about 0.26 ms in a
//!   release build, 0.53 ms with the Response signed too.
//!
//! The same library parses the Response for the checks above, so what is checked and what is
//! verified come from one parse (no parser differential). This crate requires Rust 1.92, as
//! xml-sec does.
//!
//! # Several servers
//!
//! [`PendingLogins`] and [`ReplayCache`] live in one process. Behind a load balancer, share
//! them: implement [`PendingStore`] and [`ReplayStore`] over the shared database with one
//! atomic operation each (see the [`PendingStore`] docs).
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[doc(hidden)]
pub mod doc_support;
mod error;
mod login;
mod metadata;
mod request;
mod sp;
mod store;
mod time;
mod verify;
mod xml;

pub use error::SamlError;
pub use login::{NameIdFormat, SamlLogin};
pub use metadata::{IdpMetadata, SigningCertificate};
pub use request::{LoginRedirect, RequestId};
pub use sp::{
    DEFAULT_CLOCK_SKEW, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_LIFETIME, MAX_CLOCK_SKEW,
    ServiceProvider, ServiceProviderBuilder,
};
pub use store::{PendingLogin, PendingLogins, PendingStore, ReplayCache, ReplayStore};

/// The crate's README, compiled and run as doctests so that its examples keep working.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
