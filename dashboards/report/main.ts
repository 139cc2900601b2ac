// `npm run exec-report`: the weekly executive report (SLO card, conversions, revenue, operations)
// as an HTML page with inline SVG charts and a PDF printed by headless Chromium.
//
//   npm run exec-report -- --database-url postgres://freight_ops:...@analytics-replica/freight \
//                          --metrics-url http://app:8080/metrics   (or --metrics-file, or --prometheus-url)
//   npm run exec-report:demo             (tools/platform/report-demo.ts: throw-away database, demo history)
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { z } from "zod";
import { ConfigError, defineEnv } from "../../app/env.ts";
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
  --database-url URL     PostgreSQL URL of the read-only freight_ops role on a replica; a primary refuses it (default: the file $OPS_DATABASE_URL_FILE names, or $OPS_DATABASE_URL)
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

export interface ReportRequest {
  help: boolean;
  opsDatabaseUrl: string;
  source: { kind: "metrics-url" | "metrics-file" | "prometheus-url"; value: string };
  weekEnding: Date;
  outDir: string;
  pdf: boolean;
}

/** The report's one secret, the freight_ops login, from OPS_DATABASE_URL_FILE (app/env.ts). */
const reportEnv = defineEnv({
  process: "executive report",
  schema: z.object({ OPS_DATABASE_URL: z.string().optional() }),
  secrets: ["OPS_DATABASE_URL"],
});

/**
 * The report's command line and environment, checked as its CronJob would start it: every problem in
 * one error (the deploy contract holds the stacks' CronJob against this same function).
 */
export function parseReportRequest(
  args: string[],
  env: Readonly<Record<string, string | undefined>>,
): ReportRequest {
  const { values } = parseArgs({
    args,
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
  const problems: string[] = [];
  let opsDatabaseUrl = values["database-url"];
  if (opsDatabaseUrl === undefined) {
    try {
      opsDatabaseUrl = reportEnv.parse(env).OPS_DATABASE_URL;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      problems.push(...error.problems);
    }
  }
  if (!values.help && !opsDatabaseUrl && !problems.length)
    problems.push(
      "Pass --database-url (the freight_ops role) or set OPS_DATABASE_URL_FILE (OPS_DATABASE_URL in local development).",
    );
  const sources = (["metrics-url", "metrics-file", "prometheus-url"] as const).filter((k) => values[k]);
  if (!values.help && sources.length !== 1)
    problems.push("Pass exactly one of --metrics-url, --metrics-file or --prometheus-url.");
  let weekEnding = new Date(0);
  try {
    weekEnding = weekEndingFrom(values["week-ending"]);
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (problems.length) throw new Error(`${problems.join("\n")}\n${USAGE}`);
  const kind = sources[0] ?? "metrics-url";
  return {
    help: values.help,
    opsDatabaseUrl: opsDatabaseUrl ?? "",
    source: { kind, value: values[kind] ?? "" },
    weekEnding,
    outDir: resolve(values.out),
    pdf: !values["no-pdf"],
  };
}

async function main(): Promise<void> {
  const request = parseReportRequest(process.argv.slice(2), process.env);
  if (request.help) {
    console.log(USAGE);
    return;
  }
  const { opsDatabaseUrl, weekEnding, outDir, pdf, source } = request;
  const metrics: MetricsSource =
    source.kind === "prometheus-url"
      ? { kind: "prometheus", url: source.value }
      : source.kind === "metrics-url"
        ? { kind: "exposition", text: await scrapeMetrics(source.value), description: source.value }
        : {
            kind: "exposition",
            text: readFileSync(source.value, "utf8"),
            description: `the scrape in ${source.value}`,
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
