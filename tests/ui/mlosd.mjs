// The real mlosd for the browser tests (as tests/integration/mlosd_harness.h does it for the
// C++ tests): model packages written from the build's fixture models, the daemon started on a
// free loopback port with its own state directory, and small HTTP helpers.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export const SOURCE_DIR = process.env.MLOS_SOURCE_DIR || path.resolve(import.meta.dirname, "../..");
export const BUILD_DIR = process.env.MLOS_BUILD_DIR || path.join(SOURCE_DIR, "build");
export const MLOSD = path.join(BUILD_DIR, "bin", "mlosd");
export const FIXTURES = path.join(BUILD_DIR, "fixtures");

// Daemons still running when the test process exits (a crash, an uncaught failure) are killed.
const running = new Set();
process.on("exit", () => {
  for (const p of running) p.kill("SIGKILL");
});

export function tempDir() {
  return fs.mkdtempSync(path.join(os.tmpdir(), "mlos-console-"));
}

// The fixture models the tests register: an MLP (float32 [-1, 16] -> logits, probs [-1, 4])
// and the Celsius converter ([-1] -> [-1]).
export const MODELS = {
  mlp: {
    name: "mlp",
    file: "mlp.onnx",
    io: "    inputs:\n      - name: input\n        dtype: float32\n        shape: [-1, 16]\n" +
      "    outputs:\n      - name: logits\n        dtype: float32\n        shape: [-1, 4]\n" +
      "      - name: probs\n        dtype: float32\n        shape: [-1, 4]\n",
  },
  celsius: {
    name: "celsius",
    file: "demo_celsius.onnx",
    io: "    inputs:\n      - name: celsius\n        dtype: float32\n        shape: [-1]\n" +
      "    outputs:\n      - name: fahrenheit\n        dtype: float32\n        shape: [-1]\n",
  },
};

// Writes the package <root>/<ns>-<name>-<version>/ (manifest.yaml + model.onnx); returns
// {id, dir}.
export function writePackage(root, model, { ns = "test", version = "1.0.0" } = {}) {
  const bytes = fs.readFileSync(path.join(FIXTURES, model.file));
  const dir = path.join(root, `${ns}-${model.name}-${version}`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, "model.onnx"), bytes);
  const sha = createHash("sha256").update(bytes).digest("hex");
  fs.writeFileSync(path.join(dir, "manifest.yaml"),
    "apiVersion: axon.mlos.io/v1\nkind: Model\n" +
    `metadata:\n  name: ${model.name}\n  namespace: ${ns}\n  version: ${version}\n` +
    "spec:\n  framework:\n    name: onnx\n  format:\n    type: onnx\n    execution_format: onnx\n" +
    `    files:\n      - path: model.onnx\n        size: ${bytes.length}\n        sha256: ${sha}\n` +
    "    execution_files:\n      - path: model.onnx\n        format: onnx\n        type: single\n" +
    `  io:\n${model.io}`);
  return { id: `${ns}/${model.name}@${version}`, name: `${ns}/${model.name}`, dir };
}

export class Mlosd {
  // root: a temporary directory (state in root/state, packages in root/pkgs, the log in
  // root/mlosd.log); args: more mlosd arguments.
  constructor(root, args = []) {
    this.root = root;
    this.args = args;
    this.stateDir = path.join(root, "state");
    this.pkgs = path.join(root, "pkgs");
    this.logPath = path.join(root, "mlosd.log");
    this.token = "";
    fs.mkdirSync(this.pkgs, { recursive: true });
  }

  async start() {
    if (!fs.existsSync(MLOSD)) throw new Error(`${MLOSD} is missing: build it first (make build)`);
    const log = fs.openSync(this.logPath, "w");
    this.proc = spawn(MLOSD, ["--http", "127.0.0.1:0", "--state-dir", this.stateDir,
      "--model-root", this.pkgs, ...this.args], { stdio: ["ignore", "pipe", log] });
    fs.closeSync(log);
    running.add(this.proc);
    this.proc.on("exit", () => running.delete(this.proc));
    let out = "";
    this.port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`mlosd did not start:\n${out}\n${this.log()}`)), 60000);
      this.proc.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`mlosd exited (${code}):\n${this.log()}`));
      });
      this.proc.stdout.on("data", (d) => {
        out += d;
        const m = /mlosd listening on http:\/\/127\.0\.0\.1:(\d+)\n/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
    });
    this.url = `http://127.0.0.1:${this.port}`;
    const tokenFile = path.join(this.stateDir, "admin.token");
    if (fs.existsSync(tokenFile)) this.token = fs.readFileSync(tokenFile, "utf8").trim();
    return this;
  }

  log() {
    try {
      return fs.readFileSync(this.logPath, "utf8");
    } catch {
      return "";
    }
  }

  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once("exit", resolve));
    this.proc.kill("SIGTERM");
    const timer = setTimeout(() => this.proc.kill("SIGKILL"), 10000);
    await exited;
    clearTimeout(timer);
  }

  // One call with the admin token (when auth is on); {status, json}.
  async call(method, p, body, token = this.token) {
    const headers = {};
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(this.url + p, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: res.status, json, text };
  }

  // Registers and loads a fixture model; returns its package ({id, name, dir}).
  async addModel(model, options) {
    const pkg = writePackage(this.pkgs, model, options);
    const reg = await this.call("POST", "/models/register", {
      model_id: pkg.id, name: model.name, framework: "onnx", execution_format: "onnx",
      path: pkg.dir, description: `console test model ${model.name}`,
    });
    if (reg.status !== 200) throw new Error(`register ${pkg.id}: ${reg.status} ${reg.text}`);
    const load = await this.call("POST", `/models/${encodeURIComponent(pkg.id)}/load`);
    if (load.status !== 200) throw new Error(`load ${pkg.id}: ${load.status} ${load.text}`);
    return pkg;
  }

  async model(id) {
    const r = await this.call("GET", `/models/${encodeURIComponent(id)}`);
    if (r.status !== 200) throw new Error(`GET model ${id}: ${r.status} ${r.text}`);
    return r.json;
  }

  // One inference request to the MLP (a batch of `rows` rows of 16).
  async inferMlp(id, rows = 1) {
    const input = Array.from({ length: rows * 16 }, (_, i) => (i % 7) * 0.25);
    return this.call("POST", `/models/${encodeURIComponent(id)}/inference`, { input });
  }
}
