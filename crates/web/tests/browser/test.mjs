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

const INUSE = process.env.INUSE === "1";

async function apiResponse(p) {
  const r = await fetch(URL + p, { headers: { Authorization: `Bearer ${TOKEN}` } });
  assert.equal(r.status, 200, `${p}: ${r.status}`);
  return r;
}
async function api(p) {
  return (await apiResponse(p)).json();
}

// 120 small hosts (one npm package, no findings), reported as CI would: enough rows
// for the assets table and a package's assets to need a second page.
const PROBE = "pw-paging-probe";
for (let i = 0; i < 120; i++) {
  const name = `paging-host-${String(i).padStart(3, "0")}`;
  const r = await fetch(URL + "/api/v1/reports", {
    method: "POST",
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json" },
    body: JSON.stringify({
      protocol: "1", report_id: `paging-${i}`, taken_at: new Date().toISOString(),
      asset: { kind: "host", name },
      inventory: {
        type: "full", target: { name: "/", type: "host" },
        packages: [{
          name: PROBE, version: `1.0.${i % 3}`, ecosystem: "npm", purl: `pkg:npm/${PROBE}@1.0.${i % 3}`,
          package_manager: "npm", found_in: `/srv/node_modules/${PROBE}/package.json`, file_count: 0,
        }],
      },
    }),
  });
  assert.equal(r.status, 200, `report ${name}: ${r.status} ${await r.text()}`);
}

const summary = await api("/api/v1/fleet/summary");
const assetsResponse = await apiResponse("/api/v1/assets");
const assets = await assetsResponse.json();
assert.ok(assets.length >= 123, "seeded assets");
assert.equal(Number(assetsResponse.headers.get("x-total-count")), assets.length);
const history = await api("/api/v1/history");
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
  if (INUSE) {
    assert.ok(summary.findings.total.yes > 0, "seeded in-use findings");
    const inUseStat = page.locator(".stat", { hasText: /^In use/ }).locator(".stat-value");
    assert.equal(num(await inUseStat.innerText()), summary.findings.total.yes);
    const last = history[history.length - 1];
    const inUseLine = last.counts.filter((c) => c.in_use === "yes").reduce((s, c) => s + c.count, 0);
    assert.equal(inUseLine, summary.findings.total.yes, "history in-use line today");
    const dot = page.locator(`svg.chart circle.line-inuse-dot title`, { hasText: `${last.day} In use: ` });
    assert.equal((await dot.textContent()).trim(), `${last.day} In use: ${inUseLine}`);
    ok(`in-use line: ${inUseLine} findings in use today`);
  }
  // Risk trend: the chart's latest point is the history API's, and today's fleet risk
  // is every asset's risk summed.
  const lastPoint = history[history.length - 1];
  const trend = page.locator("#risk-trend");
  assert.equal(await trend.locator("svg.chart polyline.line-risk").count(), 1, "risk line");
  assert.equal(await trend.locator("svg.chart polyline.line-risk-inuse").count(), 1, "in-use risk line");
  assert.equal(Number(await trend.locator("[data-risk]").getAttribute("data-risk")), lastPoint.risk);
  assert.equal(Number(await trend.locator("[data-risk-in-use]").getAttribute("data-risk-in-use")), lastPoint.risk_in_use);
  assert.equal(
    (await trend.locator("circle.line-risk-dot title", { hasText: lastPoint.day }).textContent()).trim(),
    `${lastPoint.day} Fleet risk: ${lastPoint.risk.toFixed(1)}`,
  );
  assert.ok(Math.abs(lastPoint.risk - riskSum) < 0.06, `history risk ${lastPoint.risk} vs assets ${riskSum}`);
  assert.ok(lastPoint.risk > 0);
  if (INUSE) assert.ok(lastPoint.risk_in_use > 0, "in-use risk recorded");
  ok(`risk trend: fleet risk ${lastPoint.risk}, in use ${lastPoint.risk_in_use} on ${lastPoint.day}`);
  assert.equal(await page.locator("#top-packages tbody tr").count(), summary.top_packages.length);
  ok("overview figures match /api/v1/fleet/summary");
  await shot("overview");
  await page.getByLabel("Period").selectOption("90");
  await page.waitForURL(/days=90/);
  assert.equal(await page.getByLabel("Period").inputValue(), "90");
  ok("period selector deep-links ?days=90");

  // Assets: table, paging, filter, sort.
  await page.getByRole("link", { name: "Assets", exact: true }).click();
  await page.locator("#assets-table").waitFor();
  assert.equal(await page.locator("#assets-table tbody tr").count(), 100);
  const pagerText = await page.locator("nav.pager .count").innerText();
  assert.equal(pagerText.replace(/\s/g, ""), `1–100of${assets.length}`);
  const row = page.locator(`#assets-table tr[data-asset-id="${pyapp.id}"]`);
  assert.equal(num(await row.locator("td").nth(4).innerText()), pyapp.open_findings.critical);
  await shot("assets");
  const firstPage = await page.locator("#assets-table tbody tr").evaluateAll((rs) => rs.map((r) => r.dataset.assetId));
  await page.locator("nav.pager a[rel=next]").click();
  await page.waitForURL(/page=2/);
  const secondPage = await page.locator("#assets-table tbody tr").evaluateAll((rs) => rs.map((r) => r.dataset.assetId));
  assert.equal(secondPage.length, assets.length - 100);
  assert.deepEqual(
    new Set([...firstPage, ...secondPage]),
    new Set(assets.map((a) => String(a.id))),
    "the two pages hold every asset once",
  );
  await shot("assets-page-2");
  await page.locator("nav.pager a[rel=prev]").click();
  await page.waitForURL((u) => !u.search.includes("page="));
  ok(`assets paged: 100 + ${secondPage.length} of ${assets.length}`);
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
  assert.deepEqual(desc, [...desc].sort().reverse());
  // Page 1 of each direction holds the two ends of the whole list.
  const allNames = assets.map((a) => a.name).sort();
  assert.equal(names[0], allNames[0]);
  assert.equal(desc[0], allNames[allNames.length - 1]);
  ok("assets sort by name both ways");

  // Overview → asset (the hosts chart links to assets).
  await page.goto(URL + "/");
  await page.locator(`svg a[href="/assets/${pyapp.id}"]`).first().click();
  await page.waitForURL(new RegExp(`/assets/${pyapp.id}$`));
  await page.locator("h1", { hasText: "bookworm-pyapp" }).waitFor();
  // Findings page by page until the total.
  let findingsRows = 0;
  let pypiRows = 0;
  for (let p = 1; ; p++) {
    const rows = await page.locator("#findings-table tbody tr").count();
    assert.equal(rows, Math.min(100, pyapp.open_findings.total - (p - 1) * 100), `findings page ${p}`);
    findingsRows += rows;
    pypiRows += await page.locator("#findings-table tbody tr", { hasText: "PyPI" }).count();
    if (p === 1) await shot("asset");
    const next = page.locator("#findings ~ * nav.pager a[rel=next], section:has(#findings) nav.pager a[rel=next]").first();
    if ((await next.count()) === 0) break;
    await next.click();
    await page.waitForURL(new RegExp(`page=${p + 1}`));
  }
  assert.equal(findingsRows, pyapp.open_findings.total, "asset findings rows over all pages");
  assert.ok(pypiRows >= 40, `PyPI findings on bookworm-pyapp: ${pypiRows}`);
  ok(`asset page lists ${findingsRows} findings (${pypiRows} PyPI) over ${Math.ceil(findingsRows / 100)} page(s)`);
  await page.goto(`${URL}/assets/${pyapp.id}`);
  const assetHistory = await api(`/api/v1/history?asset=${pyapp.id}`);
  const assetLast = assetHistory[assetHistory.length - 1];
  assert.equal(Number(await page.locator("#risk-trend [data-risk]").getAttribute("data-risk")), assetLast.risk);
  assert.ok(Math.abs(assetLast.risk - pyapp.risk_total) < 0.06, `asset risk ${assetLast.risk} vs ${pyapp.risk_total}`);
  assert.equal(await page.locator("#risk-trend polyline.line-risk").count(), 1);
  ok(`asset risk trend: ${assetLast.risk}`);
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

  // The package's assets, paged.
  await page.goto(`${URL}/packages/${PROBE}`);
  assert.equal(await page.locator("#package-assets tbody tr").count(), 100);
  assert.equal(num(await page.locator(".stat", { hasText: "Assets" }).locator(".stat-value").innerText()), 120);
  await page.locator("nav.pager a[rel=next]").click();
  await page.waitForURL(/page=2/);
  assert.equal(await page.locator("#package-assets tbody tr").count(), 20);
  ok("package assets paged: 100 + 20");
  await shot("package-page-2");

  // Findings API: one page, the total in X-Total-Count, the next page in Link.
  const fr = await apiResponse("/api/v1/findings?limit=10");
  assert.equal((await fr.json()).length, 10);
  assert.equal(Number(fr.headers.get("x-total-count")), summary.findings.total.total);
  assert.match(fr.headers.get("link"), /<\/api\/v1\/findings\?limit=10&offset=10>; rel="next"/);
  ok(`findings API: X-Total-Count ${fr.headers.get("x-total-count")}, Link next`);

  // Search by alias: an alias finds the finding filed under its primary id, and the
  // primary id's page is reached from the alias's URL.
  const pyappFindings = await api(`/api/v1/findings?asset=${pyapp.id}&limit=10000`);
  const aliased = pyappFindings.find((f) => f.finding.aliases.length > 0);
  assert.ok(aliased, "a finding with aliases");
  const primary = aliased.finding.id;
  const alias = aliased.finding.aliases[0];
  await page.goto(`${URL}/search?q=${encodeURIComponent(alias.toLowerCase())}`);
  const hit = page.locator("#result-vulns li", { hasText: primary });
  assert.equal(await hit.count(), 1, `searching ${alias} finds ${primary}`);
  assert.ok((await hit.innerText()).includes(`alias ${alias}`));
  await shot("search-alias");
  await page.goto(`${URL}/vulns/${encodeURIComponent(alias)}`);
  await page.waitForURL(new RegExp(`/vulns/${encodeURIComponent(primary)}$`));
  await page.locator("dd", { hasText: alias }).first().waitFor();
  ok(`alias search: ${alias} → ${primary}; /vulns/${alias} shows ${primary}`);
  // And the other way: an id that is the primary of another record's alias list.
  const cveAliased = pyappFindings.find((f) => !f.finding.id.startsWith("CVE-") && f.finding.aliases.some((a) => a.startsWith("CVE-")));
  if (cveAliased) {
    const cve = cveAliased.finding.aliases.find((a) => a.startsWith("CVE-"));
    await page.goto(`${URL}/search?q=${encodeURIComponent(cve)}`);
    assert.equal(await page.locator("#result-vulns li", { hasText: cveAliased.finding.id }).count(), 1);
    ok(`alias search: ${cve} → ${cveAliased.finding.id}`);
  }

  // Search by part of a package name, in any case.
  const part = pkgName.slice(1, Math.max(4, pkgName.length - 1)).toUpperCase();
  await page.goto(`${URL}/search?q=${encodeURIComponent(part)}`);
  const pkgNames = await page.locator("#result-packages li a").allInnerTexts();
  assert.ok(pkgNames.includes(pkgName), `${part} finds ${pkgName}: ${pkgNames}`);
  for (const n of pkgNames) assert.ok(n.toUpperCase().includes(part), `${n} contains ${part}`);
  ok(`package substring search: ${part} → ${pkgNames.length} package(s)`);

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

  // In-use evidence on the asset the chrooted python ran in.
  if (INUSE) {
    const used = assets.filter((a) => a.open_in_use > 0);
    assert.equal(used.length, 1, "one asset with findings in use");
    await page.goto(`${URL}/assets/${used[0].id}?in_use=yes`);
    assert.equal(await page.locator("#findings-table tbody tr").count(), Math.min(100, used[0].open_in_use));
    const evidence = page.locator("#findings-table details.evidence").first();
    await evidence.locator("summary").click();
    const text = await evidence.innerText();
    assert.match(text, /python3/);
    assert.match(text, /libssl|libsqlite|libcrypto/);
    await shot("asset-in-use");
    ok(`in-use evidence on ${used[0].name}: ${used[0].open_in_use} findings in use`);
  }

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
  for (const p of ["/", "/assets", `/assets/${pyapp.id}`, `/vulns/${encodeURIComponent(vulnId)}`,
    `/packages/${PROBE}`, `/search?q=${encodeURIComponent(pkgName)}`]) {
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
