//! Okta-shaped `samlp:Response` documents, and their signing.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use xml_sec::c14n::{C14nAlgorithm, C14nMode};
use xml_sec::policy::SigningPolicy;
use xml_sec::xmldsig::{
    DigestAlgorithm, ReferenceBuilder, RsaSigningKey, SignContext, SignatureAlgorithm,
    SignatureBuilder, SignatureTemplateSelection, Transform, X509CertificateKeyInfoWriter,
};

use super::{IdpKeys, OktaSamlApp, SamlSignError, escape};

const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const SUCCESS: &str = "urn:oasis:names:tc:SAML:2.0:status:Success";
const EMAIL: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress";

/// Which elements carry a signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    /// The Assertion only (Okta's default).
    Assertion,
    /// The Response only.
    Response,
    /// The Assertion, then the Response around it.
    Both,
    /// Nothing (an unsigned Response, for tests).
    None,
}

/// The signature algorithm (and the digest that goes with it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SignatureAlg {
    /// RSA-SHA256 with SHA-256 digests (Okta's default).
    #[default]
    RsaSha256,
    /// RSA-SHA1 with SHA-1 digests (Okta's legacy option).
    RsaSha1,
    /// RSA-SHA512 with SHA-512 digests.
    RsaSha512,
}

/// A SAML Response as Okta writes it.
///
/// Defaults follow Okta: `IssueInstant` = the instant given, `Conditions` from 5 minutes
/// before to 5 minutes after it, the bearer confirmation valid 5 minutes, `AuthnInstant` = the
/// instant, emailAddress NameID, the Response and Assertion Issuer = the app's entity ID,
/// Destination and Recipient = the ACS URL, Audience = the SP entity ID, fresh `id…` IDs.
#[derive(Debug, Clone)]
pub struct ResponseBuilder {
    issuer: String,
    response_issuer: Option<String>,
    destination: Option<String>,
    audiences: Vec<String>,
    recipient: Option<String>,
    in_response_to: Option<String>,
    assertion_in_response_to: Option<String>,
    name_id: String,
    name_id_format: Option<String>,
    attributes: Vec<(String, Vec<String>)>,
    issue_instant: SystemTime,
    not_before: Option<SystemTime>,
    not_on_or_after: Option<SystemTime>,
    subject_not_on_or_after: Option<SystemTime>,
    authn_instant: SystemTime,
    session_index: Option<String>,
    session_not_on_or_after: Option<SystemTime>,
    response_id: String,
    assertion_id: String,
    status: (String, Option<String>, Option<String>),
    with_assertion: bool,
}

/// An Okta-style ID: `id` and 24 random digits.
fn okta_id() -> String {
    format!("id{:024}", rand::random::<u128>() % 10u128.pow(24))
}

/// Okta writes instants with milliseconds.
fn instant(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

impl ResponseBuilder {
    /// A successful Response from `app` for `name_id`, to the SP `sp_entity_id` at `acs_url`,
    /// issued at `issue_instant`.
    pub fn okta(
        app: &OktaSamlApp,
        sp_entity_id: &str,
        acs_url: &str,
        name_id: &str,
        issue_instant: SystemTime,
    ) -> Self {
        let five = Duration::from_secs(300);
        Self {
            issuer: app.entity_id(),
            response_issuer: Some(app.entity_id()),
            destination: Some(acs_url.to_string()),
            audiences: vec![sp_entity_id.to_string()],
            recipient: Some(acs_url.to_string()),
            in_response_to: None,
            assertion_in_response_to: None,
            name_id: name_id.to_string(),
            name_id_format: Some(EMAIL.to_string()),
            attributes: Vec::new(),
            issue_instant,
            not_before: issue_instant.checked_sub(five),
            not_on_or_after: Some(issue_instant + five),
            subject_not_on_or_after: Some(issue_instant + five),
            authn_instant: issue_instant,
            session_index: Some(okta_id()),
            session_not_on_or_after: None,
            response_id: okta_id(),
            assertion_id: okta_id(),
            status: (SUCCESS.to_string(), None, None),
            with_assertion: true,
        }
    }

    /// Answers the AuthnRequest `id` (Response and SubjectConfirmationData `InResponseTo`).
    pub fn in_response_to(mut self, id: impl Into<String>) -> Self {
        let id = id.into();
        self.in_response_to = Some(id.clone());
        self.assertion_in_response_to = Some(id);
        self
    }

    /// Sets the two `InResponseTo` separately (`None` leaves one out).
    pub fn in_response_to_split(mut self, response: Option<&str>, assertion: Option<&str>) -> Self {
        self.in_response_to = response.map(str::to_string);
        self.assertion_in_response_to = assertion.map(str::to_string);
        self
    }

    /// The Assertion's Issuer (and the Response's).
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        let i = issuer.into();
        self.response_issuer = Some(i.clone());
        self.issuer = i;
        self
    }

    /// The Response's Issuer alone (`None`: no Issuer on the Response).
    pub fn response_issuer(mut self, issuer: Option<&str>) -> Self {
        self.response_issuer = issuer.map(str::to_string);
        self
    }

    /// The Response's Destination (`None`: none).
    pub fn destination(mut self, d: Option<&str>) -> Self {
        self.destination = d.map(str::to_string);
        self
    }

    /// The Audience values of the one AudienceRestriction (empty: no Conditions audience).
    pub fn audiences(mut self, a: &[&str]) -> Self {
        self.audiences = a.iter().map(|s| s.to_string()).collect();
        self
    }

    /// The bearer SubjectConfirmationData Recipient.
    pub fn recipient(mut self, r: Option<&str>) -> Self {
        self.recipient = r.map(str::to_string);
        self
    }

    /// The NameID's Format URI (`None`: no Format attribute).
    pub fn name_id_format(mut self, f: Option<&str>) -> Self {
        self.name_id_format = f.map(str::to_string);
        self
    }

    /// Adds an attribute with its values.
    pub fn attribute(mut self, name: &str, values: &[&str]) -> Self {
        self.attributes.push((
            name.to_string(),
            values.iter().map(|v| v.to_string()).collect(),
        ));
        self
    }

    /// Adds Okta's `groups` attribute statement.
    pub fn groups(self, groups: &[&str]) -> Self {
        self.attribute("groups", groups)
    }

    /// Conditions `NotBefore` / `NotOnOrAfter` (`None` leaves one out).
    pub fn conditions(
        mut self,
        not_before: Option<SystemTime>,
        not_on_or_after: Option<SystemTime>,
    ) -> Self {
        self.not_before = not_before;
        self.not_on_or_after = not_on_or_after;
        self
    }

    /// The bearer SubjectConfirmationData `NotOnOrAfter`.
    pub fn subject_not_on_or_after(mut self, t: Option<SystemTime>) -> Self {
        self.subject_not_on_or_after = t;
        self
    }

    /// The AuthnStatement's `AuthnInstant`.
    pub fn authn_instant(mut self, t: SystemTime) -> Self {
        self.authn_instant = t;
        self
    }

    /// The AuthnStatement's `SessionIndex`.
    pub fn session_index(mut self, s: Option<&str>) -> Self {
        self.session_index = s.map(str::to_string);
        self
    }

    /// The AuthnStatement's `SessionNotOnOrAfter`.
    pub fn session_not_on_or_after(mut self, t: Option<SystemTime>) -> Self {
        self.session_not_on_or_after = t;
        self
    }

    /// The Response's ID.
    pub fn response_id(mut self, id: impl Into<String>) -> Self {
        self.response_id = id.into();
        self
    }

    /// The Assertion's ID.
    pub fn assertion_id(mut self, id: impl Into<String>) -> Self {
        self.assertion_id = id.into();
        self
    }

    /// The Assertion's ID.
    pub fn get_assertion_id(&self) -> &str {
        &self.assertion_id
    }

    /// The Response's ID.
    pub fn get_response_id(&self) -> &str {
        &self.response_id
    }

    /// A failed login: top-level status `code`, optional second-level code and message, and
    /// no Assertion (as Okta answers one).
    pub fn failure(mut self, code: &str, sub_code: Option<&str>, message: Option<&str>) -> Self {
        self.status = (
            code.to_string(),
            sub_code.map(str::to_string),
            message.map(str::to_string),
        );
        self.with_assertion = false;
        self
    }

    /// The Assertion alone (unsigned).
    pub fn assertion_xml(&self) -> String {
        let mut x = format!(
            r#"<saml2:Assertion xmlns:saml2="{SAML}" ID="{}" IssueInstant="{}" Version="2.0">"#,
            escape(&self.assertion_id),
            instant(self.issue_instant)
        );
        x.push_str(&format!(
            r#"<saml2:Issuer Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{}</saml2:Issuer>"#,
            escape(&self.issuer)
        ));
        x.push_str("<saml2:Subject>");
        match &self.name_id_format {
            Some(f) => x.push_str(&format!(
                r#"<saml2:NameID Format="{}">{}</saml2:NameID>"#,
                escape(f),
                escape(&self.name_id)
            )),
            None => x.push_str(&format!(
                "<saml2:NameID>{}</saml2:NameID>",
                escape(&self.name_id)
            )),
        }
        x.push_str(
            r#"<saml2:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml2:SubjectConfirmationData"#,
        );
        if let Some(i) = &self.assertion_in_response_to {
            x.push_str(&format!(r#" InResponseTo="{}""#, escape(i)));
        }
        if let Some(t) = self.subject_not_on_or_after {
            x.push_str(&format!(r#" NotOnOrAfter="{}""#, instant(t)));
        }
        if let Some(r) = &self.recipient {
            x.push_str(&format!(r#" Recipient="{}""#, escape(r)));
        }
        x.push_str("/></saml2:SubjectConfirmation></saml2:Subject>");
        x.push_str("<saml2:Conditions");
        if let Some(t) = self.not_before {
            x.push_str(&format!(r#" NotBefore="{}""#, instant(t)));
        }
        if let Some(t) = self.not_on_or_after {
            x.push_str(&format!(r#" NotOnOrAfter="{}""#, instant(t)));
        }
        x.push('>');
        if !self.audiences.is_empty() {
            x.push_str("<saml2:AudienceRestriction>");
            for a in &self.audiences {
                x.push_str(&format!("<saml2:Audience>{}</saml2:Audience>", escape(a)));
            }
            x.push_str("</saml2:AudienceRestriction>");
        }
        x.push_str("</saml2:Conditions>");
        x.push_str(&format!(
            r#"<saml2:AuthnStatement AuthnInstant="{}""#,
            instant(self.authn_instant)
        ));
        if let Some(s) = &self.session_index {
            x.push_str(&format!(r#" SessionIndex="{}""#, escape(s)));
        }
        if let Some(t) = self.session_not_on_or_after {
            x.push_str(&format!(r#" SessionNotOnOrAfter="{}""#, instant(t)));
        }
        x.push_str(
            "><saml2:AuthnContext><saml2:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml2:AuthnContextClassRef></saml2:AuthnContext></saml2:AuthnStatement>",
        );
        if !self.attributes.is_empty() {
            x.push_str("<saml2:AttributeStatement>");
            for (name, values) in &self.attributes {
                x.push_str(&format!(
                    r#"<saml2:Attribute Name="{}" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified">"#,
                    escape(name)
                ));
                for v in values {
                    x.push_str(&format!(
                        r#"<saml2:AttributeValue xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="xs:string">{}</saml2:AttributeValue>"#,
                        escape(v)
                    ));
                }
                x.push_str("</saml2:Attribute>");
            }
            x.push_str("</saml2:AttributeStatement>");
        }
        x.push_str("</saml2:Assertion>");
        x
    }

    /// The whole Response, unsigned.
    pub fn to_xml(&self) -> String {
        let mut x = format!(r#"<saml2p:Response xmlns:saml2p="{SAMLP}""#);
        if let Some(d) = &self.destination {
            x.push_str(&format!(r#" Destination="{}""#, escape(d)));
        }
        x.push_str(&format!(r#" ID="{}""#, escape(&self.response_id)));
        if let Some(i) = &self.in_response_to {
            x.push_str(&format!(r#" InResponseTo="{}""#, escape(i)));
        }
        x.push_str(&format!(
            r#" IssueInstant="{}" Version="2.0">"#,
            instant(self.issue_instant)
        ));
        if let Some(i) = &self.response_issuer {
            x.push_str(&format!(
                r#"<saml2:Issuer xmlns:saml2="{SAML}" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:entity">{}</saml2:Issuer>"#,
                escape(i)
            ));
        }
        let (code, sub, message) = &self.status;
        x.push_str(&format!(
            r#"<saml2p:Status><saml2p:StatusCode Value="{}""#,
            escape(code)
        ));
        match sub {
            Some(s) => x.push_str(&format!(
                r#"><saml2p:StatusCode Value="{}"/></saml2p:StatusCode>"#,
                escape(s)
            )),
            None => x.push_str("/>"),
        }
        if let Some(m) = message {
            x.push_str(&format!(
                "<saml2p:StatusMessage>{}</saml2p:StatusMessage>",
                escape(m)
            ));
        }
        x.push_str("</saml2p:Status>");
        if self.with_assertion {
            x.push_str(&self.assertion_xml());
        }
        x.push_str("</saml2p:Response>");
        x
    }

    /// The Response signed per `signing` with RSA-SHA256.
    pub fn sign(&self, keys: &IdpKeys, signing: Signing) -> Result<String, SamlSignError> {
        sign_xml(&self.to_xml(), keys, signing, SignatureAlg::RsaSha256)
    }

    /// The Response signed per `signing` with `alg`.
    pub fn sign_with(
        &self,
        keys: &IdpKeys,
        signing: Signing,
        alg: SignatureAlg,
    ) -> Result<String, SamlSignError> {
        sign_xml(&self.to_xml(), keys, signing, alg)
    }
}

/// Signs a `samlp:Response` document: its one Assertion, the Response, or both (Assertion
/// first), each with an enveloped, exclusive-C14N signature placed right after the element's
/// `Issuer` (schema order) and carrying the certificate in `KeyInfo`, as Okta does.
pub fn sign_xml(
    xml: &str,
    keys: &IdpKeys,
    signing: Signing,
    alg: SignatureAlg,
) -> Result<String, SamlSignError> {
    let mut xml = xml.to_string();
    if matches!(signing, Signing::Assertion | Signing::Both) {
        xml = sign_element(&xml, keys, alg, Target::Assertion)?;
    }
    if matches!(signing, Signing::Response | Signing::Both) {
        xml = sign_element(&xml, keys, alg, Target::Response)?;
    }
    Ok(xml)
}

#[derive(Clone, Copy)]
enum Target {
    Response,
    Assertion,
}

fn sign_element(
    xml: &str,
    keys: &IdpKeys,
    alg: SignatureAlg,
    target: Target,
) -> Result<String, SamlSignError> {
    let doc_err = |s: &str| SamlSignError::Document(s.to_string());
    // Where the template goes: after the element's Issuer (the document is ours to parse).
    let (id, insert_at) = {
        let doc =
            xml_sec::Document::parse(xml).map_err(|e| SamlSignError::Document(e.to_string()))?;
        let root = doc.root_element();
        let element = match target {
            Target::Response => root,
            Target::Assertion => root
                .children()
                .find(|n| n.has_tag_name((SAML, "Assertion")))
                .ok_or_else(|| doc_err("no Assertion in the Response"))?,
        };
        let id = element
            .attribute("ID")
            .ok_or_else(|| doc_err("the element has no ID"))?
            .to_string();
        let issuer = element
            .children()
            .find(|n| n.has_tag_name((SAML, "Issuer")))
            .ok_or_else(|| doc_err("the element has no Issuer"))?;
        (id, issuer.range().end)
    };
    let (method, digest) = match alg {
        SignatureAlg::RsaSha256 => (SignatureAlgorithm::RsaSha256, DigestAlgorithm::Sha256),
        SignatureAlg::RsaSha1 => (SignatureAlgorithm::RsaSha1, DigestAlgorithm::Sha1),
        SignatureAlg::RsaSha512 => (SignatureAlgorithm::RsaSha512, DigestAlgorithm::Sha512),
    };
    let policy = if alg == SignatureAlg::RsaSha1 {
        // SHA-1 is refused by default: the legacy option exists for the SP's tests of it.
        SigningPolicy {
            signature_algorithms: Some([SignatureAlgorithm::RsaSha1].into()),
            digest_algorithms: Some([DigestAlgorithm::Sha1].into()),
            ..SigningPolicy::default()
        }
    } else {
        SigningPolicy::default()
    };
    let c14n = C14nAlgorithm::new(C14nMode::Exclusive1_0, false);
    let template = SignatureBuilder::new(c14n.clone(), method)
        .ns_prefix("ds")
        .add_reference(
            ReferenceBuilder::new(digest)
                .uri(format!("#{id}"))
                .transform(Transform::Enveloped)
                .transform(Transform::C14n(c14n)),
        )
        .key_info(true)
        .build_template_with_policy(&policy)
        .map_err(|e| SamlSignError::Signing(e.to_string()))?;
    let with_template = format!("{}{}{}", &xml[..insert_at], template, &xml[insert_at..]);

    let key = RsaSigningKey::from_pkcs8_der(keys.key_pkcs8_der())
        .map_err(|e| SamlSignError::Signing(e.to_string()))?;
    let key_info = X509CertificateKeyInfoWriter::from_der(keys.certificate_der())
        .map_err(|e| SamlSignError::Signing(e.to_string()))?;
    SignContext::new(&key)
        .policy(policy)
        .key_info_writer(&key_info)
        .start_node_id(&id)
        .signature_template_selection(SignatureTemplateSelection::FirstDescendant)
        .sign_template(&with_template)
        .map_err(|e| SamlSignError::Signing(e.to_string()))
}

/// The base64 `SAMLResponse` form value of a Response.
pub fn encode(xml: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(xml.as_bytes())
}

/// The HTTP-POST binding's page: a form that posts `SAMLResponse` (and `RelayState`) to the
/// ACS URL as soon as it loads, as Okta's is.
pub fn post_form_html(acs_url: &str, saml_response_b64: &str, relay_state: Option<&str>) -> String {
    let relay = relay_state
        .map(|r| {
            format!(
                r#"<input type="hidden" name="RelayState" value="{}"/>"#,
                escape(r)
            )
        })
        .unwrap_or_default();
    format!(
        concat!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"/></head>",
            "<body onload=\"document.forms[0].submit()\">",
            r#"<form method="post" action="{}">"#,
            r#"<input type="hidden" name="SAMLResponse" value="{}"/>{}"#,
            r#"<noscript><button type="submit">Continue</button></noscript>"#,
            "</form></body></html>"
        ),
        escape(acs_url),
        escape(saml_response_b64),
        relay
    )
}
