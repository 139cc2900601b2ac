// Every metric a dashboard or rule reads must be one the app or the operators' manager really
// exports: this test starts the real app over a throw-away database, sends it the requests the SLOs
// are about, scrapes /metrics and checks each name (recording-rule names must be recorded by a rule
// instead). The manager's families come from its own registry, as its /metrics serves them
// (operators/controllers/pricing/controller.test.ts scrapes the running manager for their values).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../tools/platform/app.ts";
import { apiClient, quoteBody } from "../tools/platform/api-client.ts";
import { metricFamily, metricNames } from "./promql.ts";
import { createOperatorMetrics } from "../operators/runtime/metrics.ts";
import { PricingGauges } from "../operators/controllers/pricing/gauges.ts";
import { promqlExpressions, recordedNames } from "./queries.ts";

let app: TestApp;
let exposition = "";

/** Sample names and the families declared by `# TYPE` lines of a Prometheus text exposition. */
function parseExposition(text: string): { samples: Map<string, string[]>; families: Map<string, string> } {
  const samples = new Map<string, string[]>();
  const families = new Map<string, string>();
  for (const line of text.split("\n")) {
    const type = /^# TYPE (\S+) (\S+)/.exec(line);
    if (type?.[1] && type[2]) families.set(type[1], type[2]);
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s/.exec(line);
    if (sample?.[1]) samples.set(sample[1], [...(samples.get(sample[1]) ?? []), sample[2] ?? ""]);
  }
  return { samples, families };
}

beforeAll(async () => {
  app = await startTestApp({
    seed: "demo",
    env: { SECRETS_LAST_ROTATED: "llm-provider=2026-11-01T00:00:00Z,service-role=2026-10-15T00:00:00Z" },
  });
  // The traffic the SLOs select: quotes priced (latency, availability), a booking, an invite.
  const client = apiClient(app.url, app.apiKeys["acme-logistics"]);
  const quote = await client.post<{ id: string }>("/v1/quotes", quoteBody());
  expect(quote.status).toBe(201);
  await client.post(`/v1/quotes/${quote.body.id}/book`, {});
  const metrics = await fetch(`${app.url}/metrics`);
  expect(metrics.status).toBe(200);
  exposition = await metrics.text();
  // The operators' manager: the runtime's metrics and the pricing controller's gauges, in one registry.
  const operators = createOperatorMetrics();
  const gauges = new PricingGauges(operators.registry);
  gauges.setRollout("spot", "Progressing", 10);
  const observed = { quotes: 10, samples: 5, capBreaches: 0, absVariancePercent: 3, marginPercent: 12 };
  gauges.setVersions("spot", {
    champion: { version: "v1", ...observed },
    challenger: { version: "v2", ...observed },
  });
  exposition += await operators.registry.metrics();
});
afterAll(async () => app?.stop());

describe("metric names in dashboards and rules", () => {
  it("reads only metrics the running app exports, or names a recording rule records", () => {
    const { samples, families } = parseExposition(exposition);
    const recorded = recordedNames();
    const missing: string[] = [];
    let checked = 0;
    for (const { source, expr } of promqlExpressions()) {
      for (const name of metricNames(expr)) {
        checked++;
        if (name.includes(":")) {
          if (!recorded.has(name)) missing.push(`${name} (recording-rule name no rule records) in ${source}`);
          continue;
        }
        const family = families.get(name) ?? families.get(metricFamily(name));
        const isSeriesOfFamily =
          families.has(name) ||
          ((family === "histogram" || family === "summary") && name !== metricFamily(name));
        if (!samples.has(name) && !isSeriesOfFamily) missing.push(`${name} in ${source}`);
      }
    }
    expect(
      missing,
      "metrics used in PromQL that neither the app's nor the manager's /metrics exports",
    ).toEqual([]);
    expect(checked).toBeGreaterThan(50);
  });

  it("selects real series: the quote latency SLI finds the POST /v1/quotes histogram and its 0.6 s bucket", () => {
    const { samples } = parseExposition(exposition);
    const buckets = samples.get("http_request_duration_seconds_bucket") ?? [];
    const quoteCreation = buckets.filter(
      (labels) =>
        labels.includes('route="/v1/quotes"') &&
        labels.includes('method="POST"') &&
        labels.includes('status_class="2xx"'),
    );
    expect(quoteCreation.some((labels) => labels.includes('le="0.6"'))).toBe(true);
    expect(
      samples.get("http_request_duration_seconds_count")?.some((l) => l.includes('route="/v1/quotes"')),
    ).toBe(true);
  });

  it("exports the secret rotation timestamps the rotation alerts read", () => {
    const { samples } = parseExposition(exposition);
    expect(samples.get("secret_last_rotated_timestamp_seconds")).toEqual(
      expect.arrayContaining(['{secret="llm-provider"}', '{secret="service-role"}']),
    );
  });

  it("the cross-check would catch a misspelt metric", () => {
    const { samples, families } = parseExposition(exposition);
    const name = [...metricNames("sum(rate(http_request_duration_second_count[5m]))")][0] ?? "";
    expect(samples.has(name) || families.has(metricFamily(name))).toBe(false);
  });
});
