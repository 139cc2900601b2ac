// The monthly data subject request drill, on seeded data in a tenant of its own (dsr-drill, created
// on the first run, with no API key): a fresh person with carrier invites, an access request and an
// erasure for them, filed, verified and fulfilled by the real runner exactly as a customer's would
// be. It reports whether both completed within the 7 days (they take seconds; the gate is the
// runner being there), whether the bundle held every seeded row with matching checksums, and
// whether the erasure left nothing (scan and a look of its own), plus the on-time rate over every
// request so far. A failed drill exits 1, which fails the CronJob's run and shows on its alerts.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { withTenant } from "../../db/pool.ts";
import { dsrOnTimeRate } from "../evidence-sources.ts";
import { findRequest, receiveRequest, verifyRequest, type DsrKind, type DsrRequest } from "./lifecycle.ts";

export const DRILL_TENANT_SLUG = "dsr-drill";
const DRILL_INVITES = 3;

export interface DrillReport {
  drill: "dsr";
  subject: string;
  access: { requestId: string; status: string; onTime: boolean; seconds: number | null; complete: boolean };
  erasure: { requestId: string; status: string; onTime: boolean; seconds: number | null; complete: boolean };
  onTimeRate: number | null;
  completedRequests: number;
  overdueOpen: number;
  passed: boolean;
  problems: string[];
}

async function drillTenant(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO tenants (slug, name, plan_id)
     SELECT $1, 'Data subject request drill', id FROM plans ORDER BY rank LIMIT 1
     ON CONFLICT (slug) DO UPDATE SET slug = excluded.slug RETURNING id`,
    [DRILL_TENANT_SLUG],
  );
  return rows[0]!.id;
}

async function waitFor(pool: pg.Pool, tenantId: string, id: string, timeoutMs: number): Promise<DsrRequest> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const request = (await withTenant(pool, tenantId, (db) => findRequest(db, id)))!;
    if (request.status === "completed" || request.status === "denied" || Date.now() > deadline)
      return request;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

export async function runDrill(
  pool: pg.Pool,
  options: { timeoutMs: number; log?: (line: string) => void },
): Promise<DrillReport> {
  const log = options.log ?? (() => undefined);
  const tenantId = await drillTenant(pool);
  const email = `drill-${randomUUID()}@dsr-drill.invalid`;
  const problems: string[] = [];
  await withTenant(pool, tenantId, async (db) => {
    const carriers = await db.query<{ id: string }>(
      `SELECT id FROM carriers WHERE id NOT IN (SELECT carrier_id FROM carrier_invites WHERE tenant_id = current_tenant_id())
        ORDER BY mc_number LIMIT ${DRILL_INVITES}`,
    );
    if (carriers.rows.length < DRILL_INVITES)
      problems.push(
        `the carrier directory has fewer than ${DRILL_INVITES} carriers the drill tenant has not invited`,
      );
    for (const carrier of carriers.rows)
      await db.query(
        "INSERT INTO carrier_invites (tenant_id, carrier_id, email) VALUES (current_tenant_id(), $1, $2)",
        [carrier.id, email],
      );
  });
  log(`drill subject ${email} seeded in tenant ${DRILL_TENANT_SLUG}`);

  const run = async (kind: DsrKind) => {
    const request = await withTenant(pool, tenantId, async (db) => {
      const received = await receiveRequest(db, tenantId, {
        kind,
        scope: "subject",
        subject: { email },
        requestedBy: "ops:dsr-drill",
      });
      return verifyRequest(db, received.id, "ops:dsr-drill", "drill: seeded subject");
    });
    log(`${kind} request ${request.id} verified; waiting for the runner`);
    const done = await waitFor(pool, tenantId, request.id, options.timeoutMs);
    const seconds = done.completedAt ? (done.completedAt.getTime() - done.receivedAt.getTime()) / 1000 : null;
    const onTime = done.status === "completed" && done.completedAt! <= done.dueAt;
    if (done.status !== "completed")
      problems.push(
        `${kind} request ${done.id} is ${done.status} after ${options.timeoutMs / 1000} s: is the runner up?`,
      );
    return { done, seconds, onTime };
  };

  const access = await run("access");
  let accessComplete = false;
  if (access.done.status === "completed") {
    const { rows } = await withTenant(pool, tenantId, (db) =>
      db.query<{ manifest: { files: { path: string; rows?: number; sha256: string }[] } }>(
        "SELECT manifest FROM dsr_bundles WHERE request_id = $1",
        [access.done.id],
      ),
    );
    const invites = rows[0]?.manifest.files.find((f) => f.path === "tables/carrier_invites.json");
    accessComplete =
      invites?.rows === DRILL_INVITES &&
      rows[0]!.manifest.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256));
    if (!accessComplete)
      problems.push(
        `the access bundle holds ${invites?.rows ?? 0} of the ${DRILL_INVITES} seeded carrier invites`,
      );
  }

  const erasure = await run("erasure");
  let erasureComplete = false;
  if (erasure.done.status === "completed") {
    const scan = (erasure.done.outcome?.scan ?? {}) as Record<string, number>;
    const left = await withTenant(pool, tenantId, (db) =>
      db.query<{ n: number }>("SELECT count(*)::int AS n FROM carrier_invites WHERE lower(email) = $1", [
        email,
      ]),
    );
    erasureComplete = left.rows[0]!.n === 0 && Object.values(scan).every((n) => n === 0);
    if (!erasureComplete)
      problems.push(`the erasure left ${left.rows[0]!.n} carrier invites of the drill subject`);
  }

  const rate = await dsrOnTimeRate(pool);
  const report: DrillReport = {
    drill: "dsr",
    subject: email,
    access: {
      requestId: access.done.id,
      status: access.done.status,
      onTime: access.onTime,
      seconds: access.seconds,
      complete: accessComplete,
    },
    erasure: {
      requestId: erasure.done.id,
      status: erasure.done.status,
      onTime: erasure.onTime,
      seconds: erasure.seconds,
      complete: erasureComplete,
    },
    onTimeRate: rate.rate,
    completedRequests: rate.completed,
    overdueOpen: rate.overdueOpen,
    passed: false,
    problems,
  };
  report.passed = !problems.length && access.onTime && erasure.onTime && accessComplete && erasureComplete;
  log(
    `drill ${report.passed ? "passed" : "FAILED"}: access ${access.done.status} in ${access.seconds ?? "-"} s ` +
      `(complete: ${accessComplete}), erasure ${erasure.done.status} in ${erasure.seconds ?? "-"} s (complete: ${erasureComplete}); ` +
      `on-time rate ${rate.rate === null ? "n/a" : `${(rate.rate * 100).toFixed(1)} %`} of ${rate.completed} completed, ${rate.overdueOpen} overdue open` +
      (problems.length ? `\n  ${problems.join("\n  ")}` : ""),
  );
  return report;
}
