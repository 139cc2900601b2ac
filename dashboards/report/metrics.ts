// The SLO and operations figures of the report, from either source leadership may have:
// - a Prometheus server (`--prometheus-url`): the same PromQL the SLO card of the dashboard runs,
//   over each SLO's own compliance period;
// - a scrape of the app's /metrics (URL or saved file): the same SLI selectors applied to the
//   counters, which cover the scraped process' lifetime rather than a calendar period.
import { budgetLeft, sliOverPeriod } from "../executive.ts";
import { OPERATIONS, SLOS, errorBudget, forWindow, type ServiceLevelObjective } from "../slo.ts";

export interface SloFigure {
  id: string;
  title: string;
  objective: number;
  /** "ratio": good-event share; "latency": the p95 in seconds. */
  display: "ratio" | "latency";
  /** Good-event ratio (ratio SLOs) or p95 seconds (latency SLOs); null without traffic. */
  value: number | null;
  /** For latency SLOs: the share of requests within the threshold. */
  withinThreshold?: number | null;
  thresholdSeconds?: number;
  /** Share of the error budget left; null without traffic. */
  budgetLeft: number | null;
  met: boolean | null;
  window: string;
}

export interface OperationsFigures {
  queueDepth: Record<string, number>;
  oldestJobAgeSeconds: Record<string, number>;
  replicationLagSeconds: number | null;
  rpoSeconds: number;
  writesFrozen: boolean | null;
}

export interface MetricsFigures {
  source: string;
  slos: SloFigure[];
  operations: OperationsFigures;
}

// ---------------------------------------------------------------- text exposition (a /metrics scrape)

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!match?.[1] || match[3] === undefined) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1] as string] = (pair[2] as string).replace(/\\(.)/g, (_m, c: string) =>
        c === "n" ? "\n" : c,
      );
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

type Matcher = (labels: Record<string, string>) => boolean;

function sum(samples: Sample[], name: string, matches: Matcher = () => true): number {
  return samples.filter((s) => s.name === name && matches(s.labels)).reduce((total, s) => total + s.value, 0);
}

const isApi: Matcher = (l) => (l.route ?? "").startsWith("/v1/");
const isQuoteCreation: Matcher = (l) =>
  l.route === "/v1/quotes" && l.method === "POST" && l.status_class === "2xx";

/** Linear interpolation inside the bucket holding the quantile, the way histogram_quantile does. */
export function histogramQuantile(q: number, buckets: { le: number; count: number }[]): number | null {
  const sorted = [...buckets].sort((a, b) => a.le - b.le);
  const total = sorted.at(-1)?.count ?? 0;
  if (total === 0) return null;
  const rank = q * total;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of sorted) {
    if (bucket.count >= rank) {
      if (bucket.le === Infinity) return lowerBound; // Prometheus returns the highest finite bound
      return lowerBound + ((bucket.le - lowerBound) * (rank - lowerCount)) / (bucket.count - lowerCount || 1);
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}

function ratioFigure(slo: ServiceLevelObjective, bad: number, total: number, window: string): SloFigure {
  const value = total > 0 ? 1 - bad / total : null;
  const left = value === null ? null : 1 - (1 - value) / errorBudget(slo);
  return {
    id: slo.id,
    title: slo.title,
    objective: slo.objective,
    display: "ratio",
    value,
    budgetLeft: left,
    met: value === null ? null : value >= slo.objective,
    window,
  };
}

/** SLO and operations figures from one scrape of the app's /metrics. */
export function figuresFromExposition(text: string, source: string): MetricsFigures {
  const samples = parseExposition(text);
  const window = "since the process started";
  const slos = SLOS.map((slo): SloFigure => {
    switch (slo.id) {
      case "api-availability":
        return ratioFigure(
          slo,
          sum(samples, "http_request_duration_seconds_count", (l) => isApi(l) && l.status_class === "5xx"),
          sum(samples, "http_request_duration_seconds_count", isApi),
          window,
        );
      case "agent-task-success":
        return ratioFigure(
          slo,
          sum(samples, "agent_tasks_finished_total", (l) => l.status === "failed"),
          sum(samples, "agent_tasks_finished_total", (l) => l.status === "success" || l.status === "failed"),
          window,
        );
      case "quote-latency": {
        const threshold = slo.latency?.thresholdSeconds ?? 0.6;
        const total = sum(samples, "http_request_duration_seconds_count", isQuoteCreation);
        const fast = sum(
          samples,
          "http_request_duration_seconds_bucket",
          (l) => isQuoteCreation(l) && Number(l.le) === threshold,
        );
        const byLe = new Map<number, number>();
        for (const s of samples.filter(
          (s) => s.name === "http_request_duration_seconds_bucket" && isQuoteCreation(s.labels),
        )) {
          const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
          byLe.set(le, (byLe.get(le) ?? 0) + s.value);
        }
        const p95 = histogramQuantile(
          0.95,
          [...byLe].map(([le, count]) => ({ le, count })),
        );
        const ratio = ratioFigure(slo, total - fast, total, window);
        return {
          ...ratio,
          display: "latency",
          value: p95,
          withinThreshold: ratio.value,
          thresholdSeconds: threshold,
          met: p95 === null ? null : p95 <= threshold,
        };
      }
      default:
        throw new Error(
          `The report does not know how to read SLO "${slo.id}" from /metrics; add it to figuresFromExposition.`,
        );
    }
  });
  const byQueue = (name: string) =>
    Object.fromEntries(
      samples.filter((s) => s.name === name).map((s) => [s.labels.queue ?? "default", s.value]),
    );
  const lag = samples.find((s) => s.name === "db_replication_lag_seconds");
  const frozen = samples.find((s) => s.name === "writes_frozen");
  return {
    source,
    slos,
    operations: {
      queueDepth: byQueue("jobs_queue_depth"),
      oldestJobAgeSeconds: byQueue("jobs_oldest_age_seconds"),
      replicationLagSeconds: lag ? lag.value : null,
      rpoSeconds: OPERATIONS.rpoSeconds,
      writesFrozen: frozen ? frozen.value >= 1 : null,
    },
  };
}

export async function scrapeMetrics(url: string): Promise<string> {
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) }).catch((error: Error) => {
    throw new Error(
      `Could not scrape ${url}: ${error.message}. Check the app is running and the URL ends in /metrics.`,
    );
  });
  if (!response.ok)
    throw new Error(`Scraping ${url} answered HTTP ${response.status}; expected 200 with Prometheus text.`);
  return response.text();
}

// ---------------------------------------------------------------- Prometheus HTTP API

interface VectorResult {
  metric: Record<string, string>;
  value: [number, string];
}

async function instantQuery(baseUrl: string, query: string, time: Date): Promise<VectorResult[]> {
  const url = new URL("/api/v1/query", baseUrl);
  url.searchParams.set("query", query);
  url.searchParams.set("time", String(time.getTime() / 1000));
  const response = await fetch(url, { signal: AbortSignal.timeout(30_000) }).catch((error: Error) => {
    throw new Error(`Could not reach Prometheus at ${baseUrl}: ${error.message}. Check --prometheus-url.`);
  });
  const body = (await response.json().catch(() => ({}))) as {
    status?: string;
    error?: string;
    data?: { resultType: string; result: VectorResult[] };
  };
  if (!response.ok || body.status !== "success" || !body.data) {
    throw new Error(`Prometheus rejected the query ${query}: ${body.error ?? `HTTP ${response.status}`}`);
  }
  if (body.data.resultType !== "vector")
    throw new Error(`Expected a vector from ${query}, got ${body.data.resultType}`);
  return body.data.result;
}

function finite(result: VectorResult[]): number | null {
  const value = Number(result[0]?.value[1]);
  return result.length > 0 && Number.isFinite(value) ? value : null;
}

/** The SLO card's own PromQL, evaluated at `at` by a Prometheus server. */
export async function figuresFromPrometheus(baseUrl: string, at: Date): Promise<MetricsFigures> {
  const slos: SloFigure[] = [];
  for (const slo of SLOS) {
    const window = `last ${slo.period}`;
    const left = finite(await instantQuery(baseUrl, budgetLeft(slo), at));
    const good = finite(await instantQuery(baseUrl, sliOverPeriod(slo), at));
    if (slo.display === "latency" && slo.latency) {
      const p95 = finite(await instantQuery(baseUrl, forWindow(slo.latency.quantileExpr, slo.period), at));
      slos.push({
        id: slo.id,
        title: slo.title,
        objective: slo.objective,
        display: "latency",
        value: p95,
        withinThreshold: good,
        thresholdSeconds: slo.latency.thresholdSeconds,
        budgetLeft: left,
        met: p95 === null ? null : p95 <= slo.latency.thresholdSeconds,
        window,
      });
    } else {
      slos.push({
        id: slo.id,
        title: slo.title,
        objective: slo.objective,
        display: "ratio",
        value: good,
        budgetLeft: left,
        met: good === null ? null : good >= slo.objective,
        window,
      });
    }
  }
  const byQueue = async (query: string) =>
    Object.fromEntries(
      (await instantQuery(baseUrl, query, at)).map((r) => [r.metric.queue ?? "default", Number(r.value[1])]),
    );
  const lag = finite(await instantQuery(baseUrl, "max(db_replication_lag_seconds)", at));
  const frozen = finite(await instantQuery(baseUrl, "max(writes_frozen)", at));
  return {
    source: `Prometheus at ${baseUrl}`,
    slos,
    operations: {
      queueDepth: await byQueue("sum by (queue) (jobs_queue_depth)"),
      oldestJobAgeSeconds: await byQueue("max by (queue) (jobs_oldest_age_seconds)"),
      replicationLagSeconds: lag,
      rpoSeconds: OPERATIONS.rpoSeconds,
      writesFrozen: frozen === null ? null : frozen >= 1,
    },
  };
}
