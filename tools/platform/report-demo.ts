// `npm run exec-report:demo`: the weekly executive report from a demo platform, the real app over a
// throw-away PostgreSQL with the app's demo seed plus ten weeks of business history, and a little live
// traffic so /metrics has SLO figures. Kept out of dashboards/ so the shipped report CLI never starts
// a database of its own.
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { generateReport } from "../../dashboards/report/main.ts";
import { scrapeMetrics } from "../../dashboards/report/metrics.ts";
import { startTestApp } from "./app.ts";
import { apiClient, quoteBody } from "./api-client.ts";
import { seedReportHistory } from "./report-history.ts";

export interface Demo {
  now: Date;
  opsDatabaseUrl: string;
  metricsUrl: string;
  stop(): Promise<void>;
}

const ORIGINS = ["Chicago, IL", "Atlanta, GA", "Los Angeles, CA", "Newark, NJ", "Seattle, WA"];

export async function startDemo(options: { quotes?: number } = {}): Promise<Demo> {
  const now = new Date();
  const app = await startTestApp({
    seed: "demo",
    env: {
      SECRETS_LAST_ROTATED: `llm-provider=${new Date(now.getTime() - 20 * 86_400_000).toISOString()},service-role=${new Date(now.getTime() - 45 * 86_400_000).toISOString()}`,
    },
  });
  try {
    await seedReportHistory({ urls: app.db.urls, now });
    const client = apiClient(app.url, app.apiKeys["globex-freight"]);
    for (let i = 0; i < (options.quotes ?? 40); i++) {
      const quote = await client.post<{ id: string }>(
        "/v1/quotes",
        quoteBody({ origin: ORIGINS[i % ORIGINS.length] }),
      );
      if (quote.status === 201 && i % 4 === 0) await client.post(`/v1/quotes/${quote.body.id}/book`, {});
    }
    // A few caller mistakes: 4xx answers, which count as good events for availability.
    for (let i = 0; i < 3; i++) await client.post("/v1/quotes", { origin: "" });
    return {
      now,
      opsDatabaseUrl: app.db.urls.ops,
      metricsUrl: `${app.url}/metrics`,
      stop: () => app.stop(),
    };
  } catch (error) {
    await app.stop();
    throw error;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: "string", default: ".cache/exec-report" },
      "no-pdf": { type: "boolean", default: false },
    },
  });
  const demo = await startDemo();
  try {
    const files = await generateReport({
      opsDatabaseUrl: demo.opsDatabaseUrl,
      metrics: {
        kind: "exposition",
        text: await scrapeMetrics(demo.metricsUrl),
        description: `${demo.metricsUrl} (demo app)`,
      },
      weekEnding: demo.now,
      outDir: resolve(values.out),
      pdf: !values["no-pdf"],
    });
    console.log(`Wrote ${files.htmlPath}${files.pdfPath ? ` and ${files.pdfPath}` : ""}`);
  } finally {
    await demo.stop();
  }
}

if (import.meta.main) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
