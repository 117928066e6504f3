//! The SAML side of the sandbox: an Okta-shaped IdP's keys, metadata and signed Responses.
//!
//! Tests build Responses here and hand them to an SP; the sandbox's HTTP routes build on the
//! same calls: [`SamlIdp`] (from [`Sandbox::saml`](crate::Sandbox::saml)) configures the org's
//! SAML apps, whose metadata and SSO URLs are served like Okta's, with a sign-in page listing
//! the Okta directory's users and an auto-posting form to the SP's ACS URL.
//!
//! * [`OktaSamlApp`]: an Okta SAML app's names: entity ID `http://www.okta.com/{appId}`, SSO URL
//!   `{org}/app/{appName}/{appId}/sso/saml` for both bindings, metadata URL.
//! * [`IdpKeys`]: an RSA-2048 key and a self-signed X.509 certificate shaped like Okta's
//!   (made with rcgen on AWS-LC); [`idp_metadata_xml`] renders the app's metadata with one
//!   certificate, or two as during Okta's key rollover.
//! * [`ResponseBuilder`]: a `samlp:Response` as Okta writes it (prefixes `saml2p`/`saml2`, IDs
//!   `id…`, 5-minute validity, `groups` attribute statement), signed per [`Signing`] with
//!   [`SignatureAlg`]; [`sign_xml`] signs any Response document, for tests that change one
//!   before signing.
//!
//! Every value is escaped where it is written; nothing is spliced into the XML as markup.
//!
//! Signing uses `xml-sec`, the library the `saml-sp` crate verifies with; a bug shared by both
//! would not show here, which is why `saml-sp`'s peer test has signxml (lxml + OpenSSL) sign and
//! verify on the other side.

mod idp;
mod response;

use base64::Engine as _;

pub use idp::{
    EXPIRED_BY, PostedResponse, SamlAppInfo, SamlFault, SamlIdp, SamlIdpError, SamlSignIn,
    SignInForm, SpSettings, WRONG_AUDIENCE,
};
pub(crate) use idp::{IdpState, routes};
pub use response::{ResponseBuilder, SignatureAlg, Signing, encode, post_form_html, sign_xml};

const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
const DS: &str = "http://www.w3.org/2000/09/xmldsig#";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// Why a key could not be made or a Response could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SamlSignError {
    /// Key or certificate generation failed.
    #[error("cannot make the IdP key: {0}")]
    KeyGeneration(String),
    /// The document to sign is not what was expected (no Assertion, no Issuer, …).
    #[error("cannot sign: {0}")]
    Document(String),
    /// The XML-DSig library refused.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// The names of an Okta SAML 2.0 app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OktaSamlApp {
    /// The org URL, e.g. `https://dev-123456.okta.com` (or the sandbox's loopback origin).
    pub org_url: String,
    /// The app's name in URLs, e.g. `dev-123456_portal_1`.
    pub app_name: String,
    /// The app's ID, e.g. `exk1fxp7sMaWVNcGy0h8`.
    pub app_id: String,
}

impl OktaSamlApp {
    /// An app of the org at `org_url`.
    pub fn new(
        org_url: impl Into<String>,
        app_name: impl Into<String>,
        app_id: impl Into<String>,
    ) -> Self {
        Self {
            org_url: org_url.into().trim_end_matches('/').to_string(),
            app_name: app_name.into(),
            app_id: app_id.into(),
        }
    }

    /// The app used by tests and examples: `dev-123456.okta.com`, `exk1fxp7sMaWVNcGy0h8`.
    pub fn example() -> Self {
        Self::new(
            "https://dev-123456.okta.com",
            "dev-123456_portal_1",
            "exk1fxp7sMaWVNcGy0h8",
        )
    }

    /// The IdP entity ID (Okta: "Identity Provider Issuer"): `http://www.okta.com/{appId}`.
    pub fn entity_id(&self) -> String {
        format!("http://www.okta.com/{}", self.app_id)
    }

    /// The SSO URL, the same for HTTP-Redirect and HTTP-POST.
    pub fn sso_url(&self) -> String {
        format!(
            "{}/app/{}/{}/sso/saml",
            self.org_url, self.app_name, self.app_id
        )
    }

    /// Where Okta serves the app's metadata.
    pub fn metadata_url(&self) -> String {
        format!("{}/app/{}/sso/saml/metadata", self.org_url, self.app_id)
    }
}

/// An IdP signing key (RSA-2048) and its self-signed certificate.
#[derive(Clone)]
pub struct IdpKeys {
    key_pkcs8_der: Vec<u8>,
    certificate_der: Vec<u8>,
}

impl std::fmt::Debug for IdpKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdpKeys")
            .field("key", &"[redacted]")
            .field("certificate_der_len", &self.certificate_der.len())
            .finish()
    }
}

impl IdpKeys {
    /// A fresh key and a certificate whose subject looks like Okta's
    /// (`O=Okta, OU=SSOProvider, CN={org}`).
    pub fn generate(org: &str) -> Result<Self, SamlSignError> {
        use rcgen::{CertificateParams, DnType, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
        let e = |e: rcgen::Error| SamlSignError::KeyGeneration(e.to_string());
        let key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).map_err(e)?;
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
        let dn = &mut params.distinguished_name;
        dn.push(DnType::CountryName, "US");
        dn.push(DnType::StateOrProvinceName, "California");
        dn.push(DnType::LocalityName, "San Francisco");
        dn.push(DnType::OrganizationName, "Okta");
        dn.push(DnType::OrganizationalUnitName, "SSOProvider");
        dn.push(DnType::CommonName, org);
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2034, 1, 1);
        let cert = params.self_signed(&key).map_err(e)?;
        Ok(Self {
            key_pkcs8_der: key.serialize_der(),
            certificate_der: cert.der().to_vec(),
        })
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The certificate as one base64 line (as in metadata's `X509Certificate`).
    pub fn certificate_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.certificate_der)
    }

    /// The certificate, PEM.
    pub fn certificate_pem(&self) -> String {
        pem_rfc7468::encode_string(
            "CERTIFICATE",
            pem_rfc7468::LineEnding::LF,
            &self.certificate_der,
        )
        .unwrap_or_default()
    }

    /// The private key, PKCS#8 PEM (for the Python peers of the interop tests).
    pub fn private_key_pem(&self) -> String {
        pem_rfc7468::encode_string(
            "PRIVATE KEY",
            pem_rfc7468::LineEnding::LF,
            &self.key_pkcs8_der,
        )
        .unwrap_or_default()
    }

    pub(crate) fn key_pkcs8_der(&self) -> &[u8] {
        &self.key_pkcs8_der
    }
}

/// The app's IdP metadata as Okta serves it, with each of `certificates` as a signing key
/// (Okta lists two while it rolls its signing key over).
pub fn idp_metadata_xml(app: &OktaSamlApp, certificates: &[&IdpKeys]) -> String {
    let mut keys = String::new();
    for c in certificates {
        keys.push_str(&format!(
            r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{DS}"><ds:X509Data><ds:X509Certificate>{}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#,
            c.certificate_base64()
        ));
    }
    let sso = escape(&app.sso_url());
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            r#"<md:EntityDescriptor xmlns:md="{md}" entityID="{entity}">"#,
            r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="{samlp}">"#,
            "{keys}",
            r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>"#,
            r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"#,
            r#"<md:SingleSignOnService Binding="{post}" Location="{sso}"/>"#,
            r#"<md:SingleSignOnService Binding="{redirect}" Location="{sso}"/>"#,
            r#"</md:IDPSSODescriptor></md:EntityDescriptor>"#
        ),
        md = MD,
        samlp = SAMLP,
        entity = escape(&app.entity_id()),
        keys = keys,
        post = BINDING_POST,
        redirect = BINDING_REDIRECT,
        sso = sso,
    )
}

/// Escapes text and double-quoted attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn values_are_escaped_not_spliced_in() {
        let hostile = "a\"><saml2:NameID>admin@example.com</saml2:NameID><x y=\"&amp;";
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800);
        let xml = ResponseBuilder::okta(&OktaSamlApp::example(), hostile, hostile, hostile, t)
            .in_response_to(hostile)
            .attribute(hostile, &[hostile])
            .to_xml();
        let doc = xml_sec::Document::parse(&xml).expect("well-formed");
        let saml = "urn:oasis:names:tc:SAML:2.0:assertion";
        let name_ids: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name((saml, "NameID")))
            .collect();
        assert_eq!(name_ids.len(), 1);
        assert_eq!(name_ids[0].text(), Some(hostile));
        assert_eq!(doc.root_element().attribute("InResponseTo"), Some(hostile));
    }

    #[test]
    fn metadata_lists_every_certificate_and_both_bindings() {
        let app = OktaSamlApp::new("https://dev-1.okta.com/", "dev-1_app_1", "exk9");
        let (a, b) = (
            IdpKeys::generate("dev-1").unwrap(),
            IdpKeys::generate("dev-1").unwrap(),
        );
        let xml = idp_metadata_xml(&app, &[&a, &b]);
        let doc = xml_sec::Document::parse(&xml).expect("well-formed");
        let certs: Vec<_> = doc
            .descendants()
            .filter(|n| n.has_tag_name((DS, "X509Certificate")))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(certs, [a.certificate_base64(), b.certificate_base64()]);
        assert_eq!(app.entity_id(), "http://www.okta.com/exk9");
        assert_eq!(
            app.sso_url(),
            "https://dev-1.okta.com/app/dev-1_app_1/exk9/sso/saml"
        );
        assert_eq!(xml.matches(&app.sso_url()).count(), 2);
    }

    #[test]
    fn the_post_form_escapes_its_values() {
        let html = post_form_html("https://sp/acs?a=1&b=2", "PHNh+/=", Some("\"><script>"));
        assert!(html.contains(r#"action="https://sp/acs?a=1&amp;b=2""#));
        assert!(html.contains(r#"value="&quot;&gt;&lt;script&gt;""#));
    }
}
