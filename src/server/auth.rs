//! Who is calling: the bearer API key, looked up by its hash, gives a key
//! id, a tenant and a role. Handlers state which roles they accept with
//! [`Caller::require`]; reads are scoped to the caller's tenant with
//! [`Caller::scope`] (only auditor/admin keys of tenant `*` see every tenant).
//!
//! This module must not log or return the presented key.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::error::ApiError;
use super::store::{Role, ALL_TENANTS};
use super::AppState;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub tenant: String,
    pub role: Role,
}

impl Caller {
    /// Fails with 403 unless the caller has one of `roles` (admin always passes).
    pub fn require(&self, roles: &[Role], action: &'static str) -> Result<(), ApiError> {
        if self.role == Role::Admin || roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                role: self.role.to_string(),
                action,
            })
        }
    }

    /// The tenant reads are limited to; `None` for a key of every tenant.
    pub fn scope(&self) -> Option<&str> {
        (self.tenant != ALL_TENANTS).then_some(self.tenant.as_str())
    }

    /// Whether a record of `tenant` is visible to this caller.
    pub fn sees(&self, tenant: &str) -> bool {
        self.scope().is_none_or(|t| t == tenant)
    }

    /// How the caller is named in the audit log (never the key itself).
    pub fn audit_name(&self) -> String {
        format!(
            "key:{} ({}, tenant {})",
            self.key_id, self.role, self.tenant
        )
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthorized)?;
        let (scheme, secret) = header.split_once(' ').ok_or(ApiError::Unauthorized)?;
        let secret = secret.trim();
        if !scheme.eq_ignore_ascii_case("bearer") || secret.is_empty() || secret.len() > 256 {
            return Err(ApiError::Unauthorized);
        }
        let key = state
            .store()
            .authenticate(secret)
            .await
            .map_err(|e| {
                // Keys live in the audit store: when it is away, say so (503,
                // retry later) rather than 500 or a misleading 401.
                tracing::error!(error = %e, "cannot check an API key");
                ApiError::store_unavailable()
            })?
            .ok_or(ApiError::Unauthorized)?;
        tracing::Span::current().record("key", key.id.as_str());
        Ok(Caller {
            key_id: key.id,
            tenant: key.tenant,
            role: key.role,
        })
    }
}
