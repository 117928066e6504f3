//! IdP metadata in, SP metadata out, and the SP-initiated AuthnRequest over HTTP-Redirect,
//! decoded back the way an IdP decodes it.

#![allow(clippy::unwrap_used)] // test code: a panic is a failed test

mod common;

use std::io::Read as _;

use base64::Engine as _;
use common::*;
use idp_sandbox::saml::{IdpKeys, OktaSamlApp, idp_metadata_xml};
use saml_sp::{IdpMetadata, RequestId, SamlError, ServiceProvider};

const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
const MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

#[test]
fn okta_metadata_gives_entity_id_sso_urls_and_certificate() {
    let idp = metadata();
    assert_eq!(idp.entity_id(), "http://www.okta.com/exk1fxp7sMaWVNcGy0h8");
    let sso = "https://dev-123456.okta.com/app/dev-123456_portal_1/exk1fxp7sMaWVNcGy0h8/sso/saml";
    assert_eq!(idp.sso_redirect_url(), Some(sso));
    assert_eq!(idp.sso_post_url(), Some(sso));
    assert_eq!(idp.signing_certificates().len(), 1);
    assert_eq!(
        idp.signing_certificates()[0].der(),
        idp_keys().certificate_der()
    );
    assert_eq!(
        idp.signing_certificates()[0].fingerprint().len(),
        32 * 3 - 1
    );
    assert!(!idp.want_authn_requests_signed());
}

#[test]
fn metadata_during_a_rollover_has_both_certificates() {
    let xml = idp_metadata_xml(&app(), &[idp_keys(), other_keys()]);
    let idp = IdpMetadata::parse(&xml).unwrap();
    let ders: Vec<&[u8]> = idp.signing_certificates().iter().map(|c| c.der()).collect();
    assert_eq!(
        ders,
        [idp_keys().certificate_der(), other_keys().certificate_der()]
    );
}

#[test]
fn unusable_metadata_says_why() {
    let detail = |xml: &str| match IdpMetadata::parse(xml) {
        Err(SamlError::Metadata { detail }) => detail,
        other => panic!("expected a metadata error, got {other:?}"),
    };
    let good = idp_metadata_xml(&app(), &[idp_keys()]);
    let no_cert = idp_metadata_xml(&app(), &[]);
    assert!(detail(&no_cert).contains("no signing certificate"));
    let sp_meta = sp().metadata_xml();
    assert!(detail(&sp_meta).contains("no IDPSSODescriptor"));
    let wrapped = format!(
        r#"<md:EntitiesDescriptor xmlns:md="{MD}">{}</md:EntitiesDescriptor>"#,
        good.trim_start_matches(r#"<?xml version="1.0" encoding="UTF-8"?>"#)
    );
    assert!(detail(&wrapped).contains("EntitiesDescriptor"));
    let dtd = good.replace(
        r#"<?xml version="1.0" encoding="UTF-8"?>"#,
        r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]>"#,
    );
    assert!(detail(&dtd).contains("DTD"));
    let bad_cert = good.replace("<ds:X509Certificate>MII", "<ds:X509Certificate>MIJ");
    assert!(detail(&bad_cert).contains("certificate"));
    assert!(detail("not xml").contains("not well-formed"));
}

#[test]
fn metadata_from_parts_builds_the_same_trust() {
    let idp = IdpMetadata::from_parts(
        "http://www.okta.com/exk1",
        "https://dev-123456.okta.com/app/x/exk1/sso/saml",
        &[idp_keys().certificate_der()],
    )
    .unwrap();
    assert_eq!(idp.entity_id(), "http://www.okta.com/exk1");
    assert!(IdpMetadata::from_parts("", "https://x.test/", &[]).is_err());
    assert!(
        IdpMetadata::from_parts("e", "ftp://x.test/", &[idp_keys().certificate_der()]).is_err()
    );
}

#[test]
fn sp_metadata_is_well_formed_and_escaped() {
    let sp = ServiceProvider::builder(
        "https://portal.example.com/saml?a=1&b=\"2\"",
        ACS,
        metadata(),
    )
    .build()
    .unwrap();
    let xml = sp.metadata_xml();
    let doc = xml_sec::Document::parse(&xml).unwrap();
    let root = doc.root_element();
    assert!(root.has_tag_name((MD, "EntityDescriptor")));
    assert_eq!(
        root.attribute("entityID"),
        Some("https://portal.example.com/saml?a=1&b=\"2\"")
    );
    let sso = root
        .children()
        .find(|n| n.has_tag_name((MD, "SPSSODescriptor")))
        .unwrap();
    assert_eq!(sso.attribute("AuthnRequestsSigned"), Some("false"));
    assert_eq!(sso.attribute("WantAssertionsSigned"), Some("true"));
    let acs = sso
        .children()
        .find(|n| n.has_tag_name((MD, "AssertionConsumerService")))
        .unwrap();
    assert_eq!(acs.attribute("Location"), Some(ACS));
    assert_eq!(
        acs.attribute("Binding"),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
    assert!(xml.contains("nameid-format:emailAddress"));
}

/// Decodes an HTTP-Redirect URL as an IdP does: query → base64 → raw inflate.
fn decode_redirect(url: &str) -> (String, String, Option<String>) {
    let url = url::Url::parse(url).unwrap();
    let q: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(get("SAMLRequest").unwrap())
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(&deflated[..])
        .read_to_string(&mut xml)
        .unwrap();
    let base = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap(),
        url.path()
    );
    (base, xml, get("RelayState"))
}

#[test]
fn authn_request_round_trips_through_the_redirect_binding() {
    let sp = sp();
    let login = sp
        .login_request(
            RequestId::from_random([0xa5; 16]),
            t0(),
            Some("/after login?x=1&y"),
        )
        .unwrap();
    assert_eq!(login.request_id.as_str(), format!("_{}", "a5".repeat(16)));
    assert_eq!(login.expires_at, t0() + secs(600));
    let (base, xml, relay) = decode_redirect(&login.url);
    assert_eq!(base, app().sso_url());
    assert_eq!(relay.as_deref(), Some("/after login?x=1&y"));

    let doc = xml_sec::Document::parse(&xml).unwrap();
    let req = doc.root_element();
    assert!(req.has_tag_name((SAMLP, "AuthnRequest")));
    assert_eq!(req.attribute("ID"), Some(login.request_id.as_str()));
    assert_eq!(req.attribute("Version"), Some("2.0"));
    assert_eq!(req.attribute("IssueInstant"), Some("2024-05-01T12:00:00Z"));
    assert_eq!(req.attribute("Destination"), Some(app().sso_url().as_str()));
    assert_eq!(req.attribute("AssertionConsumerServiceURL"), Some(ACS));
    assert_eq!(
        req.attribute("ProtocolBinding"),
        Some("urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST")
    );
    let issuer = req
        .children()
        .find(|n| n.has_tag_name((SAML, "Issuer")))
        .unwrap();
    assert_eq!(issuer.text(), Some(SP_ENTITY));
}

#[test]
fn an_sso_url_with_a_query_keeps_it() {
    let app = OktaSamlApp::new("https://idp.example.com", "x", "y");
    let keys = IdpKeys::generate("idp").unwrap();
    let xml = idp_metadata_xml(&app, &[&keys]).replace("/sso/saml\"", "/sso/saml?tenant=7\"");
    let sp = ServiceProvider::builder(SP_ENTITY, ACS, IdpMetadata::parse(&xml).unwrap())
        .build()
        .unwrap();
    let login = sp
        .login_request(RequestId::from_random([1; 16]), t0(), None)
        .unwrap();
    assert!(
        login
            .url
            .starts_with("https://idp.example.com/app/x/y/sso/saml?tenant=7&SAMLRequest=")
    );
    assert!(!login.url.contains("RelayState"));
}

#[test]
fn relay_state_over_80_bytes_is_refused() {
    let long = "x".repeat(81);
    assert_eq!(
        sp().login_request(RequestId::from_random([1; 16]), t0(), Some(&long)),
        Err(SamlError::RelayStateTooLong { len: 81 })
    );
}

#[test]
fn builder_refuses_configurations_that_cannot_work() {
    let config = |r: Result<ServiceProvider, SamlError>| match r {
        Err(SamlError::Config { detail }) => detail,
        other => panic!("expected a config error, got {other:?}"),
    };
    assert!(config(ServiceProvider::builder(" ", ACS, metadata()).build()).contains("entity ID"));
    assert!(
        config(ServiceProvider::builder(SP_ENTITY, "/acs", metadata()).build()).contains("ACS URL")
    );
    assert!(config(sp_builder().clock_skew(secs(3600)).build()).contains("NTP"));
    assert!(config(sp_builder().max_response_bytes(10).build()).contains("1 KiB"));
    assert!(config(sp_builder().request_lifetime(secs(0)).build()).contains("lifetime"));
}
