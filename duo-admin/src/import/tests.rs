//! The importer's matching against a reference (the straightforward algorithm it replaced:
//! index the Duo users, then look every portal user up), on generated accounts; and its own
//! reading of pages against whole users, on pages with escapes, both alias forms and nulls.

use std::collections::HashMap;

use proptest::prelude::*;

use super::matching::*;
use super::reading::*;
use super::*;
use crate::paging::Decode;

/// The reference: Duo users indexed by username, alias and email, then each portal user looked
/// up in turn.
mod reference {
    use super::*;

    pub(super) fn match_users(
        duo: &[User],
        portal: &[PortalIdentity],
        options: &ImportOptions,
    ) -> ImportReport {
        let mut by_username: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_alias: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_email: HashMap<String, Vec<usize>> = HashMap::new();
        let mut by_id: HashMap<&str, usize> = HashMap::new();
        for (i, u) in duo.iter().enumerate() {
            by_username
                .entry(key(&u.username).into_owned())
                .or_default()
                .push(i);
            for a in &u.aliases {
                by_alias.entry(key(a).into_owned()).or_default().push(i);
            }
            if let Some(e) = u.email.as_deref().filter(|e| !e.trim().is_empty()) {
                by_email.entry(key(e).into_owned()).or_default().push(i);
            }
            by_id.insert(&u.user_id, i);
        }
        let explicit: HashMap<String, &DuoRef> = options
            .explicit
            .iter()
            .map(|(p, d)| (key(p).into_owned(), d))
            .collect();
        let hits = |map: &HashMap<String, Vec<usize>>, k: &str| -> Vec<usize> {
            let mut v = map.get(k).cloned().unwrap_or_default();
            v.sort_unstable();
            v.dedup();
            v
        };
        let ids = |v: &[usize]| v.iter().map(|i| duo[*i].user_id.clone()).collect();
        let mut conflicts = Vec::new();
        let mut candidate: Vec<Option<(usize, MatchedBy)>> = vec![None; portal.len()];
        let mut unmatched_portal = Vec::new();
        for (pi, p) in portal.iter().enumerate() {
            let pk = key(&p.username).into_owned();
            if let Some(target) = explicit.get(&pk) {
                let found = match target {
                    DuoRef::UserId(id) => {
                        by_id.get(id.as_str()).map(|i| vec![*i]).unwrap_or_default()
                    }
                    DuoRef::Username(name) => {
                        let n = key(name);
                        let v = hits(&by_username, &n);
                        if v.is_empty() { hits(&by_alias, &n) } else { v }
                    }
                };
                match found.as_slice() {
                    [one] => candidate[pi] = Some((*one, MatchedBy::Explicit)),
                    [] => conflicts.push(Conflict::ExplicitTargetMissing {
                        portal_username: p.username.clone(),
                        target: match target {
                            DuoRef::UserId(s) | DuoRef::Username(s) => s.clone(),
                        },
                    }),
                    many => conflicts.push(Conflict::PortalUserMatchesSeveral {
                        portal_username: p.username.clone(),
                        duo_user_ids: ids(many),
                    }),
                }
                continue;
            }
            let email = p.email.as_deref().filter(|_| options.by_email).map(key);
            let mut rules = vec![(hits(&by_username, &pk), MatchedBy::Username)];
            if options.by_alias {
                rules.push((hits(&by_alias, &pk), MatchedBy::Alias));
            }
            if let Some(e) = email {
                rules.push((hits(&by_email, &e), MatchedBy::Email));
            }
            match rules.into_iter().find(|(h, _)| !h.is_empty()) {
                None => unmatched_portal.push(p.username.clone()),
                Some((h, how)) => match h.as_slice() {
                    [one] => candidate[pi] = Some((*one, how)),
                    many => conflicts.push(Conflict::PortalUserMatchesSeveral {
                        portal_username: p.username.clone(),
                        duo_user_ids: ids(many),
                    }),
                },
            }
        }
        let mut claims: Vec<Vec<usize>> = vec![Vec::new(); duo.len()];
        for (pi, c) in candidate.iter().enumerate() {
            if let Some((di, _)) = c {
                claims[*di].push(pi);
            }
        }
        let mut matched = Vec::new();
        let mut claimed = vec![false; duo.len()];
        for (di, pis) in claims.iter().enumerate() {
            match pis.as_slice() {
                [] => {}
                [pi] => {
                    claimed[di] = true;
                    let (_, how) = candidate[*pi].expect("a candidate");
                    matched.push((*pi, di, how));
                }
                several => {
                    claimed[di] = true;
                    let mut names: Vec<String> = several
                        .iter()
                        .map(|pi| portal[*pi].username.clone())
                        .collect();
                    names.sort();
                    conflicts.push(Conflict::DuoUserMatchedBySeveral {
                        duo_user_id: duo[di].user_id.clone(),
                        portal_usernames: names,
                    });
                }
            }
        }
        // By portal username, stable (equal names stay in Duo order).
        matched.sort_by(|a, b| portal[a.0].username.cmp(&portal[b.0].username));
        unmatched_portal.sort();
        conflicts.sort_by_cached_key(|c| serde_json::to_string(c).unwrap_or_default());
        let mut unmatched_duo: Vec<UnmatchedDuoUser> = duo
            .iter()
            .zip(&claimed)
            .filter(|(_, c)| !**c)
            .map(|(u, _)| UnmatchedDuoUser {
                user_id: u.user_id.clone(),
                username: u.username.clone(),
            })
            .collect();
        unmatched_duo.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        ImportReport {
            matched: matched
                .into_iter()
                .map(|(pi, di, how)| Matched {
                    portal_username: portal[pi].username.clone(),
                    duo_user_id: duo[di].user_id.clone(),
                    duo_username: duo[di].username.clone(),
                    matched_by: how,
                    status: duo[di].status.clone(),
                    authenticators: authenticators(&duo[di]),
                    groups: duo[di]
                        .groups
                        .iter()
                        .map(|g| DuoGroup {
                            group_id: g.group_id.clone(),
                            name: g.name.clone(),
                        })
                        .collect(),
                })
                .collect(),
            unmatched_duo,
            unmatched_portal,
            conflicts,
            duo_users: duo.len(),
        }
    }
}

/// Names from a small pool, so that generated accounts collide in every way matching cares
/// about: case, surrounding space, a username that is someone else's alias or email.
fn name() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            "ann", "bob", "cy", "dee", "Ann", "BOB", " cy ", "élan", "ÉLAN",
        ]),
        prop::option::of(prop::sample::select(vec!["1", "2"])),
    )
        .prop_map(|(n, s)| format!("{n}{}", s.unwrap_or("")))
}

fn email() -> impl Strategy<Value = String> {
    prop_oneof![
        name().prop_map(|n| format!("{n}@example.com")),
        name().prop_map(|n| format!("{}@EXAMPLE.com", n.to_uppercase())),
        Just(String::new()),
        Just("  ".to_owned()),
    ]
}

fn duo_user(i: usize, username: String, aliases: Vec<String>, email: Option<String>) -> User {
    // Every other user in a group or two, described the way Duo lists them.
    let groups: Vec<serde_json::Value> = (0..i % 3)
        .map(|g| {
            serde_json::json!({"group_id": format!("DG{g}"), "name": format!("Group \"{g}\""),
                                     "desc": null, "status": "Active", "push_enabled": true})
        })
        .collect();
    let aliases: serde_json::Map<String, serde_json::Value> = aliases
        .into_iter()
        .enumerate()
        .map(|(k, a)| (format!("alias{}", k + 1), a.into()))
        .collect();
    serde_json::from_value(serde_json::json!({
        "user_id": format!("DU{i:04}"),
        "username": username,
        "email": email,
        "status": "active",
        "aliases": aliases,
        "groups": groups,
        "phones": [{"phone_id": format!("DP{i:04}"), "number": "+15550001", "platform": "Apple iOS",
                    "activated": true, "capabilities": ["push", "sms"]}],
    }))
    .expect("a user")
}

fn account() -> impl Strategy<Value = (Vec<User>, Vec<PortalIdentity>, ImportOptions)> {
    let duo = prop::collection::vec(
        (
            name(),
            prop::collection::vec(name(), 0..3),
            prop::option::of(email()),
        ),
        0..12,
    )
    .prop_map(|users| {
        users
            .into_iter()
            .enumerate()
            .map(|(i, (u, a, e))| duo_user(i, u, a, e))
            .collect::<Vec<_>>()
    });
    // Some portal usernames no Duo user has, so that emails decide (also between portal users
    // sharing a username).
    let portal_name = prop_oneof![name(), Just("zed".to_owned())];
    let portal = prop::collection::vec(
        (portal_name, prop::option::of(email()))
            .prop_map(|(username, email)| PortalIdentity { username, email }),
        0..12,
    );
    let explicit = prop::collection::vec(
        (
            name(),
            prop_oneof![
                (0usize..14).prop_map(|i| DuoRef::UserId(format!("DU{i:04}"))),
                name().prop_map(DuoRef::Username),
            ],
        ),
        0..3,
    );
    (duo, portal, explicit, any::<bool>(), any::<bool>()).prop_map(
        |(duo, portal, explicit, by_alias, by_email)| {
            (
                duo,
                portal,
                ImportOptions {
                    explicit,
                    by_alias,
                    by_email,
                    ..ImportOptions::default()
                },
            )
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn matching_agrees_with_the_reference((duo, portal, options) in account()) {
        prop_assert_eq!(
            match_users(&duo, &portal, &options),
            reference::match_users(&duo, &portal, &options)
        );
    }

    #[test]
    fn the_importers_reading_agrees_with_whole_users(
        (duo, portal, options) in account(),
        split in 0usize..12,
        when in prop::sample::select(vec![Index::First, Index::AfterFirstRead, Index::AtTheEnd]),
    ) {
        // The users as two pages of Duo's listing, read the importer's way, with the portal
        // index ready before, between or after the pages were read.
        let split = split.min(duo.len());
        let page = |users: &[User]| {
            serde_json::json!({"stat": "OK", "response": users, "metadata": {}}).to_string()
        };
        let (a, b) = (page(&duo[..split]), page(&duo[split..]));
        let report = import_pages(&[a.as_bytes(), b.as_bytes()], &portal, &options, when);
        prop_assert_eq!(report, match_users(&duo, &portal, &options));
    }
}

fn raw(body: &[u8]) -> duo_auth::transport::RawResponse {
    duo_auth::transport::RawResponse {
        status: 200,
        content_type: Some("application/json".into()),
        body: body.to_vec(),
    }
}

/// One page through the importer's own reading, collection and decision.
fn import_page(body: &[u8], portal: &[PortalIdentity], options: &ImportOptions) -> ImportReport {
    import_pages(&[body], portal, options, Index::First)
}

/// When the portal index is ready: before every page, after the first page was read, or only
/// after the walk.
#[derive(Debug, Clone, Copy)]
enum Index {
    First,
    AfterFirstRead,
    AtTheEnd,
}

fn import_pages(
    bodies: &[&[u8]],
    portal: &[PortalIdentity],
    options: &ImportOptions,
    when: Index,
) -> ImportReport {
    let decoder = Arc::new(ImportDecode {
        index: std::sync::OnceLock::new(),
        ids: RandomState::new(),
    });
    let set = || {
        let _ = decoder.index.set(PortalIndex::new(portal, options));
    };
    if let Index::First = when {
        set();
    }
    let mut walked = Imported {
        users: Distinct::new(),
        claims: Claims::new(portal.len()),
        decoder: Arc::clone(&decoder),
    };
    for (i, body) in bodies.iter().enumerate() {
        let (items, _) = decoder.decode(&raw(body), 1).expect("a page");
        if i == 0 && matches!(when, Index::AfterFirstRead) {
            set();
        }
        walked.add(items);
    }
    set();
    let index = decoder.index.get().expect("set");
    report_of(walked, index, portal, &mut PortalSide::new(portal), options)
}

#[test]
fn pages_with_escapes_alias_lists_and_nulls_read_like_whole_users() {
    // Escaped text (a username with \u00e9, an alias with a quote), aliases as a list and as
    // an object with a null, an email of null, a user appearing twice (an offset that moved).
    let body = r#"{"stat":"OK","metadata":{"total_objects":4},"response":[
        {"user_id":"DU1","username":"\u00e9lan","email":null,"status":"active",
         "aliases":["a\"b",null,7,{"x":1}],"phones":[],"tokens":[{"token_id":"DT1","serial":"s","type":"yk"}],
         "webauthncredentials":[{"webauthnkey":"WA1","credential_name":"key","label":"x"}]},
        {"user_id":"DU2","username":"Bob","email":"BOB@example.com","status":"locked out",
         "aliases":{"alias2":"robert","alias1":null},"phones":[{"phone_id":"DP2","number":null,
         "platform":"Palm","activated":null,"capabilities":["push","teleport"]}],"groups":[{"group_id":"DG1","name":"g"}]},
        {"user_id":"DU3","username":"cy","status":"something new","aliases":{}},
        {"user_id":"DU2","username":"Bob","email":"BOB@example.com","status":"locked out","aliases":{}}
    ]}"#;
    let portal: Vec<PortalIdentity> = ["ÉLAN", "a\"b", "robert", "nobody"]
        .into_iter()
        .map(|n| PortalIdentity {
            username: n.into(),
            email: None,
        })
        .chain([PortalIdentity {
            username: "mail".into(),
            email: Some("bob@example.com".into()),
        }])
        .chain([PortalIdentity {
            username: "cy".into(),
            email: None,
        }])
        .collect();
    let options = ImportOptions::default();
    let report = import_page(body.as_bytes(), &portal, &options);
    let whole: Vec<User> = duo_auth::transport::parse_typed::<Vec<User>>(&raw(body.as_bytes()), 1)
        .expect("users")
        .0;
    // The page's last user repeats DU2: the importer reads each user once.
    let distinct: Vec<User> = whole[..3].to_vec();
    assert_eq!(report, match_users(&distinct, &portal, &options));
    assert_eq!(report.duo_users, 3);
    // "ÉLAN" matches "\u00e9lan" by username; DU1 is also reached by alias "a\"b" and DU2 by
    // alias and email: each claimed by several portal users, a conflict.
    assert!(report.conflicts.iter().any(|c| matches!(c, Conflict::DuoUserMatchedBySeveral { duo_user_id, .. } if duo_user_id == "DU1")));
    assert!(report.conflicts.iter().any(|c| matches!(c, Conflict::DuoUserMatchedBySeveral { duo_user_id, .. } if duo_user_id == "DU2")));
    let cy = report
        .matched
        .iter()
        .find(|m| m.portal_username == "cy")
        .expect("cy");
    assert_eq!(cy.status, UserStatus::Other("something new".into()));
    assert_eq!(report.unmatched_portal, vec!["nobody".to_owned()]);
}

#[test]
fn a_page_that_is_not_users_is_a_typed_error_and_duo_errors_stay_duos() {
    let decoder = ImportDecode {
        index: std::sync::OnceLock::new(),
        ids: RandomState::new(),
    };
    let e = decoder
        .decode(&raw(br#"{"stat":"OK","response":[{"user_id":5}]}"#), 1)
        .expect_err("not users");
    assert!(
        matches!(&e, Error::Duo(duo_auth::Error::UnexpectedResponse { reason, .. }) if reason.contains("expected shape")),
        "{e:?}"
    );
    let mut failed = raw(br#"{"stat":"FAIL","code":40301,"message":"Access forbidden"}"#);
    failed.status = 403;
    let e = decoder.decode(&failed, 1).expect_err("a Duo error");
    assert_eq!(e.duo_code(), Some(40301), "{e:?}");
    let e = decoder.decode(&raw(b"<html>"), 1).expect_err("not JSON");
    assert!(
        matches!(e, Error::Duo(duo_auth::Error::UnexpectedResponse { .. })),
        "{e:?}"
    );
}

#[test]
fn portal_users_sharing_a_username_are_reported_in_duo_order() {
    let duo = vec![
        duo_user(0, "x".into(), vec![], Some("b@example.com".into())),
        duo_user(1, "y".into(), vec![], Some("a@example.com".into())),
    ];
    let portal: Vec<PortalIdentity> = ["a@example.com", "b@example.com"]
        .into_iter()
        .map(|e| PortalIdentity {
            username: "zed".into(),
            email: Some(e.into()),
        })
        .collect();
    let report = match_users(&duo, &portal, &ImportOptions::default());
    let ids: Vec<&str> = report
        .matched
        .iter()
        .map(|m| m.duo_user_id.as_str())
        .collect();
    assert_eq!(ids, ["DU0000", "DU0001"]);
    assert_eq!(
        report,
        reference::match_users(&duo, &portal, &ImportOptions::default())
    );
}

#[test]
fn users_seen_before_a_reservation_are_still_seen_after_it() {
    // A walk reserves room once Duo's count is known, which can be after a first page without
    // one: the users already there must still be found when they come again.
    let ids = RandomState::new();
    let mut users = WholeUsers {
        users: Distinct::new(),
        ids: ids.clone(),
    };
    let page = |from: usize, to: usize| -> Vec<User> {
        (from..to)
            .map(|i| duo_user(i, format!("u{i}"), vec![], None))
            .collect()
    };
    users.add(page(0, 50));
    users.users.reserve(5_000);
    users.add(page(40, 120));
    assert_eq!(users.len(), 120, "users 40..50 came twice and count once");
}

#[test]
fn a_user_listed_twice_counts_once() {
    let duo = vec![
        duo_user(1, "ann".into(), vec![], None),
        duo_user(2, "bob".into(), vec![], None),
        duo_user(1, "ann-again".into(), vec![], None),
    ];
    let portal: Vec<PortalIdentity> = ["p", "ann"]
        .into_iter()
        .map(|n| PortalIdentity {
            username: n.into(),
            email: None,
        })
        .collect();
    let options = ImportOptions {
        explicit: vec![("p".into(), DuoRef::UserId("DU0001".into()))],
        ..ImportOptions::default()
    };
    let report = match_users(&duo, &portal, &options);
    assert_eq!(report.duo_users, 2);
    // "p" names DU0001 explicitly and "ann" reaches it by username: one Duo user claimed by
    // two portal users, a conflict — not a portal user matching "several" copies of one user.
    assert_eq!(
        report.conflicts,
        vec![Conflict::DuoUserMatchedBySeveral {
            duo_user_id: "DU0001".into(),
            portal_usernames: vec!["ann".into(), "p".into()],
        }]
    );
    assert_eq!(report.unmatched_duo.len(), 1);
    // The importer's walk reads the same listing the same way.
    let body = serde_json::json!({"stat": "OK", "response": duo, "metadata": {}}).to_string();
    assert_eq!(import_page(body.as_bytes(), &portal, &options), report);
}
