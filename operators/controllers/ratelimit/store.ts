// The rate-limit controller's database access: tenant_rate_limits, read by the app's limiter and
// the runners, written only when the effective limits differ from what is stored.
import type pg from "pg";
import type { EffectiveRateLimits } from "../../api/tenant.ts";

export async function findTenantId(pool: pg.Pool, slug: string): Promise<string | undefined> {
  const { rows } = await pool.query<{ id: string }>("SELECT id FROM tenants WHERE slug = $1", [slug]);
  return rows[0]?.id;
}

/** Returns true when it wrote. */
export async function syncTenantRateLimits(
  pool: pg.Pool,
  tenantId: string,
  limits: EffectiveRateLimits,
): Promise<boolean> {
  const { rows } = await pool.query<{
    requests_per_second: number;
    burst: number;
    bulk_job_concurrency: number;
    source: string;
  }>(
    "SELECT requests_per_second, burst, bulk_job_concurrency, source FROM tenant_rate_limits WHERE tenant_id = $1",
    [tenantId],
  );
  const row = rows[0];
  if (
    row &&
    row.requests_per_second === limits.requestsPerSecond &&
    row.burst === limits.burst &&
    row.bulk_job_concurrency === limits.bulkJobConcurrency &&
    row.source === limits.source
  ) {
    return false;
  }
  // The WHERE makes a concurrent identical write a no-op instead of a second update.
  await pool.query(
    `INSERT INTO tenant_rate_limits AS t (tenant_id, requests_per_second, burst, bulk_job_concurrency, source, updated_at)
     VALUES ($1, $2, $3, $4, $5, now())
     ON CONFLICT (tenant_id) DO UPDATE SET requests_per_second = excluded.requests_per_second, burst = excluded.burst,
       bulk_job_concurrency = excluded.bulk_job_concurrency, source = excluded.source, updated_at = now()
     WHERE (t.requests_per_second, t.burst, t.bulk_job_concurrency, t.source)
       IS DISTINCT FROM (excluded.requests_per_second, excluded.burst, excluded.bulk_job_concurrency, excluded.source)`,
    [tenantId, limits.requestsPerSecond, limits.burst, limits.bulkJobConcurrency, limits.source],
  );
  return true;
}
