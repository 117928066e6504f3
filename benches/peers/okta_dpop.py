"""Times the official Okta Python SDK (okta 3.4.6) making the DPoP proof of benches/okta_dpop.rs.

Run: target/peers/venv/bin/python benches/peers/okta_dpop.py

It times `okta.dpop.DPoPProofGenerator.generate_proof_jwt` for the same request (GET on a paged
group-members URL, with the access token bound via `ath` and a server nonce). The SDK's proofs are
RS256 with an RSA-3072 key it generates (it has no EC option), and PyJWT re-imports the exported
PEM on every call, so for context it also times, in the same process:
  * `cryptography`'s raw RSA-3072 PKCS#1 v1.5 SHA-256 signature over a same-size message
    (the SDK's floor), and
  * `cryptography`'s raw P-256 ECDSA signature over a same-size message (our floor, in Python).
It also times the SDK's client assertion (`okta.jwt.JWT.create_token`) with the RSA-2048 fixture
key, for comparison with `okta_assertion_rs256/client_assertion_rsa2048`.
Prints JSON (microseconds per call, best of 3 repeats). Each SDK call re-loads the private key
from PEM (OpenSSL 3 validates RSA keys on load), which is where most of its time goes.
"""
import json
import logging
import os
import timeit

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from okta.dpop import DPoPProofGenerator
from okta.jwt import JWT

logging.disable(logging.CRITICAL)

URL = ("https://dev-123456.okta.com/api/v1/groups/00g1a2b3c4d5e6f7g8h9/users"
       "?limit=200&after=00u1a2b3c4d5e6f7g8h9")
ACCESS_TOKEN = (
    "eyJraWQiOiJxNGdVZ0x1NHpMWHpVUmVqd3ctc0lxT0pLTUl3R0lMU0JYbWdVQjNfQ0g0IiwiYWxnIjoiUlMyNTYifQ"
    ".eyJ2ZXIiOjEsImp0aSI6IkFULmV4YW1wbGUiLCJpc3MiOiJodHRwczovL2Rldi0xMjM0NTYub2t0YS5jb20iLCJhdWQ"
    "iOiJodHRwczovL2Rldi0xMjM0NTYub2t0YS5jb20iLCJzY3AiOlsib2t0YS5ncm91cHMucmVhZCJdfQ.c2lnbmF0dXJl"
)
NONCE = "eyJ7S_zG.eyJH0-Z.HX4w-7v"
HERE = os.path.dirname(os.path.abspath(__file__))
RSA_PEM = os.path.join(HERE, "..", "..", "okta-client", "tests", "fixtures", "keys", "rsa2048.pkcs8.pem")


def best_per_call(fn, number, repeat=3):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main():
    gen = DPoPProofGenerator({})
    proof = lambda: gen.generate_proof_jwt("GET", URL, access_token=ACCESS_TOKEN, nonce=NONCE)
    sample = proof()
    signing_input = sample.rsplit(".", 1)[0].encode()

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    raw_rsa = lambda: rsa_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    raw_ec = lambda: ec_key.sign(signing_input, ec.ECDSA(hashes.SHA256()))

    with open(RSA_PEM) as f:
        pem = f.read()
    assertion = lambda: JWT.create_token("https://dev-123456.okta.com", "0oa1a2b3c4d5e6f7g8h9", pem, kid="key-1")

    results = {
        "okta_sdk_dpop_proof_rs256_rsa3072_us": best_per_call(proof, 20) * 1e6,
        "python_raw_rsa3072_pkcs1v15_sign_us": best_per_call(raw_rsa, 200) * 1e6,
        "python_raw_p256_ecdsa_sign_us": best_per_call(raw_ec, 2000) * 1e6,
        "okta_sdk_client_assertion_rsa2048_us": best_per_call(assertion, 10) * 1e6,
        "proof_bytes": len(sample),
        "signing_input_bytes": len(signing_input),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
