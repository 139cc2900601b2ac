// The weekly executive report end to end: the real app over a seeded database, its /metrics
// scraped, the HTML rendered in Debian's headless Chromium (no errors, no network), the SLO figures
// visible on screen, and a PDF printed.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMetrics } from "../../app/observability/metrics.ts";
import { launchChromium, openReport } from "./browser.ts";
import { startDemo, type Demo } from "../../tools/platform/report-demo.ts";
import { generateReport, type ReportFiles } from "./main.ts";
import { figuresFromExposition, histogramQuantile, scrapeMetrics, type MetricsFigures } from "./metrics.ts";
import { percent } from "./render.ts";

let demo: Demo;
let browser: Browser;
let files: ReportFiles;
let figures: MetricsFigures;
const outDir = mkdtempSync(join(tmpdir(), "freight-exec-report-"));

beforeAll(async () => {
  demo = await startDemo({ quotes: 25 });
  const text = await scrapeMetrics(demo.metricsUrl);
  figures = figuresFromExposition(text, "test scrape");
  files = await generateReport({
    opsDatabaseUrl: demo.opsDatabaseUrl,
    metrics: { kind: "exposition", text, description: "test scrape" },
    weekEnding: demo.now,
    outDir,
  });
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await demo?.stop();
  rmSync(outDir, { recursive: true, force: true });
});

/** Width and height from a PNG's IHDR chunk. */
function pngSize(png: Buffer): { width: number; height: number } {
  expect(png.subarray(1, 4).toString("latin1")).toBe("PNG");
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

describe("weekly executive report", () => {
  it("renders in headless Chromium without console errors or network requests", async () => {
    const { page, problems } = await openReport(browser, files.html);
    expect(problems).toEqual([]);
    expect(await page.title()).toMatch(/^Weekly executive report, week ending \d{4}-\d{2}-\d{2}$/);
    expect(await page.locator("svg").count()).toBeGreaterThanOrEqual(4);
    await page.close();
  });

  it("shows the SLO figures measured from the app on screen", async () => {
    const { page } = await openReport(browser, files.html);
    const card = page.locator("#slo-card");
    const availability = figures.slos.find((s) => s.id === "api-availability");
    const latency = figures.slos.find((s) => s.id === "quote-latency");
    expect(availability?.value).toBeGreaterThan(0.99); // the demo traffic answered without 5xx
    expect(latency?.value).toBeGreaterThan(0);
    const text = await card.innerText();
    expect(text).toContain("API availability");
    expect(text).toContain(percent(availability?.value ?? null, 2));
    expect(text).toContain(`${Math.round((latency?.value ?? 0) * 1000)} ms`);
    expect(text).toContain("objective 99.95 %");
    expect(text).toContain("Agent task success");
    expect(await card.locator(".tile.good").count()).toBeGreaterThanOrEqual(2);

    // The card as pixels: a real rendering, far larger than a blank area of the same size.
    const shot = await card.screenshot();
    const size = pngSize(shot);
    expect(size.width).toBeGreaterThan(600);
    expect(size.height).toBeGreaterThan(100);
    const blank = await page
      .setContent("<html><body></body></html>")
      .then(() => page.screenshot({ clip: { x: 0, y: 0, width: size.width, height: size.height } }));
    expect(shot.length).toBeGreaterThan(blank.length * 3);
    await page.close();
  });

  it("shows conversions, revenue and operations from the seeded database", async () => {
    const { page } = await openReport(browser, files.html);
    for (const [id, pattern] of [
      ["quote_to_book", /\d+\.\d %/],
      ["trial_to_paid", /\d+\.\d %|n\/a/],
      ["invite_to_onboard", /\d+\.\d %/],
      ["mrr", /\$\d{1,3}(,\d{3})+/],
      ["arpa", /\$\d+/],
      ["overage_share", /\d+\.\d %/],
      ["nrr_4w", /\d+\.\d %/],
      ["logo_churn_4w", /\d+\.\d %/],
      ["replication-lag", /\d/],
    ] as const) {
      expect(await page.locator(`[data-figure="${id}"] .value`).innerText(), id).toMatch(pattern);
    }
    expect(await page.locator("svg[aria-label='Tenants at a meter warning level (now)'] rect").count()).toBe(
      3,
    );
    await page.close();
  });

  it("prints a PDF", () => {
    const pdf = readFileSync(files.pdfPath as string);
    expect(pdf.subarray(0, 5).toString("latin1")).toBe("%PDF-");
    expect(pdf.length).toBeGreaterThan(20_000);
  });
});

describe("SLO figures from a /metrics scrape", () => {
  it("computes availability, agent success and the quote p95 with the SLO selectors", async () => {
    const m = createMetrics();
    const quote = { route: "/v1/quotes", method: "POST", status_class: "2xx" };
    for (let i = 0; i < 9_990; i++) m.httpRequestDuration.observe(quote, i % 25 === 0 ? 0.9 : 0.05);
    for (let i = 0; i < 4; i++) m.httpRequestDuration.observe({ ...quote, status_class: "5xx" }, 0.01);
    m.httpRequestDuration.observe({ route: "/healthz", method: "GET", status_class: "5xx" }, 0.01); // not API
    m.agentTasksFinished.inc({ kind: "notify_ops", status: "success" }, 990);
    m.agentTasksFinished.inc({ kind: "notify_ops", status: "failed" }, 10);
    m.agentTasksFinished.inc({ kind: "notify_ops", status: "retrying" }, 500); // attempts, not outcomes
    m.dbReplicationLagSeconds.set(42);
    const figures = figuresFromExposition(await m.registry.metrics(), "registry");
    const byId = Object.fromEntries(figures.slos.map((s) => [s.id, s]));
    expect(byId["api-availability"]?.value).toBeCloseTo(1 - 4 / 9_994, 10);
    expect(byId["api-availability"]?.met).toBe(true); // 0.04 % errors: within the 0.05 % budget
    expect(byId["api-availability"]?.budgetLeft).toBeCloseTo(1 - 4 / 9_994 / 0.0005, 6);
    expect(byId["agent-task-success"]?.value).toBeCloseTo(0.99, 10);
    // 4 % of quotes took 0.9 s, the rest 50 ms: the p95 is in the 25-50 ms bucket, the objective met.
    expect(byId["quote-latency"]?.withinThreshold).toBeCloseTo(1 - 400 / 9_990, 10);
    expect(byId["quote-latency"]?.value).toBeGreaterThan(0.025);
    expect(byId["quote-latency"]?.value).toBeLessThanOrEqual(0.05);
    expect(byId["quote-latency"]?.met).toBe(true);
    expect(figures.operations.replicationLagSeconds).toBe(42);
  });

  it("interpolates quantiles inside the bucket the way histogram_quantile does", () => {
    const buckets = [
      { le: 0.1, count: 50 },
      { le: 0.5, count: 100 },
      { le: Infinity, count: 100 },
    ];
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.1, 10);
    expect(histogramQuantile(0.75, buckets)).toBeCloseTo(0.3, 10);
    expect(histogramQuantile(0.5, [])).toBeNull();
  });
});

describe("npm run exec-report", () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [join(import.meta.dirname, "main.ts"), ...args], {
      encoding: "utf8",
      env: { PATH: process.env.PATH ?? "", ...env },
    });

  it("explains what is missing instead of failing obscurely", () => {
    const noDatabase = run(["--metrics-file", "x.prom"]);
    expect(noDatabase.status).toBe(1);
    expect(noDatabase.stderr).toContain(
      "Pass --database-url (the freight_ops role) or set OPS_DATABASE_URL_FILE",
    );

    const twoSources = run(["--metrics-url", "http://a/metrics", "--prometheus-url", "http://b"], {
      OPS_DATABASE_URL: "postgres://x@127.0.0.1:1/x",
    });
    expect(twoSources.status).toBe(1);
    expect(twoSources.stderr).toContain("exactly one of --metrics-url, --metrics-file or --prometheus-url");

    const badDate = run(["--metrics-file", "x.prom", "--week-ending", "last friday"], {
      OPS_DATABASE_URL: "postgres://x@127.0.0.1:1/x",
    });
    expect(badDate.status).toBe(1);
    expect(badDate.stderr).toContain('--week-ending must be a date like 2026-11-30, not "last friday"');
  });
});
