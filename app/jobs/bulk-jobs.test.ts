import type pg from "pg";
import { createPool } from "../db/pool.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, pickupInDays, quoteBody } from "../../tools/platform/api-client.ts";
import { startTestRunner } from "../../tools/platform/runner.ts";
import type { RunningRunner } from "../runner/main.ts";
import { MAX_LANES_PER_JOB } from "./bulk-jobs.ts";

let app: TestApp;
let runner: RunningRunner;
let ops: pg.Pool;

beforeAll(async () => {
  app = await startTestApp({ seed: "demo" });
  ops = createPool(app.db.urls.ops, 2);
});
afterAll(async () => {
  await runner?.stop();
  await ops?.end();
  await app?.stop();
});

interface JobView {
  id: string;
  state: string;
  lanes: { total: number; priced: number; invalid: number; pending: number };
  progress: number;
  attempts: number;
  rows: {
    row: number;
    status: string;
    result?: Record<string, unknown>;
    input?: Record<string, unknown>;
    errors?: { field: string; message: string }[];
  }[];
  page: { next: string | null };
  links: { self: string; resultsCsv: string };
}

async function waitForJob(client: ReturnType<typeof apiClient>, id: string, query = ""): Promise<JobView> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { body } = await client.get<JobView>(`/v1/bulk-jobs/${id}${query}`);
    if (body.state === "succeeded" || body.state === "failed") return body;
    if (Date.now() > deadline)
      throw new Error(`job ${id} still ${body.state}: ${JSON.stringify(body.lanes)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function bulkUsed(tenantSlug: string): Promise<number> {
  const { rows } = await ops.query<{ used: number }>(
    `SELECT coalesce(sum(u.used), 0)::int AS used FROM usage_counters u JOIN tenants t ON t.id = u.tenant_id
      WHERE t.slug = $1 AND u.meter = 'bulk_jobs'`,
    [tenantSlug],
  );
  return rows[0]?.used ?? 0;
}

describe("bulk rating jobs", () => {
  it("prices every good lane like POST /v1/quotes and reports each bad row without failing the job", async () => {
    runner = await startTestRunner(app.db.urls.runner);
    const client = apiClient(app.url, app.apiKeys["globex-freight"]);
    const good = quoteBody({ weightLbs: 42_000 });
    const lanes = [
      good,
      quoteBody({ origin: "Atlantis, ZZ" }),
      quoteBody({ weightLbs: -5 }),
      { origin: "Chicago, IL" },
      quoteBody({ equipment: "reefer", destination: "Atlanta, GA" }),
      "not a lane",
      quoteBody({ pickupDate: "2020-01-01" }),
    ];
    const created = await client.post<JobView>("/v1/bulk-jobs", { lanes });
    expect(created.status).toBe(202);
    expect(created.body).toMatchObject({ state: "queued", lanes: { total: 7, pending: 7 } });

    const job = await waitForJob(client, created.body.id);
    expect(job).toMatchObject({
      state: "succeeded",
      progress: 1,
      lanes: { total: 7, priced: 2, invalid: 5, pending: 0 },
    });
    const byRow = new Map(job.rows.map((r) => [r.row, r]));
    const single = await client.post<{ totalCents: number; distanceMiles: number }>("/v1/quotes", good);
    expect(byRow.get(1)).toMatchObject({
      status: "priced",
      result: {
        totalCents: single.body.totalCents,
        distanceMiles: single.body.distanceMiles,
        currency: "USD",
      },
    });
    expect(byRow.get(2)?.errors).toEqual([
      { field: "origin", message: "unknown market 'Atlantis, ZZ'; GET /v1/locations lists them" },
    ]);
    expect(byRow.get(3)?.errors?.[0]?.field).toBe("weightLbs");
    expect(
      byRow
        .get(4)
        ?.errors?.map((e) => e.field)
        .sort(),
    ).toEqual(["destination", "equipment", "pickupDate", "weightLbs"]);
    expect(byRow.get(5)?.status).toBe("priced");
    expect(byRow.get(6)).toMatchObject({ status: "invalid", input: "not a lane" });
    expect(byRow.get(7)?.errors?.[0]).toMatchObject({ field: "pickupDate" });
    expect(byRow.get(7)?.errors?.[0]?.message).toMatch(/is in the past/);
  });

  it("accepts a CSV upload, reports its bad rows by row number and serves the results as CSV", async () => {
    const client = apiClient(app.url, app.apiKeys["initech-shipping"]);
    const day = pickupInDays(5);
    const csv = [
      "origin,destination,equipment,weight_lbs,pickup_date",
      `"Chicago, IL","Dallas, TX",dry_van,38000,${day}`,
      `"Chicago, IL","Dallas, TX",spaceship,38000,${day}`,
      `"Seattle, WA","Portland, OR",flatbed,forty,${day}`,
      `"Houston, TX","Memphis, TN",reefer,30000,${day}`,
      "",
    ].join("\r\n");
    const created = await client.post<JobView>("/v1/bulk-jobs", csv, { "content-type": "text/csv" });
    expect(created.status).toBe(202);
    const job = await waitForJob(client, created.body.id);
    expect(job.lanes).toEqual({ total: 4, priced: 2, invalid: 2, pending: 0 });
    expect(job.rows.map((r) => r.status)).toEqual(["priced", "invalid", "invalid", "priced"]);
    expect(job.rows[1]?.errors?.[0]).toMatchObject({ field: "equipment" });
    expect(job.rows[2]?.errors?.[0]).toMatchObject({
      field: "weightLbs",
      message: "must be whole pounds, e.g. 38000",
    });

    const download = await fetch(job.links.resultsCsv.replace(/^https?:\/\/[^/]+/, app.url), {
      headers: { authorization: `Bearer ${app.apiKeys["initech-shipping"]}` },
    });
    expect(download.status).toBe(200);
    expect(download.headers.get("content-type")).toMatch(/^text\/csv/);
    const lines = (await download.text()).trim().split("\r\n");
    expect(lines[0]).toBe(
      "row,status,origin,destination,equipment,weightLbs,pickupDate,distanceMiles,linehaulCents,fuelSurchargeCents,marginCents,totalCents,currency,pricingVersion,errors",
    );
    expect(lines).toHaveLength(5);
    expect(lines[1]).toMatch(/^1,priced,"Chicago, IL","Dallas, TX",dry_van,38000,/);
    expect(lines[2]).toMatch(
      /^2,invalid,"Chicago, IL","Dallas, TX",spaceship,.*equipment: must be one of dry_van, reefer, flatbed/,
    );
  });

  it("pages through the per-row results", async () => {
    const client = apiClient(app.url, app.apiKeys["initech-shipping"]);
    const lanes = Array.from({ length: 25 }, (_, i) => quoteBody({ weightLbs: 30_000 + i }));
    const created = await client.post<JobView>("/v1/bulk-jobs", { lanes });
    const job = await waitForJob(client, created.body.id, "?offset=20&limit=10");
    expect(job.rows.map((r) => r.row)).toEqual([21, 22, 23, 24, 25]);
    expect(job.page.next).toBeNull();
    const first = await client.get<JobView>(`/v1/bulk-jobs/${created.body.id}?limit=10`);
    expect(first.body.rows).toHaveLength(10);
    expect(first.body.page.next).toMatch(/offset=10&limit=10$/);
  });

  it("refuses unreadable uploads with a problem that says how to fix them, and creates no job", async () => {
    const client = apiClient(app.url, app.apiKeys["initech-shipping"]);
    const before = await bulkUsed("initech-shipping");
    const noHeader = await client.post("/v1/bulk-jobs", `"Chicago, IL","Dallas, TX",dry_van,1,2030-01-01\n`, {
      "content-type": "text/csv",
    });
    expect(noHeader.status).toBe(422);
    expect(JSON.stringify(noHeader.body)).toMatch(/the header lacks origin, destination/);
    const unclosed = await client.post(
      "/v1/bulk-jobs",
      'origin,destination,equipment,weightLbs,pickupDate\n"Chicago',
      {
        "content-type": "text/csv",
      },
    );
    expect(unclosed.status).toBe(422);
    expect(JSON.stringify(unclosed.body)).toMatch(/quoted field is not closed/);
    const empty = await client.post("/v1/bulk-jobs", { lanes: [] });
    expect(empty.status).toBe(422);
    const tooMany = await client.post("/v1/bulk-jobs", { lanes: new Array(MAX_LANES_PER_JOB + 1).fill({}) });
    expect(tooMany.status).toBe(413);
    expect(tooMany.body).toMatchObject({ maxLanes: MAX_LANES_PER_JOB });
    const xml = await client.post("/v1/bulk-jobs", "<lanes/>", { "content-type": "application/xml" });
    expect(xml.status).toBe(415);
    expect(JSON.stringify(xml.body)).toMatch(/text\/csv/);
    const huge = await client.post("/v1/bulk-jobs", "x".repeat(9 * 1024 * 1024), {
      "content-type": "text/csv",
    });
    expect(huge.status).toBe(413);
    expect(JSON.stringify(huge.body)).toMatch(/limited to 8 MiB/);
    expect(await bulkUsed("initech-shipping")).toBe(before);
  });

  it("refuses bulk rating to a Starter tenant, naming the plan that includes it, and counts nothing", async () => {
    const starter = apiClient(app.url, app.apiKeys["acme-logistics"]);
    const before = await bulkUsed("acme-logistics");
    const upload = await starter.post<Record<string, any>>("/v1/bulk-jobs", { lanes: [quoteBody()] });
    expect(upload.status).toBe(403);
    expect(upload.body).toMatchObject({ feature: "bulkRating", plan: "starter", requiredPlan: "pro" });
    expect(upload.body.upgradeUrl).toMatch(/\/billing\/upgrade\?plan=pro$/);
    expect((await starter.get<Record<string, any>>("/v1/bulk-jobs")).status).toBe(403);
    expect(await bulkUsed("acme-logistics")).toBe(before);
  });

  it("counts one bulk_jobs unit per job: a replayed Idempotency-Key returns the same job, the ceiling denies the rest", async () => {
    const tenant = await provisionTestTenant(app.db, "pro", {
      meter: "bulk_jobs",
      included: 2,
      hardCeiling: 2,
    });
    const client = apiClient(app.url, tenant.apiKey);
    const body = { lanes: [quoteBody()] };
    const first = await client.post<JobView>("/v1/bulk-jobs", body, { "idempotency-key": "upload-1" });
    const replay = await client.post<JobView>("/v1/bulk-jobs", body, { "idempotency-key": "upload-1" });
    expect(first.status).toBe(202);
    expect(replay.status).toBe(202);
    expect(replay.headers.get("idempotent-replayed")).toBe("true");
    expect(replay.body.id).toBe(first.body.id);
    expect(first.headers.get("meter-usage")).toMatch(/bulk_jobs/);
    expect(await bulkUsed(tenant.slug)).toBe(1);
    // 2 bulk jobs a day, hard stop.
    const second = await client.post<JobView>("/v1/bulk-jobs", body);
    expect(second.status).toBe(202);
    const third = await client.post("/v1/bulk-jobs", body);
    expect(third.status).toBe(429);
    expect(await bulkUsed(tenant.slug)).toBe(2);
    const { rows } = await ops.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM jobs j JOIN tenants t ON t.id = j.tenant_id WHERE t.slug = $1",
      [tenant.slug],
    );
    expect(rows[0]?.n).toBe(2);
  });

  it("lists a tenant's own jobs, newest first, and keeps each tenant's jobs to itself", async () => {
    const owner = apiClient(app.url, app.apiKeys["globex-freight"]);
    const other = apiClient(app.url, app.apiKeys["initech-shipping"]);
    const created = await owner.post<JobView>("/v1/bulk-jobs", { lanes: [quoteBody()] });
    expect((await other.get(`/v1/bulk-jobs/${created.body.id}`)).status).toBe(404);
    expect((await other.get(`/v1/bulk-jobs/${created.body.id}/results.csv`)).status).toBe(404);
    expect((await owner.get("/v1/bulk-jobs/not-a-uuid")).status).toBe(422);
    const mine = await owner.get<{ jobs: { id: string }[] }>("/v1/bulk-jobs?limit=1");
    expect(mine.body.jobs.map((j) => j.id)).toEqual([created.body.id]);
    const theirs = await other.get<{ jobs: { id: string }[] }>("/v1/bulk-jobs?limit=100");
    expect(theirs.body.jobs.map((j) => j.id)).not.toContain(created.body.id);
  });
});
