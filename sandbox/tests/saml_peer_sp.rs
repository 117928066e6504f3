//! The sandbox's SAML IdP against an SP it shares no code with: PyPI `pysaml2` (7.5.5), whose
//! signatures are checked by the `xmlsec1` command (libxmlsec1 + OpenSSL), in the peers venv
//! (`bash .ci/install-peers`; `xmlsec1` from the system's packages).
//!
//! pysaml2 makes the AuthnRequest (HTTP-Redirect), the sandbox's SSO URL accepts it and signs a
//! directory user in, and pysaml2 accepts the Response as its SP does (signature against the
//! metadata's certificate, issuer, destination, audience, times, InResponseTo among its
//! outstanding requests), finding the user's NameID and groups; it refuses each of the IdP's
//! faults and a Response changed after signing. Skips, saying how to install the peer, unless
//! `REQUIRE_PEERS=1`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use base64::Engine as _;
use idp_sandbox::Sandbox;
use idp_sandbox::okta::OktaUserStatus;
use idp_sandbox::saml::{PostedResponse, SamlAppInfo, SamlFault, SignInForm, Signing, SpSettings};
use serde_json::{Value, json};

const ACS: &str = "https://portal.example.com/saml/acs";
const ENTITY: &str = "https://portal.example.com/saml/metadata";

/// The peers venv's Python with pysaml2, and `xmlsec1` on the PATH; `None` (skipped) without.
fn peer_python() -> Option<PathBuf> {
    let python = test_support::peer_python("sandbox IdP vs pysaml2", &["saml2"])?;
    let xmlsec = std::process::Command::new("xmlsec1")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !xmlsec {
        let msg = "sandbox IdP vs pysaml2: SKIPPED: the xmlsec1 command is missing \
                   (apt-get install xmlsec1)";
        assert!(!test_support::peers_required(), "{msg}");
        eprintln!("{msg}");
        return None;
    }
    Some(python)
}

fn run(python: &std::path::Path, input: Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pysaml2_sp.py");
    let out = test_support::run_peer(python, &script, input.to_string().as_bytes());
    assert!(
        out.status.success(),
        "peer failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the peer answers JSON")
}

struct Peer {
    python: PathBuf,
    metadata: String,
}

impl Peer {
    fn base(&self, op: &str) -> Value {
        json!({"op": op, "metadata": self.metadata, "entity_id": ENTITY, "acs_url": ACS})
    }

    /// pysaml2's AuthnRequest: its ID and the IdP URL it redirects to.
    async fn request(&self) -> (String, String) {
        let (python, input) = (self.python.clone(), self.base("request"));
        let answer = tokio::task::spawn_blocking(move || run(&python, input))
            .await
            .unwrap();
        assert_eq!(answer["ok"], true, "{answer}");
        (
            answer["request_id"].as_str().unwrap().to_owned(),
            answer["url"].as_str().unwrap().to_owned(),
        )
    }

    async fn accept(&self, saml_response: &str, request_id: &str) -> Value {
        let mut input = self.base("accept");
        input["saml_response"] = saml_response.into();
        input["request_id"] = request_id.into();
        let python = self.python.clone();
        tokio::task::spawn_blocking(move || run(&python, input))
            .await
            .unwrap()
    }
}

/// The sandbox signs `login` in at `url` (pysaml2's redirect): the posted form.
async fn sign_in(url: &str, login: &str) -> PostedResponse {
    let http = reqwest::Client::new();
    let page = http.get(url).send().await.unwrap();
    let status = page.status();
    let html = page.text().await.unwrap();
    assert_eq!(
        status, 200,
        "the sandbox refused pysaml2's AuthnRequest: {html}"
    );
    let form = SignInForm::parse(&html).unwrap();
    let action = reqwest::Url::parse(url)
        .unwrap()
        .join(&form.action)
        .unwrap();
    let html = http
        .post(action)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form.body(login))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    PostedResponse::parse(&html).unwrap()
}

async fn setup() -> Option<(Sandbox, SamlAppInfo, Peer, String, Vec<String>)> {
    let python = peer_python()?;
    let sb = Sandbox::builder()
        .seed(9)
        .users(12)
        .groups(2)
        .start()
        .await
        .unwrap();
    let app = sb.saml().default_app();
    sb.saml()
        .set_sp(app.id(), SpSettings::new(ACS, ENTITY))
        .unwrap();
    let metadata = sb.saml().metadata_xml(app.id()).unwrap();
    let dir = sb.okta();
    let user = dir
        .users()
        .into_iter()
        .find(|u| u.status == OktaUserStatus::Active)
        .unwrap();
    let groups = dir
        .groups()
        .into_iter()
        .filter(|g| dir.members(&g.id).unwrap().iter().any(|m| m.id == user.id))
        .map(|g| g.name)
        .collect();
    Some((sb, app, Peer { python, metadata }, user.login, groups))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_accepts_the_sandbox_idps_responses() {
    let Some((sb, app, peer, login, groups)) = setup().await else {
        return;
    };
    for signing in [Signing::Assertion, Signing::Both] {
        sb.saml().set_signing(app.id(), signing).unwrap();
        let (request_id, url) = peer.request().await;
        assert!(url.starts_with(&app.sso_url()), "{url}");
        let posted = sign_in(&url, &login).await;
        let answer = peer.accept(&posted.saml_response, &request_id).await;
        assert_eq!(answer["ok"], true, "{signing:?}: {answer}");
        assert_eq!(answer["name_id"], login.as_str());
        assert_eq!(answer["groups"], json!(groups));
        assert_eq!(answer["in_response_to"], request_id.as_str());
    }
    sb.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pysaml2_refuses_each_fault_and_a_changed_response() {
    let Some((sb, app, peer, login, _)) = setup().await else {
        return;
    };
    // Each refused for its own reason, in pysaml2's words.
    for (fault, says) in [
        (SamlFault::WrongCertificate, "Failed to verify signature"),
        (SamlFault::Unsigned, "Signature missing for assertion"),
        (
            SamlFault::WrongAudience,
            "AudienceRestrictions conditions not satisfied",
        ),
        (SamlFault::Expired, "too old"),
    ] {
        sb.saml().set_fault(app.id(), Some(fault)).unwrap();
        let (request_id, url) = peer.request().await;
        let posted = sign_in(&url, &login).await;
        let answer = peer.accept(&posted.saml_response, &request_id).await;
        assert_eq!(answer["ok"], false, "{fault:?} accepted: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(says), "{fault:?}: {error}");
    }
    sb.saml().set_fault(app.id(), None).unwrap();

    // Signed for one user, changed to name another: the signature no longer holds.
    let (request_id, url) = peer.request().await;
    let posted = sign_in(&url, &login).await;
    let b64 = base64::engine::general_purpose::STANDARD;
    let xml = String::from_utf8(b64.decode(&posted.saml_response).unwrap()).unwrap();
    let changed = xml.replace(&login, "admin@example.com");
    assert_ne!(changed, xml);
    let answer = peer.accept(&b64.encode(changed), &request_id).await;
    assert_eq!(answer["ok"], false, "a changed Response accepted: {answer}");
    let error = answer["error"].as_str().unwrap();
    assert!(error.contains("Failed to verify signature"), "{error}");
    // The genuine one still is.
    let answer = peer.accept(&posted.saml_response, &request_id).await;
    assert_eq!(answer["ok"], true, "{answer}");
    sb.shutdown().await;
}
