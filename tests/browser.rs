//! The `duo_login_portal` example in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), with the portal and the Okta + Duo sandbox running in this process — the same
//! `start` function the example's `main` calls.
//!
//! Scenarios, Universal Prompt mode: "Sign in with Okta" (SP-initiated SAML: the portal's
//! redirect, the sandbox IdP's sign-in page, a synced user picked, the Response auto-posted to
//! the ACS) → the sandbox's Duo prompt → Approve → home page with the roles the sync gave that
//! user; a user in Okta whom the sync did not create → refused with the reason; the settings page
//! refuses a wrong secret key (naming it) and saves the right one; Deny → "access denied"; a
//! tampered `state` on the callback → refused, and the real answer that follows finds no sign-in
//! pending. Push mode: Okta, then an approved push → home; the same IP skips Duo the second
//! time; a user not enrolled sees the QR code and lands on the home page once the activation
//! completes; a denied push → "access denied"; a break-glass account signs in with its password
//! and Duo.
//!
//! Screenshots of each step go to `target/browser-screenshots/`. Without Chromium and
//! chromedriver the test prints `SKIPPED: …` and passes, unless `REQUIRE_BROWSER` is set (CI).
#![allow(clippy::unwrap_used)]

#[path = "../examples/duo_login_portal/portal/mod.rs"]
#[allow(dead_code)]
mod portal;

#[path = "../examples/access_review/demo.rs"]
#[allow(dead_code, unreachable_pub)]
mod access_demo;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use portal::demo::{ALICE, BOB, CAROL, DAVE, ERIN};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
/// A break-glass account (password `root-password`).
const ROOT: &str = portal::demo::BREAK_GLASS[0].0;
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const SKIP: &str =
    "SKIPPED: install chromium chromium-driver (apt-get install -y chromium chromium-driver)";
/// How long any one page may take to show what the test waits for.
const PAGE_TIMEOUT: Duration = Duration::from_secs(30);

/// chromedriver in its own process group, so that dropping it also ends the browsers it started.
struct Driver {
    child: Child,
    port: u16,
    profile: PathBuf,
}

impl Driver {
    fn start() -> Driver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        // One profile per browser: the tests of this file run at once in one process.
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let profile =
            std::env::temp_dir().join(format!("portal-browser-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .unwrap();
        let driver = Driver {
            child,
            port,
            profile,
        };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not listen on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        driver
    }

    async fn browser(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                // Without the background-networking flags Chromium dials out at start, and a
                // closed network refuses it.
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1000,800",
                    format!("--user-data-dir={}", self.profile.display()),
                ],
            }),
        );
        let mut builder = ClientBuilder::new(HttpConnector::new());
        builder.capabilities(caps);
        builder
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group holds chromedriver and the Chromium processes it started, nothing else.
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// The browser and where the screenshots go.
struct Browser {
    client: Client,
    shots: PathBuf,
}

impl Browser {
    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name}: not a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn wait(&self, css: &str) -> fantoccini::elements::Element {
        match self
            .client
            .wait()
            .at_most(PAGE_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string());
                let source = self.client.source().await.unwrap_or_default();
                panic!("{css} never appeared ({e}); at {url:?}:\n{source}");
            }
        }
    }

    async fn text(&self, css: &str) -> String {
        self.wait(css).await.text().await.unwrap()
    }

    async fn fill(&self, css: &str, value: &str) {
        let field = self.wait(css).await;
        field.clear().await.unwrap();
        field.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.wait(css).await.click().await.unwrap();
    }

    /// A new browser session as far as the portal is concerned.
    async fn forget(&self) {
        self.client.delete_all_cookies().await.unwrap();
    }

    /// "Sign in with Okta", and `login` picked on the sandbox IdP's sign-in page (whose answer
    /// posts itself to the portal).
    async fn okta(&self, portal: &portal::Running, login: &str) {
        self.client.goto(&portal.url).await.unwrap();
        self.click("#sign-in-okta").await;
        self.click(&format!(r#"button[value="{login}"]"#)).await;
    }

    /// A break-glass account's password (`{login}-password`).
    async fn password(&self, portal: &portal::Running, login: &str) {
        self.client.goto(&portal.url).await.unwrap();
        self.fill("#username", login).await;
        self.fill("#password", &format!("{login}-password")).await;
        self.click("#sign-in").await;
    }
}

/// The role names on the home page, in page order.
async fn role_names(b: &Browser) -> Vec<String> {
    b.wait("#roles").await;
    let mut names = Vec::new();
    for role in b
        .client
        .find_all(Locator::Css("#roles .role"))
        .await
        .unwrap()
    {
        names.push(role.text().await.unwrap());
    }
    names
}

async fn start(mode: portal::Mode) -> portal::Running {
    portal::start(portal::Options {
        mode,
        port: 0,
        db: None,
        // Always the sandbox here, whatever the environment says.
        tenant: None,
        ..portal::Options::default()
    })
    .await
    .unwrap()
}

fn available() -> bool {
    let present = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !present {
        let required = std::env::var("REQUIRE_BROWSER").is_ok_and(|v| !v.is_empty() && v != "0");
        assert!(!required, "REQUIRE_BROWSER is set but {SKIP}");
        println!("{SKIP}");
    }
    present
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duo_login_portal_in_headless_chromium() {
    if !available() {
        return;
    }
    let started = Instant::now();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start();
    let b = Browser {
        client: driver.browser().await,
        shots,
    };
    eprintln!("browser up after {:?}", started.elapsed());

    // --- Universal Prompt ------------------------------------------------------------------
    let universal = start(portal::Mode::Universal).await;
    let sandbox = universal.sandbox.as_ref().unwrap();

    // alice signs in with Okta (the sandbox's SAML IdP lists its directory), approves in Duo
    // and lands on the home page with the roles the sync gave her.
    b.client.goto(&universal.url).await.unwrap();
    assert!(b.text("#sandbox").await.contains(CAROL));
    b.shot("01-login").await;
    b.click("#sign-in-okta").await;
    let okta_page = b.client.current_url().await.unwrap();
    assert!(
        okta_page.path().ends_with("/sso/saml") && okta_page.as_str().contains("SAMLRequest="),
        "{okta_page}"
    );
    b.wait(&format!(r#"button[value="{ERIN}"]"#)).await;
    b.shot("02-okta-sign-in").await;
    b.click(&format!(r#"button[value="{ALICE}"]"#)).await;
    b.wait("#approve").await;
    let duo_user = b.text("#username").await;
    assert_eq!(
        Some(duo_user.as_str()),
        sandbox.duo().users().first().map(|u| u.username.as_str()),
        "the prompt is for alice's Duo user"
    );
    b.shot("03-universal-prompt").await;
    b.click("#approve").await;
    let roles = b.text("#roles").await;
    assert_eq!(role_names(&b).await, ["admin", "viewer"], "{roles}");
    assert!(roles.contains("from the Okta group sync"), "{roles}");
    assert_eq!(b.text("#user").await, ALICE);
    assert!(b.text("#duo").await.contains("Universal Prompt"));
    b.shot("04-home-alice").await;
    // The IdP signed her in once, answering the portal's request.
    let signed = sandbox.saml().saml_sign_ins();
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0].login, ALICE);
    assert!(signed[0].in_response_to.is_some());

    // The settings page checks keys with Duo before saving them.
    let auth = &sandbox.credentials().duo.auth;
    b.click("#settings").await;
    b.fill("#ikey", &auth.integration_key).await;
    b.fill("#skey", &"x".repeat(40)).await;
    b.fill("#host", &auth.api_host).await;
    b.click("#save-auth").await;
    let result = b.text("#result").await;
    assert!(
        result.contains("Not saved") && result.contains("secret key is wrong"),
        "{result}"
    );
    b.shot("05-settings-refused").await;
    b.fill("#ikey", &auth.integration_key).await;
    b.fill("#skey", &auth.secret_key).await;
    b.fill("#host", &auth.api_host).await;
    b.click("#save-auth").await;
    let result = b.text("#result.ok").await;
    assert!(result.starts_with("Saved"), "{result}");
    b.shot("06-settings-saved").await;

    // erin is in Okta but in no mapped group: the sync did not create her. Refused, with why.
    b.forget().await;
    b.okta(&universal, ERIN).await;
    let message = b.text("#message").await;
    assert!(
        message.contains("not provisioned in this portal"),
        "{message}"
    );
    assert!(message.contains("mapped Okta group"), "{message}");
    assert_eq!(b.text("#okta-user").await, ERIN);
    assert_eq!(
        b.client.title().await.unwrap(),
        "Not provisioned · Duo login portal"
    );
    b.shot("07-unknown-user-refused").await;
    b.client.goto(&universal.url).await.unwrap();
    assert!(
        b.client
            .current_url()
            .await
            .unwrap()
            .path()
            .ends_with("/login"),
        "not signed in"
    );

    // dave: Deny in the prompt.
    b.forget().await;
    b.okta(&universal, DAVE).await;
    b.click("#deny").await;
    let message = b.text("#message").await;
    assert!(message.contains("Duo denied access"), "{message}");
    assert_eq!(
        b.client.title().await.unwrap(),
        "Access denied · Duo login portal"
    );
    b.shot("08-universal-denied").await;

    // bob: a forged callback with another state is refused, and ends the pending sign-in.
    b.forget().await;
    b.okta(&universal, BOB).await;
    b.wait("#approve").await;
    let prompt = b.client.current_url().await.unwrap();
    let forged = format!(
        "{}/duo-callback?duo_code=forged&state={}",
        universal.url.trim_end_matches("/login"),
        "A".repeat(36)
    );
    b.client.goto(&forged).await.unwrap();
    let message = b.text("#message").await;
    assert!(message.contains("does not match"), "{message}");
    b.shot("09-tampered-state-refused").await;
    // Back to Duo: approving now brings a genuine answer, which finds nothing pending.
    b.client.goto(prompt.as_str()).await.unwrap();
    b.click("#approve").await;
    let message = b.text("#message").await;
    assert!(
        message.contains("No Duo sign-in is in progress"),
        "{message}"
    );
    b.shot("10-callback-after-refusal").await;
    eprintln!("universal scenarios done after {:?}", started.elapsed());
    universal.shutdown().await;

    // --- Auth API push -----------------------------------------------------------------------
    let push = start(portal::Mode::Push).await;
    b.forget().await;
    b.okta(&push, ALICE).await;
    assert!(b.text("#duo").await.contains("approved a Duo Push"));
    assert_eq!(role_names(&b).await, ["admin", "viewer"]);
    b.shot("11-push-home-alice").await;
    b.click("#logout").await;
    b.wait("#sign-in-okta").await;
    // Same IP as the approval a moment ago: the IP skip lets alice through without a push.
    b.okta(&push, ALICE).await;
    let duo = b.text("#duo").await;
    assert!(duo.contains("same IP address"), "{duo}");
    b.shot("12-push-ip-skip").await;

    // carol is not in Duo: the activation QR code, then (activation done) the push, then home.
    // The activation waits (an hour's delay) while the test looks at the QR code, and completes
    // at the page's next poll (every second) once the delay is zero.
    let duo = push.sandbox.as_ref().unwrap().duo();
    duo.set_enroll_delay(Duration::from_secs(3600));
    b.forget().await;
    b.okta(&push, CAROL).await;
    let qr = b.wait("#qr").await;
    assert!(qr.attr("src").await.unwrap().unwrap().contains("/frame/qr"));
    // The image itself loads (from the sandbox's Duo host).
    let looking = Instant::now();
    loop {
        let width = b
            .client
            .execute("const i = document.getElementById('qr'); return i && i.complete ? i.naturalWidth : 0;", vec![])
            .await;
        if width.is_ok_and(|w| w.as_u64().unwrap_or(0) > 0) {
            break;
        }
        assert!(
            looking.elapsed() < PAGE_TIMEOUT,
            "the activation QR code did not load"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        b.text("#status")
            .await
            .contains("Waiting for the activation")
    );
    b.shot("13-enroll-qr").await;
    duo.set_enroll_delay(Duration::ZERO);
    let roles = b.text("#roles").await;
    assert_eq!(role_names(&b).await, ["auditor", "viewer"], "{roles}");
    assert!(roles.contains("granted by hand"), "{roles}");
    b.shot("14-push-home-carol").await;

    // dave's push is denied.
    b.forget().await;
    b.okta(&push, DAVE).await;
    let message = b.text("#message").await;
    assert!(message.contains("Duo denied access"), "{message}");
    b.shot("15-push-denied").await;

    // A break-glass account: its password (not Okta), then Duo.
    b.forget().await;
    b.password(&push, ROOT).await;
    assert!(b.text("#duo").await.contains("approved a Duo Push"));
    assert_eq!(role_names(&b).await, ["admin"]);
    b.shot("16-push-break-glass").await;
    push.shutdown().await;

    b.client.close().await.unwrap();
    eprintln!("browser test done in {:?}", started.elapsed());
}

/// The access review's HTML page, as an auditor opens it: a file in the browser, its tables
/// present with one row per finding, portal user and Duo administrator, the findings above
/// everything else, and no script or request of its own (its CSP forbids both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_review_page_in_headless_chromium() {
    if !available() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/access-review-browser");
    let written = access_demo::run(&access_demo::Options {
        db: None,
        out: out.clone(),
        config: root.join("examples/okta_role_sync/config.toml"),
        auth: duo_okta_sdk::config::OktaAuth::Dpop,
        app_id: None,
        stale_days: 90,
        log_days: 90,
        privileged: Vec::new(),
        progress: false,
    })
    .await
    .unwrap();
    let report = written.report;
    let shots = root.join("target/browser-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let driver = Driver::start();
    let b = Browser {
        client: driver.browser().await,
        shots,
    };
    let page = out.join("review.html").canonicalize().unwrap();
    b.client
        .goto(&format!("file://{}", page.display()))
        .await
        .unwrap();
    b.wait("#findings").await;
    assert!(b.client.title().await.unwrap().starts_with("Access review"));
    let rows = |table: &'static str| {
        let client = b.client.clone();
        async move {
            client
                .find_all(Locator::Css(&format!("#{table} tbody tr")))
                .await
                .unwrap()
                .len()
        }
    };
    assert_eq!(rows("findings").await, report.findings.len());
    assert_eq!(rows("users").await, report.users.len());
    assert_eq!(rows("duo-admins").await, report.duo_admins.len());
    assert!(rows("counts").await >= 6);
    // The first finding row is the report's first (most serious) finding.
    let first = b.text("#findings tbody tr").await;
    assert!(first.contains(&report.findings[0].subject), "{first}");
    assert!(first.starts_with("high"), "{first}");
    // Findings come first on the page.
    let top = |css: &'static str| {
        let client = b.client.clone();
        async move {
            let element = client.find(Locator::Css(css)).await.unwrap();
            element.rectangle().await.unwrap().1
        }
    };
    assert!(top("#findings").await < top("#counts").await);
    assert!(top("#counts").await < top("#users").await);
    assert!(top("#users").await < top("#duo-admins").await);
    // The fingerprint shown is the report's.
    assert_eq!(b.text("#fingerprint").await, report.fingerprint);
    // Nothing ran and nothing was fetched: no script elements, one resource (the page).
    let scripts = b
        .client
        .find_all(Locator::Css("script, img, link, iframe"))
        .await
        .unwrap();
    assert!(scripts.is_empty());
    b.shot("20-access-review").await;
    b.client.close().await.unwrap();
}
