"""Drive the official Okta Python SDK (PyPI `okta`) against the sandbox.

Reads one JSON object on stdin:
  {"org_url": "...", "mode": "PrivateKey" | "SSWS",
   "token": "...",                                   # SSWS mode
   "client_id": "...", "private_key": "...", "kid": "...", "scopes": [...], "dpop": bool,
   "page_limit": 7}
Lists every group and every group's members, all pages, with the SDK's own pagination helper,
and prints {"groups": [ids], "members": {group id: [user ids]}, "token_type": "...",
"logins": {user id: login}} on stdout. Any SDK error exits non-zero with the error on stderr.
"""

import asyncio
import json
import os
import sys

from okta.client import Client as OktaClient
from okta.pagination import paginate_all


async def collect(method, limit, **kwargs):
    items = []
    async for item in paginate_all(method, limit=limit, **kwargs):
        items.append(item)
    return items


async def main():
    cfg = json.load(sys.stdin)
    # The sandbox listens on plain HTTP. The SDK reads `testing.testingDisableHttpsCheck` from
    # its YAML or environment only (the Client() dict is all `client.*`).
    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"
    config = {
        "orgUrl": cfg["org_url"],
        "authorizationMode": cfg["mode"],
        "cache": {"enabled": False},
        "rateLimit": {"maxRetries": 1},
    }
    if cfg["mode"] == "SSWS":
        config["token"] = cfg["token"]
    else:
        config.update(
            {
                "clientId": cfg["client_id"],
                "scopes": cfg["scopes"],
                "privateKey": cfg["private_key"],
                "kid": cfg["kid"],
                "dpopEnabled": cfg["dpop"],
            }
        )
    limit = cfg.get("page_limit", 200)
    async with OktaClient(config) as client:
        # First call alone: surfaces token/auth errors with the SDK's own message.
        first, _, err = await client.list_groups(limit=limit)
        if err is not None:
            print(f"list_groups failed: {err}", file=sys.stderr)
            sys.exit(2)
        groups = await collect(client.list_groups, limit)
        members = {}
        logins = {}
        for group in groups:
            users = await collect(client.list_group_users, limit, group_id=group.id)
            members[group.id] = [u.id for u in users]
            for u in users:
                logins[u.id] = u.profile.login
        token_type = None
        if cfg["mode"] != "SSWS":
            _, token_type = client._request_executor._oauth.get_current_token()
    print(
        json.dumps(
            {
                "groups": [g.id for g in groups],
                "members": members,
                "logins": logins,
                "token_type": token_type,
            }
        )
    )


asyncio.run(main())
