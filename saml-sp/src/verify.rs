//! The signature layer: where the signatures are, whether they verify with a trusted
//! certificate, and the canonical bytes of what they cover.
//!
//! XML-DSig itself (reference dereferencing, transforms, exclusive C14N, digests, RSA) is
//! `xml-sec`'s. This module adds what SAML needs on top, in this order, on the same parsed tree
//! xml-sec verifies (one parser: no parser differential between what is checked and what is
//! verified):
//!
//! 1. the document: a SAML 2.0 `samlp:Response` whose status is Success (read before the
//!    signature, so that an IdP's refusal is reported as such; a status never leads to
//!    acceptance);
//! 2. no ID value twice, no `EncryptedAssertion`;
//! 3. every `ds:Signature` is enveloped in the element it signs, which is the Response or the
//!    Assertion directly inside it, with exactly one `Reference` to that element's ID;
//! 4. exactly one Assertion in the whole document, a child of the Response;
//! 5. allowlisted algorithms: exclusive C14N, the enveloped-signature and exclusive-C14N
//!    transforms, RSA-SHA256/384/512 and SHA-256/384/512 (SHA-1 only when allowed);
//! 6. xml-sec verifies every signature with the pinned public key of a metadata certificate
//!    and must report acceptance for exactly those elements (`accepted()`), with its own policy
//!    set to the same allowlists as a second line;
//! 7. the canonical bytes each Reference digested are handed on; values are read from them
//!    only.
//!
//! Steps 2–4 alone defeat the published signature-wrapping layouts; step 6 is what does not
//! depend on us having foreseen the layout: xml-sec binds each verified Reference to the node
//! it resolved, and we accept only when that node is the one we read.

use std::collections::{BTreeSet, HashMap};

use base64::Engine as _;
use xml_sec::policy::VerificationPolicy;
use xml_sec::xmldsig::{
    CallerTrustedSignatureKey, DigestAlgorithm, DsigError, DsigStatus, FailureReason,
    KeyTrustEvidence, SignatureAlgorithm, SignatureRequirement, VerificationKey,
    VerificationRequest, VerifyContext,
};
use xml_sec::{Node, XmlDocument, XmlDocumentError};

use crate::error::{SamlError, found};
use crate::metadata::{SigningCertificate, fingerprint};
use crate::xml::{DS, ENVELOPED, EXC_C14N, SAML, SAMLP, STATUS_SUCCESS};

/// What the signature layer needs from the SP's configuration.
pub(crate) struct Settings<'a> {
    pub(crate) certificates: &'a [SigningCertificate],
    pub(crate) allow_sha1: bool,
    pub(crate) max_bytes: usize,
    pub(crate) max_depth: usize,
    pub(crate) max_nodes: usize,
}

/// The canonical (pre-digest) bytes of the elements whose signatures verified.
#[derive(Debug)]
pub(crate) struct Signed {
    /// The Response (without its own Signature), if the Response was signed.
    pub(crate) response: Option<String>,
    /// The Assertion (without its own Signature), if the Assertion was signed.
    pub(crate) assertion: Option<String>,
    /// The Response's attributes as they stand in the document, for when the Response itself
    /// is not signed.
    pub(crate) unsigned_response: ResponseFields,
}

/// The Response's own attributes: from its canonical bytes when it is signed, from the
/// document otherwise.
#[derive(Debug)]
pub(crate) struct ResponseFields {
    pub(crate) signed: bool,
    pub(crate) destination: Option<String>,
    pub(crate) in_response_to: Option<String>,
    pub(crate) issuer: Option<String>,
}

impl ResponseFields {
    pub(crate) fn read(root: Node<'_, '_>, signed: bool) -> Self {
        Self {
            signed,
            destination: root.attribute("Destination").map(str::to_string),
            in_response_to: root.attribute("InResponseTo").map(str::to_string),
            issuer: child(root, SAML, "Issuer").map(|n| text(n).trim().to_string()),
        }
    }
}

/// Which element a signature sits in and signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Signs {
    Response,
    Assertion,
}

impl Signs {
    fn name(self) -> &'static str {
        match self {
            Signs::Response => "Response",
            Signs::Assertion => "Assertion",
        }
    }
}

/// One `ds:Signature`, as read before verification.
struct SignatureInfo {
    signs: Signs,
    /// The element it sits in.
    parent: xml_sec::NodeId,
    /// The ID of the element it sits in (and references).
    id: String,
    algorithm: SignatureAlgorithm,
    /// The certificate in its `KeyInfo`, if any (a hint which key to use, never trust).
    certificate: Option<Vec<u8>>,
}

/// Checks the document and its signatures; returns the verified canonical bytes.
pub(crate) fn verify(bytes: &[u8], settings: &Settings<'_>) -> Result<Signed, SamlError> {
    let policy = verification_policy(settings);
    let document = XmlDocument::parse_bytes_with_policy(bytes, &policy)
        .map_err(|e| document_error(e, settings))?;

    let (infos, mut unsigned_response) = document.with_view(|view| {
        let doc = view.document();
        let infos = inspect(doc, settings)?;
        Ok::<_, SamlError>((infos, Some(ResponseFields::read(doc.root_element(), false))))
    })?;
    let targets: HashMap<Signs, xml_sec::NodeIdentity> = document.with_view(|view| {
        infos
            .iter()
            .map(|s| {
                view.node_for_id(&s.id, &[])
                    .map(|n| (s.signs, n))
                    .ok_or_else(|| SamlError::DuplicateId { id: found(&s.id) })
            })
            .collect::<Result<_, _>>()
    })?;

    // Which trusted certificate each signature is to be checked with. The certificate in
    // KeyInfo only selects among the trusted ones (rollover: Okta may sign with either);
    // a certificate we do not have is refused by name, before any cryptography.
    let trusted = settings.certificates;
    let mut choices: Vec<Vec<&SigningCertificate>> = Vec::with_capacity(infos.len());
    for info in &infos {
        match &info.certificate {
            Some(der) => match trusted.iter().find(|c| c.der() == der.as_slice()) {
                Some(c) => choices.push(vec![c]),
                None => {
                    return Err(SamlError::UntrustedSignature {
                        found: fingerprint(der),
                        trusted: trusted
                            .iter()
                            .map(|c| c.fingerprint().to_string())
                            .collect(),
                    });
                }
            },
            None => choices.push(trusted.iter().collect()),
        }
    }
    let attempts = choices.iter().map(Vec::len).max().unwrap_or(1);

    let context = VerifyContext::new()
        .policy(policy)
        .allowed_transforms([ENVELOPED, EXC_C14N])
        .process_manifests(false)
        .store_pre_digest(true);
    let identities = context
        .signature_identities(&document)
        .map_err(dsig_error)?;
    if identities.len() != infos.len() {
        // Our walk and xml-sec's discovery read the same tree; a difference is a bug, and
        // refusing is the only safe answer.
        return Err(SamlError::SignatureInvalid {
            detail: format!(
                "found {} signatures, the verifier {}",
                infos.len(),
                identities.len()
            ),
        });
    }
    let expected: Vec<xml_sec::NodeIdentity> = {
        let mut t: Vec<_> = targets.values().copied().collect();
        t.sort();
        t
    };

    let mut first_error = None;
    for attempt in 0..attempts {
        let keys: Vec<VerificationKey> = infos
            .iter()
            .zip(&choices)
            .map(|(info, certs)| VerificationKey {
                algorithm: info.algorithm,
                public_key_bytes: certs[attempt.min(certs.len() - 1)]
                    .public_key_der()
                    .to_vec(),
                certificate_der: None,
                name: None,
            })
            .collect();
        let trusted_keys: Vec<CallerTrustedSignatureKey<'_>> = identities
            .iter()
            .zip(&keys)
            .map(|(signature, key)| CallerTrustedSignatureKey {
                signature: *signature,
                key,
            })
            .collect();
        let request = VerificationRequest {
            expected_targets: &expected,
            trusted_keys: &trusted_keys,
            signatures: SignatureRequirement::Exactly(infos.len()),
            ..VerificationRequest::default()
        };
        let evidence = context
            .verify_request(&document, &request)
            .map_err(dsig_error)?;
        // `Ok` is a report, not a verdict: only `accepted` is.
        if evidence.accepted(&document).map_err(dsig_error)? {
            let mut signed = Signed {
                response: None,
                assertion: None,
                unsigned_response: unsigned_response.take().ok_or_else(|| {
                    SamlError::SignatureInvalid {
                        detail: "accepted twice".into(),
                    }
                })?,
            };
            for (info, signature) in infos.iter().zip(evidence.signatures()) {
                let target = targets[&info.signs];
                let result =
                    signature
                        .result()
                        .as_ref()
                        .map_err(|e| SamlError::SignatureInvalid {
                            detail: e.to_string(),
                        })?;
                if result.status != DsigStatus::Valid
                    || !matches!(result.key_trust, KeyTrustEvidence::CallerTrusted)
                    || !evidence
                        .covers_element(&document, target)
                        .map_err(dsig_error)?
                {
                    return Err(SamlError::SignatureInvalid {
                        detail: format!(
                            "the {} signature was not verified with a trusted key",
                            info.signs.name()
                        ),
                    });
                }
                let reference = result
                    .signed_info_references
                    .iter()
                    .find(|r| r.target_identity == Some(target) && r.status == DsigStatus::Valid)
                    .ok_or_else(|| SamlError::SignatureWrapping {
                        detail: format!(
                            "the {} signature's Reference does not resolve to the {}",
                            info.signs.name(),
                            info.signs.name()
                        ),
                    })?;
                let bytes = reference.pre_digest_data.clone().ok_or_else(|| {
                    SamlError::SignatureInvalid {
                        detail: "the verifier kept no canonical bytes".into(),
                    }
                })?;
                let text = String::from_utf8(bytes).map_err(|_| SamlError::SignatureInvalid {
                    detail: "the canonical bytes are not UTF-8".into(),
                })?;
                match info.signs {
                    Signs::Response => signed.response = Some(text),
                    Signs::Assertion => signed.assertion = Some(text),
                }
            }
            return Ok(signed);
        }
        if first_error.is_none() {
            first_error = Some(refusal(&infos, &evidence, attempts));
        }
    }
    Err(first_error.unwrap_or(SamlError::SignatureInvalid {
        detail: "not accepted".into(),
    }))
}

/// Why xml-sec did not accept: the first failing signature's reason.
fn refusal(
    infos: &[SignatureInfo],
    evidence: &xml_sec::xmldsig::VerifyEvidence,
    attempts: usize,
) -> SamlError {
    for (info, signature) in infos.iter().zip(evidence.signatures()) {
        let result = match signature.result() {
            Ok(r) => r,
            Err(e) => return dsig_ref_error(e),
        };
        match result.status {
            DsigStatus::Valid => continue,
            DsigStatus::Invalid(FailureReason::ReferenceDigestMismatch { .. }) => {
                return SamlError::ContentModified {
                    element: format!("{} {}", info.signs.name(), found(&info.id)),
                };
            }
            DsigStatus::Invalid(FailureReason::SignatureMismatch) => {
                let keys = if attempts > 1 {
                    format!("any of the {attempts} trusted certificates")
                } else {
                    "the trusted certificate".to_string()
                };
                return SamlError::SignatureInvalid {
                    detail: format!(
                        "the {} SignatureValue does not verify with {keys} (signed by another \
                         key, or SignedInfo was changed)",
                        info.signs.name()
                    ),
                };
            }
            DsigStatus::Invalid(FailureReason::ReferencePolicyViolation { .. }) => {
                return SamlError::DisallowedTransform {
                    algorithm: format!("(a Reference of the {} signature)", info.signs.name()),
                };
            }
            other => {
                return SamlError::SignatureInvalid {
                    detail: format!("the {} signature: {other:?}", info.signs.name()),
                };
            }
        }
    }
    // Every signature verified, yet the request was not met: they do not cover the elements
    // we read.
    SamlError::SignatureWrapping {
        detail: "the signatures verify but do not cover the Response or its Assertion".into(),
    }
}

/// xml-sec's verification policy, set to our allowlists and limits.
fn verification_policy(settings: &Settings<'_>) -> VerificationPolicy {
    let mut policy = VerificationPolicy::default();
    let mut signature = BTreeSet::from([
        SignatureAlgorithm::RsaSha256,
        SignatureAlgorithm::RsaSha384,
        SignatureAlgorithm::RsaSha512,
    ]);
    let mut digest = BTreeSet::from([
        DigestAlgorithm::Sha256,
        DigestAlgorithm::Sha384,
        DigestAlgorithm::Sha512,
    ]);
    if settings.allow_sha1 {
        signature.insert(SignatureAlgorithm::RsaSha1);
        digest.insert(DigestAlgorithm::Sha1);
        policy
            .key_trust
            .allowed_legacy_signature_algorithms
            .insert(SignatureAlgorithm::RsaSha1);
    }
    policy.signature_algorithms = Some(signature);
    policy.digest_algorithms = Some(digest);
    policy.xml.allow_internal_dtd = false;
    policy.resources.max_xml_document_bytes = settings.max_bytes;
    policy.resources.max_xml_depth = settings.max_depth;
    policy.resources.max_xml_nodes = settings.max_nodes;
    // A SAML Response carries one or two signatures (Assertion, Response); a few more still
    // reach our placement check and its precise error.
    policy.resources.max_signatures = 8;
    policy
}

/// Steps 1–5 on the parsed document.
fn inspect(
    doc: &xml_sec::Document<'_>,
    settings: &Settings<'_>,
) -> Result<Vec<SignatureInfo>, SamlError> {
    let root = doc.root_element();
    if !root.has_tag_name((SAMLP, "Response")) {
        let name = root.tag_name();
        return Err(SamlError::NotAResponse {
            found: found(&match name.namespace() {
                Some(ns) => format!("{{{ns}}}{}", name.name()),
                None => name.name().to_string(),
            }),
        });
    }
    match root.attribute("Version") {
        Some("2.0") => {}
        v => {
            return Err(SamlError::NotAResponse {
                found: format!("a Response with Version {}", found(v.unwrap_or("(none)"))),
            });
        }
    }
    check_status(root)?;

    // IDs: the spellings xml-sec resolves a Reference against (ID, Id, id in any namespace,
    // xml:id and DTD-declared IDs), each value at most once in the whole document.
    let mut ids = BTreeSet::new();
    for node in doc.descendants().filter(Node::is_element) {
        for a in node.attributes() {
            if (a.is_id() || matches!(a.name(), "ID" | "Id" | "id")) && !ids.insert(a.value()) {
                return Err(SamlError::DuplicateId {
                    id: found(a.value()),
                });
            }
        }
    }
    if doc
        .descendants()
        .any(|n| n.has_tag_name((SAML, "EncryptedAssertion")))
    {
        return Err(SamlError::EncryptedAssertion);
    }

    let mut infos = Vec::new();
    for sig in doc
        .descendants()
        .filter(|n| n.has_tag_name((DS, "Signature")))
    {
        infos.push(inspect_signature(root, sig, settings)?);
    }
    for (i, info) in infos.iter().enumerate() {
        if infos[..i].iter().any(|other| other.parent == info.parent) {
            return Err(SamlError::SignatureWrapping {
                detail: format!("the {} holds more than one Signature", info.signs.name()),
            });
        }
    }

    let assertions = doc
        .descendants()
        .filter(|n| n.has_tag_name((SAML, "Assertion")))
        .count();
    if assertions != 1 {
        return Err(SamlError::AssertionCount { found: assertions });
    }
    if !root.children().any(|n| n.has_tag_name((SAML, "Assertion"))) {
        return Err(SamlError::Malformed {
            detail: "the Assertion is not a child of the Response".into(),
        });
    }
    if infos.is_empty() {
        return Err(SamlError::Unsigned);
    }
    Ok(infos)
}

/// The Response's top-level status must be Success.
fn check_status(root: Node<'_, '_>) -> Result<(), SamlError> {
    let status = child(root, SAMLP, "Status").ok_or_else(|| SamlError::Malformed {
        detail: "the Response has no Status".into(),
    })?;
    let code = child(status, SAMLP, "StatusCode").ok_or_else(|| SamlError::Malformed {
        detail: "the Status has no StatusCode".into(),
    })?;
    let value = code.attribute("Value").unwrap_or("");
    if value == STATUS_SUCCESS {
        return Ok(());
    }
    Err(SamlError::Status {
        code: found(value),
        sub_code: child(code, SAMLP, "StatusCode")
            .and_then(|c| c.attribute("Value"))
            .map(found),
        message: child(status, SAMLP, "StatusMessage").map(|m| found(text(m).trim())),
    })
}

/// Placement, reference and algorithms of one signature.
fn inspect_signature(
    root: Node<'_, '_>,
    sig: Node<'_, '_>,
    settings: &Settings<'_>,
) -> Result<SignatureInfo, SamlError> {
    let wrap = |detail: String| SamlError::SignatureWrapping { detail };
    let parent = sig
        .parent_element()
        .ok_or_else(|| wrap("a Signature is the document element".into()))?;
    let signs = if parent.id() == root.id() {
        Signs::Response
    } else if parent.has_tag_name((SAML, "Assertion"))
        && parent.parent_element().is_some_and(|p| p.id() == root.id())
    {
        Signs::Assertion
    } else {
        return Err(wrap(format!(
            "a Signature sits in {} instead of the Response or its Assertion (the signed element \
             was moved)",
            describe(parent)
        )));
    };
    let id = parent
        .attribute("ID")
        .ok_or_else(|| SamlError::Malformed {
            detail: format!("the signed {} has no ID", signs.name()),
        })?
        .to_string();

    let signed_info = child(sig, DS, "SignedInfo").ok_or_else(|| SamlError::SignatureInvalid {
        detail: "a Signature has no SignedInfo".into(),
    })?;
    let references: Vec<_> = signed_info
        .children()
        .filter(|n| n.has_tag_name((DS, "Reference")))
        .collect();
    let [reference] = references.as_slice() else {
        return Err(wrap(format!(
            "the {} signature has {} References; exactly one, to the {}, is accepted",
            signs.name(),
            references.len(),
            signs.name()
        )));
    };
    let uri = reference.attribute("URI").unwrap_or("");
    if uri.strip_prefix('#') != Some(id.as_str()) {
        return Err(wrap(format!(
            "the Signature in the {} (ID {}) references {}, not the element it sits in",
            signs.name(),
            found(&id),
            found(&format!("{uri:?}"))
        )));
    }

    let c14n = child(signed_info, DS, "CanonicalizationMethod")
        .and_then(|n| n.attribute("Algorithm"))
        .unwrap_or("");
    if c14n != EXC_C14N {
        return Err(SamlError::DisallowedTransform {
            algorithm: found(c14n),
        });
    }
    if let Some(transforms) = child(*reference, DS, "Transforms") {
        for t in transforms
            .children()
            .filter(|n| n.has_tag_name((DS, "Transform")))
        {
            let a = t.attribute("Algorithm").unwrap_or("");
            if a != ENVELOPED && a != EXC_C14N {
                return Err(SamlError::DisallowedTransform {
                    algorithm: found(a),
                });
            }
        }
    }
    let digest = child(*reference, DS, "DigestMethod")
        .and_then(|n| n.attribute("Algorithm"))
        .unwrap_or("");
    match DigestAlgorithm::from_uri(digest) {
        Some(DigestAlgorithm::Sha256 | DigestAlgorithm::Sha384 | DigestAlgorithm::Sha512) => {}
        Some(DigestAlgorithm::Sha1) if settings.allow_sha1 => {}
        Some(DigestAlgorithm::Sha1) => {
            return Err(SamlError::WeakAlgorithm {
                algorithm: digest.into(),
            });
        }
        _ => {
            return Err(SamlError::UnsupportedAlgorithm {
                algorithm: found(digest),
            });
        }
    }
    let method = child(signed_info, DS, "SignatureMethod")
        .and_then(|n| n.attribute("Algorithm"))
        .unwrap_or("");
    // The key's algorithm comes from the document, but only from within this allowlist.
    let algorithm = match SignatureAlgorithm::from_uri(method) {
        Some(
            a @ (SignatureAlgorithm::RsaSha256
            | SignatureAlgorithm::RsaSha384
            | SignatureAlgorithm::RsaSha512),
        ) => a,
        Some(a @ SignatureAlgorithm::RsaSha1) if settings.allow_sha1 => a,
        Some(SignatureAlgorithm::RsaSha1) => {
            return Err(SamlError::WeakAlgorithm {
                algorithm: method.into(),
            });
        }
        _ => {
            return Err(SamlError::UnsupportedAlgorithm {
                algorithm: found(method),
            });
        }
    };

    let certificate = child(sig, DS, "KeyInfo")
        .and_then(|ki| {
            ki.descendants()
                .find(|n| n.has_tag_name((DS, "X509Certificate")))
        })
        .map(|c| {
            let b64: String = text(c)
                .chars()
                .filter(|c| !c.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(b64.as_bytes())
                .map_err(|e| SamlError::SignatureInvalid {
                    detail: format!("the KeyInfo X509Certificate is not base64: {e}"),
                })
        })
        .transpose()?;

    Ok(SignatureInfo {
        signs,
        parent: parent.id(),
        id,
        algorithm,
        certificate,
    })
}

/// The first child element `ns:name`.
pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|n| n.has_tag_name((ns, name)))
}

/// The concatenated text of an element's descendants. Comments are not text: in canonical
/// bytes there are none, and in a raw document one must not split a value (the 2017
/// NameID-comment class reads only the first text node).
pub(crate) fn text(node: Node<'_, '_>) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// `saml:Assertion (ID x)`-style description of an element, for errors.
fn describe(node: Node<'_, '_>) -> String {
    let name = node.tag_name().name();
    match node.attribute("ID") {
        Some(id) => format!("a {name} element (ID {})", found(id)),
        None => format!("a {name} element"),
    }
}

/// Parsing errors, by kind.
fn document_error(e: XmlDocumentError, settings: &Settings<'_>) -> SamlError {
    use xml_sec::ParseError as P;
    match e {
        XmlDocumentError::DocumentTooLarge { actual, .. } => SamlError::TooLarge {
            size: actual,
            limit: settings.max_bytes,
        },
        XmlDocumentError::DocumentTooDeep { .. }
        | XmlDocumentError::Parse(P::DepthLimitReached { .. }) => SamlError::TooDeep {
            limit: settings.max_depth,
        },
        XmlDocumentError::Parse(P::DtdDetected) => SamlError::Dtd,
        XmlDocumentError::Parse(
            P::EntityExpansionLimitReached { .. } | P::EntityExpansionWorkLimitReached { .. },
        ) => SamlError::Dtd,
        XmlDocumentError::Parse(P::NodesLimitReached) => SamlError::TooManyNodes {
            limit: settings.max_nodes,
        },
        XmlDocumentError::Parse(P::ByteLimitReached { actual, .. }) => SamlError::TooLarge {
            size: actual,
            limit: settings.max_bytes,
        },
        other => {
            let detail = other.to_string();
            // The policy layer reports a DTD in its own words.
            if detail.contains("DTD") || detail.contains("DOCTYPE") {
                SamlError::Dtd
            } else {
                SamlError::Xml {
                    detail: found(&detail),
                }
            }
        }
    }
}

/// A verification pipeline error as one of ours.
fn dsig_error(e: DsigError) -> SamlError {
    dsig_ref_error(&e)
}

fn dsig_ref_error(e: &DsigError) -> SamlError {
    use xml_sec::policy::PolicyViolation;
    let algorithm_error = |uri: &str| {
        if uri.contains("sha1") {
            SamlError::WeakAlgorithm {
                algorithm: uri.to_string(),
            }
        } else if uri.contains("c14n")
            || uri.contains("xpath")
            || uri.contains("xslt")
            || uri.contains("enveloped")
            || uri.contains("base64")
        {
            SamlError::DisallowedTransform {
                algorithm: uri.to_string(),
            }
        } else {
            SamlError::UnsupportedAlgorithm {
                algorithm: uri.to_string(),
            }
        }
    };
    match e {
        DsigError::Policy(PolicyViolation::Algorithm { algorithm, .. }) => {
            algorithm_error(algorithm)
        }
        DsigError::AccountedPolicyAlgorithm { algorithm, .. } => {
            algorithm_error(algorithm.as_ref())
        }
        DsigError::XmlParse(xml_sec::ParseError::DtdDetected) => SamlError::Dtd,
        other => SamlError::SignatureInvalid {
            detail: found(&other.to_string()),
        },
    }
}
