"""Times signxml (5.2.0: lxml + OpenSSL through `cryptography`) verifying the SAML Response of
benches/saml_verify.rs, which runs it as its baseline, in the same run.

Reads one JSON object on stdin:
  {"xml": "<saml2p:Response ...>", "cert_pem": "...", "calls": N, "repeat": R}
and writes one JSON object:
  {"name_id": "...", "signed": "Assertion", "per_call_us": [R figures], "best_us": ..., "median_us": ...}

Each figure is the mean of N calls of `XMLVerifier().verify(...)` on the Response's bytes (what a
Python SP gets after base64-decoding the form field), pinned to the IdP's certificate and to
RSA-SHA256 / SHA-256, as saml-sp is. The NameID is read from what signxml says it verified, so a
verification that did not happen cannot be timed.
"""

import json
import statistics
import sys
import timeit

from signxml import DigestAlgorithm, SignatureConfiguration, SignatureMethod, XMLVerifier

SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


def main():
    item = json.load(sys.stdin)
    data = item["xml"].encode()
    cert = item["cert_pem"]
    config = SignatureConfiguration(
        require_x509=True,
        signature_methods=[SignatureMethod.RSA_SHA256],
        digest_algorithms=[DigestAlgorithm.SHA256],
    )

    def verify():
        return XMLVerifier().verify(data, x509_cert=cert, expect_config=config, id_attribute="ID")

    result = verify()
    signed = result.signed_xml
    name_id = signed.find(".//{%s}NameID" % SAML)
    calls, repeat = item.get("calls", 200), item.get("repeat", 5)
    for _ in range(20):  # warm-up
        verify()
    per_call = [t / calls * 1e6 for t in timeit.repeat(verify, number=calls, repeat=repeat)]
    json.dump(
        {
            "name_id": "".join(name_id.itertext()) if name_id is not None else None,
            "signed": signed.tag.split("}")[-1],
            "per_call_us": per_call,
            "best_us": min(per_call),
            "median_us": statistics.median(per_call),
        },
        sys.stdout,
    )


main()
