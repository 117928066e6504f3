//! Tree surgery on serialized XML for the attack corpus: find an element by expanded name,
//! cut it out, put it elsewhere. Positions come from a real parse (the element's byte range),
//! so a case is built the way an attacker rearranges a captured Response, not with regexes.

use std::ops::Range;

pub const SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
pub const SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
pub const DS: &str = "http://www.w3.org/2000/09/xmldsig#";

/// The byte range of the `nth` (0-based, document order) element `{ns}name`.
pub fn find(xml: &str, ns: &str, name: &str, nth: usize) -> Range<usize> {
    let doc = xml_sec::Document::parse(xml).expect("test input parses");
    doc.descendants()
        .filter(|n| n.has_tag_name((ns, name)))
        .nth(nth)
        .unwrap_or_else(|| panic!("no {name} #{nth}"))
        .range()
}

/// The element's text, `xml[range]`.
pub fn slice(xml: &str, r: &Range<usize>) -> String {
    xml[r.clone()].to_string()
}

/// `xml` without the range.
pub fn remove(xml: &str, r: &Range<usize>) -> String {
    format!("{}{}", &xml[..r.start], &xml[r.end..])
}

/// `xml` with `piece` inserted at byte `at`.
pub fn insert(xml: &str, at: usize, piece: &str) -> String {
    format!("{}{}{}", &xml[..at], piece, &xml[at..])
}

/// The position just after the start tag of the element at `r` (its first child goes here).
pub fn after_start_tag(xml: &str, r: &Range<usize>) -> usize {
    r.start + xml[r.clone()].find('>').expect("start tag") + 1
}

/// The position of the end tag of the element at `r` (its last child goes before this).
pub fn before_end_tag(xml: &str, r: &Range<usize>) -> usize {
    r.start + xml[r.clone()].rfind("</").expect("end tag")
}

/// The element `{ns}name` (nth) without any `ds:Signature` directly inside it.
pub fn without_signature(element: &str) -> String {
    let doc = xml_sec::Document::parse(element).expect("element parses");
    let root = doc.root_element();
    match root.children().find(|n| n.has_tag_name((DS, "Signature"))) {
        Some(sig) => remove(element, &sig.range()),
        None => element.to_string(),
    }
}
