// The web console in a real browser (docs/console.md): Debian's chromium, headless, driven by
// puppeteer-core (tests/ui/package-lock.json; no browser download) against the real mlosd of
// this build with two fixture models. Run by ctest as console_browser:
//   node --test tests/ui/console_test.mjs   (MLOS_BUILD_DIR=<build dir>, default ./build)
// MLOS_CONSOLE_SCREENSHOTS=<dir> also saves the console's screenshots there
// (scripts/console_screenshots.sh writes docs/console-*.png with it).
// A missing chromium or puppeteer-core fails the run: nothing here is skipped.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";

import puppeteer from "puppeteer-core";

import { MODELS, Mlosd, tempDir } from "./mlosd.mjs";

const CHROMIUM = process.env.MLOS_CHROMIUM || "/usr/bin/chromium";
const SHOTS = process.env.MLOS_CONSOLE_SCREENSHOTS || "";
const WAIT = { timeout: 20000 };

let browser;
const dirs = [];

async function launch() {
  assert.ok(fs.existsSync(CHROMIUM),
    `${CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh) or set MLOS_CHROMIUM`);
  const args = ["--disable-gpu", "--disable-dev-shm-usage", "--no-first-run", "--mute-audio"];
  // Chromium's sandbox refuses to run as root (and needs user namespaces a container may lack:
  // MLOS_CHROMIUM_NO_SANDBOX=1).
  if ((process.getuid && process.getuid() === 0) || process.env.MLOS_CHROMIUM_NO_SANDBOX === "1") {
    args.push("--no-sandbox");
  }
  return puppeteer.launch({ executablePath: CHROMIUM, headless: true, args });
}

// A page that records what would go wrong quietly: script errors, console errors (CSP
// violations are reported there), failed requests.
async function openPage(url) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  page.problems = [];
  page.on("pageerror", (e) => page.problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    // The browser logs every 4xx answer to a fetch as an error; the tests provoke some (a bad
    // token, a refused action) and check what the page shows instead. Anything else counts.
    if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  page.on("requestfailed", (r) => page.problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(`${url}/ui`, { waitUntil: "domcontentloaded" });
  return page;
}

const rowSelector = (id) => `#models tr[data-model="${id}"]`;

async function rowState(page, id) {
  return page.$eval(rowSelector(id), (tr) => tr.dataset.state);
}

async function chartData(page, id) {
  return page.$eval(`#${id}`, (c) => ({
    points: Number(c.dataset.points || 0),
    sum: Number(c.dataset.sum || 0),
    draws: Number(c.dataset.draws || 0),
  }));
}

async function screenshot(page, name) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name), type: "png" });
}

// Clicks a row's action button and answers the confirmation dialog.
async function clickAction(page, id, action, answer) {
  await page.click(`${rowSelector(id)} button[data-action="${action}"]`);
  await page.waitForSelector("#confirm[open]", WAIT);
  const text = await page.$eval("#confirm-text", (e) => e.textContent);
  await page.click(answer ? "#confirm-ok" : "#confirm-cancel");
  await page.waitForSelector("#confirm:not([open])", WAIT);
  return text;
}

before(async () => {
  browser = await launch();
});

after(async () => {
  if (browser) await browser.close();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("console without auth", () => {
  let mlosd, mlp, celsius, page;

  before(async () => {
    const root = tempDir();
    dirs.push(root);
    mlosd = await new Mlosd(root).start();
    mlp = await mlosd.addModel(MODELS.mlp);
    celsius = await mlosd.addModel(MODELS.celsius);
    page = await openPage(mlosd.url);
  });

  after(async () => {
    if (page) await page.close();
    if (mlosd) await mlosd.stop();
  });

  it("lists the registered models with their state", async () => {
    await page.waitForSelector(rowSelector(mlp.id), WAIT);
    await page.waitForSelector(rowSelector(celsius.id), WAIT);
    assert.equal(await page.$eval("#login", (e) => e.hidden), true, "no login without auth");
    const rows = await page.$$eval("#models tbody tr", (trs) => trs.map((tr) => ({
      id: tr.dataset.model,
      cells: [...tr.cells].map((c) => c.textContent.trim()),
    })));
    const listed = await mlosd.call("GET", "/models");
    assert.deepEqual(rows.map((r) => r.id).sort(), listed.json.models.map((m) => m.id).sort());
    const row = rows.find((r) => r.id === mlp.id).cells;
    assert.equal(row[0], "test/mlp");
    assert.equal(row[1], "1.0.0");
    assert.equal(row[2], "READY");
    assert.equal(row[3], "✓", "the only version is the default");
    assert.match(row[5], /\d+(\.\d)? (B|KiB|MiB)/, "memory");
    assert.match(row[6], /ms|s$/, "load time");
    // Plugins and the audit log (auth off: everyone is an admin) are there too.
    await page.waitForSelector('#plugins tr[data-plugin="onnx"]', WAIT);
    await page.waitForFunction(() => document.querySelectorAll("#audit tbody tr").length >= 4, WAIT);
    const audit = await page.$$eval("#audit tbody tr", (trs) => trs.map((tr) => tr.cells[2].textContent));
    assert.ok(audit.includes("register") && audit.includes("load"), audit.join(","));
    assert.match(await page.$eval("#server", (e) => e.textContent), /^mlosd /);
    assert.deepEqual(page.problems, []);
  });

  it("unloads a model after a confirmation, and the page and server show it", async () => {
    // Cancelled: nothing happens.
    const question = await clickAction(page, mlp.id, "unload", false);
    assert.match(question, /Unload test\/mlp@1\.0\.0\?/);
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(await rowState(page, mlp.id), "READY");
    assert.equal((await mlosd.model(mlp.id)).state, "READY");
    // Confirmed: the server unloads it and the row follows.
    await clickAction(page, mlp.id, "unload", true);
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === "UNLOADED",
      WAIT, rowSelector(mlp.id));
    assert.equal((await mlosd.model(mlp.id)).state, "UNLOADED");
    assert.equal(await page.$eval(`${rowSelector(mlp.id)} td.state`, (e) => e.textContent), "UNLOADED");
    assert.equal(await rowState(page, celsius.id), "READY", "the other model is untouched");
    // The same button now loads it again.
    await page.waitForSelector(`${rowSelector(mlp.id)} button[data-action="load"]:not([disabled])`, WAIT);
    await clickAction(page, mlp.id, "load", true);
    await page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state === "READY",
      WAIT, rowSelector(mlp.id));
    assert.equal((await mlosd.model(mlp.id)).state, "READY");
    // Pinning goes through too.
    await clickAction(page, mlp.id, "pin", true);
    await page.waitForSelector(`${rowSelector(mlp.id)} button[data-action="unpin"]`, WAIT);
    assert.equal((await mlosd.model(mlp.id)).pinned, true);
    assert.equal(await page.$eval("#action-error", (e) => e.hidden), true);
    // A refused action shows the server's message: no previous default to roll back to.
    await clickAction(page, mlp.id, "rollback", true);
    await page.waitForSelector("#action-error:not([hidden])", WAIT);
    assert.match(await page.$eval("#action-error-text", (e) => e.textContent),
      /^rollback test\/mlp: .*no previous default/);
    await page.click("#action-error-close");
    await page.waitForSelector("#action-error[hidden]", WAIT);
    assert.deepEqual(page.problems, []);
  });

  it("updates the charts under load", async () => {
    const before = {
      throughput: await chartData(page, "chart-throughput"),
      latency: await chartData(page, "chart-latency"),
      memory: await chartData(page, "chart-memory"),
    };
    // Inference requests for ~4 s, 4 at a time, while the page is open.
    let sent = 0, failed = 0;
    const until = Date.now() + 4000;
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (Date.now() < until) {
        const r = await mlosd.inferMlp(mlp.id, 2);
        sent++;
        if (r.status !== 200) failed++;
      }
    }));
    assert.equal(failed, 0);
    assert.ok(sent >= 20, `only ${sent} requests in 4 s`);
    // The charts take it in at their next refresh (each second).
    await page.waitForFunction((n) => Number(document.getElementById("chart-throughput").dataset.sum) >= n,
      WAIT, sent);
    const now = {
      throughput: await chartData(page, "chart-throughput"),
      latency: await chartData(page, "chart-latency"),
      memory: await chartData(page, "chart-memory"),
    };
    assert.equal(now.throughput.sum - before.throughput.sum, sent, "every request in the throughput chart");
    assert.ok(now.latency.points > before.latency.points, "latency points appeared");
    assert.ok(now.latency.sum > 0, "a latency was drawn");
    assert.ok(now.throughput.draws > before.throughput.draws);
    assert.ok(now.memory.draws > before.memory.draws, "memory is redrawn");
    assert.ok(now.memory.points >= Math.min(before.memory.points + 2, 60), "memory is sampled over time");
    // The model's row: requests/s and latency over the last minute.
    const cells = await page.$eval(rowSelector(mlp.id), (tr) => [...tr.cells].map((c) => c.textContent));
    assert.ok(Number(cells[7]) > 0, `requests/s ${cells[7]}`);
    assert.match(cells[8], /ms|s$/, "p50");
    assert.match(cells[9], /ms|s$/, "p99");
    assert.equal(cells[10], "0", "errors");
    const live = await mlosd.call("GET", "/stats/live");
    const stats = live.json.models.find((m) => m.model === mlp.id);
    assert.equal(stats.requests, sent);
    await screenshot(page, "console-models.png");
    const charts = await page.$(".charts");
    if (SHOTS) await charts.screenshot({ path: path.join(SHOTS, "console-charts.png") });
    assert.deepEqual(page.problems, []);
  });
});

describe("console with auth required", () => {
  let mlosd, mlp, page;

  before(async () => {
    const root = tempDir();
    dirs.push(root);
    mlosd = await new Mlosd(root, ["--auth", "required"]).start();
    assert.match(mlosd.token, /^mlos_/, "the first admin token is in <state-dir>/admin.token");
    mlp = await mlosd.addModel(MODELS.mlp);
    page = await openPage(mlosd.url);
  });

  after(async () => {
    if (page) await page.close();
    if (mlosd) await mlosd.stop();
  });

  it("refuses a bad token on the login page", async () => {
    await page.waitForSelector("#login:not([hidden])", WAIT);
    assert.equal(await page.$eval("#console", (e) => e.hidden), true);
    await page.type("#token", "mlos_not-a-real-token");
    await page.click("#login-submit");
    await page.waitForSelector("#login-error:not([hidden])", WAIT);
    assert.match(await page.$eval("#login-error", (e) => e.textContent), /refused/);
    assert.equal(await page.$eval("#console", (e) => e.hidden), true, "still locked");
    assert.equal(await page.$$eval("#models tbody tr", (trs) => trs.length), 0, "no data shown");
    assert.equal(await page.evaluate(() => sessionStorage.length), 0, "a refused token is not kept");
    if (SHOTS) {
      await page.screenshot({ path: path.join(SHOTS, "console-login.png"),
        clip: { x: 0, y: 0, width: 1280, height: 360 } });
    }
    // The server saw it as an unauthenticated call.
    const audit = await mlosd.call("GET", "/audit");
    assert.ok(audit.json.events.some((e) => e.outcome === "unauthenticated"));
    assert.deepEqual(page.problems, []);
  });

  it("lets the admin token in", async () => {
    await page.$eval("#token", (e) => { e.value = ""; });
    await page.type("#token", mlosd.token);
    await page.click("#login-submit");
    await page.waitForSelector(rowSelector(mlp.id), WAIT);
    assert.equal(await page.$eval("#login", (e) => e.hidden), true);
    assert.equal(await rowState(page, mlp.id), "READY");
    // The admin reads the audit log: its own register and load are there.
    await page.waitForFunction(() => [...document.querySelectorAll("#audit tbody tr")]
      .some((tr) => tr.cells[1].textContent === "admin" && tr.cells[2].textContent === "load"), WAIT);
    // The token stays for this tab: a reload goes straight to the console.
    await page.reload({ waitUntil: "domcontentloaded" });
    await page.waitForSelector(rowSelector(mlp.id), WAIT);
    assert.equal(await page.$eval("#login", (e) => e.hidden), true);
    // Signing out forgets it.
    await page.click("#signout");
    await page.waitForSelector("#login:not([hidden])", WAIT);
    assert.equal(await page.evaluate(() => sessionStorage.length), 0);
    assert.deepEqual(page.problems, []);
  });

  it("shows a reader the models but not the audit log, and refuses its actions", async () => {
    const created = await mlosd.call("POST", "/tokens", { name: "viewer", role: "reader" });
    assert.equal(created.status, 200, created.text);
    await page.type("#token", created.json.token);
    await page.click("#login-submit");
    await page.waitForSelector(rowSelector(mlp.id), WAIT);
    await page.waitForSelector("#audit-note:not([hidden])", WAIT);
    assert.match(await page.$eval("#audit-note", (e) => e.textContent), /Only admins/);
    assert.equal(await page.$eval("#audit", (e) => e.hidden), true);
    await clickAction(page, mlp.id, "unload", true);
    await page.waitForSelector("#action-error:not([hidden])", WAIT);
    assert.match(await page.$eval("#action-error-text", (e) => e.textContent),
      /^unload test\/mlp@1\.0\.0: .*viewer.*may not unload/);
    assert.equal((await mlosd.model(mlp.id)).state, "READY");
    assert.equal(await rowState(page, mlp.id), "READY");
    assert.deepEqual(page.problems, []);
  });
});
