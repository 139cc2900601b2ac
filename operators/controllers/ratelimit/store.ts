// Rate limits in the database: tenant_rate_limits, read by the app's limiter and the runners,
// written only when the effective limits differ from what is stored. Set-based: the reconciles of
// many tenants share one read and one upsert (in the tenant controller's provisioning transaction,
// or through a Batcher for tenants whose plan does not resolve).
import type pg from "pg";
import type { Db } from "../../../app/db/pool.ts";
import type { EffectiveRateLimits } from "../../api/tenant.ts";

export interface TenantRateLimits {
  slug: string;
  limits: EffectiveRateLimits;
}

export interface TenantRateLimitsSynced {
  /** Undefined while the tenant has no database row: nothing to limit yet. */
  tenantId: string | undefined;
  wrote: boolean;
}

export async function syncTenantRateLimits(
  pool: pg.Pool | Db,
  items: readonly TenantRateLimits[],
): Promise<TenantRateLimitsSynced[]> {
  const { rows } = await pool.query<{
    id: string;
    slug: string;
    requests_per_second: number | null;
    burst: number | null;
    bulk_job_concurrency: number | null;
    source: string | null;
  }>(
    `SELECT t.id, t.slug, l.requests_per_second, l.burst, l.bulk_job_concurrency, l.source
       FROM tenants t LEFT JOIN tenant_rate_limits l ON l.tenant_id = t.id
      WHERE t.slug = ANY($1)`,
    [items.map((i) => i.slug)],
  );
  const bySlug = new Map(rows.map((r) => [r.slug, r]));
  const stale = items.filter(({ slug, limits }) => {
    const row = bySlug.get(slug);
    return (
      row !== undefined &&
      !(
        row.requests_per_second === limits.requestsPerSecond &&
        row.burst === limits.burst &&
        row.bulk_job_concurrency === limits.bulkJobConcurrency &&
        row.source === limits.source
      )
    );
  });
  if (stale.length) {
    // The WHERE makes a concurrent identical write a no-op instead of a second update.
    await pool.query(
      `INSERT INTO tenant_rate_limits AS t (tenant_id, requests_per_second, burst, bulk_job_concurrency, source, updated_at)
       SELECT l.tenant_id, l.requests_per_second, l.burst, l.bulk_job_concurrency, l.source, now()
         FROM jsonb_to_recordset($1::jsonb) AS l(tenant_id uuid, requests_per_second integer, burst integer,
                                                bulk_job_concurrency integer, source text)
       ON CONFLICT (tenant_id) DO UPDATE SET requests_per_second = excluded.requests_per_second, burst = excluded.burst,
         bulk_job_concurrency = excluded.bulk_job_concurrency, source = excluded.source, updated_at = now()
       WHERE (t.requests_per_second, t.burst, t.bulk_job_concurrency, t.source)
         IS DISTINCT FROM (excluded.requests_per_second, excluded.burst, excluded.bulk_job_concurrency, excluded.source)`,
      [
        JSON.stringify(
          stale.map(({ slug, limits }) => ({
            tenant_id: bySlug.get(slug)!.id,
            requests_per_second: limits.requestsPerSecond,
            burst: limits.burst,
            bulk_job_concurrency: limits.bulkJobConcurrency,
            source: limits.source,
          })),
        ),
      ],
    );
  }
  const written = new Set(stale.map((s) => s.slug));
  return items.map(({ slug }) => ({ tenantId: bySlug.get(slug)?.id, wrote: written.has(slug) }));
}
