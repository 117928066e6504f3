//! The Okta resource API: shapes, paging with `Link` headers, search, rate limits, faults and a
//! directory that changes between requests.
#![allow(clippy::unwrap_used)]

mod okta_helpers;

use std::collections::BTreeSet;

use idp_sandbox::okta::{NewOktaUser, OktaEndpoint, OktaUserStatus};
use idp_sandbox::{Fault, FaultKind, Person, Sandbox};
use okta_helpers::*;

#[tokio::test]
async fn users_and_groups_are_shaped_like_okta() {
    let sb = start(120, 6).await;
    let dir = sb.okta();
    let users = dir.users();
    assert_eq!(users.len(), 120);
    for (i, u) in users.iter().enumerate() {
        assert_eq!(
            u.login,
            Person::generate(11, i).login,
            "Okta user {i} is person {i}"
        );
    }
    let statuses: BTreeSet<&str> = users.iter().map(|u| u.status.as_str()).collect();
    assert!(statuses.len() >= 6, "{statuses:?}");

    let u = &users[3];
    let r = get(&sb, &format!("/api/v1/users/{}", u.id), &ssws(&sb), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let j = &r.body;
    assert_eq!(j["id"], u.id.as_str());
    assert_eq!(j["status"], u.status.as_str());
    assert_eq!(j["profile"]["login"], u.login.as_str());
    assert_eq!(j["profile"]["email"], u.email.as_str());
    assert!(j["profile"]["mobilePhone"].is_null());
    assert!(j["profile"]["department"].is_string(), "a custom attribute");
    for f in ["created", "lastUpdated"] {
        assert!(
            j[f].as_str().unwrap().ends_with(".000Z") || j[f].as_str().unwrap().ends_with('Z'),
            "{f}"
        );
    }
    for f in ["activated", "statusChanged", "lastLogin", "passwordChanged"] {
        assert!(j.get(f).is_some(), "{f} present (maybe null)");
    }
    assert!(j["type"]["id"].as_str().unwrap().starts_with("oty"));
    assert_eq!(j["credentials"]["provider"]["type"], "OKTA");
    assert_eq!(
        j["_links"]["self"]["href"],
        format!("{}/api/v1/users/{}", sb.http_url(), u.id)
    );
    // By login too, as Okta allows.
    let r = get(&sb, &format!("/api/v1/users/{}", u.login), &ssws(&sb), None).await;
    assert_eq!(r.body["id"], u.id.as_str());
    assert!(
        users.iter().any(|u| u.last_name.is_none()),
        "some lastName are null"
    );
    let r = get(&sb, "/api/v1/users/00unobody", &ssws(&sb), None).await;
    assert_eq!((r.status, r.okta_code()), (404, "E0000007"));

    let r = get(&sb, "/api/v1/groups", &ssws(&sb), None).await;
    let groups = r.body.as_array().unwrap();
    assert_eq!(groups.len(), 7);
    assert_eq!(groups[0]["type"], "BUILT_IN");
    assert_eq!(groups[0]["profile"]["name"], "Everyone");
    let types: BTreeSet<&str> = groups.iter().map(|g| g["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        BTreeSet::from(["APP_GROUP", "BUILT_IN", "OKTA_GROUP"])
    );
    assert!(groups.iter().any(|g| g["profile"]["description"].is_null()));
    for g in groups {
        let id = g["id"].as_str().unwrap();
        assert!(id.starts_with("00g") && id.len() == 20);
        assert!(g["objectClass"].is_array() && g["lastMembershipUpdated"].is_string());
        assert_eq!(
            g["_links"]["users"]["href"],
            format!("{}/api/v1/groups/{id}/users", sb.http_url())
        );
    }
    let one = get(
        &sb,
        &format!("/api/v1/groups/{}", groups[1]["id"].as_str().unwrap()),
        &ssws(&sb),
        None,
    )
    .await;
    assert_eq!(&one.body, &groups[1]);
    let r = get(&sb, "/api/v1/groups/00gnothing/users", &ssws(&sb), None).await;
    assert_eq!((r.status, r.okta_code()), (404, "E0000007"));
}

#[tokio::test]
async fn members_page_over_many_pages_with_link_headers() {
    let sb = start(250, 3).await;
    let dir = sb.okta();
    let everyone = dir.groups()[0].id.clone();
    let auth = ssws(&sb);
    let mut url = format!("{}/api/v1/groups/{everyone}/users?limit=60", sb.http_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = get_url(&url, &auth, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        pages += 1;
        let links = links(&r);
        assert_eq!(
            r.headers.get_all("link").iter().count(),
            links.len(),
            "one Link header per relation"
        );
        assert_eq!(links[0], ("self".to_owned(), url.clone()));
        seen.extend(ids(&r));
        match next_link(&r) {
            Some(next) => {
                assert!(
                    next.starts_with(&format!(
                        "{}/api/v1/groups/{everyone}/users?",
                        sb.http_url()
                    )),
                    "{next}"
                );
                assert!(next.contains("limit=60"), "{next}");
                // Opaque cursors that only survive verbatim use.
                assert!(next.contains("%2B") && next.contains("%3D"), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(pages, 5);
    assert_eq!(seen, directory_ids(&dir, &everyone));

    // A client that decodes the cursor and sends it back unencoded is refused, not misled.
    let r = get_url(
        &format!("{}/api/v1/groups/{everyone}/users?limit=60", sb.http_url()),
        &auth,
        None,
    )
    .await;
    let next = next_link(&r).unwrap();
    let mangled = next.replace("%2B", "+");
    let bad = get_url(&mangled, &auth, None).await;
    assert_eq!(
        (bad.status, bad.okta_code()),
        (400, "E0000001"),
        "{}",
        bad.text
    );

    // A groups cursor is not a members cursor; limits are validated; the maximum is 1000.
    let g = get(&sb, "/api/v1/groups?limit=1", &auth, None).await;
    let groups_cursor = next_link(&g)
        .unwrap()
        .split("after=")
        .nth(1)
        .unwrap()
        .to_owned();
    let r = get(
        &sb,
        &format!("/api/v1/groups/{everyone}/users?after={groups_cursor}"),
        &auth,
        None,
    )
    .await;
    assert_eq!(r.status, 400);
    for bad in ["0", "-5", "ten", "1.5"] {
        let r = get(
            &sb,
            &format!("/api/v1/groups/{everyone}/users?limit={bad}"),
            &auth,
            None,
        )
        .await;
        assert_eq!((r.status, r.okta_code()), (400, "E0000001"), "limit={bad}");
    }
    let r = get(
        &sb,
        &format!("/api/v1/groups/{everyone}/users?limit=5000"),
        &auth,
        None,
    )
    .await;
    assert_eq!(ids(&r).len(), 250);
    assert!(next_link(&r).is_none());
    let r = get(
        &sb,
        &format!("/api/v1/groups/{everyone}/users"),
        &auth,
        None,
    )
    .await;
    assert_eq!(ids(&r).len(), 250, "default limit 1000");
    assert_eq!(links(&r).len(), 1, "self only on the last page");
}

#[tokio::test]
async fn groups_search_filter_and_query() {
    let sb = start(20, 12).await;
    let auth = ssws(&sb);
    let dir = sb.okta();
    let all = dir.groups();
    assert_eq!(all.len(), 13);

    // Three pages of five.
    let mut url = format!("{}/api/v1/groups?limit=5", sb.http_url());
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let r = get_url(&url, &auth, None).await;
        pages += 1;
        seen.extend(ids(&r));
        match next_link(&r) {
            Some(n) => url = n,
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, all.iter().map(|g| g.id.clone()).collect::<Vec<_>>());

    let names = |r: &Reply| -> Vec<String> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["profile"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let search = |expr: &str| format!("/api/v1/groups?search={}", enc(expr));

    let r = get(&sb, &search(r#"type eq "OKTA_GROUP""#), &auth, None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let okta_groups = all
        .iter()
        .filter(|g| g.group_type.as_str() == "OKTA_GROUP")
        .count();
    assert_eq!(ids(&r).len(), okta_groups);

    let r = get(&sb, &search(r#"profile.name sw "Portal""#), &auth, None).await;
    assert_eq!(names(&r), ["Portal Admins", "Portal Users"]);
    let r = get(
        &sb,
        &search(r#"profile.name eq "engineering" or profile.name eq "Sales""#),
        &auth,
        None,
    )
    .await;
    assert_eq!(names(&r), ["Engineering", "Sales"]);
    let r = get(
        &sb,
        &search(r#"type eq "APP_GROUP" and profile.name sw "F""#),
        &auth,
        None,
    )
    .await;
    assert!(names(&r).iter().all(|n| n.starts_with('F')));
    let r = get(
        &sb,
        &format!("/api/v1/groups?filter={}", enc(r#"type eq "BUILT_IN""#)),
        &auth,
        None,
    )
    .await;
    assert_eq!(names(&r), ["Everyone"]);
    // Search results page too.
    let r = get(
        &sb,
        &format!("{}&limit=1", search(r#"profile.name sw "Portal""#)),
        &auth,
        None,
    )
    .await;
    assert_eq!(names(&r), ["Portal Admins"]);
    let next = get_url(&next_link(&r).unwrap(), &auth, None).await;
    assert_eq!(names(&next), ["Portal Users"]);

    let r = get(&sb, "/api/v1/groups?q=port", &auth, None).await;
    assert_eq!(names(&r), ["Portal Admins", "Portal Users"]);
    let r = get(&sb, "/api/v1/groups?q=port&limit=1", &auth, None).await;
    assert_eq!(names(&r), ["Portal Admins"]);
    assert!(next_link(&r).is_none(), "a query is not paged");

    for bad in [
        r#"type eq OKTA_GROUP"#,
        r#"type eq "A" and"#,
        "((((",
        r#"profile.name xx "a""#,
    ] {
        let r = get(&sb, &search(bad), &auth, None).await;
        assert_eq!((r.status, r.okta_code()), (400, "E0000031"), "{bad}");
    }
    let r = get(&sb, "/api/v1/groups?after=%2B%2B%2B%2Bgarbage", &auth, None).await;
    assert_eq!((r.status, r.okta_code()), (400, "E0000001"));
}

#[tokio::test]
async fn expand_stats_embeds_the_member_counts() {
    let sb = start(90, 5).await;
    let dir = sb.okta();
    let auth = ssws(&sb);
    let base = sb.http_url();
    // A membership change after generation must show in the count.
    let grown = dir.groups()[2].id.clone();
    let newcomer = dir
        .add_user(NewOktaUser::new("stats.grown@example.com"))
        .unwrap();
    assert!(dir.add_member(&grown, &newcomer.id).unwrap());
    let assigned = dir
        .portal_app()
        .map(|(_, groups)| groups)
        .unwrap_or_default();
    assert!(
        !assigned.is_empty(),
        "the portal app has groups: appsCount is not all zeros"
    );

    // Every page of an expanded listing is expanded: the next link keeps `expand`.
    let mut url = format!("{base}/api/v1/groups?limit=2&expand=stats");
    let mut seen = 0;
    loop {
        let r = get_url(&url, &auth, None).await;
        assert_eq!(r.status, 200, "{}", r.text);
        for g in r.body.as_array().unwrap() {
            let id = g["id"].as_str().unwrap();
            let stats = &g["_embedded"]["stats"];
            assert_eq!(
                stats["usersCount"],
                dir.members(id).unwrap().len(),
                "{id}: {g}"
            );
            let apps = assigned.iter().filter(|g| *g == id).count();
            assert_eq!(stats["appsCount"], apps, "{id}");
            assert_eq!(stats["groupPushMappingsCount"], 0);
            assert_eq!(stats["hasAdminPrivilege"], false);
            assert_eq!(
                stats["_links"]["self"]["href"],
                format!("{base}/api/v1/groups/{id}/stats")
            );
            assert_eq!(
                g["_links"]["users"]["href"],
                format!("{base}/api/v1/groups/{id}/users")
            );
            seen += 1;
        }
        match next_link(&r) {
            Some(next) => {
                assert!(next.contains("expand=stats"), "{next}");
                url = next;
            }
            None => break,
        }
    }
    assert_eq!(seen, dir.groups().len());

    // One group, by id.
    let r = get(
        &sb,
        &format!("/api/v1/groups/{grown}?expand=stats"),
        &auth,
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(
        r.body["_embedded"]["stats"]["usersCount"],
        dir.members(&grown).unwrap().len()
    );

    // Without `expand`, with Okta's other value alone, or with a value Okta does not document:
    // no `_embedded`, and nothing else changes. Both values together expand the stats.
    let plain = get(&sb, "/api/v1/groups", &auth, None).await;
    for g in plain.body.as_array().unwrap() {
        assert!(g.get("_embedded").is_none(), "{g}");
    }
    for other in ["app", "bogus", "STATS", ""] {
        let r = get(&sb, &format!("/api/v1/groups?expand={other}"), &auth, None).await;
        assert_eq!(r.status, 200, "expand={other}: {}", r.text);
        assert_eq!(r.body, plain.body, "expand={other}");
    }
    let both = get(&sb, "/api/v1/groups?expand=stats,app", &auth, None).await;
    for (b, p) in both
        .body
        .as_array()
        .unwrap()
        .iter()
        .zip(plain.body.as_array().unwrap())
    {
        let mut b = b.clone();
        assert!(b.as_object_mut().unwrap().remove("_embedded").is_some());
        assert_eq!(&b, p);
    }
    let r = get(&sb, &format!("/api/v1/groups/{grown}"), &auth, None).await;
    assert!(r.body.get("_embedded").is_none());
}

#[tokio::test]
async fn repeat_cursor_fault_repeats_the_current_cursor() {
    let sb = Sandbox::builder()
        .seed(11)
        .users(100)
        .groups(2)
        .fault(
            Fault::new("/api/v1/groups/", FaultKind::RepeatCursor)
                .after(1)
                .times(1),
        )
        .start()
        .await
        .unwrap();
    let everyone = sb.okta().groups()[0].id.clone();
    let auth = ssws(&sb);
    let first = get(
        &sb,
        &format!("/api/v1/groups/{everyone}/users?limit=20"),
        &auth,
        None,
    )
    .await;
    let next1 = next_link(&first).unwrap();
    let second = get_url(&next1, &auth, None).await;
    let next2 = next_link(&second).unwrap();
    assert_eq!(
        next2, next1,
        "the fault repeats the cursor of the page just served"
    );
    assert_eq!(sb.faults().fired("/api/v1/groups/"), 1);
    // The fault fired once; paging then moves on.
    let third = get_url(&next2, &auth, None).await;
    assert_eq!(ids(&third), ids(&second));
    assert_ne!(next_link(&third).unwrap(), next2);
}

#[tokio::test]
async fn rate_limits_report_and_exhaust() {
    let sb = start(10, 2).await;
    let dir = sb.okta();
    let everyone = dir.groups()[0].id.clone();
    let auth = ssws(&sb);
    dir.set_rate_limit(OktaEndpoint::GroupMembers, 3);
    let path = format!("/api/v1/groups/{everyone}/users");
    for remaining in ["2", "1", "0"] {
        let r = get(&sb, &path, &auth, None).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-rate-limit-limit"), Some("3"));
        assert_eq!(r.header("x-rate-limit-remaining"), Some(remaining));
    }
    let r = get(&sb, &path, &auth, None).await;
    assert_eq!((r.status, r.okta_code()), (429, "E0000047"), "{}", r.text);
    assert_eq!(r.header("x-rate-limit-limit"), Some("3"));
    assert_eq!(r.header("x-rate-limit-remaining"), Some("0"));
    let reset: i64 = r.header("x-rate-limit-reset").unwrap().parse().unwrap();
    assert!(reset > now() && reset <= now() + 61, "{reset}");
    assert!(r.header("x-okta-request-id").is_some() && r.header("date").is_some());
    // Budgets are per endpoint.
    let g = get(&sb, "/api/v1/groups", &auth, None).await;
    assert_eq!(g.status, 200);
    assert_eq!(g.header("x-rate-limit-limit"), Some("600"));
    assert_eq!(dir.counters().rate_limited, 1);
    dir.reset_rate_limits();
    assert_eq!(get(&sb, &path, &auth, None).await.status, 200);

    // The token endpoint has its own budget.
    dir.set_rate_limit(OktaEndpoint::Token, 1);
    let okta = &sb.credentials().okta;
    assert_eq!(
        token_request(
            &sb,
            &assertion(&okta.bearer_rsa, &okta.token_url),
            "okta.groups.read",
            None
        )
        .await
        .status,
        200
    );
    let r = token_request(
        &sb,
        &assertion(&okta.bearer_rsa, &okta.token_url),
        "okta.groups.read",
        None,
    )
    .await;
    assert_eq!((r.status, r.okta_code()), (429, "E0000047"));
}

#[tokio::test]
async fn the_directory_changes_between_syncs() {
    let sb = start(30, 3).await;
    let dir = sb.okta();
    let auth = ssws(&sb);
    let group = dir.groups()[1].clone();
    let members = |gid: String| {
        let auth = auth.clone();
        let sb = &sb;
        async move {
            let r = get(sb, &format!("/api/v1/groups/{gid}/users"), &auth, None).await;
            r.body.as_array().unwrap().clone()
        }
    };
    let before = members(group.id.clone()).await;

    let new = dir
        .add_user(NewOktaUser::new("new.hire@example.com").name("New", Some("Hire")))
        .unwrap();
    assert!(dir.add_member(&group.id, &new.id).unwrap());
    let after = members(group.id.clone()).await;
    assert_eq!(after.len(), before.len() + 1);
    let hire = after.iter().find(|u| u["id"] == new.id.as_str()).unwrap();
    assert_eq!(hire["profile"]["login"], "new.hire@example.com");
    assert_eq!(hire["status"], "ACTIVE");

    dir.set_status(&new.id, OktaUserStatus::Suspended).unwrap();
    let after = members(group.id.clone()).await;
    assert_eq!(
        after.iter().find(|u| u["id"] == new.id.as_str()).unwrap()["status"],
        "SUSPENDED"
    );

    let leaver = before[0]["id"].as_str().unwrap().to_owned();
    assert!(dir.remove_member(&group.id, &leaver).unwrap());
    let after = members(group.id.clone()).await;
    assert!(!after.iter().any(|u| u["id"] == leaver.as_str()));

    dir.set_login(&new.id, "renamed@example.com").unwrap();
    let r = get(&sb, &format!("/api/v1/users/{}", new.id), &auth, None).await;
    assert_eq!(r.body["profile"]["login"], "renamed@example.com");

    let fresh = dir.create_group("Portal Auditors", Some("Read-only portal access"));
    dir.add_member(&fresh.id, &new.id).unwrap();
    let r = get(&sb, "/api/v1/groups?q=Portal%20Aud", &auth, None).await;
    assert_eq!(ids(&r), vec![fresh.id.clone()]);
    assert_eq!(directory_ids(&dir, &fresh.id), vec![new.id.clone()]);

    dir.remove_user(&new.id).unwrap();
    assert!(directory_ids(&dir, &fresh.id).is_empty());
    dir.delete_group(&fresh.id).unwrap();
    let r = get(
        &sb,
        &format!("/api/v1/groups/{}/users", fresh.id),
        &auth,
        None,
    )
    .await;
    assert_eq!((r.status, r.okta_code()), (404, "E0000007"));
    assert!(
        dir.delete_group(&dir.groups()[0].id).is_err(),
        "Everyone stays"
    );
}

#[tokio::test]
async fn paging_survives_changes_between_pages() {
    let sb = start(100, 1).await;
    let dir = sb.okta();
    let everyone = dir.groups()[0].id.clone();
    let auth = ssws(&sb);
    let first = get(
        &sb,
        &format!("/api/v1/groups/{everyone}/users?limit=30"),
        &auth,
        None,
    )
    .await;
    let first_ids = ids(&first);
    // Remove the last user served and one not served yet: the cursor still moves forward.
    dir.remove_user(first_ids.last().unwrap()).unwrap();
    let gone = dir.users()[50].id.clone();
    dir.remove_user(&gone).unwrap();
    let mut url = next_link(&first);
    let mut rest = Vec::new();
    while let Some(u) = url {
        let r = get_url(&u, &auth, None).await;
        rest.extend(ids(&r));
        url = next_link(&r);
    }
    assert_eq!(rest.len(), 100 - 30 - 1);
    assert!(!rest.contains(&gone));
    assert!(rest.iter().all(|id| !first_ids.contains(id)));
}

/// The edge of the Okta side: a request id on every answer (injected faults included), the
/// request log when asked for, the in-flight gauge, and `reject_access_tokens`.
#[tokio::test]
async fn request_log_request_ids_gauge_and_token_rejection() {
    let sb = start(10, 2).await;
    let dir = sb.okta();
    let auth = ssws(&sb);
    // Not recording by default.
    assert_eq!(get(&sb, "/api/v1/groups", &auth, None).await.status, 200);
    assert!(dir.requests().is_empty());

    dir.record_requests(true);
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::TooManyRequests).times(1));
    let limited = get(&sb, "/api/v1/groups?limit=1", &auth, None).await;
    assert_eq!(limited.status, 429);
    let limited_id = limited.header("x-okta-request-id").unwrap().to_owned();
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/groups", sb.http_url()))
        .header("Authorization", &auth)
        .header("X-Okta-Retry-For", &limited_id)
        .header("X-Okta-Retry-Count", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let okta = &sb.credentials().okta;
    let token = bearer_token(&sb, &okta.bearer_rsa, "okta.groups.read").await;
    let log = dir.requests();
    assert_eq!(log.len(), 3, "{log:#?}");
    assert_eq!(
        (log[0].status, log[0].query.as_deref()),
        (429, Some("limit=1"))
    );
    assert_eq!(log[0].request_id(), Some(limited_id.as_str()));
    assert_eq!(log[0].header("authorization"), Some(auth.as_str()));
    assert_eq!(log[0].header("x-okta-retry-for"), None);
    assert_eq!(log[1].header("x-okta-retry-for"), Some(limited_id.as_str()));
    assert_eq!(log[1].header("x-okta-retry-count"), Some("1"));
    assert_ne!(log[1].request_id(), log[0].request_id());
    assert_eq!(
        (log[2].method.as_str(), log[2].path.as_str()),
        ("POST", "/oauth2/v1/token")
    );
    assert_eq!(
        log[2].form_param("scope").as_deref(),
        Some("okta.groups.read")
    );
    assert!(log[2].form_param("client_assertion").is_some());
    assert!(log.windows(2).all(|w| w[0].seq < w[1].seq), "arrival order");
    dir.clear_requests();
    assert!(dir.requests().is_empty());

    // Every token refused while the switch is on; API tokens unaffected.
    dir.reject_access_tokens(true);
    let r = get(&sb, "/api/v1/groups", &format!("Bearer {token}"), None).await;
    assert_eq!((r.status, r.okta_code()), (401, "E0000011"));
    assert!(
        r.header("www-authenticate")
            .unwrap()
            .contains(r#"error="invalid_token""#)
    );
    assert_eq!(get(&sb, "/api/v1/groups", &auth, None).await.status, 200);
    dir.reject_access_tokens(false);
    let r = get(&sb, "/api/v1/groups", &format!("Bearer {token}"), None).await;
    assert_eq!(r.status, 200);

    // The gauge: four requests at once, held at a barrier until all four have arrived.
    sb.faults()
        .inject(Fault::new("/api/v1/groups", FaultKind::Barrier(4)).times(4));
    dir.reset_counters();
    assert_eq!(dir.counters().max_in_flight, 0);
    let calls = (0..4).map(|_| get(&sb, "/api/v1/groups", &auth, None));
    for r in futures::future::join_all(calls).await {
        assert_eq!(r.status, 200);
    }
    assert_eq!(dir.counters().max_in_flight, 4);
    dir.reset_counters();
    assert_eq!(
        dir.counters().max_in_flight,
        0,
        "nothing is in flight any more"
    );
}
