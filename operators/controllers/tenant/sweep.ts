// The tenant sweep: a Tenant deleted while no operator was running loses its finalizer's protection
// only when the delete beat the finalizer (created and deleted before the operator added it, or
// removed by hand), and then nothing is left to say its database row should go: it stays enabled,
// its API keys working. Every interval, once the informer cache has synced, the sweep compares the
// enabled tenants in the database with the cache and offboards the ones without a Tenant object.
// Only tenants a Tenant object declared are candidates (tenants.declared, set by provisioning): rows
// written outside the control plane, such as the local platform's demo seed, are not the sweep's.
//
// Two checks stand between a cache and an offboarding, because disabling a live tenant is the worst
// mistake this controller can make: each candidate is confirmed gone by the API server itself (a
// signup commits its row just after creating its Tenant, which the cache may not have seen yet),
// and a sweep that would offboard more than a quarter of the enabled tenants refuses and says so
// (a control plane that does not hold the tenants: the wrong cluster, CRDs reinstalled, a region
// whose Tenants were never declared). Both cost nothing in the steady state: no candidates, no
// requests.
import type { Logger } from "pino";
import type pg from "pg";
import { Counter, type Registry } from "prom-client";
import { tenants as tenantsRef } from "../../api/resources.ts";
import type { Tenant } from "../../api/tenant.ts";
import { sleep } from "../../runtime/backoff.ts";
import type { Informer } from "../../runtime/informer.ts";
import type { KubeClient } from "../../runtime/kube.ts";
import { enabledTenantSlugs, offboardAbsentTenants, type SweptTenant } from "./store.ts";

/** The largest share of enabled tenants one sweep offboards; beyond it a human decides. */
export const SWEEP_MAX_SHARE = 0.25;

export interface SweepDeps {
  pool: pg.Pool;
  client: KubeClient;
  tenants: Informer<Tenant>;
  log: Logger;
  metrics: SweepMetrics;
}

export interface SweepMetrics {
  runs: Counter<"result">;
  offboarded: Counter;
}

export function sweepMetrics(registry: Registry): SweepMetrics {
  return {
    runs: new Counter({
      name: "tenant_sweep_runs_total",
      help: "Tenant sweeps by result: clean (nothing to do), offboarded, refused (too many at once), error.",
      labelNames: ["result"],
      registers: [registry],
    }),
    offboarded: new Counter({
      name: "tenant_sweep_offboarded_total",
      help: "Tenants offboarded by the sweep: enabled in the database with no Tenant object.",
      registers: [registry],
    }),
  };
}

export type SweepOutcome =
  | { result: "clean" }
  | { result: "offboarded"; tenants: SweptTenant[] }
  | { result: "refused"; candidates: number; enabled: number };

/** One sweep. The caller runs it after the tenant informer has synced. */
export async function sweepOnce(deps: SweepDeps): Promise<SweepOutcome> {
  const { pool, client, tenants, log, metrics } = deps;
  const inCache = () => new Set(tenants.list().map((t) => t.metadata.name));
  const enabled = await enabledTenantSlugs(pool);
  const cached = inCache();
  const candidates = enabled.filter((slug) => !cached.has(slug));
  if (!candidates.length) {
    metrics.runs.inc({ result: "clean" });
    return { result: "clean" };
  }
  if (candidates.length > enabled.length * SWEEP_MAX_SHARE) {
    metrics.runs.inc({ result: "refused" });
    log.error(
      { candidates: candidates.length, enabled: enabled.length, examples: candidates.slice(0, 10) },
      `tenant sweep refused: ${candidates.length} of ${enabled.length} enabled tenants have no Tenant object, ` +
        `more than ${SWEEP_MAX_SHARE * 100}% at once. Check that the operators watch the cluster that holds the tenants; ` +
        `declare the tenants that should stay, or offboard them by deleting their rows' API keys by hand`,
    );
    return { result: "refused", candidates: candidates.length, enabled: enabled.length };
  }
  // Confirmed by the API server, not only by our cache (see the header): a list without a
  // resourceVersion is read from etcd, in every namespace (a slug is unique across them).
  const gone: string[] = [];
  for (const slug of candidates) {
    const found = await client.request<{ items: unknown[] }>("GET", client.path(tenantsRef), {
      query: { fieldSelector: `metadata.name=${slug}`, limit: 1 },
    });
    if (!found.items.length) gone.push(slug);
  }
  const swept = gone.length ? await offboardAbsentTenants(pool, gone, (slug) => !inCache().has(slug)) : [];
  if (!swept.length) {
    metrics.runs.inc({ result: "clean" });
    return { result: "clean" };
  }
  metrics.runs.inc({ result: "offboarded" });
  metrics.offboarded.inc(swept.length);
  log.warn(
    { tenants: swept.map((t) => t.slug), keysDisabled: swept.reduce((n, t) => n + t.keysDisabled, 0) },
    `tenant sweep: offboarded ${swept.length} tenant(s) deleted without the finalizer while the operators were not running ` +
      "(disabled, API keys disabled, a data export each)",
  );
  return { result: "offboarded", tenants: swept };
}

/** Sweeps every `intervalMs` until `signal` aborts; a failed sweep is retried next interval. */
export async function runTenantSweep(
  deps: SweepDeps & { intervalMs: number; signal: AbortSignal },
): Promise<void> {
  const { intervalMs, signal, log } = deps;
  while (!signal.aborted) {
    // After one interval, not at once: at start the manager is busiest (every tenant reconciled).
    await sleep(intervalMs, signal);
    if (signal.aborted) return;
    try {
      await sweepOnce(deps);
    } catch (error) {
      deps.metrics.runs.inc({ result: "error" });
      log.warn({ err: (error as Error).message }, "tenant sweep failed; retrying next interval");
    }
  }
}
