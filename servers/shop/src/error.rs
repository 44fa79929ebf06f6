//! The one error type of the API: its HTTP status, its code and its JSON body.
//!
//! Adapters turn an [`ApiError`] into their framework's response with
//! [`ApiError::status`] and [`ApiError::to_json`]; nothing else about errors
//! is left to the framework, so all servers answer alike.

use http::StatusCode;
use serde::Serialize;

/// The `code` of an error body; each maps to one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    NotFound,
    MethodNotAllowed,
    Conflict,
    InsufficientStock,
    PayloadTooLarge,
    UnsupportedMediaType,
    UnknownReference,
    Unavailable,
    Internal,
}

impl ErrorCode {
    /// The status as the `http` crate types it, which hyper and axum use as
    /// is; actix-web's own `http` is older and converts from the number.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::Conflict | ErrorCode::InsufficientStock => StatusCode::CONFLICT,
            ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnknownReference => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An API error: `{"error": {"code": ..., "message": ...}}` with its status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code:?}: {message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    allow: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: BodyInner<'a>,
}

#[derive(Serialize)]
struct BodyInner<'a> {
    code: ErrorCode,
    message: &'a str,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            allow: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// The answer to a path that no route matches.
    pub fn no_route(method: &str, path: &str) -> ApiError {
        ApiError::not_found(format!("no route for {method} {path}"))
    }

    /// The answer to a known path asked with another method; `allow` is the
    /// value of the `Allow` header that must go with it.
    pub fn method_not_allowed(method: &str, allow: &'static str) -> ApiError {
        ApiError {
            allow: Some(allow),
            ..ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("method {method} is not allowed here; allowed: {allow}"),
            )
        }
    }

    /// The `Allow` header a 405 must carry.
    pub fn allow(&self) -> Option<&'static str> {
        self.allow
    }

    pub fn payload_too_large() -> ApiError {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!(
                "request body is larger than {} bytes",
                crate::http::MAX_BODY_BYTES
            ),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.code.status()
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(&Body {
            error: BodyInner {
                code: self.code,
                message: &self.message,
            },
        })
        .expect("an error body always serializes")
    }
}
