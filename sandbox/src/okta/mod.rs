//! The Okta side of the sandbox: the org authorization server's token endpoint and the
//! Groups API.
//!
//! **In progress**: this module currently only reserves its place in the sandbox (no routes
//! yet); the token endpoint (`private_key_jwt`, DPoP), the resource API, rate limits and the
//! generated directory land in the following commits.

use std::sync::Arc;

use axum::Router;
use serde::Serialize;

use crate::{Faults, OrgSpec};

/// The Okta org's state.
#[derive(Debug)]
pub(crate) struct OktaState {
    #[allow(dead_code)]
    spec: OrgSpec,
}

impl OktaState {
    pub(crate) fn new(spec: &OrgSpec) -> Self {
        Self { spec: spec.clone() }
    }

    pub(crate) fn credentials(&self, org_url: &str) -> OktaCredentials {
        OktaCredentials {
            org_url: org_url.to_owned(),
        }
    }
}

/// The Okta org's URL and credentials.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct OktaCredentials {
    /// The org URL (`http://127.0.0.1:PORT`), used as the Okta domain.
    pub org_url: String,
}

/// A handle to change the Okta directory while the sandbox runs.
#[derive(Debug, Clone)]
pub struct OktaDirectory {
    #[allow(dead_code)]
    state: Arc<OktaState>,
}

impl OktaDirectory {
    pub(crate) fn new(state: Arc<OktaState>) -> Self {
        Self { state }
    }
}

/// The Okta routes.
pub(crate) fn router(_state: Arc<OktaState>, _faults: Faults) -> Router {
    Router::new()
}
