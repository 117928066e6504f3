//! The Okta System Log and the portal's SAML app, kept consistent with what happened.
//!
//! * Every access token the token endpoint grants is a `app.oauth2.as.token.grant.access_token`
//!   event (actor: the service app). A sign-in recorded with [`OktaDirectory::record_sign_in`]
//!   is a `user.authentication.sso` event for the portal's SAML app (or `user.session.start`
//!   without an app), and sets the user's `lastLogin`; [`OktaDirectory::record_event`] logs any
//!   other event. The SAML IdP of the sandbox calls `record_sign_in` for each sign-in it serves.
//! * `GET /api/v1/logs` serves them as Okta does: `since` (inclusive, default seven days ago),
//!   `until` (exclusive), `filter` (the expressions of [`super::search`] over the event's
//!   attributes: `eventType`, `outcome.result`, `actor.id`, `actor.alternateId`, `actor.type`,
//!   `severity`, `uuid`, `published`, `transaction.id`), `q` (space-separated keywords, each found
//!   somewhere in the event, case-insensitively), `limit` (default 100, at most 1000),
//!   `sortOrder=ASCENDING` (the default; `DESCENDING` is not served here). Without `until` a
//!   request is a poll: its answer always carries a `next` link, also when empty, to ask again
//!   later; with `until`, `next` is there only while the window holds more.
//! * The portal's SAML app (`Duo Login Portal`, `SAML_2_0`) is assigned to the groups named
//!   `Portal Admins` and `Portal Users` (when the org has them); `/api/v1/apps/{id}/groups`
//!   lists those groups and `/api/v1/apps/{id}/users` the users they give the app (scope
//!   `GROUP`), as Okta does for group assignments.

use serde_json::{Value, json};

use super::OktaDirectory;
use super::time::{iso8601, now_millis};

/// One event of the System Log.
#[derive(Debug, Clone)]
pub(crate) struct LogEvent {
    pub(crate) published_ms: i64,
    pub(crate) json: Value,
}

/// The portal's SAML app.
#[derive(Debug, Clone)]
pub(crate) struct PortalApp {
    pub(crate) id: String,
    pub(crate) label: String,
    /// Assigned groups by id, with their assignment time (ms).
    pub(crate) groups: Vec<(String, i64)>,
}

/// The System Log and the portal app.
#[derive(Debug, Default)]
pub(crate) struct Access {
    pub(crate) events: Vec<LogEvent>,
    pub(crate) app: Option<PortalApp>,
}

impl Access {
    /// Appends an event now (never before the last one: the log is in `published` order).
    pub(crate) fn record(&mut self, json: Value) -> Value {
        self.record_at(json, now_millis()).0
    }

    /// [`record`](Self::record) with `at_ms` as the time (moved up to the last event's, so that
    /// the log stays in order); the event's `published` is that time, returned with the event.
    pub(crate) fn record_at(&mut self, mut json: Value, at_ms: i64) -> (Value, i64) {
        let last = self.events.last().map_or(0, |e| e.published_ms);
        let published_ms = at_ms.max(last);
        json["published"] = Value::String(iso8601(published_ms));
        json["uuid"] = Value::String(uuid());
        self.events.push(LogEvent {
            published_ms,
            json: json.clone(),
        });
        (json, published_ms)
    }

    /// The value of a filter attribute of event `e`: a dotted path into its JSON.
    pub(crate) fn attr<'a>(e: &'a Value, path: &str) -> Option<std::borrow::Cow<'a, str>> {
        let mut v = e;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        match v {
            Value::String(s) => Some(std::borrow::Cow::Borrowed(s.as_str())),
            Value::Null => None,
            other => Some(std::borrow::Cow::Owned(other.to_string())),
        }
    }
}

/// The attributes `filter` may name on System Log events.
pub(crate) const LOG_FILTER_ATTRS: &[&str] = &[
    "eventType",
    "outcome.result",
    "outcome.reason",
    "actor.id",
    "actor.alternateId",
    "actor.type",
    "actor.displayName",
    "severity",
    "uuid",
    "published",
    "transaction.id",
    "displayMessage",
];

fn uuid() -> String {
    let a: u128 = rand::random();
    let h = format!("{a:032x}");
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..]
    )
}

fn base_event(event_type: &str, display: &str, actor: Value, outcome: &str) -> Value {
    json!({
        "actor": actor,
        "client": {
            "userAgent": {"rawUserAgent": "idp-sandbox", "os": "Unknown", "browser": "UNKNOWN"},
            "zone": "null", "device": "Unknown", "id": null, "ipAddress": "127.0.0.1",
            "geographicalContext": null
        },
        "authenticationContext": {"authenticationStep": 0, "externalSessionId": "sandbox"},
        "displayMessage": display,
        "eventType": event_type,
        "outcome": {"result": outcome, "reason": null},
        "securityContext": {},
        "severity": "INFO",
        "debugContext": {"debugData": {}},
        "legacyEventType": null,
        "transaction": {"type": "WEB", "id": crate::random_id(24), "detail": {}},
        "version": "0",
        "request": {"ipChain": [{"ip": "127.0.0.1"}]},
        "target": [],
    })
}

/// The event of an access token granted to a service app.
pub(crate) fn token_grant(client_id: &str, app_name: &str, scopes: &[String]) -> Value {
    let mut e = base_event(
        "app.oauth2.as.token.grant.access_token",
        "OAuth2 access token is granted",
        json!({"id": client_id, "type": "PublicClientApp", "alternateId": client_id, "displayName": app_name}),
        "SUCCESS",
    );
    e["target"] = json!([{"id": crate::random_id(20), "type": "access_token", "alternateId": "sandbox", "displayName": "Access Token", "detailEntry": {"scopes": scopes.join(" ")}}]);
    e["debugContext"]["debugData"] =
        json!({"grantType": "client_credentials", "clientId": client_id});
    e
}

/// The event of a user's sign-in, to an app (SSO) or to Okta.
pub(crate) fn sign_in(user: (&str, &str, &str), app: Option<(&str, &str)>, success: bool) -> Value {
    let (id, login, name) = user;
    let actor = json!({"id": id, "type": "User", "alternateId": login, "displayName": name});
    let outcome = if success { "SUCCESS" } else { "FAILURE" };
    match app {
        Some((app_id, label)) => {
            let mut e = base_event(
                "user.authentication.sso",
                "User single sign on to app",
                actor,
                outcome,
            );
            e["target"] = json!([{"id": app_id, "type": "AppInstance", "alternateId": label, "displayName": label}]);
            e
        }
        None => base_event("user.session.start", "User login to Okta", actor, outcome),
    }
}

/// The System Log, for tests and for the sandbox's other front ends.
impl OktaDirectory {
    /// Every System Log event so far, oldest first.
    pub fn system_log(&self) -> Vec<Value> {
        self.state
            .lock_access()
            .events
            .iter()
            .map(|e| e.json.clone())
            .collect()
    }

    /// Logs an event now; `published` and `uuid` are set here. Returns the event as logged.
    pub fn record_event(&self, event: Value) -> Value {
        self.state.lock_access().record(event)
    }

    /// Records a sign-in of the user with this id or login, now: its `lastLogin` moves (on
    /// success) and the System Log gets a `user.authentication.sso` event for the portal's SAML
    /// app (`to_portal_app`) or a `user.session.start`. False when there is no such user.
    pub fn record_sign_in(&self, id_or_login: &str, to_portal_app: bool, success: bool) -> bool {
        self.state
            .record_sign_in(id_or_login, to_portal_app, success)
    }

    /// The portal's SAML app: its id and the ids of the groups assigned to it.
    pub fn portal_app(&self) -> Option<(String, Vec<String>)> {
        let access = self.state.lock_access();
        let app = access.app.as_ref()?;
        Some((
            app.id.clone(),
            app.groups.iter().map(|(g, _)| g.clone()).collect(),
        ))
    }

    /// Assigns a group to the portal's SAML app (false when it already was, or there is none).
    pub fn assign_portal_group(&self, group_id: &str) -> bool {
        let mut access = self.state.lock_access();
        let Some(app) = access.app.as_mut() else {
            return false;
        };
        if app.groups.iter().any(|(g, _)| g == group_id) {
            return false;
        }
        app.groups.push((group_id.to_owned(), now_millis()));
        true
    }
}

/// The portal app of an org whose directory has these group ids for the portal's groups.
pub(crate) fn portal_app(seed: u64, groups: Vec<String>) -> PortalApp {
    let id = format!(
        "0oa{}",
        &format!("{:x}{:x}", seed.wrapping_mul(0x9E37_79B9), seed ^ 0x5A5A)
            .chars()
            .chain(std::iter::repeat('0'))
            .take(17)
            .collect::<String>()
    );
    let at = now_millis();
    PortalApp {
        id,
        label: "Duo Login Portal".into(),
        groups: groups.into_iter().map(|g| (g, at)).collect(),
    }
}

impl super::OktaState {
    /// [`OktaDirectory::record_sign_in`], for the sandbox's own front ends (its SAML IdP).
    pub(crate) fn record_sign_in(
        &self,
        id_or_login: &str,
        to_portal_app: bool,
        success: bool,
    ) -> bool {
        let now = now_millis();
        let user = {
            let mut dir = self.write_directory();
            if success {
                dir.record_login(id_or_login, now)
            } else {
                dir.user(id_or_login).map(|u| (u.id, u.login, u.first_name))
            }
        };
        let Some((id, login, name)) = user else {
            return false;
        };
        let mut access = self.lock_access();
        let app = access
            .app
            .as_ref()
            .filter(|_| to_portal_app)
            .map(|a| (a.id.clone(), a.label.clone()));
        let event = sign_in(
            (&id, &login, &name),
            app.as_ref().map(|(i, l)| (i.as_str(), l.as_str())),
            success,
        );
        // One clock read for both: the user's lastLogin is the sign-in event's published time,
        // as in Okta.
        let (_, published_ms) = access.record_at(event, now);
        drop(access);
        if success && published_ms != now {
            // An event recorded meanwhile was later than our clock read: the log's order won.
            self.write_directory().record_login(&id, published_ms);
        }
        true
    }
}
