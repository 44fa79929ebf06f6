//! `shop`: the contract every stackbench server implements.
//!
//! stackbench compares HTTP frameworks, so everything that is not the
//! framework lives here, once: the domain types and their validation
//! ([`model`], [`money`], [`objects`]), the error type with its status and
//! JSON body ([`error`]), the framework-neutral pieces of request handling
//! ([`http`]) and the store on both database drivers ([`store`]). A server
//! adapter only routes, extracts and responds with its framework's own
//! tools; if two adapters would share a line of logic, it belongs here. How
//! a server process starts, listens and stops is not the contract's
//! business: that is the crate `server-runtime`.

pub mod error;
pub mod http;
pub mod model;
pub mod money;
pub mod objects;
pub mod store;

pub use error::{ApiError, ErrorCode};
pub use store::{DbTimeouts, Driver, Store, StoreError};
