//! The one error type of the HTTP API. Every error leaves the service as
//! `{"error":{"code","message"}}` with a stable `code`; internal failures
//! become `500 internal` and their detail goes to the log only, never to the
//! client. This module must not decide anything about requests; handlers pick
//! the variant.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{json, Value};

/// An error answer of the API. Each variant documents its status code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 `unauthorized`: no key, a malformed header, or an unknown or revoked key.
    #[error("a valid API key is required (Authorization: Bearer <key>)")]
    Unauthorized,
    /// 403 `forbidden`: the key's role may not use this endpoint.
    #[error("role {role} may not {action}")]
    Forbidden { role: String, action: &'static str },
    /// 404 `not_found`: unknown id, or one that belongs to another tenant.
    #[error("{0} not found")]
    NotFound(String),
    /// 400 with a stable code (`malformed_json`, `unknown_field`, `unknown_language`, ...).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 413 `payload_too_large`.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 403 `policy_denied`: the policy denied the code; nothing ran.
    #[error("denied by policy {policy}")]
    PolicyDenied { policy: String, body: Value },
    /// 409 with a stable code (`review_not_pending`, `review_expired`, `not_cancellable`, ...).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// 429 `rate_limited` with `Retry-After`.
    #[error("{message}")]
    RateLimited {
        message: String,
        retry_after_secs: u64,
    },
    /// 503 `host_overloaded` with `Retry-After`: admission control refused.
    #[error("{message}")]
    HostOverloaded {
        message: String,
        retry_after_secs: u64,
    },
    /// 503 `engine_unavailable` or `audit_unavailable` with `Retry-After`: a
    /// component the service cannot run code without is away; nothing ran.
    #[error("{message}")]
    Unavailable { code: &'static str, message: String },
    /// 503 `shutting_down`: the service is draining.
    #[error("the service is shutting down")]
    ShuttingDown,
    /// 500 `internal`: the detail is logged, never returned.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    /// The audit store (which also holds keys and reviews) cannot be reached.
    pub fn store_unavailable() -> ApiError {
        ApiError::Unavailable {
            code: "audit_unavailable",
            message: "the audit store cannot be reached; nothing can run until it returns".into(),
        }
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        ApiError::Internal(e.to_string())
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden { .. } => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::BadRequest { code, .. } => code,
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::PolicyDenied { .. } => "policy_denied",
            ApiError::Conflict { code, .. } => code,
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::HostOverloaded { .. } => "host_overloaded",
            ApiError::Unavailable { code, .. } => code,
            ApiError::ShuttingDown => "shutting_down",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } | ApiError::PolicyDenied { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::HostOverloaded { .. }
            | ApiError::Unavailable { .. }
            | ApiError::ShuttingDown => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The error body, as documented in the OpenAPI description.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`unauthorized`, `policy_denied`, `rate_limited`, ...).
    pub code: String,
    /// Human-readable explanation; never contains internals.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = self.code();
        let mut body = match &self {
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "internal error answered as 500");
                json!({ "error": { "code": code, "message": "internal error" } })
            }
            other => json!({ "error": { "code": code, "message": other.to_string() } }),
        };
        if let ApiError::PolicyDenied { body: extra, .. } = &self {
            if let (Some(obj), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
                for (k, v) in extra {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
        let mut resp = (status, axum::Json(body)).into_response();
        let retry = match &self {
            ApiError::RateLimited {
                retry_after_secs, ..
            }
            | ApiError::HostOverloaded {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::ShuttingDown | ApiError::Unavailable { .. } => Some(5),
            _ => None,
        };
        if let Some(secs) = retry {
            if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cordon\""),
            );
        }
        resp
    }
}

impl From<crate::audit::AuditError> for ApiError {
    fn from(e: crate::audit::AuditError) -> Self {
        match e {
            crate::audit::AuditError::UnknownExecution(_) => ApiError::NotFound("execution".into()),
            unreachable @ crate::audit::AuditError::Database {
                source: sqlx::Error::PoolTimedOut | sqlx::Error::Io(_),
                ..
            } => {
                tracing::error!(error = %unreachable, "audit store unreachable");
                ApiError::store_unavailable()
            }
            other => ApiError::Internal(other.to_string()),
        }
    }
}
