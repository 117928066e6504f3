//! Duo's logs and account information on the Admin API: the authentication log (v2), the
//! administrator log (v1), the account summary, users' bypass codes and Duo Desktop
//! authenticators.
//!
//! Both logs hold what happened through the sandbox — every Auth API answer that Duo logs (push,
//! phone, passcode, bypass, a refused user) is an authentication event, every Admin API write an
//! administrator event — after a generated history of any size ([`DuoAccount::generate_auth_log`],
//! [`DuoAccount::generate_admin_log`]). The generated events are not stored: event `i` is made
//! from the seed and `i` when a page needs it, so a log of millions costs nothing until read, and
//! the same seed serves the same events (only their place in time follows the moment they were
//! generated, an hour before it, so that they stay inside Duo's 180 days).
//!
//! Paging is Duo's. The authentication log orders events by (timestamp in milliseconds, txid)
//! and its `next_offset` is the pair of the last event served (`"ts,txid"` when sent back); the
//! administrator log serves at most 1000 events from `mintime` on (seconds, inclusive), oldest
//! first, and has no cursor: a client asks again from the last timestamp it saw. Three events
//! share each second (and each authentication-log millisecond) of the generated histories, and
//! some of them are identical, so that a client's handling of ties is exercised. Duo delays new
//! authentication events by two minutes; the sandbox serves them at once.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use http::StatusCode;
use serde_json::{Value, json};

use super::envelope::{fail, ok};
use super::state::{Account, AdminPermission, now_secs};
use super::verify::Needs;
use super::{Call, DuoAccount, DuoState};

type S = State<Arc<DuoState>>;

/// Logs and account information need Duo's "Grant read information" / "Grant read log".
const INFO: Needs = Needs::Admin {
    permission: AdminPermission::ReadInformation,
    v5_only: false,
};
/// `/admin/v2` takes v5 signatures only.
const INFO_V5: Needs = Needs::Admin {
    permission: AdminPermission::ReadInformation,
    v5_only: true,
};
const READ: Needs = Needs::Admin {
    permission: AdminPermission::ReadResource,
    v5_only: false,
};

/// The authentication log's `limit`: default and maximum (Duo: 100 / 1000).
const AUTH_LIMIT: (usize, usize) = (100, 1000);
/// The administrator log answers at most this many events (Duo: "the 1000 earliest").
const ADMIN_PAGE: usize = 1000;
/// Generated events come in groups of this many sharing one timestamp.
const TIE: usize = 3;
/// Milliseconds between two groups of generated authentication events.
const AUTH_SPACING_MS: u64 = 1_237;

/// A user as the logs name them (a snapshot taken when a history is generated).
#[derive(Debug, Clone)]
struct LogUser {
    user_id: String,
    username: String,
    email: String,
}

/// An authentication event: its place in the log and its JSON.
#[derive(Debug, Clone)]
struct AuthEvent {
    ts_ms: u64,
    txid: String,
    json: Value,
}

/// An administrator event (the v1 log has no id: its place is its timestamp and its order).
#[derive(Debug, Clone)]
struct AdminEvent {
    ts: u64,
    json: Value,
}

/// The logs and the objects only they serve.
#[derive(Debug, Default)]
pub(crate) struct Logs {
    seed: u64,
    /// The Auth API application, as authentication events name it.
    auth_app: (String, String),
    users: Vec<LogUser>,
    /// Generated authentication events: how many, and the first one's time (ms).
    auth_generated: usize,
    auth_first_ms: u64,
    /// Events that happened through the sandbox, in log order (after the generated ones).
    auth: Vec<AuthEvent>,
    admin_generated: usize,
    admin_first: u64,
    admin: Vec<AdminEvent>,
    /// Bypass codes by user id.
    pub(crate) bypass_codes: BTreeMap<String, Vec<Value>>,
    pub(crate) desktop_authenticators: Vec<Value>,
    /// Transactions already logged (`auth_status` may report an answer more than once).
    logged: std::collections::HashSet<String>,
}

/// splitmix64: a good spread of bits from a counter, for generated values.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A UUID-shaped transaction id (Duo's `txid`), from two random words.
fn uuid(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48) & 0x3fff,
        b & 0xffff_ffff_ffff
    )
}

/// `2024-01-02T03:04:05.678000+00:00`, as Duo writes `isotimestamp`.
fn iso(ts_ms: u64) -> String {
    chrono::DateTime::from_timestamp_millis(i64::try_from(ts_ms).unwrap_or(i64::MAX))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, false))
        .unwrap_or_default()
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

const FACTORS: &[(&str, &str, &str)] = &[
    // (factor, success reason, failure reason)
    ("duo_push", "user_approved", "user_cancelled"),
    ("duo_push", "user_approved", "user_marked_fraud"),
    ("passcode", "valid_passcode", "invalid_passcode"),
    ("phone_call", "user_approved", "no_response"),
    ("sms_passcode", "valid_passcode", "invalid_passcode"),
    ("webauthn_security_key", "user_approved", "user_cancelled"),
    ("bypass_code", "valid_passcode", "invalid_passcode"),
];

impl Logs {
    /// The logs of an account generated from `seed`: bypass codes and Duo Desktop
    /// authenticators for some of its users, and empty logs.
    pub(crate) fn generate(seed: u64, account: &Account, auth_app: String) -> Self {
        let mut logs = Logs {
            seed,
            auth_app: (auth_app, "Auth API".to_owned()),
            ..Logs::default()
        };
        logs.snapshot_users(account);
        let now = now_secs();
        for (i, u) in account.users.iter().enumerate() {
            if i % 5 == 2 {
                let codes = (0..1 + i % 3)
                    .map(|k| {
                        let r = mix(seed ^ 0xB7 ^ ((i as u64) << 8) ^ k as u64);
                        json!({
                            "bypass_code_id": format!("DZ{:018X}", r % 10u64.pow(18)),
                            "admin_email": "admin@example.com",
                            "created": now - 86_400 * (1 + r % 30),
                            "expiration": if k == 0 { Value::Null } else { json!(now + 3_600 * (1 + r % 48)) },
                            "reuse_count": r % 4,
                            "user": {"user_id": u.user_id, "username": u.username, "email": u.email},
                        })
                    })
                    .collect();
                logs.bypass_codes.insert(u.user_id.clone(), codes);
            }
            if i % 4 == 1 {
                let r = mix(seed ^ 0xDA ^ i as u64);
                let (os, family) = if r.is_multiple_of(2) {
                    ("macOS 14.4", "macOS")
                } else {
                    ("Windows 11", "Windows")
                };
                logs.desktop_authenticators.push(json!({
                    "dakey": format!("DA{:018X}", r % 10u64.pow(18)),
                    "device_name": format!("{}-laptop", u.username.split('@').next().unwrap_or("user")),
                    "os_family": family,
                    "os_version": os,
                    "duo_desktop_version": "7.2.0",
                    "date_created": now - 86_400 * (1 + r % 300),
                    "last_seen": now - 3_600 * (r % 100),
                    "user": {"user_id": u.user_id, "username": u.username, "email": u.email},
                }));
            }
        }
        logs
    }

    fn snapshot_users(&mut self, account: &Account) {
        self.users = account
            .users
            .iter()
            .map(|u| LogUser {
                user_id: u.user_id.clone(),
                username: u.username.clone(),
                email: u.email.clone(),
            })
            .collect();
        if self.users.is_empty() {
            self.users.push(LogUser {
                user_id: "DUNOBODY0000000000000".into(),
                username: "nobody".into(),
                email: String::new(),
            });
        }
    }

    // ----- the authentication log -----

    fn auth_len(&self) -> usize {
        self.auth_generated + self.auth.len()
    }

    /// The key of the generated event `i`: its group's time and its txid, the group's txids in
    /// order.
    fn generated_key(&self, i: usize) -> (u64, String) {
        let group = i / TIE;
        let first = group * TIE;
        let last = (first + TIE).min(self.auth_generated);
        let mut txids: Vec<String> = (first..last)
            .map(|j| {
                let a = mix(self.seed ^ 0xA0A0 ^ (j as u64).wrapping_mul(0x1_0000_0001));
                uuid(a, mix(a))
            })
            .collect();
        txids.sort();
        let ts = self.auth_first_ms + group as u64 * AUTH_SPACING_MS;
        (ts, std::mem::take(&mut txids[i - first]))
    }

    fn auth_key(&self, p: usize) -> (u64, std::borrow::Cow<'_, str>) {
        if p < self.auth_generated {
            let (ts, txid) = self.generated_key(p);
            (ts, std::borrow::Cow::Owned(txid))
        } else {
            let e = &self.auth[p - self.auth_generated];
            (e.ts_ms, std::borrow::Cow::Borrowed(e.txid.as_str()))
        }
    }

    /// The first position whose key is not below `(ts, txid)` (`strict`: not at or below it).
    fn auth_position(&self, ts: u64, txid: Option<&str>, strict: bool) -> usize {
        let below = |p: usize| {
            let (kts, ktx) = self.auth_key(p);
            match txid {
                None => {
                    if strict {
                        kts <= ts
                    } else {
                        kts < ts
                    }
                }
                Some(t) => {
                    let ord = (kts, ktx.as_ref()).cmp(&(ts, t));
                    ord.is_lt() || (strict && ord.is_eq())
                }
            }
        };
        let (mut lo, mut hi) = (0, self.auth_len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if below(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    fn auth_event(&self, p: usize) -> Value {
        if p >= self.auth_generated {
            return self.auth[p - self.auth_generated].json.clone();
        }
        let (ts_ms, txid) = self.generated_key(p);
        let r = mix(self.seed ^ 0x5EED ^ p as u64);
        let user = &self.users[(r % self.users.len() as u64) as usize];
        let (factor, yes, no) = FACTORS[((r >> 8) % FACTORS.len() as u64) as usize];
        let (result, reason) = match (r >> 16) % 100 {
            0..85 => ("success", yes),
            85..97 => ("denied", no),
            _ => ("fraud", "user_marked_fraud"),
        };
        let ip = format!("198.51.100.{}", (r >> 24) % 250 + 1);
        event_json(
            ts_ms,
            &txid,
            user,
            factor,
            result,
            reason,
            &self.auth_app,
            Some(&ip),
        )
    }

    /// Records an authentication that happened through the sandbox, now.
    fn record_auth(
        &mut self,
        user: LogUser,
        factor: &str,
        result: &str,
        reason: &str,
        txid: Option<&str>,
    ) {
        if let Some(t) = txid
            && !self.logged.insert(t.to_owned())
        {
            return;
        }
        // The log's order is (time, txid): an event never goes before one already there, even
        // if the clock stepped back.
        let last = self.auth.last().map_or(0, |e| e.ts_ms);
        let generated_end = self
            .auth_first_ms
            .saturating_add((self.auth_generated.div_ceil(TIE)) as u64 * AUTH_SPACING_MS);
        let ts_ms = now_ms().max(last).max(generated_end);
        let mut txid = txid.map_or_else(
            || uuid(mix(ts_ms ^ rand::random::<u64>()), rand::random()),
            str::to_owned,
        );
        if self
            .auth
            .last()
            .is_some_and(|e| e.ts_ms == ts_ms && e.txid >= txid)
        {
            // Same millisecond: keep the order by making this txid sort after the last one.
            txid = format!(
                "{}~{txid}",
                self.auth.last().map_or("", |e| e.txid.as_str())
            );
        }
        let json = event_json(
            ts_ms,
            &txid,
            &user,
            factor,
            result,
            reason,
            &self.auth_app,
            Some("127.0.0.1"),
        );
        self.auth.push(AuthEvent { ts_ms, txid, json });
    }

    // ----- the administrator log -----

    fn admin_len(&self) -> usize {
        self.admin_generated + self.admin.len()
    }

    fn admin_ts(&self, p: usize) -> u64 {
        if p < self.admin_generated {
            self.admin_first + (p / TIE) as u64
        } else {
            self.admin[p - self.admin_generated].ts
        }
    }

    fn admin_event(&self, p: usize) -> Value {
        if p >= self.admin_generated {
            return self.admin[p - self.admin_generated].json.clone();
        }
        // Every 50th second holds two identical events (the 2nd and 3rd): a client that drops
        // "duplicates" by content alone would lose one.
        let twin = (p / TIE).is_multiple_of(50) && p % TIE == 2;
        let r = mix(self.seed ^ 0xAD ^ if twin { p - 1 } else { p } as u64);
        let user = &self.users[(r % self.users.len() as u64) as usize];
        let (action, description) = match (r >> 8) % 4 {
            0 => ("user_update", json!({"status": "Active"}).to_string()),
            1 => ("user_create", json!({"email": user.email}).to_string()),
            2 => (
                "bypass_create",
                json!({"bypass": "", "count": 1}).to_string(),
            ),
            _ => ("admin_login", json!({"factor": "push"}).to_string()),
        };
        admin_json(self.admin_ts(p), action, &user.username, &description)
    }

    /// Records an administrator action that happened through the sandbox (by the Admin API
    /// application), now.
    pub(crate) fn record_admin(&mut self, action: &str, object: &str, description: &Value) {
        let last = self.admin.last().map_or(0, |e| e.ts);
        let generated_end = self.admin_first + self.admin_generated.div_ceil(TIE) as u64;
        let ts = now_secs().max(last).max(generated_end);
        let json = admin_json(ts, action, object, &description.to_string());
        self.admin.push(AdminEvent { ts, json });
    }

    /// The first position at or after `ts` (seconds).
    fn admin_position(&self, ts: u64) -> usize {
        let (mut lo, mut hi) = (0, self.admin_len());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.admin_ts(mid) < ts {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }
}

/// Records an authentication of the user `user_id` that happened through the sandbox, now, in
/// the authentication log; `txid` (the Auth API transaction) is logged once whatever the number
/// of answers that report it.
pub(crate) fn record_auth(
    account: &mut Account,
    user_id: &str,
    factor: &str,
    result: &str,
    reason: &str,
    txid: Option<&str>,
) {
    let user = account
        .user_index(user_id)
        .map(|i| &account.users[i])
        .map_or_else(
            || LogUser {
                user_id: user_id.to_owned(),
                username: user_id.to_owned(),
                email: String::new(),
            },
            |u| LogUser {
                user_id: u.user_id.clone(),
                username: u.username.clone(),
                email: u.email.clone(),
            },
        );
    account.logs.record_auth(user, factor, result, reason, txid);
}

#[allow(clippy::too_many_arguments)] // one event's fields, each from its own place
fn event_json(
    ts_ms: u64,
    txid: &str,
    user: &LogUser,
    factor: &str,
    result: &str,
    reason: &str,
    app: &(String, String),
    ip: Option<&str>,
) -> Value {
    json!({
        "access_device": {
            "browser": "Chrome", "browser_version": "124.0.6367.91", "flash_version": "uninstalled",
            "hostname": null, "ip": ip, "is_encryption_enabled": "unknown",
            "is_firewall_enabled": "unknown", "is_password_set": "unknown",
            "java_version": "uninstalled",
            "location": {"city": "Ann Arbor", "country": "United States", "state": "Michigan"},
            "os": "Mac OS X", "os_version": "14.4"
        },
        "adaptive_trust_assessments": {},
        "alias": "",
        "application": {"key": app.0, "name": app.1},
        "auth_device": {"ip": null, "location": {"city": null, "country": null, "state": null}, "name": "Phone 1"},
        "email": user.email,
        "event_type": "authentication",
        "factor": factor,
        "isotimestamp": iso(ts_ms),
        "ood_software": null,
        "reason": reason,
        "result": result,
        "timestamp": ts_ms / 1000,
        "trusted_endpoint_status": "not trusted",
        "txid": txid,
        "user": {"groups": [], "key": user.user_id, "name": user.username},
    })
}

fn admin_json(ts: u64, action: &str, object: &str, description: &str) -> Value {
    json!({
        "action": action,
        "description": description,
        "isotimestamp": iso(ts * 1000),
        "object": object,
        "timestamp": ts,
        "username": "API",
        "host": "api-sandbox.duosecurity.com",
    })
}

macro_rules! verified {
    ($call:expr, $state:expr, $needs:expr) => {
        match $call.verify(&$state, $needs) {
            Ok(v) => v,
            Err(response) => return response,
        }
    };
}

fn invalid(detail: &str) -> Response {
    fail(
        StatusCode::BAD_REQUEST,
        40002,
        "Invalid request parameters",
        Some(detail),
    )
}

pub(crate) fn routes() -> Router<Arc<DuoState>> {
    Router::new()
        .route("/admin/v2/logs/authentication", get(authentication_log))
        .route("/admin/v1/logs/administrator", get(administrator_log))
        .route("/admin/v1/info/summary", get(summary))
        .route("/admin/v1/users/{id}/bypass_codes", get(user_bypass_codes))
        .route("/admin/v1/bypass_codes", get(bypass_codes))
        .route(
            "/admin/v1/desktop_authenticators",
            get(desktop_authenticators),
        )
}

/// `GET /admin/v2/logs/authentication`.
async fn authentication_log(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, INFO_V5);
    let time = |k: &str| v.get(k).map(|s| s.parse::<u64>().map_err(|_| invalid(k)));
    let (mintime, maxtime) = match (time("mintime"), time("maxtime")) {
        (Some(Ok(a)), Some(Ok(b))) if a < b => (a, b),
        (Some(Err(r)), _) | (_, Some(Err(r))) => return r,
        (None, _) => return invalid("mintime"),
        (_, None) => return invalid("maxtime"),
        _ => return invalid("mintime must be less than maxtime"),
    };
    let limit = match v.get("limit").map(|s| s.parse::<usize>()) {
        None => AUTH_LIMIT.0,
        Some(Ok(n)) if (1..=AUTH_LIMIT.1).contains(&n) => n,
        Some(_) => return invalid("limit"),
    };
    let descending = match v.get("sort").as_deref() {
        None | Some("ts:desc") => true,
        Some("ts:asc") => false,
        Some(_) => return invalid("sort"),
    };
    let offset = match v.get("next_offset") {
        None => None,
        Some(s) => match s
            .split_once(',')
            .map(|(t, x)| (t.trim().parse::<u64>(), x.trim()))
        {
            Some((Ok(ts), txid)) if !txid.is_empty() => Some((ts, txid.to_owned())),
            _ => return invalid("next_offset"),
        },
    };
    let account = state.account();
    let logs = &account.logs;
    let lo = logs.auth_position(mintime, None, false);
    let hi = logs.auth_position(maxtime, None, true);
    let (range, next): (Vec<usize>, Option<usize>) = if descending {
        let end = offset
            .as_ref()
            .map_or(hi, |(ts, tx)| logs.auth_position(*ts, Some(tx), false))
            .clamp(lo, hi);
        let start = end.saturating_sub(limit).max(lo);
        ((start..end).rev().collect(), (start > lo).then_some(start))
    } else {
        let start = offset
            .as_ref()
            .map_or(lo, |(ts, tx)| logs.auth_position(*ts, Some(tx), true))
            .clamp(lo, hi);
        let end = (start + limit).min(hi);
        ((start..end).collect(), (end < hi).then(|| end - 1))
    };
    let events: Vec<Value> = range.iter().map(|p| logs.auth_event(*p)).collect();
    let repeat = state
        .faults
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .and_then(|f| f.take(&call.method, call.uri.path(), true))
        .is_some();
    let next_offset = match (next, &offset) {
        (Some(_), Some((ts, tx))) if repeat => json!([ts.to_string(), tx]),
        (Some(p), _) => {
            let (ts, tx) = logs.auth_key(p);
            json!([ts.to_string(), tx])
        }
        (None, _) => Value::Null,
    };
    ok(json!({
        "authlogs": events,
        "metadata": {"next_offset": next_offset, "total_objects": hi - lo},
    }))
}

/// `GET /admin/v1/logs/administrator`: the first 1000 events from `mintime` on.
async fn administrator_log(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, INFO);
    let mintime = match v.get("mintime").map(|s| s.parse::<u64>()) {
        None => 0,
        Some(Ok(t)) => t,
        Some(Err(_)) => return invalid("mintime"),
    };
    let account = state.account();
    let logs = &account.logs;
    let start = logs.admin_position(mintime);
    let end = (start + ADMIN_PAGE).min(logs.admin_len());
    ok(Value::Array(
        (start..end).map(|p| logs.admin_event(p)).collect(),
    ))
}

/// `GET /admin/v1/info/summary`.
async fn summary(State(state): S, call: Call) -> Response {
    let _ = verified!(call, state, INFO);
    let account = state.account();
    let pending = account
        .users
        .iter()
        .filter(|u| u.status == "pending deletion")
        .count();
    ok(json!({
        "admin_count": account.admins.len(),
        "integration_count": state.apps.len() + 1,
        "telephony_credits_remaining": 960,
        "user_count": account.users.len() - pending,
        "user_pending_deletion_count": pending,
    }))
}

/// `GET /admin/v1/users/{id}/bypass_codes` (offset paging, as every v1 listing).
async fn user_bypass_codes(State(state): S, Path(id): Path<String>, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match super::admin_api::paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let account = state.account();
    if account.user_index(&id).is_none() {
        return fail(StatusCode::NOT_FOUND, 40401, "Resource not found", None);
    }
    let codes = account
        .logs
        .bypass_codes
        .get(&id)
        .cloned()
        .unwrap_or_default();
    super::admin_api::page(&state, &call, codes, limit, offset, write_value)
}

/// `GET /admin/v1/bypass_codes`.
async fn bypass_codes(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match super::admin_api::paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let codes: Vec<Value> = state
        .account()
        .logs
        .bypass_codes
        .values()
        .flatten()
        .cloned()
        .collect();
    super::admin_api::page(&state, &call, codes, limit, offset, write_value)
}

/// `GET /admin/v1/desktop_authenticators`.
async fn desktop_authenticators(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match super::admin_api::paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = state.account().logs.desktop_authenticators.clone();
    super::admin_api::page(&state, &call, items, limit, offset, write_value)
}

fn write_value(v: Value, out: &mut Vec<u8>) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &v);
}

/// The logs, for tests.
impl DuoAccount {
    /// Replaces the generated part of the authentication log with `count` events (made from the
    /// seed; three share each millisecond, 1.237 s apart), ending an hour before now. Events
    /// that happened through the sandbox stay, after them. Returns the generated window
    /// `(first, last)` in milliseconds.
    pub fn generate_auth_log(&self, count: usize) -> (u64, u64) {
        let mut account = self.state.account();
        let users = {
            let mut tmp = Logs::default();
            tmp.snapshot_users(&account);
            tmp.users
        };
        let logs = &mut account.logs;
        logs.users = users;
        let span = count.div_ceil(TIE).saturating_sub(1) as u64 * AUTH_SPACING_MS;
        let end = logs
            .auth
            .first()
            .map_or(now_ms(), |e| e.ts_ms)
            .saturating_sub(3_600_000);
        logs.auth_first_ms = end.saturating_sub(span);
        logs.auth_generated = count;
        (logs.auth_first_ms, logs.auth_first_ms + span)
    }

    /// Replaces the generated part of the administrator log with `count` events (three a
    /// second, some of them identical twins), ending an hour before now. Returns the first
    /// event's timestamp (seconds).
    pub fn generate_admin_log(&self, count: usize) -> u64 {
        let mut account = self.state.account();
        let logs = &mut account.logs;
        let span = count.div_ceil(TIE) as u64;
        let end = logs.admin.first().map_or(now_secs(), |e| e.ts) - 3_600;
        logs.admin_first = end.saturating_sub(span);
        logs.admin_generated = count;
        logs.admin_first
    }

    /// Every event of the authentication log, oldest first (the generated ones included: mind
    /// the size).
    pub fn auth_log(&self) -> Vec<serde_json::Value> {
        let account = self.state.account();
        (0..account.logs.auth_len())
            .map(|p| account.logs.auth_event(p))
            .collect()
    }

    /// Every event of the administrator log, oldest first.
    pub fn admin_log(&self) -> Vec<serde_json::Value> {
        let account = self.state.account();
        (0..account.logs.admin_len())
            .map(|p| account.logs.admin_event(p))
            .collect()
    }

    /// Records an authentication event now, as if it had happened through the sandbox (for
    /// events of other front ends, such as a SAML sign-in protected by Duo).
    pub fn record_auth_event(&self, username: &str, factor: &str, result: &str, reason: &str) {
        let mut account = self.state.account();
        let user_id = account
            .find_by_name(username)
            .map_or_else(|| username.to_owned(), |i| account.users[i].user_id.clone());
        record_auth(&mut account, &user_id, factor, result, reason, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logs(n: usize) -> Logs {
        let mut l = Logs {
            seed: 7,
            ..Logs::default()
        };
        l.snapshot_users(&Account::default());
        l.auth_generated = n;
        l.auth_first_ms = 1_700_000_000_000;
        l
    }

    #[test]
    fn generated_keys_are_ordered_and_unique() {
        let l = logs(1_000);
        let keys: Vec<(u64, String)> = (0..1_000).map(|p| l.generated_key(p)).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]), "strictly increasing");
        assert_eq!(keys[0].0, keys[2].0, "three events share a millisecond");
        assert_ne!(keys[2].0, keys[3].0);
        // Positions found by key.
        for p in [0, 1, 2, 3, 500, 999] {
            let (ts, tx) = &keys[p];
            assert_eq!(l.auth_position(*ts, Some(tx), false), p);
            assert_eq!(l.auth_position(*ts, Some(tx), true), p + 1);
        }
        assert_eq!(l.auth_position(keys[3].0, None, false), 3);
        assert_eq!(l.auth_position(keys[3].0, None, true), 6);
        assert_eq!(l.auth_event(5)["txid"], keys[5].1.as_str());
    }

    #[test]
    fn real_events_follow_the_generated_ones_in_order() {
        let mut l = logs(10);
        for _ in 0..50 {
            let user = l.users[0].clone();
            l.record_auth(user, "duo_push", "success", "user_approved", None);
        }
        let keys: Vec<(u64, String)> = (0..l.auth_len())
            .map(|p| {
                let (a, b) = l.auth_key(p);
                (a, b.into_owned())
            })
            .collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }
}
