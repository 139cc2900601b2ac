// Upgrade and bulk upload in headless Chromium, against the real app (billing on), PostgreSQL,
// kube-apiserver, the tenant controller, a runner and the local Stripe stand-in: a Starter tenant
// is told which plan has bulk rating, sees what Pro adds, goes to the stand-in's Checkout page,
// cancels, comes back, pays; the stand-in sends the signed checkout.session.completed webhook and
// the console shows Pro once it has been applied. The billing portal shows the card and leads back.
// Then the tenant uploads a CSV of lanes, watches it priced and downloads the results, and the bad
// files (wrong columns, empty, header only, oversized) are refused with a message and no job.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import type pg from "pg";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { DEFAULT_PLANS } from "../db/plans.ts";
import { createPool } from "../db/pool.ts";
import { seedCarriers, seedPlans } from "../db/seed.ts";
import { parseCsvRecords } from "../jobs/lanes.ts";
import type { RunningRunner } from "../runner/main.ts";
import { planObject } from "../../infra/workloads/plan-catalogue.ts";
import { plans, tenants } from "../../operators/api/resources.ts";
import type { Tenant } from "../../operators/api/tenant.ts";
import { startLocalStripe, type LocalStripe } from "../../tools/fakes/stripe-server.ts";
import { quoteBody } from "../../tools/platform/api-client.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { STRIPE_KEY, WEBHOOK_SECRET } from "../../tools/platform/billing.ts";
import {
  applyAs,
  startOperator,
  startOperatorPlatform,
  TENANT_NAMESPACE,
  waitFor,
  type OperatorPlatform,
  type OperatorProcess,
} from "../../tools/platform/operators.ts";
import { startTestRunner } from "../../tools/platform/runner.ts";
import { freePort } from "../../tools/postgres/server.ts";

// Browser steps on a shared two-core machine: generous bounds, never sleeps.
vi.setConfig({ testTimeout: 120_000 });

const SECRET = "console-upgrade-test-secret-0123456789abcdefghij";
const ARTIFACTS = join(import.meta.dirname, "../../test-artifacts/console-upgrade");
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

let platform: OperatorPlatform;
let operator: OperatorProcess;
let opsDb: pg.Pool;
let stripe: LocalStripe;
let runner: RunningRunner;
let t: TestApp;
let browser: Browser;
let context: BrowserContext;
let page: Page;

const unique = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const me = {
  id: "",
  slug: `gulf-freight-${unique}`,
  email: `ops@gulf-${unique}.com`,
  password: "four long words for a password",
};

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  platform = await startOperatorPlatform("console-upgrade");
  const operatorDb = createPool(platform.db.urls.operator, 2);
  try {
    await seedPlans(operatorDb);
    await seedCarriers(operatorDb);
  } finally {
    await operatorDb.end();
  }
  opsDb = createPool(platform.db.urls.ops, 2);
  for (const plan of DEFAULT_PLANS) await applyAs(platform.admin, plans, { ...planObject(plan) });
  operator = await startOperator({
    kubeconfigPath: platform.cluster.kubeconfigPath,
    databaseUrl: platform.db.urls.operator,
  });
  // Checkout's success_url is built from PUBLIC_BASE_URL, so the app's address is chosen first.
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  stripe = await startLocalStripe({ webhook: { url: () => origin, secret: WEBHOOK_SECRET } });
  t = await startTestApp({
    db: platform.db,
    env: {
      PORT: String(port),
      PUBLIC_BASE_URL: origin,
      KUBECONFIG: platform.cluster.kubeconfigPath,
      CONSOLE_SESSION_SECRET: SECRET,
      BILLING: "on",
      BILLING_DATABASE_URL: platform.db.urls.billing,
      STRIPE_SECRET_KEY: STRIPE_KEY,
      STRIPE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      STRIPE_API_URL: stripe.url,
      BILLING_OVERAGE_INTERVAL_SECONDS: "0",
    },
  });
  runner = await startTestRunner(platform.db.urls.runner);
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  context = await browser.newContext({ baseURL: t.url, acceptDownloads: true });
  page = await context.newPage();
}, 1_800_000);

afterAll(async () => {
  await browser?.close();
  await runner?.stop();
  await t?.stop();
  await stripe?.stop();
  await operator?.stop();
  await opsDb?.end();
  await platform?.stop();
});

afterEach(async ({ task }) => {
  if (task.result?.state !== "fail" || !page) return;
  const name = task.name.replace(/[^a-z0-9]+/gi, "-").slice(0, 60);
  await page.screenshot({ path: join(ARTIFACTS, `failed-${name}.png`), fullPage: true }).catch(() => {});
  writeFileSync(
    join(ARTIFACTS, `failed-${name}.html`),
    `<!-- ${page.url()} -->\n${await page.content().catch(() => "")}`,
  );
});

async function navigating(target: Page, act: () => Promise<unknown>): Promise<void> {
  await Promise.all([target.waitForNavigation(), act()]);
}

/** Serious and critical axe-core violations on `path` (axe is injected, so CSP is bypassed here). */
async function axeProblems(path: string): Promise<string[]> {
  const audit = await browser.newContext({ baseURL: t.url, bypassCSP: true });
  await audit.addCookies(await context.cookies());
  const target = await audit.newPage();
  await target.goto(path);
  await target.addScriptTag({ path: AXE });
  const violations = (await target.evaluate(`axe.run().then((result) => result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => v.id + ": " + v.help))`)) as string[];
  await audit.close();
  return violations.map((v) => `${path}: ${v}`);
}

const planShown = (target: Page) => target.locator("[data-plan]").first().getAttribute("data-plan");

describe("a Starter tenant", () => {
  it("signs up on Starter, verifies and is told bulk rating comes with Pro, with the link to upgrade", async () => {
    await page.goto("/sign-up");
    await page.fill("#company", `Gulf Freight ${unique}`);
    await page.fill("#email", me.email);
    await page.fill("#password", me.password);
    await page.selectOption("#plan", "starter");
    await navigating(page, () => page.click("button[type=submit]"));
    const { rows } = await opsDb.query("SELECT id FROM tenants WHERE slug = $1", [me.slug]);
    me.id = rows[0].id;
    const task = await opsDb.query(
      "SELECT payload FROM agent_tasks WHERE tenant_id = $1 AND kind = 'signup_verification'",
      [me.id],
    );
    const link = new URL(task.rows[0].payload.verifyUrl);
    await page.goto(`${link.pathname}${link.search}`);
    expect(await page.locator("h1").innerText()).toBe("Email verified");
    await waitFor(
      "the signup's entitlements",
      async () =>
        (await opsDb.query("SELECT 1 FROM entitlements WHERE tenant_id = $1 AND meter = 'quotes'", [me.id]))
          .rowCount,
      { timeoutMs: 60_000 },
    );
    await page.goto("/sign-in");
    await page.fill("#email", me.email);
    await page.fill("#password", me.password);
    await navigating(page, () => page.click("button:has-text('Sign in')"));
    expect(new URL(page.url()).pathname).toBe("/console");

    await navigating(page, () => page.click("nav a:has-text('Bulk upload')"));
    const missing = page.locator("[data-feature-missing=bulkRating]");
    expect(await missing.innerText()).toMatch(
      /not included in the starter plan\. It is included from the pro plan up/,
    );
    expect(await page.locator("#lanes-file").count()).toBe(0);
    await navigating(page, () => page.click("a:has-text('Upgrade to pro')"));
    expect(new URL(page.url()).pathname).toBe("/console/billing");
    expect(await planShown(page)).toBe("starter");
    expect(await page.locator("#upgrade-heading").innerText()).toBe("Next plan up: Pro");
    const adds = await page.locator("[data-plan-adds=pro] li").allInnerTexts();
    expect(adds).toEqual(
      expect.arrayContaining(["Bulk rating", "Contract rates", "25,000 quotes a month (now 1,000)"]),
    );
    expect([...(await axeProblems("/console/bulk")), ...(await axeProblems("/console/billing"))]).toEqual([]);
  });
});

describe("upgrade through Stripe Checkout", () => {
  it("cancels at Checkout and comes back unchanged, then pays and lands back on Pro once the webhook applied", async () => {
    await page.goto("/console/billing");
    await navigating(page, () => page.click("button:has-text('Upgrade to Pro')"));
    const checkoutUrl = new URL(page.url());
    expect(checkoutUrl.origin).toBe(stripe.url);
    expect(checkoutUrl.pathname).toMatch(/^\/c\/pay\/cs_test_/);
    await navigating(page, () => page.click("a:has-text('Cancel and go back')"));
    expect(page.url()).toBe(`${t.url}/console/billing?checkout=canceled`);
    expect(await page.locator(".notice").innerText()).toContain("Checkout canceled");
    expect(await planShown(page)).toBe("starter");

    await navigating(page, () => page.click("button:has-text('Upgrade to Pro')"));
    expect(await page.locator("h1").innerText()).toBe("Subscribe");
    expect(await page.locator("main").innerText()).toContain("pro_monthly: $499.00 a month");
    await page.screenshot({ path: join(ARTIFACTS, "checkout.png"), fullPage: true });
    await navigating(page, () => page.click("button:has-text('Pay $499.00')"));
    expect(page.url()).toBe(`${t.url}/console/billing?checkout=success`);
    expect(await page.locator(".notice").innerText()).toContain("Payment received");

    // Stripe's webhook arrives on its own time: the page shows Pro once it has been applied.
    await waitFor(
      "the console to show the pro plan",
      async () => {
        await page.reload();
        return (await planShown(page)) === "pro";
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    const delivered = stripe.webhookDeliveries.filter((d) => d.type === "checkout.session.completed");
    expect(delivered.at(-1)).toMatchObject({ url: `${t.url}/webhooks/stripe`, status: 200 });
    const tenant = await platform.admin.get<Tenant>(tenants, me.slug, TENANT_NAMESPACE);
    expect(tenant.spec.plan).toBe("pro");
    expect(await page.locator("#upgrade-heading").innerText()).toBe("Next plan up: Enterprise");
  });

  it("opens the billing portal on the stand-in, with the card and the plan, and returns to the console", async () => {
    await page.goto("/console/billing");
    await navigating(page, () => page.click("button:has-text('Open the billing portal')"));
    expect(new URL(page.url()).origin).toBe(stripe.url);
    const portal = await page.locator("main").innerText();
    expect(portal).toContain("Visa ending in 4242");
    expect(portal).toContain("pro_monthly (active)");
    await navigating(page, () => page.click("a:has-text('Return to the merchant')"));
    expect(page.url()).toBe(`${t.url}/console/billing`);
  });
});

describe("bulk upload", () => {
  const header = "origin,destination,equipment,weightLbs,pickupDate";
  const lane = quoteBody() as Record<string, string | number>;
  const LANES = 24;
  const INVALID_ROWS = new Set([5, 17]);

  it("uploads a CSV of lanes, shows its progress to completion and downloads the results", async () => {
    const lines = [header];
    for (let row = 1; row <= LANES; row++)
      lines.push(
        [
          lane.origin,
          lane.destination,
          lane.equipment,
          INVALID_ROWS.has(row) ? -5 : 20_000 + row * 100,
          lane.pickupDate,
        ]
          .map((v) => (String(v).includes(",") ? `"${v}"` : String(v)))
          .join(","),
      );
    await page.goto("/console/bulk");
    await page.setInputFiles("#lanes-file", {
      name: "lanes.csv",
      mimeType: "text/csv",
      buffer: Buffer.from(lines.join("\n") + "\n"),
    });
    await page.click("button:has-text('Upload and price')");
    await page.waitForSelector("#bulk-progress:not([hidden])");
    expect(await page.locator("#bulk-status").innerText()).toMatch(new RegExp(`of ${LANES} lanes`));
    await page.waitForSelector("#bulk-progress[data-state=succeeded]", { timeout: 90_000 });
    expect(await page.locator("#bulk-status").innerText()).toBe(
      `Done: ${LANES - INVALID_ROWS.size} of ${LANES} lanes priced, ${INVALID_ROWS.size} invalid.`,
    );
    expect(
      await page.locator("#bulk-bar").evaluate((bar) => (bar as unknown as { value: number }).value),
    ).toBe(1);
    await page.screenshot({ path: join(ARTIFACTS, "bulk-done.png"), fullPage: true });

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      page.click("a:has-text('Download the results CSV')"),
    ]);
    const [columns, ...rows] = parseCsvRecords(readFileSync((await download.path())!, "utf8"));
    expect(columns!.slice(0, 7)).toEqual(["row", "status", ...header.split(",")]);
    const at = (name: string) => columns!.indexOf(name);
    expect(rows.map((r) => Number(r[at("row")]))).toEqual(Array.from({ length: LANES }, (_, i) => i + 1));
    for (const r of rows) {
      expect(r[at("origin")]).toBe(lane.origin);
      if (INVALID_ROWS.has(Number(r[at("row")]))) {
        expect(r[at("status")]).toBe("invalid");
        expect(r[at("errors")]).toMatch(/^weightLbs: /);
      } else {
        expect(r[at("status")]).toBe("priced");
        expect(Number(r[at("weightLbs")])).toBe(20_000 + Number(r[at("row")]) * 100);
        expect(Number(r[at("totalCents")])).toBeGreaterThan(0);
      }
    }
    await page.reload();
    expect(await page.locator("tbody tr").first().innerText()).toContain("succeeded");
    expect(await axeProblems("/console/bulk")).toEqual([]);
  });

  it("refuses wrong columns, an empty file, a header alone and an oversized file, saying why, with no job", async () => {
    const jobs = async () =>
      Number((await opsDb.query("SELECT count(*) AS n FROM jobs WHERE tenant_id = $1", [me.id])).rows[0].n);
    const before = await jobs();
    const cases: Array<[string, Buffer, RegExp]> = [
      [
        "prices.csv",
        Buffer.from("lane,rate\nChicago-Dallas,2100\n"),
        /The file: the header lacks origin, destination, equipment, weightLbs, pickupDate/,
      ],
      ["empty.csv", Buffer.alloc(0), /empty\.csv is empty\. Its first line must name the columns/],
      ["header.csv", Buffer.from(`${header}\n`), /The file: has no lanes; send at least one/],
      [
        "huge.csv",
        Buffer.alloc(9 * 1024 * 1024, "a"),
        /huge\.csv is 9\.0 MiB; a file may be at most 8\.0 MiB \(50,000 lanes\)\. Split it/,
      ],
    ];
    for (const [name, buffer, message] of cases) {
      await page.goto("/console/bulk");
      await page.setInputFiles("#lanes-file", { name, mimeType: "text/csv", buffer });
      await page.click("button:has-text('Upload and price')");
      const errors = page.locator("#bulk-errors:not([hidden])");
      await errors.waitFor();
      expect(await errors.innerText(), name).toMatch(message);
      expect(await page.locator("#bulk-progress").isHidden(), name).toBe(true);
    }
    expect(await jobs()).toBe(before);
  });
});
