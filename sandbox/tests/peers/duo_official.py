"""Drives Duo's official Python clients against the sandbox (the measure of its fidelity).

Reads a JSON config on stdin, runs duo-client (Auth API and Admin API) and duo-universal (health
check, authorize URL, approving in the sandbox's prompt page, code exchange), and prints one JSON
object with what each call returned. Any exception is reported, not raised, so the Rust test can
show it.
"""
import json
import re
import sys
import traceback
import urllib.parse

import duo_client
import duo_universal
import requests


def host_port(hostport):
    host, port = hostport.rsplit(":", 1)
    return host, int(port)


def run_duo_client(cfg, out):
    host, port = host_port(cfg["auth"]["api_host"])
    auth = duo_client.Auth(cfg["auth"]["integration_key"], cfg["auth"]["secret_key"], host,
                           port=port, ca_certs="HTTP")
    out["ping"] = auth.ping()
    out["check"] = auth.check()
    out["preauth"] = auth.preauth(username=cfg["username"])
    out["auth_push"] = auth.auth(factor="push", username=cfg["username"], device="auto")
    out["auth_passcode"] = auth.auth(factor="passcode", username=cfg["username"],
                                     passcode=cfg["passcode"])
    # Signed with v2 as well (the Auth API still accepts it).
    legacy = duo_client.Auth(cfg["auth"]["integration_key"], cfg["auth"]["secret_key"], host,
                             port=port, ca_certs="HTTP", sig_version=2)
    out["check_v2"] = legacy.check()

    host, port = host_port(cfg["admin"]["api_host"])
    admin = duo_client.Admin(cfg["admin"]["integration_key"], cfg["admin"]["secret_key"], host,
                             port=port, ca_certs="HTTP", paging_limit=cfg["paging_limit"])
    users = list(admin.get_users())
    out["admin_user_ids"] = [u["user_id"] for u in users]
    out["admin_usernames"] = [u["username"] for u in users]
    # A wrong secret key must fail with Duo's 40103.
    bad = duo_client.Auth(cfg["auth"]["integration_key"], "x" * 40, host, port=port, ca_certs="HTTP")
    try:
        bad.check()
        out["bad_secret"] = "accepted"
    except RuntimeError as exc:
        data = exc.data if isinstance(exc.data, dict) else json.loads(exc.data)
        out["bad_secret"] = {"status": getattr(exc, "status", None), "data": data}


def run_duo_universal(cfg, out):
    uni = cfg["universal"]
    client = duo_universal.Client(uni["client_id"], uni["client_secret"], uni["api_host"],
                                  cfg["redirect_uri"], duo_certs=cfg["ca_file"])
    out["health_check"] = client.health_check()
    for decision in ("approve", "deny"):
        state = client.generate_state()
        nonce = client.generate_state()
        url = client.create_auth_url(cfg["username"], state, nonce=nonce)
        out.setdefault("auth_urls", []).append(url)
        page = requests.get(url, verify=cfg["ca_file"])
        page.raise_for_status()
        action = re.search(r'action="([^"]+)"', page.text).group(1)
        base = "https://" + uni["api_host"]
        answer = requests.post(base + action, data={"decision": decision}, verify=cfg["ca_file"],
                               allow_redirects=False)
        location = answer.headers["Location"]
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
        assert query["state"] == [state], (query, state)
        token = client.exchange_authorization_code_for_2fa_result(query["duo_code"][0],
                                                                  cfg["username"], nonce=nonce)
        out[f"token_{decision}"] = token
        # A code is good once.
        try:
            client.exchange_authorization_code_for_2fa_result(query["duo_code"][0], cfg["username"],
                                                              nonce=nonce)
            out[f"reuse_{decision}"] = "accepted"
        except duo_universal.DuoException as exc:
            out[f"reuse_{decision}"] = str(exc)


def main():
    cfg = json.load(sys.stdin)
    out = {}
    for name, fn in (("duo_client", run_duo_client), ("duo_universal", run_duo_universal)):
        try:
            fn(cfg, out)
        except Exception:  # report to the Rust side
            out[f"{name}_error"] = traceback.format_exc()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
