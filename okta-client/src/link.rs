//! RFC 8288 `Link` headers, as Okta sends them for paging.
//!
//! Okta sends one `Link` header per relation (`<…?limit=200>; rel="self"` and
//! `<…?after=…&limit=200>; rel="next"`); proxies may join them into one comma-separated value.
//! Both are handled, as are quoted or unquoted `rel`, several relations in one `rel="next last"`,
//! parameters in any order, and commas or semicolons inside `<…>`.
//!
//! Targets are returned **verbatim**: cursors are opaque (`%3D`, `+`, …) and must be sent back
//! exactly as received, so nothing is decoded or re-encoded. The parser never panics; garbage
//! is skipped.

/// One link: its target (verbatim) and parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Link<'a> {
    /// The URI-Reference between `<` and `>`, exactly as sent.
    pub target: &'a str,
    /// Parameters in order: names lower-cased, quoted values unescaped, `None` for a bare name.
    pub params: Vec<(String, Option<String>)>,
}

impl Link<'_> {
    /// The relation types of the first `rel` parameter, lower-cased (RFC 8288 §3.3).
    pub fn relations(&self) -> impl Iterator<Item = String> + '_ {
        self.params
            .iter()
            .find(|(name, _)| name == "rel")
            .and_then(|(_, v)| v.as_deref())
            .into_iter()
            .flat_map(|v| v.split_ascii_whitespace().map(str::to_ascii_lowercase))
    }

    /// Whether one of the relation types is `rel` (ASCII case-insensitive).
    pub fn has_relation(&self, rel: &str) -> bool {
        self.relations().any(|r| r.eq_ignore_ascii_case(rel))
    }
}

/// Parses one `Link` header value into its links.
///
/// ```
/// use okta_client::link::parse;
/// let links = parse(r#"<https://x.okta.com/api/v1/groups?after=a%3D+b&limit=200>; rel="next", </self>; rel=self"#);
/// assert_eq!(links[0].target, "https://x.okta.com/api/v1/groups?after=a%3D+b&limit=200");
/// assert!(links[0].has_relation("next"));
/// assert!(links[1].has_relation("self"));
/// ```
pub fn parse(value: &str) -> Vec<Link<'_>> {
    let b = value.as_bytes();
    let mut links = Vec::new();
    let mut i = 0;
    while i < b.len() {
        skip_ows_and(b, &mut i, b',');
        if i >= b.len() {
            break;
        }
        if b[i] != b'<' {
            // Not a link-value: resynchronise at the next top-level comma.
            skip_to_comma(b, &mut i);
            continue;
        }
        let Some(close) = value[i + 1..].find('>') else {
            break;
        };
        let target = &value[i + 1..i + 1 + close];
        i += close + 2;
        let mut params = Vec::new();
        loop {
            skip_ows(b, &mut i);
            if i >= b.len() || b[i] == b',' {
                break;
            }
            if b[i] != b';' {
                // Junk after the target or a parameter: drop it up to the next separator.
                skip_until_sep(b, &mut i);
                continue;
            }
            i += 1;
            skip_ows(b, &mut i);
            let start = i;
            while i < b.len() && !matches!(b[i], b'=' | b';' | b',' | b' ' | b'\t') {
                i += 1;
            }
            let name = value[start..i].to_ascii_lowercase();
            skip_ows(b, &mut i);
            let val = if i < b.len() && b[i] == b'=' {
                i += 1;
                skip_ows(b, &mut i);
                Some(crate::error::read_value(value, &mut i))
            } else {
                None
            };
            if !name.is_empty() {
                params.push((name, val));
            }
        }
        links.push(Link { target, params });
    }
    links
}

/// The `rel="next"` target among all `Link` header values of a response, verbatim; `None` on
/// the last page (or when there is no `Link` at all, i.e. a single page).
///
/// ```
/// use okta_client::link::next;
/// let headers = [
///     r#"<https://x.okta.com/api/v1/groups?limit=200>; rel="self""#,
///     r#"<https://x.okta.com/api/v1/groups?after=00g1&limit=200>; rel="next""#,
/// ];
/// assert_eq!(next(headers), Some("https://x.okta.com/api/v1/groups?after=00g1&limit=200"));
/// assert_eq!(next([r#"<https://x.okta.com/api/v1/groups>; rel="self""#]), None);
/// ```
pub fn next<'a, I>(header_values: I) -> Option<&'a str>
where
    I: IntoIterator<Item = &'a str>,
{
    header_values
        .into_iter()
        .flat_map(parse)
        .find(|l| l.has_relation("next"))
        .map(|l| l.target)
        .filter(|t| !t.is_empty())
}

fn skip_ows(b: &[u8], i: &mut usize) {
    while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n') {
        *i += 1;
    }
}

fn skip_ows_and(b: &[u8], i: &mut usize, extra: u8) {
    while *i < b.len() && (matches!(b[*i], b' ' | b'\t' | b'\r' | b'\n') || b[*i] == extra) {
        *i += 1;
    }
}

/// Skips to the next `;` or `,` that is not inside a quoted string.
fn skip_until_sep(b: &[u8], i: &mut usize) {
    let mut quoted = false;
    while *i < b.len() {
        match b[*i] {
            b'\\' if quoted => *i += 1,
            b'"' => quoted = !quoted,
            b';' | b',' if !quoted => return,
            _ => {}
        }
        *i += 1;
    }
}

fn skip_to_comma(b: &[u8], i: &mut usize) {
    loop {
        skip_until_sep(b, i);
        if *i >= b.len() || b[*i] == b',' {
            return;
        }
        *i += 1;
    }
}
