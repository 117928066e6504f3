"""Times the official client's (duo-client) Admin.get_users() against the sandbox.

Input (stdin, JSON): the sandbox's Admin application ({integration_key, secret_key, api_host}),
plus "runs" (how many timed calls, default 3) and "paging_limit" (the page size the client asks
for; null keeps the client's own default, 100).

Only the get_users() call is timed (time.perf_counter around it): interpreter start, imports and
client construction are outside. Output (stdout, JSON): the page size used, every run's seconds,
the best, the user count of each run, the ids of the last run (in order, for a check against
ours) and the peak RSS growth of the process during the calls (KiB, from /proc: VmHWM − VmRSS
before the first call).
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
kwargs = {}
if cfg.get("paging_limit"):
    kwargs["paging_limit"] = int(cfg["paging_limit"])
admin = duo_client.Admin(cfg["integration_key"], cfg["secret_key"], host, port=int(port),
                         ca_certs="HTTP", **kwargs)
runs = int(cfg.get("runs", 3))
rss_before = status_kib("VmRSS")
times = []
counts = []
users = []
for _ in range(runs):
    users = None  # the previous run's list is freed before the next call, as in a fresh process
    started = time.perf_counter()
    users = admin.get_users()
    times.append(time.perf_counter() - started)
    counts.append(len(users))
hwm = status_kib("VmHWM")
print(json.dumps({
    "paging_limit": admin.paging_limit,
    "seconds": times,
    "best": min(times),
    "counts": counts,
    "ids": [u["user_id"] for u in users],
    "peak_rss_growth_kib": (hwm - rss_before) if hwm is not None and rss_before else None,
}))
