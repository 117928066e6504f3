"""Differential peer for duo-auth's Universal Prompt client (PyPI duo-universal 2.3.1 + PyJWT).

Reads one JSON object from stdin:
  {client_id, client_secret, api_host, redirect_uri, username, state, nonce (or null),
   our_url, our_assertion, assertion_audience}
and prints one JSON object: the query parameters and the decoded request-JWT claims of
duo-universal's own authorize URL for the same inputs ("theirs") and of ours ("ours"), and the
claims of our client assertion as PyJWT decodes them ("assertion") -- or {"error": ...}.
Every JWT is decoded with the client secret, HS512 only, so a bad signature fails here.
"""
import json
import warnings
import sys
import traceback
from urllib.parse import parse_qs, urlsplit

import jwt
from duo_universal.client import Client


def describe(url, secret, audience):
    parts = urlsplit(url)
    query = {k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    request = query["request"][0]
    header = jwt.get_unverified_header(request)
    claims = jwt.decode(request, secret, algorithms=["HS512"], audience=audience)
    return {
        "endpoint": "{}://{}{}".format(parts.scheme, parts.netloc, parts.path),
        "query": query,
        "header": header,
        "claims": claims,
    }


def main():
    warnings.simplefilter("ignore")  # PyJWT warns that 40-byte HMAC keys are short
    cfg = json.load(sys.stdin)
    out = {}
    try:
        client = Client(cfg["client_id"], cfg["client_secret"], cfg["api_host"], cfg["redirect_uri"])
        theirs = client.create_auth_url(cfg["username"], cfg["state"], nonce=cfg.get("nonce"))
        audience = "https://{}".format(cfg["api_host"])
        out["theirs"] = describe(theirs, cfg["client_secret"], audience)
        out["ours"] = describe(cfg["our_url"], cfg["client_secret"], audience)
        out["assertion"] = jwt.decode(
            cfg["our_assertion"],
            cfg["client_secret"],
            algorithms=["HS512"],
            audience=cfg["assertion_audience"],
            options={"require": ["exp", "iss", "sub", "aud", "jti"]},
        )
        # duo-universal's own client assertion, for the same shape of claims.
        out["their_assertion"] = client._create_jwt_args(cfg["assertion_audience"])
    except Exception as e:  # reported, never raised: the Rust side prints it
        out["error"] = "{}: {}\n{}".format(type(e).__name__, e, traceback.format_exc())
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
