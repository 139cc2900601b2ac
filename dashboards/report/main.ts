// `npm run exec-report`: the weekly executive report (SLO card, conversions, revenue, operations)
// as an HTML page with inline SVG charts and a PDF printed by headless Chromium.
//
//   npm run exec-report -- --database-url postgres://freight_ops:...@db/freight \
//                          --metrics-url http://app:8080/metrics   (or --metrics-file, or --prometheus-url)
//   npm run exec-report:demo             (tools/platform/report-demo.ts: throw-away database, demo history)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writePdf } from "./browser.ts";
import { businessFigures } from "./figures.ts";
import {
  figuresFromExposition,
  figuresFromPrometheus,
  scrapeMetrics,
  type MetricsFigures,
} from "./metrics.ts";
import { renderReport } from "./render.ts";

export type MetricsSource =
  { kind: "exposition"; text: string; description: string } | { kind: "prometheus"; url: string };

export interface ReportOptions {
  opsDatabaseUrl: string;
  metrics: MetricsSource;
  weekEnding: Date;
  outDir: string;
  /** Skip the PDF (HTML only). */
  pdf?: boolean;
}

export interface ReportFiles {
  html: string;
  htmlPath: string;
  pdfPath?: string;
}

export async function generateReport(options: ReportOptions): Promise<ReportFiles> {
  const metrics: MetricsFigures =
    options.metrics.kind === "prometheus"
      ? await figuresFromPrometheus(options.metrics.url, options.weekEnding)
      : figuresFromExposition(options.metrics.text, options.metrics.description);
  const business = await businessFigures(options.opsDatabaseUrl, options.weekEnding);
  const html = renderReport({ weekEnding: options.weekEnding, generatedAt: new Date(), business, metrics });
  mkdirSync(options.outDir, { recursive: true });
  const base = `exec-report-${options.weekEnding.toISOString().slice(0, 10)}`;
  const htmlPath = join(options.outDir, `${base}.html`);
  writeFileSync(htmlPath, html);
  if (options.pdf === false) return { html, htmlPath };
  const pdfPath = join(options.outDir, `${base}.pdf`);
  await writePdf(html, pdfPath);
  return { html, htmlPath, pdfPath };
}

const USAGE = `Usage: npm run exec-report -- [options]
  --database-url URL     PostgreSQL URL of the read-only freight_ops role (default: $OPS_DATABASE_URL)
  --metrics-url URL      scrape the app's /metrics for the SLO and operations figures
  --metrics-file PATH    read a saved /metrics scrape instead
  --prometheus-url URL   query a Prometheus server (the dashboards' own PromQL) instead
  --week-ending DATE     end of the reported week, YYYY-MM-DD (UTC midnight; default: today)
  --out DIR              where to write exec-report-<date>.html and .pdf (default: .cache/exec-report)
  --no-pdf               write the HTML only
A throw-away demo (seeded history, the real app): npm run exec-report:demo`;

function weekEndingFrom(value: string | undefined): Date {
  if (!value) {
    const now = new Date();
    return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || Number.isNaN(Date.parse(`${value}T00:00:00Z`))) {
    throw new Error(`--week-ending must be a date like 2026-11-30, not "${value}".`);
  }
  return new Date(`${value}T00:00:00Z`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      "database-url": { type: "string" },
      "metrics-url": { type: "string" },
      "metrics-file": { type: "string" },
      "prometheus-url": { type: "string" },
      "week-ending": { type: "string" },
      out: { type: "string", default: ".cache/exec-report" },
      "no-pdf": { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const outDir = resolve(values.out);
  const pdf = !values["no-pdf"];

  const opsDatabaseUrl = values["database-url"] ?? process.env.OPS_DATABASE_URL;
  if (!opsDatabaseUrl)
    throw new Error(`Pass --database-url (the freight_ops role) or set OPS_DATABASE_URL.\n${USAGE}`);
  const sources = [values["metrics-url"], values["metrics-file"], values["prometheus-url"]].filter(Boolean);
  if (sources.length !== 1) {
    throw new Error(`Pass exactly one of --metrics-url, --metrics-file or --prometheus-url.\n${USAGE}`);
  }
  const weekEnding = weekEndingFrom(values["week-ending"]);
  const metrics: MetricsSource = values["prometheus-url"]
    ? { kind: "prometheus", url: values["prometheus-url"] }
    : values["metrics-url"]
      ? {
          kind: "exposition",
          text: await scrapeMetrics(values["metrics-url"]),
          description: values["metrics-url"],
        }
      : {
          kind: "exposition",
          text: readFileSync(values["metrics-file"] as string, "utf8"),
          description: `the scrape in ${values["metrics-file"]}`,
        };
  const files = await generateReport({
    opsDatabaseUrl,
    metrics,
    weekEnding,
    outDir,
    pdf,
  });
  console.log(`Wrote ${files.htmlPath}${files.pdfPath ? ` and ${files.pdfPath}` : ""}`);
}

if (import.meta.main) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
