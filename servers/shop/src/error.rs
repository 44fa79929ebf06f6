//! The one error type of the API: its HTTP status, its code and its JSON body.
//!
//! Adapters turn an [`ApiError`] into their framework's response with
//! [`ApiError::status`] and [`ApiError::to_json`]; nothing else about errors
//! is left to the framework, so all servers answer alike.

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
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Conflict | ErrorCode::InsufficientStock => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::UnknownReference => 422,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
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

    pub fn status(&self) -> u16 {
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
