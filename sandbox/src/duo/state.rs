//! The Duo account: applications, users, phones, groups, admins and in-flight transactions.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;

use crate::people::Person;
use crate::{OrgSpec, random_id};

/// Seconds since the epoch, now.
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// What an Admin API application may do (Duo's "Grant …" permissions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminPermission {
    /// "Grant read information" (account info, logs).
    ReadInformation,
    /// "Grant read resource" (users, phones, groups).
    ReadResource,
    /// "Grant write resource" (create and change users, phones, groups).
    WriteResource,
    /// "Grant administrators" (read and manage admins).
    Administrators,
    /// "Grant settings".
    Settings,
}

/// The kind of a Duo application, which decides which API its keys may call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppKind {
    Auth,
    Admin(HashSet<AdminPermission>),
}

#[derive(Debug, Clone)]
pub(crate) struct App {
    pub(crate) kind: AppKind,
    pub(crate) skey: String,
}

/// How a user answers a push or phone call in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum Behaviour {
    /// Approves at once.
    Approve,
    /// Denies at once.
    Deny,
    /// Never answers; the push times out after the account's push timeout.
    Timeout,
    /// Approves after this long.
    ApproveAfter(Duration),
    /// Denies after this long.
    DenyAfter(Duration),
}

impl Behaviour {
    /// The outcome and when it happens, given the push timeout.
    pub(crate) fn outcome(self, push_timeout: Duration) -> (Outcome, Duration) {
        match self {
            Behaviour::Approve => (Outcome::Allow, Duration::ZERO),
            Behaviour::Deny => (Outcome::Deny, Duration::ZERO),
            Behaviour::Timeout => (Outcome::Timeout, push_timeout),
            Behaviour::ApproveAfter(d) if d < push_timeout => (Outcome::Allow, d),
            Behaviour::DenyAfter(d) if d < push_timeout => (Outcome::Deny, d),
            _ => (Outcome::Timeout, push_timeout),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Allow,
    Deny,
    Timeout,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Phone {
    pub(crate) phone_id: String,
    pub(crate) number: String,
    pub(crate) name: String,
    pub(crate) extension: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) platform: String,
    pub(crate) model: String,
    pub(crate) activated: bool,
    pub(crate) sms_passcodes_sent: bool,
    pub(crate) capabilities: Vec<String>,
    pub(crate) last_seen: String,
    pub(crate) encrypted: String,
    pub(crate) fingerprint: String,
    pub(crate) screenlock: String,
    pub(crate) tampered: String,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub(crate) user_id: String,
    pub(crate) username: String,
    pub(crate) realname: String,
    pub(crate) firstname: String,
    pub(crate) lastname: String,
    pub(crate) email: String,
    pub(crate) status: String,
    pub(crate) aliases: Vec<String>,
    pub(crate) created: u64,
    pub(crate) last_login: Option<u64>,
    pub(crate) phones: Vec<String>,
    pub(crate) groups: Vec<String>,
    pub(crate) tokens: Vec<serde_json::Value>,
    pub(crate) webauthn: Vec<serde_json::Value>,
    pub(crate) notes: String,
    /// The passcode the user's authenticator shows (Duo Mobile / hardware token).
    pub(crate) passcode: String,
    pub(crate) behaviour: Behaviour,
}

impl User {
    pub(crate) fn is_enrolled(&self) -> bool {
        !self.phones.is_empty() || !self.tokens.is_empty() || !self.webauthn.is_empty()
    }

    /// Whether `name` is this user's username or one of its aliases (case-insensitive, as Duo
    /// normalizes usernames to lower case).
    pub(crate) fn answers_to(&self, name: &str) -> bool {
        self.username.eq_ignore_ascii_case(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub(crate) group_id: String,
    pub(crate) name: String,
    pub(crate) desc: String,
    pub(crate) status: String,
    pub(crate) mobile_otp_enabled: bool,
    pub(crate) push_enabled: bool,
    pub(crate) sms_enabled: bool,
    pub(crate) voice_enabled: bool,
}

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Admin {
    pub(crate) admin_id: String,
    pub(crate) name: String,
    pub(crate) email: String,
    pub(crate) phone: String,
    pub(crate) role: String,
    pub(crate) status: String,
    pub(crate) created: u64,
    pub(crate) last_login: Option<u64>,
    pub(crate) restricted_by_admin_units: bool,
}

/// A push or phone-call transaction.
#[derive(Debug, Clone)]
pub(crate) struct Transaction {
    pub(crate) started: Instant,
    pub(crate) outcome: Outcome,
    pub(crate) after: Duration,
    pub(crate) user_id: String,
    /// The factor (`duo_push`, `phone_call`), as the authentication log names it.
    pub(crate) factor: &'static str,
    /// Whether `auth_status` has answered once (later polls are held until a change).
    pub(crate) polled: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Enrollment {
    pub(crate) activation_code: String,
    pub(crate) started: Instant,
    pub(crate) expires: u64,
    pub(crate) completed: bool,
}

/// A Universal Prompt login waiting for the person's decision, then for the code exchange.
#[derive(Debug, Clone)]
pub(crate) struct PromptLogin {
    pub(crate) client_id: String,
    pub(crate) username: String,
    pub(crate) redirect_uri: String,
    pub(crate) state: String,
    pub(crate) nonce: Option<String>,
    pub(crate) result: Option<bool>,
    pub(crate) created: Instant,
    pub(crate) txid: String,
}

/// Generations are unique across every [`Tracked`] value of the process.
static GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// A part of the account that what the sandbox renders from it (the Admin API's users, as JSON
/// text) depends on. Reads go through `Deref` and change nothing; every mutable access (`push`,
/// `remove`, `insert`, `iter_mut`, indexing to change an element, …) goes through `DerefMut`,
/// which takes a new generation number — so a rendering made at other generations is known to
/// be stale, whichever handler changed what.
#[derive(Debug)]
pub(crate) struct Tracked<T> {
    value: T,
    generation: u64,
}

impl<T> Tracked<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            value,
            generation: next_generation(),
        }
    }

    /// Changes with every mutable access.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }
}

impl<T: Default> Default for Tracked<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}

impl<T> Deref for Tracked<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> DerefMut for Tracked<T> {
    fn deref_mut(&mut self) -> &mut T {
        self.generation = next_generation();
        &mut self.value
    }
}

/// All of the account's mutable state, behind one lock: every operation is short.
#[derive(Debug, Default)]
pub(crate) struct Account {
    pub(crate) users: Tracked<Vec<User>>,
    pub(crate) phones: Tracked<BTreeMap<String, Phone>>,
    pub(crate) groups: Tracked<Vec<Group>>,
    /// The Admin API's JSON of every user, made from `users`, `phones` and `groups` when one is
    /// listed and remade after any of them changes.
    pub(crate) rendered_users: super::admin_api::RenderedUsers,
    pub(crate) admins: Vec<Admin>,
    /// The authentication and administrator logs, bypass codes and Duo Desktop authenticators.
    pub(crate) logs: super::logs::Logs,
    pub(crate) transactions: HashMap<String, Transaction>,
    pub(crate) enrollments: HashMap<String, Enrollment>,
    pub(crate) trusted_devices: HashMap<String, (String, u64)>,
    /// Universal Prompt: pending logins by session id, then by `duo_code`.
    pub(crate) prompt_sessions: HashMap<String, PromptLogin>,
    pub(crate) prompt_codes: HashMap<String, PromptLogin>,
    /// Universal Prompt client-assertion `jti`s already used.
    pub(crate) used_jtis: HashSet<String>,
    pub(crate) push_timeout: Duration,
    pub(crate) enroll_delay: Duration,
    pub(crate) requests: u64,
}

impl Account {
    pub(crate) fn user_index(&self, user_id: &str) -> Option<usize> {
        self.users.iter().position(|u| u.user_id == user_id)
    }

    pub(crate) fn find_by_name(&self, name: &str) -> Option<usize> {
        self.users.iter().position(|u| u.answers_to(name))
    }
}

/// A Duo-style id: a two-letter prefix and 18 upper-case letters and digits.
pub(crate) fn duo_id(rng: &mut StdRng, prefix: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let tail: String = (0..18)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect();
    format!("{prefix}{tail}")
}

fn iso(ts: u64) -> String {
    duo_auth::sign::format_date(UNIX_EPOCH + Duration::from_secs(ts)).unwrap_or_default()
}

/// Generates the account for `spec`: the first `duo_users` people, most enrolled with a phone,
/// some with aliases, a few bypassed, disabled or locked out; groups; admins.
pub(crate) fn generate(spec: &OrgSpec) -> Account {
    let mut rng = StdRng::seed_from_u64(spec.seed ^ 0xD00D);
    let base = 1_600_000_000u64;
    let group_count = spec.groups.max(1);
    let mut account = Account {
        push_timeout: Duration::from_secs(60),
        enroll_delay: Duration::from_secs(2),
        ..Account::default()
    };
    for g in 0..group_count {
        account.groups.push(Group {
            group_id: duo_id(&mut rng, "DG"),
            name: format!("Duo Group {g}"),
            desc: if g % 2 == 0 {
                format!("Generated group {g}")
            } else {
                String::new()
            },
            status: "Active".to_owned(),
            mobile_otp_enabled: false,
            push_enabled: false,
            sms_enabled: false,
            voice_enabled: false,
        });
    }
    for i in 0..spec.duo_users {
        let person = Person::generate(spec.seed, i);
        let user_id = duo_id(&mut rng, "DU");
        let status = match i % 50 {
            7 => "bypass",
            13 => "disabled",
            29 => "locked out",
            _ => "active",
        };
        let mut phones = Vec::new();
        // Every tenth person has not enrolled yet.
        if i % 10 != 9 {
            let phone_id = duo_id(&mut rng, "DP");
            let smartphone = i % 4 != 3;
            account.phones.insert(
                phone_id.clone(),
                Phone {
                    phone_id: phone_id.clone(),
                    number: format!("+1555{:07}", i % 10_000_000),
                    name: if smartphone {
                        "My iPhone".to_owned()
                    } else {
                        String::new()
                    },
                    extension: String::new(),
                    kind: if smartphone { "Mobile" } else { "Landline" }.to_owned(),
                    platform: if smartphone {
                        ["Apple iOS", "Google Android"][i % 2]
                    } else {
                        "Unknown"
                    }
                    .to_owned(),
                    model: if smartphone {
                        "Generic Smartphone"
                    } else {
                        "Unknown"
                    }
                    .to_owned(),
                    activated: smartphone,
                    sms_passcodes_sent: false,
                    capabilities: if smartphone {
                        vec!["auto", "push", "sms", "phone", "mobile_otp"]
                    } else {
                        vec!["auto", "phone"]
                    }
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                    last_seen: iso(base + rng.random_range(0..10_000_000)),
                    encrypted: "Encrypted".to_owned(),
                    fingerprint: "Configured".to_owned(),
                    screenlock: "Locked".to_owned(),
                    tampered: "Not tampered".to_owned(),
                },
            );
            phones.push(phone_id);
        }
        let tokens = if i % 17 == 5 {
            vec![
                serde_json::json!({"serial": format!("{:08}", i), "token_id": duo_id(&mut rng, "DH"), "type": "h6"}),
            ]
        } else {
            Vec::new()
        };
        let webauthn = if i % 11 == 4 {
            vec![serde_json::json!({
                "credential_name": "Security key",
                "date_added": base + i as u64,
                "label": "Security Key",
                "webauthnkey": duo_id(&mut rng, "WA"),
            })]
        } else {
            Vec::new()
        };
        let aliases = if i % 5 == 2 {
            vec![format!("{}-alias", person.username())]
        } else {
            Vec::new()
        };
        let mut groups = Vec::new();
        if group_count > 0 && i % 3 != 0 {
            groups.push(account.groups[i % group_count].group_id.clone());
        }
        account.users.push(User {
            user_id,
            username: person.username().to_owned(),
            realname: person.full_name(),
            firstname: person.first_name.clone(),
            lastname: person.last_name.clone(),
            email: person.login.clone(),
            status: status.to_owned(),
            aliases,
            created: base + i as u64 * 60,
            last_login: (i % 6 != 0).then(|| base + 1_000_000 + i as u64),
            phones,
            groups,
            tokens,
            webauthn,
            notes: String::new(),
            passcode: format!("{:06}", rng.random_range(0..1_000_000u32)),
            behaviour: Behaviour::Approve,
        });
    }
    let roles = [
        "Owner",
        "Administrator",
        "Application Manager",
        "User Manager",
        "Help Desk",
        "Billing",
        "Read-only",
    ];
    for (a, role) in roles.iter().enumerate() {
        let person = Person::generate(spec.seed, 1_000_000 + a);
        account.admins.push(Admin {
            admin_id: duo_id(&mut rng, "DE"),
            name: person.full_name(),
            email: format!("admin.{}", person.login),
            phone: format!("+1555000{a:04}"),
            role: (*role).to_owned(),
            status: "Active".to_owned(),
            created: base,
            last_login: Some(base + 86_400),
            restricted_by_admin_units: false,
        });
    }
    account
}

/// A fresh secret (40 characters, like Duo's secret keys and client secrets).
pub(crate) fn secret() -> String {
    random_id(40)
}
