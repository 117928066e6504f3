//! Shared fixtures: an Okta-shaped IdP from the sandbox and an SP that trusts it.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod xmlops;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use idp_sandbox::saml::{IdpKeys, OktaSamlApp, ResponseBuilder, Signing, encode, idp_metadata_xml};
use saml_sp::{
    IdpMetadata, PendingLogins, ReplayCache, RequestId, SamlError, SamlLogin, ServiceProvider,
    ServiceProviderBuilder,
};

pub const SP_ENTITY: &str = "https://portal.example.com/saml";
pub const ACS: &str = "https://portal.example.com/saml/acs";

/// 2024-05-01T12:00:00Z: every test runs at fixed instants, never the wall clock.
pub fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_564_800)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The IdP's key (made once per test binary: RSA key generation is the slow part).
pub fn idp_keys() -> &'static IdpKeys {
    static K: OnceLock<IdpKeys> = OnceLock::new();
    K.get_or_init(|| IdpKeys::generate("dev-123456").expect("key"))
}

/// Another key, which the SP does not trust (an attacker's, or the IdP's next one).
pub fn other_keys() -> &'static IdpKeys {
    static K: OnceLock<IdpKeys> = OnceLock::new();
    K.get_or_init(|| IdpKeys::generate("dev-123456").expect("key"))
}

pub fn app() -> OktaSamlApp {
    OktaSamlApp::example()
}

pub fn metadata() -> IdpMetadata {
    IdpMetadata::parse(&idp_metadata_xml(&app(), &[idp_keys()])).expect("metadata")
}

pub fn sp_builder() -> ServiceProviderBuilder {
    ServiceProvider::builder(SP_ENTITY, ACS, metadata())
}

pub fn sp() -> ServiceProvider {
    sp_builder().build().expect("sp")
}

/// A login state: one SP-initiated request started at `t0`.
pub struct Flow {
    pub sp: ServiceProvider,
    pub pending: PendingLogins,
    pub replay: ReplayCache,
    pub request_id: String,
}

pub fn flow_with(sp: ServiceProvider) -> Flow {
    let mut pending = PendingLogins::new(100);
    let login = sp
        .login_request(RequestId::from_random([9; 16]), t0(), Some("r1"))
        .expect("login");
    pending.insert(&login, t0()).expect("insert");
    Flow {
        sp,
        pending,
        replay: ReplayCache::new(100),
        request_id: login.request_id.as_str().to_string(),
    }
}

pub fn flow() -> Flow {
    flow_with(sp())
}

impl Flow {
    /// The genuine Response to this flow's request, issued a few seconds after it.
    pub fn response(&self) -> ResponseBuilder {
        ResponseBuilder::okta(&app(), SP_ENTITY, ACS, "alice@example.com", t0() + secs(20))
            .in_response_to(&self.request_id)
            .groups(&["Everyone", "Portal Admins"])
    }

    /// Posts `xml` (already signed) at `t0 + 30 s` with the RelayState the login started with.
    pub fn post(&mut self, xml: &str) -> Result<SamlLogin, SamlError> {
        self.post_at(xml, t0() + secs(30))
    }

    pub fn post_at(&mut self, xml: &str, now: SystemTime) -> Result<SamlLogin, SamlError> {
        self.sp.accept(
            &encode(xml),
            Some("r1"),
            now,
            &mut self.pending,
            &mut self.replay,
        )
    }
}

/// Signs with the IdP's key.
pub fn signed(b: &ResponseBuilder, signing: Signing) -> String {
    b.sign(idp_keys(), signing).expect("sign")
}
