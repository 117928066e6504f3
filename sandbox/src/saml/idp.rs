//! The sandbox as Okta's SAML IdP over HTTP: the org's SAML apps, their metadata, SSO URLs and
//! a sign-in page where the tester picks a directory user.
//!
//! The routes are shaped like Okta's:
//!
//! * `GET /app/{appId}/sso/saml/metadata`: the app's IdP metadata (its own key and certificate);
//! * `GET /app/{appName}/{appId}/sso/saml?SAMLRequest=…&RelayState=…` (HTTP-Redirect: raw
//!   DEFLATE, base64) and `POST` of the same fields (HTTP-POST: base64 only): the AuthnRequest
//!   is read (ID, Issuer, AssertionConsumerServiceURL) and checked against the app's SP
//!   settings, then the sign-in page lists the directory's users; without a `SAMLRequest` it is
//!   an IdP-initiated sign-in (as from Okta's dashboard);
//! * `POST /app/{appName}/{appId}/sso/saml/signin` (the sign-in page's form): the Response,
//!   signed with the app's key, in an HTML page that posts it to the ACS URL.
//!
//! The users are the Okta directory the org's API serves, so a user a role sync created from
//! that API is a user who can sign in; the `groups` attribute lists the user's groups in that
//! directory at the moment of sign-in. Each Response issued is recorded
//! ([`SamlIdp::saml_sign_ins`]).

use std::collections::HashMap;
use std::io::Read as _;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::any;
use base64::Engine as _;
use http::{Method, StatusCode, header};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::{
    IdpKeys, OktaSamlApp, ResponseBuilder, SamlSignError, SignatureAlg, Signing, encode, escape,
    idp_metadata_xml, post_form_html,
};
use crate::OrgSpec;
use crate::okta::{Ctx, OktaState, OktaUser, OktaUserStatus};
use crate::origin::Origin;

const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";

/// The largest AuthnRequest read, inflated (a real one is well under 2 KiB).
const MAX_REQUEST_BYTES: u64 = 64 * 1024;
/// The sign-in log keeps this many (the oldest tenth goes when it is full).
const MAX_SIGN_INS: usize = 100_000;
/// How long a sign-in page stays usable (Okta's own sign-in transactions last minutes too).
const TRANSACTION_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The most sign-in pages open at once; the oldest is dropped beyond.
const MAX_TRANSACTIONS: usize = 10_000;
/// The sign-in page lists at most this many users; any other can be typed in.
const LISTED_USERS: usize = 500;
/// The Audience a [`SamlFault::WrongAudience`] Response names.
pub const WRONG_AUDIENCE: &str = "https://wrong-audience.example.com/saml";
/// How far in the past an [`SamlFault::Expired`] Response was issued: its 5-minute validity
/// ended 15 minutes ago, beyond any SP's clock skew.
pub const EXPIRED_BY: Duration = Duration::from_secs(20 * 60);

/// The SP an app's Responses go to, as set on an Okta SAML app's "General" tab.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpSettings {
    /// Okta's "Single sign-on URL": the SP's Assertion Consumer Service URL, where the
    /// Response is posted (also its Destination and Recipient).
    pub acs_url: String,
    /// Okta's "Audience URI (SP Entity ID)": the Audience of the Response, and the Issuer an
    /// AuthnRequest must carry.
    pub audience: String,
}

impl SpSettings {
    /// The SP at `acs_url` with the entity ID `audience`.
    pub fn new(acs_url: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            acs_url: acs_url.into(),
            audience: audience.into(),
        }
    }
}

/// A deliberate defect in an app's Responses, for testing that an SP refuses them.
///
/// Parses from (and displays as) `expired`, `wrong-audience`, `wrong-certificate`, `unsigned`,
/// as `idp-sandbox --saml-fault` takes it.
///
/// ```
/// use idp_sandbox::saml::SamlFault;
/// assert_eq!("wrong-certificate".parse(), Ok(SamlFault::WrongCertificate));
/// assert_eq!(SamlFault::Expired.to_string(), "expired");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SamlFault {
    /// Issued [`EXPIRED_BY`] ago: the Conditions and the bearer confirmation have expired.
    Expired,
    /// The Audience is [`WRONG_AUDIENCE`], not the SP's entity ID.
    WrongAudience,
    /// Signed with a key whose certificate is not in the app's metadata.
    WrongCertificate,
    /// No signature at all.
    Unsigned,
}

impl SamlFault {
    const NAMES: [(SamlFault, &'static str); 4] = [
        (SamlFault::Expired, "expired"),
        (SamlFault::WrongAudience, "wrong-audience"),
        (SamlFault::WrongCertificate, "wrong-certificate"),
        (SamlFault::Unsigned, "unsigned"),
    ];
}

impl std::fmt::Display for SamlFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = Self::NAMES
            .iter()
            .find(|(k, _)| k == self)
            .map_or("?", |(_, n)| n);
        f.write_str(name)
    }
}

impl std::str::FromStr for SamlFault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::NAMES
            .iter()
            .find(|(_, n)| *n == s)
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                format!(
                    "unknown SAML fault {s:?}: use expired, wrong-audience, wrong-certificate or \
                     unsigned"
                )
            })
    }
}

/// One of the org's SAML apps, as configured now.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SamlAppInfo {
    /// The app's display name.
    pub label: String,
    /// Its names and URLs, at the sandbox's HTTP listener.
    pub app: OktaSamlApp,
    /// Where its Responses go (`None` until [`SamlIdp::set_sp`]).
    pub sp: Option<SpSettings>,
    /// What is signed (Okta's default: the Assertion).
    pub signing: Signing,
    /// The signature algorithm (Okta's default: RSA-SHA256).
    pub algorithm: SignatureAlg,
    /// The defect its Responses carry, if any.
    pub fault: Option<SamlFault>,
}

impl SamlAppInfo {
    /// The app's ID (`exk…`).
    pub fn id(&self) -> &str {
        &self.app.app_id
    }

    /// The IdP entity ID, `http://www.okta.com/{appId}`.
    pub fn entity_id(&self) -> String {
        self.app.entity_id()
    }

    /// The SSO URL (HTTP-Redirect and HTTP-POST).
    pub fn sso_url(&self) -> String {
        self.app.sso_url()
    }

    /// The metadata URL.
    pub fn metadata_url(&self) -> String {
        self.app.metadata_url()
    }
}

/// A Response the IdP issued: who signed in, to which SP, answering which request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SamlSignIn {
    /// When.
    pub at: SystemTime,
    /// The app's ID.
    pub app_id: String,
    /// The user's Okta ID (`00u…`).
    pub user_id: String,
    /// The user's login (the NameID).
    pub login: String,
    /// The `groups` attribute's values.
    pub groups: Vec<String>,
    /// The AuthnRequest answered; `None` for an IdP-initiated sign-in.
    pub in_response_to: Option<String>,
    /// Where the Response was posted.
    pub acs_url: String,
    /// The SP's entity ID.
    pub audience: String,
    /// The RelayState posted with it.
    pub relay_state: Option<String>,
    /// The Response's ID.
    pub response_id: String,
    /// The Assertion's ID.
    pub assertion_id: String,
    /// What was signed.
    pub signing: Signing,
    /// The defect it carried, if any.
    pub fault: Option<SamlFault>,
}

/// Why a SAML app could not be changed or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamlIdpError {
    /// No app has this ID.
    #[error("no SAML app {0} in the sandbox")]
    UnknownApp(String),
    /// The app's key could not be made.
    #[error(transparent)]
    Keys(#[from] SamlSignError),
}

#[derive(Debug, Clone)]
struct AppConfig {
    sp: Option<SpSettings>,
    signing: Signing,
    algorithm: SignatureAlg,
    fault: Option<SamlFault>,
}

#[derive(Debug)]
struct AppRec {
    label: String,
    app_name: String,
    app_id: String,
    /// Made on first use: an RSA-2048 key takes a moment, and most sandboxes never sign in.
    keys: OnceLock<IdpKeys>,
    /// The key of [`SamlFault::WrongCertificate`], in no metadata.
    stranger: OnceLock<IdpKeys>,
    config: Mutex<AppConfig>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl AppRec {
    fn config(&self) -> AppConfig {
        lock(&self.config).clone()
    }

    fn app(&self, org_url: &str) -> OktaSamlApp {
        OktaSamlApp::new(org_url, &self.app_name, &self.app_id)
    }

    fn info(&self, org_url: &str) -> SamlAppInfo {
        let c = self.config();
        SamlAppInfo {
            label: self.label.clone(),
            app: self.app(org_url),
            sp: c.sp,
            signing: c.signing,
            algorithm: c.algorithm,
            fault: c.fault,
        }
    }

    fn keys(&self) -> Result<&IdpKeys, SamlSignError> {
        generated(&self.keys)
    }

    fn stranger(&self) -> Result<&IdpKeys, SamlSignError> {
        generated(&self.stranger)
    }
}

fn generated(cell: &OnceLock<IdpKeys>) -> Result<&IdpKeys, SamlSignError> {
    if let Some(k) = cell.get() {
        return Ok(k);
    }
    // Two first uses at once may both generate; one key wins and both use it.
    let keys = IdpKeys::generate("sandbox")?;
    Ok(cell.get_or_init(|| keys))
}

/// A sign-in page's pending request.
#[derive(Debug, Clone)]
struct Transaction {
    app_id: String,
    request_id: Option<String>,
    relay_state: Option<String>,
    created: SystemTime,
}

/// The SAML apps of the org, the open sign-in pages and the sign-ins so far (part of the Okta
/// state: the apps sign in the directory's users).
#[derive(Debug)]
pub(crate) struct IdpState {
    apps: RwLock<Vec<Arc<AppRec>>>,
    transactions: Mutex<HashMap<String, Transaction>>,
    sign_ins: Mutex<Vec<SamlSignIn>>,
    rng: Mutex<StdRng>,
}

/// An Okta app ID: `exk` and 17 letters and digits.
fn app_id(rng: &mut StdRng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::from("exk");
    for _ in 0..17 {
        id.push(char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]));
    }
    id
}

/// Okta's app names: lower-case letters and digits of the label, joined by `_`.
fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_matches('_').to_owned();
    if s.is_empty() { "app".to_owned() } else { s }
}

impl IdpState {
    /// The org's SAML apps: one, "Portal", whose SP is set later ([`SamlIdp::set_sp`]). App
    /// IDs derive from the org's seed.
    pub(crate) fn new(spec: &OrgSpec) -> Self {
        let state = Self {
            apps: RwLock::default(),
            transactions: Mutex::default(),
            sign_ins: Mutex::default(),
            rng: Mutex::new(StdRng::seed_from_u64(spec.seed ^ 0x5341_4d4c)),
        };
        state.add_app("Portal");
        state
    }

    fn add_app(&self, label: &str) -> Arc<AppRec> {
        let mut apps = self.apps.write().unwrap_or_else(|e| e.into_inner());
        let rec = Arc::new(AppRec {
            label: label.to_owned(),
            app_name: format!("sandbox_{}_{}", slug(label), apps.len() + 1),
            app_id: app_id(&mut lock(&self.rng)),
            keys: OnceLock::new(),
            stranger: OnceLock::new(),
            config: Mutex::new(AppConfig {
                sp: None,
                signing: Signing::Assertion,
                algorithm: SignatureAlg::RsaSha256,
                fault: None,
            }),
        });
        apps.push(rec.clone());
        rec
    }

    fn apps(&self) -> Vec<Arc<AppRec>> {
        self.apps.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn app(&self, app_id: &str) -> Option<Arc<AppRec>> {
        self.apps().into_iter().find(|a| a.app_id == app_id)
    }

    /// Every Response issued so far, oldest first.
    pub(crate) fn saml_sign_ins(&self) -> Vec<SamlSignIn> {
        lock(&self.sign_ins).clone()
    }

    fn open_transaction(&self, t: Transaction) -> String {
        let id = crate::random_id(32);
        let mut all = lock(&self.transactions);
        let now = SystemTime::now();
        all.retain(|_, t| age(t.created, now) < TRANSACTION_LIFETIME);
        if all.len() >= MAX_TRANSACTIONS
            && let Some(oldest) = all
                .iter()
                .min_by_key(|(_, t)| t.created)
                .map(|(k, _)| k.clone())
        {
            all.remove(&oldest);
        }
        all.insert(id.clone(), t);
        id
    }

    fn transaction(&self, id: &str) -> Option<Transaction> {
        let all = lock(&self.transactions);
        all.get(id)
            .filter(|t| age(t.created, SystemTime::now()) < TRANSACTION_LIFETIME)
            .cloned()
    }
}

fn age(t: SystemTime, now: SystemTime) -> Duration {
    now.duration_since(t).unwrap_or_default()
}

/// A handle on the org's SAML apps: configure them, read their keys and metadata, see who
/// signed in. From [`Sandbox::saml`](crate::Sandbox::saml).
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use idp_sandbox::saml::{SamlFault, SpSettings};
/// let sandbox = idp_sandbox::Sandbox::builder().start().await?;
/// let idp = sandbox.saml();
/// let app = idp.default_app();
/// // Okta's "Single sign-on URL" and "Audience URI", once the SP's address is known.
/// idp.set_sp(app.id(), SpSettings::new("http://127.0.0.1:3000/saml/acs", "http://127.0.0.1:3000/saml/metadata"))?;
/// println!("IdP metadata at {}, sign in at {}", app.metadata_url(), app.sso_url());
/// // A test of the SP's refusals:
/// idp.set_fault(app.id(), Some(SamlFault::Expired))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct SamlIdp {
    state: Arc<OktaState>,
    org_url: String,
}

impl SamlIdp {
    pub(crate) fn new(state: Arc<OktaState>, org_url: String) -> Self {
        Self { state, org_url }
    }

    fn idp(&self) -> &IdpState {
        &self.state.saml
    }

    fn rec(&self, app_id: &str) -> Result<Arc<AppRec>, SamlIdpError> {
        self.idp()
            .app(app_id)
            .ok_or_else(|| SamlIdpError::UnknownApp(app_id.to_owned()))
    }

    /// Every SAML app, in creation order (the default app first).
    pub fn apps(&self) -> Vec<SamlAppInfo> {
        self.idp()
            .apps()
            .iter()
            .map(|a| a.info(&self.org_url))
            .collect()
    }

    /// The app every sandbox starts with ("Portal").
    pub fn default_app(&self) -> SamlAppInfo {
        self.apps()
            .into_iter()
            .next()
            .unwrap_or_else(|| self.add_app("Portal"))
    }

    /// The app with this ID.
    pub fn app(&self, app_id: &str) -> Option<SamlAppInfo> {
        self.idp().app(app_id).map(|a| a.info(&self.org_url))
    }

    /// Adds a SAML app with its own key (signing the Assertion, RSA-SHA256, no SP yet).
    pub fn add_app(&self, label: &str) -> SamlAppInfo {
        self.idp().add_app(label).info(&self.org_url)
    }

    /// Sets the app's SP: where Responses go and whose AuthnRequests are accepted.
    pub fn set_sp(&self, app_id: &str, sp: SpSettings) -> Result<(), SamlIdpError> {
        lock(&self.rec(app_id)?.config).sp = Some(sp);
        Ok(())
    }

    /// What the app signs: the Assertion (Okta's default), the Response, both, or nothing.
    pub fn set_signing(&self, app_id: &str, signing: Signing) -> Result<(), SamlIdpError> {
        lock(&self.rec(app_id)?.config).signing = signing;
        Ok(())
    }

    /// The signature algorithm (RSA-SHA256 by default; Okta also offers RSA-SHA1).
    pub fn set_algorithm(&self, app_id: &str, alg: SignatureAlg) -> Result<(), SamlIdpError> {
        lock(&self.rec(app_id)?.config).algorithm = alg;
        Ok(())
    }

    /// Makes every Response of the app carry `fault` from now on (`None`: correct Responses).
    pub fn set_fault(&self, app_id: &str, fault: Option<SamlFault>) -> Result<(), SamlIdpError> {
        lock(&self.rec(app_id)?.config).fault = fault;
        Ok(())
    }

    /// The app's signing key and certificate (made on first use).
    pub fn keys(&self, app_id: &str) -> Result<IdpKeys, SamlIdpError> {
        Ok(self.rec(app_id)?.keys()?.clone())
    }

    /// The app's IdP metadata, as served at its metadata URL over HTTP.
    pub fn metadata_xml(&self, app_id: &str) -> Result<String, SamlIdpError> {
        let rec = self.rec(app_id)?;
        Ok(idp_metadata_xml(&rec.app(&self.org_url), &[rec.keys()?]))
    }

    /// Every Response the IdP issued, oldest first (a System Log of SAML sign-ins; the latest
    /// 100,000 are kept).
    pub fn saml_sign_ins(&self) -> Vec<SamlSignIn> {
        self.idp().saml_sign_ins()
    }
}

// --- HTTP -----------------------------------------------------------------------------------

/// The IdP's routes (all under `/app/`), for the Okta router.
pub(crate) fn routes() -> Router<Ctx> {
    Router::new().route("/app/{*rest}", any(app_route))
}

async fn app_route(
    State(ctx): State<Ctx>,
    method: Method,
    origin: Origin,
    Path(rest): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let segments: Vec<&str> = rest.split('/').collect();
    let idp = &ctx.state.saml;
    let found =
        |name: Option<&str>, id: &str| idp.app(id).filter(|a| name.is_none_or(|n| n == a.app_name));
    let form = |bytes: &[u8]| -> HashMap<String, String> {
        url::form_urlencoded::parse(bytes).into_owned().collect()
    };
    match (method.clone(), segments.as_slice()) {
        (Method::GET, [id, "sso", "saml", "metadata"]) => match found(None, id) {
            Some(app) => metadata(&app, &origin),
            None => not_found(),
        },
        (Method::GET | Method::POST, [name, id, "sso", "saml"]) => {
            let Some(app) = found(Some(name), id) else {
                return not_found();
            };
            let (params, deflated) = if method == Method::GET {
                (form(query.unwrap_or_default().as_bytes()), true)
            } else {
                (form(&body), false)
            };
            sso(&ctx.state, &app, &origin, &params, deflated)
        }
        (Method::POST, [name, id, "sso", "saml", "signin"]) => {
            let Some(app) = found(Some(name), id) else {
                return not_found();
            };
            sign_in(&ctx.state, &app, &origin, &form(&body))
        }
        _ => not_found(),
    }
}

fn metadata(app: &AppRec, origin: &Origin) -> Response {
    match app.keys() {
        Ok(keys) => (
            [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
            idp_metadata_xml(&app.app(&origin.base_url()), &[keys]),
        )
            .into_response(),
        Err(e) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Key error",
            &e.to_string(),
        ),
    }
}

/// What the SP asked for.
struct AuthnRequest {
    id: String,
    issuer: Option<String>,
    acs_url: Option<String>,
}

fn read_request(encoded: &str, deflated: bool) -> Result<AuthnRequest, String> {
    let compact: String = encoded.split_ascii_whitespace().collect();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|e| format!("SAMLRequest is not base64: {e}"))?;
    let xml = if deflated {
        // HTTP-Redirect: raw DEFLATE (RFC 1951), read up to a bound (a deflate bomb stops
        // there).
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(raw.as_slice())
            .take(MAX_REQUEST_BYTES + 1)
            .read_to_end(&mut out)
            .map_err(|e| format!("SAMLRequest is not raw DEFLATE data: {e}"))?;
        out
    } else {
        raw
    };
    if xml.len() as u64 > MAX_REQUEST_BYTES {
        return Err(format!(
            "the AuthnRequest is over {MAX_REQUEST_BYTES} bytes"
        ));
    }
    let text = String::from_utf8(xml).map_err(|_| "the AuthnRequest is not UTF-8".to_owned())?;
    let doc = xml_sec::Document::parse_with_options(
        &text,
        xml_sec::ParsingOptions {
            allow_dtd: false,
            nodes_limit: 10_000,
        },
    )
    .map_err(|e| format!("the AuthnRequest is not well-formed XML without DTD: {e}"))?;
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "AuthnRequest")) {
        return Err(format!(
            "the SAMLRequest is a {}, not a samlp:AuthnRequest",
            root.tag_name().name()
        ));
    }
    if let Some(binding) = root.attribute("ProtocolBinding")
        && binding != BINDING_POST
    {
        return Err(format!(
            "the AuthnRequest asks for the binding {binding}; this IdP answers with HTTP-POST only"
        ));
    }
    let id = root
        .attribute("ID")
        .filter(|s| !s.is_empty())
        .ok_or("the AuthnRequest has no ID")?
        .to_owned();
    let issuer = root
        .children()
        .find(|n| n.has_tag_name((SAML, "Issuer")))
        .and_then(|n| n.text())
        .map(|s| s.trim().to_owned());
    Ok(AuthnRequest {
        id,
        issuer,
        acs_url: root
            .attribute("AssertionConsumerServiceURL")
            .map(str::to_owned),
    })
}

fn sso(
    state: &OktaState,
    app: &AppRec,
    origin: &Origin,
    params: &HashMap<String, String>,
    deflated: bool,
) -> Response {
    let bad = |m: &str| error_page(StatusCode::BAD_REQUEST, "Bad SAML request", m);
    let config = app.config();
    let Some(sp) = config.sp else {
        return bad(&format!(
            "The app {} has no Single sign-on URL and Audience URI configured (SamlIdp::set_sp).",
            app.label
        ));
    };
    let relay_state = params.get("RelayState").cloned();
    if relay_state.as_ref().is_some_and(|r| r.len() > 1024) {
        return bad("The RelayState is over 1024 bytes.");
    }
    let request_id = match params.get("SAMLRequest") {
        // No request: an IdP-initiated sign-in, as from Okta's dashboard.
        None => None,
        Some(encoded) => {
            let request = match read_request(encoded, deflated) {
                Ok(r) => r,
                Err(e) => return bad(&e),
            };
            if request.issuer.as_deref() != Some(sp.audience.as_str()) {
                return bad(&format!(
                    "The AuthnRequest's Issuer is {:?}, not this app's Audience URI {:?}: an \
                     unknown SP.",
                    request.issuer.unwrap_or_default(),
                    sp.audience
                ));
            }
            if let Some(acs) = &request.acs_url
                && *acs != sp.acs_url
            {
                return bad(&format!(
                    "The AuthnRequest's AssertionConsumerServiceURL {acs:?} is not this app's \
                     Single sign-on URL {:?}.",
                    sp.acs_url
                ));
            }
            Some(request.id)
        }
    };
    let txn = state.saml.open_transaction(Transaction {
        app_id: app.app_id.clone(),
        request_id,
        relay_state,
        created: SystemTime::now(),
    });
    sign_in_page(state, app, origin, &sp, &txn, None)
}

/// Each user's group names, in the directory's group order.
fn groups_by_user(state: &OktaState) -> HashMap<String, Vec<String>> {
    let dir = state.read_directory();
    let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
    for group in dir.groups() {
        for member in dir.members(&group.id).unwrap_or_default() {
            by_user
                .entry(member.id)
                .or_default()
                .push(group.name.clone());
        }
    }
    by_user
}

fn full_name(u: &OktaUser) -> String {
    match &u.last_name {
        Some(last) => format!("{} {last}", u.first_name),
        None => u.first_name.clone(),
    }
}

fn sign_in_page(
    state: &OktaState,
    app: &AppRec,
    origin: &Origin,
    sp: &SpSettings,
    txn: &str,
    notice: Option<(StatusCode, &str)>,
) -> Response {
    let users = state.read_directory().users();
    let groups = groups_by_user(state);
    let action = format!("/app/{}/{}/sso/saml/signin", app.app_name, app.app_id);
    let mut rows = String::new();
    for u in users.iter().take(LISTED_USERS) {
        let g = groups.get(&u.id).map(|g| g.join(", ")).unwrap_or_default();
        rows.push_str(&format!(
            r#"<tr><td>{name}<br><small>{login}</small></td><td>{status}</td><td><small>{groups}</small></td><td><button name="login" value="{login}">Sign in</button></td></tr>"#,
            name = escape(&full_name(u)),
            login = escape(&u.login),
            status = u.status.as_str(),
            groups = escape(&g),
        ));
    }
    let more = if users.len() > LISTED_USERS {
        format!(
            "<p>The first {LISTED_USERS} of {} users are listed; type any other login below.</p>",
            users.len()
        )
    } else {
        String::new()
    };
    let (status, notice) = match notice {
        Some((s, m)) => (
            s,
            format!(r#"<p id="notice" class="err">{}</p>"#, escape(m)),
        ),
        None => (StatusCode::OK, String::new()),
    };
    let body = format!(
        r#"<h1>Sign in to {label}</h1>{notice}
<p class="note">Okta sandbox at {org}: pick a user of the directory (no password here). The
Response goes to <code>{acs}</code> (Audience <code>{audience}</code>).</p>
<form method="post" action="{action}" id="pick">
<input type="hidden" name="txn" value="{txn}">
<table><tr><th>User</th><th>Status</th><th>Groups</th><th></th></tr>{rows}</table>
</form>{more}
<form method="post" action="{action}" id="typed">
<input type="hidden" name="txn" value="{txn}">
<label>Login <input id="login" name="login" autocomplete="off"></label> <button id="sign-in">Sign in</button>
</form>"#,
        label = escape(&app.label),
        org = escape(&origin.base_url()),
        acs = escape(&sp.acs_url),
        audience = escape(&sp.audience),
        action = escape(&action),
        txn = escape(txn),
    );
    html_page(status, &format!("Sign in to {}", app.label), &body)
}

fn sign_in(
    state: &OktaState,
    app: &AppRec,
    origin: &Origin,
    form: &HashMap<String, String>,
) -> Response {
    let expired = || {
        error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in expired",
            "This sign-in page expired or was already used: start again from the application.",
        )
    };
    let txn_id = form.get("txn").map_or("", String::as_str);
    let Some(txn) = state
        .saml
        .transaction(txn_id)
        .filter(|t| t.app_id == app.app_id)
    else {
        return expired();
    };
    let config = app.config();
    let Some(sp) = config.sp.clone() else {
        return expired();
    };
    let login = form.get("login").map_or("", |l| l.trim());
    let user = state.read_directory().user(login);
    let Some(user) = user else {
        let m = format!("No user {login:?} in the directory.");
        return sign_in_page(
            state,
            app,
            origin,
            &sp,
            txn_id,
            Some((StatusCode::NOT_FOUND, &m)),
        );
    };
    if user.status != OktaUserStatus::Active {
        let m = format!(
            "{} is {}: Okta signs in ACTIVE users only.",
            user.login,
            user.status.as_str()
        );
        return sign_in_page(
            state,
            app,
            origin,
            &sp,
            txn_id,
            Some((StatusCode::FORBIDDEN, &m)),
        );
    }
    // The page is used once: a second click finds it gone.
    if lock(&state.saml.transactions).remove(txn_id).is_none() {
        return expired();
    }
    let groups = groups_by_user(state).remove(&user.id).unwrap_or_default();
    let now = SystemTime::now();
    let issued = match config.fault {
        Some(SamlFault::Expired) => now.checked_sub(EXPIRED_BY).unwrap_or(now),
        _ => now,
    };
    let names = app.app(&origin.base_url());
    let mut builder = ResponseBuilder::okta(&names, &sp.audience, &sp.acs_url, &user.login, issued);
    if let Some(id) = &txn.request_id {
        builder = builder.in_response_to(id.clone());
    }
    let group_refs: Vec<&str> = groups.iter().map(String::as_str).collect();
    builder = builder.groups(&group_refs);
    if config.fault == Some(SamlFault::WrongAudience) {
        builder = builder.audiences(&[WRONG_AUDIENCE]);
    }
    let (signing, keys) = match config.fault {
        Some(SamlFault::Unsigned) => (Signing::None, app.keys()),
        Some(SamlFault::WrongCertificate) => (config.signing, app.stranger()),
        _ => (config.signing, app.keys()),
    };
    let signed = keys.and_then(|k| builder.sign_with(k, signing, config.algorithm));
    let xml = match signed {
        Ok(x) => x,
        Err(e) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Signing failed",
                &e.to_string(),
            );
        }
    };
    let mut log = lock(&state.saml.sign_ins);
    if log.len() >= MAX_SIGN_INS {
        log.drain(..MAX_SIGN_INS / 10);
    }
    log.push(SamlSignIn {
        at: now,
        app_id: app.app_id.clone(),
        user_id: user.id.clone(),
        login: user.login.clone(),
        groups,
        in_response_to: txn.request_id.clone(),
        acs_url: sp.acs_url.clone(),
        audience: sp.audience.clone(),
        relay_state: txn.relay_state.clone(),
        response_id: builder.get_response_id().to_owned(),
        assertion_id: builder.get_assertion_id().to_owned(),
        signing,
        fault: config.fault,
    });
    drop(log);
    // The same directory's System Log and `lastLogin`, as Okta records an SSO to an app. Only
    // the portal's own app counts as `to_portal_app` (the access review reads its events).
    state.record_sign_in(&user.id, true, true);
    let mut response = Html(post_form_html(
        &sp.acs_url,
        &encode(&xml),
        txn.relay_state.as_deref(),
    ))
    .into_response();
    no_store(&mut response);
    response
}

fn no_store(response: &mut Response) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
}

fn html_page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Okta sandbox</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1d1d21}}
h1{{font-size:1.5rem}} .note{{background:#f1f5fb;border:1px solid #c9d6ea;padding:.5rem 1rem;border-radius:6px}}
.err{{color:#a61b1b}} table{{border-collapse:collapse;margin:1rem 0}}
td,th{{border:1px solid #d5d9e0;padding:.25rem .6rem;text-align:left;vertical-align:top}}
button{{font-size:.95rem;padding:.2rem .9rem}}
</style></head><body>{body}</body></html>"#,
        title = escape(title),
    );
    let mut response = (status, Html(html)).into_response();
    no_store(&mut response);
    response
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    html_page(
        status,
        title,
        &format!(
            r#"<h1>{}</h1><p id="error" class="err">{}</p>"#,
            escape(title),
            escape(message)
        ),
    )
}

fn not_found() -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "No SAML app at this address.",
    )
}

// --- Reading the pages back (for programs that drive the sign-in without a browser) --------

/// The sign-in page's form: where it posts, its transaction, and the logins it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SignInForm {
    /// The form's action (a path of the sandbox).
    pub action: String,
    /// The `txn` field.
    pub txn: String,
    /// The logins offered, in page order.
    pub logins: Vec<String>,
}

impl SignInForm {
    /// Reads the sandbox's sign-in page; `None` if `html` is not one.
    pub fn parse(html: &str) -> Option<Self> {
        let form = between(html, r#"<form method="post" action=""#, "</form>")?;
        let action = unescape(form.split('"').next()?);
        let txn = unescape(between(form, r#"name="txn" value=""#, "\"")?);
        let mut logins = Vec::new();
        let mut rest = form;
        let marker = r#"<button name="login" value=""#;
        while let Some(at) = rest.find(marker) {
            rest = &rest[at + marker.len()..];
            logins.push(unescape(rest.split('"').next()?));
        }
        Some(Self {
            action,
            txn,
            logins,
        })
    }

    /// The form body that signs in `login`.
    pub fn body(&self, login: &str) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("txn", &self.txn)
            .append_pair("login", login)
            .finish()
    }
}

/// The HTTP-POST binding's page: where it posts, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostedResponse {
    /// The ACS URL.
    pub acs_url: String,
    /// The `SAMLResponse` field (base64).
    pub saml_response: String,
    /// The `RelayState` field.
    pub relay_state: Option<String>,
}

impl PostedResponse {
    /// Reads the page [`post_form_html`] writes; `None` if `html` is not one.
    pub fn parse(html: &str) -> Option<Self> {
        let acs_url = unescape(between(html, r#"<form method="post" action=""#, "\"")?);
        let saml_response = unescape(between(html, r#"name="SAMLResponse" value=""#, "\"")?);
        let relay_state = between(html, r#"name="RelayState" value=""#, "\"").map(unescape);
        Some(Self {
            acs_url,
            saml_response,
            relay_state,
        })
    }

    /// The form body to post to the ACS URL.
    pub fn body(&self) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        s.append_pair("SAMLResponse", &self.saml_response);
        if let Some(r) = &self.relay_state {
            s.append_pair("RelayState", r);
        }
        s.finish()
    }
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let at = s.find(start)? + start.len();
    let len = s[at..].find(end)?;
    Some(&s[at..at + len])
}

/// Undoes [`escape`].
fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#9;", "\t")
        .replace("&#10;", "\n")
        .replace("&#13;", "\r")
        .replace("&amp;", "&")
}
