//! The HTTP client against the loopback sandbox: every auth type end to end, the DPoP nonce
//! dance, the token cache, rate limits, retries and complete-or-error snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use common::Recorder;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use futures::TryStreamExt as _;
use idp_sandbox::okta::{OktaEndpoint, OktaServiceApp};
use idp_sandbox::{Fault, FaultKind, Sandbox};
use okta_client::error::{AuthScheme, ErrorSource};
use okta_client::key::PrivateKey;
use okta_client::rate_limit::{GiveUpReason, RateLimitKind, RetryPolicy};
use okta_client::runtime::SleepFuture;
use okta_client::{
    ApiToken, Dpop, Error, GroupQuery, OktaClient, OktaDomain, PrivateKeyJwt, Runtime, TokenType,
};

async fn sandbox() -> Sandbox {
    Sandbox::builder()
        .seed(11)
        .users(120)
        .groups(6)
        .start()
        .await
        .unwrap()
}

fn domain(sb: &Sandbox) -> OktaDomain {
    sb.credentials().okta.org_url.parse().unwrap()
}

fn ssws(sb: &Sandbox) -> okta_client::OktaClientBuilder {
    OktaClient::builder(
        domain(sb),
        ApiToken::new(&sb.credentials().okta.api_token).unwrap(),
    )
}

fn pkjwt(app: &OktaServiceApp, key: PrivateKey) -> PrivateKeyJwt {
    PrivateKeyJwt::builder(&app.client_id, key)
        .scopes(&app.scopes)
        .build()
        .unwrap()
}

/// bearer_rsa with its PKCS#8 PEM key.
fn bearer(sb: &Sandbox) -> okta_client::OktaClientBuilder {
    let app = &sb.credentials().okta.bearer_rsa;
    let key = PrivateKey::from_pem(&app.key.private_pem)
        .unwrap()
        .with_kid(&app.key.kid);
    OktaClient::builder(domain(sb), pkjwt(app, key))
}

/// dpop_rsa with its JWK key (the kid comes with the JWK).
fn dpop_rsa(sb: &Sandbox) -> okta_client::OktaClientBuilder {
    let app = &sb.credentials().okta.dpop_rsa;
    let key = PrivateKey::from_jwk(&app.key.private_jwk).unwrap();
    let creds = Dpop::builder(pkjwt(app, key)).build().unwrap();
    OktaClient::builder(domain(sb), creds)
}

/// dpop_ec with a PEM key and the kid given explicitly (the app has two keys).
fn dpop_ec(sb: &Sandbox) -> okta_client::OktaClientBuilder {
    let app = &sb.credentials().okta.dpop_ec;
    let key = PrivateKey::from_pem(&app.key.private_pem).unwrap();
    let client = PrivateKeyJwt::builder(&app.client_id, key)
        .kid(&app.key.kid)
        .scopes(&app.scopes)
        .build()
        .unwrap();
    OktaClient::builder(domain(sb), Dpop::builder(client).build().unwrap())
}

/// The group with the most members.
fn biggest_group(sb: &Sandbox) -> String {
    sb.okta()
        .groups()
        .into_iter()
        .max_by_key(|g| g.members)
        .unwrap()
        .id
}

/// Waits until `n` requests to `path_prefix` are held by a `Hold` or `Barrier` fault. The 30 s
/// limit is a liveness guard: it fails only a test that is stuck.
async fn until_held(sb: &Sandbox, path_prefix: &str, n: u32) {
    tokio::time::timeout(
        Duration::from_secs(30),
        sb.faults().until_held(path_prefix, n),
    )
    .await
    .unwrap_or_else(|_| panic!("{n} request(s) to {path_prefix} never arrived"));
}

async fn assert_matches_sandbox(sb: &Sandbox, client: &OktaClient, name: &str) {
    let groups = client.groups(&GroupQuery::new()).await.unwrap();
    let want: Vec<(String, String, Option<String>, String)> = sb
        .okta()
        .groups()
        .into_iter()
        .map(|g| {
            (
                g.id,
                g.name,
                g.description,
                g.group_type.as_str().to_string(),
            )
        })
        .collect();
    let got: Vec<(String, String, Option<String>, String)> = groups
        .iter()
        .map(|g| {
            (
                g.id.clone(),
                g.profile.name.clone(),
                g.profile.description.clone(),
                g.group_type.as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(got, want, "{name}: groups");

    let gid = biggest_group(sb);
    let members = client.group_members(&gid).await.unwrap();
    let want: Vec<(String, String, String, Option<String>, String)> = sb
        .okta()
        .members(&gid)
        .unwrap()
        .into_iter()
        .map(|u| {
            (
                u.id,
                u.login,
                u.email,
                u.last_name,
                u.status.as_str().to_string(),
            )
        })
        .collect();
    let got: Vec<(String, String, String, Option<String>, String)> = members
        .iter()
        .map(|u| {
            (
                u.id.clone(),
                u.profile.login.clone(),
                u.profile.email.clone().unwrap(),
                u.profile.last_name.clone(),
                u.status.as_str().to_string(),
            )
        })
        .collect();
    assert!(want.len() > 20, "{name}: the group should span pages");
    assert_eq!(got, want, "{name}: members of {gid}");
}

#[tokio::test]
async fn every_auth_type_lists_groups_and_all_members() {
    let sb = sandbox().await;
    // Small member pages so that page 2+ proofs (new jti, ath, htu without the query) are
    // exercised for the DPoP clients.
    for (name, builder) in [
        ("ssws", ssws(&sb)),
        ("bearer_rsa/pem", bearer(&sb)),
        ("dpop_rsa/jwk", dpop_rsa(&sb)),
        ("dpop_ec/kid", dpop_ec(&sb)),
    ] {
        sb.okta().reset_counters();
        let client = builder.member_page_limit(7).build().unwrap();
        assert_matches_sandbox(&sb, &client, name).await;
        let c = sb.okta().counters();
        assert!(
            c.group_members_requests >= 3,
            "{name}: {c:?} should be several pages"
        );
        assert_eq!(c.rate_limited, 0);
        let info = client.token_info().await.unwrap();
        match name {
            "ssws" => assert!(info.is_none()),
            "bearer_rsa/pem" => assert_eq!(info.unwrap().token_type, TokenType::Bearer),
            _ => assert_eq!(info.unwrap().token_type, TokenType::Dpop),
        }
        assert!(client.last_rate_limit().unwrap().limit.is_some());
    }
}

#[tokio::test]
async fn expand_stats_gives_each_group_its_member_count() {
    let sb = sandbox().await;
    let client = ssws(&sb).build().unwrap();
    // Pages of 2, so that the count must survive the next links too.
    let expanded = client
        .groups(&GroupQuery::new().limit(2).expand_stats())
        .await
        .unwrap();
    let want: Vec<(String, Option<u64>)> = sb
        .okta()
        .groups()
        .into_iter()
        .map(|g| (g.id, Some(g.members as u64)))
        .collect();
    let got: Vec<(String, Option<u64>)> = expanded
        .iter()
        .map(|g| (g.id.clone(), g.users_count()))
        .collect();
    assert_eq!(got, want);
    // Not asked for: no `_embedded`, no count, and the groups decode all the same.
    let plain = client.groups(&GroupQuery::new()).await.unwrap();
    assert_eq!(plain.len(), expanded.len());
    for (p, e) in plain.iter().zip(&expanded) {
        assert_eq!(p.users_count(), None);
        assert!(!p.extra.contains_key("_embedded"));
        assert_eq!((&p.id, &p.profile), (&e.id, &e.profile));
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn dpop_nonce_dance_then_nonce_reuse_and_invalid_token_refetch() {
    let sb = sandbox().await;
    let client = dpop_rsa(&sb).build().unwrap();
    sb.okta().reset_counters();
    let info = client.token_info().await.unwrap().unwrap();
    assert_eq!(info.token_type, TokenType::Dpop);
    let c = sb.okta().counters();
    assert_eq!(
        (c.token_requests, c.tokens_issued),
        (2, 1),
        "proof without nonce, then use_dpop_nonce, then one retry"
    );

    // The server expires the token; the client's cache still thinks it is good, so the next
    // call gets 401 invalid_token, drops it and fetches a new one with the remembered nonce:
    // one POST, not two.
    sb.okta().expire_tokens();
    let gid = biggest_group(&sb);
    let members = client.group_members(&gid).await.unwrap();
    assert_eq!(members.len(), sb.okta().members(&gid).unwrap().len());
    let c = sb.okta().counters();
    assert_eq!(
        (c.token_requests, c.tokens_issued),
        (3, 2),
        "one token POST with the remembered nonce"
    );
    assert_eq!(client.token_requests_sent(), 3);
}

/// 100 callers on a cold cache, on several worker threads: one token for all of them. For
/// DPoP that is exactly two POSTs (the proof without a nonce, answered `use_dpop_nonce`, then one
/// with the nonce and a new assertion) and one issued token, which every resource request uses.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_callers_share_one_token_request() {
    let sb = sandbox().await;
    sb.okta().record_requests(true);
    for (name, builder, posts) in [
        ("bearer", bearer(&sb), 1),
        ("dpop_ec", dpop_ec(&sb), 2),
        ("dpop_rsa", dpop_rsa(&sb), 2),
    ] {
        let client = builder.build().unwrap();
        // 100 listings of three pages each: a fresh per-minute budget for every client.
        sb.okta().reset_rate_limits();
        sb.okta().reset_counters();
        sb.okta().clear_requests();
        let calls = (0..100).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.groups(&GroupQuery::new().limit(3)).await })
        });
        for r in futures::future::join_all(calls).await {
            assert!(!r.unwrap().unwrap().is_empty());
        }
        let c = sb.okta().counters();
        assert_eq!(c.token_requests, posts, "{name}: {c:?}");
        assert_eq!(c.tokens_issued, 1, "{name}");
        assert_eq!(client.token_requests_sent(), posts, "{name}");
        assert!(c.groups_requests >= 100, "{name}");
        assert_eq!(c.rate_limited, 0, "{name}");

        let log = sb.okta().requests();
        let tokens: Vec<_> = log
            .iter()
            .filter(|r| r.path == "/oauth2/v1/token")
            .collect();
        assert_eq!(tokens.len() as u64, posts, "{name}");
        let assertions: Vec<String> = tokens
            .iter()
            .map(|r| r.form_param("client_assertion").unwrap())
            .collect();
        let jtis: std::collections::HashSet<String> = assertions
            .iter()
            .map(|a| {
                common::decode(a).claims["jti"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(jtis.len(), tokens.len(), "{name}: a new assertion per POST");
        if posts == 2 {
            let first = common::decode(tokens[0].header("dpop").unwrap());
            assert!(
                first.claims.get("nonce").is_none(),
                "{name}: proactive proof"
            );
            assert_eq!(tokens[0].status, 400);
            let nonce = tokens[0].response_header("dpop-nonce").unwrap();
            let second = common::decode(tokens[1].header("dpop").unwrap());
            assert_eq!(second.claims["nonce"], nonce, "{name}");
            assert_ne!(first.claims["jti"], second.claims["jti"], "{name}");
            assert_eq!(tokens[1].status, 200);
        }
        // Every resource request presented the one token issued.
        let presented: std::collections::HashSet<&str> = log
            .iter()
            .filter(|r| r.path == "/api/v1/groups")
            .map(|r| r.header("authorization").unwrap())
            .collect();
        assert_eq!(presented.len(), 1, "{name}: {presented:?}");
    }
}

/// A token refresh under 100 concurrent callers: the server expires the token every caller
/// holds, each of their requests is refused with `invalid_token`, and the client replaces the
/// token once for all of them — one token POST (for DPoP with the nonce remembered from the
/// first fetch, so no second nonce dance) and one issued token, presented by every retry.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_callers_share_one_token_refresh() {
    let sb = sandbox().await;
    for (name, builder) in [
        ("bearer", bearer(&sb)),
        ("dpop_ec", dpop_ec(&sb)),
        ("dpop_rsa", dpop_rsa(&sb)),
    ] {
        let client = builder.build().unwrap();
        sb.okta().reset_rate_limits();
        client.groups(&GroupQuery::new().limit(3)).await.unwrap();
        let first_posts = client.token_requests_sent();

        sb.okta().expire_tokens();
        sb.okta().reset_rate_limits();
        sb.okta().reset_counters();
        sb.okta().record_requests(true);
        sb.okta().clear_requests();
        let calls = (0..100).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.groups(&GroupQuery::new().limit(3)).await })
        });
        for r in futures::future::join_all(calls).await {
            assert!(!r.unwrap().unwrap().is_empty(), "{name}");
        }
        let c = sb.okta().counters();
        assert_eq!(
            c.token_requests, 1,
            "{name}: one POST for the refresh: {c:?}"
        );
        assert_eq!(c.tokens_issued, 1, "{name}");
        assert_eq!(client.token_requests_sent(), first_posts + 1, "{name}");
        let log = sb.okta().requests();
        sb.okta().record_requests(false);
        let token = log.iter().find(|r| r.path == "/oauth2/v1/token").unwrap();
        assert_eq!(token.status, 200, "{name}");
        // After the refusals, every request presented the one new token.
        let refused = log
            .iter()
            .filter(|r| r.path == "/api/v1/groups" && r.status == 401)
            .count();
        assert!((1..=100).contains(&refused), "{name}: {refused} refused");
        let fresh: std::collections::HashSet<&str> = log
            .iter()
            .filter(|r| r.path == "/api/v1/groups" && r.status == 200)
            .map(|r| r.header("authorization").unwrap())
            .collect();
        assert_eq!(fresh.len(), 1, "{name}: {fresh:?}");
    }
}

/// The resource server keeps refusing the token: the client drops it and fetches a new one
/// exactly once per request, then returns the typed 401 instead of looping. The error keeps
/// both the `E0000011` object and the `WWW-Authenticate` challenge that says why (revoked),
/// and the `X-Okta-Request-Id` of the last answer.
#[tokio::test]
async fn a_token_still_refused_after_the_refetch_is_a_typed_error() {
    let sb = sandbox().await;
    sb.okta().record_requests(true);
    for (name, builder, scheme) in [
        ("bearer", bearer(&sb), AuthScheme::Bearer),
        ("dpop_rsa", dpop_rsa(&sb), AuthScheme::Dpop),
    ] {
        let client = builder.build().unwrap();
        client.token_info().await.unwrap();
        let before = client.token_requests_sent();
        sb.okta().reject_access_tokens(true);
        sb.okta().reset_counters();
        for round in 1..=2u64 {
            let err = client.groups(&GroupQuery::new()).await.unwrap_err();
            assert!(err.is_invalid_token(), "{name}: {err:?}");
            assert_eq!(err.status(), Some(401), "{name}");
            assert_eq!(err.okta_error_code(), Some("E0000011"), "{name}");
            assert!(!err.is_retryable(), "{name}");
            let challenge = err.challenge().expect(name);
            assert_eq!(challenge.error, "invalid_token", "{name}");
            assert_eq!(
                challenge.description.as_deref(),
                Some("The access token has been revoked."),
                "{name}"
            );
            assert_eq!(challenge.source, ErrorSource::Challenge(scheme), "{name}");
            assert_eq!(
                challenge.challenge.as_ref().unwrap().param("scope"),
                Some("okta.groups.read"),
                "{name}"
            );
            assert!(
                err.to_string()
                    .contains("The access token has been revoked."),
                "{err}"
            );
            let log = sb.okta().requests();
            let last = log
                .iter()
                .rev()
                .find(|r| r.path == "/api/v1/groups")
                .unwrap();
            assert_eq!(last.status, 401);
            assert!(last.request_id().is_some());
            assert_eq!(err.request_id(), last.request_id(), "{name}");
            let c = sb.okta().counters();
            // One token POST per call (a DPoP client reuses the nonce it already has) and two
            // resource requests: the refused one and the one retried with the new token.
            assert_eq!(
                (c.token_requests, c.tokens_issued, c.groups_requests),
                (round, round, 2 * round),
                "{name}: round {round}"
            );
            assert_eq!(client.token_requests_sent(), before + round, "{name}");
        }
        // Tokens are accepted again: the token fetched by the last call is used, no new POST.
        sb.okta().reject_access_tokens(false);
        assert!(!client.groups(&GroupQuery::new()).await.unwrap().is_empty());
        assert_eq!(sb.okta().counters().token_requests, 2, "{name}");
    }
}

/// `X-Okta-Retry-For` / `X-Okta-Retry-Count` as the sandbox received them: nothing on a first
/// attempt; on the retries of one request, the `X-Okta-Request-Id` of its first rate-limited
/// answer (as Okta's SDKs send it) and the counts 1, 2, 3.
#[tokio::test]
async fn retries_carry_okta_retry_headers_on_the_wire() {
    let sb = sandbox().await;
    sb.okta().record_requests(true);
    let rt = Arc::new(Recorder::default());
    let client = ssws(&sb).runtime(rt.clone()).build().unwrap();
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::TooManyRequests).times(3));
    client.groups(&GroupQuery::new()).await.unwrap();
    client.groups(&GroupQuery::new()).await.unwrap();
    let log = sb.okta().requests();
    let statuses: Vec<u16> = log.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 429, 429, 200, 200], "{log:#?}");
    let ids: std::collections::HashSet<&str> =
        log.iter().map(|r| r.request_id().unwrap()).collect();
    assert_eq!(ids.len(), log.len(), "every answer has its own request id");
    let first_id = log[0].request_id().unwrap();
    for (i, r) in log.iter().enumerate() {
        let (retry_for, count) = (r.header("x-okta-retry-for"), r.header("x-okta-retry-count"));
        match i {
            0 | 4 => assert_eq!((retry_for, count), (None, None), "first attempt {i}"),
            _ => {
                assert_eq!(retry_for, Some(first_id), "retry {i}");
                assert_eq!(count, Some(i.to_string().as_str()), "retry {i}");
            }
        }
    }

    // A spent budget (the real rate limiter, not a fault) during a DPoP listing: each page that
    // is refused is retried once the window passes, with its own headers and a new proof, and
    // the next page starts again without them.
    let gid = biggest_group(&sb);
    let want = sb.okta().members(&gid).unwrap().len();
    let rt = Arc::new(WindowPasses {
        okta: sb.okta(),
        sleeps: Mutex::default(),
    });
    let client = dpop_ec(&sb)
        .runtime(rt.clone())
        .member_page_limit(10)
        .build()
        .unwrap();
    client.token_info().await.unwrap();
    sb.okta().reset_rate_limits();
    sb.okta().set_rate_limit(OktaEndpoint::GroupMembers, 2);
    sb.okta().clear_requests();
    assert_eq!(client.group_members(&gid).await.unwrap().len(), want);
    let log = sb.okta().requests();
    assert!(log.len() >= 6, "{}", log.len());
    let limited = log.iter().filter(|r| r.status == 429).count();
    assert_eq!(limited, rt.sleeps.lock().unwrap().len());
    assert!(limited >= 2, "{limited}");
    for (i, r) in log.iter().enumerate() {
        let (retry_for, count) = (r.header("x-okta-retry-for"), r.header("x-okta-retry-count"));
        if i > 0 && log[i - 1].status == 429 {
            assert_eq!(retry_for, log[i - 1].request_id(), "request {i}");
            assert_eq!(count, Some("1"), "request {i}");
            assert_eq!(r.query, log[i - 1].query, "the same page again");
            assert_ne!(r.header("dpop"), log[i - 1].header("dpop"), "a new proof");
            assert_eq!(r.status, 200);
        } else {
            assert_eq!((retry_for, count), (None, None), "request {i}");
        }
    }
}

/// A runtime whose every sleep lets the sandbox's rate-limit window pass.
#[derive(Debug)]
struct WindowPasses {
    okta: idp_sandbox::OktaDirectory,
    sleeps: Mutex<Vec<Duration>>,
}

impl Runtime for WindowPasses {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        self.sleeps.lock().unwrap().push(duration);
        self.okta.reset_rate_limits();
        Box::pin(async {})
    }

    fn random(&self) -> f64 {
        0.5
    }
}

/// `directory_snapshot(ids, n)` never has more than `n` requests in flight and does reach `n`
/// (the first `n` member pages are held at a barrier until all of them have arrived; later ones
/// are slowed down, so that a client going past its bound would show it); a smaller client-wide
/// `max_concurrent_requests` wins over the snapshot's own bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn directory_snapshot_keeps_its_concurrency_bound_and_reaches_it() {
    let sb = Sandbox::builder()
        .seed(5)
        .users(90)
        .groups(8)
        .start()
        .await
        .unwrap();
    let ids: Vec<String> = sb.okta().groups().into_iter().map(|g| g.id).collect();
    assert!(ids.len() >= 8);
    let faults = |parties: u32| {
        sb.faults().clear();
        sb.faults()
            .inject(Fault::new("/api/v1/groups/", FaultKind::Barrier(parties)).times(parties));
        sb.faults().inject(Fault::new(
            "/api/v1/groups/",
            FaultKind::Latency(Duration::from_millis(80)),
        ));
    };
    let check = |snap: &okta_client::DirectorySnapshot| {
        assert_eq!(snap.members.len(), ids.len());
        for id in &ids {
            assert_eq!(snap.members[id].len(), sb.okta().members(id).unwrap().len());
        }
    };
    let client = ssws(&sb).member_page_limit(25).build().unwrap();
    for bound in [1, 3, 5] {
        faults(bound);
        sb.okta().reset_counters();
        check(
            &client
                .directory_snapshot(&ids, bound as usize)
                .await
                .unwrap(),
        );
        let c = sb.okta().counters();
        assert_eq!(c.max_in_flight, u64::from(bound), "bound {bound}: {c:?}");
    }

    // The client-wide limit (token POSTs included) is the tighter one here.
    let client = dpop_ec(&sb)
        .member_page_limit(25)
        .max_concurrent_requests(Some(2))
        .build()
        .unwrap();
    faults(2);
    sb.okta().reset_counters();
    check(&client.directory_snapshot(&ids, 6).await.unwrap());
    let c = sb.okta().counters();
    assert_eq!(c.max_in_flight, 2, "{c:?}");
    assert_eq!(c.token_requests, 2);
}

#[tokio::test]
async fn resource_server_nonce_challenge_is_answered() {
    let sb = sandbox().await;
    sb.okta().set_resource_nonce_required(true);
    let client = dpop_ec(&sb).member_page_limit(10).build().unwrap();
    client.token_info().await.unwrap();
    sb.okta().reset_counters();
    let gid = biggest_group(&sb);
    let want = sb.okta().members(&gid).unwrap().len();
    let members = client.group_members(&gid).await.unwrap();
    assert_eq!(members.len(), want);
    let pages = want.div_ceil(10) as u64;
    let c = sb.okta().counters();
    // One challenge on the first page, then the nonce is remembered for every later page (the
    // sandbox may end with an empty page when the count divides evenly).
    let served = c.group_members_requests;
    assert!(
        served == pages + 1 || served == pages + 2,
        "{c:?} for {pages} pages"
    );
    assert_eq!(c.token_requests, 0);
}

#[tokio::test]
async fn too_many_requests_bursts_are_retried_after_the_server_reset() {
    let sb = sandbox().await;
    let rt = Arc::new(Recorder::default());
    let client = ssws(&sb).runtime(rt.clone()).build().unwrap();
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::TooManyRequests).times(2));
    let groups = client.groups(&GroupQuery::new()).await.unwrap();
    assert_eq!(groups.len(), sb.okta().groups().len());
    let sleeps = rt.sleeps();
    assert_eq!(sleeps.len(), 2, "{sleeps:?}");
    for s in &sleeps {
        // The fault's reset is one second ahead of the server's Date: Reset − Date + 1 s, plus
        // half of the 1 s jitter window (the recorder's random is 0.5); the Date may tick over.
        assert!(
            *s >= Duration::from_millis(1500) && *s <= Duration::from_millis(2500),
            "{s:?}"
        );
    }
    assert_eq!(sb.faults().fired("/api/v1/groups"), 2);
}

#[tokio::test]
async fn a_spent_budget_gives_up_after_max_retries_with_a_typed_error() {
    let sb = sandbox().await;
    let rt = Arc::new(Recorder::default());
    let client = ssws(&sb)
        .runtime(rt.clone())
        .retry_policy(RetryPolicy::new().with_max_retries(3).with_deadline(None))
        .build()
        .unwrap();
    sb.okta().reset_rate_limits();
    sb.okta().set_rate_limit(OktaEndpoint::Groups, 1);
    client.groups(&GroupQuery::new()).await.unwrap();
    let rl = client.last_rate_limit().unwrap();
    assert_eq!((rl.limit, rl.remaining), (Some(1), Some(0)));

    sb.okta().reset_counters();
    let err = client.groups(&GroupQuery::new()).await.unwrap_err();
    match &err {
        Error::RetriesExhausted {
            attempts,
            reason,
            last,
        } => {
            assert_eq!(*attempts, 4);
            assert_eq!(*reason, GiveUpReason::RetriesExhausted);
            assert_eq!(last.okta_error_code(), Some("E0000047"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.status(), Some(429));
    // A per-minute limit, with the last answer's headers and request id.
    let limited = err.rate_limited().unwrap();
    assert_eq!(limited.kind, RateLimitKind::PerMinute);
    assert_eq!(
        (limited.limits.limit, limited.limits.remaining),
        (Some(1), Some(0))
    );
    assert!(limited.limits.reset.is_some());
    assert!(err.request_id().is_some());
    assert_eq!(sb.okta().counters().rate_limited, 4);
    let sleeps = rt.sleeps();
    assert_eq!(sleeps.len(), 3);
    for s in sleeps {
        // The window resets up to 60 s later: Reset − Date + 1 s + jitter, capped at 60 s.
        assert!(
            s > Duration::from_secs(50) && s <= Duration::from_secs(60),
            "{s:?}"
        );
    }
}

#[tokio::test]
async fn the_overall_deadline_stops_retries() {
    let sb = sandbox().await;
    let rt = Arc::new(Recorder::default());
    let client = ssws(&sb)
        .runtime(rt.clone())
        .retry_policy(
            RetryPolicy::new()
                .with_max_retries(10)
                .with_deadline(Some(Duration::from_secs(5))),
        )
        .build()
        .unwrap();
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::TooManyRequests));
    let err = client.groups(&GroupQuery::new()).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::RetriesExhausted {
                reason: GiveUpReason::DeadlineExceeded,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(rt.sleeps().len() <= 3);
}

#[tokio::test]
async fn transient_failures_are_retried_and_refused_requests_are_not() {
    let sb = sandbox().await;
    let rt = Arc::new(Recorder::default());
    let client = dpop_rsa(&sb)
        .runtime(rt.clone())
        .member_page_limit(9)
        .build()
        .unwrap();
    let gid = biggest_group(&sb);
    let path = format!("/api/v1/groups/{gid}/users");
    sb.faults().inject(
        Fault::new(&path, FaultKind::TruncatedBody)
            .after(1)
            .times(1),
    );
    sb.faults().inject(
        Fault::new(&path, FaultKind::DropConnection)
            .after(2)
            .times(1),
    );
    sb.faults().inject(
        Fault::new(&path, FaultKind::ServerError(503))
            .after(3)
            .times(1),
    );
    let members = client.group_members(&gid).await.unwrap();
    assert_eq!(members.len(), sb.okta().members(&gid).unwrap().len());
    assert_eq!(rt.sleeps().len(), 3, "{:?}", rt.sleeps());

    // No admin role: 403 E0000006, typed, not retried.
    let app = &sb.credentials().okta.no_admin_role;
    let key = PrivateKey::from_pem(&app.key.private_pem).unwrap();
    let client = OktaClient::builder(domain(&sb), pkjwt(app, key))
        .runtime(rt.clone())
        .build()
        .unwrap();
    sb.okta().reset_counters();
    let err = client.groups(&GroupQuery::new()).await.unwrap_err();
    assert_eq!(err.okta_error_code(), Some("E0000006"), "{err}");
    assert_eq!(sb.okta().counters().groups_requests, 1);
}

#[tokio::test]
async fn a_repeated_cursor_is_an_error_not_a_loop() {
    let sb = sandbox().await;
    let client = ssws(&sb).member_page_limit(5).build().unwrap();
    let gid = biggest_group(&sb);
    sb.faults().inject(
        Fault::new(
            format!("/api/v1/groups/{gid}/users"),
            FaultKind::RepeatCursor,
        )
        .after(1)
        .times(1),
    );
    let err = client.group_members(&gid).await.unwrap_err();
    assert!(matches!(err, Error::Paging { .. }), "{err:?}");
}

#[tokio::test]
async fn directory_snapshot_is_complete_or_an_error() {
    let sb = sandbox().await;
    let ids: Vec<String> = sb.okta().groups().into_iter().map(|g| g.id).collect();
    let client = ssws(&sb).member_page_limit(10).build().unwrap();
    let snap = client.directory_snapshot(&ids, 3).await.unwrap();
    assert_eq!(snap.members.len(), ids.len());
    for id in &ids {
        let want: Vec<String> = sb
            .okta()
            .members(id)
            .unwrap()
            .into_iter()
            .map(|u| u.id)
            .collect();
        let got: Vec<String> = snap.members[id].iter().map(|u| u.id.clone()).collect();
        assert_eq!(got, want, "{id}");
    }

    // A page fails mid-listing with retries off: the snapshot is an error, never partial.
    let client = ssws(&sb)
        .member_page_limit(10)
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    sb.faults().inject(
        Fault::new("/api/v1/groups/", FaultKind::ServerError(500))
            .after(2)
            .times(5),
    );
    let err = client.directory_snapshot(&ids, 3).await.unwrap_err();
    assert_eq!(err.status(), Some(500), "{err:?}");
    assert!(sb.faults().fired("/api/v1/groups/") >= 1);

    // With retries on, the same kind of failure is absorbed and the snapshot is whole.
    sb.faults().clear();
    let rt = Arc::new(Recorder::default());
    let client = ssws(&sb)
        .member_page_limit(10)
        .runtime(rt.clone())
        .build()
        .unwrap();
    sb.faults().inject(
        Fault::new("/api/v1/groups/", FaultKind::ServerError(500))
            .after(2)
            .times(2),
    );
    let again = client.directory_snapshot(&ids, 2).await.unwrap();
    assert_eq!(again, snap);
    assert_eq!(rt.sleeps().len(), 2);
}

#[tokio::test]
async fn streams_filters_and_configuration() {
    let sb = sandbox().await;
    let client = bearer(&sb).build().unwrap();
    // A SCIM search, paged by a small limit, as a stream.
    let okta_groups: Vec<_> = client
        .list_groups(&GroupQuery::new().search(r#"type eq "OKTA_GROUP""#).limit(2))
        .try_collect()
        .await
        .unwrap();
    let want = sb
        .okta()
        .groups()
        .into_iter()
        .filter(|g| g.group_type.as_str() == "OKTA_GROUP")
        .count();
    assert_eq!(okta_groups.len(), want);
    assert!(
        okta_groups
            .iter()
            .all(|g| g.group_type == okta_client::GroupType::OktaGroup)
    );

    // An unknown group is a typed 404.
    let err = client.group_members("00gnope").await.unwrap_err();
    assert_eq!(err.okta_error_code(), Some("E0000007"));

    // A custom authorization server is selectable (the sandbox serves only the org one).
    let custom = bearer(&sb)
        .authorization_server("default")
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    assert_eq!(
        custom.token_url(),
        format!("{}/oauth2/default/v1/token", sb.credentials().okta.org_url)
    );
    let err = custom.token_info().await.unwrap_err();
    assert_eq!(err.status(), Some(404), "{err:?}");

    // Bad configuration is refused up front.
    assert!(bearer(&sb).member_page_limit(0).build().is_err());
    assert!(bearer(&sb).authorization_server("a/b").build().is_err());
    assert!(ssws(&sb).max_concurrent_requests(Some(0)).build().is_err());
}

#[tokio::test]
async fn timeouts_and_unreachable_servers_are_typed() {
    let sb = sandbox().await;
    let client = ssws(&sb)
        .timeout(Duration::from_millis(200))
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    // Held until the sandbox stops: no answer can beat the timeout.
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::Hold).times(1));
    let err = client.groups(&GroupQuery::new()).await.unwrap_err();
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert!(err.is_retryable());

    let url = sb.credentials().okta.org_url.clone();
    sb.shutdown().await;
    let client = OktaClient::builder(url.parse().unwrap(), ApiToken::new("x").unwrap())
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap();
    let err = client.groups(&GroupQuery::new()).await.unwrap_err();
    assert!(matches!(err, Error::Transport(_)), "{err:?}");
}

/// With `slow_down_below`, a client whose budget runs low spaces its requests out instead of
/// running into 429s; without it, it does not wait at all.
#[tokio::test]
async fn slows_down_when_the_budget_runs_low() {
    let sb = sandbox().await;
    sb.okta().set_rate_limit(OktaEndpoint::GroupMembers, 12);
    let gid = biggest_group(&sb);
    let members = sb.okta().members(&gid).unwrap().len();
    // About nine pages: within the budget of 12, and past its half.
    let page = u32::try_from(members.div_ceil(9)).unwrap();

    let recorder = Arc::new(Recorder::default());
    let client = ssws(&sb)
        .member_page_limit(page)
        .runtime(recorder.clone())
        .slow_down_below(Some(0.5))
        .build()
        .unwrap();
    assert_eq!(client.group_members(&gid).await.unwrap().len(), members);
    let sleeps = recorder.sleeps();
    // Budget 12: response k leaves 12 − k; once that is below half (k ≥ 7), every further
    // request waits (Reset − now) / (Remaining + 1), at most 60 s.
    let requests = usize::try_from(sb.okta().counters().group_members_requests).unwrap();
    assert!(
        requests >= 8,
        "{requests} requests get past half the budget"
    );
    assert_eq!(sleeps.len(), requests - 7, "{sleeps:?}");
    assert!(
        sleeps
            .iter()
            .all(|d| *d > Duration::ZERO && *d <= Duration::from_secs(60)),
        "{sleeps:?}"
    );
    assert!(
        sleeps
            .windows(2)
            .all(|w| w[0] <= w[1] + Duration::from_secs(1)),
        "waits grow as the budget shrinks: {sleeps:?}"
    );
    assert_eq!(sb.okta().counters().rate_limited, 0);

    // The same listing without the option: no waits.
    sb.okta().reset_rate_limits();
    sb.okta().reset_counters();
    let recorder = Arc::new(Recorder::default());
    let eager = ssws(&sb)
        .member_page_limit(page)
        .runtime(recorder.clone())
        .build()
        .unwrap();
    assert_eq!(eager.group_members(&gid).await.unwrap().len(), members);
    assert!(recorder.sleeps().is_empty());
}

/// Okta's concurrency limit (429 with `X-Rate-Limit-Limit = Remaining = 0`) while another
/// request is in flight: the client backs off (short waits, not the minute-away reset) and,
/// once its retries are spent, the error says it was the concurrency limit, with the headers
/// and the request id of the last answer. With retries off the same holds for the bare 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_limit_is_told_apart_after_the_retries() {
    let sb = sandbox().await;
    sb.okta().record_requests(true);
    sb.okta().set_concurrency_limit(Some(1));
    let gid = biggest_group(&sb);
    let members_path = format!("/api/v1/groups/{gid}/users");
    sb.faults()
        .inject(Fault::new(&members_path, FaultKind::Hold).times(1));
    sb.okta().reset_counters();
    let slow = tokio::spawn({
        let client = ssws(&sb).build().unwrap();
        let gid = gid.clone();
        async move { client.group_members(&gid).await }
    });
    // The slow request stays in flight, held at the sandbox, until it is released below.
    until_held(&sb, &members_path, 1).await;

    let rt = Arc::new(Recorder::default());
    let client = ssws(&sb)
        .runtime(rt.clone())
        .retry_policy(RetryPolicy::new().with_max_retries(2).with_deadline(None))
        .build()
        .unwrap();
    let err = client.groups(&GroupQuery::new()).await.unwrap_err();
    assert!(
        matches!(err, Error::RetriesExhausted { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(err.okta_error_code(), Some("E0000047"));
    let limited = err.rate_limited().unwrap();
    assert_eq!(limited.kind, RateLimitKind::Concurrency);
    assert_eq!(
        (limited.limits.limit, limited.limits.remaining),
        (Some(0), Some(0))
    );
    // Exponential backoff with full jitter (random 0.5): 250 ms, 500 ms; not Reset − Date.
    assert_eq!(
        rt.sleeps(),
        [Duration::from_millis(250), Duration::from_millis(500)]
    );
    let log = sb.okta().requests();
    let refused: Vec<_> = log.iter().filter(|r| r.path == "/api/v1/groups").collect();
    assert_eq!(refused.len(), 3);
    assert!(refused.iter().all(|r| r.status == 429));
    assert_eq!(err.request_id(), refused[2].request_id());

    let bare = ssws(&sb)
        .retry_policy(RetryPolicy::disabled())
        .build()
        .unwrap()
        .groups(&GroupQuery::new())
        .await
        .unwrap_err();
    assert!(matches!(bare, Error::Okta(_)), "{bare:?}");
    assert_eq!(
        bare.rate_limited().map(|r| r.kind),
        Some(RateLimitKind::Concurrency)
    );
    assert_eq!(sb.okta().counters().rate_limited, 4);

    // The slow request itself is let through once released.
    assert!(!slow.is_finished());
    assert_eq!(sb.faults().release(&members_path), 1);
    let members = slow.await.unwrap().unwrap();
    assert_eq!(members.len(), sb.okta().members(&gid).unwrap().len());
}

/// A clock that can be moved ahead of the real one (within the sandbox's 60 s leeway for
/// `iat`); sleeps are real.
#[derive(Debug, Default)]
struct Ahead {
    secs: std::sync::atomic::AtomicU64,
}

impl Ahead {
    fn set(&self, secs: u64) {
        self.secs.store(secs, std::sync::atomic::Ordering::SeqCst);
    }
}

impl Runtime for Ahead {
    fn now(&self) -> SystemTime {
        SystemTime::now() + Duration::from_secs(self.secs.load(std::sync::atomic::Ordering::SeqCst))
    }

    fn sleep(&self, duration: Duration) -> SleepFuture {
        Box::pin(tokio::time::sleep(duration))
    }

    fn random(&self) -> f64 {
        0.5
    }
}

/// A token inside its refresh-ahead window but still valid, and a token endpoint that holds the
/// refresh until the test lets it go: the caller that notices first fetches the next token (and
/// waits for it); callers arriving while that POST is in flight go on with the current token and
/// finish before it is even answered. Exactly one token POST; the refresher and later callers
/// use the new token. If an early refresh fails, the still-valid token stays in use and no new
/// attempt follows right away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_with_a_valid_token_do_not_wait_for_the_early_refresh() {
    let sb = sandbox().await;
    sb.okta().record_requests(true);
    // 40 s tokens: the refresh-ahead window (5 min, capped at half the lifetime) is the last
    // 20 s, reached by moving the client's clock 25 s ahead.
    sb.okta().set_token_lifetime(Duration::from_secs(40));
    for (name, builder) in [("bearer", bearer(&sb)), ("dpop_ec", dpop_ec(&sb))] {
        let rt = Arc::new(Ahead::default());
        let client = builder
            .runtime(rt.clone())
            .retry_policy(RetryPolicy::disabled())
            .build()
            .unwrap();
        let first = client.token_info().await.unwrap().unwrap();
        client.groups(&GroupQuery::new()).await.unwrap();
        let authorization =
            |r: &idp_sandbox::okta::OktaRequest| r.header("authorization").unwrap().to_string();
        let old = authorization(
            sb.okta()
                .requests()
                .iter()
                .rev()
                .find(|r| r.path == "/api/v1/groups")
                .unwrap(),
        );

        rt.set(25);
        sb.faults()
            .inject(Fault::new("/oauth2/v1/token", FaultKind::Hold).times(1));
        sb.okta().reset_counters();
        sb.okta().clear_requests();
        let sent = client.token_requests_sent();
        let refresher = tokio::spawn({
            let client = client.clone();
            async move { client.groups(&GroupQuery::new()).await }
        });
        // The refresher's POST is held at the sandbox; now the crowd arrives, and finishes
        // while the POST is still unanswered (a crowd waiting for it would never finish).
        until_held(&sb, "/oauth2/v1/token", 1).await;
        assert_eq!(client.token_requests_sent(), sent + 1, "{name}");
        let calls = (0..20).map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.groups(&GroupQuery::new()).await })
        });
        let crowd = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(calls))
            .await
            .unwrap_or_else(|_| panic!("{name}: the crowd waited for the refresh"));
        for r in crowd {
            assert!(!r.unwrap().unwrap().is_empty(), "{name}");
        }
        assert!(
            !refresher.is_finished(),
            "{name}: the refresher waits for the new token"
        );
        let c = sb.okta().counters();
        assert_eq!(
            (c.tokens_issued, c.groups_requests),
            (0, 20),
            "{name}: the crowd finished while the refresh was in flight"
        );
        let log = sb.okta().requests();
        assert!(
            log.iter()
                .filter(|r| r.path == "/api/v1/groups")
                .all(|r| authorization(r) == old),
            "{name}: the crowd used the current token"
        );

        assert_eq!(sb.faults().release("/oauth2/v1/token"), 1, "{name}");
        assert!(!refresher.await.unwrap().unwrap().is_empty(), "{name}");
        let c = sb.okta().counters();
        assert_eq!((c.token_requests, c.tokens_issued), (1, 1), "{name}: {c:?}");
        assert_eq!(client.token_requests_sent(), sent + 1, "{name}");
        let log = sb.okta().requests();
        let presented: Vec<String> = log
            .iter()
            .filter(|r| r.path == "/api/v1/groups")
            .map(authorization)
            .collect();
        assert_eq!(presented.len(), 21, "{name}");
        assert!(
            presented[..20].iter().all(|a| *a == old),
            "{name}: the crowd used the current token"
        );
        let new = presented[20].clone();
        assert_ne!(new, old, "{name}: the refresher used the new token");

        // Later callers use the new token; no further POST.
        client.groups(&GroupQuery::new()).await.unwrap();
        let log = sb.okta().requests();
        assert_eq!(authorization(log.last().unwrap()), new, "{name}");
        assert_eq!(sb.okta().counters().token_requests, 1, "{name}");
        let second = client.token_info().await.unwrap().unwrap();
        assert!(second.expires_at > first.expires_at, "{name}");

        // The new token's window (client clock 45 s ahead): the early refresh fails, the
        // still-valid token carries on, and the next call does not try again at once.
        rt.set(48);
        sb.faults()
            .inject(Fault::new("/oauth2/v1/token", FaultKind::ServerError(503)).times(1));
        sb.okta().reset_counters();
        sb.okta().clear_requests();
        client.groups(&GroupQuery::new()).await.unwrap();
        client.groups(&GroupQuery::new()).await.unwrap();
        assert_eq!(client.token_requests_sent(), sent + 2, "{name}");
        let log = sb.okta().requests();
        let presented: Vec<String> = log
            .iter()
            .filter(|r| r.path == "/api/v1/groups")
            .map(authorization)
            .collect();
        assert_eq!(presented, [new.clone(), new.clone()], "{name}");
        assert_eq!(sb.faults().fired("/oauth2/v1/token"), 2, "{name}");
        sb.faults().clear();
    }
}
