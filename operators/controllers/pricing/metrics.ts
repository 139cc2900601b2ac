// What the rollout's analysis observes, read from PostgreSQL as the operators' role: per version,
// the quotes it priced in the window (for the sample-ratio check), the settled bookings among them,
// their mean absolute variance quoted vs invoiced (the plan's variance, per version), the realised
// margin over carrier cost, and quotes the margin floor kept above a regional cap.
import type pg from "pg";
import type { VersionObservation } from "./decide.ts";

interface Row {
  pricing_version: string;
  quotes: number;
  samples: number;
  abs_variance_pct: string | null;
  margin_pct: string | null;
  cap_breaches: number;
}

const EMPTY: VersionObservation = { quotes: 0, samples: 0, capBreaches: 0 };

export async function observeVersions(
  pool: pg.Pool,
  versions: { champion: string; challenger: string },
  windowDays: number,
): Promise<{ champion: VersionObservation; challenger: VersionObservation }> {
  const { rows } = await pool.query<Row>(
    `SELECT q.pricing_version,
            count(*)::int AS quotes,
            count(i.booking_id)::int AS samples,
            100.0 * avg(abs(i.actual_rate_cents - q.total_cents)::numeric / nullif(q.total_cents, 0))
              FILTER (WHERE i.booking_id IS NOT NULL) AS abs_variance_pct,
            100.0 * sum(i.actual_rate_cents - i.carrier_cost_cents) / nullif(sum(i.carrier_cost_cents), 0) AS margin_pct,
            count(*) FILTER (WHERE (q.breakdown ->> 'capBreached')::boolean)::int AS cap_breaches
       FROM quotes q
       LEFT JOIN bookings b ON b.quote_id = q.id
       LEFT JOIN invoices i ON i.booking_id = b.id
      WHERE q.pricing_version = ANY($1) AND q.created_at >= now() - make_interval(days => $2)
      GROUP BY q.pricing_version`,
    [[versions.champion, versions.challenger], windowDays],
  );
  const of = (name: string): VersionObservation => {
    const row = rows.find((r) => r.pricing_version === name);
    if (!row) return EMPTY;
    return {
      quotes: row.quotes,
      samples: row.samples,
      absVariancePercent: row.abs_variance_pct === null ? undefined : Number(row.abs_variance_pct),
      marginPercent: row.margin_pct === null ? undefined : Number(row.margin_pct),
      capBreaches: row.cap_breaches,
    };
  };
  return { champion: of(versions.champion), challenger: of(versions.challenger) };
}
