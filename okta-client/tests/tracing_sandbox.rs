//! What okta-client tells `tracing`: the token, listing and snapshot spans with their counts,
//! and never a secret (API token, access token, client assertion, DPoP proof, private key) in any
//! span or event field, at TRACE level, across every auth type and the retry, nonce-challenge and
//! refetch paths. A small capturing `Subscriber` records everything; the secrets to look for are
//! read back from the sandbox's request log, i.e. exactly what went over the wire.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::ThreadId;

use idp_sandbox::okta::OktaRequest;
use idp_sandbox::{Fault, FaultKind, Sandbox};
use okta_client::key::PrivateKey;
use okta_client::{ApiToken, Dpop, GroupQuery, OktaClient, OktaDomain, PrivateKeyJwt};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Debug, Clone)]
struct SpanRec {
    name: &'static str,
    target: String,
    parent: Option<u64>,
    fields: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
struct EventRec {
    target: String,
    fields: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Captured {
    next: AtomicU64,
    spans: Mutex<HashMap<u64, SpanRec>>,
    events: Mutex<Vec<EventRec>>,
    stacks: Mutex<HashMap<ThreadId, Vec<u64>>>,
}

/// Records every span (with its fields as later recorded) and every event, at every level.
#[derive(Debug, Clone, Default)]
struct Capture(Arc<Captured>);

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.push((field.name().to_string(), value.to_string()));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .push((field.name().to_string(), format!("{value:?}")));
    }
}

impl Capture {
    fn current(&self) -> Option<u64> {
        let stacks = self.0.stacks.lock().unwrap();
        stacks
            .get(&std::thread::current().id())
            .and_then(|s| s.last().copied())
    }

    fn spans(&self) -> Vec<(u64, SpanRec)> {
        let mut all: Vec<(u64, SpanRec)> = self
            .0
            .spans
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        all.sort_by_key(|(k, _)| *k);
        all
    }

    fn named(&self, name: &str) -> Vec<(u64, SpanRec)> {
        self.spans()
            .into_iter()
            .filter(|(_, s)| s.name == name)
            .collect()
    }

    fn events(&self) -> Vec<EventRec> {
        self.0.events.lock().unwrap().clone()
    }

    fn clear(&self) {
        self.0.spans.lock().unwrap().clear();
        self.0.events.lock().unwrap().clear();
    }
}

impl SpanRec {
    /// The last value recorded for the field.
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Subscriber for Capture {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::TRACE)
    }

    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.0.next.fetch_add(1, Ordering::Relaxed) + 1;
        let parent = if attrs.is_contextual() {
            self.current()
        } else {
            attrs.parent().map(Id::into_u64)
        };
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        self.0.spans.lock().unwrap().insert(
            id,
            SpanRec {
                name: attrs.metadata().name(),
                target: attrs.metadata().target().to_string(),
                parent,
                fields,
            },
        );
        Id::from_u64(id)
    }

    fn record(&self, span: &Id, values: &Record<'_>) {
        if let Some(s) = self.0.spans.lock().unwrap().get_mut(&span.into_u64()) {
            values.record(&mut Fields(&mut s.fields));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        self.0.events.lock().unwrap().push(EventRec {
            target: event.metadata().target().to_string(),
            fields,
        });
    }

    fn enter(&self, span: &Id) {
        self.0
            .stacks
            .lock()
            .unwrap()
            .entry(std::thread::current().id())
            .or_default()
            .push(span.into_u64());
    }

    fn exit(&self, span: &Id) {
        let mut stacks = self.0.stacks.lock().unwrap();
        if let Some(stack) = stacks.get_mut(&std::thread::current().id())
            && let Some(pos) = stack.iter().rposition(|s| *s == span.into_u64())
        {
            stack.remove(pos);
        }
    }
}

fn domain(sb: &Sandbox) -> OktaDomain {
    sb.credentials().okta.org_url.parse().unwrap()
}

/// The secrets a request carried: credentials in `Authorization`, the DPoP proof, the client
/// assertion — whole, and their JWS signatures on their own.
fn wire_secrets(log: &[OktaRequest]) -> Vec<String> {
    let mut out = Vec::new();
    let jws = |s: &str, out: &mut Vec<String>| {
        out.push(s.to_string());
        if let Some(sig) = s.rsplit('.').next().filter(|_| s.matches('.').count() == 2) {
            out.push(sig.to_string());
        }
    };
    for r in log {
        if let Some(auth) = r.header("authorization") {
            let credential = auth.split_once(' ').map_or(auth, |(_, c)| c);
            jws(credential, &mut out);
        }
        if let Some(proof) = r.header("dpop") {
            jws(proof, &mut out);
        }
        if let Some(a) = r.form_param("client_assertion") {
            jws(&a, &mut out);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Private key material: every base64 line of a PEM, every private member of a JWK.
fn key_secrets(pem: &str, jwk: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= 16)
        .map(str::to_string)
        .collect();
    if let Some(jwk) = jwk {
        let v: serde_json::Value = serde_json::from_str(jwk).unwrap();
        for m in ["d", "p", "q", "dp", "dq", "qi"] {
            if let Some(s) = v[m].as_str() {
                out.push(s.to_string());
            }
        }
    }
    out
}

/// No captured value holds a secret, whole or in part: any 16 consecutive bytes of a secret
/// count as a leak (a logged token prefix is a leak too).
fn assert_no_secret(capture: &Capture, secrets: &[String]) {
    const W: usize = 16;
    assert!(secrets.iter().all(|s| s.len() >= W), "a secret too short");
    let windows: HashSet<&[u8]> = secrets
        .iter()
        .flat_map(|s| s.as_bytes().windows(W))
        .collect();
    let mut values = 0;
    let mut check = |what: &str, target: &str, fields: &[(String, String)]| {
        if target.starts_with("idp_sandbox") {
            return; // the server's own logs, not the client's
        }
        for (name, value) in fields {
            values += 1;
            if let Some(w) = value.as_bytes().windows(W).find(|w| windows.contains(w)) {
                panic!(
                    "{what} ({target}) field {name} holds part of a secret ({:?}): {value}",
                    String::from_utf8_lossy(w)
                );
            }
        }
    };
    for (_, s) in capture.spans() {
        check(s.name, &s.target, &s.fields);
    }
    for e in capture.events() {
        check("event", &e.target, &e.fields);
    }
    assert!(values > 20, "only {values} field values captured");
}

#[tokio::test]
async fn spans_carry_counts_and_no_secret_reaches_tracing() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.clone());

    let sb = Sandbox::builder()
        .seed(3)
        .users(60)
        .groups(4)
        .start()
        .await
        .unwrap();
    sb.okta().record_requests(true);
    let creds = &sb.credentials().okta;
    let mut secrets = Vec::new();

    // SSWS: a listing of several pages, through a 429.
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::TooManyRequests).times(1));
    let ssws = OktaClient::builder(domain(&sb), ApiToken::new(&creds.api_token).unwrap())
        .build()
        .unwrap();
    let groups = ssws.groups(&GroupQuery::new().limit(2)).await.unwrap();
    let log = sb.okta().requests();
    assert_eq!(log[0].status, 429);
    let served = log.iter().filter(|r| r.status == 200).count();
    let lists = capture.named("okta.list");
    assert_eq!(lists.len(), 1, "{lists:?}");
    let list = &lists[0].1;
    assert_eq!(list.field("path"), Some("/api/v1/groups"));
    assert_eq!(list.field("items"), Some(groups.len().to_string().as_str()));
    // One page per request served, but the rate-limited one.
    assert_eq!(list.field("pages"), Some(served.to_string().as_str()));
    assert!(served >= 3, "{served}");
    assert!(
        capture.named("okta.token").is_empty(),
        "SSWS fetches no token"
    );
    capture.clear();

    // Bearer (private_key_jwt, PEM key): one token POST.
    let app = &creds.bearer_rsa;
    secrets.extend(key_secrets(
        &app.key.private_pem,
        Some(&app.key.private_jwk),
    ));
    let key = PrivateKey::from_pem(&app.key.private_pem)
        .unwrap()
        .with_kid(&app.key.kid);
    let bearer = OktaClient::builder(
        domain(&sb),
        PrivateKeyJwt::builder(&app.client_id, key)
            .scopes(&app.scopes)
            .build()
            .unwrap(),
    )
    .build()
    .unwrap();
    let gid = sb.okta().groups()[0].id.clone();
    let members = bearer.group_members(&gid).await.unwrap();
    let tokens = capture.named("okta.token");
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0].1;
    assert_eq!(t.field("requests"), Some("1"));
    assert_eq!(t.field("nonce_retries"), Some("0"));
    assert_eq!(t.field("token_type"), Some("Bearer"));
    assert_eq!(t.field("dpop"), Some("false"));
    let list = &capture.named("okta.list")[0].1;
    assert_eq!(
        list.field("items"),
        Some(members.len().to_string().as_str())
    );
    capture.clear();

    // DPoP (JWK key, our own DPoP key so that we know it) with the resource nonce challenge,
    // a refetch after invalid_token, a 503 retry, and a snapshot.
    let app = &creds.dpop_rsa;
    secrets.extend(key_secrets(
        &app.key.private_pem,
        Some(&app.key.private_jwk),
    ));
    let dpop_key = PrivateKey::generate_p256().unwrap();
    secrets.extend(key_secrets(&dpop_key.to_pkcs8_pem().unwrap(), None));
    let client = PrivateKeyJwt::builder(
        &app.client_id,
        PrivateKey::from_jwk(&app.key.private_jwk).unwrap(),
    )
    .scopes(&app.scopes)
    .build()
    .unwrap();
    let dpop = OktaClient::builder(
        domain(&sb),
        Dpop::builder(client).dpop_key(dpop_key).build().unwrap(),
    )
    .member_page_limit(7)
    .retry_policy(
        okta_client::rate_limit::RetryPolicy::new()
            .with_base_delay(std::time::Duration::from_millis(1)),
    )
    .build()
    .unwrap();
    sb.okta().set_resource_nonce_required(true);
    let token = dpop.token_info().await.unwrap().unwrap();
    assert_eq!(token.token_type, okta_client::TokenType::Dpop);
    let tokens = capture.named("okta.token");
    assert_eq!(tokens.len(), 1);
    let t = &tokens[0].1;
    assert_eq!(t.field("requests"), Some("2"));
    assert_eq!(t.field("nonce_retries"), Some("1"));
    assert_eq!(t.field("token_type"), Some("Dpop"));
    assert_eq!(t.field("dpop"), Some("true"));
    sb.okta().expire_tokens();
    sb.faults().inject(
        Fault::new("/api/v1/groups/", FaultKind::ServerError(503))
            .after(2)
            .times(1),
    );
    let ids: Vec<String> = sb.okta().groups().into_iter().map(|g| g.id).collect();
    let snap = dpop.directory_snapshot(&ids, 2).await.unwrap();
    assert_eq!(capture.named("okta.token").len(), 2, "one refetch");

    let snaps = capture.named("okta.directory_snapshot");
    assert_eq!(snaps.len(), 1);
    let (snap_id, s) = &snaps[0];
    assert_eq!(s.field("groups"), Some(ids.len().to_string().as_str()));
    assert_eq!(s.field("concurrency"), Some("2"));
    assert_eq!(
        s.field("members"),
        Some(snap.membership_count().to_string().as_str())
    );
    let per_group = capture.named("okta.group_members");
    assert_eq!(per_group.len(), ids.len());
    let lists = capture.named("okta.list");
    for (gm_id, gm) in &per_group {
        assert_eq!(gm.parent, Some(*snap_id), "{gm:?}");
        let id = gm.field("group_id").unwrap();
        let n = snap.members[id].len();
        assert_eq!(gm.field("members"), Some(n.to_string().as_str()));
        assert_eq!(
            gm.field("pages"),
            Some(n.div_ceil(7).max(1).to_string().as_str())
        );
        let list: Vec<_> = lists
            .iter()
            .filter(|(_, l)| l.parent == Some(*gm_id))
            .collect();
        assert_eq!(list.len(), 1, "{gm:?}");
        assert_eq!(list[0].1.field("items"), gm.field("members"));
        assert_eq!(list[0].1.field("pages"), gm.field("pages"));
        assert_eq!(
            list[0].1.field("path"),
            Some(format!("/api/v1/groups/{id}/users").as_str())
        );
    }
    assert!(
        capture
            .events()
            .iter()
            .any(|e| e.fields.iter().any(|(_, v)| v == "retrying Okta request")),
        "the 503 retry is reported"
    );

    // Every secret that went over the wire, and the keys, are absent from everything captured.
    let log = sb.okta().requests();
    assert!(log.iter().any(|r| r.status == 401), "the nonce challenge");
    secrets.extend(wire_secrets(&log));
    assert!(secrets.len() > 50, "{} secrets to look for", secrets.len());
    assert!(secrets.contains(&creds.api_token));
    assert_no_secret(&capture, &secrets);
}
