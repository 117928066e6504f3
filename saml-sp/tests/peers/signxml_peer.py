"""Interop peer for saml-sp: signxml (lxml + OpenSSL through `cryptography`) signs SAML
Responses for the Rust SP to accept, and verifies the ones the sandbox's IdP signs.

Reads one JSON object on stdin, {"items": [...]}, and writes one JSON list, a result per item:

  {"op": "sign", "xml": "<saml2p:Response ...>", "target": "assertion" | "response",
   "alg": "sha256" | "sha512", "key_pem": "...", "cert_pem": "..."}
      -> {"ok": true, "xml": "<signed Response>"}
     The Signature goes right after the element's Issuer, as Okta places it (a placeholder
     there is what signxml fills), enveloped, exclusive C14N, certificate in KeyInfo.

  {"op": "verify", "xml": "...", "alg": "sha256" | "sha512", "cert_pem": "..."}
      -> {"ok": true, "signed": "Assertion" | "Response", "name_id": "..."}
      or {"ok": false, "error": "..."}
     Verification is signxml's, pinned to the certificate and to the one algorithm; the NameID
     is read from what signxml says was signed.
"""

import json
import sys

from lxml import etree
from signxml import (
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConfiguration,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
    methods,
)

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
ALGS = {
    "sha256": (SignatureMethod.RSA_SHA256, DigestAlgorithm.SHA256),
    "sha512": (SignatureMethod.RSA_SHA512, DigestAlgorithm.SHA512),
}


def sign(item):
    root = etree.fromstring(item["xml"].encode())
    if item["target"] == "assertion":
        element = root.find("{%s}Assertion" % SAML)
    else:
        element = root
    issuer = element.find("{%s}Issuer" % SAML)
    issuer.addnext(etree.Element("{%s}Signature" % DS, Id="placeholder", nsmap={"ds": DS}))
    method, digest = ALGS[item["alg"]]
    signer = XMLSigner(
        method=methods.enveloped,
        signature_algorithm=method,
        digest_algorithm=digest,
        c14n_algorithm=CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0,
    )
    signed = signer.sign(
        element,
        key=item["key_pem"].encode(),
        cert=item["cert_pem"],
        reference_uri=element.get("ID"),
    )
    if item["target"] == "assertion":
        # signxml returns a signed copy of the Assertion: put it in the Response's place.
        element.getparent().replace(element, signed)
        signed = root
    return {"ok": True, "xml": etree.tostring(signed).decode()}


def verify(item):
    method, digest = ALGS[item["alg"]]
    config = SignatureConfiguration(
        require_x509=True,
        signature_methods=[method],
        digest_algorithms=[digest],
    )
    try:
        result = XMLVerifier().verify(
            item["xml"].encode(),
            x509_cert=item["cert_pem"],
            expect_config=config,
            id_attribute="ID",
        )
    except Exception as e:  # signxml raises several types; the test only needs the verdict
        return {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
    signed = result.signed_xml
    name_id = signed.find(".//{%s}NameID" % SAML)
    return {
        "ok": True,
        "signed": etree.QName(signed).localname,
        "name_id": "".join(name_id.itertext()) if name_id is not None else None,
    }


def main():
    items = json.load(sys.stdin)["items"]
    out = []
    for item in items:
        try:
            out.append(sign(item) if item["op"] == "sign" else verify(item))
        except Exception as e:
            out.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    json.dump(out, sys.stdout)


main()
