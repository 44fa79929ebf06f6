//! The framework-neutral half of HTTP: what every adapter must do the same way.
//!
//! Adapters extract raw pieces (a path segment, the query string, the
//! `Content-Type` header, the body bytes) with their framework's tools and
//! hand them here, so path ids, pagination, JSON bodies and their errors are
//! parsed by one piece of code, byte for byte the same on every server.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{ApiError, ErrorCode};
use crate::model::Validate;
use crate::objects::ObjectsOnly;

/// Request bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub const JSON_CONTENT_TYPE: &str = "application/json";

/// Every route of the API and the methods it allows, as the `Allow` header
/// of a 405 lists them. The adapters' routers and `schema/openapi.yaml` must
/// agree with this table; tests check both.
/// HEAD is answered wherever GET is, as HTTP asks (RFC 9110 9.3.2).
pub const ROUTES: &[(&str, &str)] = &[
    ("/health", "GET, HEAD"),
    ("/health/db", "GET, HEAD"),
    ("/users", "GET, HEAD, POST"),
    ("/users/{id}", "GET, HEAD, PATCH, DELETE"),
    ("/users/{id}/orders", "GET, HEAD"),
    ("/products", "GET, HEAD, POST"),
    ("/products/{id}", "GET, HEAD, PATCH, DELETE"),
    ("/orders", "POST"),
    ("/orders/{id}", "GET, HEAD"),
    ("/orders/{id}/cancel", "POST"),
];

/// The `Allow` header of a route in [`ROUTES`].
pub fn allowed_methods(route: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|(path, _)| *path == route)
        .map(|(_, allow)| *allow)
        .unwrap_or_else(|| panic!("{route} is not in shop::http::ROUTES"))
}

/// A resource id from a path segment: a positive 64-bit integer.
pub fn parse_id(segment: &str) -> Result<i64, ApiError> {
    match segment.parse::<i64>() {
        Ok(id) if id > 0 && segment.bytes().all(|b| b.is_ascii_digit()) => Ok(id),
        _ => Err(ApiError::bad_request(format!(
            "`{segment}` is not a valid id: ids are positive 64-bit integers"
        ))),
    }
}

/// The path a request is routed by: percent-encoded unreserved characters
/// (letters, digits, `-`, `.`, `_`, `~`) decoded, everything else as sent.
/// RFC 3986 (6.2.2.2) makes `/%75sers` and `/users` the same path;
/// actix-web's router decodes them, so hyper and axum route by this too, and
/// every server answers a path alike. Ids are decoded once more when parsed.
pub fn routing_path(path: &str) -> std::borrow::Cow<'_, str> {
    fn unreserved(encoded: &[u8]) -> Option<char> {
        let hex = std::str::from_utf8(encoded.get(1..3)?).ok()?;
        let byte = u8::from_str_radix(hex, 16).ok()?;
        (byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~'))
            .then_some(char::from(byte))
    }
    if !path.contains('%') {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        match unreserved(&rest.as_bytes()[at..]) {
            Some(decoded) => {
                out.push(decoded);
                rest = &rest[at + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A resource id from a path segment as it came on the wire, still
/// percent-encoded: for adapters whose router does not decode parameters.
pub fn parse_raw_id(segment: &str) -> Result<i64, ApiError> {
    parse_id(&percent_encoding::percent_decode_str(segment).decode_utf8_lossy())
}

/// `limit` and `offset` of a list request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Page {
        Page {
            limit: 20,
            offset: 0,
        }
    }
}

/// The query of a list request: a [`Page`] and, for products, a category.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub page: Page,
    pub category: Option<String>,
}

impl ListQuery {
    pub const MAX_LIMIT: i64 = 100;

    /// Parses a raw (still percent-encoded) query string. Unknown parameters
    /// are ignored, as most HTTP APIs do; bad values of known ones are 400.
    pub fn parse(query: Option<&str>) -> Result<ListQuery, ApiError> {
        let mut parsed = ListQuery::default();
        for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*key {
                "limit" => {
                    parsed.page.limit = match value.parse::<i64>() {
                        Ok(limit) if (1..=Self::MAX_LIMIT).contains(&limit) => limit,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "limit must be an integer from 1 to {}, got `{value}`",
                                Self::MAX_LIMIT
                            )))
                        }
                    }
                }
                "offset" => {
                    parsed.page.offset = match value.parse::<i64>() {
                        Ok(offset) if offset >= 0 => offset,
                        _ => {
                            return Err(ApiError::bad_request(format!(
                                "offset must be a non-negative integer, got `{value}`"
                            )))
                        }
                    }
                }
                "category" => {
                    crate::model::check_no_nul("category", &value)?;
                    parsed.category = Some(value.into_owned());
                }
                _ => {}
            }
        }
        Ok(parsed)
    }
}

/// Whether a `Content-Type` names JSON: `application/json`, with or
/// without parameters such as `charset=utf-8`.
pub fn is_json_content_type(content_type: Option<&[u8]>) -> bool {
    let Some(value) = content_type.and_then(|v| std::str::from_utf8(v).ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    essence.eq_ignore_ascii_case(JSON_CONTENT_TYPE)
}

/// Refuses a body that is not declared as JSON (415), before it is read.
fn require_json(content_type: Option<&[u8]>) -> Result<(), ApiError> {
    if is_json_content_type(content_type) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "request body must be JSON: send `Content-Type: application/json`",
        ))
    }
}

/// The checks made before a JSON body is read, from its headers alone:
/// declared as JSON (else 415), and not declared larger than the limit
/// (else 413). Adapters still cap what they read, for bodies without a length.
pub fn check_json_headers(
    content_type: Option<&[u8]>,
    content_length: Option<&[u8]>,
) -> Result<(), ApiError> {
    require_json(content_type)?;
    let declared = content_length
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(length) if length > MAX_BODY_BYTES as u64 => Err(ApiError::payload_too_large()),
        _ => Ok(()),
    }
}

/// Parses and validates a JSON request body.
pub fn parse_json<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, ApiError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ApiError::payload_too_large());
    }
    let mut reader = serde_json::Deserializer::from_slice(body);
    let value = T::deserialize(ObjectsOnly(&mut reader))
        .and_then(|value| reader.end().map(|()| value))
        .map_err(|error| ApiError::bad_request(format!("invalid JSON body: {error}")))?;
    value.validate()?;
    Ok(value)
}

/// Serializes a response body.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("API types always serialize")
}

/// The body of `GET /health` and of a healthy `GET /health/db`.
pub const HEALTH_OK: &[u8] = br#"{"status":"ok"}"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_positive_64_bit_integers() {
        assert_eq!(parse_id("1"), Ok(1));
        assert_eq!(parse_id("9223372036854775807"), Ok(i64::MAX));
        assert_eq!(parse_raw_id("%31%32"), Ok(12));
        assert!(parse_raw_id("%2D1").is_err());
        for bad in [
            "0",
            "-1",
            "+1",
            "abc",
            "",
            "1.5",
            "9223372036854775808",
            " 1",
        ] {
            assert!(parse_id(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn list_queries_are_bounded() {
        assert_eq!(ListQuery::parse(None).unwrap(), ListQuery::default());
        assert_eq!(routing_path("/users/1"), "/users/1");
        assert_eq!(routing_path("/%75sers/%31"), "/users/1");
        assert_eq!(routing_path("/orders/7/%63ancel%7E"), "/orders/7/cancel~");
        // Reserved and other characters stay encoded, as do broken escapes.
        assert_eq!(routing_path("/users/1%2F2%20%25%4"), "/users/1%2F2%20%25%4");
        let q = ListQuery::parse(Some("limit=100&offset=5&category=home%20garden&x=1")).unwrap();
        assert_eq!(
            q.page,
            Page {
                limit: 100,
                offset: 5
            }
        );
        assert_eq!(q.category.as_deref(), Some("home garden"));
        for bad in [
            "limit=0",
            "limit=101",
            "limit=abc",
            "offset=-1",
            "offset=1e3",
        ] {
            assert!(ListQuery::parse(Some(bad)).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn json_content_types() {
        assert!(is_json_content_type(Some(b"application/json")));
        assert!(is_json_content_type(Some(
            b"Application/JSON; charset=utf-8"
        )));
        assert!(!is_json_content_type(Some(b"text/plain")));
        assert!(!is_json_content_type(Some(b"application/jsonp")));
        assert!(!is_json_content_type(None));
    }
}
