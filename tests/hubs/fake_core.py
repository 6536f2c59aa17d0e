#!/usr/bin/python3
"""A stand-in for mlosd's /models/register used by axon's tests: records the JSON body it gets.

Usage: fake_core.py --port P --capture FILE
  POST /models/register          200 {"status": "registered"}; the body is written to FILE
  POST /refuse/models/register   409 {"error": "model already registered"}
"""
import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--capture", required=True)
    args = p.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def reply(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            data = self.rfile.read(n)
            if self.path == "/refuse/models/register":
                return self.reply(409, {"error": "model already registered"})
            if self.path != "/models/register":
                return self.reply(404, {"error": "not found"})
            if self.headers.get("Content-Type") != "application/json":
                return self.reply(400, {"error": "Content-Type must be application/json"})
            try:
                json.loads(data)
            except ValueError as e:
                return self.reply(400, {"error": "malformed JSON: %s" % e})
            with open(args.capture, "wb") as f:
                f.write(data)
            self.reply(200, {"status": "registered"})

        def do_GET(self):
            self.reply(200, {"status": "healthy"})

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
