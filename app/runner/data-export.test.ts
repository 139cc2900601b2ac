// An offboarded tenant's data export: the tenant controller's offboarding queues the task, a real runner
// reads every tenant table in the tenant's context into one archive in data_exports, and ops is told
// it is ready. Checked against what the read-only ops role sees in the same database.
import { execFile } from "node:child_process";
import { mkdtemp, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Tenant } from "../../operators/api/tenant.ts";
import { offboardTenant } from "../../operators/controllers/tenant/store.ts";
import { createPool } from "../db/pool.ts";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { OpsWebhook } from "../../tools/platform/receivers.ts";
import { readArchive } from "./data-export.ts";
import { startTestRunner, until } from "../../tools/platform/runner.ts";

const run = promisify(execFile);

let app: TestApp;
let operator: pg.Pool;
let ops: pg.Pool;
const webhook = new OpsWebhook();

beforeAll(async () => {
  app = await startTestApp({ seed: "demo" });
  operator = createPool(app.db.urls.operator, 2);
  ops = createPool(app.db.urls.ops, 2);
  await webhook.start();
});
afterAll(async () => {
  await webhook.stop();
  await operator?.end();
  await ops?.end();
  await app?.stop();
});

const deletedTenant = (slug: string, uid: string) =>
  ({
    apiVersion: "platform.freight.example/v1",
    kind: "Tenant",
    metadata: { name: slug, namespace: "tenants", uid },
    spec: { plan: "starter" },
  }) as unknown as Tenant;

describe("data export of an offboarded tenant", () => {
  it("archives every row of every tenant table the tenant owns and nothing of others, once, and tells ops", async () => {
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

    // Ops' receiver is down at first: the task retries and reuses the archive it stored.
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

    const { rows: exports } = await ops.query<{
      id: string;
      tenant_id: string;
      archive: Buffer;
      bytes: number;
      sha256: string;
      row_counts: Record<string, number>;
    }>("SELECT id, tenant_id, archive, bytes, sha256, row_counts FROM data_exports WHERE task_id = $1", [
      taskId,
    ]);
    expect(exports).toHaveLength(1);
    const stored = exports[0]!;
    expect(stored.tenant_id).toBe(acmeId);
    expect(stored.bytes).toBe(stored.archive.length);
    const { header, rows } = readArchive(stored.archive);

    // Every tenant table, as the RLS probe defines them, is in the archive, but for the export-link
    // hashes of data subject requests (credentials, not the tenant's data).
    const { rows: catalog } = await ops.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname NOT IN ('data_exports', 'dsr_export_links')
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)`,
    );
    expect(header.tables.slice().sort()).toEqual(["tenants", ...catalog.map((c) => c.name)].sort());
    expect(header).toMatchObject({ tenantId: acmeId, omittedColumns: { api_keys: ["key_hash"] } });

    // Row for row what ops sees of that tenant; the offboarding left them all in place.
    for (const table of header.tables) {
      const column = table === "tenants" ? "id" : "tenant_id";
      const { rows: count } = await ops.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM ${table} WHERE ${column} = $1`,
        [acmeId],
      );
      expect({ table, rows: rows[table]?.length ?? 0 }).toEqual({ table, rows: count[0]!.n });
      expect(stored.row_counts[table]).toBe(count[0]!.n);
    }
    expect(rows.quotes).toHaveLength(3);
    expect(rows.tenants).toEqual([expect.objectContaining({ slug: "acme-logistics" })]);
    for (const row of Object.values(rows).flat() as Array<Record<string, unknown>>)
      if ("tenant_id" in row) expect(row.tenant_id).toBe(acmeId);
    expect(rows.api_keys!.length).toBeGreaterThan(0);
    for (const key of rows.api_keys as Array<Record<string, unknown>>)
      expect(key).not.toHaveProperty("key_hash");

    const ready = webhook.events("data_export_ready");
    expect(ready).toHaveLength(2); // refused once, then accepted: the same event both times
    expect(ready[1]).toMatchObject({
      taskId,
      tenantSlug: "acme-logistics",
      exportId: stored.id,
      bytes: stored.bytes,
      sha256: stored.sha256,
      severity: "ticket",
    });
    expect(String(ready[1]!.summary)).toContain(`--export ${stored.id}`);

    // What ops does next: fetch the archive with the command the event names.
    const file = join(await mkdtemp(join(tmpdir(), "tenant-export-")), "acme.jsonl.gz");
    const env = { ...process.env, OPS_DATABASE_URL: app.db.urls.ops };
    const fetched = await run(
      process.execPath,
      ["app/ops/data-export.ts", "--export", stored.id, "--out", file],
      {
        env,
      },
    );
    expect(fetched.stdout).toContain(`wrote ${stored.bytes} bytes of tenant acme-logistics's export`);
    expect(readArchive(await readFile(file))).toEqual({ header, rows });
    const usage = await run(process.execPath, ["app/ops/data-export.ts", "--export", "latest"], {
      env,
    }).catch((error: { code: number; stderr: string }) => error);
    expect(usage).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("--export must be an export id"),
    });
  });
});
