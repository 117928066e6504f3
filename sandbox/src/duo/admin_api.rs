//! Duo Admin API: users, phones, groups, group members (v2), admins, create and bulk create.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::StatusCode;
use serde_json::{Value, json};

use super::envelope::fail;
use super::state::{Account, AdminPermission, Group, User, now_secs};
use super::verify::{Needs, Verified};
use super::{Call, DuoState};
use crate::random_id;

type S = State<Arc<DuoState>>;

const READ: Needs = Needs::Admin {
    permission: AdminPermission::ReadResource,
    v5_only: false,
};
const READ_V5: Needs = Needs::Admin {
    permission: AdminPermission::ReadResource,
    v5_only: true,
};
const WRITE: Needs = Needs::Admin {
    permission: AdminPermission::WriteResource,
    v5_only: false,
};
const WRITE_V5: Needs = Needs::Admin {
    permission: AdminPermission::WriteResource,
    v5_only: true,
};
const ADMINS: Needs = Needs::Admin {
    permission: AdminPermission::Administrators,
    v5_only: false,
};

pub(crate) fn routes() -> Router<Arc<DuoState>> {
    Router::new()
        .route("/admin/v1/users", get(list_users).post(create_user))
        .route("/admin/v1/users/bulk_create", post(bulk_create))
        .route("/admin/v1/users/enroll", post(enroll_user))
        .route("/admin/v1/users/{id}", get(get_user))
        .route("/admin/v1/users/{id}/phones", get(user_phones))
        .route(
            "/admin/v1/users/{id}/groups",
            get(user_groups).post(add_user_to_group),
        )
        .route("/admin/v1/groups", get(list_groups))
        .route("/admin/v2/groups/{id}/users", get(group_users))
        .route("/admin/v1/phones", get(list_phones))
        .route("/admin/v1/admins", get(list_admins))
        .merge(super::logs::routes())
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

fn not_found() -> Response {
    fail(StatusCode::NOT_FOUND, 40401, "Resource not found", None)
}

/// `limit`/`offset` as Duo reads them: limit defaults to `default` and is capped at `max`.
pub(crate) fn paging(v: &Verified, default: usize, max: usize) -> Result<(usize, usize), Response> {
    let limit = match v.get("limit") {
        None => default,
        Some(s) => match s.parse::<usize>() {
            Ok(0) | Err(_) => return Err(invalid("limit")),
            Ok(n) => n.min(max),
        },
    };
    let offset = match v.get("offset") {
        None => 0,
        Some(s) => s.parse().map_err(|_| invalid("offset"))?,
    };
    Ok((limit, offset))
}

/// A page of `items` with Duo's top-level `metadata`; a `RepeatCursor` fault makes
/// `next_offset` repeat the current offset.
///
/// Only the page's items are rendered, each straight to JSON text: listing a large account must
/// neither serialize all of it nor build a tree of values per request.
pub(crate) fn page<T>(
    state: &DuoState,
    call: &Call,
    items: Vec<T>,
    limit: usize,
    offset: usize,
    mut render: impl FnMut(T, &mut Vec<u8>),
) -> Response {
    let total = items.len();
    page_of(state, call, total, limit, offset, |body| {
        let mut count = 0;
        for item in items.into_iter().skip(offset).take(limit) {
            if count > 0 {
                body.push(b',');
            }
            render(item, body);
            count += 1;
        }
        count
    })
}

/// The envelope of a page of `total` items: `write` appends the page's items (comma-separated
/// JSON values) and says how many it wrote.
fn page_of(
    state: &DuoState,
    call: &Call,
    total: usize,
    limit: usize,
    offset: usize,
    write: impl FnOnce(&mut Vec<u8>) -> usize,
) -> Response {
    let mut items = Vec::with_capacity(limit.min(total) * 1024);
    let count = write(&mut items);
    page_body(state, call, total, limit, offset, count, items.into())
}

/// The envelope around `items` (`count` comma-separated JSON values), sent as three pieces: the
/// items are not copied into a body of their own (a page of users is a slice of
/// [`RenderedUsers`]).
fn page_body(
    state: &DuoState,
    call: &Call,
    total: usize,
    limit: usize,
    offset: usize,
    count: usize,
    items: Bytes,
) -> Response {
    let mut metadata = json!({"total_objects": total});
    if offset + count < total {
        let repeat = state
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .and_then(|f| f.take(&call.method, call.uri.path(), true))
            .is_some();
        metadata["next_offset"] = json!(if repeat { offset } else { offset + count });
    }
    if offset > 0 {
        metadata["prev_offset"] = json!(offset.saturating_sub(limit));
    }
    let head = Bytes::from_static(br#"{"stat":"OK","response":["#);
    let tail = Bytes::from(format!(r#"],"metadata":{metadata}}}"#));
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::new(Pieces([head, items, tail].into())),
    )
        .into_response()
}

/// A body made of pieces already in memory, sent without joining them (hyper writes them with
/// one vectored write); its exact length is known, so it goes out with a `Content-Length`.
struct Pieces(std::collections::VecDeque<Bytes>);

impl http_body::Body for Pieces {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let next = std::iter::from_fn(|| self.0.pop_front()).find(|b| !b.is_empty());
        std::task::Poll::Ready(next.map(|b| Ok(http_body::Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.iter().all(Bytes::is_empty)
    }

    fn size_hint(&self) -> http_body::SizeHint {
        http_body::SizeHint::with_exact(self.0.iter().map(|b| b.len() as u64).sum())
    }
}

/// Every user's Admin API JSON, in the account's order, made once and kept until the users,
/// phones or groups change (their [`Tracked`](super::state::Tracked) generations say when).
///
/// Listing users then sends a slice of it instead of serializing: a page costs the sandbox
/// next to nothing, which keeps it from dominating client benchmarks. The text is the
/// one [`write_user`] makes, so answers are byte-for-byte what they were without it.
#[derive(Debug, Default)]
pub(crate) struct RenderedUsers {
    /// The generations of `users`, `phones` and `groups` this was made from.
    made_from: Option<(u64, u64, u64)>,
    /// Every user's JSON, comma-separated: a run of consecutive users is one slice (shared
    /// with the pages being sent: a page's body refers to it instead of copying it).
    json: Bytes,
    /// Where each user's JSON is in `json`.
    spans: Vec<std::ops::Range<usize>>,
}

impl RenderedUsers {
    /// Brings the rendering up to date with `account`.
    fn refresh(account: &mut Account) {
        let key = (
            account.users.generation(),
            account.phones.generation(),
            account.groups.generation(),
        );
        if account.rendered_users.made_from == Some(key) {
            return;
        }
        // The old text may still be referred to by pages on their way out: a new buffer.
        let mut json = Vec::with_capacity(account.rendered_users.json.len());
        let mut spans = std::mem::take(&mut account.rendered_users.spans);
        spans.clear();
        spans.reserve(account.users.len());
        for (i, u) in account.users.iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            let start = json.len();
            write_user(account, u, &mut json);
            spans.push(start..json.len());
        }
        account.rendered_users = RenderedUsers {
            made_from: Some(key),
            json: json.into(),
            spans,
        };
    }

    /// Users `first..end` (indexes into the account's users), comma-separated.
    fn run(&self, first: usize, end: usize) -> Bytes {
        match (
            self.spans.get(first),
            end.checked_sub(1).and_then(|l| self.spans.get(l)),
        ) {
            (Some(a), Some(b)) if first < end => self.json.slice(a.start..b.end),
            _ => Bytes::new(),
        }
    }

    /// One user's JSON.
    fn user(&self, index: usize) -> &[u8] {
        self.spans.get(index).map_or(&[], |r| &self.json[r.clone()])
    }
}

/// Appends a value's JSON text.
fn write_value(v: Value, out: &mut Vec<u8>) {
    // Writing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &v);
}

fn group_json(g: &Group) -> Value {
    serde_json::to_value(GroupView::from(g)).unwrap_or(Value::Null)
}

fn phone_json(account: &Account, id: &str) -> Option<Value> {
    serde_json::to_value(account.phones.get(id)?).ok()
}

fn user_json(account: &Account, u: &User) -> Value {
    serde_json::to_value(UserView::new(account, u)).unwrap_or(Value::Null)
}

fn write_user(account: &Account, u: &User, out: &mut Vec<u8>) {
    // Serializing into a Vec cannot fail.
    let _ = serde_json::to_writer(out, &UserView::new(account, u));
}

/// A user as the Admin API shapes it, borrowing from the account (no copies per request).
#[derive(serde::Serialize)]
struct UserView<'a> {
    user_id: &'a str,
    username: &'a str,
    realname: &'a str,
    firstname: &'a str,
    lastname: &'a str,
    email: &'a str,
    status: &'a str,
    alias1: Option<&'a str>,
    alias2: Option<&'a str>,
    alias3: Option<&'a str>,
    alias4: Option<&'a str>,
    aliases: std::collections::BTreeMap<String, &'a str>,
    created: u64,
    last_login: Option<u64>,
    last_directory_sync: Option<u64>,
    is_enrolled: bool,
    notes: &'a str,
    groups: Vec<GroupView<'a>>,
    phones: Vec<&'a super::state::Phone>,
    tokens: &'a [Value],
    u2ftokens: [(); 0],
    webauthncredentials: &'a [Value],
    desktoptokens: [(); 0],
    external_id: Option<&'a str>,
}

impl<'a> UserView<'a> {
    fn new(account: &'a Account, u: &'a User) -> Self {
        let alias = |i: usize| u.aliases.get(i).map(String::as_str);
        Self {
            user_id: &u.user_id,
            username: &u.username,
            realname: &u.realname,
            firstname: &u.firstname,
            lastname: &u.lastname,
            email: &u.email,
            status: &u.status,
            alias1: alias(0),
            alias2: alias(1),
            alias3: alias(2),
            alias4: alias(3),
            aliases: u
                .aliases
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("alias{}", i + 1), a.as_str()))
                .collect(),
            created: u.created,
            last_login: u.last_login,
            last_directory_sync: None,
            is_enrolled: u.is_enrolled(),
            notes: &u.notes,
            groups: u
                .groups
                .iter()
                .filter_map(|gid| account.groups.iter().find(|g| &g.group_id == gid))
                .map(GroupView::from)
                .collect(),
            phones: u
                .phones
                .iter()
                .filter_map(|id| account.phones.get(id))
                .collect(),
            tokens: &u.tokens,
            u2ftokens: [],
            webauthncredentials: &u.webauthn,
            desktoptokens: [],
            external_id: None,
        }
    }
}

#[derive(serde::Serialize)]
struct GroupView<'a> {
    group_id: &'a str,
    name: &'a str,
    desc: &'a str,
    status: &'a str,
    mobile_otp_enabled: bool,
    push_enabled: bool,
    sms_enabled: bool,
    voice_enabled: bool,
}

impl<'a> From<&'a Group> for GroupView<'a> {
    fn from(g: &'a Group) -> Self {
        Self {
            group_id: &g.group_id,
            name: &g.name,
            desc: &g.desc,
            status: &g.status,
            mobile_otp_enabled: g.mobile_otp_enabled,
            push_enabled: g.push_enabled,
            sms_enabled: g.sms_enabled,
            voice_enabled: g.voice_enabled,
        }
    }
}

/// `username_list` / `user_id_list`: a JSON array string, or the parameter repeated.
fn list_param(v: &Verified, key: &str) -> Result<Option<Vec<String>>, Response> {
    let values: Vec<&String> = v
        .params
        .iter()
        .filter(|(k, _)| k == key || k == &format!("{key}[]"))
        .map(|(_, v)| v)
        .collect();
    if values.is_empty() {
        return match v.json.as_ref().and_then(|j| j.get(key)) {
            Some(Value::Array(items)) => Ok(Some(
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
            )),
            Some(Value::String(s)) => serde_json::from_str(s).map(Some).map_err(|_| invalid(key)),
            _ => Ok(None),
        };
    }
    if values.len() == 1 && values[0].starts_with('[') {
        return serde_json::from_str(values[0])
            .map(Some)
            .map_err(|_| invalid(key));
    }
    Ok(Some(values.into_iter().cloned().collect()))
}

async fn list_users(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match paging(&v, 100, 300) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let usernames = match list_param(&v, "username_list") {
        Ok(l) => l,
        Err(r) => return r,
    };
    let ids = match list_param(&v, "user_id_list") {
        Ok(l) => l,
        Err(r) => return r,
    };
    let username = v.get("username");
    let email = v.get("email");
    let mut account = state.account();
    RenderedUsers::refresh(&mut account);
    let account = &*account;
    let rendered = &account.rendered_users;
    if username.is_none() && email.is_none() && usernames.is_none() && ids.is_none() {
        // The whole account, in order: the page is one run of consecutive users.
        let total = account.users.len();
        let end = offset.saturating_add(limit).min(total);
        let items = rendered.run(offset, end);
        return page_body(
            &state,
            &call,
            total,
            limit,
            offset,
            end.saturating_sub(offset),
            items,
        );
    }
    let items: Vec<usize> = account
        .users
        .iter()
        .enumerate()
        .filter(|(_, u)| username.as_ref().is_none_or(|n| u.answers_to(n)))
        .filter(|(_, u)| {
            email
                .as_ref()
                .is_none_or(|e| u.email.eq_ignore_ascii_case(e))
        })
        .filter(|(_, u)| {
            usernames
                .as_ref()
                .is_none_or(|l| l.iter().any(|n| u.username.eq_ignore_ascii_case(n)))
        })
        .filter(|(_, u)| ids.as_ref().is_none_or(|l| l.contains(&u.user_id)))
        .map(|(i, _)| i)
        .collect();
    page(&state, &call, items, limit, offset, |i, out| {
        out.extend_from_slice(rendered.user(i));
    })
}

async fn get_user(State(state): S, Path(id): Path<String>, call: Call) -> Response {
    let _ = verified!(call, state, READ);
    let account = state.account();
    match account.users.iter().find(|u| u.user_id == id) {
        Some(u) => super::envelope::ok(user_json(&account, u)),
        None => not_found(),
    }
}

async fn user_phones(State(state): S, Path(id): Path<String>, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = {
        let account = state.account();
        let Some(u) = account.users.iter().find(|u| u.user_id == id) else {
            return not_found();
        };
        u.phones
            .iter()
            .filter_map(|p| phone_json(&account, p))
            .collect()
    };
    page(&state, &call, items, limit, offset, write_value)
}

async fn user_groups(State(state): S, Path(id): Path<String>, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = {
        let account = state.account();
        let Some(u) = account.users.iter().find(|u| u.user_id == id) else {
            return not_found();
        };
        u.groups
            .iter()
            .filter_map(|gid| account.groups.iter().find(|g| &g.group_id == gid))
            .map(group_json)
            .collect()
    };
    page(&state, &call, items, limit, offset, write_value)
}

async fn add_user_to_group(State(state): S, Path(id): Path<String>, call: Call) -> Response {
    let v = verified!(call, state, WRITE);
    let Some(group_id) = v.get("group_id") else {
        return invalid("group_id");
    };
    let mut account = state.account();
    if !account.groups.iter().any(|g| g.group_id == group_id) {
        return invalid("group_id");
    }
    let Some(i) = account.user_index(&id) else {
        return not_found();
    };
    if !account.users[i].groups.contains(&group_id) {
        let username = account.users[i].username.clone();
        account.users[i].groups.push(group_id.clone());
        account
            .logs
            .record_admin("group_add_user", &username, &json!({"group_id": group_id}));
    }
    super::envelope::ok(Value::String(String::new()))
}

async fn list_groups(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = state.account().groups.iter().map(group_json).collect();
    page(&state, &call, items, limit, offset, write_value)
}

async fn group_users(State(state): S, Path(id): Path<String>, call: Call) -> Response {
    let v = verified!(call, state, READ_V5);
    let (limit, offset) = match paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = {
        let account = state.account();
        if !account.groups.iter().any(|g| g.group_id == id) {
            return not_found();
        }
        account
            .users
            .iter()
            .filter(|u| u.groups.contains(&id))
            .map(|u| json!({"user_id": u.user_id, "username": u.username}))
            .collect()
    };
    page(&state, &call, items, limit, offset, write_value)
}

async fn list_phones(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, READ);
    let (limit, offset) = match paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let account = state.account();
    // Each phone lists its users: one pass over the users, not one per phone.
    let mut owners: std::collections::HashMap<&str, Vec<Value>> = std::collections::HashMap::new();
    for u in account.users.iter() {
        for pid in &u.phones {
            owners.entry(pid.as_str()).or_default().push(json!({
                "user_id": u.user_id, "username": u.username, "realname": u.realname,
                "email": u.email, "status": u.status,
            }));
        }
    }
    let items: Vec<&String> = account.phones.keys().collect();
    page(&state, &call, items, limit, offset, |id, out| {
        let mut v = phone_json(&account, id).unwrap_or(Value::Null);
        v["users"] = Value::Array(owners.remove(id.as_str()).unwrap_or_default());
        write_value(v, out);
    })
}

async fn list_admins(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, ADMINS);
    let (limit, offset) = match paging(&v, 100, 500) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let items = state
        .account()
        .admins
        .iter()
        .filter_map(|a| serde_json::to_value(a).ok())
        .collect();
    page(&state, &call, items, limit, offset, write_value)
}

/// Builds a user from create parameters (a JSON object or form fields).
fn new_user(get: impl Fn(&str) -> Option<String>) -> Result<User, Response> {
    let Some(username) = get("username").filter(|u| !u.is_empty()) else {
        return Err(invalid("username"));
    };
    let status = get("status").unwrap_or_else(|| "active".to_owned());
    if !["active", "bypass", "disabled"].contains(&status.as_str()) {
        return Err(invalid("status"));
    }
    Ok(User {
        user_id: format!("DU{}", random_id(18).to_ascii_uppercase()),
        username: username.to_ascii_lowercase(),
        realname: get("realname").unwrap_or_default(),
        firstname: get("firstname").unwrap_or_default(),
        lastname: get("lastname").unwrap_or_default(),
        email: get("email").unwrap_or_default(),
        status,
        aliases: (1..=4).filter_map(|i| get(&format!("alias{i}"))).collect(),
        created: now_secs(),
        last_login: None,
        phones: Vec::new(),
        groups: Vec::new(),
        tokens: Vec::new(),
        webauthn: Vec::new(),
        notes: get("notes").unwrap_or_default(),
        passcode: format!("{:06}", now_secs() % 1_000_000),
        behaviour: super::Behaviour::Approve,
    })
}

fn insert(account: &mut Account, user: User) -> Result<Value, Response> {
    if account
        .users
        .iter()
        .any(|u| u.answers_to(&user.username) || user.aliases.iter().any(|a| u.answers_to(a)))
    {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            40003,
            "Duplicate resource",
            Some("username"),
        ));
    }
    let json = user_json(account, &user);
    account.logs.record_admin(
        "user_create",
        &user.username,
        &json!({"email": user.email, "realname": user.realname, "status": user.status}),
    );
    account.users.push(user);
    Ok(json)
}

async fn create_user(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, WRITE);
    let user = match new_user(|k| v.get(k)) {
        Ok(u) => u,
        Err(r) => return r,
    };
    match insert(&mut state.account(), user) {
        Ok(json) => super::envelope::ok(json),
        Err(r) => r,
    }
}

async fn bulk_create(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, WRITE_V5);
    // `users` is a JSON *string* holding an array of user objects.
    let Some(users) = v.get("users") else {
        return invalid("users");
    };
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(&users) else {
        return invalid("users");
    };
    let mut created = Vec::new();
    for item in &items {
        let Value::Object(obj) = item else {
            return invalid("users");
        };
        let get = |k: &str| obj.get(k).and_then(|x| x.as_str().map(str::to_owned));
        match new_user(get) {
            Ok(u) => created.push(u),
            Err(r) => return r,
        }
    }
    let mut account = state.account();
    for u in &created {
        if account.users.iter().any(|x| x.answers_to(&u.username))
            || created.iter().filter(|c| c.username == u.username).count() > 1
        {
            return fail(
                StatusCode::BAD_REQUEST,
                40003,
                "Duplicate resource",
                Some(&u.username),
            );
        }
    }
    let mut out = Vec::new();
    for u in created {
        match insert(&mut account, u) {
            Ok(j) => out.push(j),
            Err(r) => return r,
        }
    }
    super::envelope::ok(Value::Array(out))
}

async fn enroll_user(State(state): S, call: Call) -> Response {
    let v = verified!(call, state, WRITE);
    let (Some(username), Some(email)) = (v.get("username"), v.get("email")) else {
        return invalid("username, email");
    };
    if !email.contains('@') {
        return invalid("email");
    }
    let mut account = state.account();
    if account.find_by_name(&username).is_some() {
        return fail(
            StatusCode::BAD_REQUEST,
            40003,
            "Duplicate resource",
            Some("username"),
        );
    }
    let user = match new_user(|k| match k {
        "username" => Some(username.clone()),
        "email" => Some(email.clone()),
        _ => None,
    }) {
        Ok(u) => u,
        Err(r) => return r,
    };
    account.logs.record_admin(
        "user_create",
        &user.username,
        &json!({"email": user.email, "enroll": true}),
    );
    account.users.push(user);
    super::envelope::ok(Value::String(random_id(20)))
}
