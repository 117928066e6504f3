//! The report as JSON, CSV and one self-contained HTML page.
//!
//! Every value shown comes from Okta, Duo or the portal and is treated as hostile: HTML is
//! escaped, and CSV cells that a spreadsheet would run as a formula are neutralized.

use std::fmt::Write as _;

use html_escape::encode_text as text;

use crate::Timestamp;
use crate::report::{Report, Severity, UserReview};

impl Report {
    /// The report as pretty JSON (schema [`SCHEMA`](crate::SCHEMA)).
    pub fn to_json(&self) -> String {
        // Strings, numbers, maps with string keys: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// One CSV row per portal user: `login, protected, roles, okta_id, okta_status,
    /// okta_last_login, okta_groups, app_assignment, duo_user_id, duo_status, duo_enrolled,
    /// last_duo_auth, last_duo_factor, authenticators, last_sign_in, findings`. Roles are
    /// `role(source: groups)`, lists are `; `-separated.
    pub fn users_csv(&self) -> Result<String, std::io::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "login",
            "protected",
            "roles",
            "okta_id",
            "okta_status",
            "okta_last_login",
            "okta_groups",
            "app_assignment",
            "duo_user_id",
            "duo_status",
            "duo_enrolled",
            "last_duo_auth",
            "last_duo_factor",
            "authenticators",
            "last_sign_in",
            "findings",
        ])?;
        for user in &self.users {
            let okta = user.okta.as_ref();
            let duo = user.duo.as_ref();
            let last_auth = duo.and_then(|d| d.last_auth.as_ref());
            let row = [
                user.login.clone(),
                user.protected.to_string(),
                roles_cell(user),
                opt(okta.map(|o| o.id.clone())),
                opt(okta.map(|o| o.status.clone())),
                time(okta.and_then(|o| o.last_login)),
                okta.map(|o| o.groups.join("; ")).unwrap_or_default(),
                opt(okta.and_then(|o| o.app_assignment.clone())),
                opt(duo.map(|d| d.user_id.clone())),
                opt(duo.map(|d| d.status.clone())),
                opt(duo.map(|d| d.is_enrolled.to_string())),
                time(last_auth.map(|a| a.at)),
                opt(last_auth.map(|a| a.factor.clone())),
                duo.map(|d| {
                    d.authenticators
                        .iter()
                        .map(|a| format!("{} {}", a.kind, a.label))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .unwrap_or_default(),
                time(user.last_sign_in),
                user.findings.join("; "),
            ];
            w.write_record(row.iter().map(|c| cell(c)))?;
        }
        finish(w)
    }

    /// One CSV row per finding: `severity, kind, subject, message`.
    pub fn findings_csv(&self) -> Result<String, std::io::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(["severity", "kind", "subject", "message"])?;
        for f in &self.findings {
            w.write_record([
                cell(severity(f.severity)),
                cell(f.kind.name()),
                cell(&f.subject),
                cell(&f.message),
            ])?;
        }
        finish(w)
    }

    /// One CSV row per Duo administrator: `admin_id, name, email, role, status, last_login,
    /// portal_user`.
    pub fn duo_admins_csv(&self) -> Result<String, std::io::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "admin_id",
            "name",
            "email",
            "role",
            "status",
            "last_login",
            "portal_user",
        ])?;
        for a in &self.duo_admins {
            let row = [
                a.admin_id.clone(),
                opt(a.name.clone()),
                opt(a.email.clone()),
                opt(a.role.clone()),
                opt(a.status.clone()),
                time(a.last_login),
                opt(a.portal_user.clone()),
            ];
            w.write_record(row.iter().map(|c| cell(c)))?;
        }
        finish(w)
    }

    /// One self-contained HTML page: the findings first, then counts, portal users and Duo
    /// administrators. No script, no external resource (its own Content-Security-Policy says
    /// so), so it can be attached to an audit as one file.
    pub fn to_html(&self) -> String {
        let mut h = String::with_capacity(4096 + 600 * self.users.len());
        let high = self.count(Severity::High);
        let medium = self.count(Severity::Medium);
        let low = self.count(Severity::Low);
        let _ = write!(
            h,
            r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Access review {taken}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#1d1d1f}}
h1{{font-size:1.5rem;margin-bottom:.2rem}} h2{{font-size:1.2rem;margin-top:2rem}}
.meta{{color:#555;font-size:.9rem}} code{{font-size:.85rem}}
table{{border-collapse:collapse;margin-top:.5rem}} th,td{{border:1px solid #ccd;padding:.25rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}}
th{{background:#eef1f6}} .high{{background:#fde8e8}} .medium{{background:#fff5dc}} .low{{background:#eef6ee}}
.badge{{display:inline-block;padding:.1rem .5rem;border-radius:.6rem;margin-right:.4rem}}
</style></head>
<body>
<h1>Access review</h1>
<p class="meta">Taken <time datetime="{taken}">{taken}</time> · schema <code>{schema}</code> · inputs <code id="fingerprint">{fp}</code></p>
<p class="meta">Sources: {sources}</p>
<h2 id="findings-title">Findings ({total})</h2>
<p><span class="badge high">high {high}</span><span class="badge medium">medium {medium}</span><span class="badge low">low {low}</span></p>
"#,
            taken = self.taken_at,
            schema = text(&self.schema),
            fp = text(&self.fingerprint),
            sources = self.sources_line(),
            total = self.findings.len(),
        );
        if self.findings.is_empty() {
            h.push_str("<p id=\"no-findings\">No findings.</p>\n");
        } else {
            h.push_str("<table id=\"findings\"><thead><tr><th>Severity</th><th>Finding</th><th>Subject</th><th>Detail</th></tr></thead><tbody>\n");
            for f in &self.findings {
                let sev = severity(f.severity);
                let _ = writeln!(
                    h,
                    "<tr class=\"{sev}\"><td>{sev}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    f.kind.name(),
                    text(&f.subject),
                    text(&f.message)
                );
            }
            h.push_str("</tbody></table>\n");
        }

        let c = &self.counts;
        let _ = write!(
            h,
            "<h2>Counts</h2>\n<table id=\"counts\"><tbody>\n\
<tr><th>Portal users</th><td>{}</td></tr>\n<tr><th>… holding roles</th><td>{}</td></tr>\n\
<tr><th>… protected (break-glass)</th><td>{}</td></tr>\n<tr><th>Okta users read</th><td>{}</td></tr>\n\
<tr><th>Duo users read</th><td>{}</td></tr>\n<tr><th>Duo administrators</th><td>{}</td></tr>\n",
            c.portal_users,
            c.with_roles,
            c.protected_accounts,
            c.okta_users,
            c.duo_users,
            c.duo_admins
        );
        for (kind, n) in &c.findings_by_kind {
            let _ = writeln!(h, "<tr><th>{}</th><td>{n}</td></tr>", text(kind));
        }
        h.push_str("</tbody></table>\n");

        h.push_str("<h2>Portal users</h2>\n<table id=\"users\"><thead><tr><th>Login</th><th>Roles (source: Okta groups)</th><th>Okta</th><th>Last Okta sign-in</th><th>App</th><th>Duo user</th><th>Last Duo authentication</th><th>Authenticators</th><th>Last sign-in</th><th>Findings</th></tr></thead><tbody>\n");
        for u in &self.users {
            let okta = u.okta.as_ref();
            let duo = u.duo.as_ref();
            let last_auth = duo.and_then(|d| d.last_auth.as_ref());
            let login = if u.protected {
                format!("{} <em>(protected)</em>", text(&u.login))
            } else {
                text(&u.login).into_owned()
            };
            let _ = writeln!(
                h,
                "<tr><td>{login}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&roles_cell(u)),
                text(&okta.map_or_else(|| "—".to_owned(), |o| format!("{} ({})", o.status, o.id))),
                time_or_dash(okta.and_then(|o| o.last_login)),
                text(
                    okta.and_then(|o| o.app_assignment.as_deref())
                        .unwrap_or("—")
                ),
                text(&duo.map_or_else(
                    || "—".to_owned(),
                    |d| format!("{} ({}, {})", d.username, d.user_id, d.status)
                )),
                text(
                    &last_auth.map_or_else(|| "—".to_owned(), |a| format!("{} {}", a.at, a.factor))
                ),
                text(&duo.map_or_else(
                    || "—".to_owned(),
                    |d| {
                        d.authenticators
                            .iter()
                            .map(|a| format!("{} {}", a.kind, a.label))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                )),
                time_or_dash(u.last_sign_in),
                text(&u.findings.join(", ")),
            );
        }
        h.push_str("</tbody></table>\n");

        h.push_str("<h2>Duo administrators</h2>\n<table id=\"duo-admins\"><thead><tr><th>Admin id</th><th>Name</th><th>Email</th><th>Role</th><th>Status</th><th>Last login</th><th>Portal user</th></tr></thead><tbody>\n");
        for a in &self.duo_admins {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                text(&a.admin_id),
                text(a.name.as_deref().unwrap_or("—")),
                text(a.email.as_deref().unwrap_or("—")),
                text(a.role.as_deref().unwrap_or("—")),
                text(a.status.as_deref().unwrap_or("—")),
                time_or_dash(a.last_login),
                text(a.portal_user.as_deref().unwrap_or("—")),
            );
        }
        h.push_str("</tbody></table>\n</body></html>\n");
        h
    }

    fn count(&self, severity: Severity) -> usize {
        self.counts
            .findings_by_severity
            .get(&severity)
            .copied()
            .unwrap_or(0)
    }

    fn sources_line(&self) -> String {
        let s = &self.sources;
        let mut parts = Vec::new();
        parts.push(if s.okta {
            match &s.okta_app {
                Some(app) => format!("Okta (users, mapped groups, app {} assignments)", text(app)),
                None => "Okta (users, mapped groups; app assignments not read)".to_owned(),
            }
        } else {
            "Okta not read".to_owned()
        });
        if !s.okta_missing_groups.is_empty() {
            parts.push(format!(
                "mapped groups Okta does not have: {}",
                text(&s.okta_missing_groups.join(", "))
            ));
        }
        parts.push(match (s.duo, s.duo_log_window) {
            (true, Some((from, to))) => {
                format!("Duo (users, administrators, authentication log {from} to {to})")
            }
            (true, None) => "Duo (users, administrators; authentication log not read)".to_owned(),
            (false, _) => "Duo not read".to_owned(),
        });
        parts.join(" · ")
    }
}

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::High => "high",
        Severity::Medium => "medium",
        Severity::Low => "low",
    }
}

fn roles_cell(user: &UserReview) -> String {
    user.roles
        .iter()
        .map(|r| {
            let source = match r.source {
                role_sync::GrantSource::Sync => "sync",
                role_sync::GrantSource::Manual => "manual",
            };
            if r.granted_by.is_empty() {
                format!("{}({source})", r.role)
            } else {
                format!("{}({source}: {})", r.role, r.granted_by.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn opt(value: Option<String>) -> String {
    value.unwrap_or_default()
}

fn time(t: Option<Timestamp>) -> String {
    t.map(|t| t.to_string()).unwrap_or_default()
}

fn time_or_dash(t: Option<Timestamp>) -> String {
    t.map_or_else(
        || "—".to_owned(),
        |t| format!("<time datetime=\"{t}\">{t}</time>"),
    )
}

/// A CSV cell a spreadsheet will show as text: values starting with `=`, `+`, `-`, `@`, tab or
/// carriage return are formulas to Excel and LibreOffice (OWASP "CSV injection"), so they get a
/// leading `'`.
fn cell(value: &str) -> String {
    match value.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}"),
        _ => value.to_owned(),
    }
}

fn finish(w: csv::Writer<Vec<u8>>) -> Result<String, std::io::Error> {
    let bytes = w
        .into_inner()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    String::from_utf8(bytes).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn formula_cells_are_neutralized() {
        assert_eq!(
            cell("=HYPERLINK(\"http://x\")"),
            "'=HYPERLINK(\"http://x\")"
        );
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("-2"), "'-2");
        assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(cell("ann@example.com"), "ann@example.com");
        assert_eq!(cell(""), "");
    }
}
