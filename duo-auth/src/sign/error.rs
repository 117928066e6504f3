use thiserror::Error;

/// Why a request could not be canonicalized or signed.
///
/// Every variant names the offending input so the message can be shown to whoever wrote the
/// request; none of them depends on the network.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SignError {
    /// The date string is empty or contains characters that cannot appear in an HTTP header
    /// (a line break would also split the canonical string).
    #[error(
        "invalid date {date:?}: expected an RFC 2822 date such as \"Tue, 21 Aug 2012 17:29:18 -0000\""
    )]
    InvalidDate {
        /// The date as given.
        date: String,
    },
    /// The path does not start with `/`, or carries a query, fragment, whitespace, control or
    /// non-ASCII characters (ids inside paths must be percent-encoded first, see
    /// [`encode_path_segment`](super::encode_path_segment)).
    #[error("invalid path {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The host is empty or not printable ASCII without spaces or `/` (give the bare API
    /// hostname, e.g. `api-xxxxxxxx.duosecurity.com`).
    #[error(
        "invalid host {host:?}: expected a bare API hostname such as api-xxxxxxxx.duosecurity.com"
    )]
    InvalidHost {
        /// The host as given.
        host: String,
    },
    /// An extra header's name does not start with `x-duo-`, is not a valid HTTP header name,
    /// or contains a NUL byte.
    #[error("invalid header name {name:?}: {reason}")]
    InvalidHeaderName {
        /// The header name as given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// An extra header's value contains a NUL byte, a line break, another control character or
    /// a non-ASCII character.
    #[error("invalid value for header {name:?}: {reason}")]
    InvalidHeaderValue {
        /// The header name.
        name: String,
        /// What is wrong with the value.
        reason: &'static str,
    },
    /// Two extra headers have the same name, compared case-insensitively.
    #[error("header {name:?} is given more than once (header names are case-insensitive)")]
    DuplicateHeader {
        /// The header name, lower-cased.
        name: String,
    },
    /// A JSON body was given that is not a JSON object; Duo's v5 bodies are always objects.
    #[error("a JSON request body must be an object, not {found}")]
    BodyNotObject {
        /// The JSON type that was given (`array`, `string`, …).
        found: &'static str,
    },
    /// The request combines inputs that this method or signature version cannot carry.
    #[error("{0}")]
    Unsupported(&'static str),
}
