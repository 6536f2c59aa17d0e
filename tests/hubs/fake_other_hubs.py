#!/usr/bin/python3
"""Fake ModelScope, Axon registry, GitHub (PyTorch Hub) and Kaggle servers for the axon tests.

    fake_other_hubs.py --kind modelscope|registry|github|kaggle --port P --root DIR

Python 3 standard library only. Every kind serves fixture data that the test writes under DIR,
re-reading it on each request (so a test may change fixtures while the server runs). All file
downloads honour `Range: bytes=n-` / `bytes=n-m` (206 + Content-Range, Accept-Ranges: bytes).
Every request is appended to DIR/_requests.log as "METHOD PATH?QUERY" plus " auth" when an
Authorization header came and " cookie=<Cookie header>" when cookies came, for assertions.

--kind modelscope (the ModelScope SDK v1 API)
  Fixtures: DIR/{owner}/{name}/model.json  {"Description", "License", "Tags", "Tasks": [{"Name"}],
                                             "private": bool, "commits": {"<rev>": "<commit id>"},
                                             "sha256_override": {"<path>": "<hex>"}}
            DIR/{owner}/{name}/{rev}/<files...>          (the repo at revision <rev>)
            DIR/_config.json  {"tokens": {"<access token>": "<session id>"}}   (optional)
  POST /api/v1/login  {"AccessToken": tok}  -> 200 + Set-Cookie: m_session_id=<id>; Set-Cookie:
       m_token=<...>, or 401 {"Success": false} for an unknown token.
  GET  /api/v1/models/{owner}/{name}[?Revision=r]          -> envelope {Code, Success, Message,
       RequestId, Data{Name, Path, Description, License, Tags, Tasks}}
  GET  /api/v1/models/{owner}/{name}/repo/files?Revision=r&Recursive=True
       -> Data.Files[] {Path, Name, Type (blob|tree), Size, Sha256, Revision (commit id)}
  GET  /api/v1/models/{owner}/{name}/repo?Revision=r&FilePath=<path>   -> the file bytes
  A missing model: HTTP 404 with {"Code": 10010205, "Success": false, "Message": "model not
  found"}. A private model without a valid m_session_id cookie answers like a missing one, as the
  real hub does for anonymous users.

--kind registry (the Axon registry, as the original Axon's "local" adapter calls it)
  Fixtures: DIR/models/{ns}/{name...}/{ver}/manifest.yaml   served verbatim
            DIR/files/...                                     served at /files/...
            DIR/index.json  [{"namespace","name","version","description"}, ...]
  GET /api/v1/models/{ns}/{name...}/{ver}/manifest.yaml  -> text/yaml, or 404
  GET /api/v1/search?q=<text>[&limit=n] -> JSON list of index.json entries whose namespace, name
      or description contains <text> (case-insensitive); the shape is exactly
      [{"namespace": str, "name": str, "version": str, "description": str}]
  GET /files/<path>  -> bytes (packages and mirrors)

--kind github (the bits of GitHub that PyTorch Hub resolution needs; API under /api)
  Fixtures: DIR/{owner}/{repo}/refs.json  {"branches": {"main": "<sha>"}, "tags": {"v1": "<sha>"}}
            DIR/{owner}/{repo}/tree/{sha}/hubconf.py  (and any other file of the repo)
            DIR/weights/<file>                          served at /weights/<file>
  In served repo files the text @BASE@ is replaced by the server's base URL
  (http://127.0.0.1:P), so a hubconf.py can point at /weights/ on this server.
  GET /api/repos/{o}/{r}                  -> {"full_name", "default_branch"} or 404
  GET /api/repos/{o}/{r}/branches/{b}     -> {"name", "commit": {"sha"}} or 404
  GET /api/repos/{o}/{r}/commits/{ref}    -> {"sha"} for a branch, tag or full sha, or 422/404
  GET /{o}/{r}/raw/{ref}/{path}           -> the file at that branch, tag or sha (or 404)
  GET|HEAD /weights/<file>                -> bytes

--kind kaggle (the Kaggle Models API that kagglehub uses)
  Fixtures: DIR/{o}/{m}/{f}/{v}/instance.json  {"overview", "licenseName", "private": bool}
            DIR/{o}/{m}/{f}/{v}/{n}/<files...>   (version n of the instance)
            DIR/_config.json {"username": u, "key": k, "max_page_size": n}   (optional)
  Private instances need `Authorization: Basic base64(u:k)` (401 without, 403 when wrong).
  GET /api/v1/models/{o}/{m}/{f}/{v}/get  -> {"id", "slug", "framework", "versionNumber" (the
      highest n), "overview", "licenseName", "url"}
  GET /api/v1/models/{o}/{m}/{f}/{v}/{n}/files?page_size=k[&page_token=t]
      -> {"files": [{"name", "size"}], "nextPageToken": "<t>" | ""}
  GET /api/v1/models/{o}/{m}/{f}/{v}/{n}/download/{path}
      -> 302 to /blob/{o}/{m}/{f}/{v}/{n}/{path}, which serves the bytes with
         X-Goog-Hash: md5=<base64>
  GET /api/v1/models/list?search=q&page_size=k -> {"models": [{"ref": "o/m", "title",
      "subtitle"}], "nextPageToken": ""}
"""

import argparse
import base64
import hashlib
import json
import os
import re
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = "."
KIND = ""
LOG_LOCK = threading.Lock()


def read_json(path, default):
  try:
    with open(path, "r", encoding="utf-8") as f:
      return json.load(f)
  except FileNotFoundError:
    return default


def safe_join(base, rel):
  """Joins rel under base, or returns None when it would escape."""
  rel = rel.lstrip("/")
  parts = [p for p in rel.split("/") if p]
  if any(p in (".", "..") for p in parts):
    return None
  return os.path.join(base, *parts) if parts else base


def sha256_of(path):
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def md5_b64_of(path):
  h = hashlib.md5()
  with open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return base64.b64encode(h.digest()).decode()


def walk_files(base):
  """Relative paths (with '/') of the regular files under base, sorted."""
  out = []
  for dirpath, _, names in os.walk(base):
    for n in names:
      full = os.path.join(dirpath, n)
      out.append(os.path.relpath(full, base).replace(os.sep, "/"))
  return sorted(out)


class Handler(BaseHTTPRequestHandler):
  protocol_version = "HTTP/1.1"

  def log_message(self, fmt, *args):  # quiet
    pass

  # ---- plumbing ----
  def record(self):
    line = self.command + " " + self.path
    if self.headers.get("Authorization"):
      line += " auth"
    if self.headers.get("Cookie"):
      line += " cookie=" + self.headers.get("Cookie")
    with LOG_LOCK:
      with open(os.path.join(ROOT, "_requests.log"), "a", encoding="utf-8") as f:
        f.write(line + "\n")

  def body_bytes(self):
    n = int(self.headers.get("Content-Length") or 0)
    return self.rfile.read(n) if n > 0 else b""

  def send(self, status, body=b"", ctype="application/json", extra=None):
    if isinstance(body, str):
      body = body.encode()
    self.send_response(status)
    self.send_header("Content-Type", ctype)
    self.send_header("Content-Length", str(len(body)))
    for k, v in (extra or []):
      self.send_header(k, v)
    self.end_headers()
    if self.command != "HEAD":
      self.wfile.write(body)

  def send_json(self, status, obj, extra=None):
    self.send(status, json.dumps(obj), "application/json", extra)

  def send_file(self, path, extra=None, text_subst=False):
    if path is None or not os.path.isfile(path):
      return self.send_json(404, {"message": "Not Found"})
    with open(path, "rb") as f:
      data = f.read()
    if text_subst:
      data = data.replace(b"@BASE@", self.base_url().encode())
    size = len(data)
    headers = [("Accept-Ranges", "bytes")] + list(extra or [])
    rng = self.headers.get("Range")
    m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip()) if rng else None
    if m:
      start = int(m.group(1))
      end = int(m.group(2)) if m.group(2) else size - 1
      if start >= size:
        return self.send(416, b"", "application/octet-stream",
                         headers + [("Content-Range", "bytes */%d" % size)])
      end = min(end, size - 1)
      return self.send(206, data[start:end + 1], "application/octet-stream",
                       headers + [("Content-Range", "bytes %d-%d/%d" % (start, end, size))])
    return self.send(200, data, "application/octet-stream", headers)

  def base_url(self):
    return "http://127.0.0.1:%d" % self.server.server_address[1]

  def split(self):
    u = urllib.parse.urlsplit(self.path)
    q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
    segs = [urllib.parse.unquote(s) for s in u.path.split("/") if s]
    return u.path, segs, q

  def do_GET(self):
    self.dispatch()

  def do_HEAD(self):
    self.dispatch()

  def do_POST(self):
    self.dispatch()

  def dispatch(self):
    self.record()
    try:
      getattr(self, "handle_" + KIND)()
    except BrokenPipeError:
      pass

  # ---- ModelScope ----
  def ms_envelope(self, status, data=None, message="", code=200):
    self.send_json(status, {"Code": code, "Success": status < 400 and code == 200,
                            "Message": message, "RequestId": "fake", "Data": data})

  def ms_authorized_session(self):
    cfg = read_json(os.path.join(ROOT, "_config.json"), {})
    sessions = set((cfg.get("tokens") or {}).values())
    cookies = self.headers.get("Cookie") or ""
    for part in cookies.split(";"):
      k, _, v = part.strip().partition("=")
      if k == "m_session_id" and v in sessions:
        return True
    return False

  def handle_modelscope(self):
    path, segs, q = self.split()
    if self.command == "POST" and path == "/api/v1/login":
      try:
        tok = json.loads(self.body_bytes() or b"{}").get("AccessToken", "")
      except ValueError:
        tok = ""
      cfg = read_json(os.path.join(ROOT, "_config.json"), {})
      sid = (cfg.get("tokens") or {}).get(tok)
      if not sid:
        return self.ms_envelope(401, None, "invalid access token", 10020101)
      return self.send_json(200, {"Code": 200, "Success": True, "Message": "success",
                                  "Data": {"Username": "tester"}},
                            [("Set-Cookie", "m_session_id=%s; Path=/; HttpOnly" % sid),
                             ("Set-Cookie", "m_token=t-%s; Path=/" % sid)])
    if len(segs) < 5 or segs[:3] != ["api", "v1", "models"]:
      return self.ms_envelope(404, None, "no such endpoint", 404)
    owner, name = segs[3], segs[4]
    mdir = safe_join(ROOT, owner + "/" + name)
    meta = read_json(os.path.join(mdir, "model.json"), None) if mdir else None
    if meta is None or (meta.get("private") and not self.ms_authorized_session()):
      return self.ms_envelope(404, None, "model not found", 10010205)
    rev = q.get("Revision") or "master"
    rdir = safe_join(mdir, rev)
    commit = (meta.get("commits") or {}).get(rev, rev)
    rest = segs[5:]
    if not rest:
      return self.ms_envelope(200, {
          "Name": name, "Path": owner, "Description": meta.get("Description", ""),
          "License": meta.get("License", ""), "Tags": meta.get("Tags", []),
          "Tasks": meta.get("Tasks", [])})
    if rdir is None or not os.path.isdir(rdir):
      return self.ms_envelope(404, None, "revision %s not found" % rev, 10010206)
    if rest == ["repo", "files"]:
      files, dirs = [], set()
      over = meta.get("sha256_override") or {}
      for rel in walk_files(rdir):
        parts = rel.split("/")
        for i in range(1, len(parts)):
          dirs.add("/".join(parts[:i]))
        full = os.path.join(rdir, rel)
        files.append({"Path": rel, "Name": parts[-1], "Type": "blob",
                      "Size": os.path.getsize(full), "Sha256": over.get(rel, sha256_of(full)),
                      "Revision": commit, "IsLFS": True})
      for d in sorted(dirs):
        files.append({"Path": d, "Name": d.split("/")[-1], "Type": "tree", "Size": 0,
                      "Sha256": "", "Revision": commit})
      return self.ms_envelope(200, {"Files": files, "LatestCommitter": {"Id": commit}})
    if rest == ["repo"]:
      fp = q.get("FilePath", "")
      return self.send_file(safe_join(rdir, fp) if fp else None)
    return self.ms_envelope(404, None, "no such endpoint", 404)

  # ---- Axon registry ----
  def handle_registry(self):
    path, segs, q = self.split()
    if segs[:1] == ["files"]:
      return self.send_file(safe_join(os.path.join(ROOT, "files"), "/".join(segs[1:])))
    if segs[:3] == ["api", "v1", "search"]:
      needle = q.get("q", "").lower()
      limit = int(q.get("limit") or 0)
      hits = [e for e in read_json(os.path.join(ROOT, "index.json"), [])
              if needle in (e.get("namespace", "") + "/" + e.get("name", "") + " " +
                            e.get("description", "")).lower()]
      return self.send_json(200, hits[:limit] if limit > 0 else hits)
    if segs[:3] == ["api", "v1", "models"] and len(segs) >= 7 and segs[-1] == "manifest.yaml":
      p = safe_join(os.path.join(ROOT, "models"), "/".join(segs[3:]))
      if p is None or not os.path.isfile(p):
        return self.send_json(404, {"error": "model not found"})
      with open(p, "rb") as f:
        return self.send(200, f.read(), "application/yaml")
    return self.send_json(404, {"error": "not found"})

  # ---- GitHub (PyTorch Hub) ----
  def gh_refs(self, o, r):
    d = safe_join(ROOT, o + "/" + r)
    return read_json(os.path.join(d, "refs.json"), None) if d else None

  def gh_resolve(self, refs, ref):
    b = refs.get("branches") or {}
    t = refs.get("tags") or {}
    if ref in b:
      return b[ref]
    if ref in t:
      return t[ref]
    if re.fullmatch(r"[0-9a-f]{40}", ref) and ref in list(b.values()) + list(t.values()):
      return ref
    return None

  def handle_github(self):
    path, segs, q = self.split()
    if segs[:1] == ["weights"]:
      return self.send_file(safe_join(os.path.join(ROOT, "weights"), "/".join(segs[1:])))
    if segs[:2] == ["api", "repos"] and len(segs) >= 4:
      o, r = segs[2], segs[3]
      refs = self.gh_refs(o, r)
      if refs is None:
        return self.send_json(404, {"message": "Not Found"})
      rest = segs[4:]
      if not rest:
        return self.send_json(200, {"full_name": o + "/" + r,
                                    "default_branch": refs.get("default_branch", "main")})
      if rest[0] == "branches" and len(rest) == 2:
        sha = (refs.get("branches") or {}).get(rest[1])
        if not sha:
          return self.send_json(404, {"message": "Branch not found"})
        return self.send_json(200, {"name": rest[1], "commit": {"sha": sha}})
      if rest[0] == "commits" and len(rest) >= 2:
        sha = self.gh_resolve(refs, "/".join(rest[1:]))
        if not sha:
          return self.send_json(422, {"message": "No commit found for SHA: " + rest[1]})
        return self.send_json(200, {"sha": sha})
      return self.send_json(404, {"message": "Not Found"})
    if len(segs) >= 5 and segs[2] == "raw":
      o, r, ref = segs[0], segs[1], segs[3]
      refs = self.gh_refs(o, r)
      sha = self.gh_resolve(refs, ref) if refs else None
      if not sha:
        return self.send(404, "404: Not Found", "text/plain")
      p = safe_join(os.path.join(ROOT, o, r, "tree", sha), "/".join(segs[4:]))
      return self.send_file(p, text_subst=True)
    return self.send(404, "Not Found", "text/plain")

  # ---- Kaggle ----
  def kg_auth(self, instance):
    """None when allowed, else the (status, message) to answer."""
    if not instance.get("private"):
      return None
    cfg = read_json(os.path.join(ROOT, "_config.json"), {})
    h = self.headers.get("Authorization") or ""
    if not h.startswith("Basic "):
      return (401, "Unauthenticated")
    want = base64.b64encode(("%s:%s" % (cfg.get("username", ""), cfg.get("key", ""))).encode())
    if h[len("Basic "):].strip().encode() != want:
      return (403, "Permission denied")
    return None

  def handle_kaggle(self):
    path, segs, q = self.split()
    if segs[:1] == ["blob"] and len(segs) >= 7:
      idir = safe_join(ROOT, "/".join(segs[1:5]))
      inst = read_json(os.path.join(idir, "instance.json"), None) if idir else None
      if inst is None:
        return self.send_json(404, {"code": 404, "message": "Not found"})
      p = safe_join(idir, "/".join(segs[5:]))
      if p is None or not os.path.isfile(p):
        return self.send_json(404, {"code": 404, "message": "Not found"})
      return self.send_file(p, [("X-Goog-Hash", "crc32c=AAAAAA==,md5=" + md5_b64_of(p))])
    if segs[:3] != ["api", "v1", "models"]:
      return self.send_json(404, {"code": 404, "message": "Not found"})
    rest = segs[3:]
    if rest[:1] == ["list"]:
      needle = q.get("search", "").lower()
      models = []
      for o in sorted(os.listdir(ROOT)):
        od = os.path.join(ROOT, o)
        if o.startswith("_") or not os.path.isdir(od):
          continue
        for m in sorted(os.listdir(od)):
          if needle in (o + "/" + m).lower():
            models.append({"ref": o + "/" + m, "title": m, "subtitle": "fake model " + m})
      k = int(q.get("page_size") or 20)
      return self.send_json(200, {"models": models[:k], "nextPageToken": ""})
    if len(rest) < 5:
      return self.send_json(404, {"code": 404, "message": "Not found"})
    o, m, f, v = rest[:4]
    idir = safe_join(ROOT, "/".join([o, m, f, v]))
    inst = read_json(os.path.join(idir, "instance.json"), None) if idir else None
    if inst is None:
      return self.send_json(404, {"code": 404, "message": "Model instance not found"})
    denied = self.kg_auth(inst)
    if denied:
      return self.send_json(denied[0], {"code": denied[0], "message": denied[1]})
    versions = sorted(int(n) for n in os.listdir(idir) if n.isdigit())
    if rest[4:] == ["get"]:
      if not versions:
        return self.send_json(404, {"code": 404, "message": "no versions"})
      return self.send_json(200, {
          "id": 1, "slug": v, "framework": f, "versionNumber": versions[-1],
          "overview": inst.get("overview", ""), "licenseName": inst.get("licenseName", ""),
          "url": "%s/models/%s/%s/frameworks/%s/variations/%s" % (self.base_url(), o, m, f, v)})
    n = rest[4]
    vdir = safe_join(idir, n)
    if not n.isdigit() or vdir is None or not os.path.isdir(vdir):
      return self.send_json(404, {"code": 404, "message": "Model version not found"})
    if rest[5:] == ["files"]:
      cfg = read_json(os.path.join(ROOT, "_config.json"), {})
      k = int(q.get("page_size") or 20)
      k = max(1, min(k, int(cfg.get("max_page_size", k))))
      start = int(q.get("page_token") or 0)
      names = walk_files(vdir)
      page = [{"name": p, "size": os.path.getsize(os.path.join(vdir, p))}
              for p in names[start:start + k]]
      nxt = str(start + k) if start + k < len(names) else ""
      return self.send_json(200, {"files": page, "nextPageToken": nxt})
    if rest[5:6] == ["download"] and len(rest) > 6:
      rel = "/".join(rest[6:])
      p = safe_join(vdir, rel)
      if p is None or not os.path.isfile(p):
        return self.send_json(404, {"code": 404, "message": "File not found"})
      loc = "/blob/%s/%s/%s/%s/%s/%s" % (o, m, f, v, n, urllib.parse.quote(rel))
      return self.send(302, b"", "text/plain", [("Location", loc)])
    return self.send_json(404, {"code": 404, "message": "Not found"})


def main():
  global ROOT, KIND
  ap = argparse.ArgumentParser()
  ap.add_argument("--kind", required=True, choices=["modelscope", "registry", "github", "kaggle"])
  ap.add_argument("--port", type=int, required=True)
  ap.add_argument("--root", required=True)
  a, _ = ap.parse_known_args()
  ROOT, KIND = os.path.abspath(a.root), a.kind
  srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
  srv.daemon_threads = True
  print("listening on %d" % srv.server_address[1], flush=True)
  try:
    srv.serve_forever()
  except KeyboardInterrupt:
    pass


if __name__ == "__main__":
  sys.exit(main())
