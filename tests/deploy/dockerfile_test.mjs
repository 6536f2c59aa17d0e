// ctest deploy_dockerfile (node --test): deploy/docker/Dockerfile passes the static checks of
// dockerfile-utils (the Dockerfile validator of the Docker language server, pinned in
// package-lock.json; every rule at warning or above counts) and agrees with the rest of the
// deployment. Docker itself is not available here, so the image is never built by a test.
import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { validate, ValidationSeverity } from "dockerfile-utils";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.env.MLOS_SOURCE_DIR ?? path.join(here, "..", ".."));
const dockerDir = path.join(root, "deploy", "docker");
const dockerfile = fs.readFileSync(path.join(dockerDir, "Dockerfile"), "utf8");

// Every optional rule on: a diagnostic of any severity fails.
const STRICT = {
  deprecatedMaintainer: ValidationSeverity.WARNING,
  directiveCasing: ValidationSeverity.WARNING,
  emptyContinuationLine: ValidationSeverity.WARNING,
  instructionCasing: ValidationSeverity.WARNING,
  instructionCmdMultiple: ValidationSeverity.WARNING,
  instructionEntrypointMultiple: ValidationSeverity.WARNING,
  instructionHealthcheckMultiple: ValidationSeverity.WARNING,
  instructionJSONInSingleQuotes: ValidationSeverity.WARNING,
  instructionWorkdirRelative: ValidationSeverity.WARNING,
};
const lint = (text) => validate(text, STRICT).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);

// Instructions (continuation lines joined, comments dropped) as [KEYWORD, arguments].
function instructions(text) {
  return text.replace(/\\\n/g, " ").split("\n")
    .filter((l) => l.trim() && !l.trim().startsWith("#"))
    .map((l) => {
      const m = l.trim().match(/^(\S+)\s*(.*)$/);
      return [m[1].toUpperCase(), m[2].replace(/\s+/g, " ")];
    });
}
const ins = instructions(dockerfile);
const all = (kw) => ins.filter(([k]) => k === kw).map(([, a]) => a);

test("dockerfile-utils finds nothing to report", () => {
  assert.deepEqual(lint(dockerfile), []);
});

test("the linter reports broken Dockerfiles", () => {
  const broken = [
    dockerfile.replace(/^FROM .*$/m, "FROM"),
    dockerfile.replace(/^EXPOSE .*$/m, "EXPOSE eighty"),
    dockerfile.replace(/^WORKDIR .*$/m, "WORKDIR var/lib/mlos"),
    dockerfile.replace(/^HEALTHCHECK --interval=10s/m, "HEALTHCHECK --interval=ten"),
    dockerfile.replace(/^USER .*$/m, "USERR 10001"),
  ];
  for (const text of broken) {
    assert.notEqual(text, dockerfile, "the edit applied");
    assert.ok(lint(text).length > 0, `no diagnostic for:\n${text}`);
  }
});

test("Debian 12 slim, a numeric non-root user, mlosd as the entry point", () => {
  assert.deepEqual(all("FROM"), ["debian:12-slim"]);
  const user = all("USER").at(-1);
  assert.match(user, /^[1-9]\d*:[1-9]\d*$/, "USER uid:gid, numeric (Kubernetes checks runAsNonRoot)");
  const uid = user.split(":")[0];
  assert.ok(all("RUN").some((r) => r.includes(`useradd --system --uid ${uid}`)), "the user is made with that uid");
  assert.deepEqual(JSON.parse(all("ENTRYPOINT")[0]), ["/usr/bin/mlosd"]);
  assert.deepEqual(JSON.parse(all("CMD")[0]), ["--config", "/etc/mlos/mlosd.yaml"]);
});

test("ports, health check and config agree with the image's mlosd.yaml", () => {
  const config = YAML.parse(fs.readFileSync(path.join(dockerDir, "mlosd.yaml"), "utf8"));
  const exposed = all("EXPOSE").flatMap((a) => a.split(" ")).map((p) => Number(p.split("/")[0]));
  const port = (listen) => Number(listen.split(":").pop());
  assert.deepEqual(exposed.sort(), [port(config.http.listen), port(config.grpc.listen)].sort());
  assert.match(config.http.listen, /^0\.0\.0\.0:/, "listens beyond the container's loopback");
  const health = all("HEALTHCHECK")[0];
  const cmd = JSON.parse(health.slice(health.indexOf("CMD ") + 4));
  assert.equal(cmd[0], "/usr/lib/mlos/mlosd-wait-health");
  assert.ok(cmd.includes("--live"), "liveness, not readiness (loading models is not unhealthy)");
  assert.equal(cmd[cmd.indexOf("--url") + 1], `http://127.0.0.1:${port(config.http.listen)}`);
  // The helper is what deploy/CMakeLists.txt installs there.
  const cmake = fs.readFileSync(path.join(root, "deploy", "CMakeLists.txt"), "utf8");
  assert.match(cmake, /install\(PROGRAMS systemd\/mlosd-wait-health DESTINATION lib\/mlos /);
  assert.deepEqual(JSON.parse(all("VOLUME")[0]), [config.state_dir]);
});

test("what the Dockerfile copies exists and passes Dockerfile.dockerignore", () => {
  const version = fs.readFileSync(path.join(root, "CMakeLists.txt"), "utf8")
    .match(/project\(mlos VERSION (\d+\.\d+\.\d+)/)[1];
  const deb = all("ARG").find((a) => a.startsWith("DEB=")).slice(4);
  assert.equal(deb, `build/mlos_${version}_amd64.deb`, "the name `make package` gives the .deb (CPack DEB-DEFAULT)");
  const sources = all("COPY").map((a) => a.split(" ")[0].replace("${DEB}", deb));
  assert.ok(fs.existsSync(path.join(root, "deploy", "docker", "mlosd.yaml")));
  // Docker's rules: the last pattern that matches the path or one of its parent directories
  // decides; "!" re-includes. `*` stays within one path segment.
  const rules = fs.readFileSync(path.join(dockerDir, "Dockerfile.dockerignore"), "utf8").split("\n")
    .map((l) => l.trim()).filter((l) => l && !l.startsWith("#"));
  const glob = (p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`);
  const matches = (pattern, file) => file.split("/")
    .some((_, i, parts) => glob(pattern).test(parts.slice(0, i + 1).join("/")));
  const sent = (file) => rules.reduce((keep, r) => (r.startsWith("!")
    ? (matches(r.slice(1), file) ? true : keep) : (matches(r, file) ? false : keep)), true);
  for (const s of sources) assert.ok(sent(s), `${s} is excluded from the build context`);
  assert.ok(!sent("third_party/onnxruntime/lib/libonnxruntime.so"), "third_party/ stays out");
  assert.ok(!sent("build/bin/mlosd"), "build trees stay out");
});
