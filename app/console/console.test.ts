// The console and public pages in headless Chromium against the real app, PostgreSQL, kube-apiserver
// and tenant controller: signup by keyboard, the emailed link, the first quote from the checklist,
// the meter banner at 79/80/90/100 % and at the ceiling (usage driven through the API, a screenshot
// of each state in test-artifacts/console/), the drawer by keyboard until ops approves with
// `npm run limits` and the banner clears, accessibility (axe-core) and the JavaScript budget on every
// page, and the bad inputs: tampered and expired sessions, forms without their CSRF token, script in
// text fields, another tenant's ids, absurd ROI inputs. One browser and one server for the file.
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import type pg from "pg";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { createPool } from "../db/pool.ts";
import { provisionTenant, seedCarriers, seedPlans } from "../db/seed.ts";
import { main as limits } from "../ops/limits.ts";
import { fixedSecret } from "../secret-file.ts";
import { plans } from "../../operators/api/resources.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import {
  applyAs,
  startOperator,
  startOperatorPlatform,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../tools/platform/operators.ts";
import { ConsoleSessions, CONSOLE_COOKIE } from "./session.ts";

// Browser steps on a shared two-core machine: generous bounds, never sleeps.
vi.setConfig({ testTimeout: 120_000 });

const SECRET = "console-test-secret-0123456789abcdefghijklmnop";
const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts/console");
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const JS_BUDGET_BYTES = 100 * 1024;
const PWNED = "window.__pwned=1";
const SCRIPT = `<script>${PWNED}</script><img src=x onerror="${PWNED}">`;

let platform: OperatorPlatform;
let operator: OperatorProcess;
let operatorDb: pg.Pool;
let opsDb: pg.Pool;
let t: TestApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;

/** The self-serve tenant the file's story follows. */
const me = { id: "", slug: "", email: "", password: "correct horse battery staple", apiKey: "" };
const unique = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  platform = await startOperatorPlatform("console");
  operatorDb = createPool(platform.db.urls.operator, 2);
  opsDb = createPool(platform.db.urls.ops, 2);
  await seedPlans(operatorDb);
  await seedCarriers(operatorDb);
  // Pro with overage: 100 quotes included, billed beyond, refused at 110.
  await applyAs(platform.admin, plans, {
    kind: "Plan",
    metadata: { name: "pro" },
    spec: {
      displayName: "Pro",
      rank: 2,
      monthlyPriceCents: 49900,
      meters: [
        { name: "quotes", included: 100, overageAllowed: true, overageUnitPriceCents: 5, hardCeiling: 110 },
        { name: "bulk_jobs", included: 10, overageAllowed: false, hardCeiling: 10 },
        { name: "directory_invites", included: 20, overageAllowed: false, hardCeiling: 20 },
      ],
      rateLimits: { requestsPerSecond: 50, burst: 100, bulkJobConcurrency: 2 },
    },
  });
  operator = await startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
  });
  t = await startTestApp({
    db: platform.db,
    env: { KUBECONFIG: platform.cluster.kubeconfigPath, CONSOLE_SESSION_SECRET: SECRET },
  });
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  context = await browser.newContext({ baseURL: t.url });
  page = await context.newPage();
}, 1_800_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
  await operator?.stop();
  await Promise.all([operatorDb?.end(), opsDb?.end()]);
  await platform?.stop();
});

// A failed test leaves the page it failed on beside the screenshots.
afterEach(async ({ task }) => {
  if (task.result?.state !== "fail" || !page) return;
  const name = task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
  await page.screenshot({ path: join(ARTIFACTS, `failed-${name}.png`), fullPage: true }).catch(() => {});
  writeFileSync(
    join(ARTIFACTS, `failed-${name}.html`),
    `<!-- ${page.url()} -->\n${await page.content().catch(() => "")}`,
  );
});

/** Presses Tab until `selector` has focus: the element is reachable by keyboard alone. */
async function tabTo(target: Page, selector: string, maxTabs = 40): Promise<void> {
  for (let i = 0; i < maxTabs; i++) {
    await target.keyboard.press("Tab");
    if (await target.evaluate(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`))
      return;
  }
  throw new Error(`${selector} was not reached with ${maxTabs} presses of Tab`);
}

/** Runs `act` (a submit, a click) and waits for the page it loads. */
async function navigating(target: Page, act: () => Promise<unknown>): Promise<void> {
  await Promise.all([target.waitForNavigation(), act()]);
}

async function expectInert(target: Page): Promise<void> {
  expect(await target.evaluate("window.__pwned")).toBeUndefined();
}

async function signIn(target: Page, email = me.email, password = me.password): Promise<void> {
  await target.goto("/sign-in");
  await target.fill("#email", email);
  await target.fill("#password", password);
  await navigating(target, () => target.click("button:has-text('Sign in')"));
}

async function usedQuotes(): Promise<number> {
  const res = await apiClient(t.url, me.apiKey).get<{ meters: { meter: string; used: number }[] }>(
    "/v1/usage",
  );
  return res.body.meters.find((m) => m.meter === "quotes")!.used;
}

/** Quotes through the API until the meter reads `target`. */
async function driveQuotesTo(target: number): Promise<void> {
  const client = apiClient(t.url, me.apiKey);
  for (let used = await usedQuotes(); used < target; used++) {
    const res = await client.post("/v1/quotes", quoteBody());
    expect(res.status).toBe(201);
  }
  expect(await usedQuotes()).toBe(target);
}

async function meterBanner(target: Page): Promise<{ state: string | null; text: string }> {
  await target.goto("/console");
  const banner = target.locator('[data-banner="meter"]');
  if ((await banner.count()) === 0) return { state: null, text: "" };
  return { state: await banner.getAttribute("data-banner-state"), text: await banner.innerText() };
}

describe("signup, verification and the first quote", () => {
  it("signs up by keyboard alone, refusing a weak password with the fields kept and script inert", async () => {
    await page.goto("/sign-up");
    await tabTo(page, "#company");
    await page.keyboard.type(`Bayou ${SCRIPT}`);
    await tabTo(page, "#email");
    await page.keyboard.type(`dispatch@bayou-${unique}.com`);
    await tabTo(page, "#password");
    await page.keyboard.type("short");
    await tabTo(page, "button[type=submit]");
    await navigating(page, () => page.keyboard.press("Enter"));
    expect(await page.locator(".errors").innerText()).toContain("password: must be at least 12 characters");
    expect(await page.inputValue("#company")).toBe(`Bayou ${SCRIPT}`);
    await expectInert(page);

    await page.fill("#company", `Bayou Haulers ${unique}`);
    await page.locator("#company").focus();
    await tabTo(page, "#password");
    await page.keyboard.type(me.password);
    await tabTo(page, "#plan");
    await page.keyboard.press("End");
    await page.keyboard.press("Home");
    await page.keyboard.press("ArrowDown");
    expect(await page.inputValue("#plan")).toBe("pro");
    await tabTo(page, "button[type=submit]");
    await navigating(page, () => page.keyboard.press("Enter"));
    expect(await page.locator("h1").innerText()).toBe("Check your email");
    me.apiKey = (await page.locator("#new-key").innerText()).trim();
    expect(me.apiKey).toMatch(/^fk_live_/);
    me.email = `dispatch@bayou-${unique}.com`;
    const { rows } = await opsDb.query("SELECT id, slug FROM tenants WHERE slug = $1", [
      `bayou-haulers-${unique}`,
    ]);
    me.id = rows[0].id;
    me.slug = rows[0].slug;
  });

  it("refuses to sign in before the email is verified, then the emailed link verifies it in the browser", async () => {
    await signIn(page);
    expect(await page.locator(".errors").innerText()).toContain("Verify your email first");
    const { rows } = await opsDb.query(
      "SELECT payload FROM agent_tasks WHERE tenant_id = $1 AND kind = 'signup_verification'",
      [me.id],
    );
    const link = new URL(rows[0].payload.verifyUrl);
    await page.goto(`${link.pathname}${link.search}`);
    expect(new URL(page.url()).pathname).toBe("/verify");
    expect(await page.locator("h1").innerText()).toBe("Email verified");
    await page.goto(`${link.pathname}${link.search}`);
    expect(await page.locator(".errors").innerText()).toContain("already used");
  });

  it("signs in, sends the first quote from the checklist, books it, and the progress persists", async () => {
    // The tenant controller adopts the signed-up Tenant and provisions the plan's meters.
    await waitFor(
      "the signup's entitlements",
      async () => {
        const { rows } = await opsDb.query(
          "SELECT 1 FROM entitlements WHERE tenant_id = $1 AND meter = 'quotes' AND included = 100",
          [me.id],
        );
        return rows.length > 0;
      },
      { timeoutMs: 60_000 },
    );
    await signIn(page, me.email, "wrong password entirely");
    expect(await page.locator(".errors").innerText()).toContain("do not match");
    await signIn(page);
    expect(new URL(page.url()).pathname).toBe("/console");
    expect(await page.locator('[data-meter="quotes"] .used').innerText()).toContain("0 of 100");

    await navigating(page, () => page.click("a:has-text('Get started')"));
    expect(await page.locator("#progress").innerText()).toContain("0 of 3 done");
    await page.fill("#q-origin", "Chicago, IL");
    await page.fill("#q-destination", `Dallas, TX${SCRIPT}`);
    await navigating(page, () => page.click("button:has-text('Get a quote')"));
    expect(await page.locator(".errors").innerText()).toContain(
      "destination: must be a market as 'City, ST'",
    );
    expect(await page.inputValue("#q-destination")).toBe(`Dallas, TX${SCRIPT}`);
    await expectInert(page);

    await page.fill("#q-origin", "Chicago, IL");
    await page.fill("#q-destination", "Dallas, TX");
    await navigating(page, () => page.click("button:has-text('Get a quote')"));
    expect(await page.locator(".quote").innerText()).toMatch(
      /Chicago, IL to Dallas, TX, dry van: \$[\d,]+\.\d\d/,
    );
    expect(await page.locator('[data-step="send_quote"]').innerText()).toContain("done");
    await navigating(page, () => page.click("button:has-text('Book this load')"));
    expect(await page.locator(".notice").innerText()).toContain("Booked");
    expect(await page.locator('[data-step="book_load"]').innerText()).toContain("done");

    await navigating(page, () => page.click("button:has-text('Sign out')"));
    expect(page.url()).toMatch(/\/sign-in\?reason=signed-out$/);
    await page.goto("/console/start");
    expect(new URL(page.url()).pathname).toBe("/sign-in");
    await signIn(page);
    await page.goto("/console/start");
    expect(await page.locator("#progress").innerText()).toContain("2 of 3 done");
  }, 120_000);
});

describe("the meter banner", () => {
  it("shows ok, warning, critical and blocked as quotes reach 79, 80, 90, 100 and 110 %", async () => {
    const states: [number, string | null, RegExp][] = [
      [79, null, /^$/],
      [80, "warning", /used 80 % of the 100 quotes/],
      [90, "warning", /used 90 % of the 100 quotes/],
      [100, "critical", /past the 100 quotes included this month: 0 more are billed as overage/],
      [105, "critical", /5 more are billed as overage/],
      [110, "blocked", /ceiling of 110 quotes this month: new quotes are refused until/],
    ];
    for (const [used, state, text] of states) {
      await driveQuotesTo(used);
      const banner = await meterBanner(page);
      expect(banner.state, `banner at ${used} quotes`).toBe(state);
      expect(banner.text).toMatch(text);
      expect(await page.locator('[data-meter="quotes"] .used').innerText()).toContain(`${used} of 100`);
      await page.screenshot({
        path: join(ARTIFACTS, `banner-${used}-percent-${state ?? "ok"}.png`),
        fullPage: true,
      });
    }
    // The same banner on every signed-in page while it applies.
    for (const path of ["/console/start", "/console/api-keys", "/console/billing"]) {
      await page.goto(path);
      expect(await page.locator('[data-banner="meter"]').getAttribute("data-banner-state")).toBe("blocked");
    }
    await page.goto("/console");
    expect(await page.locator('[data-meter="quotes"] dd').nth(2).innerText()).toBe("10 units, $0.50");
    expect((await apiClient(t.url, me.apiKey).post("/v1/quotes", quoteBody())).status).toBe(429);
  }, 180_000);

  it("shows the dunning banner while payment is past due", async () => {
    const owner = createPool(platform.db.urls.billing, 1);
    try {
      await owner.query(
        "INSERT INTO billing_accounts (tenant_id, stripe_customer_id, billing_email, grace_ends_at) VALUES ($1, $2, $3, now() + interval '7 days')",
        [me.id, `cus_${me.slug}`, me.email],
      );
      await operatorDb.query("UPDATE tenants SET billing_status = 'past_due' WHERE id = $1", [me.id]);
      for (const path of ["/console", "/console/api-keys"]) {
        await page.goto(path);
        expect(await page.locator('[data-banner="dunning"]').innerText()).toMatch(
          /last payment failed.*before \d{4}-/s,
        );
      }
      await page.screenshot({ path: join(ARTIFACTS, "banner-dunning.png"), fullPage: true });
    } finally {
      await operatorDb.query("UPDATE tenants SET billing_status = 'trialing' WHERE id = $1", [me.id]);
      await owner.end();
    }
  });

  it("files a request from the drawer by keyboard; ops approves with npm run limits and the banner clears", async () => {
    await page.goto("/console");
    await tabTo(page, '[data-banner="meter"] a[href="/console?drawer=open"]');
    await navigating(page, () => page.keyboard.press("Enter"));
    await expect.poll(() => page.evaluate("document.activeElement?.id")).toBe("li-meter");
    expect(await page.locator("#request-increase").getAttribute("open")).not.toBeNull();
    await page.keyboard.press("End");
    expect(await page.inputValue("#li-meter")).toBe("quotes");
    await page.keyboard.press("Tab");
    await page.keyboard.type("500");
    await page.keyboard.press("Tab");
    await page.keyboard.type(`Peak season ${SCRIPT}`);
    await tabTo(page, '#request-increase button[type="submit"]');
    await navigating(page, () => page.keyboard.press("Enter"));
    expect(page.url()).toMatch(/\/console\?requested=/);
    const id = new URL(page.url()).searchParams.get("requested")!;
    expect(await page.locator(".notice").innerText()).toContain("Request sent");
    const row = page.locator(`[data-request="${id}"]`);
    expect(await row.innerText()).toContain(`Peak season ${SCRIPT}`);
    expect(await row.locator(".status-open").innerText()).toBe("open");
    await expectInert(page);
    await page.screenshot({ path: join(ARTIFACTS, "drawer-request-open.png"), fullPage: true });

    const printed: string[] = [];
    const spy = vi.spyOn(console, "log").mockImplementation((...a) => void printed.push(a.join(" ")));
    try {
      const code = await limits(["approve", id, "--by", "ops@freight.dev"], {
        OPERATOR_DATABASE_URL: platform.db.urls.operator,
        KUBECONFIG: platform.cluster.kubeconfigPath,
      });
      expect(code, printed.join("\n")).toBe(0);
    } finally {
      spy.mockRestore();
    }
    // The tenant controller applies the override; the page shows it on the next load.
    // The request shows as granted as soon as ops approves; the new limit arrives a moment later.
    await waitFor(
      "the new limit on the card and the banner cleared",
      async () =>
        (await meterBanner(page)).state === null &&
        (await page.locator('[data-meter="quotes"] .used').innerText()).includes("110 of 500"),
      { timeoutMs: 60_000 },
    );
    expect(await page.locator(`[data-request="${id}"] .status-granted`).innerText()).toContain("granted");
    await page.screenshot({ path: join(ARTIFACTS, "banner-cleared-after-approval.png"), fullPage: true });
  }, 120_000);
});

describe("API keys", () => {
  it("creates a key shown once, rotates and revokes it; its name is rendered inert", async () => {
    await page.goto("/console/api-keys");
    await page.fill("#key-name", `ci ${SCRIPT}`);
    await navigating(page, () => page.click("button:has-text('Create key')"));
    const key = (await page.locator("#new-key").innerText()).trim();
    expect(key).toMatch(/^fk_live_/);
    expect((await apiClient(t.url, key).get("/v1/usage")).status).toBe(200);
    await expectInert(page);
    await page.goto("/console/api-keys");
    expect(await page.locator("#new-key").count()).toBe(0);
    expect(await page.content()).not.toContain(key);
    const row = page.locator("tr", { hasText: `ci ${SCRIPT}` });
    await navigating(page, () => row.locator("button:has-text('Rotate')").click());
    const rotated = (await page.locator("#new-key").innerText()).trim();
    expect(rotated).not.toBe(key);
    expect((await apiClient(t.url, rotated).get("/v1/usage")).status).toBe(200);
    await page.goto("/console/api-keys");
    const newest = page.locator("tr[data-key]", { hasText: `ci ${SCRIPT}` }).filter({ hasText: "active" });
    await navigating(page, () => newest.first().locator("button:has-text('Revoke')").click());
    await expect.poll(async () => (await apiClient(t.url, rotated).get("/v1/usage")).status).toBe(401);
  });
});

describe("sessions, CSRF and other tenants' ids", () => {
  it("refuses a tampered or expired session cookie and says so at sign-in", async () => {
    const other = await browser.newContext({ baseURL: t.url });
    try {
      const cookies = await context.cookies();
      const session = cookies.find((c) => c.name === CONSOLE_COOKIE)!;
      const [body, signature] = session.value.split(".");
      const claims = JSON.parse(Buffer.from(body!, "base64url").toString());
      const forged = Buffer.from(
        JSON.stringify({ ...claims, tenantId: "00000000-0000-4000-8000-000000000000" }),
      ).toString("base64url");
      const target = await other.newPage();
      await other.addCookies([{ ...session, value: `${forged}.${signature}` }]);
      await target.goto("/console");
      expect(new URL(target.url()).pathname).toBe("/sign-in");
      expect(await target.locator(".notice").innerText()).toContain("not valid");

      const expired = new ConsoleSessions(fixedSecret(SECRET)).issue(
        me.id,
        me.email,
        Date.now() - 9 * 3600_000,
      );
      await other.addCookies([{ ...session, value: expired.value }]);
      await target.goto("/console");
      expect(await target.locator(".notice").innerText()).toContain("expired");
      const v1 = await target.request.get("/v1/usage");
      expect(v1.status()).toBe(401);
    } finally {
      await other.close();
    }
  });

  it("refuses forms and /v1 writes without this page's CSRF token, changing nothing", async () => {
    const before = await opsDb.query(
      "SELECT count(*)::int AS n FROM limit_increase_requests WHERE tenant_id = $1",
      [me.id],
    );
    const form = await page.request.post("/console/limit-increase", {
      form: { meter: "quotes", amount: "900", reason: "no token" },
      maxRedirects: 0,
    });
    expect(form.status()).toBe(403);
    expect(await form.text()).toContain("Nothing was changed");
    const wrong = await page.request.post("/console/limit-increase", {
      form: { _csrf: "forged", meter: "quotes", amount: "900", reason: "forged token" },
      maxRedirects: 0,
    });
    expect(wrong.status()).toBe(403);
    const v1 = await page.request.post("/v1/limit-increase-requests", {
      data: { meter: "quotes", requestedLimit: 900, reason: "no header" },
    });
    expect(v1.status()).toBe(403);
    expect((await v1.json()).type).toMatch(/\/csrf-token-invalid$/);
    const after = await opsDb.query(
      "SELECT count(*)::int AS n FROM limit_increase_requests WHERE tenant_id = $1",
      [me.id],
    );
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  it("answers not found for another tenant's quote and key, and leaves them alone", async () => {
    const other = await provisionTenant(operatorDb, {
      slug: `other-${unique}`,
      name: "Other",
      planId: "pro",
    });
    const otherClient = apiClient(t.url, other.apiKey);
    const quote = await otherClient.post<{ id: string }>("/v1/quotes", quoteBody({ origin: "Denver, CO" }));
    expect(quote.status).toBe(201);
    const keys = await otherClient.get<{ apiKeys: { id: string }[] }>("/v1/api-keys");
    const otherKeyId = keys.body.apiKeys[0]!.id;

    const seen = await page.goto(`/console/start?quote=${quote.body.id}`);
    expect(seen!.status()).toBe(404);
    expect(await page.content()).not.toContain("Denver, CO");
    const csrf = await page.locator('input[name="_csrf"]').first().inputValue();
    const rotate = await page.request.post(`/console/api-keys/${otherKeyId}/rotate`, {
      form: { _csrf: csrf },
      maxRedirects: 0,
    });
    expect(rotate.status()).toBe(404);
    const revoke = await page.request.post(`/console/api-keys/${otherKeyId}/revoke`, {
      form: { _csrf: csrf },
      maxRedirects: 0,
    });
    expect(revoke.status()).toBe(404);
    expect((await otherClient.get("/v1/usage")).status).toBe(200);
  });
});

describe("public pages", () => {
  it("estimates a lane and leads to a trial", async () => {
    const visitor = await (await browser.newContext({ baseURL: t.url })).newPage();
    await visitor.goto("/calculator");
    await visitor.fill("#c-origin", "Chicago, IL");
    await visitor.fill("#c-destination", "Atlanta, GA");
    await visitor.selectOption("#c-equipment", "reefer");
    await navigating(visitor, () => visitor.click("button:has-text('Estimate')"));
    expect(await visitor.locator("#estimate-heading").innerText()).toMatch(
      /Chicago, IL to Atlanta, GA: \$[\d,]+\.\d\d/,
    );
    expect(await visitor.locator(".estimate table").innerText()).toMatch(
      /Linehaul[\s\S]*Fuel surcharge[\s\S]*Total/,
    );
    await visitor.fill("#c-weight", "-5");
    await navigating(visitor, () => visitor.click("button:has-text('Estimate')"));
    expect(await visitor.locator(".errors").innerText()).toMatch(/weightLbs: must be more than 0/);
    await visitor.goto(
      "/calculator?origin=Chicago%2C+IL&destination=Atlanta%2C+GA&equipment=reefer&weightLbs=38000&pickupDate=" +
        quoteBody().pickupDate,
    );
    await navigating(visitor, () => visitor.click("a:has-text('Start a trial')"));
    expect(new URL(visitor.url()).pathname).toBe("/sign-up");
    await visitor.context().close();
  });

  it("exports the ROI calculation as a PDF with the inputs and results, and refuses absurd inputs", async () => {
    const visitor = await (await browser.newContext({ baseURL: t.url, acceptDownloads: true })).newPage();
    await visitor.goto("/roi");
    expect(await visitor.locator(".assumptions").innerText()).toContain("12 minutes");
    await visitor.fill("#r-lanes", "250");
    await visitor.fill("#r-quotes", "4,000");
    await visitor.fill("#r-rate", "1850");
    await visitor.fill("#r-win", "18");
    await navigating(visitor, () => visitor.click("button:has-text('Calculate')"));
    const pageText = await visitor.locator("#main").innerText();
    // 4,000 quotes x 11 minutes = 733 h; x $45 = $32,985; 3 % more of 4,000 = 120 loads x $1,850 x 15 % = $33,300.
    expect(pageText).toMatch(/Quoting hours saved\s+733 h/);
    expect(pageText).toMatch(/Extra margin\s+\$33,300\.00/);
    const [download] = await Promise.all([
      visitor.waitForEvent("download"),
      visitor.click("a:has-text('Download as PDF')"),
    ]);
    const file = join(tmpdir(), `roi-${unique}.pdf`);
    await download.saveAs(file);
    const text = execFileSync("pdftotext", ["-layout", file, "-"], { encoding: "utf8" });
    for (const expected of [
      "Lanes you quote: 250",
      "Quotes per month: 4,000",
      "Average rate per load: $1,850.00",
      "Win rate today: 18 %",
      "Quoting hours saved: 733 h",
      "Labour saved: $32,985.00",
      "Extra loads won: 120",
      "Extra margin: $33,300.00",
      "Value per year: $795,420.00",
      "12 minutes",
    ])
      expect(text).toContain(expected);
    writeFileSync(join(ARTIFACTS, "roi.pdf"), execFileSync("cat", [file]));

    await visitor.goto("/roi?lanes=-5&quotesPerMonth=1e999&averageRate=&winRate=abc");
    const errors = await visitor.locator(".errors").innerText();
    expect(errors).toContain("Lanes you quote: -5 is out of range");
    expect(errors).toContain("Quotes per month: '1e999' is not a number");
    expect(errors).toContain("Average rate per load: is empty");
    expect(errors).toContain("Win rate today: 'abc' is not a number");
    const pdf = await visitor.request.get(
      "/roi.pdf?lanes=999999999&quotesPerMonth=10&averageRate=100&winRate=10",
    );
    expect(pdf.status()).toBe(422);
    expect(pdf.headers()["content-type"]).toContain("text/html");
    expect(await pdf.text()).toContain("Lanes you quote: 999,999,999 is out of range");
    await visitor.context().close();
  });
});

describe("every page", () => {
  const publicPages = [
    "/sign-in",
    "/sign-up",
    "/calculator",
    "/calculator?origin=Chicago%2C+IL&destination=Dallas%2C+TX&equipment=dry_van&weightLbs=38000&pickupDate=" +
      quoteBody().pickupDate,
    "/roi",
    "/roi?lanes=10&quotesPerMonth=1000&averageRate=2000&winRate=20",
    "/roi?lanes=-1",
  ];
  const consolePages = [
    "/console",
    "/console/start",
    "/console/api-keys",
    "/console/billing",
    "/console/bulk",
  ];

  it("has no serious or critical axe-core violations", async () => {
    // axe is injected as a script: the pages' CSP (rightly) refuses that, so this context bypasses it.
    const audit = await browser.newContext({ baseURL: t.url, bypassCSP: true });
    await audit.addCookies(await context.cookies());
    const target = await audit.newPage();
    const problems: string[] = [];
    for (const path of [...publicPages, ...consolePages, "/console?drawer=open"]) {
      await target.goto(path);
      await target.addScriptTag({ path: AXE });
      const violations = (await target.evaluate(`axe.run().then((result) => result.violations
        .filter((v) => v.impact === "serious" || v.impact === "critical")
        .map((v) => v.id + " (" + v.impact + "): " + v.help + " x" + v.nodes.length))`)) as string[];
      problems.push(...violations.map((v) => `${path}: ${v}`));
    }
    await audit.close();
    expect(problems).toEqual([]);
  }, 180_000);

  it("loads at most 100 KB of gzipped JavaScript per page", async () => {
    for (const path of [...publicPages, ...consolePages]) {
      // A fresh context per page: nothing comes from another page's cache.
      const fresh = await browser.newContext({ baseURL: t.url });
      await fresh.addCookies(await context.cookies());
      const target = await fresh.newPage();
      const scripts: Promise<number>[] = [];
      target.on("response", (response) => {
        if (response.request().resourceType() === "script")
          scripts.push(response.body().then((body) => gzipSync(body).length));
      });
      await target.goto(path, { waitUntil: "networkidle" });
      const bytes = (await Promise.all(scripts)).reduce((a, b) => a + b, 0);
      await fresh.close();
      expect(bytes, `${path} loaded no script`).toBeGreaterThan(0);
      expect(bytes, path).toBeLessThanOrEqual(JS_BUDGET_BYTES);
    }
  }, 180_000);
});
