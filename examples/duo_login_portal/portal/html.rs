//! Inline HTML: no template engine, every piece of user or Duo data goes through [`esc`].

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML element content and double-quoted attribute values.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A whole page. `body` must already be escaped where it holds data.
pub(crate) fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · Duo login portal</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:42rem;margin:2.5rem auto;padding:0 1rem;color:#222}}
h1{{font-size:1.6rem}} .note{{background:#f3f6fa;border:1px solid #cdd8e5;padding:.6rem 1rem;border-radius:6px}}
.ok{{color:#1d6b12}} .err{{color:#a61b1b}} label{{display:block;margin:.5rem 0}}
input{{font-size:1rem;padding:.3rem}} button{{font-size:1rem;padding:.4rem 1.2rem}}
a.button{{display:inline-block;background:#1f5fbf;color:#fff;padding:.55rem 1.4rem;border-radius:6px;text-decoration:none;font-size:1.1rem}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccd;padding:.2rem .6rem;text-align:left}}
</style></head>
<body>{body}</body></html>"#,
        title = esc(title),
    );
    (status, Html(html)).into_response()
}

/// A page that says something went wrong, with a way back to the login form.
pub(crate) fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    page(
        status,
        title,
        &format!(
            r#"<h1>{}</h1><p id="message" class="err">{}</p><p><a href="/login">Sign in again</a></p>"#,
            esc(title),
            esc(message)
        ),
    )
}
