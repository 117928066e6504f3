//! Looking for secrets where they must never be: everything `tracing` and `log` were told, at
//! every level, TRACE included (the HTTP stack's own events too), and every `Display` and
//! `Debug` of the errors and values a test hands over.
//!
//! [`capture_everything`] installs a process-wide subscriber, so that events on the runtime's
//! worker threads and the blocking pool are caught as well: use it in a test binary of its own
//! (one test per file), where nothing else logs. [`Audit`] collects the formatted values, and
//! [`Audit::assert_clean`] fails naming the first place a secret shows, whole or in part.

use std::collections::HashSet;
use std::fmt::{Debug, Display};
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// Any run of this many bytes of a secret found in the output is a leak: a logged prefix of a
/// token is a leak too. Short enough to catch a truncated token, long enough that no ordinary
/// text matches a random secret by chance.
pub const WINDOW: usize = 16;

/// What the process-wide subscriber wrote.
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Everything written so far (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.lock()).into_owned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.lock().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs, once per process, a subscriber that writes every span (as it opens, is entered,
/// left and closed, with its fields as recorded) and every event at every level, from every
/// crate and every thread, plus the `log` records of crates that use `log` (reqwest), into one
/// buffer; returns that buffer.
pub fn capture_everything() -> Captured {
    static CAPTURED: OnceLock<Captured> = OnceLock::new();
    CAPTURED
        .get_or_init(|| {
            let captured = Captured::default();
            let writer = captured.clone();
            tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
                .with_ansi(false)
                .with_writer(move || writer.clone())
                .try_init()
                .unwrap_or_else(|e| panic!("installing the capturing subscriber: {e}"));
            captured
        })
        .clone()
}

/// Every formatted value a test looked at, with what it was.
#[derive(Debug, Default)]
pub struct Audit {
    texts: Vec<(String, String)>,
}

impl Audit {
    /// An empty audit.
    pub fn new() -> Self {
        Self::default()
    }

    /// An error as `Display`, `{:?}` and `{:#?}`, and the `Display` of each of its sources.
    pub fn error<E: std::error::Error>(&mut self, what: &str, error: &E) {
        self.texts
            .push((format!("{what} (Display)"), error.to_string()));
        self.debug(what, error);
        let mut source = error.source();
        while let Some(s) = source {
            self.texts
                .push((format!("{what} (a source)"), s.to_string()));
            source = s.source();
        }
    }

    /// A value as `{:?}` and `{:#?}`.
    pub fn debug<T: Debug + ?Sized>(&mut self, what: &str, value: &T) {
        self.texts
            .push((format!("{what} (Debug)"), format!("{value:?}")));
        self.texts
            .push((format!("{what} (alternate Debug)"), format!("{value:#?}")));
    }

    /// A value as `Display`.
    pub fn display<T: Display + ?Sized>(&mut self, what: &str, value: &T) {
        self.texts
            .push((format!("{what} (Display)"), value.to_string()));
    }

    /// Any other text.
    pub fn text(&mut self, what: &str, text: String) {
        self.texts.push((what.to_owned(), text));
    }

    /// How many texts were collected.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether nothing was collected.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Panics if any text holds [`WINDOW`] consecutive bytes of any secret; every secret must be
    /// at least that long (a shorter one could not be told from ordinary text).
    pub fn assert_clean(&self, secrets: &[String]) {
        let short: Vec<&String> = secrets.iter().filter(|s| s.len() < WINDOW).collect();
        assert!(short.is_empty(), "secrets too short to look for: {short:?}");
        assert!(!secrets.is_empty(), "no secret to look for");
        let windows: HashSet<&[u8]> = secrets
            .iter()
            .flat_map(|s| s.as_bytes().windows(WINDOW))
            .collect();
        let bytes: usize = self.texts.iter().map(|(_, t)| t.len()).sum();
        println!(
            "looking for {} secrets in {} texts ({} KiB)",
            secrets.len(),
            self.texts.len(),
            bytes / 1024
        );
        let mut leaks = Vec::new();
        for (what, text) in &self.texts {
            if let Some(w) = text
                .as_bytes()
                .windows(WINDOW)
                .find(|w| windows.contains(w))
            {
                let piece = String::from_utf8_lossy(w);
                let secret = secrets
                    .iter()
                    .find(|s| s.contains(piece.as_ref()))
                    .map_or("?", String::as_str);
                let at = text.find(piece.as_ref()).unwrap_or(0);
                let context = &text[floor(text, at.saturating_sub(200))..floor(text, at + 200)];
                leaks.push(format!(
                    "{what} holds part of a secret ({piece:?}, of {}…):\n…{context}…",
                    &secret[..floor(secret, 8)]
                ));
            }
        }
        assert!(
            leaks.is_empty(),
            "{} of {} texts leak:\n\n{}",
            leaks.len(),
            self.texts.len(),
            leaks.join("\n\n")
        );
    }
}

/// The largest char boundary of `s` at or before `at`.
fn floor(s: &str, at: usize) -> usize {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The credentials in raw HTTP traffic (requests and answers as sent, any number of them in a
/// row): the credential of each `Authorization` header (and, for `Basic`, the password it
/// encodes), each `DPoP` proof, each `client_assertion` form value, and each `access_token`,
/// `refresh_token` and `id_token` of a JSON answer. Each JWS also gives its signature alone.
/// Values shorter than [`WINDOW`] are left out.
pub fn in_traffic(traffic: &str) -> Vec<String> {
    use base64::Engine as _;
    let mut out = Vec::new();
    let mut add = |value: &str| {
        let value = value.trim();
        if value.matches('.').count() == 2
            && let Some(signature) = value.rsplit('.').next()
        {
            out.push(signature.to_owned());
        }
        out.push(value.to_owned());
    };
    for line in traffic.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("authorization") {
            let (scheme, credential) = value.trim().split_once(' ').unwrap_or(("", value));
            add(credential);
            if scheme.eq_ignore_ascii_case("basic")
                && let Ok(decoded) =
                    base64::engine::general_purpose::STANDARD.decode(credential.trim())
                && let Some((_, password)) = String::from_utf8_lossy(&decoded).split_once(':')
            {
                add(password);
            }
        } else if name.eq_ignore_ascii_case("dpop") {
            add(value);
        }
    }
    for pair in traffic.split(['&', '\r', '\n', '?']) {
        if let Some(value) = pair.strip_prefix("client_assertion=") {
            add(value);
        }
    }
    for key in ["access_token", "refresh_token", "id_token"] {
        let quoted = format!("\"{key}\"");
        for (at, _) in traffic.match_indices(&quoted) {
            let rest = traffic[at + quoted.len()..].trim_start();
            let Some(rest) = rest.strip_prefix(':') else {
                continue;
            };
            let Some(rest) = rest.trim_start().strip_prefix('"') else {
                continue;
            };
            if let Some(end) = rest.find('"') {
                add(&rest[..end]);
            }
        }
    }
    out.retain(|s| s.len() >= WINDOW);
    out.sort();
    out.dedup();
    out
}

/// Private key material: every base64 line of a PEM and the private members of a JWK
/// (`d`, `p`, `q`, `dp`, `dq`, `qi`).
pub fn in_key(pem: &str, jwk: Option<&str>) -> Vec<String> {
    let mut out: Vec<String> = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("-----") && l.len() >= WINDOW)
        .map(str::to_owned)
        .collect();
    if let Some(jwk) = jwk {
        let members: serde_json::Value =
            serde_json::from_str(jwk).unwrap_or_else(|e| panic!("the JWK is not JSON: {e}"));
        for m in ["d", "p", "q", "dp", "dq", "qi"] {
            if let Some(s) = members[m].as_str().filter(|s| s.len() >= WINDOW) {
                out.push(s.to_owned());
            }
        }
    }
    out
}
