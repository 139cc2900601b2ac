// The executive report as one self-contained HTML page: inline CSS and SVG charts, no scripts,
// no fonts or images from the network, so it renders the same offline, in a mail client and as PDF.
import type { BusinessFigures } from "./figures.ts";
import type { MetricsFigures, SloFigure } from "./metrics.ts";

export interface ReportInput {
  weekEnding: Date;
  generatedAt: Date;
  business: BusinessFigures;
  metrics: MetricsFigures;
}

const COLORS = ["#1f6feb", "#d97706", "#059669", "#9333ea"];

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export function percent(value: number | null | undefined, decimals = 1): string {
  return value === null || value === undefined ? "n/a" : `${(value * 100).toFixed(decimals)} %`;
}

function dollars(value: number | null | undefined): string {
  return value === null || value === undefined
    ? "n/a"
    : `$${value.toLocaleString("en-US", { maximumFractionDigits: 0, minimumFractionDigits: 0 })}`;
}

function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return "n/a";
  if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  return `${(seconds / 60).toFixed(1)} min`;
}

function day(date: Date): string {
  return date.toISOString().slice(0, 10);
}

function formatValue(value: number | null, unit: string): string {
  if (unit === "percentunit") return percent(value);
  if (unit === "currencyUSD") return dollars(value);
  return value === null ? "n/a" : value.toLocaleString("en-US", { maximumFractionDigits: 0 });
}

interface Series {
  name: string;
  values: (number | null)[];
}

/** A line chart with one line per series over the week labels, y axis from 0. */
export function lineChart(
  title: string,
  labels: string[],
  series: Series[],
  format: (v: number) => string,
): string {
  const width = 640;
  const height = 220;
  const pad = { left: 56, right: 16, top: 28, bottom: 44 };
  const all = series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  const top = Math.max(...all, 0);
  // Ratios get a 0-100 % axis; anything else 15 % of headroom.
  const max = top <= 1 && format(1).endsWith("%") ? 1 : top * 1.15 || 1;
  const x = (i: number) => pad.left + (i * (width - pad.left - pad.right)) / Math.max(labels.length - 1, 1);
  const y = (v: number) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  const grid = [0, 0.25, 0.5, 0.75, 1]
    .map((f) => {
      const v = max * f;
      return `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e7eb"/><text x="${pad.left - 6}" y="${y(v) + 4}" text-anchor="end" class="axis">${escape(format(v))}</text>`;
    })
    .join("");
  const xLabels = labels
    .map(
      (label, i) =>
        `<text x="${x(i)}" y="${height - pad.bottom + 16}" text-anchor="middle" class="axis">${escape(label)}</text>`,
    )
    .join("");
  const lines = series
    .map((s, si) => {
      const points = s.values
        .map((v, i) => (v === null ? null : `${x(i).toFixed(1)},${y(v).toFixed(1)}`))
        .filter(Boolean);
      const color = COLORS[si % COLORS.length];
      return `<polyline fill="none" stroke="${color}" stroke-width="2.5" points="${points.join(" ")}"/>${s.values
        .map((v, i) =>
          v === null ? "" : `<circle cx="${x(i).toFixed(1)}" cy="${y(v).toFixed(1)}" r="3" fill="${color}"/>`,
        )
        .join("")}`;
    })
    .join("");
  const legend = series
    .map(
      (s, si) =>
        `<rect x="${pad.left + si * 180}" y="${height - 14}" width="10" height="10" fill="${COLORS[si % COLORS.length]}"/><text x="${pad.left + si * 180 + 14}" y="${height - 5}" class="legend">${escape(s.name)}</text>`,
    )
    .join("");
  return `<svg role="img" aria-label="${escape(title)}" viewBox="0 0 ${width} ${height}" width="100%" xmlns="http://www.w3.org/2000/svg"><text x="${pad.left}" y="16" class="chart-title">${escape(title)}</text>${grid}${xLabels}${lines}${legend}</svg>`;
}

/** A vertical bar chart with labelled bars; an optional red reference line (a limit). */
export function barChart(
  title: string,
  bars: { label: string; value: number; color?: string }[],
  format: (v: number) => string,
  limit?: { value: number; label: string },
): string {
  const width = 640;
  const height = 220;
  const pad = { left: 56, right: 16, top: 28, bottom: 36 };
  const max = Math.max(...bars.map((b) => b.value), limit?.value ?? 0, 0) * 1.15 || 1;
  const slot = (width - pad.left - pad.right) / Math.max(bars.length, 1);
  const y = (v: number) => height - pad.bottom - (v / max) * (height - pad.top - pad.bottom);
  const rects = bars
    .map((b, i) => {
      const x = pad.left + i * slot + slot * 0.15;
      const top = y(b.value);
      return `<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${(slot * 0.7).toFixed(1)}" height="${(height - pad.bottom - top).toFixed(1)}" fill="${b.color ?? COLORS[0]}"/><text x="${(x + slot * 0.35).toFixed(1)}" y="${(top - 4).toFixed(1)}" text-anchor="middle" class="axis">${escape(format(b.value))}</text><text x="${(x + slot * 0.35).toFixed(1)}" y="${height - pad.bottom + 16}" text-anchor="middle" class="axis">${escape(b.label)}</text>`;
    })
    .join("");
  const reference = limit
    ? `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(limit.value)}" y2="${y(limit.value)}" stroke="#dc2626" stroke-dasharray="6 4"/><text x="${width - pad.right}" y="${y(limit.value) - 4}" text-anchor="end" class="limit">${escape(limit.label)}</text>`
    : "";
  return `<svg role="img" aria-label="${escape(title)}" viewBox="0 0 ${width} ${height}" width="100%" xmlns="http://www.w3.org/2000/svg"><text x="${pad.left}" y="16" class="chart-title">${escape(title)}</text><line x1="${pad.left}" x2="${width - pad.right}" y1="${height - pad.bottom}" y2="${height - pad.bottom}" stroke="#9ca3af"/>${rects}${reference}</svg>`;
}

function tile(
  id: string,
  label: string,
  value: string,
  detail: string,
  status?: "good" | "bad" | "unknown",
): string {
  return `<div class="tile ${status ?? ""}" data-figure="${escape(id)}"><div class="label">${escape(label)}</div><div class="value">${escape(value)}</div><div class="detail">${escape(detail)}</div></div>`;
}

function sloTile(slo: SloFigure): string {
  const status = slo.met === null ? "unknown" : slo.met ? "good" : "bad";
  const verdict = slo.met === null ? "no traffic" : slo.met ? "objective met" : "objective missed";
  if (slo.display === "latency") {
    const threshold = (slo.thresholdSeconds ?? 0) * 1000;
    const value = slo.value === null ? "n/a" : `${Math.round(slo.value * 1000)} ms`;
    return tile(
      `slo-${slo.id}`,
      `${slo.title} (p95)`,
      value,
      `objective p95 <= ${threshold} ms · ${percent(slo.withinThreshold ?? null, 2)} within ${threshold} ms · budget left ${percent(slo.budgetLeft, 0)} · ${verdict} · ${slo.window}`,
      status,
    );
  }
  return tile(
    `slo-${slo.id}`,
    slo.title,
    percent(slo.value, 2),
    `objective ${percent(slo.objective, 2)} · budget left ${percent(slo.budgetLeft, 0)} · ${verdict} · ${slo.window}`,
    status,
  );
}

function change(current: number | null, previous: number | null, unit: string): string {
  if (current === null || previous === null) return "no previous week";
  const delta = current - previous;
  const sign = delta >= 0 ? "+" : "−";
  if (unit === "percentunit") return `${sign}${Math.abs(delta * 100).toFixed(1)} pts vs previous week`;
  if (unit === "currencyUSD") return `${sign}${dollars(Math.abs(delta))} vs previous week`;
  return `${sign}${Math.abs(delta).toFixed(0)} vs previous week`;
}

export function renderReport(input: ReportInput): string {
  const { business, metrics } = input;
  const weeks = business.weeks;
  const current = weeks.at(-1);
  const previous = weeks.at(-2);
  if (!current) throw new Error("The report needs at least one week of business figures.");
  const labels = weeks.map((w) => day(w.to).slice(5));
  const query = (id: string) => {
    const q = business.queries.find((x) => x.id === id);
    if (!q) throw new Error(`No business query "${id}"`);
    return q;
  };
  const businessTile = (id: string) => {
    const q = query(id);
    return tile(
      id,
      q.title,
      formatValue(current.values[id] ?? null, q.unit),
      `${change(current.values[id] ?? null, previous?.values[id] ?? null, q.unit)}. ${q.definition}`,
    );
  };
  const series = (id: string): Series => ({
    name: query(id).title,
    values: weeks.map((w) => w.values[id] ?? null),
  });
  const pct = (v: number) => `${(v * 100).toFixed(0)} %`;

  const ops = metrics.operations;
  const levels = ["80", "90", "100"].map((level) => ({
    label: `${level} %`,
    value: business.meterWarnings.filter((w) => w.level === level).reduce((n, w) => n + w.tenants, 0),
    color: level === "100" ? "#dc2626" : level === "90" ? "#d97706" : "#eab308",
  }));
  const queues = Object.keys({ ...ops.queueDepth, ...ops.oldestJobAgeSeconds });
  const lag = ops.replicationLagSeconds;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Weekly executive report, week ending ${day(input.weekEnding)}</title>
<style>
  body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: #111827; margin: 32px; background: #fff; }
  h1 { font-size: 24px; margin: 0 0 4px; }
  h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 2px solid #e5e7eb; padding-bottom: 4px; }
  .meta { color: #4b5563; font-size: 12px; }
  .tiles { display: grid; grid-template-columns: repeat(3, 1fr); gap: 12px; }
  .tile { border: 1px solid #d1d5db; border-radius: 8px; padding: 12px; break-inside: avoid; }
  .tile.good { border-left: 6px solid #059669; }
  .tile.bad { border-left: 6px solid #dc2626; }
  .tile.unknown { border-left: 6px solid #9ca3af; }
  .label { font-size: 13px; color: #374151; }
  .value { font-size: 28px; font-weight: bold; margin: 4px 0; }
  .detail { font-size: 11px; color: #4b5563; }
  .chart-title { font-size: 13px; font-weight: bold; fill: #111827; }
  .axis { font-size: 10px; fill: #4b5563; }
  .legend { font-size: 11px; fill: #111827; }
  .limit { font-size: 10px; fill: #dc2626; }
  section { break-inside: avoid; }
  svg { margin-top: 12px; }
</style>
</head>
<body>
<h1>Freight platform · weekly executive report</h1>
<div class="meta">Week ${day(current.from)} to ${day(current.to)} (UTC) · generated ${escape(input.generatedAt.toISOString())} · business figures from PostgreSQL (freight_ops) · SLO and operations figures from ${escape(metrics.source)}</div>

<section id="slo-card">
<h2>SLO card</h2>
<div class="tiles">${metrics.slos.map(sloTile).join("")}</div>
</section>

<section id="conversions">
<h2>Conversions</h2>
<div class="tiles">${["trial_to_paid", "quote_to_book", "invite_to_onboard"].map(businessTile).join("")}</div>
${lineChart("Weekly conversion rates", labels, [series("trial_to_paid"), series("quote_to_book"), series("invite_to_onboard")], pct)}
</section>

<section id="revenue">
<h2>Revenue</h2>
<div class="tiles">
${businessTile("mrr")}${businessTile("arpa")}${businessTile("overage_share")}
${tile("nrr_4w", "NRR (4 weeks)", percent(business.fourWeeks.nrr), `${day(business.fourWeeks.from)} to ${day(business.fourWeeks.to)}. ${query("nrr").definition}`)}
${tile("logo_churn_4w", "Churn (4 weeks)", percent(business.fourWeeks.churn), `${day(business.fourWeeks.from)} to ${day(business.fourWeeks.to)}. ${query("logo_churn").definition}`)}
${businessTile("paying_tenants")}
</div>
${barChart(
  "MRR at the end of each week",
  weeks.map((w) => ({ label: day(w.to).slice(5), value: w.values.mrr ?? 0 })),
  (v) => dollars(v),
)}
</section>

<section id="operations">
<h2>Operations</h2>
<div class="tiles">
${tile("queue-depth", "Queue depth", queues.length ? queues.map((q) => `${q}: ${ops.queueDepth[q] ?? 0}`).join(", ") : "n/a", "Runnable jobs waiting, per queue.")}
${tile("oldest-job", "Oldest job waiting", queues.length ? duration(Math.max(...queues.map((q) => ops.oldestJobAgeSeconds[q] ?? 0))) : "n/a", "Age of the oldest runnable job; on-call is paged above 15 min.")}
${tile("replication-lag", "Replication lag", duration(lag), `RPO ${duration(ops.rpoSeconds)}; ${lag === null ? "not reported" : lag <= ops.rpoSeconds ? "within the RPO" : "ABOVE the RPO"}.`, lag === null ? "unknown" : lag <= ops.rpoSeconds ? "good" : "bad")}
</div>
${barChart("Tenants at a meter warning level (now)", levels, (v) => v.toFixed(0))}
${barChart(
  "Replication lag vs RPO",
  [
    {
      label: "replication lag",
      value: lag ?? 0,
      color: lag !== null && lag > ops.rpoSeconds ? "#dc2626" : "#059669",
    },
  ],
  (v) => duration(v),
  { value: ops.rpoSeconds, label: `RPO ${duration(ops.rpoSeconds)}` },
)}
</section>
</body>
</html>
`;
}
