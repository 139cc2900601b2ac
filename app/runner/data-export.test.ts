// A deleted Tenant's data export: the tenant controller's offboarding queues the task, a real runner
// files and fulfils the whole tenant's data subject access request (the DSR builder: a JSON file per
// tenant table, a manifest with each file's SHA-256, the archive's SHA-256), ops is sent a signed,
// expiring link, and redeems it with `npm run dsr -- download` (the tenant's API keys are disabled).
// Checked against what the read-only ops role sees in the same database.
import { createHash } from "node:crypto";
import { execFile, execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { Tenant } from "../../operators/api/tenant.ts";
import { offboardTenant } from "../../operators/controllers/tenant/store.ts";
import { createPool } from "../db/pool.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { OpsWebhook } from "../../tools/platform/receivers.ts";
import { startTestRunner, until } from "../../tools/platform/runner.ts";
import { main as dsr } from "../compliance/dsr-cli.ts";
import { exportRequester } from "./data-export.ts";

const run = promisify(execFile);

let app: TestApp;
let operator: pg.Pool;
let ops: pg.Pool;
let superuser: pg.Pool;
const webhook = new OpsWebhook();

beforeAll(async () => {
  app = await startTestApp({ seed: "demo" });
  operator = createPool(app.db.urls.operator, 2);
  ops = createPool(app.db.urls.ops, 2);
  superuser = createPool(app.db.urls.superuser.replace(/\/postgres$/, "/freight"), 1);
  await webhook.start();
});
afterAll(async () => {
  await webhook.stop();
  await operator?.end();
  await ops?.end();
  await superuser?.end();
  await app?.stop();
});

const deletedTenant = (slug: string, uid: string) =>
  ({
    apiVersion: "platform.freight.example/v1",
    kind: "Tenant",
    metadata: { name: slug, namespace: "tenants", uid },
    spec: { plan: "starter" },
  }) as unknown as Tenant;

/** `npm run dsr -- ...` as ops runs it (freight_operator), with its exit code and output. */
async function runDsr(...argv: string[]) {
  const out: string[] = [];
  const log = vi.spyOn(console, "log").mockImplementation((line: string) => void out.push(line));
  const error = vi.spyOn(console, "error").mockImplementation((line: string) => void out.push(line));
  try {
    const code = await dsr(argv, { OPERATOR_DATABASE_URL: app.db.urls.operator });
    return { code, out: out.join("\n") };
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
}

function untar(file: string): Map<string, Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "tenant-bundle-"));
  execFileSync("tar", ["-xzf", file, "-C", dir]);
  const files = new Map<string, Buffer>();
  const walk = (sub: string) => {
    for (const entry of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const path = sub ? `${sub}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else files.set(path, readFileSync(join(dir, path)));
    }
  };
  walk("");
  return files;
}

const hex = (bytes: Buffer) => createHash("sha256").update(bytes).digest("hex");

describe("data export of a deleted tenant", () => {
  it("builds the tenant's DSR access bundle once, sends ops an expiring link, and ops fetch it", async () => {
    const acme = apiClient(app.url, app.apiKeys["acme-logistics"]);
    const globex = apiClient(app.url, app.apiKeys["globex-freight"]);
    for (let i = 0; i < 3; i++) expect((await acme.post("/v1/quotes", quoteBody())).status).toBe(201);
    expect((await globex.post("/v1/quotes", quoteBody())).status).toBe(201);

    const offboarded = await offboardTenant(operator, deletedTenant("acme-logistics", "uid-acme-1"));
    expect(offboarded.exportRequested).toBe(true);
    const acmeId = offboarded.tenantId!;
    const { rows: queued } = await operator.query<{ id: string }>(
      "SELECT id FROM agent_tasks WHERE tenant_id = $1 AND kind = 'data_export'",
      [acmeId],
    );
    const taskId = queued[0]!.id;

    // Ops' receiver is down at first: the task retries and reuses the bundle it stored.
    webhook.answer = (body, attempt) => (body.event === "data_export_ready" && attempt === 1 ? 503 : 200);
    const runner = await startTestRunner(app.db.urls.runner, { OPS_WEBHOOK_URL: webhook.url });
    try {
      const [task] = await until(
        "the export task to succeed",
        async () =>
          (
            await operator.query<{ status: string; attempts: number; last_error: string | null }>(
              "SELECT status, attempts, last_error FROM agent_tasks WHERE id = $1",
              [taskId],
            )
          ).rows,
        (rows) => rows[0]?.status === "success" || rows[0]?.status === "failed",
        20_000,
      );
      expect(task).toEqual({ status: "success", attempts: 2, last_error: null });
    } finally {
      await runner.stop();
    }

    // One whole-tenant access request, completed, with its history; no archive of the older kind.
    const { rows: requests } = await operator.query(
      "SELECT id, kind, scope, status, requested_by, verified_by FROM dsr_requests WHERE tenant_id = $1",
      [acmeId],
    );
    expect(requests).toEqual([
      expect.objectContaining({
        kind: "access",
        scope: "tenant",
        status: "completed",
        requested_by: exportRequester(taskId),
        verified_by: "platform",
      }),
    ]);
    const requestId = requests[0]!.id as string;
    const { rows: events } = await operator.query<{ event: string }>(
      "SELECT event FROM dsr_events WHERE request_id = $1 ORDER BY id",
      [requestId],
    );
    expect(events.map((e) => e.event)).toEqual([
      "received",
      "verified",
      "in_progress",
      "completed",
      "link_issued",
      "link_issued",
    ]);
    const { rows: bundles } = await operator.query<{ archive: Buffer; sha256: string; bytes: number }>(
      "SELECT archive, sha256, bytes FROM dsr_bundles WHERE request_id = $1",
      [requestId],
    );
    expect(bundles).toHaveLength(1);
    expect(hex(bundles[0]!.archive)).toBe(bundles[0]!.sha256);
    const legacy = await ops.query("SELECT 1 FROM data_exports WHERE tenant_id = $1", [acmeId]);
    expect(legacy.rows).toHaveLength(0);

    const ready = webhook.events("data_export_ready");
    expect(ready).toHaveLength(2); // refused once, then accepted
    const event = ready[1]!;
    expect(event).toMatchObject({
      taskId,
      tenantSlug: "acme-logistics",
      requestId,
      bytes: bundles[0]!.bytes,
      sha256: bundles[0]!.sha256,
      severity: "ticket",
    });
    expect(Date.parse(String(event.linkExpiresAt)) - Date.now()).toBeGreaterThan(23 * 3600_000);
    const token = new URL(String(event.link), app.url).searchParams.get("token")!;
    expect(String(event.summary)).toContain(`npm run dsr -- download ${requestId} --token ${token}`);

    // The tenant's keys are disabled: the API cannot serve the link, ops' command does.
    const viaApi = await acme.get(String(event.link));
    expect(viaApi.status).toBe(401);
    const file = join(mkdtempSync(join(tmpdir(), "tenant-export-")), "acme.tar.gz");
    const fetched = await runDsr("download", requestId, "--token", token, "--out", file);
    expect(fetched).toMatchObject({ code: 0 });
    expect(fetched.out).toContain(`wrote ${bundles[0]!.bytes} bytes of request ${requestId}'s bundle`);
    expect(hex(readFileSync(file))).toBe(bundles[0]!.sha256);

    const files = untar(file);
    const manifest = JSON.parse(files.get("manifest.json")!.toString());
    for (const entry of manifest.files) expect(hex(files.get(entry.path)!)).toBe(entry.sha256);
    // Every tenant table, as the RLS probe defines them, but for export archives and link hashes.
    const { rows: catalog } = await ops.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p')
          AND c.relname NOT IN ('data_exports', 'dsr_bundles', 'dsr_export_links')
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)`,
    );
    const tables = manifest.files.filter((f: { table?: string }) => f.table);
    expect(tables.map((f: { table: string }) => f.table).sort()).toEqual(
      ["tenants", ...catalog.map((c) => c.name)].sort(),
    );
    expect(manifest).toMatchObject({ scope: "tenant", tenantId: acmeId, requestId });
    expect(manifest.omittedColumns.api_keys).toEqual(["key_hash"]);
    // Row for row what ops sees of that tenant; the offboarding left them all in place.
    for (const entry of tables) {
      const column = entry.table === "tenants" ? "id" : "tenant_id";
      const { rows: count } = await ops.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${entry.table} WHERE ${column} = $1`,
        [acmeId],
      );
      const rows = JSON.parse(files.get(entry.path)!.toString()) as Record<string, unknown>[];
      // This request's own history grew after the bundle's snapshot (completed, links issued).
      if (!entry.table.startsWith("dsr_"))
        expect({ table: entry.table, rows: rows.length }).toEqual({
          table: entry.table,
          rows: count[0]!.n,
        });
      for (const row of rows) if ("tenant_id" in row) expect(row.tenant_id).toBe(acmeId);
    }
    expect(JSON.parse(files.get("tables/quotes.json")!.toString())).toHaveLength(3);
    expect(JSON.parse(files.get("tables/tenants.json")!.toString())).toEqual([
      expect.objectContaining({ slug: "acme-logistics" }),
    ]);
    for (const key of JSON.parse(files.get("tables/api_keys.json")!.toString()))
      expect(key).not.toHaveProperty("key_hash");

    // A wrong token, and an expired link: refused with what to do, nothing written.
    expect(
      await runDsr("download", requestId, "--token", "not-the-token", "--out", `${file}.x`),
    ).toMatchObject({
      code: 1,
      out: expect.stringContaining("this link is not one issued for request"),
    });
    await superuser.query(
      "UPDATE dsr_export_links SET expires_at = now() - interval '1 second' WHERE request_id = $1",
      [requestId],
    );
    const expired = await runDsr("download", requestId, "--token", token, "--out", `${file}.y`);
    expect(expired).toMatchObject({ code: 1 });
    expect(expired.out).toMatch(/expired at .*; issue a fresh one with npm run dsr -- link /);
    const fresh = await runDsr("link", requestId);
    expect(fresh.code).toBe(0);
    const freshToken = /--token (\S+)/.exec(fresh.out)![1]!;
    expect(await runDsr("download", requestId, "--token", freshToken, "--out", `${file}.z`)).toMatchObject({
      code: 0,
    });
    expect(readFileSync(`${file}.z`).equals(readFileSync(file))).toBe(true);
  });

  it("still hands ops an archive the earlier export stored (data_exports gets no new ones)", async () => {
    const archive = gzipSync('{"format":"freight-tenant-export","version":1}\n');
    const { rows } = await superuser.query<{ id: string }>(
      `INSERT INTO data_exports (tenant_id, task_id, tenant_slug, reason, archive, bytes, sha256, row_counts)
       SELECT id, gen_random_uuid(), slug, 'tenant deleted', $1, $2, $3, '{}' FROM tenants WHERE slug = 'globex-freight'
       RETURNING id`,
      [archive, archive.length, hex(archive)],
    );
    const file = join(mkdtempSync(join(tmpdir(), "tenant-export-")), "globex.jsonl.gz");
    const fetched = await run(
      process.execPath,
      ["app/ops/data-export.ts", "--export", rows[0]!.id, "--out", file],
      {
        env: { ...process.env, OPS_DATABASE_URL: app.db.urls.ops },
      },
    );
    expect(fetched.stdout).toContain(`wrote ${archive.length} bytes of tenant globex-freight's export`);
    expect(readFileSync(file).equals(archive)).toBe(true);
    // The runner may no longer write one.
    const runnerDb = createPool(app.db.urls.runner, 1);
    try {
      await expect(
        runnerDb.query(
          "INSERT INTO data_exports (tenant_id, task_id, tenant_slug, reason, archive, bytes, sha256, row_counts) VALUES (gen_random_uuid(), gen_random_uuid(), 'x', 'x', 'x', 1, $1, '{}')",
          [hex(archive)],
        ),
      ).rejects.toThrow(/permission denied/);
    } finally {
      await runnerDb.end();
    }
  });
});
