"""kill -9 torture of mlosd's registry (the models, defaults, aliases, pins, desired load state
and tokens in <state-dir>/registry.db).

One client thread runs management operations over HTTP, one after another, and journals each
(acknowledged = its success answer received in full); the main thread SIGKILLs mlosd after a
random delay, often in the middle of a request, sometimes while it is still starting. While
mlosd is down, a copy of the database (db + WAL) is opened with Python's sqlite3: integrity
check, referential invariants, and every fact compared with what the acknowledged operations
say (the operation in flight: applied or not, never in part). Then mlosd restarts on the same
state dir and must become ready and agree with its database: the same models, defaults,
aliases, pins, desired-loaded models READY again, active tokens accepted and revoked ones
refused.
"""

from __future__ import annotations

import http.client
import json
import os
import pathlib
import random
import select
import shutil
import signal
import sqlite3
import subprocess
import threading
import time
import urllib.parse

from torture_common import (ANY, BIN, FIXTURES, Journal, Op, Totals, binary_stamp, popen_binary,
                            reconcile, write_package)

MLOSD = BIN / "mlosd"
CONFIG = """\
security:
  auth: required
plugins:
  onnx:
    intra_op_threads: 1
    inter_op_threads: 1
"""
ALIASES = ("prod", "canary")
READY_TIMEOUT = 300.0  # seconds: 2 shared cores and others compiling; never flaky


class DaemonGone(Exception):
    pass


class Mlosd:
    """The real daemon on a free loopback port; its stderr is appended to <dir>/mlosd.log."""

    def __init__(self, directory: pathlib.Path) -> None:
        self.dir = directory
        self.state = directory / "state"
        self.log = directory / "mlosd.log"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "mlosd.yaml").write_text(CONFIG)
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def spawn(self) -> None:
        args = [str(MLOSD), "--http", "127.0.0.1:0", "--state-dir", str(self.state),
                "--model-root", str(self.dir), "--config", str(self.dir / "mlosd.yaml"),
                "--threads", "2"]
        self.stamp = binary_stamp(MLOSD)
        with open(self.log, "ab") as log:
            self.proc = popen_binary(args, stdout=subprocess.PIPE, stderr=log)
        self.port = 0

    def start(self) -> None:
        """spawn + listening + ready. Others may relink mlosd meanwhile: a start that failed
        while the binary changed under it is tried again (up to 3 times), not counted."""
        for attempt in range(4):
            try:
                self.wait_listening()
                self.wait_ready()
                return
            except DaemonGone:
                relinked = binary_stamp(MLOSD) != self.stamp
                if not relinked or attempt == 3:
                    raise
                self.kill()
                self.spawn()

    def wait_listening(self, timeout: float = READY_TIMEOUT) -> None:
        assert self.proc and self.proc.stdout
        out = b""
        deadline = time.monotonic() + timeout
        while b"mlosd listening on http://" not in out or not out.endswith(b"\n"):
            if self.proc.poll() is not None:
                raise DaemonGone(f"mlosd exited with {self.proc.returncode} while starting; "
                                 f"stdout {out!r}; log tail:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise DaemonGone(f"mlosd did not listen within {timeout:.0f} s")
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                out += os.read(self.proc.stdout.fileno(), 4096)
        for line in out.decode().splitlines():
            if line.startswith("mlosd listening on http://"):
                self.port = int(line.rsplit(":", 1)[1])

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, _ = self.call("GET", "/v2/health/ready", timeout=30)
                if status == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if self.proc and self.proc.poll() is not None:
                raise DaemonGone(f"mlosd exited with {self.proc.returncode} before ready; log "
                                 f"tail:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise DaemonGone(f"mlosd was not ready within {timeout:.0f} s")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        if self.proc:
            self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def call(self, method: str, path: str, body: object = None, token: str = "",
             timeout: float = 120) -> tuple[int, object]:
        """One request on its own connection; raises OSError / HTTPException when the daemon
        goes away before the whole answer arrived."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Connection": "close"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            if token:
                headers["Authorization"] = "Bearer " + token
            conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            raw = r.read()  # IncompleteRead when cut short
            try:
                doc = json.loads(raw) if raw else {}
            except ValueError:
                raise http.client.HTTPException(f"unparseable answer {raw[:200]!r}") from None
            return r.status, doc
        finally:
            conn.close()


def q(model_id: str) -> str:
    return urllib.parse.quote(model_id, safe="")


class Universe:
    """The models the torture plays with: testing-plugin identity models and ONNX (real loads,
    with the plugin's on-disk cache) in a few versions."""

    def __init__(self, root: pathlib.Path) -> None:
        self.paths: dict[str, pathlib.Path] = {}
        testing = json.dumps({"behavior": "identity"}).encode()
        for v in ("1.0.0", "2.0.0", "3.0.0"):
            self.paths[f"t/a@{v}"] = write_package(root, "t", "a", v, "testing", "testing.json",
                                                   testing)
        mlp = (FIXTURES / "mlp.onnx").read_bytes()
        for v in ("1.0.0", "2.0.0"):
            self.paths[f"t/m@{v}"] = write_package(root, "t", "m", v, "onnx", "model.onnx", mlp)
        self.ids = sorted(self.paths)
        self.names = sorted({i.split("@")[0] for i in self.ids})

    def versions(self, name: str) -> list[str]:
        return [i.split("@")[1] for i in self.ids if i.startswith(name + "@")]


def split(model_id: str) -> tuple[str, str]:
    name, version = model_id.split("@")
    return name, version


class Client:
    """Picks operations from what it expects the registry to be, runs them one at a time and
    folds acknowledged effects into `expected`."""

    def __init__(self, daemon: Mlosd, universe: Universe, expected: dict, secrets: dict,
                 admin: str, rng: random.Random, totals: Totals) -> None:
        self.d, self.u, self.expected, self.secrets = daemon, universe, expected, secrets
        self.admin, self.rng, self.totals = admin, rng, totals
        self.journal = Journal()
        self.in_flight: Op | None = None
        self.stop = threading.Event()
        self.token_seq = sum(1 for k in expected if k[0] == "token")

    def registered(self, name: str | None = None) -> list[str]:
        return [i for i in self.u.ids if self.expected.get(("reg", i))
                and (name is None or i.startswith(name + "@"))]

    def pick(self) -> Op | None:
        rng, e = self.rng, self.expected
        reg = self.registered()
        unreg = [i for i in self.u.ids if i not in reg]
        kinds = ["register"] * (4 if unreg else 0)
        if reg:
            kinds += ["unregister"] * 2 + ["default"] * 2 + ["alias"] * 2 + ["load"] * 2
            kinds += ["unload"] * 2 + ["pin", "unpin", "rollback"]
        kinds += ["token_create"]
        active = [k[1] for k, v in e.items() if k[0] == "token" and v == "active"]
        if active:
            kinds.append("token_revoke")
        kind = rng.choice(kinds)
        if kind == "register":
            mid = rng.choice(unreg)
            name, v = split(mid)
            cur = e.get(("default", name))
            return Op(kind, (mid,), {("reg", mid): True, ("desired", mid): None,
                                     ("pin", mid): None,
                                     ("default", name): cur if cur is not None else v})
        if kind == "token_create":
            self.token_seq += 1
            t = f"tok{self.token_seq}"
            return Op(kind, (t,), {("token", t): "active"})
        if kind == "token_revoke":
            t = rng.choice(active)
            return Op(kind, (t,), {("token", t): "revoked"})
        mid = rng.choice(reg)
        name, v = split(mid)
        if kind == "unregister":
            eff = {("reg", mid): None, ("desired", mid): None, ("pin", mid): None}
            for a in ALIASES:
                if e.get(("alias", name, a)) == v:
                    eff[("alias", name, a)] = None
            if e.get(("default", name)) in (v, ANY):
                others = [i for i in reg if i.startswith(name + "@") and i != mid]
                eff[("default", name)] = ANY if others else None
            return Op(kind, (mid,), eff)
        if kind == "default":
            return Op(kind, (mid,), {("default", name): v, ("desired", mid): True},
                      loose=frozenset({("desired", mid)}))
        if kind == "rollback":
            eff = {("default", name): ANY}
            for i in self.registered(name):
                eff[("desired", i)] = ANY
            return Op(kind, (name,), eff)
        if kind == "alias":
            a = rng.choice(ALIASES)
            target = v if rng.random() < 0.75 else ""
            return Op(kind, (name, a, target), {("alias", name, a): target or None})
        if kind in ("load", "unload"):
            return Op(kind, (mid,), {("desired", mid): True if kind == "load" else None})
        return Op(kind, (mid,), {("pin", mid): True if kind == "pin" else None})

    def send(self, op: Op) -> tuple[int, object]:
        a = op.args
        if op.kind == "register":
            return self.d.call("POST", "/models/register",
                               {"model_id": a[0], "path": str(self.u.paths[a[0]])}, self.admin)
        if op.kind == "unregister":
            return self.d.call("DELETE", f"/models/{q(a[0])}", None, self.admin)
        if op.kind == "alias":
            return self.d.call("POST", f"/models/{q(a[0])}/alias",
                               {"alias": a[1], "version": a[2]}, self.admin)
        if op.kind == "token_create":
            return self.d.call("POST", "/tokens", {"name": a[0], "role": "reader"}, self.admin)
        if op.kind == "token_revoke":
            return self.d.call("DELETE", f"/tokens/{q(a[0])}", None, self.admin)
        return self.d.call("POST", f"/models/{q(a[0])}/{op.kind}", {}, self.admin)

    def run(self) -> None:
        while not self.stop.is_set():
            op = self.pick()
            self.in_flight = self.journal.add(op)
            try:
                status, doc = self.send(op)
            except (OSError, http.client.HTTPException):
                return  # killed: `op` stays in flight
            self.in_flight = None
            if status != 200:
                op.state, op.answer = "refused", (status, doc)
                self.totals.refused += 1
                if status >= 500:  # a refusal is the caller's fault (4xx), never the store's
                    self.totals.inconsistencies.append(
                        f"{op.describe()} answered {status}: {doc}")
                continue
            op.state, op.answer = "acked", doc
            self.totals.acked += 1
            effects = dict(op.effects)
            if op.kind == "rollback":  # the answer names the version it went back to
                for k in list(effects):
                    if k[0] == "desired":
                        del effects[k]
                effects[("default", op.args[0])] = doc["version"]
                effects[("desired", doc["id"])] = True
            if op.kind == "token_create":
                self.secrets[op.args[0]] = doc["token"]
            for k, val in effects.items():
                if val is None:
                    self.expected.pop(k, None)
                else:
                    self.expected[k] = val


def observe_db(state: pathlib.Path, scratch: pathlib.Path, universe: Universe) -> tuple[dict, list[str]]:
    """Copies registry.db (+ WAL) while mlosd is down and reads it: the facts, and what is wrong
    with it whatever the journal says (integrity, dangling references, duplicates)."""
    problems: list[str] = []
    if scratch.exists():
        shutil.rmtree(scratch)
    scratch.mkdir(parents=True)
    src = state / "registry.db"
    if not src.exists():
        return {}, []  # killed before the registry was created
    for suffix in ("", "-wal"):
        if (state / ("registry.db" + suffix)).exists():
            shutil.copy2(state / ("registry.db" + suffix), scratch / ("registry.db" + suffix))
    db = sqlite3.connect(scratch / "registry.db")
    try:
        return read_facts(db, universe, problems), problems
    except sqlite3.DatabaseError as e:
        return {}, problems + [f"registry.db unreadable: {e}"]
    finally:
        db.close()


def read_facts(db: sqlite3.Connection, universe: Universe, problems: list[str]) -> dict:
    check = [r[0] for r in db.execute("PRAGMA integrity_check")]
    if check != ["ok"]:
        problems.append(f"PRAGMA integrity_check: {check[:5]}")
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "models" not in tables:
        return {}  # killed before the schema was committed: an empty registry
    facts: dict = {}
    models = db.execute("SELECT id, name, version, desired_loaded FROM models").fetchall()
    versions: dict[str, set[str]] = {}
    for mid, name, version, desired in models:
        if mid not in universe.ids or mid != f"{name}@{version}":
            problems.append(f"models row for an unknown or inconsistent model {mid!r} "
                            f"({name!r}, {version!r})")
        if ("reg", mid) in facts:
            problems.append(f"duplicate models rows for {mid}")
        facts[("reg", mid)] = True
        if desired:
            facts[("desired", mid)] = True
        versions.setdefault(name, set()).add(version)
    for (pid,) in db.execute("SELECT id FROM pins"):
        if ("reg", pid) not in facts:
            problems.append(f"pin on {pid}, which is not registered")
        facts[("pin", pid)] = True
    names_with_default = set()
    for name, version in db.execute("SELECT name, version FROM defaults"):
        names_with_default.add(name)
        if version not in versions.get(name, set()):
            problems.append(f"default of {name} is {version}, which is not registered")
        facts[("default", name)] = version
    for name in versions:
        if name not in names_with_default:
            problems.append(f"{name} has registered versions {sorted(versions[name])} but no "
                            f"default")
    for name, version in db.execute("SELECT name, version FROM default_history"):
        if version not in versions.get(name, set()):
            problems.append(f"default history of {name} holds {version}, not registered")
    for name, alias, version in db.execute("SELECT name, alias, version FROM aliases"):
        if version not in versions.get(name, set()):
            problems.append(f"alias {name}@{alias} -> {version}, which is not registered")
        if alias not in ALIASES:
            problems.append(f"unknown alias {name}@{alias}")
        facts[("alias", name, alias)] = version
    if "tokens" in tables:
        rows = db.execute("SELECT name, revoked_at FROM tokens").fetchall()
        active = [n for n, revoked in rows if revoked == 0]
        for n in set(active):
            if active.count(n) > 1:
                problems.append(f"{active.count(n)} active tokens named {n}")
        for n, revoked in rows:
            if n.startswith("admin"):
                continue
            if not n.startswith("tok"):
                problems.append(f"unknown token {n!r}")
            key = ("token", n)
            if revoked == 0:
                facts[key] = "active"
            elif facts.get(key) != "active":
                facts[key] = "revoked"
    return facts


AUDIT_ACTIONS = {"register": "register", "unregister": "unregister", "load": "load",
                 "unload": "unload", "default": "set_default", "rollback": "rollback",
                 "alias": "alias", "pin": "pin", "unpin": "pin", "token_create": "tokens",
                 "token_revoke": "tokens"}


def audit_key(op: Op) -> tuple[str, str]:
    model = "token:" + op.args[0] if op.kind.startswith("token") else op.args[0]
    if op.kind == "alias":
        model = f"{op.args[0]}@{op.args[1]}"
    return AUDIT_ACTIONS[op.kind], model


def check_audit(state: pathlib.Path, acked: dict) -> list[str]:
    """The audit log (synced before each answer, docs/security.md): whole JSON lines, a
    half line only at the very end (the kill), and an "ok" record for every acknowledged
    management operation (`acked`: (action, model) -> count)."""
    problems: list[str] = []
    seen: dict = {}
    files = sorted(state.glob("audit.log*"), key=lambda p: p.name, reverse=True)
    for f in files:
        lines = f.read_bytes().split(b"\n")
        for n, line in enumerate(lines[:-1], 1):
            try:
                rec = json.loads(line)
            except ValueError:
                problems.append(f"{f.name} line {n} is not JSON: {line[:160]!r}")
                continue
            if rec.get("outcome") == "ok":
                k = (rec.get("action"), rec.get("model"))
                seen[k] = seen.get(k, 0) + 1
    for k, count in acked.items():
        if seen.get(k, 0) < count:
            problems.append(f"audit log: {seen.get(k, 0)} ok records of {k}, {count} acknowledged")
    return problems


def check_api(d: Mlosd, admin: str, facts: dict, secrets: dict, universe: Universe) -> list[str]:
    """mlosd, restarted and ready, must serve what its database holds."""
    problems: list[str] = []
    status, doc = d.call("GET", "/models", None, admin)
    if status != 200:
        return [f"GET /models: {status} {doc}"]
    listed = {m["id"]: m for m in doc["models"]}
    want = {k[1] for k in facts if k[0] == "reg"}
    if set(listed) != want:
        problems.append(f"mlosd lists {sorted(listed)}, its database {sorted(want)}")
    for mid, m in listed.items():
        name, v = split(mid)
        checks = {
            "is_default": (m.get("is_default"), facts.get(("default", name)) == v),
            "pinned": (m.get("pinned"), bool(facts.get(("pin", mid)))),
            "desired_loaded": (m.get("desired_loaded"), bool(facts.get(("desired", mid)))),
            "aliases": (sorted(a for a in m.get("aliases", []) if a != "latest"),
                        sorted(a for a in ALIASES if facts.get(("alias", name, a)) == v)),
        }
        for field, (seen, exp) in checks.items():
            if seen != exp:
                problems.append(f"{mid}: {field} is {seen!r} after restart, database says {exp!r}")
        ready = m.get("state") == "READY"
        if ready != bool(facts.get(("desired", mid))):
            problems.append(f"{mid}: state {m.get('state')} after restart although "
                            f"desired_loaded={bool(facts.get(('desired', mid)))}")
    status, doc = d.call("GET", "/tokens", None, admin)
    if status != 200:
        return problems + [f"GET /tokens: {status} {doc}"]
    for name, secret in secrets.items():
        state = facts.get(("token", name))
        code, _ = d.call("GET", "/models", None, secret)
        if state == "active" and code != 200:
            problems.append(f"token {name} is active in the database but mlosd answers {code}")
        if state == "revoked" and code != 401:
            problems.append(f"token {name} is revoked but mlosd answers {code}")
    return problems


def bootstrap_round(work: pathlib.Path, rng: random.Random, totals: Totals, delay_max: float) -> None:
    """A first start killed at a random moment (maybe while it issues the first admin token):
    the next start must leave a usable admin.token."""
    d = Mlosd(work)
    d.spawn()
    if rng.random() < 0.5:
        time.sleep(rng.uniform(0, delay_max))
    else:
        # The moment the first admin token is being written: killed as soon as its file shows.
        deadline = time.monotonic() + READY_TIMEOUT
        while not (d.state / "admin.token").exists() and time.monotonic() < deadline \
                and d.proc.poll() is None:
            time.sleep(0.0005)
    d.kill()
    totals.kills += 1
    d.spawn()
    try:
        d.start()
        token = (d.state / "admin.token").read_text().strip() if (d.state / "admin.token").exists() else ""
        code, _ = d.call("GET", "/models", None, token)
        totals.checks += 1
        if code != 200:
            totals.inconsistencies.append(
                f"bootstrap: after a first start killed at a random moment, admin.token holds "
                f"{token[:10]!r}... which mlosd refuses ({code}): nobody can administer it")
    except DaemonGone as e:
        totals.inconsistencies.append(f"bootstrap: {e}")
    finally:
        d.kill()


def run(work: pathlib.Path, kills: int, bootstrap_kills: int, seed: int, log=print) -> Totals:
    rng = random.Random(seed)
    totals = Totals()
    t0 = time.monotonic()
    boot = Mlosd(work / "boot-timing")
    boot.spawn()
    boot.wait_listening()
    first_start = time.monotonic() - t0
    boot.kill()
    for i in range(bootstrap_kills):
        bootstrap_round(work / f"boot-{i}", rng, totals, max(0.05, first_start * 1.3))
    d = Mlosd(work / "registry")
    universe = Universe(work / "registry" / "packages")
    expected: dict = {}
    secrets: dict = {}
    d.spawn()
    d.start()
    admin = (d.state / "admin.token").read_text().strip()
    mlosd_kills = 0
    acked_audit: dict = {}
    while mlosd_kills < kills:
        client = Client(d, universe, expected, secrets, admin, rng, totals)
        if rng.random() < 0.1:
            time.sleep(rng.uniform(0, first_start))  # killed while starting or restoring
            thread = None
        else:
            thread = threading.Thread(target=client.run, daemon=True)
            thread.start()
            time.sleep(rng.uniform(0.02, 1.5))
        d.kill()
        mlosd_kills += 1
        totals.kills += 1
        if thread:
            client.stop.set()
            thread.join(timeout=READY_TIMEOUT)
            if thread.is_alive():
                totals.inconsistencies.append("the client hung after the kill")
                break
        in_flight = client.in_flight
        if in_flight is not None:
            totals.in_flight += 1
        where = f"kill {mlosd_kills}"
        for op in client.journal.ops:
            if op.state == "acked":
                k = audit_key(op)
                acked_audit[k] = acked_audit.get(k, 0) + 1
        facts, problems = observe_db(d.state, work / "dbcopy", universe)
        problems += [f"{where}: {p}" for p in check_audit(d.state, acked_audit)]
        totals.checks += 1
        problems += reconcile(expected, facts, in_flight, where, totals)
        d.spawn()
        try:
            d.start()
            problems += [f"{where}, after restart: {p}"
                         for p in check_api(d, admin, expected, secrets, universe)]
        except (DaemonGone, OSError, http.client.HTTPException) as e:
            problems.append(f"{where}: mlosd did not come back: {e}")
        if problems:
            log(f"{where}: in flight {in_flight.describe() if in_flight else None}; "
                f"last ops {[o.describe() + ':' + o.state for o in client.journal.ops[-4:]]}")
            for p in problems:
                log("  INCONSISTENT " + p)
            totals.inconsistencies += problems
            if len(totals.inconsistencies) > 50:
                break
        elif mlosd_kills % 10 == 0:
            log(totals.line(f"mlosd after {mlosd_kills} kills"))
    d.kill()
    return totals
