"""Times the official client's (duo-client) v2 authentication-log walk against the sandbox.

duo-client's Admin.get_authentication_log(api_version=2, ...) returns one page; walking a window
is the caller's loop, as Duo's documentation and duo-client's own examples write it: pass the
page's metadata.next_offset back (joined with a comma) until there is none. Page size 1000 (the
v2 maximum), oldest first as ours walks (`sort=ts:asc`), no pause between pages (the Rust side is
timed without its pacing too).

Input (stdin, JSON): the sandbox's Admin application ({integration_key, secret_key, api_host}),
"mintime"/"maxtime" (ms), "runs". Only the walks are timed. Output (stdout, JSON): every run's
seconds, the event count of each run, the first and last txid of the last run, and the peak RSS
growth of the process during the walks (KiB).
"""
import json
import sys
import time

import duo_client


def status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


cfg = json.load(sys.stdin)
host, port = cfg["api_host"].rsplit(":", 1)
admin = duo_client.Admin(cfg["integration_key"], cfg["secret_key"], host, port=int(port),
                         ca_certs="HTTP")


def walk():
    events = []
    offset = None
    while True:
        kwargs = {"mintime": cfg["mintime"], "maxtime": cfg["maxtime"], "limit": "1000",
                  "sort": "ts:asc"}
        if offset:
            kwargs["next_offset"] = ",".join(offset)
        page = admin.get_authentication_log(api_version=2, **kwargs)
        events.extend(page["authlogs"])
        offset = page["metadata"].get("next_offset")
        if not offset:
            return events


rss_before = status_kib("VmRSS")
times, counts, events = [], [], []
for _ in range(int(cfg.get("runs", 3))):
    events = None
    started = time.perf_counter()
    events = walk()
    times.append(time.perf_counter() - started)
    counts.append(len(events))
hwm = status_kib("VmHWM")
print(json.dumps({
    "seconds": times,
    "counts": counts,
    "first_txid": events[0]["txid"] if events else None,
    "last_txid": events[-1]["txid"] if events else None,
    "peak_rss_growth_kib": (hwm - rss_before) if hwm is not None and rss_before else None,
}))
