//! The sandbox as Okta's SAML IdP over HTTP, checked by the workspace's SP (`saml-sp`): the
//! metadata it serves parses; an SP-initiated sign-in (HTTP-Redirect or HTTP-POST AuthnRequest,
//! the sign-in page, the auto-posting form) ends in a Response the SP accepts, for the user
//! picked, with that user's groups from the same directory the Okta API serves; every signing
//! option is accepted; every fault is refused with its own error; unknown SPs, other ACS URLs,
//! inactive and unknown users and used sign-in pages are refused; hostile directory values are
//! escaped on the page.
#![allow(clippy::unwrap_used)]

use std::io::Read as _;
use std::time::SystemTime;

use base64::Engine as _;
use idp_sandbox::Sandbox;
use idp_sandbox::okta::{NewOktaUser, OktaUserStatus};
use idp_sandbox::saml::{
    PostedResponse, SamlAppInfo, SamlFault, SignInForm, Signing, SpSettings, WRONG_AUDIENCE,
};
use saml_sp::{IdpMetadata, PendingLogins, ReplayCache, RequestId, SamlError, ServiceProvider};

const ACS: &str = "https://portal.example.com/saml/acs";
const ENTITY: &str = "https://portal.example.com/saml/metadata";

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A sandbox whose default app answers the SP above, and that app.
async fn sandbox() -> (Sandbox, SamlAppInfo) {
    let sb = Sandbox::builder()
        .seed(5)
        .users(20)
        .groups(3)
        .start()
        .await
        .unwrap();
    let app = sb.saml().default_app();
    sb.saml()
        .set_sp(app.id(), SpSettings::new(ACS, ENTITY))
        .unwrap();
    (sb, app)
}

/// The SP, from the metadata the sandbox serves over HTTP.
async fn sp(app: &SamlAppInfo) -> ServiceProvider {
    let xml = http()
        .get(app.metadata_url())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    ServiceProvider::builder(ENTITY, ACS, IdpMetadata::parse(&xml).unwrap())
        .build()
        .unwrap()
}

/// A directory user who is ACTIVE and in a group besides Everyone.
fn grouped_user(sb: &Sandbox) -> (String, Vec<String>) {
    let dir = sb.okta();
    for user in dir.users() {
        if user.status != OktaUserStatus::Active {
            continue;
        }
        let groups: Vec<String> = dir
            .groups()
            .into_iter()
            .filter(|g| dir.members(&g.id).unwrap().iter().any(|m| m.id == user.id))
            .map(|g| g.name)
            .collect();
        if groups.len() > 1 {
            return (user.login, groups);
        }
    }
    panic!("no active user in a group");
}

/// The sign-in page at `url` (GET), read.
async fn sign_in_page(url: &str) -> SignInForm {
    let page = http().get(url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    SignInForm::parse(&html).unwrap_or_else(|| panic!("not a sign-in page: {html}"))
}

/// Picks `login` on the page; the answer's status and body.
async fn pick(app: &SamlAppInfo, form: &SignInForm, login: &str) -> (u16, String) {
    let origin = app.sso_url();
    let origin = &origin[..origin.find("/app/").unwrap()];
    let r = http()
        .post(format!("{origin}{}", form.action))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.body(login))
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// An SP-initiated sign-in of `login`, all the way to the posted form.
async fn sign_in(
    sp: &ServiceProvider,
    app: &SamlAppInfo,
    pending: &mut PendingLogins,
    login: &str,
) -> (RequestId, PostedResponse) {
    let now = SystemTime::now();
    let request = sp
        .login_request(RequestId::from_random(rand::random()), now, Some("home"))
        .unwrap();
    pending.insert(&request, now).unwrap();
    let form = sign_in_page(&request.url).await;
    let (status, html) = pick(app, &form, login).await;
    assert_eq!(status, 200, "{html}");
    let posted = PostedResponse::parse(&html).unwrap_or_else(|| panic!("no form: {html}"));
    (request.request_id, posted)
}

fn accept(
    sp: &ServiceProvider,
    posted: &PostedResponse,
    pending: &mut PendingLogins,
) -> Result<saml_sp::SamlLogin, SamlError> {
    sp.accept(
        &posted.saml_response,
        posted.relay_state.as_deref(),
        SystemTime::now(),
        pending,
        &mut ReplayCache::new(100),
    )
}

/// How many `ds:Signature` elements (not `SignatureValue`, …) a document holds.
fn signatures(xml: &str) -> usize {
    xml.matches("<ds:Signature ").count() + xml.matches("<ds:Signature>").count()
}

fn response_xml(posted: &PostedResponse) -> String {
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(&posted.saml_response)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_metadata_served_is_okta_shaped_and_parses() {
    let (sb, app) = sandbox().await;
    assert!(
        app.id().starts_with("exk") && app.id().len() == 20,
        "{}",
        app.id()
    );
    assert_eq!(
        app.metadata_url(),
        format!("{}/app/{}/sso/saml/metadata", sb.http_url(), app.id())
    );
    assert_eq!(
        app.sso_url(),
        format!(
            "{}/app/{}/{}/sso/saml",
            sb.http_url(),
            app.app.app_name,
            app.id()
        )
    );
    let r = http().get(app.metadata_url()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .contains("xml")
    );
    let meta = IdpMetadata::parse(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        meta.entity_id(),
        format!("http://www.okta.com/{}", app.id())
    );
    assert_eq!(meta.sso_redirect_url(), Some(app.sso_url().as_str()));
    assert_eq!(meta.sso_post_url(), Some(app.sso_url().as_str()));
    let keys = sb.saml().keys(app.id()).unwrap();
    let certs = meta.signing_certificates();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].der(), keys.certificate_der());
    // The handle renders the same document.
    assert_eq!(
        IdpMetadata::parse(&sb.saml().metadata_xml(app.id()).unwrap()).unwrap(),
        meta
    );

    // Each app has its own key; unknown apps are 404.
    let other = sb.saml().add_app("Wiki");
    assert_ne!(other.id(), app.id());
    assert_ne!(
        sb.saml().keys(other.id()).unwrap().certificate_der(),
        keys.certificate_der()
    );
    let missing = format!(
        "{}/app/exk00000000000000000/sso/saml/metadata",
        sb.http_url()
    );
    assert_eq!(http().get(missing).send().await.unwrap().status(), 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn an_sp_initiated_sign_in_ends_in_a_response_the_sp_accepts() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let (login, groups) = grouped_user(&sb);
    let mut pending = PendingLogins::new(100);
    let (request_id, posted) = sign_in(&sp, &app, &mut pending, &login).await;
    assert_eq!(posted.acs_url, ACS);
    assert_eq!(posted.relay_state.as_deref(), Some("home"));
    let user = accept(&sp, &posted, &mut pending).unwrap();
    assert_eq!(user.name_id, login);
    assert_eq!(user.groups(), groups.as_slice());
    assert!(user.groups().iter().any(|g| g == "Everyone"));
    assert_eq!(user.in_response_to.as_deref(), Some(request_id.as_str()));
    assert_eq!(user.issuer, app.entity_id());

    // Okta's default: the Assertion alone is signed.
    let xml = response_xml(&posted);
    assert_eq!(signatures(&xml), 1, "{xml}");

    // Recorded for a later System Log.
    let log = sb.saml().saml_sign_ins();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].login, login);
    assert_eq!(log[0].groups, groups);
    assert_eq!(log[0].in_response_to.as_deref(), Some(request_id.as_str()));
    assert_eq!(log[0].app_id, app.id());
    assert_eq!(log[0].assertion_id, user.assertion_id);
    assert_eq!(log[0].signing, Signing::Assertion);
    assert_eq!(log[0].fault, None);

    // And in the Okta System Log of the same directory, as Okta records an SSO to an app.
    let events = sb.okta().system_log();
    let sso: Vec<_> = events
        .iter()
        .filter(|e| e["eventType"] == "user.authentication.sso")
        .collect();
    assert_eq!(sso.len(), 1, "{events:?}");
    assert_eq!(sso[0]["actor"]["alternateId"], login.as_str());
    assert_eq!(sso[0]["outcome"]["result"], "SUCCESS");
    sb.shutdown().await;
}

#[tokio::test]
async fn the_directory_is_the_okta_apis_a_user_added_there_signs_in_with_its_groups() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let dir = sb.okta();
    let group = dir.create_group("Portal Admins", None);
    let user = dir
        .add_user(NewOktaUser::new("new.hire@example.com"))
        .unwrap();
    dir.add_member(&group.id, &user.login).unwrap();
    let mut pending = PendingLogins::new(100);
    let (_, posted) = sign_in(&sp, &app, &mut pending, "NEW.HIRE@example.com").await;
    let login = accept(&sp, &posted, &mut pending).unwrap();
    assert_eq!(login.name_id, "new.hire@example.com");
    assert_eq!(login.groups(), ["Everyone", "Portal Admins"]);

    // Removed from the group: the next sign-in says so.
    dir.remove_member(&group.id, &user.login).unwrap();
    let (_, posted) = sign_in(&sp, &app, &mut pending, &user.login).await;
    assert_eq!(
        accept(&sp, &posted, &mut pending).unwrap().groups(),
        ["Everyone"]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn every_signing_option_is_accepted() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let (login, _) = grouped_user(&sb);
    let mut pending = PendingLogins::new(100);
    for (signing, expected) in [
        (Signing::Assertion, 1),
        (Signing::Response, 1),
        (Signing::Both, 2),
    ] {
        sb.saml().set_signing(app.id(), signing).unwrap();
        let (_, posted) = sign_in(&sp, &app, &mut pending, &login).await;
        let xml = response_xml(&posted);
        assert_eq!(signatures(&xml), expected, "{signing:?}");
        let accepted = accept(&sp, &posted, &mut pending);
        assert!(accepted.is_ok(), "{signing:?}: {accepted:?}");
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn every_fault_is_refused_with_its_own_error() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let (login, _) = grouped_user(&sb);
    let mut pending = PendingLogins::new(100);
    for fault in [
        SamlFault::Expired,
        SamlFault::WrongAudience,
        SamlFault::WrongCertificate,
        SamlFault::Unsigned,
    ] {
        sb.saml().set_fault(app.id(), Some(fault)).unwrap();
        let (_, posted) = sign_in(&sp, &app, &mut pending, &login).await;
        let refused = accept(&sp, &posted, &mut pending).unwrap_err();
        let expected = match (&fault, &refused) {
            (SamlFault::Expired, SamlError::Expired { .. }) => true,
            (SamlFault::WrongAudience, SamlError::AudienceMismatch { .. }) => {
                refused.to_string().contains(WRONG_AUDIENCE)
            }
            (SamlFault::WrongCertificate, SamlError::UntrustedSignature { .. }) => true,
            (SamlFault::Unsigned, SamlError::Unsigned) => true,
            _ => false,
        };
        assert!(expected, "{fault:?} was refused as {refused:?}");
        assert_eq!(sb.saml().saml_sign_ins().last().unwrap().fault, Some(fault));
    }
    // Fault off: accepted again.
    sb.saml().set_fault(app.id(), None).unwrap();
    let (_, posted) = sign_in(&sp, &app, &mut pending, &login).await;
    assert!(accept(&sp, &posted, &mut pending).is_ok());
    sb.shutdown().await;
}

/// The AuthnRequest inside an HTTP-Redirect URL, inflated.
fn inflate_request(url: &str) -> String {
    let url = reqwest::Url::parse(url).unwrap();
    let encoded = url
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .unwrap()
        .1
        .into_owned();
    let raw = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(raw.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml
}

#[tokio::test]
async fn the_http_post_binding_works_too() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let (login, _) = grouped_user(&sb);
    let now = SystemTime::now();
    let request = sp
        .login_request(RequestId::from_random(rand::random()), now, Some("r"))
        .unwrap();
    let mut pending = PendingLogins::new(10);
    pending.insert(&request, now).unwrap();
    let xml = inflate_request(&request.url);
    let page = http()
        .post(app.sso_url())
        .form(&[
            (
                "SAMLRequest",
                base64::engine::general_purpose::STANDARD.encode(xml),
            ),
            ("RelayState", "r".to_owned()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let form = SignInForm::parse(&page.text().await.unwrap()).unwrap();
    let (status, html) = pick(&app, &form, &login).await;
    assert_eq!(status, 200, "{html}");
    let posted = PostedResponse::parse(&html).unwrap();
    let user = accept(&sp, &posted, &mut pending).unwrap();
    assert_eq!(
        user.in_response_to.as_deref(),
        Some(request.request_id.as_str())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn unknown_sps_other_acs_urls_and_broken_requests_are_refused() {
    let (sb, app) = sandbox().await;
    let idp = IdpMetadata::parse(&sb.saml().metadata_xml(app.id()).unwrap()).unwrap();
    let now = SystemTime::now();
    let id = || RequestId::from_random(rand::random());
    // Another SP (its Issuer is not the app's Audience URI).
    let stranger = ServiceProvider::builder("https://evil.example.com/saml", ACS, idp.clone())
        .build()
        .unwrap();
    // This SP's entity ID, another ACS URL.
    let elsewhere = ServiceProvider::builder(ENTITY, "https://evil.example.com/acs", idp.clone())
        .build()
        .unwrap();
    for (sp, says) in [
        (&stranger, "an unknown SP"),
        (&elsewhere, "AssertionConsumerServiceURL"),
    ] {
        let url = sp.login_request(id(), now, None).unwrap().url;
        let page = http().get(url).send().await.unwrap();
        assert_eq!(page.status(), 400);
        let html = page.text().await.unwrap();
        assert!(html.contains(says), "{html}");
        assert!(SignInForm::parse(&html).is_none());
    }
    for query in [
        "SAMLRequest=%%%",
        "SAMLRequest=bm90IGRlZmxhdGU%3D",
        "SAMLRequest=",
    ] {
        let page = http()
            .get(format!("{}?{query}", app.sso_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 400, "{query}");
    }
    // Wrong app name for the ID, and an app without an SP.
    let wrong = app.sso_url().replace(&app.app.app_name, "other_app_1");
    assert_eq!(http().get(wrong).send().await.unwrap().status(), 404);
    let bare = sb.saml().add_app("No SP yet");
    let page = http().get(bare.sso_url()).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("no Single sign-on URL"));
    assert!(sb.saml().saml_sign_ins().is_empty());
    sb.shutdown().await;
}

#[tokio::test]
async fn inactive_and_unknown_users_and_used_pages_are_refused() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let dir = sb.okta();
    let suspended = dir
        .add_user(NewOktaUser::new("suspended@example.com").status(OktaUserStatus::Suspended))
        .unwrap();
    let (login, _) = grouped_user(&sb);
    let now = SystemTime::now();
    let request = sp
        .login_request(RequestId::from_random(rand::random()), now, None)
        .unwrap();
    let form = sign_in_page(&request.url).await;
    assert!(form.logins.contains(&suspended.login));
    let (status, html) = pick(&app, &form, &suspended.login).await;
    assert_eq!(status, 403);
    assert!(html.contains("SUSPENDED"), "{html}");
    let (status, html) = pick(&app, &form, "nobody@example.com").await;
    assert_eq!(status, 404);
    assert!(html.contains("No user"), "{html}");
    // The page still works after those, once.
    let (status, _) = pick(&app, &form, &login).await;
    assert_eq!(status, 200);
    let (status, html) = pick(&app, &form, &login).await;
    assert_eq!(status, 400);
    assert!(html.contains("already used"), "{html}");
    assert_eq!(sb.saml().saml_sign_ins().len(), 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn idp_initiated_sign_ins_carry_no_in_response_to() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let (login, _) = grouped_user(&sb);
    let form = sign_in_page(&format!("{}?RelayState=%2Fhome", app.sso_url())).await;
    let (_, html) = pick(&app, &form, &login).await;
    let posted = PostedResponse::parse(&html).unwrap();
    assert_eq!(posted.relay_state.as_deref(), Some("/home"));
    let mut pending = PendingLogins::new(10);
    assert!(matches!(
        accept(&sp, &posted, &mut pending),
        Err(SamlError::IdpInitiatedRefused)
    ));
    let lenient = ServiceProvider::builder(ENTITY, ACS, sp.idp().clone())
        .allow_idp_initiated(true)
        .build()
        .unwrap();
    let user = accept(&lenient, &posted, &mut pending).unwrap();
    assert_eq!(user.in_response_to, None);
    assert_eq!(sb.saml().saml_sign_ins()[0].in_response_to, None);
    sb.shutdown().await;
}

#[tokio::test]
async fn hostile_directory_values_are_escaped_on_the_sign_in_page() {
    let (sb, app) = sandbox().await;
    let sp = sp(&app).await;
    let hostile = r#"x"><script>alert(1)</script>@example.com"#;
    let dir = sb.okta();
    dir.add_user(NewOktaUser::new(hostile).name("<b>Eve</b>", Some("'&amp;'")))
        .unwrap();
    let group = dir.create_group("<img src=x onerror=alert(2)>", None);
    dir.add_member(&group.id, hostile).unwrap();
    let request = sp
        .login_request(
            RequestId::from_random(rand::random()),
            SystemTime::now(),
            None,
        )
        .unwrap();
    let html = http()
        .get(&request.url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for raw in ["<script>", "<b>", "<img", "'&amp;'"] {
        assert!(!html.contains(raw), "{raw} unescaped");
    }
    // Read back, the login is whole, and signing it in works.
    let form = SignInForm::parse(&html).unwrap();
    assert!(
        form.logins.iter().any(|l| l == hostile),
        "{:?}",
        form.logins
    );
    let mut pending = PendingLogins::new(10);
    pending.insert(&request, SystemTime::now()).unwrap();
    let (status, html) = pick(&app, &form, hostile).await;
    assert_eq!(status, 200);
    let user = accept(&sp, &PostedResponse::parse(&html).unwrap(), &mut pending).unwrap();
    assert_eq!(user.name_id, hostile);
    assert!(user.groups().iter().any(|g| g == &group.name));
    sb.shutdown().await;
}
