//! Duo request signing, sans-IO.
//!
//! A [`Request`] describes what to send (method, path, parameters, an optional JSON body,
//! optional extra `x-duo-*` headers); a [`Signer`] holds the [`Credentials`]
//! and the [`SignatureVersion`] and turns a request and a date into a [`SignedRequest`]: the
//! exact query string or body bytes to send, the headers to send, and the
//! [`CanonicalRequest`] that was signed. Nothing here does IO or reads a clock, so it works with
//! any HTTP stack and is tested with vectors instead of servers.
//!
//! Where the parameters go follows Duo's clients: with v2, in the query for GET and DELETE and
//! form-encoded in the body otherwise; with v5, in the query for GET and DELETE and as a JSON
//! object body for POST, PUT and PATCH (whose parameter line is then empty). What is sent is what
//! was signed: the query string *is* the canonical parameter line.
//!
//! ```
//! use duo_auth::Credentials;
//! use duo_auth::sign::{Request, Signer};
//!
//! let creds = Credentials::new("DIWJ8X6AEYOR5OMC6TQ1", "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep", "api-xxxxxxxx.duosecurity.com")?;
//! let signer = Signer::new(creds); // v5, HMAC-SHA512
//! let request = Request::get("/admin/v1/users").param("limit", "300").param("offset", "0");
//! let signed = signer.sign(&request, "Tue, 21 Aug 2012 17:29:18 -0000")?;
//!
//! assert_eq!(signed.path_and_query(), "/admin/v1/users?limit=300&offset=0");
//! assert_eq!(signed.canonical().lines().count(), 7);
//! let names: Vec<&str> = signed.headers().iter().map(|(n, _)| n.as_ref()).collect();
//! assert_eq!(names, ["Date", "Authorization"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod canonical;
mod date;
mod error;
mod json;

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};

use crate::Credentials;
pub(crate) use canonical::host_without_port;
pub use canonical::{CanonicalRequest, canonical_params, encode_param, encode_path_segment};
pub use date::format_date;
pub use error::SignError;

/// An HTTP method Duo's APIs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `DELETE`
    Delete,
    /// `PATCH`
    Patch,
}

impl Method {
    /// The upper-case method name, as signed and sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
            Method::Patch => "PATCH",
        }
    }

    /// Whether Duo expects this method's parameters in the body rather than the query.
    pub fn params_in_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// The method name is not one of Duo's (GET, POST, PUT, DELETE, PATCH).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported HTTP method {0:?}: Duo's APIs use GET, POST, PUT, DELETE and PATCH")]
pub struct UnknownMethod(pub String);

impl std::str::FromStr for Method {
    type Err = UnknownMethod;

    /// Parses a method name case-insensitively, as Duo's clients upper-case it before signing.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_uppercase().as_str() {
            "GET" => Method::Get,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "PATCH" => Method::Patch,
            _ => return Err(UnknownMethod(s.to_owned())),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which of Duo's signature schemes to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SignatureVersion {
    /// v2 with HMAC-SHA1, as Duo's documentation describes v2. Legacy; accepted by the Auth API
    /// and v1 Admin endpoints.
    V2Sha1,
    /// v2 with HMAC-SHA512, the official clients' v2 default.
    V2Sha512,
    /// v5: HMAC-SHA512 over the v2 lines plus the body hash and the `x-duo-*` header hash.
    /// Required by `/admin/v2`, `/admin/v3`, bulk endpoints and the Policy API; our default.
    #[default]
    V5,
}

/// Which header carries the signed date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DateHeader {
    /// `Date`, as Duo's Python client sends it.
    #[default]
    Date,
    /// `X-Duo-Date`, as Duo's newer HMAC library sends it, for HTTP stacks that overwrite
    /// `Date`. v5 only: the header is then also part of the signed `x-duo-*` header hash.
    XDuoDate,
}

/// What to send: method, path, parameters, optional JSON body and extra `x-duo-*` headers.
///
/// Parameters are an ordered multi-map of strings (a key may repeat). A JSON body is only for
/// v5 POST/PUT/PATCH requests; without one, such a request's parameters become its JSON body
/// (a repeated key becomes an array), as Duo's clients do. Validation happens when signing.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    method: Method,
    path: String,
    params: Vec<(String, String)>,
    json: Option<Value>,
    headers: Vec<(String, String)>,
    date_header: DateHeader,
}

impl Request {
    /// A request with the given method and path (e.g. `/auth/v2/preauth`).
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            params: Vec::new(),
            json: None,
            headers: Vec::new(),
            date_header: DateHeader::Date,
        }
    }

    /// A `GET` request.
    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::Get, path)
    }

    /// A `POST` request.
    pub fn post(path: impl Into<String>) -> Self {
        Self::new(Method::Post, path)
    }

    /// A `PUT` request.
    pub fn put(path: impl Into<String>) -> Self {
        Self::new(Method::Put, path)
    }

    /// A `DELETE` request.
    pub fn delete(path: impl Into<String>) -> Self {
        Self::new(Method::Delete, path)
    }

    /// A `PATCH` request.
    pub fn patch(path: impl Into<String>) -> Self {
        Self::new(Method::Patch, path)
    }

    /// Adds a parameter; a key given twice is sent twice.
    pub fn param(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.push((key.into(), value.into()));
        self
    }

    /// Adds several parameters.
    pub fn params<K, V>(mut self, params: impl IntoIterator<Item = (K, V)>) -> Self
    where
        K: Into<String>,
        V: Into<String>,
    {
        self.params
            .extend(params.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets a JSON body (v5 POST/PUT/PATCH only; it must be an object).
    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }

    /// Adds an extra signed header; its name must start with `X-Duo-` (v5 only).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Chooses the header that carries the date.
    pub fn date_header(mut self, which: DateHeader) -> Self {
        self.date_header = which;
        self
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The parameters, in the order given.
    pub fn param_pairs(&self) -> &[(String, String)] {
        &self.params
    }
}

enum MacKey {
    Sha1(Hmac<sha1::Sha1>),
    Sha512(Hmac<sha2::Sha512>),
}

impl MacKey {
    fn new(version: SignatureVersion, secret: &[u8]) -> Self {
        // HMAC takes keys of any length, so construction cannot fail.
        match version {
            SignatureVersion::V2Sha1 => {
                MacKey::Sha1(Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"))
            }
            _ => MacKey::Sha512(
                Hmac::new_from_slice(secret).expect("HMAC accepts keys of any length"),
            ),
        }
    }

    /// Lower-case hex MAC of `data`, from a clone of the keyed state (the key's inner and outer
    /// pads are hashed once per signer, not once per request).
    fn hex(&self, data: &[u8]) -> String {
        fn finish<M: Mac + Clone>(keyed: &M, data: &[u8]) -> String {
            let mut mac = keyed.clone();
            mac.update(data);
            base16ct::lower::encode_string(&mac.finalize().into_bytes())
        }
        match self {
            MacKey::Sha1(m) => finish(m, data),
            MacKey::Sha512(m) => finish(m, data),
        }
    }
}

/// Signs requests for one Duo application with one signature version.
///
/// A signer keys its HMAC once; signing then costs one HMAC over the canonical string. It is
/// cheap to share (`Arc`) across tasks: signing takes `&self`.
pub struct Signer {
    credentials: Credentials,
    version: SignatureVersion,
    key: MacKey,
}

impl Signer {
    /// A v5 signer for these credentials.
    pub fn new(credentials: Credentials) -> Self {
        Self::with_version(credentials, SignatureVersion::V5)
    }

    /// A signer with a chosen signature version.
    pub fn with_version(credentials: Credentials, version: SignatureVersion) -> Self {
        let key = MacKey::new(version, credentials.secret_key().expose_secret().as_bytes());
        Self {
            credentials,
            version,
            key,
        }
    }

    /// The credentials.
    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// The signature version.
    pub fn version(&self) -> SignatureVersion {
        self.version
    }

    /// Canonicalizes and signs `request` for `date` (the exact string to send, see
    /// [`format_date`]).
    pub fn sign(&self, request: &Request, date: &str) -> Result<SignedRequest, SignError> {
        let host = self.credentials.api_host();
        let method = request.method;
        // `query_is_params`: the query string is the canonical parameter line itself.
        let (canonical, query_is_params, body) = match self.version {
            SignatureVersion::V2Sha1 | SignatureVersion::V2Sha512 => {
                if request.json.is_some() {
                    return Err(SignError::Unsupported(
                        "JSON bodies are signed only by v5: use SignatureVersion::V5",
                    ));
                }
                if !request.headers.is_empty() {
                    return Err(SignError::Unsupported(
                        "extra X-Duo- headers are signed only by v5: use SignatureVersion::V5",
                    ));
                }
                if request.date_header == DateHeader::XDuoDate {
                    return Err(SignError::Unsupported(
                        "X-Duo-Date is signed only by v5: use DateHeader::Date with v2",
                    ));
                }
                let canonical =
                    CanonicalRequest::v2(date, method, host, &request.path, &request.params)?;
                if method.params_in_body() {
                    let line = canonical.params_line().to_owned();
                    (canonical, false, Some(Body::form(line)))
                } else {
                    (canonical, true, None)
                }
            }
            SignatureVersion::V5 => {
                let mut extra = Cow::Borrowed(request.headers.as_slice());
                if request.date_header == DateHeader::XDuoDate {
                    extra
                        .to_mut()
                        .push(("x-duo-date".to_owned(), date.to_owned()));
                }
                let headers = canonical::normalize_duo_headers(&extra)?;
                if method.params_in_body() {
                    let object = match &request.json {
                        Some(json) => {
                            if !request.params.is_empty() {
                                return Err(SignError::Unsupported(
                                    "give either parameters or a JSON body, not both",
                                ));
                            }
                            match json {
                                Value::Object(map) => Cow::Borrowed(map),
                                other => {
                                    return Err(SignError::BodyNotObject {
                                        found: json_type(other),
                                    });
                                }
                            }
                        }
                        None => Cow::Owned(params_to_object(&request.params)),
                    };
                    let bytes = json::canonical_json(&object);
                    let no_params: &[(&str, &str)] = &[];
                    let canonical = CanonicalRequest::v5_prepared(
                        date,
                        method,
                        host,
                        &request.path,
                        no_params,
                        &canonical::sha512_hex(&bytes),
                        &headers,
                    )?;
                    (canonical, false, Some(Body::json(bytes)))
                } else {
                    if request.json.is_some() {
                        return Err(SignError::Unsupported(
                            "GET and DELETE requests carry no body: give parameters instead",
                        ));
                    }
                    let canonical = CanonicalRequest::v5_prepared(
                        date,
                        method,
                        host,
                        &request.path,
                        &request.params,
                        canonical::SHA512_EMPTY_HEX,
                        &headers,
                    )?;
                    (canonical, true, None)
                }
            }
        };

        let signature = self.key.hex(canonical.as_str().as_bytes());
        let mut basic =
            String::with_capacity(self.credentials.integration_key().len() + 1 + signature.len());
        basic.push_str(self.credentials.integration_key());
        basic.push(':');
        basic.push_str(&signature);
        let mut authorization = String::with_capacity(6 + basic.len().div_ceil(3) * 4);
        authorization.push_str("Basic ");
        BASE64.encode_string(basic.as_bytes(), &mut authorization);

        let mut headers: Vec<(Cow<'static, str>, String)> =
            Vec::with_capacity(3 + request.headers.len());
        match (self.version, request.date_header) {
            (SignatureVersion::V5, DateHeader::XDuoDate) => {
                headers.push((Cow::Borrowed("X-Duo-Date"), date.to_owned()))
            }
            _ => headers.push((Cow::Borrowed("Date"), date.to_owned())),
        }
        headers.push((Cow::Borrowed("Authorization"), authorization));
        if let Some(body) = &body {
            headers.push((Cow::Borrowed("Content-Type"), body.content_type.to_owned()));
        }
        for (name, value) in &request.headers {
            headers.push((Cow::Owned(name.clone()), value.clone()));
        }

        Ok(SignedRequest {
            method,
            path: request.path.clone(),
            query_is_params,
            body,
            headers,
            canonical,
            signature,
        })
    }
}

impl Signer {
    /// The lower-case hex HMAC of a canonical request built elsewhere (another HTTP stack, test
    /// vectors).
    pub fn signature_hex(&self, canonical: &CanonicalRequest) -> String {
        self.key.hex(canonical.as_str().as_bytes())
    }

    /// The `Authorization` header value for a canonical request built elsewhere:
    /// `Basic base64(ikey ":" hexsig)`.
    pub fn authorization(&self, canonical: &CanonicalRequest) -> String {
        self.basic(&self.signature_hex(canonical))
    }

    fn basic(&self, signature: &str) -> String {
        let ikey = self.credentials.integration_key().as_bytes();
        let len = ikey.len() + 1 + signature.len();
        let mut authorization = String::with_capacity(6 + len.div_ceil(3) * 4);
        authorization.push_str("Basic ");
        // `ikey:signature` on the stack when it fits (it always does for Duo's 20-character
        // keys), to keep allocations off the per-request path.
        let mut stack = [0u8; 192];
        let mut heap = Vec::new();
        let joined: &mut [u8] = match stack.get_mut(..len) {
            Some(buf) => buf,
            None => {
                heap.resize(len, 0);
                &mut heap
            }
        };
        let (head, tail) = joined.split_at_mut(ikey.len());
        head.copy_from_slice(ikey);
        if let Some((colon, rest)) = tail.split_first_mut() {
            *colon = b':';
            rest.copy_from_slice(signature.as_bytes());
        }
        BASE64.encode_string(&*joined, &mut authorization);
        authorization
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signer")
            .field("credentials", &self.credentials)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parameters as the JSON object Duo's clients send for v5 POST/PUT/PATCH: one key's single
/// value as a string, a repeated key's values as an array in the order given.
fn params_to_object(params: &[(String, String)]) -> Map<String, Value> {
    let mut map = Map::new();
    for (k, v) in params {
        match map.get_mut(k) {
            None => {
                map.insert(k.clone(), Value::String(v.clone()));
            }
            Some(Value::Array(items)) => items.push(Value::String(v.clone())),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, Value::String(v.clone())]);
            }
        }
    }
    map
}

/// A request body with its content type.
#[derive(Clone, PartialEq, Eq)]
struct Body {
    bytes: Vec<u8>,
    content_type: &'static str,
}

impl Body {
    fn form(line: String) -> Self {
        Self {
            bytes: line.into_bytes(),
            content_type: "application/x-www-form-urlencoded",
        }
    }
    fn json(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            content_type: "application/json",
        }
    }
}

/// A signed request: what to send, exactly as it was signed.
///
/// `Debug` redacts the `Authorization` value (it is a credential for the next few minutes).
#[derive(Clone)]
pub struct SignedRequest {
    method: Method,
    path: String,
    query_is_params: bool,
    body: Option<Body>,
    headers: Vec<(Cow<'static, str>, String)>,
    canonical: CanonicalRequest,
    signature: String,
}

impl SignedRequest {
    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The path, as signed.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string to send (without `?`; empty when there is none). It is the canonical
    /// parameter line itself, so the server decodes exactly the parameters that were signed.
    pub fn query(&self) -> &str {
        if self.query_is_params {
            self.canonical.params_line()
        } else {
            ""
        }
    }

    /// The path followed by `?` and the query when there is one.
    pub fn path_and_query(&self) -> String {
        match self.query() {
            "" => self.path.clone(),
            query => format!("{}?{query}", self.path),
        }
    }

    /// The exact body bytes to send, if any.
    pub fn body(&self) -> Option<&[u8]> {
        self.body.as_ref().map(|b| b.bytes.as_slice())
    }

    /// The headers to send: the date header, `Authorization`, `Content-Type` when there is a
    /// body, and the extra `X-Duo-` headers.
    pub fn headers(&self) -> &[(Cow<'static, str>, String)] {
        &self.headers
    }

    /// The `Authorization` header value: `Basic base64(ikey:hexsig)`.
    pub fn authorization(&self) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == "Authorization")
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The canonical request that was signed.
    pub fn canonical(&self) -> &CanonicalRequest {
        &self.canonical
    }

    /// The lower-case hex HMAC signature.
    pub fn signature_hex(&self) -> &str {
        &self.signature
    }
}

impl fmt::Debug for SignedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                if n == "Authorization" {
                    (n.as_ref(), "[redacted]")
                } else {
                    (n.as_ref(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query())
            .field("body", &self.body().map(String::from_utf8_lossy))
            .field("headers", &headers)
            .field("canonical", &self.canonical)
            .finish_non_exhaustive()
    }
}
