"""Lists every Duo user with the official client (duo-client) and prints their ids in order."""
import json
import sys

import duo_client

cfg = json.load(sys.stdin)
host, port = cfg["api_host"].rsplit(":", 1)
admin = duo_client.Admin(cfg["integration_key"], cfg["secret_key"], host, port=int(port),
                         ca_certs="HTTP")
print(json.dumps([u["user_id"] for u in admin.get_users()]))
