// Drives the dashboard in headless Chromium against a seeded server (see run.sh).
// Checks numbers against the JSON API, follows links overview → asset → vulnerability
// → package, uses filters, search, the theme toggle and logout, and screenshots pages.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";

const URL = process.env.POSTWATCH_URL;
const TOKEN = process.env.POSTWATCH_TOKEN;
const OUT = process.env.SCREENSHOTS;
const USER_DATA_DIR = process.env.USER_DATA_DIR;
assert.ok(URL && TOKEN && OUT && USER_DATA_DIR, "run through run.sh");

async function api(p) {
  const r = await fetch(URL + p, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r.json();
}

const summary = await api("/api/v1/fleet/summary");
const assets = await api("/api/v1/assets");
assert.ok(assets.length >= 3, "seeded assets");
const pyapp = assets.find((a) => a.name === "bookworm-pyapp");
assert.ok(pyapp, "bookworm-pyapp reported");

const context = await chromium.launchPersistentContext(USER_DATA_DIR, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1360, height: 900 },
  colorScheme: "light",
});
const page = context.pages()[0] || (await context.newPage());
const problems = [];
page.on("console", (m) => { if (m.type() === "error") problems.push(`console: ${m.text()}`); });
page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
page.on("request", (r) => {
  if (!r.url().startsWith(URL) && !r.url().startsWith("data:")) problems.push(`external request: ${r.url()}`);
});

let step = 0;
async function shot(name) {
  step += 1;
  const file = path.join(OUT, `${String(step).padStart(2, "0")}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}
const text = async (sel) => (await page.locator(sel).innerText()).trim();
const num = (s) => Number(String(s).replace(/[^\d.]/g, ""));
function ok(msg) { console.log(`ok - ${msg}`); }

try {
  // Login.
  await page.goto(URL + "/");
  await page.getByLabel("API token").waitFor();
  await shot("login");
  await page.getByLabel("API token").fill("pwu_wrong");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("p.error").waitFor();
  ok("wrong token refused");
  problems.length = 0; // the refused login answered 401 on purpose
  await page.getByLabel("API token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("h1", { hasText: "Fleet overview" }).waitFor();
  const cookie = (await context.cookies()).find((c) => c.name === "postwatch_session");
  assert.ok(cookie, "session cookie");
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, "Strict");
  ok("signed in; cookie HttpOnly SameSite=Strict");

  // Overview numbers against the API.
  for (const sev of ["critical", "high", "medium", "low", "unknown"]) {
    const row = page.locator(`#severity-table tr[data-severity="${sev.toUpperCase()}"]`);
    const cell = async (c) => num(await row.locator(`td[data-col="${c}"]`).innerText());
    assert.equal(await cell("total"), summary.findings[sev].total, `${sev} total`);
    assert.equal(await cell("yes"), summary.findings[sev].yes, `${sev} in use`);
    assert.equal(await cell("no"), summary.findings[sev].no, `${sev} not in use`);
  }
  const openStat = page.locator(".stat", { hasText: "Open findings" }).locator(".stat-value");
  assert.equal(num(await openStat.innerText()), summary.findings.total.total);
  const riskSum = assets.reduce((s, a) => s + a.risk_total, 0);
  const riskStat = page.locator(".stat", { hasText: "Fleet risk" }).locator(".stat-value");
  assert.equal(await riskStat.innerText(), riskSum.toFixed(1));
  assert.ok(summary.findings.total.total > 50, "seeded findings");
  assert.ok((await page.locator("svg.chart rect").count()) > 0, "trend chart drawn");
  assert.equal(await page.locator("#top-packages tbody tr").count(), summary.top_packages.length);
  ok("overview figures match /api/v1/fleet/summary");
  await shot("overview");
  await page.getByLabel("Period").selectOption("90");
  await page.waitForURL(/days=90/);
  assert.equal(await page.getByLabel("Period").inputValue(), "90");
  ok("period selector deep-links ?days=90");

  // Assets: table, filter, sort.
  await page.getByRole("link", { name: "Assets", exact: true }).click();
  await page.locator("#assets-table").waitFor();
  assert.equal(await page.locator("#assets-table tbody tr").count(), assets.length);
  const row = page.locator(`#assets-table tr[data-asset-id="${pyapp.id}"]`);
  assert.equal(num(await row.locator("td").nth(4).innerText()), pyapp.open_findings.critical);
  await shot("assets");
  await page.getByLabel("Name contains").fill("pyapp");
  await page.getByRole("button", { name: "Apply" }).click();
  await page.waitForURL(/q=pyapp/);
  assert.equal(await page.locator("#assets-table tbody tr").count(), 1);
  ok("asset filter by name");
  await page.goto(URL + "/assets?sort=name&dir=asc");
  const names = await page.locator("#assets-table tbody tr td:first-child a").allInnerTexts();
  assert.deepEqual(names, [...names].sort());
  await page.getByRole("link", { name: /^Name/ }).click();
  await page.waitForURL(/sort=name&dir=desc/);
  const desc = await page.locator("#assets-table tbody tr td:first-child a").allInnerTexts();
  assert.deepEqual(desc, [...names].reverse());
  ok("assets sort by name both ways");

  // Overview → asset (the hosts chart links to assets).
  await page.goto(URL + "/");
  await page.locator(`svg a[href="/assets/${pyapp.id}"]`).first().click();
  await page.waitForURL(new RegExp(`/assets/${pyapp.id}$`));
  await page.locator("h1", { hasText: "bookworm-pyapp" }).waitFor();
  const findingsRows = await page.locator("#findings-table tbody tr").count();
  assert.equal(findingsRows, pyapp.open_findings.total, "asset findings rows");
  const pypiRows = await page.locator("#findings-table tbody tr", { hasText: "PyPI" }).count();
  assert.ok(pypiRows >= 40, `PyPI findings on bookworm-pyapp: ${pypiRows}`);
  ok(`asset page lists ${findingsRows} findings (${pypiRows} PyPI)`);
  await shot("asset");
  await page.getByLabel("Severity", { exact: true }).selectOption("CRITICAL,HIGH");
  await page.getByRole("button", { name: "Filter" }).click();
  await page.waitForURL(/severity=CRITICAL%2CHIGH/);
  const hi = await page.locator("#findings-table tbody tr").count().catch(() => 0);
  assert.equal(hi, pyapp.open_findings.critical + pyapp.open_findings.high);
  ok("findings severity filter");

  // Asset → vulnerability → package.
  await page.goto(`${URL}/assets/${pyapp.id}`);
  const firstPypi = page.locator("#findings-table tbody tr", { hasText: "PyPI" }).first();
  const vulnId = (await firstPypi.locator("td").nth(2).locator("a").innerText()).trim();
  await firstPypi.locator("td").nth(2).locator("a").click();
  await page.locator("h1", { hasText: vulnId }).waitFor();
  const apiVuln = await api(`/api/v1/findings?id=${encodeURIComponent(vulnId)}`);
  assert.equal(await page.locator("#vuln-assets tbody tr").count(), apiVuln.length);
  if (apiVuln[0].finding.cvss) {
    assert.ok((await page.locator("#cvss-metrics tbody tr").count()) >= 6, "cvss metrics");
  }
  ok(`vulnerability page ${vulnId}: ${apiVuln.length} affected`);
  await shot("vulnerability");
  const pkgName = apiVuln[0].finding.package.name;
  await page.locator("#vuln-assets tbody tr").first().locator("td").nth(1).locator("a").click();
  await page.locator("h1", { hasText: pkgName }).waitFor();
  assert.ok((await page.locator("#package-assets tbody tr", { hasText: "bookworm-pyapp" }).count()) >= 1);
  assert.ok((await page.locator("#package-vulns tbody tr", { hasText: vulnId }).count()) === 1);
  ok(`package page ${pkgName}`);
  await shot("package");

  // Search from the header.
  await page.getByLabel("Search assets, packages, vulnerabilities").fill("pyapp");
  await page.getByLabel("Search assets, packages, vulnerabilities").press("Enter");
  await page.waitForURL(/\/search\?q=pyapp/);
  assert.equal(await page.locator("#result-assets li").count(), 1);
  await page.getByLabel("Search assets, packages, vulnerabilities").fill(vulnId.toLowerCase());
  await page.getByRole("button", { name: "Search", exact: true }).click();
  await page.locator("#result-vulns li").first().waitFor();
  await page.goto(`${URL}/search?q=${encodeURIComponent(pkgName)}`);
  await page.locator("#result-packages li").first().waitFor();
  ok("search finds assets, vulnerabilities, packages");
  await shot("search");

  // Escaping: a hostile query is shown as text.
  await page.goto(`${URL}/search?q=${encodeURIComponent('<img src=x onerror=alert(1)>')}`);
  assert.equal(await page.locator("main img").count(), 0);
  ok("search query is escaped");

  // Theme toggle, remembered across pages.
  await page.goto(URL + "/");
  const before = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.locator("#theme-toggle").click();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  const after = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.notEqual(before, after);
  await shot("overview-dark");
  await page.goto(`${URL}/assets/${pyapp.id}`);
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), "dark");
  await shot("asset-dark");
  await page.locator("#theme-toggle").click();
  ok("theme toggle");

  // Keyboard: the first Tab on a fresh page reaches the skip link.
  await page.goto(`${URL}/assets`);
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.className), "skip");
  ok("keyboard: skip link first");

  // Render time.
  for (const p of ["/", "/assets", `/assets/${pyapp.id}`, `/vulns/${encodeURIComponent(vulnId)}`]) {
    const t0 = performance.now();
    const r = await fetch(URL + p, { headers: { Cookie: `postwatch_session=${TOKEN}` } });
    await r.text();
    const ms = performance.now() - t0;
    assert.equal(r.status, 200, p);
    assert.ok(ms < 200, `${p} took ${ms.toFixed(0)} ms`);
    console.log(`ok - ${p} in ${ms.toFixed(1)} ms`);
  }

  // Logout; pages need the session again.
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("API token").waitFor();
  await page.goto(URL + "/assets?kind=host");
  await page.waitForURL(/\/login\?next=/);
  await page.getByLabel("API token").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.waitForURL(/\/assets\?kind=host/);
  ok("logout; login returns to the deep link");
  assert.deepEqual(problems, [], "no console errors, failed or external requests");
  ok("no console errors, CSP violations, failed or external requests");
  const r404 = await page.goto(URL + "/vulns/NOPE-1");
  assert.equal(r404.status(), 404);
  await page.locator("h1", { hasText: "Not found" }).waitFor();
  console.log("all browser checks passed");
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(e);
  if (problems.length) console.error(problems.join("\n"));
  process.exitCode = 1;
} finally {
  await context.close();
}
