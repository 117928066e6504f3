//! The 2FA gate: Duo in front of a portal login, composed from the policy helpers and the Auth
//! API client.
//!
//! For each login: excluded users pass → the portal username becomes a Duo username → a session
//! that already passed Duo passes ([`PromptFrequency::PerSession`]) → the IP skip may let the
//! user through → `preauth` says allow, deny, enroll or "ask for a factor" → the portal asks →
//! `auth` → on approval the IP is recorded. When Duo cannot be reached the gate **fails
//! closed** (denies) unless it was built with [`GateBuilder::fail_open`], and then the result
//! says so.
//!
//! ```no_run
//! # async fn demo(client: duo_auth::AuthClient) {
//! use duo_auth::gate::{Gate, Login, Step};
//! use duo_auth::policy::ip::InMemoryLastAuthStore;
//!
//! let gate = Gate::builder(client, InMemoryLastAuthStore::default()).build();
//! let login = Login::new("jane.doe", "203.0.113.7".parse().unwrap());
//! match gate.begin(&login).await {
//!     Step::Allow(allowed) => println!("in: {:?}", allowed.reason),
//!     Step::Deny(denied) => println!("refused: {}", denied.message),
//!     Step::Enroll(e) => println!("enroll first ({:?})", e.portal_url),
//!     Step::ChooseFactor(challenge) => {
//!         let step = gate.push(&login, &challenge, std::time::Duration::from_secs(60)).await;
//!         println!("{step:?}");
//!     }
//!     // Steps added in later versions: refuse what you do not know.
//!     _ => println!("refused"),
//! }
//! # }
//! ```

use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use crate::client::{
    AuthOptions, AuthResult, Device, EnrollStatus, Enrollment, Factor, PreauthOptions,
    PreauthResult, PushOptions, UserRef,
};
use crate::credentials::Redacted;
use crate::policy::ip::{IpDecision, IpSkip, LastAuth, LastAuthStore};
use crate::policy::{Exclusion, Exclusions, MappingError, PromptFrequency, UsernameMapping};
use crate::{AuthClient, Error};

/// One login attempt, as the portal knows it after the password step. `Debug` hides the
/// remembered-device token.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    /// The portal username.
    pub username: String,
    /// The user's email (for [`UsernameFormat::Email`](crate::policy::UsernameFormat::Email)).
    pub email: Option<String>,
    /// The user's portal groups (for exclusions).
    pub groups: Vec<String>,
    /// The client's IP address.
    pub ip: IpAddr,
    /// Whether this portal session already passed Duo.
    pub session_verified: bool,
    /// The device's `trusted_device_token` from an earlier approval, if the portal kept one.
    pub device_token: Option<String>,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("groups", &self.groups)
            .field("ip", &self.ip)
            .field("session_verified", &self.session_verified)
            .field("device_token", &Redacted::option(&self.device_token))
            .finish()
    }
}

impl Login {
    /// A login by `username` from `ip`, with nothing else known.
    pub fn new(username: impl Into<String>, ip: IpAddr) -> Self {
        Self {
            username: username.into(),
            email: None,
            groups: Vec::new(),
            ip,
            session_verified: false,
            device_token: None,
        }
    }
}

/// What the gate decided, or what it needs next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// Let the user in.
    Allow(Allowed),
    /// Refuse the login.
    Deny(Denied),
    /// The user must enroll with Duo first.
    Enroll(EnrollNeeded),
    /// Ask the user for a second factor (then call [`Gate::complete`] or [`Gate::push`]).
    ChooseFactor(Challenge),
}

/// Why the user may pass.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AllowReason {
    /// Excluded from Duo.
    Excluded(Exclusion),
    /// This session already passed Duo.
    SessionVerified,
    /// Same IP as the last successful Duo authentication.
    SameIp,
    /// Duo's preauth allowed it (bypass status, remembered device, policy); Duo's message.
    DuoAllowed(String),
    /// The user approved the second factor.
    Approved,
    /// Duo could not be reached and the gate is configured to fail open; the error.
    FailOpen(String),
}

/// A successful pass through the gate. `Debug` hides the remembered-device token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Allowed {
    /// Why.
    pub reason: AllowReason,
    /// The Duo username used, when Duo was asked.
    pub duo_username: Option<String>,
    /// A new `trusted_device_token` to keep for this device (per-device prompting).
    pub device_token: Option<String>,
}

impl fmt::Debug for Allowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Allowed")
            .field("reason", &self.reason)
            .field("duo_username", &self.duo_username)
            .field("device_token", &Redacted::option(&self.device_token))
            .finish()
    }
}

/// Why the login is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DenyReason {
    /// Duo refused (disabled or locked-out user, denied push, wrong passcode, timeout…).
    Duo,
    /// Duo could not be reached and the gate fails closed.
    DuoUnavailable,
    /// Duo answered with an error that is not about availability (e.g. wrong credentials).
    DuoError,
    /// No Duo username could be derived.
    Mapping(MappingError),
}

/// A refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Denied {
    /// Why.
    pub reason: DenyReason,
    /// A message for logs or the user.
    pub message: String,
}

/// Enrollment is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct EnrollNeeded {
    /// The Duo username.
    pub duo_username: String,
    /// Duo's enrollment portal, when it offers one.
    pub portal_url: Option<String>,
    /// Duo's message.
    pub message: String,
}

/// A second factor is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Challenge {
    /// The Duo username.
    pub duo_username: String,
    /// The devices Duo offers.
    pub devices: Vec<Device>,
}

/// Builds a [`Gate`].
#[derive(Debug)]
pub struct GateBuilder<S> {
    gate: Gate<S>,
}

impl<S: LastAuthStore> GateBuilder<S> {
    /// How portal usernames become Duo usernames (default: as they are, lower-cased).
    pub fn mapping(mut self, mapping: UsernameMapping) -> Self {
        self.gate.mapping = mapping;
        self
    }

    /// The IP skip (default off).
    pub fn ip_skip(mut self, skip: IpSkip) -> Self {
        self.gate.ip_skip = skip;
        self
    }

    /// How often to prompt (default every login).
    pub fn frequency(mut self, frequency: PromptFrequency) -> Self {
        self.gate.frequency = frequency;
        self
    }

    /// Who never sees Duo.
    pub fn exclusions(mut self, exclusions: Exclusions) -> Self {
        self.gate.exclusions = exclusions;
        self
    }

    /// Let users in when Duo cannot be reached (default: refuse them). Each such pass is
    /// reported as [`AllowReason::FailOpen`].
    pub fn fail_open(mut self, on: bool) -> Self {
        self.gate.fail_open = on;
        self
    }

    /// The gate.
    pub fn build(self) -> Gate<S> {
        self.gate
    }
}

/// Duo in front of a login (see the module docs).
#[derive(Debug)]
pub struct Gate<S> {
    client: AuthClient,
    store: S,
    mapping: UsernameMapping,
    ip_skip: IpSkip,
    frequency: PromptFrequency,
    exclusions: Exclusions,
    fail_open: bool,
}

impl<S: LastAuthStore> Gate<S> {
    /// A gate with the defaults: usernames as they are, no IP skip, prompt at every login, no
    /// exclusions, fail closed.
    pub fn builder(client: AuthClient, store: S) -> GateBuilder<S> {
        GateBuilder {
            gate: Gate {
                client,
                store,
                mapping: UsernameMapping::default(),
                ip_skip: IpSkip::default(),
                frequency: PromptFrequency::default(),
                exclusions: Exclusions::none(),
                fail_open: false,
            },
        }
    }

    /// The store of last authentications.
    pub fn store(&self) -> &S {
        &self.store
    }

    fn failure(&self, error: &Error, duo_username: &str) -> Step {
        if error.is_transient() {
            if self.fail_open {
                tracing::warn!(%error, duo_username, "Duo unreachable: failing open");
                return Step::Allow(Allowed {
                    reason: AllowReason::FailOpen(error.to_string()),
                    duo_username: Some(duo_username.to_owned()),
                    device_token: None,
                });
            }
            return Step::Deny(Denied {
                reason: DenyReason::DuoUnavailable,
                message: error.to_string(),
            });
        }
        Step::Deny(Denied {
            reason: DenyReason::DuoError,
            message: error.to_string(),
        })
    }

    fn allowed(reason: AllowReason, duo_username: Option<&str>) -> Step {
        Step::Allow(Allowed {
            reason,
            duo_username: duo_username.map(str::to_owned),
            device_token: None,
        })
    }

    /// Starts the gate for a login.
    pub async fn begin(&self, login: &Login) -> Step {
        if let Some(why) = self.exclusions.excludes(&login.username, &login.groups) {
            return Self::allowed(AllowReason::Excluded(why), None);
        }
        let duo_username = match self
            .mapping
            .duo_username(&login.username, login.email.as_deref())
        {
            Ok(u) => u,
            Err(e) => {
                return Step::Deny(Denied {
                    message: e.to_string(),
                    reason: DenyReason::Mapping(e),
                });
            }
        };
        if self.frequency == PromptFrequency::PerSession && login.session_verified {
            return Self::allowed(AllowReason::SessionVerified, Some(&duo_username));
        }
        let last = self.store.last(&duo_username).await;
        if self
            .ip_skip
            .decide(login.ip, last.as_ref(), SystemTime::now())
            == IpDecision::Skip
        {
            return Self::allowed(AllowReason::SameIp, Some(&duo_username));
        }
        let options = PreauthOptions {
            ipaddr: Some(login.ip.to_string()),
            hostname: None,
            trusted_device_token: match self.frequency {
                PromptFrequency::PerDevice { .. } => login.device_token.clone(),
                _ => None,
            },
        };
        let user = UserRef::Username(duo_username.clone());
        let pre = match self.client.preauth(&user, &options).await {
            Ok(p) => p,
            Err(e) => return self.failure(&e, &duo_username),
        };
        match pre.result {
            PreauthResult::Allow => {
                Self::allowed(AllowReason::DuoAllowed(pre.status_msg), Some(&duo_username))
            }
            PreauthResult::Auth => Step::ChooseFactor(Challenge {
                duo_username,
                devices: pre.devices,
            }),
            PreauthResult::Enroll => Step::Enroll(EnrollNeeded {
                duo_username,
                portal_url: pre.enroll_portal_url,
                message: pre.status_msg,
            }),
            // Deny, and anything this version does not know: refuse.
            _ => Step::Deny(Denied {
                reason: DenyReason::Duo,
                message: pre.status_msg,
            }),
        }
    }

    /// Authenticates with the factor the user chose (synchronous `auth`).
    pub async fn complete(&self, login: &Login, challenge: &Challenge, factor: &Factor) -> Step {
        let user = UserRef::Username(challenge.duo_username.clone());
        let options = AuthOptions {
            ipaddr: Some(login.ip.to_string()),
            hostname: None,
        };
        match self.client.auth(&user, factor, &options).await {
            Ok(answer) => self.finish(login, &challenge.duo_username, answer).await,
            Err(e) => self.failure(&e, &challenge.duo_username),
        }
    }

    /// Sends a push and waits for the answer (at most `deadline`).
    pub async fn push(&self, login: &Login, challenge: &Challenge, deadline: Duration) -> Step {
        let user = UserRef::Username(challenge.duo_username.clone());
        let options = AuthOptions {
            ipaddr: Some(login.ip.to_string()),
            hostname: None,
        };
        let push = PushOptions {
            display_username: Some(login.username.clone()),
            ..PushOptions::default()
        };
        match self
            .client
            .push_and_wait(&user, push, &options, deadline)
            .await
        {
            Ok(answer) => self.finish(login, &challenge.duo_username, answer).await,
            // The person did not answer in time: that is a refusal, not an outage.
            Err(Error::Timeout(_)) => Step::Deny(Denied {
                reason: DenyReason::Duo,
                message: "no answer to the push in time".to_owned(),
            }),
            Err(e) => self.failure(&e, &challenge.duo_username),
        }
    }

    async fn finish(
        &self,
        login: &Login,
        duo_username: &str,
        answer: crate::client::AuthResponse,
    ) -> Step {
        if answer.result != AuthResult::Allow {
            return Step::Deny(Denied {
                reason: DenyReason::Duo,
                message: answer.status_msg,
            });
        }
        self.store
            .record(
                duo_username,
                LastAuth {
                    ip: crate::policy::ip::canonical(login.ip),
                    at: SystemTime::now(),
                },
            )
            .await;
        let device_token = match self.frequency {
            PromptFrequency::PerDevice { .. } => answer.trusted_device_token,
            _ => None,
        };
        Step::Allow(Allowed {
            reason: AllowReason::Approved,
            duo_username: Some(duo_username.to_owned()),
            device_token,
        })
    }

    /// Starts an enrollment for a Duo username Duo does not know yet: the QR code and activation
    /// URL to show (as authentik's setup stage does).
    pub async fn enroll(&self, duo_username: &str) -> Result<Enrollment, Error> {
        self.client.enroll(Some(duo_username), None).await
    }

    /// Polls `enroll_status` every `interval` until the activation succeeds, turns invalid, or
    /// `deadline` passes (then `Ok(EnrollStatus::Waiting)`).
    pub async fn await_enrollment(
        &self,
        enrollment: &Enrollment,
        interval: Duration,
        deadline: Duration,
    ) -> Result<EnrollStatus, Error> {
        let started = std::time::Instant::now();
        loop {
            let status = self
                .client
                .enroll_status(&enrollment.user_id, &enrollment.activation_code)
                .await?;
            if status != EnrollStatus::Waiting || started.elapsed() + interval > deadline {
                return Ok(status);
            }
            self.client.transport().runtime().sleep(interval).await;
        }
    }
}
