//! IdP metadata in ([`IdpMetadata`]), SP metadata out ([`ServiceProvider::metadata_xml`]).
//!
//! [`ServiceProvider::metadata_xml`]: crate::ServiceProvider::metadata_xml

use base64::Engine as _;
use sha2::{Digest as _, Sha256};
use x509_cert::der::{Decode as _, Encode as _};

use crate::error::SamlError;
use crate::xml::{BINDING_POST, BINDING_REDIRECT, DS, MD, SAMLP, escape};

/// At most this many signing certificates are taken from metadata: Okta publishes one, two
/// while it rolls its key over; more is a sign of the wrong document.
const MAX_CERTIFICATES: usize = 8;
/// Metadata is configuration, not attacker input, but it may be fetched: bound it anyway.
const MAX_METADATA_BYTES: usize = 1 << 20;

/// One of the IdP's signing certificates, as DER, with what verification needs from it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningCertificate {
    der: Vec<u8>,
    spki: Vec<u8>,
    fingerprint: String,
}

impl SigningCertificate {
    /// Reads a DER X.509 certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, SamlError> {
        let cert = x509_cert::Certificate::from_der(der).map_err(|e| SamlError::Metadata {
            detail: format!("a signing certificate is not a DER X.509 certificate: {e}"),
        })?;
        let spki = cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| SamlError::Metadata {
                detail: format!("a signing certificate's public key cannot be read: {e}"),
            })?;
        Ok(Self {
            der: der.to_vec(),
            spki,
            fingerprint: fingerprint(der),
        })
    }

    /// The certificate, DER-encoded.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Its public key (SubjectPublicKeyInfo), DER-encoded: what signatures are verified with.
    pub fn public_key_der(&self) -> &[u8] {
        &self.spki
    }

    /// SHA-256 of the DER, as colon-separated upper-case hex (how Okta's admin console and
    /// `openssl x509 -fingerprint -sha256` show it).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }
}

impl std::fmt::Debug for SigningCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningCertificate")
            .field("sha256", &self.fingerprint)
            .finish()
    }
}

/// SHA-256 fingerprint of DER bytes, `AB:CD:…`.
pub(crate) fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// What this SP needs from an IdP's SAML metadata.
///
/// ```
/// # use saml_sp::IdpMetadata;
/// # let xml = saml_sp::doc_support::okta_metadata();
/// let idp = IdpMetadata::parse(&xml)?;
/// assert_eq!(idp.entity_id(), "http://www.okta.com/exk1fxp7sMaWVNcGy0h8");
/// assert!(idp.sso_redirect_url().unwrap().ends_with("/sso/saml"));
/// assert_eq!(idp.signing_certificates().len(), 1);
/// # Ok::<(), saml_sp::SamlError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdpMetadata {
    entity_id: String,
    sso_redirect_url: Option<String>,
    sso_post_url: Option<String>,
    signing_certificates: Vec<SigningCertificate>,
    want_authn_requests_signed: bool,
}

impl IdpMetadata {
    /// Reads an `EntityDescriptor` with an `IDPSSODescriptor` (the document Okta serves at
    /// `…/app/{appId}/sso/saml/metadata`).
    ///
    /// Takes the entity ID, the HTTP-Redirect and HTTP-POST `SingleSignOnService` locations and
    /// every `KeyDescriptor` certificate usable for signing (`use="signing"` or no `use`). A DTD
    /// is refused. Fails if there is no certificate or no SSO location.
    pub fn parse(xml: &str) -> Result<Self, SamlError> {
        let meta = |detail: String| SamlError::Metadata { detail };
        if xml.len() > MAX_METADATA_BYTES {
            return Err(meta(format!(
                "the document is {} bytes; metadata larger than {MAX_METADATA_BYTES} is refused",
                xml.len()
            )));
        }
        let doc = xml_sec::Document::parse_with_options(
            xml,
            xml_sec::ParsingOptions {
                allow_dtd: false,
                nodes_limit: 100_000,
            },
        )
        .map_err(|e| meta(format!("not well-formed XML without DTD: {e}")))?;
        let root = doc.root_element();
        if root.has_tag_name((MD, "EntitiesDescriptor")) {
            return Err(meta(
                "this is an EntitiesDescriptor (a federation's list); pass the EntityDescriptor \
                 of the one IdP"
                    .into(),
            ));
        }
        if !root.has_tag_name((MD, "EntityDescriptor")) {
            return Err(meta(format!(
                "the root element is {}, not md:EntityDescriptor",
                root.tag_name().name()
            )));
        }
        let entity_id = root
            .attribute("entityID")
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| meta("the EntityDescriptor has no entityID".into()))?
            .to_string();
        let idp = root
            .children()
            .filter(|n| n.has_tag_name((MD, "IDPSSODescriptor")))
            .find(|n| {
                n.attribute("protocolSupportEnumeration")
                    .is_some_and(|p| p.split_whitespace().any(|p| p == SAMLP))
            })
            .ok_or_else(|| {
                meta(
                    "no IDPSSODescriptor supporting SAML 2.0: is this an IdP's metadata (not an \
                     SP's)?"
                        .into(),
                )
            })?;

        let sso = |binding: &str| {
            idp.children()
                .filter(|n| n.has_tag_name((MD, "SingleSignOnService")))
                .find(|n| n.attribute("Binding") == Some(binding))
                .and_then(|n| n.attribute("Location"))
                .map(|s| s.trim().to_string())
        };
        let sso_redirect_url = sso(BINDING_REDIRECT);
        let sso_post_url = sso(BINDING_POST);
        for url in sso_redirect_url.iter().chain(&sso_post_url) {
            check_url(url)
                .map_err(|e| meta(format!("SingleSignOnService Location {url:?}: {e}")))?;
        }
        if sso_redirect_url.is_none() && sso_post_url.is_none() {
            return Err(meta(
                "no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding".into(),
            ));
        }

        let mut signing_certificates = Vec::new();
        for kd in idp
            .children()
            .filter(|n| n.has_tag_name((MD, "KeyDescriptor")))
            .filter(|n| matches!(n.attribute("use"), None | Some("signing")))
        {
            for c in kd
                .descendants()
                .filter(|n| n.has_tag_name((DS, "X509Certificate")))
            {
                let text: String = c
                    .descendants()
                    .filter(|n| n.is_text())
                    .filter_map(|n| n.text())
                    .flat_map(|t| t.chars())
                    .filter(|ch| !ch.is_ascii_whitespace())
                    .collect();
                let der = base64::engine::general_purpose::STANDARD
                    .decode(text.as_bytes())
                    .map_err(|e| meta(format!("an X509Certificate is not base64: {e}")))?;
                let cert = SigningCertificate::from_der(&der)?;
                if !signing_certificates.contains(&cert) {
                    signing_certificates.push(cert);
                }
            }
        }
        if signing_certificates.is_empty() {
            return Err(meta(
                "no signing certificate (KeyDescriptor use=\"signing\" with X509Certificate)"
                    .into(),
            ));
        }
        if signing_certificates.len() > MAX_CERTIFICATES {
            return Err(meta(format!(
                "{} signing certificates; at most {MAX_CERTIFICATES} are taken",
                signing_certificates.len()
            )));
        }
        let want_authn_requests_signed = matches!(
            idp.attribute("WantAuthnRequestsSigned").map(str::trim),
            Some("true" | "1")
        );
        Ok(Self {
            entity_id,
            sso_redirect_url,
            sso_post_url,
            signing_certificates,
            want_authn_requests_signed,
        })
    }

    /// Builds metadata from values (e.g. typed into an admin form) instead of XML.
    pub fn from_parts(
        entity_id: impl Into<String>,
        sso_redirect_url: impl Into<String>,
        signing_certificates_der: &[&[u8]],
    ) -> Result<Self, SamlError> {
        let meta = |detail: String| SamlError::Metadata { detail };
        let entity_id = entity_id.into().trim().to_string();
        if entity_id.is_empty() {
            return Err(meta("the IdP entity ID is empty".into()));
        }
        let url = sso_redirect_url.into().trim().to_string();
        check_url(&url).map_err(|e| meta(format!("SSO URL {url:?}: {e}")))?;
        if signing_certificates_der.is_empty() {
            return Err(meta("no signing certificate".into()));
        }
        let signing_certificates = signing_certificates_der
            .iter()
            .map(|d| SigningCertificate::from_der(d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            entity_id,
            sso_redirect_url: Some(url),
            sso_post_url: None,
            signing_certificates,
            want_authn_requests_signed: false,
        })
    }

    /// The IdP's entity ID (Okta: `http://www.okta.com/{appId}`); every Issuer must equal it.
    pub fn entity_id(&self) -> &str {
        &self.entity_id
    }

    /// Where an AuthnRequest goes over the HTTP-Redirect binding.
    pub fn sso_redirect_url(&self) -> Option<&str> {
        self.sso_redirect_url.as_deref()
    }

    /// Where an AuthnRequest goes over the HTTP-POST binding (not used by this crate).
    pub fn sso_post_url(&self) -> Option<&str> {
        self.sso_post_url.as_deref()
    }

    /// The certificates a Response may be signed with (one, or two during a key rollover).
    pub fn signing_certificates(&self) -> &[SigningCertificate] {
        &self.signing_certificates
    }

    /// Whether the IdP asks for signed AuthnRequests. This SP does not sign them (Okta does not
    /// require it by default); an IdP that insists will refuse its requests.
    pub fn want_authn_requests_signed(&self) -> bool {
        self.want_authn_requests_signed
    }
}

/// An absolute `http(s)` URL.
pub(crate) fn check_url(s: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(s).map_err(|_| "not an absolute URL")?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err("not an http(s) URL");
    }
    if url.host().is_none() {
        return Err("has no host");
    }
    Ok(())
}

/// The SP's metadata document.
pub(crate) fn sp_metadata_xml(entity_id: &str, acs_url: &str) -> String {
    format!(
        concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "\n",
            r#"<md:EntityDescriptor xmlns:md="{md}" entityID="{entity}">"#,
            "\n  ",
            r#"<md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" protocolSupportEnumeration="{samlp}">"#,
            "\n    ",
            r#"<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"#,
            "\n    ",
            r#"<md:AssertionConsumerService Binding="{post}" Location="{acs}" index="0" isDefault="true"/>"#,
            "\n  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n"
        ),
        md = MD,
        samlp = SAMLP,
        post = BINDING_POST,
        entity = escape(entity_id),
        acs = escape(acs_url),
    )
}
