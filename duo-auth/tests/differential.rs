//! Differential test against Duo's official Python client (PyPI `duo-client`, pinned in
//! `benches/peers/requirements.txt`).
//!
//! 10,000+ generated requests — random Unicode keys and values full of the characters that break
//! canonicalizers (space, `~`, `*`, `+`, `%`, `&`, `=`, emoji, NUL, empty values, repeated
//! keys), every method, v2 (SHA-1 and SHA-512) and v5, with and without JSON bodies and `X-Duo-`
//! headers — must produce the same canonical string and `Authorization` header as the official
//! client, byte for byte; the same body bytes for v5 JSON; the same decoded query/form; the same
//! `Date` string for the same instant.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, UNIX_EPOCH};

use duo_auth::Credentials;
use duo_auth::sign::{Method, Request, SignatureVersion, Signer, format_date};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Map, Value, json};

const CASES: usize = 10_240;

/// Characters canonicalizers get wrong, plus ordinary ones.
const TRICKY: &[char] = &[
    ' ',
    '~',
    '*',
    '+',
    '%',
    '&',
    '=',
    '/',
    '?',
    '#',
    '"',
    '\\',
    '\'',
    '!',
    '(',
    ')',
    ',',
    ';',
    ':',
    '@',
    '$',
    '[',
    ']',
    '-',
    '_',
    '.',
    '\0',
    '\n',
    '\t',
    'é',
    'ß',
    'Ω',
    '中',
    '文',
    '😀',
    '🦀',
    '\u{7f}',
    '\u{80}',
    '\u{ffff}',
    '\u{10ffff}',
    'a',
    'Z',
    '0',
    '9',
];

fn random_string(rng: &mut StdRng, max_len: usize) -> String {
    let len = rng.random_range(0..=max_len);
    (0..len)
        .map(|_| match rng.random_range(0..10) {
            0..=4 => TRICKY[rng.random_range(0..TRICKY.len())],
            5..=7 => char::from(rng.random_range(b'a'..=b'z')),
            _ => loop {
                // Any scalar value (rejection-sample out the surrogate range).
                if let Some(c) = char::from_u32(rng.random_range(0..=0x10_ffff)) {
                    break c;
                }
            },
        })
        .collect()
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.random_bool(0.5)),
        2 => json!(rng.random_range(-1_000_000_000_000i64..1_000_000_000_000)),
        3 => {
            // Floats across magnitudes, to exercise Python's repr rules.
            let mantissa: f64 = rng.random_range(-10.0..10.0);
            let exp: i32 = rng.random_range(-30..30);
            json!(mantissa * 10f64.powi(exp))
        }
        4 => Value::String(random_string(rng, 12)),
        5 => Value::Array(
            (0..rng.random_range(0..4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => Value::Object(random_object(rng, depth + 1)),
    }
}

fn random_object(rng: &mut StdRng, depth: u32) -> Map<String, Value> {
    (0..rng.random_range(0..5))
        .map(|_| (random_string(rng, 8), random_json(rng, depth)))
        .collect()
}

struct Case {
    version: SignatureVersion,
    request: Request,
    ikey: String,
    skey: String,
    host: String,
    port: Option<u16>,
    epoch: u64,
    date: String,
    json: Option<Value>,
}

fn generate(rng: &mut StdRng) -> Case {
    let version = match rng.random_range(0..3) {
        0 => SignatureVersion::V2Sha1,
        1 => SignatureVersion::V2Sha512,
        _ => SignatureVersion::V5,
    };
    let method = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
    ][rng.random_range(0..5)];
    // Paths: printable ASCII without space, '?' or '#', case kept.
    let path_chars = b"abcXYZ019-_.~/%:@!$&'()*+,;=";
    let path = format!(
        "/{}",
        (0..rng.random_range(0..20))
            .map(|_| char::from(path_chars[rng.random_range(0..path_chars.len())]))
            .collect::<String>()
    );
    let mut request = Request::new(method, path);
    let v5 = version == SignatureVersion::V5;
    let mut json = None;
    if v5 && method.params_in_body() && rng.random_bool(0.5) {
        let body = Value::Object(random_object(rng, 0));
        request = request.json(body.clone());
        json = Some(body);
    } else {
        for _ in 0..rng.random_range(0..7) {
            let key = random_string(rng, 6);
            let n = if rng.random_bool(0.2) {
                rng.random_range(2..4)
            } else {
                1
            };
            for _ in 0..n {
                request = request.param(key.clone(), random_string(rng, 10));
            }
        }
    }
    if v5 && rng.random_bool(0.5) {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..rng.random_range(1..4) {
            let suffix: String = (0..rng.random_range(1..8))
                .map(|_| char::from(b"abcXYZ019-_"[rng.random_range(0..11)]))
                .collect();
            let prefix = ["X-Duo-", "x-duo-", "X-DUO-"][rng.random_range(0..3)];
            let name = format!("{prefix}{suffix}");
            if !seen.insert(name.to_ascii_lowercase()) {
                continue;
            }
            let value: String = (0..rng.random_range(0..16))
                .map(|_| char::from(rng.random_range(0x20u8..0x7f)))
                .collect();
            request = request.header(name, value);
        }
    }
    let host_base: String = (0..rng.random_range(1..12))
        .map(|_| char::from(b"aBcDeF0123456789"[rng.random_range(0..16)]))
        .collect();
    let host = format!("API-{host_base}.DuoSecurity.com");
    let port = rng.random_bool(0.2).then(|| rng.random_range(1..=u16::MAX));
    let epoch = rng.random_range(0..4_102_444_800u64);
    let date = format_date(UNIX_EPOCH + Duration::from_secs(epoch)).expect("in range");
    let ikey: String = (0..20)
        .map(|_| char::from(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[rng.random_range(0..36)]))
        .collect();
    // Secret keys are ASCII in practice; include a non-ASCII one now and then anyway.
    let mut skey: String = (0..40)
        .map(|_| char::from(rng.random_range(b'!'..=b'~')))
        .collect();
    if rng.random_bool(0.05) {
        skey.push('é');
    }
    Case {
        version,
        request,
        ikey,
        skey,
        host,
        port,
        epoch,
        date,
        json,
    }
}

#[test]
fn signing_matches_the_official_python_client() {
    let Some(python) = test_support::peer_python(
        "signing_matches_the_official_python_client",
        &["duo_client"],
    ) else {
        return;
    };
    let script = test_support::workspace_root().join("duo-auth/tests/peers/duo_sign_peer.py");

    let mut rng = StdRng::seed_from_u64(0xD00_5167);
    let mut cases = Vec::with_capacity(CASES);
    let mut lines = Vec::with_capacity(CASES);
    let mut ours = Vec::with_capacity(CASES);
    for _ in 0..CASES {
        let case = generate(&mut rng);
        let host = match case.port {
            Some(p) => format!("{}:{p}", case.host),
            None => case.host.clone(),
        };
        let creds = Credentials::new(case.ikey.as_str(), case.skey.as_str(), host).expect("valid");
        let signed = Signer::with_version(creds, case.version)
            .sign(&case.request, &case.date)
            .expect("generated requests are valid");
        let version = match case.version {
            SignatureVersion::V2Sha1 => "v2sha1",
            SignatureVersion::V2Sha512 => "v2sha512",
            _ => "v5",
        };
        let our_body = signed
            .body()
            .map(|b| String::from_utf8(b.to_vec()).expect("utf-8"));
        lines.push(
            json!({
                "version": version,
                "ikey": case.ikey,
                "skey": case.skey,
                "host": case.host,
                "port": case.port,
                "method": case.request.method().as_str(),
                "path": case.request.path(),
                "params": case.request.param_pairs(),
                "json": case.json,
                "headers": signed.headers().iter()
                    .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-duo-"))
                    .map(|(n, v)| [n.to_string(), v.clone()]).collect::<Vec<_>>(),
                "date": case.date,
                "epoch": case.epoch,
                "our_query": signed.query(),
                "our_body": our_body,
            })
            .to_string(),
        );
        ours.push(signed);
        cases.push(case);
    }

    let mut child = Command::new(&python)
        .arg(&script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the Python peer");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = lines.join("\n") + "\n";
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let results: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(&l.expect("read")).expect("peer output is JSON"))
        .collect();
    writer.join().expect("writer").expect("write to peer");
    assert!(child.wait().expect("peer exits").success());
    assert_eq!(results.len(), CASES, "the peer answered every case");

    let (mut v2, mut v5, mut with_json, mut with_headers, mut repeated) = (0, 0, 0, 0, 0);
    for (i, ((case, signed), theirs)) in cases.iter().zip(&ours).zip(&results).enumerate() {
        let ctx = || format!("case {i}: {}", lines[i]);
        assert!(
            theirs.get("error").is_none(),
            "peer failed: {theirs} for {}",
            ctx()
        );
        assert_eq!(
            signed.canonical().as_str(),
            theirs["canonical"],
            "canonical, {}",
            ctx()
        );
        assert_eq!(
            signed.authorization(),
            theirs["authorization"],
            "authorization, {}",
            ctx()
        );
        assert_eq!(
            case.date, theirs["formatdate"],
            "date for epoch {}",
            case.epoch
        );
        assert_eq!(theirs["date_header"], case.date.as_str());
        assert_eq!(theirs["query_same"], true, "decoded query, {}", ctx());
        let content_type = signed
            .headers()
            .iter()
            .find(|(n, _)| n == "Content-Type")
            .map(|(_, v)| v.as_str());
        assert_eq!(
            theirs["content_type"].as_str(),
            content_type,
            "content type, {}",
            ctx()
        );
        let our_extra: Vec<[String; 2]> = {
            let mut v: Vec<[String; 2]> = signed
                .headers()
                .iter()
                .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-duo-"))
                .map(|(n, v)| [n.to_string(), v.clone()])
                .collect();
            v.sort();
            v
        };
        if case.version == SignatureVersion::V5 {
            v5 += 1;
            assert_eq!(
                serde_json::to_value(&our_extra).unwrap(),
                theirs["extra_headers"],
                "{}",
                ctx()
            );
            if case.request.method().params_in_body() {
                let body = std::str::from_utf8(signed.body().expect("body")).expect("utf-8");
                assert_eq!(body, theirs["body"], "JSON body bytes, {}", ctx());
            }
        } else {
            v2 += 1;
            if case.request.method().params_in_body() {
                assert_eq!(theirs["form_same"], true, "decoded form body, {}", ctx());
            }
        }
        with_json += usize::from(case.json.is_some());
        with_headers += usize::from(!our_extra.is_empty());
        let pairs = case.request.param_pairs();
        repeated +=
            usize::from((1..pairs.len()).any(|j| pairs[..j].iter().any(|(k, _)| *k == pairs[j].0)));
    }
    eprintln!(
        "{CASES} requests identical to duo-client: {v2} v2, {v5} v5, {with_json} with JSON bodies, \
         {with_headers} with X-Duo- headers, {repeated} with repeated keys"
    );
    // The generator must actually cover what the test claims.
    assert!(v2 > 2000 && v5 > 2000 && with_json > 500 && with_headers > 1000 && repeated > 500);
}
