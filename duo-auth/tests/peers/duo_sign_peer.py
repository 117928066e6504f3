"""Signs requests with Duo's official Python client (duo-client), for differential tests.

Reads one JSON case per line on stdin and writes one JSON result per line on stdout. Each case
goes through the client's real `Client.api_call` path (parameter routing, canon_json, sign), with
only the network (`_make_request`) and the clock (`email.utils.formatdate`) replaced, and with
`canonicalize` wrapped so the canonical string it signs can be reported.
"""
import email.utils
import hashlib
import json
import sys
import urllib.parse

import duo_client.client as dc

_real_formatdate = email.utils.formatdate
_state = {}


def _fixed_formatdate(*_args, **_kwargs):
    return _state["date"]


def _capture_canonicalize(*args, **kwargs):
    text = _real_canonicalize(*args, **kwargs)
    _state["canonical"] = text
    return text


_real_canonicalize = dc.canonicalize
dc.canonicalize = _capture_canonicalize
dc.email.utils.formatdate = _fixed_formatdate


def _multiset(qs):
    return sorted(urllib.parse.parse_qsl(qs, keep_blank_values=True, strict_parsing=False))


def run(case):
    version = case["version"]
    sig_version = 2 if version.startswith("v2") else 5
    digestmod = hashlib.sha1 if version == "v2sha1" else hashlib.sha512
    client = dc.Client(case["ikey"], case["skey"], case["host"], port=case.get("port"),
                       sig_version=sig_version, digestmod=digestmod)
    if case.get("json") is not None:
        params = case["json"]
    else:
        params = {}
        for k, v in case["params"]:
            if k in params:
                if isinstance(params[k], list):
                    params[k].append(v)
                else:
                    params[k] = [params[k], v]
            else:
                params[k] = v
    headers = {n: v for n, v in case["headers"]}
    captured = {}

    def fake_request(method, uri, body, hdrs):
        captured.update(method=method, uri=uri, body=body, headers=hdrs)
        return (None, b"")

    client._make_request = fake_request
    _state["date"] = case["date"]
    client.api_call(case["method"], case["path"], params, additional_headers=headers)
    hdrs = {k.decode(): v.decode() for k, v in captured["headers"].items()}
    uri = captured["uri"]
    query = uri.split("?", 1)[1] if "?" in uri else ""
    body = captured["body"]
    if isinstance(body, bytes):
        body = body.decode("utf-8")
    result = {
        "canonical": _state["canonical"],
        "authorization": hdrs["Authorization"],
        "date_header": hdrs.get("Date"),
        "content_type": hdrs.get("Content-type"),
        "formatdate": _real_formatdate(case["epoch"]),
        # Python url-encodes with '+' for spaces where we send the canonical %20 form: compare
        # what a server decodes, not the bytes.
        "query_same": _multiset(query) == _multiset(case["our_query"]),
        "body": body,
        "extra_headers": sorted([k, v] for k, v in hdrs.items() if k.lower().startswith("x-duo-")),
    }
    if sig_version == 2 and body is not None:
        result["form_same"] = _multiset(body) == _multiset(case["our_body"] or "")
    return result


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            out = run(json.loads(line))
        except Exception as exc:  # report, don't die: the Rust side shows the failing case
            out = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
