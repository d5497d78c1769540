#!/usr/bin/env python3
"""A tiny webhook receiver for the quickstart: prints each delivery and
checks its Pulumi-Webhook-Signature with the shared secret."""
import hashlib
import hmac
import http.server
import json
import sys

SECRET = sys.argv[2].encode() if len(sys.argv) > 2 else b""


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        expected = hmac.new(SECRET, body, hashlib.sha256).hexdigest()
        got = self.headers.get("Pulumi-Webhook-Signature", "")
        verdict = "valid" if hmac.compare_digest(expected, got) else "INVALID"
        print(f"receiver: {self.headers.get('Pulumi-Webhook-Kind')} "
              f"{self.headers.get('Pulumi-Webhook-Id')} signature {verdict}")
        print("receiver: body " + json.dumps(json.loads(body), indent=2))
        sys.stdout.flush()
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
server.serve_forever()
