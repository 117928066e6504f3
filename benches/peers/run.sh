#!/usr/bin/env bash
# Runs the official Python clients on the same work as our criterion benches, on this machine,
# so their figures can be put next to `cargo bench`'s (benches/README.md):
#   duo_signing.py          duo-client signing the requests of benches/duo_signing.rs
#   okta_dpop.py            the okta SDK's DPoP proof and client assertion (benches/okta_dpop.rs)
#   duo_admin_get_users.py  duo-client Admin.get_users() on a 10,000-user sandbox account
#                           (benches/duo_admin_import.rs runs it too, interleaved with ours)
# (saml_verify.py, signxml verifying a SAML Response, is run by benches/saml_verify.rs itself,
# interleaved with ours: it needs the Response the bench makes.)
# Each prints JSON. Needs the peers venv (bash .ci/install-peers) and a Rust toolchain for the
# sandbox binary.
set -euo pipefail
cd "$(dirname "$0")/../.."
py=${PEERS_PYTHON:-target/peers/venv/bin/python}
if [ ! -x "$py" ]; then
  bash .ci/install-peers
fi

echo "== duo-client: v5 request signing"
"$py" benches/peers/duo_signing.py

echo "== okta SDK: DPoP proof and client assertion"
"$py" benches/peers/okta_dpop.py

echo "== duo-client: Admin.get_users() of 10,000 users from the sandbox"
cargo build --quiet --release -p idp-sandbox
creds=$(mktemp)
"${CARGO_TARGET_DIR:-target}/release/idp-sandbox" --users 10000 --duo-users 10000 --json >"$creds" &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; rm -f "$creds"' EXIT
for _ in $(seq 100); do
  # The credentials are printed once the servers listen.
  if "$py" -c 'import json,sys; json.load(open(sys.argv[1]))' "$creds" 2>/dev/null; then break; fi
  sleep 0.1
done
for limit in 300 null; do
  "$py" -c '
import json, sys
app = json.load(open(sys.argv[1]))["duo"]["admin"]
app.update(runs=3, paging_limit=json.loads(sys.argv[2]))
print(json.dumps(app))' "$creds" "$limit" |
    "$py" benches/peers/duo_admin_get_users.py |
    "$py" -c '
import json, sys
r = json.load(sys.stdin)
r.pop("ids", None)
r["users_per_s"] = round(r["counts"][-1] / r["best"])
print(json.dumps(r))'
done
