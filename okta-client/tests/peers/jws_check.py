"""Differential peer for okta-client: verifies JWS produced by the Rust crate with jwcrypto.

Reads JSON lines on stdin (all of them, then answers), one object per token:

  {"id": 1, "kind": "dpop", "jws": "...", "expect": {"htm": "GET", "htu": "...", "iat": 1,
   "nonce": null, "access_token": null}, "valid": true}
  {"id": 2, "kind": "assertion", "jws": "...", "key_pem": "-----BEGIN ...",
   "expect": {"alg": "RS256", "kid": null, "client_id": "...", "aud": "...", "iat": 1}, "valid": true}

and writes one JSON line per input: {"id": 1, "ok": true, "errors": [], "thumbprint": "..."}.
"ok" means: the signature verified (or, for "valid": false, was rejected) and every RFC 7523 /
RFC 9449 requirement checked below held. Verification is jwcrypto's, keys come from the proof's
own jwk header (DPoP, as a server does) or from the PEM given (assertions).
"""

import base64
import hashlib
import json
import sys

from jwcrypto import jwk, jws

PUBLIC_MEMBERS = {"EC": {"kty", "crv", "x", "y"}, "RSA": {"kty", "n", "e"}}
ALGS = {"RS256", "RS384", "RS512", "ES256", "ES384"}


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def parts(token):
    h, p, s = token.split(".")
    return json.loads(b64d(h)), json.loads(b64d(p)), b64d(s)


def verified(token, key, alg):
    obj = jws.JWS()
    obj.deserialize(token)
    try:
        obj.verify(key, alg=alg)
        return True
    except jws.InvalidJWSSignature:
        return False


def check_dpop(item, errors, out):
    header, claims, sig = parts(item["jws"])
    exp = item["expect"]
    if header.get("typ") != "dpop+jwt":
        errors.append("typ is %r" % header.get("typ"))
    alg = header.get("alg")
    if alg not in ALGS:
        errors.append("alg %r" % alg)
    members = set(header.get("jwk", {}).keys())
    kty = header.get("jwk", {}).get("kty")
    if members != PUBLIC_MEMBERS.get(kty):
        errors.append("jwk members %r" % sorted(members))
    key = jwk.JWK(**header["jwk"])
    if key.has_private:
        errors.append("jwk has private members")
    if kty == "EC":
        size = {"P-256": 32, "P-384": 48}[header["jwk"]["crv"]]
        for c in ("x", "y"):
            if len(b64d(header["jwk"][c])) != size:
                errors.append("%s is not %d bytes" % (c, size))
        if len(sig) != 2 * size:
            errors.append("signature is %d bytes, not R||S" % len(sig))
    out["thumbprint"] = key.thumbprint()
    out["verified"] = verified(item["jws"], key, alg)
    jti = claims.get("jti")
    if not isinstance(jti, str) or len(b64d(jti)) < 12:
        errors.append("jti %r has fewer than 96 bits" % jti)
    if claims.get("htm") != exp["htm"]:
        errors.append("htm %r" % claims.get("htm"))
    if claims.get("htu") != exp["htu"]:
        errors.append("htu %r != %r" % (claims.get("htu"), exp["htu"]))
    if "?" in claims.get("htu", "") or "#" in claims.get("htu", ""):
        errors.append("htu has a query or fragment")
    if claims.get("iat") != exp["iat"]:
        errors.append("iat %r" % claims.get("iat"))
    if exp.get("nonce") is None:
        if "nonce" in claims:
            errors.append("unexpected nonce")
    elif claims.get("nonce") != exp["nonce"]:
        errors.append("nonce %r" % claims.get("nonce"))
    if exp.get("access_token") is None:
        if "ath" in claims:
            errors.append("unexpected ath")
    else:
        want = b64e(hashlib.sha256(exp["access_token"].encode("ascii")).digest())
        if claims.get("ath") != want:
            errors.append("ath %r != %r" % (claims.get("ath"), want))
    return jti


def check_assertion(item, errors, out):
    header, claims, sig = parts(item["jws"])
    exp = item["expect"]
    key = jwk.JWK.from_pem(item["key_pem"].encode())
    out["thumbprint"] = key.thumbprint()
    if header.get("alg") != exp["alg"]:
        errors.append("alg %r" % header.get("alg"))
    if exp.get("kid") is not None and header.get("kid") != exp["kid"]:
        errors.append("kid %r" % header.get("kid"))
    if exp.get("kid") is None and "kid" in header:
        errors.append("unexpected kid")
    if header.get("typ") not in (None, "JWT"):
        errors.append("typ %r" % header.get("typ"))
    out["verified"] = verified(item["jws"], key, header.get("alg"))
    cid = exp["client_id"]
    if claims.get("iss") != cid or claims.get("sub") != cid:
        errors.append("iss/sub %r/%r" % (claims.get("iss"), claims.get("sub")))
    if claims.get("aud") != exp["aud"]:
        errors.append("aud %r" % claims.get("aud"))
    if claims.get("iat") != exp["iat"]:
        errors.append("iat %r" % claims.get("iat"))
    if claims.get("exp") != exp["iat"] + 300:
        errors.append("exp %r" % claims.get("exp"))
    jti = claims.get("jti")
    if not isinstance(jti, str) or len(b64d(jti)) < 16:
        errors.append("jti %r has fewer than 128 bits" % jti)
    return jti


def main():
    items = [json.loads(line) for line in sys.stdin.read().splitlines() if line.strip()]
    seen = set()
    for item in items:
        errors, out = [], {"id": item["id"]}
        try:
            check = check_dpop if item["kind"] == "dpop" else check_assertion
            jti = check(item, errors, out)
            if item.get("valid", True):
                if not out.get("verified"):
                    errors.append("signature does not verify")
                if jti in seen:
                    errors.append("jti %r reused" % jti)
                seen.add(jti)
            elif out.get("verified"):
                errors.append("tampered token verified")
        except Exception as e:  # report, never crash the batch
            errors.append("%s: %s" % (type(e).__name__, e))
        out["errors"] = errors
        out["ok"] = not errors
        sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
