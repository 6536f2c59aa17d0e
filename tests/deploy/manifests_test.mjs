// ctest deploy_manifests (node --test): every manifest in deploy/k8s and deploy/kserve is valid
// and wired together, and every mlosd config the deployments ship is accepted by the real mlosd.
//  - core objects (Deployment, Service, ...) against the Kubernetes 1.27 OpenAPI schema, with
//    the npm package kubernetes-models (pinned in package-lock.json);
//  - KServe objects against the OpenAPI schemas of KServe's CRDs, read at run time from
//    ../shared/schemas/kserve/ beside the repository, with ajv. Unknown fields are refused, as
//    the API server's strict field validation and structural pruning would;
//  - broken copies are rejected by both, so the checks can fail;
//  - probes, ports, Prometheus annotations, volumes, users and flags agree with mlosd, the
//    Dockerfile and each other;
//  - build/bin/mlosd starts with deploy/mlosd.yaml, deploy/docker/mlosd.yaml and the ConfigMap's
//    mlosd.yaml and answers /v2/health/ready.
// Environment: MLOS_SOURCE_DIR (default ../..), MLOS_BUILD_DIR (default <source>/build).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import Ajv from "ajv";
import YAML from "yaml";
import { Deployment } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { ConfigMap, PersistentVolumeClaim, Service } from "kubernetes-models/v1";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.env.MLOS_SOURCE_DIR ?? path.join(here, "..", ".."));
const build = path.resolve(process.env.MLOS_BUILD_DIR ?? path.join(root, "build"));
const kserveSchemas = path.resolve(root, "..", "shared", "schemas", "kserve");

// ---- loading ----------------------------------------------------------------------------

function readYamlDocs(file) {
  const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
  for (const d of docs) {
    if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
  }
  return docs.map((d) => d.toJS()).filter((o) => o != null);
}

// Every object of deploy/k8s and deploy/kserve, with its file.
function loadManifests() {
  const out = [];
  for (const dir of ["k8s", "kserve"]) {
    const full = path.join(root, "deploy", dir);
    for (const name of fs.readdirSync(full).filter((f) => f.endsWith(".yaml")).sort()) {
      for (const obj of readYamlDocs(path.join(full, name))) out.push({ file: `${dir}/${name}`, obj });
    }
  }
  return out;
}
const manifests = loadManifests();
const find = (kind) => manifests.filter((m) => m.obj.kind === kind).map((m) => m.obj);
const one = (kind) => {
  const all = find(kind);
  assert.equal(all.length, 1, `exactly one ${kind}`);
  return all[0];
};

// ---- validators -------------------------------------------------------------------------

const CORE = {
  "apps/v1 Deployment": Deployment,
  "autoscaling/v2 HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "v1 ConfigMap": ConfigMap,
  "v1 PersistentVolumeClaim": PersistentVolumeClaim,
  "v1 Service": Service,
};
const KSERVE_CRDS = {
  ClusterServingRuntime: "serving.kserve.io_clusterservingruntimes.yaml",
  ServingRuntime: "serving.kserve.io_servingruntimes.yaml",
  InferenceService: "serving.kserve.io_inferenceservices.yaml",
};
const NOT_API_OBJECTS = new Set(["kustomize.config.k8s.io/v1beta1 Kustomization"]);

function validateCore(obj) {
  const Model = CORE[`${obj.apiVersion} ${obj.kind}`];
  if (!Model) throw new Error(`no kubernetes-models class for ${obj.apiVersion} ${obj.kind}`);
  new Model(obj).validate();  // throws with the failing path
}

// The CRD's schema as the API server applies it: an object with `properties` takes no other
// field unless the schema says x-kubernetes-preserve-unknown-fields or additionalProperties.
function structural(schema) {
  if (Array.isArray(schema)) return schema.map(structural);
  if (schema === null || typeof schema !== "object") return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    out[k] = k === "properties"
      ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, structural(s)]))
      : structural(v);
  }
  if (out.properties && out.additionalProperties === undefined &&
      !out["x-kubernetes-preserve-unknown-fields"]) {
    out.additionalProperties = false;
  }
  return out;
}

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
const kserveValidators = new Map();  // "group/version Kind" -> compiled schema
function kserveValidator(obj) {
  const key = `${obj.apiVersion} ${obj.kind}`;
  if (!kserveValidators.has(key)) {
    const file = KSERVE_CRDS[obj.kind];
    if (!file) throw new Error(`no KServe CRD for ${key}`);
    const crd = YAML.parse(fs.readFileSync(path.join(kserveSchemas, file), "utf8"));
    const version = crd.spec.versions.find((v) => `${crd.spec.group}/${v.name}` === obj.apiVersion);
    if (!version) throw new Error(`${file} has no version ${obj.apiVersion}`);
    kserveValidators.set(key, ajv.compile(structural(version.schema.openAPIV3Schema)));
  }
  return kserveValidators.get(key);
}

function validateKServe(obj) {
  const validate = kserveValidator(obj);
  if (!validate(obj)) {
    const e = validate.errors.slice(0, 5).map((e) => `${e.instancePath || "/"} ${e.message}` +
      (e.params?.additionalProperty ? ` (${e.params.additionalProperty})` : ""));
    throw new Error(`${obj.kind} ${obj.metadata?.name}: ${e.join("; ")}`);
  }
  // metadata is `type: object` in the CRDs: check it as the ObjectMeta it is.
  new ConfigMap({ metadata: obj.metadata }).validate();
}

function validate(obj) {
  if (obj.apiVersion?.startsWith("serving.kserve.io/")) return validateKServe(obj);
  return validateCore(obj);
}

// ---- tests: schemas ---------------------------------------------------------------------

test("every manifest is a known API object", () => {
  assert.ok(manifests.length >= 7, `found ${manifests.length} objects`);
  for (const { file, obj } of manifests) {
    const key = `${obj.apiVersion} ${obj.kind}`;
    assert.ok(CORE[key] || KSERVE_CRDS[obj.kind] || NOT_API_OBJECTS.has(key), `${file}: ${key}`);
    if (!NOT_API_OBJECTS.has(key)) {
      assert.match(obj.metadata?.name ?? "", /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, `${file}: name`);
    }
  }
});

test("core objects validate against the Kubernetes OpenAPI schema (kubernetes-models)", () => {
  const core = manifests.filter(({ obj }) => CORE[`${obj.apiVersion} ${obj.kind}`]);
  assert.deepEqual(new Set(core.map(({ obj }) => obj.kind)),
    new Set(["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PersistentVolumeClaim", "Service"]));
  for (const { file, obj } of core) {
    assert.doesNotThrow(() => validateCore(obj), `${file}`);
  }
});

test("KServe objects validate against the CRD schemas in ../shared/schemas/kserve", () => {
  assert.ok(fs.existsSync(kserveSchemas), `${kserveSchemas} (shared/ beside the repository)`);
  const kserve = manifests.filter(({ obj }) => obj.apiVersion?.startsWith("serving.kserve.io/"));
  assert.deepEqual(kserve.map(({ obj }) => obj.kind).sort(), ["ClusterServingRuntime", "InferenceService"]);
  for (const { file, obj } of kserve) {
    try {
      validateKServe(obj);
    } catch (e) {
      assert.fail(`${file}: ${e.message}`);
    }
  }
});

test("broken manifests are rejected by both validators", () => {
  const broken = (obj, edit) => {
    const copy = structuredClone(obj);
    edit(copy);
    return copy;
  };
  const deployment = one("Deployment");
  const cases = [
    ["containerPort as a string", broken(deployment, (d) => {
      d.spec.template.spec.containers[0].ports[0].containerPort = "8080";
    })],
    ["a container without a name", broken(deployment, (d) => {
      delete d.spec.template.spec.containers[0].name;
    })],
    ["replicas as a word", broken(deployment, (d) => { d.spec.replicas = "two"; })],
    ["a Service port out of type", broken(one("Service"), (s) => { s.spec.ports[0].port = [8080]; })],
    ["supportedModelFormats as a string", broken(one("ClusterServingRuntime"), (r) => {
      r.spec.supportedModelFormats = "onnx";
    })],
    ["a runtime without containers", broken(one("ClusterServingRuntime"), (r) => {
      delete r.spec.containers;
    })],
    ["a priority below 1", broken(one("ClusterServingRuntime"), (r) => {
      r.spec.supportedModelFormats[0].priority = 0;
    })],
    ["a misspelt predictor field", broken(one("InferenceService"), (s) => {
      s.spec.predictor.modle = s.spec.predictor.model;
      delete s.spec.predictor.model;
    })],
    ["an unknown scaleMetric", broken(one("InferenceService"), (s) => {
      s.spec.predictor.scaleMetric = "vibes";
    })],
    ["a bad metadata name type", broken(one("InferenceService"), (s) => { s.metadata.name = 42; })],
  ];
  for (const [what, obj] of cases) {
    assert.throws(() => validate(obj), undefined, `accepted: ${what}`);
  }
});

// ---- tests: wiring ----------------------------------------------------------------------

function mlosdHelpFlags() {
  const help = execFileSync(path.join(build, "bin", "mlosd"), ["--help"], { encoding: "utf8" });
  return new Set(help.match(/--[a-z][-a-z]*/g));
}

function dockerfileUser() {
  const text = fs.readFileSync(path.join(root, "deploy", "docker", "Dockerfile"), "utf8");
  const m = text.match(/^USER\s+(\d+)(?::(\d+))?\s*$/m);
  assert.ok(m, "the Dockerfile has a numeric USER");
  return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
}

// The mlosd config of a config file, as mlosd reads it (the keys used below).
function parseConfig(text) {
  return YAML.parse(text);
}

test("Deployment: probes, ports, metrics, resources, volumes and user fit mlosd", () => {
  const d = one("Deployment");
  const pod = d.spec.template.spec;
  const c = pod.containers.find((x) => x.name === "mlosd");
  assert.ok(c, "a container named mlosd");
  assert.deepEqual(d.spec.selector.matchLabels,
    Object.fromEntries(Object.keys(d.spec.selector.matchLabels).map((k) => [k, d.spec.template.metadata.labels[k]])),
    "the selector matches the pod's labels");
  const ports = Object.fromEntries(c.ports.map((p) => [p.name, p.containerPort]));
  assert.deepEqual(ports, { http: 8080, grpc: 8081 });
  for (const [probe, want] of [["startupProbe", "/v2/health/live"], ["livenessProbe", "/v2/health/live"],
                               ["readinessProbe", "/v2/health/ready"]]) {
    assert.equal(c[probe]?.httpGet?.path, want, `${probe} path`);
    assert.ok(c[probe].httpGet.port in ports, `${probe} port names a container port`);
  }
  const a = d.spec.template.metadata.annotations;
  assert.equal(a["prometheus.io/scrape"], "true");
  assert.equal(Number(a["prometheus.io/port"]), ports.http);
  assert.equal(a["prometheus.io/path"], "/metrics");
  assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory,
    "cpu and memory requests, a memory limit");
  // Non-root, as the image's user.
  const user = dockerfileUser();
  assert.equal(pod.securityContext.runAsNonRoot, true);
  assert.equal(pod.securityContext.runAsUser, user.uid);
  assert.equal(pod.securityContext.runAsGroup, user.gid);
  assert.equal(c.securityContext.allowPrivilegeEscalation, false);
  // Every mount has a volume; the config comes from the ConfigMap; state is a volume at the
  // config's state_dir; the repository volume is where the config's repository points.
  const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
  const mounts = Object.fromEntries(c.volumeMounts.map((m) => [m.mountPath, m]));
  for (const m of c.volumeMounts) assert.ok(volumes[m.name], `volume ${m.name}`);
  const cm = one("ConfigMap");
  const configArg = c.args[c.args.indexOf("--config") + 1];
  const configMount = mounts[path.dirname(configArg)];
  assert.ok(configMount, `a mount at ${path.dirname(configArg)}`);
  assert.equal(volumes[configMount.name].configMap?.name, cm.metadata.name);
  assert.ok(cm.data[path.basename(configArg)], `the ConfigMap has ${path.basename(configArg)}`);
  const config = parseConfig(cm.data[path.basename(configArg)]);
  assert.ok(mounts[config.state_dir], `a volume at state_dir ${config.state_dir}`);
  assert.ok(!mounts[config.state_dir].readOnly, "state_dir is writable");
  for (const repo of config.model_repository.paths) {
    assert.ok(mounts[repo], `a volume at the repository ${repo}`);
    assert.ok(volumes[mounts[repo].name].persistentVolumeClaim, `${repo} is a claim`);
    assert.ok(config.security.model_roots.includes(repo), `${repo} is a model root`);
  }
  const claim = one("PersistentVolumeClaim");
  assert.equal(volumes[mounts[config.model_repository.paths[0]].name].persistentVolumeClaim.claimName,
    claim.metadata.name);
  // The listen addresses of the config are the container's ports.
  assert.equal(Number(config.http.listen.split(":").pop()), ports.http);
  assert.equal(Number(config.grpc.listen.split(":").pop()), ports.grpc);
  assert.ok(pod.terminationGracePeriodSeconds >= 90, "time to drain (30 s per front-end)");
});

test("Service and HorizontalPodAutoscaler point at the Deployment", () => {
  const d = one("Deployment");
  const s = one("Service");
  const podLabels = d.spec.template.metadata.labels;
  for (const [k, v] of Object.entries(s.spec.selector)) assert.equal(podLabels[k], v, `selector ${k}`);
  const names = new Set(d.spec.template.spec.containers[0].ports.map((p) => p.name));
  assert.deepEqual(new Set(s.spec.ports.map((p) => p.targetPort)), names);
  const hpa = one("HorizontalPodAutoscaler");
  assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: d.apiVersion, kind: d.kind, name: d.metadata.name });
  assert.ok(hpa.spec.minReplicas >= 2 && hpa.spec.maxReplicas > hpa.spec.minReplicas);
});

test("kustomization.yaml lists every manifest of deploy/k8s", () => {
  const k = readYamlDocs(path.join(root, "deploy", "k8s", "kustomization.yaml"))[0];
  const files = fs.readdirSync(path.join(root, "deploy", "k8s"))
    .filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml");
  assert.deepEqual([...k.resources].sort(), files.sort());
});

test("ClusterServingRuntime: mlosd's formats, v2 over HTTP and gRPC; the InferenceService uses it", () => {
  const r = one("ClusterServingRuntime");
  const formats = r.spec.supportedModelFormats.map((f) => f.name);
  for (const f of ["onnx", "gguf", "pytorch", "tflite"]) assert.ok(formats.includes(f), `format ${f}`);
  assert.deepEqual([...r.spec.protocolVersions].sort(), ["grpc-v2", "v2"]);
  const c = r.spec.containers[0];
  assert.equal(c.name, "kserve-container", "KServe finds the model server by this name");
  assert.ok(c.args.includes("--model-repository=/mnt/models"), "serves what the storage initializer put in /mnt/models");
  assert.equal(r.spec.annotations["prometheus.kserve.io/port"], "8080");
  assert.equal(r.spec.annotations["prometheus.kserve.io/path"], "/metrics");
  assert.equal(c.securityContext.runAsUser, dockerfileUser().uid);
  const isvc = one("InferenceService");
  const m = isvc.spec.predictor.model;
  assert.equal(m.runtime, r.metadata.name);
  assert.ok(formats.includes(m.modelFormat.name));
  assert.ok(r.spec.protocolVersions.includes(m.protocolVersion));
  assert.ok(isvc.spec.predictor.maxReplicas > isvc.spec.predictor.minReplicas, "autoscaling range");
});

test("every flag the manifests pass is one mlosd has", () => {
  const flags = mlosdHelpFlags();
  const args = [...find("Deployment").flatMap((d) => d.spec.template.spec.containers.flatMap((c) => c.args ?? [])),
                ...find("ClusterServingRuntime").flatMap((r) => r.spec.containers.flatMap((c) => c.args ?? []))];
  for (const a of args.filter((x) => x.startsWith("--"))) {
    assert.ok(flags.has(a.split("=")[0]), `${a.split("=")[0]} is not in mlosd --help`);
  }
});

// ---- tests: the configs with the real mlosd ---------------------------------------------

// One HTTP request on a connection of its own, closed after the answer: { status, body }.
// (No keep-alive: an idle connection left open at SIGTERM is not what these checks are about.)
function request(url, { method = "GET", body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method, agent: false, timeout: 10000,
      headers: { Connection: "close", ...(body ? { "Content-Type": "application/json" } : {}) },
    }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c) => { data += c; });
      res.on("end", () => resolve({ status: res.statusCode, body: data }));
    });
    req.on("timeout", () => req.destroy(new Error(`${method} ${url}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(body);
  });
}

// Runs build/bin/mlosd with `configText` and `args` (default: the listeners, state and
// repository moved into a scratch directory), waits until /v2/health/ready answers 200, calls
// `check(url)`, then stops it with SIGTERM, which must end it with status 0.
async function withMlosd(name, configText, { args, check } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mlos-config-test-"));
  try {
    const config = path.join(dir, "mlosd.yaml");
    fs.writeFileSync(config, configText);
    fs.mkdirSync(path.join(dir, "repository"));
    const argv = ["--config", config, "--state-dir", path.join(dir, "state"),
      "--http", "127.0.0.1:0", "--grpc", "127.0.0.1:0",
      ...(args ? args(dir) : ["--ipc", path.join(dir, "mlosd.sock"),
        "--worker", path.join(build, "bin", "mlos-worker"), "--model-root", path.join(dir, "roots"),
        "--model-repository", path.join(dir, "repository")])];
    const child = spawn(path.join(build, "bin", "mlosd"), argv, { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.on("data", (b) => { out += b; });
    child.stderr.on("data", (b) => { out += b; });
    const exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
    let ready = false;
    try {
      const deadline = Date.now() + 60000;
      let port = null;
      while (!port) {
        if (child.exitCode !== null) assert.fail(`${name}: mlosd exited ${child.exitCode}: ${out}`);
        if (Date.now() > deadline) assert.fail(`${name}: mlosd did not listen: ${out}`);
        port = out.match(/^mlosd listening on http:\/\/127\.0\.0\.1:(\d+)$/m)?.[1];
        if (!port) await new Promise((r) => setTimeout(r, 50));
      }
      let status = 0;
      while (status !== 200 && Date.now() < deadline) {
        status = (await request(`http://127.0.0.1:${port}/v2/health/ready`)).status;
        if (status !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(status, 200, `${name}: /v2/health/ready: ${out}`);
      if (check) await check(`http://127.0.0.1:${port}`, out);
      ready = true;
    } finally {
      child.kill("SIGTERM");
      // It drains and exits at once when idle; a hang must not hang the test.
      const killer = setTimeout(() => child.kill("SIGKILL"), 45000);
      const code = await exited;
      clearTimeout(killer);
      if (ready) assert.equal(code, 0, `${name}: mlosd exit status on SIGTERM (null: killed after 45 s): ${out}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test("mlosd accepts every config the deployments ship", async () => {
  const configs = [
    ["deploy/mlosd.yaml (the .deb's /etc/mlos/mlosd.yaml)", fs.readFileSync(path.join(root, "deploy", "mlosd.yaml"), "utf8")],
    ["deploy/docker/mlosd.yaml (the image's)", fs.readFileSync(path.join(root, "deploy", "docker", "mlosd.yaml"), "utf8")],
    ["deploy/k8s/configmap.yaml mlosd.yaml", one("ConfigMap").data["mlosd.yaml"]],
  ];
  for (const [name, text] of configs) await withMlosd(name, text);
  // And a config with a mistake is refused, so the check above can fail.
  await assert.rejects(withMlosd("a bad config", "http:\n  listen: 127.0.0.1:8080\nisolation:\n  default: sometimes\n"));
});

test("the KServe runtime's mlosd serves what the storage initializer puts in /mnt/models", async () => {
  // /mnt/models as KServe leaves it for a package directory: manifest.yaml and the model file,
  // made by the real axon from the demo model.
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "mlos-kserve-test-"));
  try {
    fs.mkdirSync(path.join(work, "src"));
    fs.copyFileSync(path.join(build, "fixtures", "demo_celsius.onnx"), path.join(work, "src", "model.onnx"));
    execFileSync(path.join(build, "bin", "axon"), ["install", path.join(work, "src"), "--name", "demo/celsius@1.0.0"],
      { env: { ...process.env, AXON_HOME: path.join(work, "axon") }, stdio: "pipe" });
    const mnt = path.join(work, "mnt-models");
    fs.cpSync(path.join(work, "axon", "cache", "models", "demo", "celsius", "1.0.0"), mnt, { recursive: true });
    // The runtime's arguments, with /mnt/models here; the image's config as --config.
    const runtimeArgs = one("ClusterServingRuntime").spec.containers[0].args
      .filter((a) => !a.startsWith("--config="))
      .map((a) => a.replaceAll("/mnt/models", mnt));
    await withMlosd("ClusterServingRuntime mlosd", fs.readFileSync(path.join(root, "deploy", "docker", "mlosd.yaml"), "utf8"), {
      args: () => runtimeArgs,
      check: async (url, out) => {
        // Ready only once the model is loaded (KServe's readiness probe); v2 inference without a
        // token (the runtime turns auth off: KServe's ingress authenticates).
        assert.equal((await request(`${url}/v2/models/demo%2Fcelsius/ready`)).status, 200, out);
        const r = await request(`${url}/v2/models/demo%2Fcelsius/infer`, {
          method: "POST",
          body: JSON.stringify({ inputs: [{ name: "celsius", datatype: "FP32", shape: [1], data: [37] }] }),
        });
        assert.equal(r.status, 200, r.body);
        assert.ok(Math.abs(JSON.parse(r.body).outputs[0].data[0] - 98.6) < 1e-3, r.body);
      },
    });
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
