//! Canonical requests: the exact string Duo's HMAC covers.
//!
//! This is the part of Duo integrations that most often goes wrong (a 40103 "Invalid signature"
//! for one byte out of place), so it is kept free of IO and checked against Duo's published
//! vectors and, differentially, against Duo's official Python client.

use std::fmt;
use std::ops::Range;

use sha2::{Digest, Sha512};

use super::{Method, SignError};

/// Bytes left as they are: `A-Za-z0-9-_.~` (RFC 3986 unreserved). Every other byte is written
/// as `%XX` with upper-case hex, space as `%20`, as Duo's clients do via
/// `urllib.parse.quote(s, '~')`. A table and one pass because this runs for every parameter of
/// every request and dominated signing time when done through a general-purpose encoder.
const UNRESERVED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'-' || c == b'_' || c == b'.' || c == b'~';
        b += 1;
    }
    t
};

/// `%00%01…%FF`: the escape of byte `b` is `PERCENT_ESCAPES[3 * b..3 * b + 3]`.
const PERCENT_ESCAPES: &str = {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    const BYTES: [u8; 768] = {
        let mut t = [0u8; 768];
        let mut b = 0;
        while b < 256 {
            t[3 * b] = b'%';
            t[3 * b + 1] = HEX[b >> 4];
            t[3 * b + 2] = HEX[b & 0xf];
            b += 1;
        }
        t
    };
    match std::str::from_utf8(&BYTES) {
        Ok(s) => s,
        Err(_) => panic!("ASCII is UTF-8"),
    }
};

/// Lower-case hex SHA-512 of the empty string: the v5 body hash of a GET or DELETE and the header
/// hash of a request without extra `x-duo-*` headers. Kept as a constant so that signing a
/// typical request hashes nothing but the HMAC itself.
pub(crate) const SHA512_EMPTY_HEX: &str = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";

/// Appends the percent-encoding of `s` to `out` (see [`UNRESERVED`]).
pub(crate) fn encode_into(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut run_start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if UNRESERVED[usize::from(b)] {
            continue;
        }
        // bytes[run_start..i] are unreserved ASCII, so both ends are char boundaries.
        out.push_str(s.get(run_start..i).unwrap_or_default());
        let at = 3 * usize::from(b);
        out.push_str(PERCENT_ESCAPES.get(at..at + 3).unwrap_or_default());
        run_start = i + 1;
    }
    out.push_str(s.get(run_start..).unwrap_or_default());
}

/// Percent-encodes one parameter key or value exactly as Duo canonicalizes it: every byte of the
/// UTF-8 encoding except `A-Za-z0-9-_.~` becomes `%XX` with upper-case hex.
///
/// ```
/// assert_eq!(duo_auth::sign::encode_param("a b+c~é"), "a%20b%2Bc~%C3%A9");
/// ```
pub fn encode_param(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(&mut out, s);
    out
}

/// Percent-encodes an id for use as one path segment (`/admin/v1/users/{id}`), so that an id
/// containing `/`, `?` or spaces cannot change which resource is signed and requested.
///
/// ```
/// assert_eq!(duo_auth::sign::encode_path_segment("DU12/..?x"), "DU12%2F..%3Fx");
/// ```
pub fn encode_path_segment(segment: &str) -> String {
    encode_param(segment)
}

/// The canonical parameter line: pairs percent-encoded, sorted by encoded key then encoded
/// value, joined as `k=v` with `&`. An empty set gives an empty string.
///
/// Repeated keys give one pair per value, as Duo's clients do for a key with a list of values.
///
/// ```
/// use duo_auth::sign::canonical_params;
/// let line = canonical_params(&[("username", "root"), ("realname", "First Last"), ("a", "2"), ("a", "1")]);
/// assert_eq!(line, "a=1&a=2&realname=First%20Last&username=root");
/// ```
pub fn canonical_params<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> String {
    let mut out = String::new();
    write_canonical_params(&mut out, params);
    out
}

/// Writes the canonical parameter line into `out`.
pub(crate) fn write_canonical_params<K: AsRef<str>, V: AsRef<str>>(
    out: &mut String,
    params: &[(K, V)],
) {
    EncodedParams::new(params).write(out);
}

/// Parameters percent-encoded into one buffer and sorted, ready to be written as the canonical
/// line. Encoding first lets the canonical string be allocated at its exact size.
struct EncodedParams {
    scratch: String,
    spans: Vec<(Range<usize>, Range<usize>)>,
}

impl EncodedParams {
    fn new<K: AsRef<str>, V: AsRef<str>>(params: &[(K, V)]) -> Self {
        let raw: usize = params
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len())
            .sum();
        let mut scratch = String::with_capacity(raw + raw / 2);
        let mut spans: Vec<(Range<usize>, Range<usize>)> = Vec::with_capacity(params.len());
        for (k, v) in params {
            let k_start = scratch.len();
            encode_into(&mut scratch, k.as_ref());
            let v_start = scratch.len();
            encode_into(&mut scratch, v.as_ref());
            spans.push((k_start..v_start, v_start..scratch.len()));
        }
        let text = scratch.as_str();
        let at = |r: &Range<usize>| text.get(r.clone()).unwrap_or_default();
        spans.sort_unstable_by(|a, b| at(&a.0).cmp(at(&b.0)).then_with(|| at(&a.1).cmp(at(&b.1))));
        Self { scratch, spans }
    }

    /// The length of the canonical line: every encoded byte, one `=` per pair, `&` between.
    fn line_len(&self) -> usize {
        self.scratch.len() + (2 * self.spans.len()).saturating_sub(1)
    }

    fn write(&self, out: &mut String) {
        let at = |r: &Range<usize>| self.scratch.get(r.clone()).unwrap_or_default();
        for (i, (k, v)) in self.spans.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(at(k));
            out.push('=');
            out.push_str(at(v));
        }
    }
}

/// Lower-case hex SHA-512 of `bytes`.
pub(crate) fn sha512_hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return SHA512_EMPTY_HEX.to_owned();
    }
    base16ct::lower::encode_string(&Sha512::digest(bytes))
}

/// Validates extra `x-duo-*` headers and returns them lower-cased and sorted by name.
pub(crate) fn normalize_duo_headers<N: AsRef<str>, V: AsRef<str>>(
    headers: &[(N, V)],
) -> Result<Vec<(String, String)>, SignError> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let (name, value) = (name.as_ref(), value.as_ref());
        validate_header(name, value)?;
        out.push((name.to_ascii_lowercase(), value.to_owned()));
    }
    out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(SignError::DuplicateHeader {
            name: w[0].0.clone(),
        });
    }
    Ok(out)
}

fn validate_header(name: &str, value: &str) -> Result<(), SignError> {
    let bad_name = |reason| SignError::InvalidHeaderName {
        name: name.to_owned(),
        reason,
    };
    if name.contains('\0') {
        return Err(bad_name("header names may not contain a NUL byte"));
    }
    if !name
        .get(..6)
        .is_some_and(|p| p.eq_ignore_ascii_case("x-duo-"))
    {
        return Err(bad_name("extra signed headers must start with \"X-Duo-\""));
    }
    // RFC 9110 token characters.
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    {
        return Err(bad_name(
            "not a valid HTTP header name (letters, digits and -._~ etc. only)",
        ));
    }
    let bad_value = |reason| SignError::InvalidHeaderValue {
        name: name.to_owned(),
        reason,
    };
    if value.contains('\0') {
        return Err(bad_value("header values may not contain a NUL byte"));
    }
    if value.contains(['\r', '\n']) {
        return Err(bad_value("header values may not contain line breaks"));
    }
    if !value
        .bytes()
        .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
    {
        return Err(bad_value("header values must be printable ASCII"));
    }
    Ok(())
}

/// Lower-case hex SHA-512 of `name \0 value \0 name \0 value…` over normalized headers.
pub(crate) fn duo_headers_hash(sorted: &[(String, String)]) -> String {
    if sorted.is_empty() {
        return SHA512_EMPTY_HEX.to_owned();
    }
    let mut hasher = Sha512::new();
    for (i, (name, value)) in sorted.iter().enumerate() {
        if i > 0 {
            hasher.update(b"\0");
        }
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(value.as_bytes());
    }
    base16ct::lower::encode_string(&hasher.finalize())
}

/// A canonical request: the exact text that Duo's HMAC signature covers.
///
/// `Display` (and [`as_str`](Self::as_str)) give the canonical string byte for byte: lines
/// joined by `\n`, no trailing newline. For v2 the lines are date, method, host, path and
/// parameters; v5 adds the SHA-512 of the body and of the extra `x-duo-*` headers.
///
/// Build one with [`CanonicalRequest::v2`] or [`CanonicalRequest::v5`] when you control the
/// exact bytes yourself (another HTTP stack, test vectors), or let
/// [`Signer::sign`](super::Signer::sign) build it from a [`Request`](super::Request).
///
/// ```
/// use duo_auth::sign::{CanonicalRequest, Method};
/// let c = CanonicalRequest::v2(
///     "Tue, 21 Aug 2012 17:29:18 -0000",
///     Method::Post,
///     "foO.BAr52.cOm",
///     "/Foo/BaR2/qux",
///     &[("foo", "bar")],
/// )?;
/// assert_eq!(
///     c.to_string(),
///     "Tue, 21 Aug 2012 17:29:18 -0000\nPOST\nfoo.bar52.com\n/Foo/BaR2/qux\nfoo=bar"
/// );
/// # Ok::<(), duo_auth::sign::SignError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct CanonicalRequest {
    text: String,
    /// Where the parameter line sits in `text`, so the query string can be taken from it
    /// instead of canonicalizing the parameters twice.
    params: Range<usize>,
}

impl CanonicalRequest {
    /// The v2 canonical request: date, method, host, path, parameters.
    ///
    /// `host` is lower-cased and any `:port` is dropped (Duo signs the bare host name).
    pub fn v2<K: AsRef<str>, V: AsRef<str>>(
        date: &str,
        method: Method,
        host: &str,
        path: &str,
        params: &[(K, V)],
    ) -> Result<Self, SignError> {
        let encoded = EncodedParams::new(params);
        let mut text = Self::head(date, method, host, path, encoded.line_len())?;
        let start = text.len();
        encoded.write(&mut text);
        let params = start..text.len();
        Ok(Self { text, params })
    }

    /// The v5 canonical request: the v2 lines, then the SHA-512 of the exact `body` bytes that
    /// are sent (empty for GET and DELETE) and of the extra `x-duo-*` headers.
    ///
    /// Header names are compared and hashed lower-cased; they must start with `x-duo-`, be
    /// distinct and contain no NUL byte.
    pub fn v5<K, V, N, H>(
        date: &str,
        method: Method,
        host: &str,
        path: &str,
        params: &[(K, V)],
        body: &[u8],
        headers: &[(N, H)],
    ) -> Result<Self, SignError>
    where
        K: AsRef<str>,
        V: AsRef<str>,
        N: AsRef<str>,
        H: AsRef<str>,
    {
        let headers = normalize_duo_headers(headers)?;
        Self::v5_prepared(
            date,
            method,
            host,
            path,
            params,
            &sha512_hex(body),
            &headers,
        )
    }

    /// v5 with the body hash computed and headers already normalized.
    pub(crate) fn v5_prepared<K: AsRef<str>, V: AsRef<str>>(
        date: &str,
        method: Method,
        host: &str,
        path: &str,
        params: &[(K, V)],
        body_hash: &str,
        sorted_headers: &[(String, String)],
    ) -> Result<Self, SignError> {
        let encoded = EncodedParams::new(params);
        // Two more lines of 128 hex digits each.
        let mut text = Self::head(date, method, host, path, encoded.line_len() + 2 * 129)?;
        let start = text.len();
        encoded.write(&mut text);
        let params = start..text.len();
        text.push('\n');
        text.push_str(body_hash);
        text.push('\n');
        text.push_str(&duo_headers_hash(sorted_headers));
        Ok(Self { text, params })
    }

    /// The first four lines and the newline that starts the parameter line.
    fn head(
        date: &str,
        method: Method,
        host: &str,
        path: &str,
        extra: usize,
    ) -> Result<String, SignError> {
        super::date::validate_date(date)?;
        validate_path(path)?;
        if host.is_empty() || !host.bytes().all(|b| (0x21..0x7f).contains(&b) && b != b'/') {
            return Err(SignError::InvalidHost {
                host: host.to_owned(),
            });
        }
        let host = host_without_port(host);
        let mut text = String::with_capacity(date.len() + host.len() + path.len() + 12 + extra);
        text.push_str(date);
        text.push('\n');
        text.push_str(method.as_str());
        text.push('\n');
        let host_start = text.len();
        text.push_str(host);
        if let Some(h) = text.get_mut(host_start..) {
            h.make_ascii_lowercase();
        }
        text.push('\n');
        text.push_str(path);
        text.push('\n');
        Ok(text)
    }

    /// The canonical string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The canonical parameter line (empty for v5 requests whose parameters travel as JSON).
    pub fn params_line(&self) -> &str {
        self.text.get(self.params.clone()).unwrap_or_default()
    }

    /// The canonical string's lines (5 for v2, 7 for v5).
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.split('\n')
    }
}

impl fmt::Display for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for CanonicalRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CanonicalRequest").field(&self.text).finish()
    }
}

/// Duo signs the host without its port; `[::1]:8443` → `[::1]`, `h:443` → `h`.
pub(crate) fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

pub(crate) fn validate_path(path: &str) -> Result<(), SignError> {
    let bad = |reason| {
        Err(SignError::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    if !path.starts_with('/') {
        return bad("must start with '/'");
    }
    if path.contains(['?', '#']) {
        return bad("must not carry a query or fragment: give parameters separately");
    }
    if !path.bytes().all(|b| (0x21..0x7f).contains(&b)) {
        return bad(
            "must be printable ASCII without spaces: percent-encode ids with encode_path_segment",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_sha512_constant_is_right() {
        assert_eq!(
            base16ct::lower::encode_string(&Sha512::digest(b"")),
            SHA512_EMPTY_HEX
        );
    }

    #[test]
    fn host_port_stripping() {
        assert_eq!(
            host_without_port("api-x.duosecurity.com"),
            "api-x.duosecurity.com"
        );
        assert_eq!(host_without_port("127.0.0.1:8443"), "127.0.0.1");
        assert_eq!(host_without_port("[::1]:8443"), "[::1]");
        assert_eq!(host_without_port("[::1]"), "[::1]");
        assert_eq!(host_without_port("::1"), "::1");
    }

    #[test]
    fn header_rules() {
        assert!(normalize_duo_headers(&[("X-Duo-A", "1"), ("x-duo-b", "2")]).is_ok());
        assert!(matches!(
            normalize_duo_headers(&[("X-Duo-A", "1"), ("x-duo-a", "2")]),
            Err(SignError::DuplicateHeader { .. })
        ));
        assert!(matches!(
            normalize_duo_headers(&[("X-Other", "1")]),
            Err(SignError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            normalize_duo_headers(&[("X-Duo-\0", "1")]),
            Err(SignError::InvalidHeaderName { .. })
        ));
        assert!(matches!(
            normalize_duo_headers(&[("X-Duo-A", "a\0b")]),
            Err(SignError::InvalidHeaderValue { .. })
        ));
        assert!(matches!(
            normalize_duo_headers(&[("X-Duo-A", "a\r\nX-Injected: 1")]),
            Err(SignError::InvalidHeaderValue { .. })
        ));
        // Short names must not panic on slicing.
        assert!(normalize_duo_headers(&[("X-é", "1")]).is_err());
    }

    #[test]
    fn path_rules() {
        assert!(validate_path("/admin/v1/users").is_ok());
        assert!(validate_path("admin").is_err());
        assert!(validate_path("/a?b=c").is_err());
        assert!(validate_path("/a b").is_err());
        assert!(validate_path("/é").is_err());
    }
}
