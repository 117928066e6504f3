//! The `duo_login_portal` example attacked over HTTP, as integrators will copy it: the same
//! `start` function its `main` calls, driven with plain requests (no browser), Duo being the
//! in-process sandbox. Sessions, CSRF, the 2FA bypass attempts and revocation are in
//! `tests/portal_sessions.rs`.
//!
//! Password sign-in is for the break-glass accounts (`root`, `oncall`); everyone else signs in
//! with Okta (the sandbox's SAML IdP), whose attacks are in `tests/portal_sessions.rs`.
//!
//! - **Brute force**: an account locks at the fifth wrong password in a row (429 with
//!   `Retry-After`, the right password refused too, an unknown login locked the same way so that
//!   a lockout tells nothing about which accounts exist), other accounts keep working; one
//!   address trying many logins is locked out, other addresses are not; both lockouts write a
//!   `portal::audit` line.
//! - **Argon2** runs on the blocking pool, never on the async runtime's thread, at most one
//!   check per core; one more waits for a slot and gets 503 — checked by parking the checks
//!   inside their tracing span, no timing involved.
//! - **Forwarded headers**: the "same IP as last time" Duo skip compares the socket's peer
//!   address; `X-Forwarded-For` / `Forwarded` from a client buy nothing; behind a proxy the
//!   integrator listed as trusted, only the entry that proxy added counts.
//! - **Escaping**: hostile names and groups from the directory and hostile text in Duo's answer
//!   are shown escaped.
//! - **Headers**: CSP without inline script, `frame-ancestors 'none'`, Referrer-Policy,
//!   `no-store`, on every answer, the signed-in pages included.
//! - **Limits**: an oversized body (413), a wrong content type (415), a long URI (414), huge
//!   headers (431) and bytes that are not HTTP (400) are refused, while a stuck connection is
//!   open, and the portal keeps serving everyone else.
//! - **Authorization**: the settings (an administrator's action) are refused to a signed-in
//!   viewer, with a valid CSRF token, and to anonymous visitors; nothing is saved.
#![allow(clippy::unwrap_used)]

#[path = "../examples/duo_login_portal/portal/mod.rs"]
#[allow(dead_code)]
mod portal;
mod portal_support;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::ThreadId;

use portal::demo::{ALICE, BOB};
use portal_support::{StoreFile, Visitor, start, start_mode};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use role_sync::Policy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// The break-glass accounts: the only ones with a password (`{login}-password`).
const ROOT: &str = portal::demo::BREAK_GLASS[0].0;
const ONCALL: &str = portal::demo::BREAK_GLASS[1].0;

/// An address of this machine's loopback other than 127.0.0.1: a client of its own.
fn loopback(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, n))
}

// --- What the portal logs and where Argon2 runs: one subscriber for the whole test binary ---

/// The `portal::audit` lines, and the probe in the Argon2 span.
struct Observed {
    audit: Arc<Mutex<Vec<u8>>>,
    probe: &'static Probe,
}

impl Observed {
    fn audit_lines(&self) -> Vec<String> {
        let bytes = self.audit.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The portal's events go to every thread's subscriber (Argon2 runs on tokio's blocking pool),
/// so a global one, installed once.
fn observed() -> &'static Observed {
    static OBSERVED: OnceLock<Observed> = OnceLock::new();
    OBSERVED.get_or_init(|| {
        static PROBE: OnceLock<Probe> = OnceLock::new();
        let probe = PROBE.get_or_init(Probe::default);
        let audit = Arc::new(Mutex::new(Vec::new()));
        let sink = audit.clone();
        let audit_layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .with_filter(Targets::new().with_target("portal::audit", tracing::Level::INFO));
        let probe_layer = ProbeLayer(probe)
            .with_filter(Targets::new().with_target("portal::password", tracing::Level::TRACE));
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry()
                .with(audit_layer)
                .with(probe_layer),
        )
        .unwrap();
        Observed { audit, probe }
    })
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logins whose Argon2 check the probe watches (the other tests' checks pass untouched).
const PARKED: &str = "parked-";

/// What the probe saw of the watched checks.
#[derive(Debug, Default, Clone, Copy)]
struct Seen {
    /// Checks inside the span now (off the runtime's thread).
    inside: usize,
    /// The most at once.
    peak: usize,
    /// Checks that entered the span.
    entered: usize,
    /// Checks that ran on the async runtime's own thread.
    on_runtime: usize,
}

/// Parks the first `park` watched checks inside their span until released: a hand-over, so the
/// test knows every slot is taken without guessing how long a check lasts.
struct Probe {
    state: Mutex<ProbeState>,
    released: Condvar,
    seen: tokio::sync::watch::Sender<Seen>,
}

#[derive(Default)]
struct ProbeState {
    runtime: Option<ThreadId>,
    park: usize,
    released: bool,
    seen: Seen,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            state: Mutex::default(),
            released: Condvar::new(),
            seen: tokio::sync::watch::Sender::new(Seen::default()),
        }
    }
}

impl Probe {
    fn arm(&self, runtime: ThreadId, park: usize) {
        let mut state = self.state.lock().unwrap();
        state.runtime = Some(runtime);
        state.park = park;
    }

    fn release(&self) {
        self.state.lock().unwrap().released = true;
        self.released.notify_all();
    }

    fn entered(&self) {
        let mut state = self.state.lock().unwrap();
        state.seen.entered += 1;
        if state.runtime == Some(std::thread::current().id()) {
            state.seen.on_runtime += 1;
            self.seen.send_replace(state.seen);
            return;
        }
        state.seen.inside += 1;
        state.seen.peak = state.seen.peak.max(state.seen.inside);
        self.seen.send_replace(state.seen);
        if state.seen.inside <= state.park {
            // A blocking-pool thread: waiting here holds the check's slot, nothing else.
            while !state.released {
                state = self.released.wait(state).unwrap();
            }
        }
    }

    fn left(&self) {
        let mut state = self.state.lock().unwrap();
        if state.runtime != Some(std::thread::current().id()) {
            state.seen.inside -= 1;
            self.seen.send_replace(state.seen);
        }
    }
}

/// Releases the parked checks when dropped: a failed assertion must not leave them parked, or
/// the runtime's shutdown (which waits for blocking tasks) would hang instead of failing.
struct Release(&'static Probe);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.release();
    }
}

struct ProbeLayer(&'static Probe);

/// Marks a span the probe watches.
struct Watched;

#[derive(Default)]
struct LoginField(String);

impl tracing::field::Visit for LoginField {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "login" {
            self.0 = format!("{value:?}");
        }
    }
}

impl<S: tracing::Subscriber + for<'a> LookupSpan<'a>> Layer<S> for ProbeLayer {
    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut login = LoginField::default();
        attrs.record(&mut login);
        if attrs.metadata().name() == "argon2"
            && login.0.starts_with(PARKED)
            && let Some(span) = ctx.span(id)
        {
            span.extensions_mut().insert(Watched);
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if ctx
            .span(id)
            .is_some_and(|s| s.extensions().get::<Watched>().is_some())
        {
            self.0.entered();
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, ctx: Context<'_, S>) {
        if ctx
            .span(id)
            .is_some_and(|s| s.extensions().get::<Watched>().is_some())
        {
            self.0.left();
        }
    }
}

// --- Brute force -----------------------------------------------------------------------------

#[tokio::test]
async fn repeated_wrong_passwords_lock_the_account_not_the_others() {
    let observed = observed();
    let running = start_mode(portal::Mode::Universal).await;
    let mut attacker = Visitor::new(&running.url);

    // Five wrong passwords: each answered as an ordinary "wrong password" (back to the form);
    // the fifth locks the account for 30 s …
    for _ in 0..5 {
        let answer = attacker.password(ROOT, "guess").await;
        assert!(answer.redirects_to("/login"), "{answer:?}");
    }
    let answer = attacker.password(ROOT, "root-password").await;
    assert_eq!(
        answer.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the right password is refused too"
    );
    let retry: u64 = answer.header("retry-after").parse().unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    // … whoever asks, and whatever the case of the login.
    let mut owner = Visitor::new(&running.url);
    let answer = owner.password("ROOT", "root-password").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);

    // Another account signs in (the password step passes: on to Duo's prompt).
    owner.password_prompt(ONCALL).await;

    // A login that does not exist locks exactly like one that does.
    for _ in 0..5 {
        let answer = attacker.password("no.such.user", "guess").await;
        assert!(answer.redirects_to("/login"), "{answer:?}");
    }
    let answer = attacker.password("no.such.user", "guess").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS);
    answer.header("retry-after");

    // The operator's audit trail says so, once per lockout.
    let locked: Vec<String> = observed
        .audit_lines()
        .into_iter()
        .filter(|l| l.contains("account locked after repeated wrong passwords"))
        .collect();
    for login in [ROOT, "no.such.user"] {
        let lines: Vec<&String> = locked
            .iter()
            .filter(|l| l.contains(&format!("login={login} ")))
            .collect();
        assert_eq!(lines.len(), 1, "{login}: {locked:#?}");
        assert!(lines[0].contains("WARN"), "{}", lines[0]);
        assert!(lines[0].contains("locked_secs=30"), "{}", lines[0]);
        assert!(lines[0].contains("source=127.0.0.1"), "{}", lines[0]);
    }
    running.shutdown().await;
}

#[tokio::test]
async fn an_address_trying_many_logins_is_locked_out() {
    let observed = observed();
    let running = start_mode(portal::Mode::Universal).await;
    // Password spraying: one wrong password for each of many logins, so no account locks.
    let mut sprayer = Visitor::from_address(&running.url, loopback(2));
    for i in 0..30 {
        let answer = sprayer.password(&format!("spray-{i}"), "Summer2025!").await;
        assert!(answer.redirects_to("/login"), "{i}: {answer:?}");
    }
    let answer = sprayer.password(ROOT, "root-password").await;
    assert_eq!(answer.status, StatusCode::TOO_MANY_REQUESTS, "{answer:?}");
    assert!(answer.header("retry-after").parse::<u64>().unwrap() > 0);
    // Other addresses are not locked out, for the same account either.
    let mut neighbour = Visitor::from_address(&running.url, loopback(3));
    neighbour.password_prompt(ROOT).await;

    let lines: Vec<String> = observed
        .audit_lines()
        .into_iter()
        .filter(|l| l.contains("source address locked out"))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert!(
        lines[0].contains("WARN") && lines[0].contains("source=127.0.0.2"),
        "{}",
        lines[0]
    );
    running.shutdown().await;
}

#[tokio::test]
async fn argon2_runs_off_the_async_runtime_at_most_one_check_per_core() {
    let probe = observed().probe;
    let slots = portal::app::password_check_slots();
    // This test's runtime is single-threaded: its thread is the one the portal's handlers run
    // on, and Argon2 must never run there.
    probe.arm(std::thread::current().id(), slots);
    let release = Release(probe);
    let mut seen = probe.seen.subscribe();
    let running = start_mode(portal::Mode::Universal).await;

    // As many sign-ins as there are slots; each check parks inside Argon2 once it is running.
    let mut logins = tokio::task::JoinSet::new();
    for i in 0..slots {
        let url = running.url.clone();
        logins.spawn(async move {
            let mut visitor = Visitor::new(&url);
            visitor
                .password(&format!("{PARKED}{i}"), "guess")
                .await
                .status
        });
    }
    tokio::select! {
        result = seen.wait_for(|s| s.inside == slots || s.on_runtime > 0) => {
            let now = *result.unwrap();
            assert_eq!(now.on_runtime, 0, "Argon2 ran on the async runtime's thread: {now:?}");
        }
        () = async { while logins.join_next().await.is_some() {} } => {
            panic!("the checks finished without ever all running at once: {:?}", *probe.seen.borrow());
        }
    }

    // Every slot is taken, and the portal still answers on its runtime …
    let mut other = Visitor::new(&running.url);
    assert_eq!(other.get("/login").await.status, StatusCode::OK);
    // … but one more check does not start: it waits for a slot, none frees up, and the answer
    // is 503 after the portal's queue wait.
    let extra = other.password(&format!("{PARKED}extra"), "guess").await;
    assert_eq!(extra.status, StatusCode::SERVICE_UNAVAILABLE, "{extra:?}");

    drop(release);
    while let Some(status) = logins.join_next().await {
        assert_eq!(status.unwrap(), StatusCode::SEE_OTHER);
    }
    let seen = *seen.borrow();
    assert_eq!(seen.on_runtime, 0, "{seen:?}");
    assert_eq!(seen.peak, slots, "{seen:?}");
    assert_eq!(seen.entered, slots, "the extra check never ran: {seen:?}");
    running.shutdown().await;
}

// --- The same-IP skip and forwarded headers --------------------------------------------------

/// Push mode: the password step, then the push (the sandbox approves); asserts it signs in.
async fn push_sign_in(visitor: &mut Visitor, login: &str, headers: &[(&str, &str)]) {
    let csrf = visitor.login_form().await;
    let answer = visitor
        .submit_password(login, &format!("{login}-password"), &csrf, headers)
        .await;
    assert!(answer.redirects_to("/duo/push"), "{answer:?}");
    let pushed = visitor.push().await;
    assert!(pushed.body.contains(r#""next":"/""#), "{pushed:?}");
}

/// Push mode: the password step; where it leads (`/` when Duo was skipped, `/duo/push` when
/// Duo asks).
async fn after_password(visitor: &mut Visitor, login: &str, headers: &[(&str, &str)]) -> String {
    // A new browser session each time: what the skip looks at is the address, not the session.
    visitor.cookie = None;
    let csrf = visitor.login_form().await;
    let answer = visitor
        .submit_password(login, &format!("{login}-password"), &csrf, headers)
        .await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    answer.location
}

#[tokio::test]
async fn forwarded_headers_from_a_client_do_not_buy_the_same_ip_skip() {
    let running = start_mode(portal::Mode::Push).await;
    // The break-glass account's owner approves a push from their address.
    let mut alice = Visitor::from_address(&running.url, loopback(2));
    push_sign_in(&mut alice, ROOT, &[]).await;

    // An attacker with the password, elsewhere, claims to be at that address: Duo is asked.
    let mut attacker = Visitor::from_address(&running.url, loopback(3));
    let claims = [
        ("x-forwarded-for", "127.0.0.2"),
        ("forwarded", "for=127.0.0.2"),
        ("x-real-ip", "127.0.0.2"),
    ];
    assert_eq!(
        after_password(&mut attacker, ROOT, &claims).await,
        "/duo/push"
    );
    // From that address itself the skip works (so the refusal above is the header's doing).
    assert_eq!(after_password(&mut alice, ROOT, &[]).await, "/");
    assert!(alice.get("/").await.body.contains("same IP address"));

    // Signing in with Okta alike: the address is the one that finishes the sign-in at the
    // portal (`/saml/continue`), never one a header names.
    let mut alice = Visitor::from_address(&running.url, loopback(7));
    assert!(alice.saml(ALICE).await.redirects_to("/duo/push"));
    assert!(alice.push().await.body.contains(r#""next":"/""#));
    let mut attacker = Visitor::from_address(&running.url, loopback(8));
    let claims = [
        ("x-forwarded-for", "127.0.0.7"),
        ("forwarded", "for=127.0.0.7"),
    ];
    assert_eq!(after_okta(&mut attacker, ALICE, &claims).await, "/duo/push");
    assert_eq!(after_okta(&mut alice, ALICE, &[]).await, "/");
    running.shutdown().await;
}

/// Push mode: the SAML sign-in, finished with these headers; where it leads.
async fn after_okta(visitor: &mut Visitor, login: &str, headers: &[(&str, &str)]) -> String {
    visitor.cookie = None;
    let idp = visitor.saml_start().await;
    let posted = portal_support::okta_signs_in(&idp, login).await;
    let at_acs = visitor.post_to_acs(&posted).await;
    let mut request = visitor
        .http
        .get(format!("{}{}", visitor.base, at_acs.location));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let answer = visitor.send(request).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{answer:?}");
    answer.location
}

#[tokio::test]
async fn behind_a_trusted_proxy_only_the_address_it_saw_counts() {
    let proxy = loopback(5);
    let running = start(portal::Options {
        mode: portal::Mode::Push,
        trusted_proxies: vec![proxy],
        ..Default::default()
    })
    .await;
    // Through the proxy: it appends the address it saw to X-Forwarded-For.
    let mut via_proxy = Visitor::from_address(&running.url, proxy);
    let alice_at_home = [("x-forwarded-for", "198.51.100.7")];
    push_sign_in(&mut via_proxy, ROOT, &alice_at_home).await;

    // Another client behind the proxy.
    let elsewhere = [("x-forwarded-for", "198.51.100.8")];
    assert_eq!(
        after_password(&mut via_proxy, ROOT, &elsewhere).await,
        "/duo/push"
    );
    // The same client writing alice's address in the header itself: the proxy appends the
    // real one, and only that is read.
    let spoofed = [("x-forwarded-for", "198.51.100.7, 198.51.100.8")];
    assert_eq!(
        after_password(&mut via_proxy, ROOT, &spoofed).await,
        "/duo/push"
    );
    // A client reaching the portal directly is not a proxy, whatever it sends.
    let mut direct = Visitor::from_address(&running.url, loopback(6));
    assert_eq!(
        after_password(&mut direct, ROOT, &alice_at_home).await,
        "/duo/push"
    );
    // A trusted proxy that does not say who the client is: refused, not guessed.
    let csrf = via_proxy.login_form().await;
    let unknown = via_proxy
        .submit_password(ROOT, "root-password", &csrf, &[])
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{unknown:?}");
    // alice at home again, through the proxy: skipped.
    assert_eq!(
        after_password(&mut via_proxy, ROOT, &alice_at_home).await,
        "/"
    );
    running.shutdown().await;
}

// --- What pages show, and the headers they carry ---------------------------------------------

/// A directory entry an attacker controls: a display name and a group name, with the role the
/// portal maps that group to.
const HOSTILE_LOGIN: &str = r#"<script>alert('x')</script>"&"#;
const HOSTILE_GROUP: &str = r#"Ops & "Admins" <img src=x onerror=alert(1)>"#;
const HOSTILE_ROLE: &str = r#"<b onmouseover='alert(2)'>"role"</b>&"#;

fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[tokio::test]
async fn names_and_groups_from_okta_and_text_from_duo_are_escaped() {
    let db = StoreFile::new("escaping");
    let running = start(portal::Options {
        db: Some(db.path().to_owned()),
        ..Default::default()
    })
    .await;
    // The user comes from the directory with a hostile name, in a hostile group; the sync maps
    // the group to a hostile role name. Okta (the sandbox's directory) has the same user.
    let store = db.open();
    running
        .sandbox
        .as_ref()
        .unwrap()
        .okta()
        .add_user(idp_sandbox::okta::NewOktaUser::new(HOSTILE_LOGIN))
        .unwrap();
    let mapping = portal::demo::role_mapping().map(HOSTILE_GROUP, [HOSTILE_ROLE, "viewer"]);
    let hostile = (HOSTILE_GROUP, "00u9hostile", HOSTILE_LOGIN);
    let members = portal::demo::MEMBERSHIPS.iter().chain([&hostile]);
    portal::demo::sync_roles(
        &store,
        &mapping,
        &portal::demo::directory(members),
        &Policy::default(),
    )
    .unwrap();
    assert!(
        store
            .roles(HOSTILE_LOGIN)
            .unwrap()
            .contains(&HOSTILE_ROLE.to_owned())
    );

    let mut visitor = Visitor::new(&running.url);
    let prompt = visitor.open_prompt(HOSTILE_LOGIN).await;
    let callback = portal_support::duo_decides(&prompt, true).await;
    assert!(visitor.get(&callback).await.redirects_to("/"));
    let home = visitor.get("/").await;
    assert_eq!(home.status, StatusCode::OK, "{home:?}");
    assert!(home.body.contains(&escaped(HOSTILE_LOGIN)), "{}", home.body);
    assert!(home.body.contains(&escaped(HOSTILE_ROLE)), "{}", home.body);
    for raw in ["<script>", "<b ", "<img", "'x'", "\"role\"</b>"] {
        assert!(!home.body.contains(raw), "{raw} unescaped: {}", home.body);
    }

    // Duo's answer names the error; a forged one (with the right state) carries markup.
    let mut bob = Visitor::new(&running.url);
    let prompt = bob.open_prompt(BOB).await;
    let denied = portal_support::duo_decides(&prompt, false).await;
    let mut callback = reqwest::Url::parse(&denied).unwrap();
    callback
        .query_pairs_mut()
        .append_pair("error", "<script>alert(3)</script>")
        .append_pair("error_description", "<img src=x onerror=alert(4)>");
    assert!(bob.get(callback.as_str()).await.redirects_to("/denied"));
    let denied = bob.get("/denied").await;
    assert!(
        denied
            .body
            .contains("&lt;script&gt;alert(3)&lt;/script&gt; &lt;img src=x onerror=alert(4)&gt;"),
        "{}",
        denied.body
    );
    assert!(!denied.body.contains("<script>") && !denied.body.contains("<img"));
    running.shutdown().await;
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let running = start_mode(portal::Mode::Push).await;
    let mut anonymous = Visitor::new(&running.url);
    let mut alice = Visitor::new(&running.url);
    let at_okta = alice.saml(ALICE).await;
    assert!(at_okta.redirects_to("/duo/push"), "{at_okta:?}");
    assert!(alice.push().await.body.contains(r#""next":"/""#));
    for (path, signed_in) in [
        ("/login", false),
        ("/saml/login", false),
        ("/saml/metadata", false),
        ("/saml/continue?t=x", false),
        ("/", true),
        ("/settings", true),
        ("/", false),
        ("/static/poll.js", false),
        ("/no-such-page", false),
    ] {
        let visitor = if signed_in {
            &mut alice
        } else {
            &mut anonymous
        };
        let answer = visitor.get(path).await;
        let csp = answer.header("content-security-policy");
        let script_src = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap_or_else(|| panic!("{path}: no script-src in {csp}"));
        assert_eq!(
            script_src, "script-src 'self'",
            "{path}: inline scripts refused"
        );
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert_eq!(answer.header("x-frame-options"), "DENY");
        assert_eq!(answer.header("x-content-type-options"), "nosniff");
        assert_eq!(answer.header("cache-control"), "no-store");
        assert_eq!(answer.header("referrer-policy"), "same-origin");
    }
    // The signed-in pages were the real ones, not redirects.
    let home = alice.get("/").await;
    assert!(home.body.contains(r#"id="roles""#), "{home:?}");
    // No page of the portal has an inline script left (the CSP would block it).
    let login = anonymous.get("/login").await;
    assert!(!login.body.contains("<script>"), "{}", login.body);
    running.shutdown().await;
}

// --- Oversized and malformed requests ----------------------------------------------------------

/// Sends raw bytes on a new connection; what comes back until the portal closes it.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn oversized_and_malformed_requests_are_refused_and_others_still_served() {
    let running = start_mode(portal::Mode::Universal).await;
    // A client that started a request and never finishes it holds its connection throughout.
    let mut stuck = tokio::net::TcpStream::connect(running.addr).await.unwrap();
    stuck
        .write_all(
            b"POST /login HTTP/1.1\r\nHost: portal\r\nContent-Length: 100000\r\n\r\nusername=",
        )
        .await
        .unwrap();

    let mut visitor = Visitor::new(&running.url);
    let csrf = visitor.login_form().await;
    // A form far larger than the portal's forms (its fields are otherwise valid).
    let padding = "a".repeat(64 * 1024);
    let answer = visitor
        .post(
            "/login",
            &[("username", &padding), ("password", "x"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{answer:?}");
    // Not a form.
    for content_type in [Some("application/json"), None] {
        let mut request = visitor
            .http
            .post(format!("{}/login", visitor.base))
            .body(r#"{"username":"alice"}"#);
        if let Some(t) = content_type {
            request = request.header(CONTENT_TYPE, t);
        }
        let answer = visitor.send(request).await;
        assert_eq!(
            answer.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}: {answer:?}"
        );
    }
    // A long address; huge headers (one, or many).
    let answer = visitor
        .get(&format!("/login?q={}", "a".repeat(8 * 1024)))
        .await;
    assert_eq!(answer.status, StatusCode::URI_TOO_LONG, "{answer:?}");
    let big = "b".repeat(20 * 1024);
    let request = visitor
        .http
        .get(format!("{}/login", visitor.base))
        .header("x-big", &big);
    assert_eq!(
        visitor.send(request).await.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let mut request = visitor.http.get(format!("{}/login", visitor.base));
    for i in 0..90 {
        request = request.header(format!("x-many-{i}"), "c".repeat(200));
    }
    assert_eq!(
        visitor.send(request).await.status,
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    // Bytes that are not HTTP; a header line without a colon.
    for garbage in [
        &b"NOT HTTP AT ALL\r\n\r\n"[..],
        b"GET /login HTTP/1.1\r\nHost: portal\r\nno colon here\r\n\r\n",
    ] {
        let answer = raw(running.addr, garbage).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    }

    // The ACS URL takes larger bodies (a Response with many groups), within a bound too.
    let huge = "A".repeat(2 * 1024 * 1024);
    let answer = visitor.post("/saml/acs", &[("SAMLResponse", &huge)]).await;
    assert_eq!(answer.status, StatusCode::PAYLOAD_TOO_LARGE, "{answer:?}");

    // Meanwhile everyone else is served: a sign-in goes through Okta, and a break-glass
    // account through the password step.
    let mut other = Visitor::new(&running.url);
    other.open_prompt(ALICE).await;
    other.password_prompt(ROOT).await;
    drop(stuck);
    running.shutdown().await;
}

// --- Authorization -----------------------------------------------------------------------------

#[tokio::test]
async fn only_administrators_reach_the_settings() {
    let db = StoreFile::new("admin");
    let running = start(portal::Options {
        db: Some(db.path().to_owned()),
        ..Default::default()
    })
    .await;
    let auth = running
        .sandbox
        .as_ref()
        .unwrap()
        .credentials()
        .duo
        .auth
        .clone();
    let keys = [
        ("ikey", auth.integration_key.as_str()),
        ("skey", auth.secret_key.as_str()),
        ("host", auth.api_host.as_str()),
    ];

    // bob is a viewer: no link, no page, and no save even with his own valid token.
    let mut bob = Visitor::new(&running.url);
    bob.sign_in(BOB).await;
    let home = bob.get("/").await;
    assert!(!home.body.contains(r#"href="/settings""#));
    assert_eq!(bob.get("/settings").await.status, StatusCode::FORBIDDEN);
    let mut form = keys.to_vec();
    let csrf = home.csrf();
    form.push(("csrf", &csrf));
    for path in ["/settings/auth", "/settings/universal"] {
        let refused = bob.post(path, &form).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{path}: {refused:?}");
    }
    // Nobody signed in: the login form.
    let mut anonymous = Visitor::new(&running.url);
    assert!(anonymous.get("/settings").await.redirects_to("/login"));
    assert!(
        anonymous
            .post("/settings/auth", &keys)
            .await
            .redirects_to("/login")
    );
    let store = db.open();
    assert_eq!(store.setting("duo.auth.ikey").unwrap(), None);

    // alice, an administrator, gets the page.
    let mut alice = Visitor::new(&running.url);
    alice.sign_in(ALICE).await;
    assert!(alice.get("/").await.body.contains(r#"href="/settings""#));
    assert_eq!(alice.get("/settings").await.status, StatusCode::OK);
    running.shutdown().await;
}
