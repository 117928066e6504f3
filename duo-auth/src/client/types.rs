//! Requests and responses of the Auth API, typed. Unknown fields are ignored and unknown enum
//! values kept (`Other`), so answers from a newer Duo still parse.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::credentials::Redacted;
use crate::open_enum::open_enum;

/// Which user a request is about: Duo's `username` (aliases work too) or `user_id`.
///
/// A plain string is a username, the common case:
///
/// ```
/// use duo_auth::client::UserRef;
///
/// assert_eq!(UserRef::from("jane.doe"), UserRef::Username("jane.doe".into()));
/// let by_id = UserRef::UserId("DUJZ2U4L80HT45MQ4EOQ".into());
/// # let _ = by_id;
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum UserRef {
    /// `username` (or one of the user's aliases).
    Username(String),
    /// `user_id`.
    UserId(String),
}

impl From<&str> for UserRef {
    /// A username (or alias).
    fn from(username: &str) -> Self {
        UserRef::Username(username.to_owned())
    }
}

impl From<String> for UserRef {
    /// A username (or alias).
    fn from(username: String) -> Self {
        UserRef::Username(username)
    }
}

impl From<&String> for UserRef {
    /// A username (or alias).
    fn from(username: &String) -> Self {
        UserRef::Username(username.clone())
    }
}

impl UserRef {
    pub(crate) fn param(&self) -> (&'static str, &str) {
        match self {
            UserRef::Username(u) => ("username", u),
            UserRef::UserId(id) => ("user_id", id),
        }
    }
}

/// The answer to `ping` and `check`: Duo's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Time {
    /// Seconds since the Unix epoch, on Duo's clock.
    pub time: u64,
}

/// A new enrollment (`enroll`). `Debug` hides the activation code and the URLs that carry it:
/// whoever has it can activate a phone as this user's second factor.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Enrollment {
    /// URL of a QR code image to scan with Duo Mobile.
    pub activation_barcode: String,
    /// The activation code (`duo://…`).
    pub activation_code: String,
    /// A URL that activates Duo Mobile when opened on the phone.
    #[serde(default)]
    pub activation_url: Option<String>,
    /// When the activation expires (seconds since the epoch).
    pub expiration: u64,
    /// The new user's id.
    pub user_id: String,
    /// The new user's username.
    pub username: String,
}

impl fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Enrollment")
            .field("activation_barcode", &Redacted)
            .field("activation_code", &Redacted)
            .field("activation_url", &Redacted::option(&self.activation_url))
            .field("expiration", &self.expiration)
            .field("user_id", &self.user_id)
            .field("username", &self.username)
            .finish()
    }
}

open_enum! {
    /// The state of an enrollment (`enroll_status`).
    pub enum EnrollStatus {
        /// The user has activated Duo Mobile.
        Success = "success",
        /// Not yet.
        Waiting = "waiting",
        /// The code is wrong or expired.
        Invalid = "invalid",
    }
}

open_enum! {
    /// What `preauth` says to do.
    pub enum PreauthResult {
        /// Ask for a second factor.
        Auth = "auth",
        /// Let the user in without one (bypass, remembered device, policy).
        Allow = "allow",
        /// Refuse the login.
        Deny = "deny",
        /// The user must enroll first.
        Enroll = "enroll",
    }
}

open_enum! {
    /// What a device can do.
    pub enum Capability {
        /// Duo picks push or phone.
        Auto = "auto",
        /// Duo Push.
        Push = "push",
        /// SMS passcodes.
        Sms = "sms",
        /// Phone call.
        Phone = "phone",
        /// Passcodes from Duo Mobile.
        MobileOtp = "mobile_otp",
    }
}

/// A device `preauth` offers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Device {
    /// The device id to pass to `auth`.
    pub device: String,
    /// `phone`, `token`, …
    #[serde(rename = "type", default)]
    pub kind: Option<String>,
    /// The device's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The masked phone number.
    #[serde(default)]
    pub number: Option<String>,
    /// A label to show (`iOS (XXX-XXX-1234)`).
    #[serde(default)]
    pub display_name: Option<String>,
    /// What it can do.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// The next SMS passcode's first digit, when SMS passcodes were sent.
    #[serde(default)]
    pub sms_nextcode: Option<String>,
}

impl Device {
    /// Whether the device can do `capability`.
    pub fn can(&self, capability: &Capability) -> bool {
        self.capabilities.contains(capability)
    }
}

/// The answer to `preauth`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct Preauth {
    /// What to do.
    pub result: PreauthResult,
    /// A message to show.
    #[serde(default)]
    pub status_msg: String,
    /// The user's devices, when `result` is `auth`.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// Where to enroll, when `result` is `enroll` and Duo offers a portal.
    #[serde(default)]
    pub enroll_portal_url: Option<String>,
}

/// Options of a `preauth` request. `Debug` hides the remembered-device token.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PreauthOptions {
    /// The client's IP address (Duo's policies may use it).
    pub ipaddr: Option<String>,
    /// The client's host name.
    pub hostname: Option<String>,
    /// A token from an earlier approval, to remember the device.
    pub trusted_device_token: Option<String>,
}

impl fmt::Debug for PreauthOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreauthOptions")
            .field("ipaddr", &self.ipaddr)
            .field("hostname", &self.hostname)
            .field(
                "trusted_device_token",
                &Redacted::option(&self.trusted_device_token),
            )
            .finish()
    }
}

/// The second factor of an `auth` request. `Debug` hides a passcode.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Factor {
    /// Duo picks: push when the device can, else a phone call.
    Auto {
        /// Device id or `auto`.
        device: String,
    },
    /// Duo Push.
    Push(PushOptions),
    /// A passcode the user typed.
    Passcode(String),
    /// Send SMS passcodes (the answer is a deny with status `sent`).
    Sms {
        /// Device id or `auto`.
        device: String,
    },
    /// A phone call.
    Phone {
        /// Device id or `auto`.
        device: String,
    },
}

impl fmt::Debug for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Factor::Auto { device } => f.debug_struct("Auto").field("device", device).finish(),
            Factor::Push(options) => f.debug_tuple("Push").field(options).finish(),
            Factor::Passcode(_) => f.debug_tuple("Passcode").field(&Redacted).finish(),
            Factor::Sms { device } => f.debug_struct("Sms").field("device", device).finish(),
            Factor::Phone { device } => f.debug_struct("Phone").field("device", device).finish(),
        }
    }
}

/// Options of a Duo Push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushOptions {
    /// Device id or `auto`.
    pub device: String,
    /// Shown in the push as the login type (e.g. "Login").
    pub kind: Option<String>,
    /// The username shown in the push.
    pub display_username: Option<String>,
    /// Extra key/value pairs shown in the push.
    pub pushinfo: Vec<(String, String)>,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            device: "auto".to_owned(),
            kind: None,
            display_username: None,
            pushinfo: Vec::new(),
        }
    }
}

impl Factor {
    /// Push to the first capable device.
    pub fn push() -> Self {
        Factor::Push(PushOptions::default())
    }

    pub(crate) fn params(&self) -> Vec<(String, String)> {
        let p = |k: &str, v: &str| (k.to_owned(), v.to_owned());
        match self {
            Factor::Auto { device } => vec![p("factor", "auto"), p("device", device)],
            Factor::Push(o) => {
                let mut v = vec![p("factor", "push"), p("device", &o.device)];
                if let Some(kind) = &o.kind {
                    v.push(p("type", kind));
                }
                if let Some(name) = &o.display_username {
                    v.push(p("display_username", name));
                }
                if !o.pushinfo.is_empty() {
                    let info: String = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(o.pushinfo.iter())
                        .finish();
                    v.push(p("pushinfo", &info));
                }
                v
            }
            Factor::Passcode(code) => vec![p("factor", "passcode"), p("passcode", code)],
            Factor::Sms { device } => vec![p("factor", "sms"), p("device", device)],
            Factor::Phone { device } => vec![p("factor", "phone"), p("device", device)],
        }
    }
}

open_enum! {
    /// The result of an authentication.
    pub enum AuthResult {
        /// Let the user in.
        Allow = "allow",
        /// Refuse.
        Deny = "deny",
        /// Still waiting for the user (async, `auth_status`).
        Waiting = "waiting",
    }
}

open_enum! {
    /// Duo's detailed status of an authentication.
    pub enum AuthStatus {
        /// Approved.
        Allow = "allow",
        /// Denied.
        Deny = "deny",
        /// The user marked the request as fraudulent.
        Fraud = "fraud",
        /// Nobody answered in time.
        Timeout = "timeout",
        /// Bypass user.
        Bypass = "bypass",
        /// A push was sent.
        Pushed = "pushed",
        /// Calling the phone.
        Calling = "calling",
        /// The call was answered.
        Answered = "answered",
        /// SMS passcodes were sent.
        Sent = "sent",
    }
}

/// The answer to `auth` (synchronous) and `auth_status`. `Debug` hides the remembered-device
/// token.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct AuthResponse {
    /// The result.
    pub result: AuthResult,
    /// The detailed status.
    #[serde(default = "unknown_status")]
    pub status: AuthStatus,
    /// A message to show.
    #[serde(default)]
    pub status_msg: String,
    /// On approval, a token that remembers this device for later `preauth`s (when Duo's policy
    /// allows remembered devices).
    #[serde(default)]
    pub trusted_device_token: Option<String>,
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthResponse")
            .field("result", &self.result)
            .field("status", &self.status)
            .field("status_msg", &self.status_msg)
            .field(
                "trusted_device_token",
                &Redacted::option(&self.trusted_device_token),
            )
            .finish()
    }
}

fn unknown_status() -> AuthStatus {
    AuthStatus::Other(String::new())
}

/// Options of an `auth` request besides the factor.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthOptions {
    /// The client's IP address.
    pub ipaddr: Option<String>,
    /// The client's host name.
    pub hostname: Option<String>,
}
