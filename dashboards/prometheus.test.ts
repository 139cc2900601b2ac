// The generated rules and every dashboard query, run by a real Prometheus server against the real
// app: the rules load and evaluate without errors, every panel's PromQL parses and executes, and the
// SLO card (and the executive report's Prometheus source) reads real figures.
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../tools/platform/app.ts";
import { apiClient, quoteBody } from "../tools/platform/api-client.ts";
import { sleep } from "../tools/postgres/server.ts";
import { RULES_DIR } from "./generate.ts";
import { prometheusRuleGroups } from "./index.ts";
import { startPrometheus, type PrometheusServer } from "../tools/prometheus/server.ts";
import { promqlExpressions } from "./queries.ts";
import { generateReport } from "./report/main.ts";
import { figuresFromPrometheus } from "./report/metrics.ts";

let app: TestApp;
let prometheus: PrometheusServer;

async function api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
  const url = new URL(path, prometheus.url);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  const response = await fetch(url);
  const body = (await response.json()) as { status: string; error?: string; data: T };
  if (body.status !== "success") throw new Error(`${path} ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

async function scrapes(): Promise<number> {
  const data = await api<{ result: { value: [number, string] }[] }>("/api/v1/query", {
    query: 'count_over_time(up{job="freight-app"}[1m])',
  });
  return Number(data.result[0]?.value[1] ?? 0);
}

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(250);
  }
}

beforeAll(async () => {
  app = await startTestApp({ seed: "demo" });
  const target = new URL(app.url).host;
  prometheus = await startPrometheus({
    targets: [target],
    ruleFiles: readdirSync(RULES_DIR).map((f) => join(RULES_DIR, f)),
  });
  await waitFor("the first scrapes", async () => (await scrapes()) >= 2);
  // Traffic while Prometheus scrapes, so rates over every window have something to measure.
  const client = apiClient(app.url, app.apiKeys["globex-freight"]);
  for (let round = 0; round < 4; round++) {
    for (let i = 0; i < 5; i++) expect((await client.post("/v1/quotes", quoteBody())).status).toBe(201);
    await client.post("/v1/quotes", { origin: "" }); // a 4xx: the caller's mistake
    await sleep(1_100);
  }
  const after = await scrapes();
  await waitFor("two scrapes after the traffic", async () => (await scrapes()) >= after + 2);
});
afterAll(async () => {
  await prometheus?.stop();
  await app?.stop();
});

describe("dashboards and rules on a real Prometheus", () => {
  it("loads every generated rule group and evaluates every rule without an error", async () => {
    type Rules = {
      groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
    };
    await waitFor("every rule evaluated once", async () => {
      const data = await api<Rules>("/api/v1/rules");
      return data.groups.every((g) => g.rules.every((r) => r.health !== "unknown"));
    });
    const data = await api<Rules>("/api/v1/rules");
    const expected = (prometheusRuleGroups().groups as { name: string }[]).map((g) => g.name).sort();
    expect(data.groups.map((g) => g.name).sort()).toEqual(expected);
    const broken = data.groups.flatMap((g) =>
      g.rules.filter((r) => r.health !== "ok").map((r) => `${g.name}/${r.name}: ${r.lastError}`),
    );
    expect(broken).toEqual([]);
  });

  it("parses and executes the PromQL of every dashboard panel and rule", async () => {
    const failures: string[] = [];
    for (const { source, expr } of promqlExpressions()) {
      await api("/api/v1/query", { query: expr }).catch((error: Error) =>
        failures.push(`${source}: ${error.message}`),
      );
    }
    expect(failures).toEqual([]);
  });

  it("records the SLI error ratios from the app's real series", async () => {
    const data = await api<{ result: { metric: Record<string, string>; value: [number, string] }[] }>(
      "/api/v1/query",
      {
        query: "slo:sli_error:ratio_rate5m",
      },
    );
    const bySlo = Object.fromEntries(data.result.map((r) => [r.metric.slo, Number(r.value[1])]));
    // Only quotes and 4xx answers were sent: no bad events for availability or latency (< 0.6 s).
    expect(bySlo["api-availability"]).toBe(0);
    expect(bySlo["quote-latency"]).toBe(0);
  });

  it("gives the SLO card and the executive report real figures", async () => {
    const figures = await figuresFromPrometheus(prometheus.url, new Date());
    const byId = Object.fromEntries(figures.slos.map((s) => [s.id, s]));
    expect(byId["api-availability"]?.value).toBe(1);
    expect(byId["api-availability"]?.budgetLeft).toBe(1);
    expect(byId["quote-latency"]?.value).toBeGreaterThan(0);
    expect(byId["quote-latency"]?.value).toBeLessThanOrEqual(0.6);
    expect(byId["quote-latency"]?.met).toBe(true);
    // The app has no agent task runner traffic in this test: no data, not a made-up number.
    expect(byId["agent-task-success"]?.value).toBeNull();
    expect(figures.operations.rpoSeconds).toBe(300);
  });

  it("renders the executive report with --prometheus-url as its metrics source", async () => {
    const outDir = mkdtempSync(join(tmpdir(), "freight-exec-report-"));
    try {
      const files = await generateReport({
        opsDatabaseUrl: app.db.urls.ops,
        metrics: { kind: "prometheus", url: prometheus.url },
        weekEnding: new Date(),
        outDir,
        pdf: false,
      });
      expect(files.html).toContain(`SLO and operations figures from Prometheus at ${prometheus.url}`);
      expect(files.html).toContain("100.00 %"); // availability of the traffic above, over the last 30d
      expect(files.html).toContain("last 30d");
    } finally {
      rmSync(outDir, { recursive: true, force: true });
    }
  });
});
