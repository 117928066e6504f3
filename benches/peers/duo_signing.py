"""Times Duo's official Python client (duo-client) signing the requests of benches/duo_signing.rs.

Run: target/peers/venv/bin/python benches/peers/duo_signing.py
It times `duo_client.client.sign` (canonicalize + HMAC + base64, what our `Signer::sign` does)
and, as a floor for Python, a bare hmac-sha512 over the same canonical bytes.
"""
import hashlib
import hmac
import json
import timeit

from duo_client import client as dc

IKEY = "DIWJ8X6AEYOR5OMC6TQ1"
SKEY = "Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep"
HOST = "api-xxxxxxxx.duosecurity.com"
DATE = "Tue, 21 Aug 2012 17:29:18 -0000"

GET_PARAMS = dc.normalize_params({
    "limit": "300",
    "offset": "600",
    "username": "jane.doe@example.com",
    "email": "jane.doe@example.com",
    "user_id_list": '["DUJZ2U4L80HT45MQ4EOQ","DU2RW8J7P3M1A9XW5T7Q"]',
})
USERS = [{"username": f"user{i:03}@example.com", "realname": f"Example User {i}", "status": "active"}
         for i in range(12)]


def sign_get():
    return dc.sign(IKEY, SKEY, "GET", HOST, "/admin/v1/users", DATE, 5, GET_PARAMS, body="",
                   digestmod=hashlib.sha512)


def sign_post():
    body = dc.Client.canon_json({"users": USERS})
    return dc.sign(IKEY, SKEY, "POST", HOST, "/admin/v1/users/bulk_create", DATE, 5, {},
                   body=body, digestmod=hashlib.sha512)


def best_per_call(fn, number=20000, repeat=5):
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number


def main():
    canonical = dc.canonicalize("GET", HOST, "/admin/v1/users", GET_PARAMS, DATE, 5, body="")
    raw = lambda: hmac.new(SKEY.encode(), canonical.encode(), hashlib.sha512).hexdigest()
    results = {
        "duo_client_sign_v5_admin_get_us": best_per_call(sign_get) * 1e6,
        "duo_client_sign_v5_json_post_1k_us": best_per_call(sign_post) * 1e6,
        "python_raw_hmac_sha512_us": best_per_call(raw) * 1e6,
        "canonical_bytes": len(canonical),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
