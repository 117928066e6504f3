"""Times the official Okta Python SDK (okta 3.4.6) listing the members of several groups, one
group after the other, against the sandbox.

How the SDK's users page a group's members in 3.4.6: the README still shows
`users, resp, err = await client.list_group_users(...)` then `while resp.has_next(): users, err =
await resp.next()`, but since 3.0 the `resp` every API method returns is a pydantic `ApiResponse`
without `has_next()`/`next()` (okta/okta-sdk-python#478), and the `paginate_all()` helper of its
pagination guide needs `*_with_http_info` methods that 3.4.x does not have (#540). What works, and
what the guide's "manual control" shows, is the SDK's own `okta.pagination.PaginationHelper`: take
the `after` cursor out of the response's `Link: rel="next"` header and call the method again with
`after=` and the same `limit`. So the SDK does not follow the `next` URL: it rebuilds the request
from its own parameters. (`ApiResponse.headers` is a plain dict that keeps only the last `Link`
header; that works because Okta, like the sandbox, sends `rel="self"` before `rel="next"`.) Every page comes back as typed `okta.models.User` objects (pydantic), and
the script keeps them all (per group, per run), as a caller collecting members would.

Auth: the same as the Rust side, OAuth 2.0 client credentials with `private_key_jwt` and DPoP:
`authorizationMode: "PrivateKey"`, `clientId`, `scopes`, `privateKey` (the app's private JWK, RSA:
the SDK signs its client assertion with RS256 only), `kid`, `dpopEnabled: True` -- the sandbox's
DPoP-bound RSA app (`okta.dpop_rsa` in `idp-sandbox --json`). The SDK's DPoP proofs are RS256 with
an RSA-3072 key it generates, one fresh proof per request; the sandbox accepts them, and its
`use_dpop_nonce` answers (token endpoint, and the resource API when it demands a nonce) are retried
by the SDK itself. The script checks that the token the SDK got is a DPoP token. `"auth": "ssws"`
(with `api_token`) runs the same listing with the org's API token instead, for comparison.

Config switches: plain-HTTP org URLs (the sandbox) need the SDK's testing switch
`testing.testingDisableHttpsCheck`; the Client constructor files every key it is given under
`client`, so the switch is set the way the SDK reads it, through its environment variable
`OKTA_TESTING_TESTINGDISABLEHTTPSCHECK=true` (only when the org URL is `http://`). Everything else
is the SDK's default: its cache is off by default (and it never caches list responses anyway), the
429 retry (`rateLimit.maxRetries` 2, waiting for `X-Rate-Limit-Reset`) is left on -- so the
sandbox's member-page budget must be raised for repeated runs, or a 429's wait is timed. The client
is used as `async with OktaClient(config)`, the SDK's documented way to reuse one aiohttp session
(without it, every request opens a new session and connection).

Input (stdin, JSON):
  org_url     the sandbox's Okta org URL (`okta.org_url`)
  group_ids   the groups to list, in order (each group listed completely before the next)
  limit       page size (`limit=`), default 1000 (the endpoint's documented default)
  runs        timed runs, default 3
  auth        "dpop" (default when `app` is given) or "ssws"
  app         for dpop: the sandbox's service app as printed (`okta.dpop_rsa`); read: `client_id`,
              `key.kid`, `key.private_jwk` (or `key.private_pem`)
  scopes      for dpop: the scopes to ask for, default ["okta.groups.read", "okta.users.read"]
  api_token   for ssws: the org's API token (`okta.api_token`)
  calibrate   true: time the same runs with nothing in them (no client, no request): the harness
              alone

Only the listings are timed (time.perf_counter around each run): interpreter start, imports, client
construction (the DPoP key generation) and one untimed warm-up request (a 1-member page of the
first group: the access token, the server nonces, the connection) are outside. Output (stdout,
JSON): `auth` used, `limit`, every run's `seconds`, the `best`, `counts` (members per run, summed
over the groups), `pages` (requests per run), `group_counts` (members of each group in the last
run, in `group_ids` order), `warmup_seconds`, and `peak_rss_growth_kib` (VmHWM - VmRSS before the
first run, from /proc/self/status).
"""
import asyncio
import json
import os
import sys
import time

DEFAULT_SCOPES = ["okta.groups.read", "okta.users.read"]


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


cfg = json.load(sys.stdin)
org_url = cfg.get("org_url", "").rstrip("/")
group_ids = list(cfg.get("group_ids") or [])
limit = int(cfg.get("limit") or 1000)
runs = int(cfg.get("runs", 3))
calibrate = bool(cfg.get("calibrate", False))
app = cfg.get("app")
auth = None if calibrate else (cfg.get("auth") or ("dpop" if app else "ssws"))

if org_url.startswith("http://"):
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"

from okta.client import Client as OktaClient  # noqa: E402
from okta.pagination import PaginationHelper  # noqa: E402


def client_config():
    if auth == "dpop":
        key = app["key"]
        return {
            "orgUrl": org_url,
            "authorizationMode": "PrivateKey",
            "clientId": app["client_id"],
            "scopes": list(cfg.get("scopes") or DEFAULT_SCOPES),
            "privateKey": key.get("private_jwk") or key["private_pem"],
            "kid": key["kid"],
            "dpopEnabled": True,
        }
    if auth == "ssws":
        return {"orgUrl": org_url, "authorizationMode": "SSWS", "token": cfg["api_token"]}
    raise SystemExit(f"unknown auth {auth!r} (dpop or ssws)")


def check(err, what):
    if err is not None:
        raise SystemExit(f"okta SDK error in {what}: {err}")


async def list_members(client, group_id):
    """All members of one group, page by page, as the SDK's users write it in 3.4.6."""
    members = []
    pages = 1
    users, resp, err = await client.list_group_users(group_id, limit=limit)
    check(err, f"list_group_users({group_id})")
    members.extend(users or [])
    after = PaginationHelper.extract_next_cursor(resp.headers)
    while after:
        users, resp, err = await client.list_group_users(group_id, after=after, limit=limit)
        check(err, f"list_group_users({group_id}, after=...)")
        pages += 1
        members.extend(users or [])
        after = PaginationHelper.extract_next_cursor(resp.headers)
    return members, pages


async def timed_runs(client):
    rss_before = status_kib("VmRSS")
    times, counts, pages = [], [], []
    groups = []
    for _ in range(runs):
        groups = None  # the previous run's members are freed before the next run
        started = time.perf_counter()
        groups, n_pages = [], 0
        if client is not None:
            for group_id in group_ids:
                members, p = await list_members(client, group_id)
                groups.append(members)
                n_pages += p
        times.append(time.perf_counter() - started)
        counts.append(sum(len(m) for m in groups))
        pages.append(n_pages)
    hwm = status_kib("VmHWM")
    return {
        "seconds": times,
        "best": min(times) if times else None,
        "counts": counts,
        "pages": pages,
        "group_counts": [len(m) for m in groups],
        "peak_rss_growth_kib": (hwm - rss_before) if hwm is not None and rss_before else None,
    }


async def main():
    out = {"auth": auth, "limit": limit}
    if calibrate:
        out.update(warmup_seconds=0.0, **await timed_runs(None))
        return out
    client = OktaClient(client_config())
    async with client:
        started = time.perf_counter()
        users, _, err = await client.list_group_users(group_ids[0], limit=1)
        check(err, "warm-up")
        out["warmup_seconds"] = time.perf_counter() - started
        if auth == "dpop":
            _, token_type = client.get_request_executor()._oauth.get_current_token()
            if token_type != "DPoP":
                raise SystemExit(f"the SDK got a {token_type} token, not DPoP")
        out.update(await timed_runs(client))
    return out


print(json.dumps(asyncio.run(main())))
