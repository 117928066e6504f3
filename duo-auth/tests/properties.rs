//! Properties of canonicalization and signing that must hold for every input.

use duo_auth::Credentials;
use duo_auth::sign::{
    CanonicalRequest, Method, Request, SignError, SignatureVersion, Signer, canonical_params,
    encode_param,
};
use proptest::prelude::*;

const DATE: &str = "Tue, 21 Aug 2012 17:29:18 -0000";

fn signer(version: SignatureVersion) -> Signer {
    let creds = Credentials::new(
        "DIWJ8X6AEYOR5OMC6TQ1",
        "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep",
        "api-x.duosecurity.com",
    )
    .expect("valid");
    Signer::with_version(creds, version)
}

fn params() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((any::<String>(), any::<String>()), 0..8)
}

fn version() -> impl Strategy<Value = SignatureVersion> {
    prop_oneof![
        Just(SignatureVersion::V2Sha1),
        Just(SignatureVersion::V2Sha512),
        Just(SignatureVersion::V5)
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Get),
        Just(Method::Post),
        Just(Method::Put),
        Just(Method::Delete),
        Just(Method::Patch)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Exactly `A-Za-z0-9-_.~` stays as it is; every other byte of the UTF-8 encoding becomes
    /// `%XX` with upper-case hex, and decoding gives the input back.
    #[test]
    fn encoding_leaves_exactly_the_unreserved_set(s in any::<String>()) {
        let encoded = encode_param(&s);
        let mut expected = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                expected.push(char::from(b));
            } else {
                expected.push_str(&format!("%{b:02X}"));
            }
        }
        prop_assert_eq!(&encoded, &expected);
        let decoded = percent_encoding::percent_decode_str(&encoded).decode_utf8().unwrap();
        prop_assert_eq!(decoded, s.as_str());
    }

    /// The canonical parameter line does not depend on the order parameters were given in.
    #[test]
    fn canonical_params_are_order_invariant(p in params(), seed in any::<u64>()) {
        let mut shuffled = p.clone();
        // A deterministic shuffle driven by the generated seed.
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(canonical_params(&p), canonical_params(&shuffled));
        // And the whole signature with it.
        let a = signer(SignatureVersion::V5).sign(&Request::get("/x").params(p), DATE).unwrap();
        let b = signer(SignatureVersion::V5).sign(&Request::get("/x").params(shuffled), DATE).unwrap();
        prop_assert_eq!(a.authorization(), b.authorization());
    }

    /// The canonical line is sorted by encoded key, then encoded value, with one pair per value.
    #[test]
    fn canonical_params_are_sorted_pairs(p in params()) {
        let line = canonical_params(&p);
        let pairs: Vec<(String, String)> = if line.is_empty() {
            vec![]
        } else {
            line.split('&').map(|kv| {
                let (k, v) = kv.split_once('=').expect("k=v");
                (k.to_owned(), v.to_owned())
            }).collect()
        };
        prop_assert_eq!(pairs.len(), p.len());
        prop_assert!(pairs.windows(2).all(|w| w[0] <= w[1]));
    }

    /// Signing is a pure function of its inputs: the same request and date give the same bytes.
    #[test]
    fn signing_is_deterministic(p in params(), v in version(), m in method()) {
        let request = Request::new(m, "/admin/v1/users").params(p);
        let a = signer(v).sign(&request, DATE).unwrap();
        let b = signer(v).sign(&request, DATE).unwrap();
        prop_assert_eq!(a.authorization(), b.authorization());
        prop_assert_eq!(a.canonical(), b.canonical());
        prop_assert_eq!(a.body(), b.body());
        prop_assert_eq!(a.query(), b.query());
    }

    /// What is sent is what was signed: the query (GET/DELETE) or v2 form body is the canonical
    /// parameter line, and the v5 body hash line is the SHA-512 of the body bytes sent.
    #[test]
    fn sent_bytes_are_signed_bytes(p in params(), v in version(), m in method()) {
        use sha2::Digest;
        let signed = signer(v).sign(&Request::new(m, "/x").params(p.clone()), DATE).unwrap();
        let lines: Vec<&str> = signed.canonical().lines().collect();
        if m.params_in_body() {
            prop_assert_eq!(signed.query(), "");
            let body = signed.body().expect("a body");
            if v == SignatureVersion::V5 {
                prop_assert_eq!(lines[4], "");
                prop_assert_eq!(lines[5], base16ct::lower::encode_string(&sha2::Sha512::digest(body)));
            } else {
                prop_assert_eq!(std::str::from_utf8(body).unwrap(), lines[4]);
            }
        } else {
            prop_assert_eq!(signed.query(), lines[4]);
            prop_assert!(signed.body().is_none());
        }
        prop_assert_eq!(lines.len(), if v == SignatureVersion::V5 { 7 } else { 5 });
    }

    /// No input makes the signer panic: bad ones come back as errors.
    #[test]
    fn arbitrary_inputs_never_panic(
        path in any::<String>(),
        date in any::<String>(),
        headers in prop::collection::vec((any::<String>(), any::<String>()), 0..4),
        p in params(),
        v in version(),
        m in method(),
    ) {
        let mut request = Request::new(m, path).params(p);
        for (n, val) in headers {
            request = request.header(n, val);
        }
        let _ = signer(v).sign(&request, &date);
        let _ = CanonicalRequest::v5(&date, m, "h", request.path(), request.param_pairs(), b"", &[("x-duo-a", "b")]);
    }
}

#[test]
fn v2_refuses_what_only_v5_signs() {
    for v in [SignatureVersion::V2Sha1, SignatureVersion::V2Sha512] {
        let with_header = Request::get("/x").header("X-Duo-A", "1");
        assert!(matches!(
            signer(v).sign(&with_header, DATE),
            Err(SignError::Unsupported(_))
        ));
        let with_json = Request::post("/x").json(serde_json::json!({"a": 1}));
        assert!(matches!(
            signer(v).sign(&with_json, DATE),
            Err(SignError::Unsupported(_))
        ));
    }
}

#[test]
fn v5_body_rules() {
    let s = signer(SignatureVersion::V5);
    let array = Request::post("/x").json(serde_json::json!([1, 2]));
    assert_eq!(
        s.sign(&array, DATE).unwrap_err(),
        SignError::BodyNotObject { found: "an array" }
    );
    let both = Request::post("/x")
        .param("a", "1")
        .json(serde_json::json!({"b": 2}));
    assert!(matches!(
        s.sign(&both, DATE),
        Err(SignError::Unsupported(_))
    ));
    let get_body = Request::get("/x").json(serde_json::json!({}));
    assert!(matches!(
        s.sign(&get_body, DATE),
        Err(SignError::Unsupported(_))
    ));
    // A POST without parameters sends "{}", as Duo's clients do.
    let empty = s.sign(&Request::post("/x"), DATE).unwrap();
    assert_eq!(empty.body(), Some(&b"{}"[..]));
    // Repeated keys become an array, in the order given.
    let repeated = s
        .sign(
            &Request::post("/x")
                .param("k", "2")
                .param("k", "1")
                .param("a", "x"),
            DATE,
        )
        .unwrap();
    assert_eq!(repeated.body(), Some(&br#"{"a":"x","k":["2","1"]}"#[..]));
}

#[test]
fn x_duo_date_is_sent_and_signed() {
    use duo_auth::sign::DateHeader;
    let s = signer(SignatureVersion::V5);
    let plain = s.sign(&Request::get("/x"), DATE).unwrap();
    let xdate = s
        .sign(&Request::get("/x").date_header(DateHeader::XDuoDate), DATE)
        .unwrap();
    assert_eq!(xdate.headers()[0].0, "X-Duo-Date");
    assert_ne!(
        plain.canonical().lines().nth(6),
        xdate.canonical().lines().nth(6)
    );
    let explicit = s
        .sign(&Request::get("/x").header("X-Duo-Date", DATE), DATE)
        .unwrap();
    assert_eq!(
        explicit.canonical(),
        xdate.canonical(),
        "same header hash as an explicit X-Duo-Date"
    );
    let twice = Request::get("/x")
        .header("x-duo-date", DATE)
        .date_header(DateHeader::XDuoDate);
    assert!(matches!(
        s.sign(&twice, DATE),
        Err(SignError::DuplicateHeader { .. })
    ));
    let v2 = signer(SignatureVersion::V2Sha512);
    assert!(
        v2.sign(&Request::get("/x").date_header(DateHeader::XDuoDate), DATE)
            .is_err()
    );
}

#[test]
fn signed_request_debug_redacts_authorization() {
    let signed = signer(SignatureVersion::V5)
        .sign(&Request::get("/x"), DATE)
        .unwrap();
    let shown = format!("{signed:?} {:?}", signer(SignatureVersion::V5));
    assert!(!shown.contains(signed.authorization()), "{shown}");
    assert!(!shown.contains(&signed.authorization()[6..]), "{shown}");
    assert!(!shown.contains("Zh5eGm"), "{shown}");
}
