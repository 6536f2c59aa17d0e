#!/usr/bin/python3
"""A fake Hugging Face hub for tests (Python 3 standard library only).

Usage: fake_hf_hub.py --port P --repos DIR [--token T] [--cut PATH:N[:always]]
                      [--ignore-range] [--redirect cross|same] [--slow BYTES_PER_S]

Repository layout under DIR:
  DIR/<org>/<name>/refs/<branch>      text file holding the commit sha (branch "main", or "pr/1")
  DIR/<org>/<name>/<sha>/<files...>   the files at that commit (sha = 40 hex)
  DIR/<org>/<name>/.gated             optional: gated repo ("manual" or "auto" inside; default
                                      manual). Files need `authorization: Bearer <--token>`.
  DIR/<org>/<name>/.private           optional: without the right token the repo does not exist.
  DIR/<org>/<name>/info.json          optional: merged into the model info (cardData, tags,
                                      pipeline_tag, library_name, downloads...).
Files larger than 1 KB or ending in .onnx/.gguf/.bin/.safetensors are reported as LFS
(lfs.sha256, ETag = sha256); the others carry their git blob sha1 as blobId and ETag.

Endpoints:
  GET  /api/models/{org}/{name}[/revision/{rev}][?blobs=true]   model info
  GET  /api/models?search=q&limit=n                            search (substring of the id)
  GET|HEAD /{org}/{name}/resolve/{rev}/{path}                  file (Range: bytes=n- / n-m)
  GET|HEAD /_cdn/{org}/{name}/{sha}/{path}                     redirect target (no auth check)
  GET  /_control/log      JSON list of {method, path, host, range, authorization, status}
  POST /_control          JSON object, any of:
         {"cut": {"path": "model.bin", "after": 1000, "times": 1}}   cut the connection after
             `after` body bytes of that file (times: -1 = every time); {"cut": null} clears
         {"ignore_range": true}        answer 200 with the full body to Range requests
         {"redirect": "cross"|"same"|""}  resolve URLs answer 302 to /_cdn/...: "cross" names
             the other loopback host (localhost <-> 127.0.0.1), "same" is a relative Location
         {"slow_bps": 100000}          throttle file bodies (0 = off)
         {"fail_status": 503, "fail_times": 2}  answer resolve URLs with this status N times
         {"clear_log": true}
  GET  /_control/health   "ok"
"""

import argparse
import hashlib
import json
import os
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LFS_SUFFIXES = (".onnx", ".gguf", ".bin", ".safetensors")
HEX = set("0123456789abcdef")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.repos = os.path.abspath(args.repos)
        self.token = args.token
        self.cut = None
        if args.cut:
            parts = args.cut.split(":")
            self.cut = {"path": parts[0], "after": int(parts[1]),
                        "times": -1 if len(parts) > 2 and parts[2] == "always" else 1}
        self.ignore_range = args.ignore_range
        self.redirect = args.redirect or ""
        self.slow_bps = args.slow
        self.fail_status = 0
        self.fail_times = 0
        self.log = []
        self.hash_cache = {}

    def file_hashes(self, path):
        st = os.stat(path)
        key = (path, st.st_size, st.st_mtime_ns)
        with self.lock:
            if key in self.hash_cache:
                return self.hash_cache[key]
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1()
        sha1.update(b"blob %d\0" % st.st_size)
        with open(path, "rb") as f:
            while True:
                chunk = f.read(8 << 20)
                if not chunk:
                    break
                sha256.update(chunk)
                sha1.update(chunk)
        value = (sha256.hexdigest(), sha1.hexdigest())
        with self.lock:
            self.hash_cache[key] = value
        return value

    def take_cut(self, rel_path):
        """Returns the byte count after which to cut this body, or None."""
        with self.lock:
            c = self.cut
            if not c or c["path"] != rel_path:
                return None
            after = c["after"]
            if c["times"] > 0:
                c["times"] -= 1
                if c["times"] == 0:
                    self.cut = None
            return after


def is_lfs(rel, size):
    return size > 1024 or rel.endswith(LFS_SUFFIXES)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHFHub/1.0"
    state = None  # set in main

    def log_message(self, fmt, *args):  # quiet
        pass

    # ---- helpers -------------------------------------------------------------------------
    def record(self, status):
        if self.path.startswith("/_control"):
            return  # control traffic is not part of the log
        entry = {
            "method": self.command,
            "path": self.path,
            "host": self.headers.get("Host", ""),
            "range": self.headers.get("Range", ""),
            "authorization": self.headers.get("Authorization", ""),
            "status": status,
        }
        with self.state.lock:
            self.state.log.append(entry)

    def send_json(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_hf_error(self, status, code, message):
        extra = {"X-Error-Message": message}
        if code:
            extra["X-Error-Code"] = code
        self.send_json(status, {"error": message}, extra)

    def token_ok(self):
        want = self.state.token
        return bool(want) and self.headers.get("Authorization", "") == "Bearer " + want

    def repo_dir(self, org, name):
        if not org or not name or org.startswith(".") or name.startswith("."):
            return None
        d = os.path.join(self.state.repos, org, name)
        return d if os.path.isdir(d) else None

    def repo_access(self, org, name, for_file):
        """Returns (repo_dir, None) or (None, error-sent)."""
        repo_id = org + "/" + name
        d = self.repo_dir(org, name)
        private = d is not None and os.path.exists(os.path.join(d, ".private"))
        if d is None or (private and not self.token_ok()):
            status = 404 if self.headers.get("Authorization") else 401
            self.send_hf_error(status, "RepoNotFound", "Repository Not Found for url: " + self.path)
            return None
        gated = os.path.exists(os.path.join(d, ".gated"))
        if gated and for_file and not self.token_ok():
            if self.headers.get("Authorization"):
                self.send_hf_error(403, "GatedRepo", "Access to model %s is restricted and you "
                                   "are not in the authorized list." % repo_id)
            else:
                self.send_hf_error(401, "GatedRepo", "Access to model %s is restricted. You must "
                                   "have access to it and be authenticated to access it. Please "
                                   "log in." % repo_id)
            return None
        return d

    def resolve_rev(self, d, rev):
        if len(rev) == 40 and set(rev) <= HEX and os.path.isdir(os.path.join(d, rev)):
            return rev
        if ".." in rev.split("/"):
            return None
        ref = os.path.join(d, "refs", rev)
        if os.path.isfile(ref):
            with open(ref) as f:
                sha = f.read().strip()
            if os.path.isdir(os.path.join(d, sha)):
                return sha
        return None

    def gated_value(self, d):
        p = os.path.join(d, ".gated")
        if not os.path.exists(p):
            return False
        with open(p) as f:
            v = f.read().strip()
        return v if v in ("auto", "manual") else "manual"

    # ---- endpoints -------------------------------------------------------------------------
    def model_info(self, org, name, rev, blobs):
        d = self.repo_access(org, name, for_file=False)
        if d is None:
            return
        sha = self.resolve_rev(d, rev)
        if sha is None:
            self.send_hf_error(404, "RevisionNotFound", "Invalid rev id: " + rev)
            return
        root = os.path.join(d, sha)
        siblings = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                entry = {"rfilename": rel}
                if blobs:
                    size = os.path.getsize(full)
                    sha256, sha1 = self.state.file_hashes(full)
                    entry["size"] = size
                    if is_lfs(rel, size):
                        entry["blobId"] = hashlib.sha1(rel.encode()).hexdigest()  # pointer oid
                        entry["lfs"] = {"sha256": sha256, "size": size, "pointerSize": 134}
                    else:
                        entry["blobId"] = sha1
                siblings.append(entry)
        info = {"_id": sha[:24], "id": org + "/" + name, "modelId": org + "/" + name,
                "sha": sha, "private": os.path.exists(os.path.join(d, ".private")),
                "gated": self.gated_value(d), "disabled": False, "downloads": 0,
                "tags": [], "siblings": siblings}
        extra = os.path.join(d, "info.json")
        if os.path.isfile(extra):
            with open(extra) as f:
                info.update(json.load(f))
        self.send_json(200, info)

    def search(self, query):
        q = (query.get("search", [""])[0]).lower()
        limit = int(query.get("limit", ["20"])[0])
        hits = []
        root = self.state.repos
        for org in sorted(os.listdir(root)):
            if not os.path.isdir(os.path.join(root, org)):
                continue
            for name in sorted(os.listdir(os.path.join(root, org))):
                d = os.path.join(root, org, name)
                repo_id = org + "/" + name
                if os.path.exists(os.path.join(d, ".private")) or q not in repo_id.lower():
                    continue
                hit = {"id": repo_id, "modelId": repo_id, "downloads": 0, "likes": 0, "tags": []}
                extra = os.path.join(d, "info.json")
                if os.path.isfile(extra):
                    with open(extra) as f:
                        e = json.load(f)
                    for k in ("downloads", "likes", "tags", "pipeline_tag", "library_name"):
                        if k in e:
                            hit[k] = e[k]
                hits.append(hit)
        self.send_json(200, hits[:limit])

    def serve_file(self, org, name, rev, rel, check_access):
        if check_access:
            d = self.repo_access(org, name, for_file=True)
            if d is None:
                return
        else:
            d = self.repo_dir(org, name)
            if d is None:
                self.send_hf_error(404, "RepoNotFound", "no such repo")
                return
        sha = self.resolve_rev(d, rev)
        if sha is None:
            self.send_hf_error(404, "RevisionNotFound", "Invalid rev id: " + rev)
            return
        parts = rel.split("/")
        full = os.path.join(d, sha, *parts)
        if not rel or ".." in parts or "" in parts or not os.path.isfile(full):
            self.send_hf_error(404, "EntryNotFound", "%s does not exist at revision %s" % (rel, sha))
            return
        st = self.state
        with st.lock:
            if check_access and st.fail_times > 0:
                st.fail_times -= 1
                status = st.fail_status
            else:
                status = 0
        if status:
            self.send_hf_error(status, None, "injected failure")
            return
        if check_access and st.redirect in ("cross", "same"):
            target = "/_cdn/%s/%s/%s/%s" % (org, name, sha, urllib.parse.quote(rel))
            if st.redirect == "cross":
                host = self.headers.get("Host", "")
                port = self.server.server_address[1]
                other = "127.0.0.1" if host.startswith("localhost") else "localhost"
                target = "http://%s:%d%s" % (other, port, target)
            self.record(302)
            self.send_response(302)
            self.send_header("Location", target)
            self.send_header("X-Repo-Commit", sha)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = os.path.getsize(full)
        sha256, sha1 = st.file_hashes(full)
        lfs = is_lfs(rel, size)
        etag = sha256 if lfs else sha1

        start, end = 0, size - 1
        status = 200
        rng = self.headers.get("Range")
        if rng and not st.ignore_range:
            spec = rng.strip()
            if not spec.startswith("bytes=") or "," in spec:
                self.send_hf_error(416, None, "bad range")
                return
            a, _, b = spec[6:].partition("-")
            try:
                start = int(a)
                end = int(b) if b else size - 1
            except ValueError:
                self.send_hf_error(416, None, "bad range")
                return
            if start >= size or start > end:
                self.record(416)
                self.send_response(416)
                self.send_header("Content-Range", "bytes */%d" % size)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            end = min(end, size - 1)
            status = 206
        length = end - start + 1 if size > 0 else 0

        self.record(status)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", '"%s"' % etag)
        self.send_header("X-Repo-Commit", sha)
        if lfs:
            self.send_header("X-Linked-Size", str(size))
            self.send_header("X-Linked-Etag", '"%s"' % sha256)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if self.command == "HEAD" or length == 0:
            return

        cut_after = st.take_cut(rel)
        slow = st.slow_bps
        with open(full, "rb") as f:
            if cut_after is None and not slow:
                self.connection.sendfile(f, start, length)
                return
            f.seek(start)
            sent = 0
            limit = length if cut_after is None else min(length, cut_after)
            chunk = 64 << 10
            if slow:
                chunk = max(1, min(chunk, slow // 10))
            while sent < limit:
                data = f.read(min(chunk, limit - sent))
                if not data:
                    break
                self.wfile.write(data)
                sent += len(data)
                if slow:
                    time.sleep(len(data) / float(slow))
            if cut_after is not None and sent < length:
                self.wfile.flush()
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                self.close_connection = True

    def control(self):
        n = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            self.send_json(400, {"error": "bad json"})
            return
        st = self.state
        with st.lock:
            if "cut" in req:
                c = req["cut"]
                st.cut = None if not c else {"path": c["path"], "after": int(c["after"]),
                                             "times": int(c.get("times", 1))}
            if "ignore_range" in req:
                st.ignore_range = bool(req["ignore_range"])
            if "redirect" in req:
                st.redirect = req["redirect"] or ""
            if "slow_bps" in req:
                st.slow_bps = int(req["slow_bps"])
            if "fail_status" in req:
                st.fail_status = int(req["fail_status"])
                st.fail_times = int(req.get("fail_times", 1))
            if req.get("clear_log"):
                st.log = []
        self.send_json(200, {"ok": True})

    # ---- dispatch ----------------------------------------------------------------------------
    def dispatch(self):
        url = urllib.parse.urlsplit(self.path)
        raw = url.path
        query = urllib.parse.parse_qs(url.query)
        if raw == "/_control/health":
            self.send_json(200, "ok")
            return
        if raw == "/_control/log":
            with self.state.lock:
                log = list(self.state.log)
            body = json.dumps(log).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        segs = raw.split("/")[1:]  # split before unquoting: a revision may hold %2F
        uq = [urllib.parse.unquote(s) for s in segs]
        if raw == "/api/models":
            self.search(query)
            return
        if len(uq) >= 4 and uq[0] == "api" and uq[1] == "models":
            org, name = uq[2], uq[3]
            rev = "main"
            if len(uq) >= 6 and uq[4] == "revision":
                rev = "/".join(uq[5:])
            elif len(uq) != 4:
                self.send_json(404, {"error": "not found"})
                return
            self.model_info(org, name, rev, query.get("blobs", ["false"])[0] == "true")
            return
        if len(uq) >= 5 and uq[2] == "resolve":
            self.serve_file(uq[0], uq[1], uq[3], urllib.parse.unquote("/".join(segs[4:])), True)
            return
        if len(uq) >= 5 and uq[0] == "_cdn":
            self.serve_file(uq[1], uq[2], uq[3], urllib.parse.unquote("/".join(segs[4:])), False)
            return
        self.send_json(404, {"error": "no route " + raw})

    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_POST(self):
        if urllib.parse.urlsplit(self.path).path == "/_control":
            self.control()
        else:
            self.send_json(405, {"error": "method not allowed"})


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--repos", required=True)
    p.add_argument("--token", default="")
    p.add_argument("--cut", default="", help="PATH:N[:always] cut that file's body after N bytes")
    p.add_argument("--ignore-range", action="store_true")
    p.add_argument("--redirect", default="", choices=["", "cross", "same"])
    p.add_argument("--slow", type=int, default=0, help="throttle file bodies to N bytes/s")
    args = p.parse_args()
    Handler.state = State(args)
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    # Listen on all loopback names (127.0.0.1 and localhost resolve to the same server).
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    sys.stdout.write("listening on %d\n" % server.server_address[1])
    sys.stdout.flush()
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
