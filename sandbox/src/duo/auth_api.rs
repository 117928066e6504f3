//! Duo Auth API v2: ping, check, logo, enroll, enroll_status, preauth, auth, auth_status.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use http::StatusCode;
use serde_json::{Value, json};

use super::envelope::{fail, ok};
use super::state::{Enrollment, Outcome, Transaction, User, now_secs};
use super::verify::{Needs, Verified};
use super::{Call, DuoState};
use crate::random_id;

type S = State<Arc<DuoState>>;

/// A real PNG (1×1), served as the logo and as activation QR images.
const PNG_1X1: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=";

/// Long-polling `auth_status` holds the request at most this long.
const LONG_POLL: Duration = Duration::from_secs(20);

pub(crate) fn routes() -> Router<Arc<DuoState>> {
    Router::new()
        .route("/auth/v2/ping", get(ping))
        .route("/auth/v2/check", get(check))
        .route("/auth/v2/logo", get(logo))
        .route("/auth/v2/enroll", post(enroll))
        .route("/auth/v2/enroll_status", post(enroll_status))
        .route("/auth/v2/preauth", post(preauth))
        .route("/auth/v2/auth", post(auth))
        .route("/auth/v2/auth_status", get(auth_status))
        .route("/frame/qr", get(qr))
}

macro_rules! verified {
    ($call:expr, $state:expr) => {
        match $call.verify(&$state, Needs::Auth) {
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

async fn ping() -> Response {
    ok(json!({"time": now_secs()}))
}

async fn check(State(state): S, call: Call) -> Response {
    let _ = verified!(call, state);
    ok(json!({"time": now_secs()}))
}

fn png() -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(PNG_1X1)
        .unwrap_or_default()
}

async fn logo(State(state): S, call: Call) -> Response {
    let _ = verified!(call, state);
    (
        StatusCode::OK,
        [(http::header::CONTENT_TYPE, "image/png")],
        png(),
    )
        .into_response()
}

/// The activation QR code of `value`, as a PNG, like Duo's `/frame/qr`: a real code that the
/// Duo Mobile app (or any QR reader) decodes to the activation URL.
async fn qr(Query(query): Query<HashMap<String, String>>) -> Response {
    let value = query.get("value").map_or("", String::as_str);
    match qr_png(value) {
        Some(bytes) => (
            StatusCode::OK,
            [(http::header::CONTENT_TYPE, "image/png")],
            bytes,
        )
            .into_response(),
        None => (StatusCode::BAD_REQUEST, "value does not fit in a QR code").into_response(),
    }
}

/// Renders `value` as a black-on-white QR code, 4 pixels per module, with the 4-module quiet
/// zone readers need.
pub(crate) fn qr_png(value: &str) -> Option<Vec<u8>> {
    const SCALE: usize = 4;
    const QUIET: usize = 4;
    let code = qrcode::QrCode::new(value.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let side = (modules + 2 * QUIET) * SCALE;
    let mut pixels = vec![255u8; side * side];
    for (i, color) in colors.iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (mx, my) = (i % modules + QUIET, i / modules + QUIET);
            for y in my * SCALE..(my + 1) * SCALE {
                pixels[y * side + mx * SCALE..y * side + (mx + 1) * SCALE].fill(0);
            }
        }
    }
    let mut out = Vec::new();
    let side32 = u32::try_from(side).ok()?;
    let mut encoder = png::Encoder::new(&mut out, side32, side32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().ok()?;
    writer.write_image_data(&pixels).ok()?;
    writer.finish().ok()?;
    Some(out)
}

async fn enroll(State(state): S, call: Call) -> Response {
    let v = verified!(call, state);
    let valid_secs = match v.get("valid_secs").map(|s| s.parse::<u64>()) {
        None => 86_400,
        Some(Ok(n)) => n,
        Some(Err(_)) => return invalid("valid_secs"),
    };
    let base = call.origin.base_url();
    let mut account = state.account();
    let username = match v.get("username") {
        Some(name) if account.find_by_name(&name).is_some() => {
            return fail(
                StatusCode::BAD_REQUEST,
                40003,
                "Duplicate resource",
                Some("username"),
            );
        }
        Some(name) if !name.is_empty() => name,
        _ => format!("user-{}", random_id(8).to_ascii_lowercase()),
    };
    let user_id = format!("DU{}", random_id(18).to_ascii_uppercase());
    let code = random_id(20);
    account.users.push(User {
        user_id: user_id.clone(),
        username: username.clone(),
        realname: String::new(),
        firstname: String::new(),
        lastname: String::new(),
        email: String::new(),
        status: "active".to_owned(),
        aliases: Vec::new(),
        created: now_secs(),
        last_login: None,
        phones: Vec::new(),
        groups: Vec::new(),
        tokens: Vec::new(),
        webauthn: Vec::new(),
        notes: String::new(),
        passcode: format!("{:06}", now_secs() % 1_000_000),
        behaviour: super::Behaviour::Approve,
    });
    let expiration = now_secs() + valid_secs;
    account.enrollments.insert(
        user_id.clone(),
        Enrollment {
            activation_code: code.clone(),
            started: Instant::now(),
            expires: expiration,
            completed: false,
        },
    );
    ok(json!({
        "activation_barcode": format!("{base}/frame/qr?value=duo%3A%2F%2F{code}"),
        "activation_code": format!("duo://{code}"),
        "activation_url": format!("{base}/activate/{code}"),
        "expiration": expiration,
        "user_id": user_id,
        "username": username,
    }))
}

async fn enroll_status(State(state): S, call: Call) -> Response {
    let v = verified!(call, state);
    let (Some(user_id), Some(code)) = (v.get("user_id"), v.get("activation_code")) else {
        return invalid("user_id, activation_code");
    };
    let code = code.strip_prefix("duo://").unwrap_or(&code).to_owned();
    let mut account = state.account();
    let delay = account.enroll_delay;
    let status = match account.enrollments.get_mut(&user_id) {
        Some(e) if e.activation_code == code && now_secs() <= e.expires => {
            if e.completed || e.started.elapsed() >= delay {
                e.completed = true;
                "success"
            } else {
                "waiting"
            }
        }
        _ => "invalid",
    };
    if status == "success" {
        activate(&mut account, &user_id);
    }
    ok(Value::String(status.to_owned()))
}

/// Gives a newly enrolled user a push-capable phone.
fn activate(account: &mut super::state::Account, user_id: &str) {
    let Some(i) = account.user_index(user_id) else {
        return;
    };
    if !account.users[i].phones.is_empty() {
        return;
    }
    let phone_id = format!("DP{}", random_id(18).to_ascii_uppercase());
    account.phones.insert(
        phone_id.clone(),
        super::state::Phone {
            phone_id: phone_id.clone(),
            number: "+15550000000".to_owned(),
            name: "Activated phone".to_owned(),
            extension: String::new(),
            kind: "Mobile".to_owned(),
            platform: "Apple iOS".to_owned(),
            model: "Generic Smartphone".to_owned(),
            activated: true,
            sms_passcodes_sent: false,
            capabilities: ["auto", "push", "sms", "phone", "mobile_otp"]
                .map(str::to_owned)
                .to_vec(),
            last_seen: String::new(),
            encrypted: "Encrypted".to_owned(),
            fingerprint: "Configured".to_owned(),
            screenlock: "Locked".to_owned(),
            tampered: "Not tampered".to_owned(),
        },
    );
    account.users[i].phones.push(phone_id);
}

/// Finds the user a preauth/auth request names: `username` (or an alias) xor `user_id`.
fn find_user(account: &super::state::Account, v: &Verified) -> Result<Option<usize>, Response> {
    match (v.get("username"), v.get("user_id")) {
        (Some(_), Some(_)) => Err(invalid("username, user_id: give one, not both")),
        (None, None) => Err(invalid("username")),
        (Some(name), None) => Ok(account.find_by_name(&name)),
        (None, Some(id)) => Ok(account.user_index(&id)),
    }
}

fn masked(number: &str) -> String {
    let digits: String = number.chars().filter(char::is_ascii_digit).collect();
    let last4 = digits
        .get(digits.len().saturating_sub(4)..)
        .unwrap_or_default();
    format!("XXX-XXX-{last4}")
}

fn devices(account: &super::state::Account, user: &User) -> Vec<Value> {
    let mut out: Vec<Value> = user
        .phones
        .iter()
        .filter_map(|id| account.phones.get(id))
        .map(|p| {
            let label = if p.platform.is_empty() || p.platform == "Unknown" {
                "Phone"
            } else {
                p.platform.as_str()
            };
            json!({
                "device": p.phone_id,
                "type": "phone",
                "number": masked(&p.number),
                "name": p.name,
                "display_name": format!("{label} ({})", masked(&p.number)),
                "capabilities": p.capabilities,
                "sms_nextcode": "1",
            })
        })
        .collect();
    for t in &user.tokens {
        out.push(json!({
            "device": t["token_id"],
            "type": "token",
            "name": "",
            "display_name": format!("Token ({})", t["serial"].as_str().unwrap_or_default()),
            "capabilities": [],
        }));
    }
    out
}

async fn preauth(State(state): S, call: Call) -> Response {
    let v = verified!(call, state);
    let base = call.origin.base_url();
    let account = state.account();
    let index = match find_user(&account, &v) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let enroll = || {
        ok(json!({
            "result": "enroll",
            "status_msg": "Enroll an authentication device to proceed",
            "enroll_portal_url": format!("{base}/portal?code={}", random_id(16)),
        }))
    };
    let Some(i) = index else { return enroll() };
    let user = &account.users[i];
    match user.status.as_str() {
        "bypass" => {
            return ok(json!({"result": "allow", "status_msg": "Allowing user in bypass mode"}));
        }
        "disabled" => {
            return ok(json!({"result": "deny", "status_msg": "Your account is disabled"}));
        }
        "locked out" => {
            return ok(json!({"result": "deny", "status_msg": "Your account is locked out"}));
        }
        _ => {}
    }
    if !user.is_enrolled() {
        return enroll();
    }
    let remembered = v.get("trusted_device_token").is_some_and(|token| {
        account
            .trusted_devices
            .get(&token)
            .is_some_and(|(uid, exp)| *uid == user.user_id && *exp > now_secs())
    });
    if remembered {
        return ok(json!({"result": "allow", "status_msg": "Remembered device"}));
    }
    ok(json!({
        "result": "auth",
        "status_msg": "Account is active",
        "devices": devices(&account, user),
    }))
}

/// The final answer of a push, phone or passcode transaction, logged in the authentication log
/// (once per transaction: `auth_status` may be asked again after the answer).
fn final_answer(
    outcome: Outcome,
    account: &mut super::state::Account,
    user_id: &str,
    factor: &str,
    txid: Option<&str>,
) -> Value {
    let (result, reason) = match (outcome, factor) {
        (Outcome::Allow, "passcode") => ("success", "valid_passcode"),
        (Outcome::Allow, _) => ("success", "user_approved"),
        (Outcome::Deny, "passcode") => ("denied", "invalid_passcode"),
        (Outcome::Deny, _) => ("denied", "user_cancelled"),
        (Outcome::Timeout, _) => ("denied", "no_response"),
    };
    super::logs::record_auth(account, user_id, factor, result, reason, txid);
    match outcome {
        Outcome::Allow => {
            let token = random_id(32);
            account.trusted_devices.insert(
                token.clone(),
                (user_id.to_owned(), now_secs() + 30 * 86_400),
            );
            if let Some(i) = account.user_index(user_id) {
                account.users[i].last_login = Some(now_secs());
            }
            json!({"result": "allow", "status": "allow", "status_msg": "Success. Logging you in...", "trusted_device_token": token})
        }
        Outcome::Deny => {
            json!({"result": "deny", "status": "deny", "status_msg": "Login request denied."})
        }
        Outcome::Timeout => {
            json!({"result": "deny", "status": "timeout", "status_msg": "Login timed out."})
        }
    }
}

async fn auth(State(state): S, call: Call) -> Response {
    let v = verified!(call, state);
    let Some(factor) = v.get("factor") else {
        return invalid("factor");
    };
    let is_async = matches!(v.get("async").as_deref(), Some("1" | "true"));
    let (txid, user_id, log_factor) = {
        let mut account = state.account();
        let index = match find_user(&account, &v) {
            Ok(Some(i)) => i,
            Ok(None) => return invalid("username"),
            Err(r) => return r,
        };
        let user = account.users[index].clone();
        match user.status.as_str() {
            "bypass" => {
                super::logs::record_auth(
                    &mut account,
                    &user.user_id,
                    "n/a",
                    "success",
                    "bypass_user",
                    None,
                );
                return ok(
                    json!({"result": "allow", "status": "bypass", "status_msg": "Allowing user in bypass mode"}),
                );
            }
            "disabled" | "locked out" => {
                let reason = if user.status == "disabled" {
                    "user_disabled"
                } else {
                    "locked_out"
                };
                super::logs::record_auth(
                    &mut account,
                    &user.user_id,
                    "n/a",
                    "denied",
                    reason,
                    None,
                );
                return ok(
                    json!({"result": "deny", "status": "deny", "status_msg": "Your account is disabled"}),
                );
            }
            _ => {}
        }
        let phones: Vec<&super::state::Phone> = user
            .phones
            .iter()
            .filter_map(|id| account.phones.get(id))
            .collect();
        let capable = |cap: &str, device: Option<&str>| -> bool {
            phones.iter().any(|p| {
                device.is_none_or(|d| d == "auto" || d == p.phone_id)
                    && p.capabilities.iter().any(|c| c == cap)
            })
        };
        let device = v.get("device");
        let factor = match factor.as_str() {
            "auto" if capable("push", None) => "push",
            "auto" if capable("phone", None) => "phone",
            "auto" => return invalid("factor: no device can answer"),
            other => other,
        };
        match factor {
            "passcode" => {
                let Some(passcode) = v.get("passcode") else {
                    return invalid("passcode");
                };
                let answer = if passcode == user.passcode {
                    final_answer(
                        Outcome::Allow,
                        &mut account,
                        &user.user_id,
                        "passcode",
                        None,
                    )
                } else {
                    super::logs::record_auth(
                        &mut account,
                        &user.user_id,
                        "passcode",
                        "denied",
                        "invalid_passcode",
                        None,
                    );
                    json!({"result": "deny", "status": "deny", "status_msg": "Incorrect passcode. Please try again."})
                };
                return ok(answer);
            }
            "sms" => {
                if !capable("sms", device.as_deref()) {
                    return invalid("device");
                }
                return ok(
                    json!({"result": "deny", "status": "sent", "status_msg": "New SMS passcodes sent."}),
                );
            }
            "push" | "phone" => {
                if !capable(factor, device.as_deref()) {
                    return invalid("device");
                }
            }
            _ => return invalid("factor"),
        }
        let (outcome, after) = user.behaviour.outcome(account.push_timeout);
        let txid =
            format!("{}-{}-{}", random_id(8), random_id(4), random_id(12)).to_ascii_lowercase();
        account.transactions.insert(
            txid.clone(),
            Transaction {
                started: Instant::now(),
                outcome,
                after,
                user_id: user.user_id.clone(),
                factor: log_factor(factor),
                polled: false,
            },
        );
        (txid, user.user_id, log_factor(factor))
    };
    if is_async {
        return ok(json!({"txid": txid}));
    }
    // Synchronous auth blocks until the person answers or the push times out, as Duo does (an
    // answer given ahead of the script, `DuoAccount::answer_pending`, ends the wait early).
    loop {
        let answered = state.answered.notified();
        let mut answered = std::pin::pin!(answered);
        answered.as_mut().enable();
        let remaining = {
            let mut account = state.account();
            let Some(tx) = account.transactions.get(&txid) else {
                return ok(final_answer(
                    Outcome::Timeout,
                    &mut account,
                    &user_id,
                    log_factor,
                    Some(&txid),
                ));
            };
            let due = tx.started + tx.after;
            let now = Instant::now();
            if now >= due {
                let outcome = tx.outcome;
                account.transactions.remove(&txid);
                return ok(final_answer(
                    outcome,
                    &mut account,
                    &user_id,
                    log_factor,
                    Some(&txid),
                ));
            }
            due - now
        };
        tokio::select! {
            () = tokio::time::sleep(remaining) => {}
            () = answered => {}
        }
    }
}

/// The authentication log's name of an Auth API factor.
fn log_factor(factor: &str) -> &'static str {
    match factor {
        "push" => "duo_push",
        "phone" => "phone_call",
        "sms" => "sms_passcode",
        _ => "passcode",
    }
}

/// Counts an `auth_status` long poll as waiting for as long as it is held.
struct Waiting<'a>(&'a std::sync::atomic::AtomicU64);

impl<'a> Waiting<'a> {
    fn new(gauge: &'a std::sync::atomic::AtomicU64) -> Self {
        gauge.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Waiting(gauge)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

async fn auth_status(State(state): S, call: Call) -> Response {
    let v = verified!(call, state);
    let Some(txid) = v.get("txid") else {
        return invalid("txid");
    };
    let deadline = Instant::now() + LONG_POLL;
    let mut waiting = None;
    loop {
        // Enabled before the transaction is looked at: an answer given after the look wakes
        // the wait below.
        let answered = state.answered.notified();
        let mut answered = std::pin::pin!(answered);
        answered.as_mut().enable();
        let remaining = {
            let mut account = state.account();
            let Some(tx) = account.transactions.get_mut(&txid) else {
                return invalid("txid");
            };
            let first_poll = !tx.polled;
            tx.polled = true;
            let tx = tx.clone();
            let due = tx.started + tx.after;
            let now = Instant::now();
            if now >= due {
                return ok(final_answer(
                    tx.outcome,
                    &mut account,
                    &tx.user_id,
                    tx.factor,
                    Some(&txid),
                ));
            }
            // The first poll answers at once ("pushed"); later ones are held until something
            // changes, as Duo's long-polling does.
            if first_poll || now >= deadline {
                return ok(
                    json!({"result": "waiting", "status": "pushed", "status_msg": "Pushed a login request to your device..."}),
                );
            }
            (due.min(deadline)) - now
        };
        waiting.get_or_insert_with(|| Waiting::new(&state.waiting_polls));
        tokio::select! {
            () = tokio::time::sleep(remaining) => {}
            () = answered => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::qr_png;

    #[test]
    fn activation_qr_decodes_to_its_value() {
        let value = "duo://Yl7Vm1k4Jv6hRqk2-aHR0cHM6Ly8xMjcuMC4wLjE6ODA4MA";
        let bytes = qr_png(value).expect("a QR code");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let mut reader = decoder.read_info().expect("a PNG");
        let mut buf = vec![0; reader.output_buffer_size().expect("size")];
        let info = reader.next_frame(&mut buf).expect("a frame");
        let (w, h) = (info.width as usize, info.height as usize);
        let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
        let grids = image.detect_grids();
        assert_eq!(grids.len(), 1);
        let (_, content) = grids[0].decode().expect("decodes");
        assert_eq!(content, value);
    }
}
