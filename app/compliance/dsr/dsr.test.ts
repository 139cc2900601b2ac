// Data subject requests end to end: the tenant files them over the API, a real runner fulfils them
// (documents from two S3 gateways standing for the regions' buckets), the bundle comes back through
// the signed, expiring link, and erasure leaves nothing the plan lists, tombstones the subject and
// keeps what must be kept. Checked against what the read-only ops role sees in the same database.
import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPool, withTenant } from "../../db/pool.ts";
import { startTestApp, type TestApp } from "../../../tools/platform/app.ts";
import { apiClient, quoteBody } from "../../../tools/platform/api-client.ts";
import { startTestRunner, until } from "../../../tools/platform/runner.ts";
import type { RunningRunner } from "../../runner/main.ts";
import { startS3Server, type S3Server } from "../../../tools/s3/versitygw.ts";
import { subjectHash } from "./subject.ts";
import { deletedTables, maskedColumns } from "./plan.ts";

const PRIMARY_BUCKET = "freight-test-documents-us-east-1";
const SECONDARY_BUCKET = "freight-test-documents-us-west-2";
let primary: S3Server;
let secondary: S3Server;
let t: TestApp;
let runner: RunningRunner;
let app: pg.Pool;
let ops: pg.Pool;
let acme: ReturnType<typeof apiClient>;
let globex: ReturnType<typeof apiClient>;
let acmeId: string;
let globexId: string;

beforeAll(async () => {
  const credentials = { accessKeyId: "AKDSRTEST", secretAccessKey: randomBytes(20).toString("hex") };
  [primary, secondary] = await Promise.all([
    startS3Server({ region: "us-east-1", ...credentials }),
    startS3Server({ region: "us-west-2", ...credentials }),
  ]);
  await primary.createBuckets(PRIMARY_BUCKET);
  await secondary.createBuckets(SECONDARY_BUCKET);
  process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
  const documentsEnv = {
    DOCUMENTS_BUCKET_PRIMARY: `${PRIMARY_BUCKET}@us-east-1`,
    DOCUMENTS_BUCKET_SECONDARY: `${SECONDARY_BUCKET}@us-west-2`,
    DOCUMENTS_S3_ENDPOINT_PRIMARY: primary.endpoint,
    DOCUMENTS_S3_ENDPOINT_SECONDARY: secondary.endpoint,
  };
  t = await startTestApp({ env: { ...documentsEnv, DSR_EXPORT_LINK_TTL_SECONDS: "2" } });
  runner = await startTestRunner(t.db.urls.runner, documentsEnv);
  app = createPool(t.db.urls.app, 2);
  ops = createPool(t.db.urls.ops, 2);
  acme = apiClient(t.url, t.apiKeys["acme-logistics"]);
  globex = apiClient(t.url, t.apiKeys["globex-freight"]);
  const ids = await ops.query<{ id: string; slug: string }>("SELECT id, slug FROM tenants");
  acmeId = ids.rows.find((r) => r.slug === "acme-logistics")!.id;
  globexId = ids.rows.find((r) => r.slug === "globex-freight")!.id;
}, 240_000);
afterAll(async () => {
  await runner?.stop();
  await app?.end();
  await ops?.end();
  await t?.stop();
  await primary?.destroy();
  await secondary?.destroy();
});

/** An end user of a tenant as the tables know them: carrier invites sent to them, their sign-ins. */
async function seedPerson(tenantId: string, email: string, ssoSubject: string): Promise<void> {
  await withTenant(app, tenantId, async (db) => {
    // A carrier is invited once per tenant: two this tenant has not invited yet.
    const carriers = await db.query<{ id: string }>(
      "SELECT id FROM carriers WHERE id NOT IN (SELECT carrier_id FROM carrier_invites) ORDER BY mc_number LIMIT 2",
    );
    for (const carrier of carriers.rows)
      await db.query(
        "INSERT INTO carrier_invites (tenant_id, carrier_id, email) VALUES (current_tenant_id(), $1, $2)",
        [carrier.id, email],
      );
    await db.query(
      `INSERT INTO sso_sessions (tenant_id, token_hash, subject, email, expires_at)
       VALUES (current_tenant_id(), $1, $2, $3, now() + interval '1 hour')`,
      [randomBytes(32), ssoSubject, email.toUpperCase()],
    );
  });
}

type Request = Record<string, any>;

/** Waits for the runner to complete request `id`; a failed fulfilment fails the test with its error. */
async function fulfilled(client: ReturnType<typeof apiClient>, id: string): Promise<Request> {
  await until(
    `request ${id}'s dsr_fulfil task to finish`,
    async () =>
      (
        await ops.query(
          "SELECT status, last_error FROM agent_tasks WHERE kind = 'dsr_fulfil' AND payload->>'requestId' = $1",
          [id],
        )
      ).rows[0],
    (task) => task?.status === "success" || task?.status === "failed",
  ).then((task) => expect(task.last_error).toBeNull());
  return (await client.get<Request>(`/v1/data-requests/${id}`)).body;
}

function untar(archive: Buffer): Map<string, Buffer> {
  const dir = mkdtempSync(join(tmpdir(), "dsr-bundle-"));
  execFileSync("tar", ["-xzf", "-", "-C", dir], { input: archive });
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

describe("data subject requests", () => {
  it("hashes a subject in TypeScript as the database's tombstone check does", async () => {
    const { rows } = await ops.query<{ h: string }>("SELECT dsr_subject_hash($1, $2) AS h", [
      acmeId,
      "email:dana@example.com",
    ]);
    expect(rows[0]!.h).toBe(subjectHash(acmeId, "email:dana@example.com"));
  });

  it("grants the runner exactly the erasure plan's writes", async () => {
    // has_*_privilege, not information_schema: that only lists grants the asking role is part of.
    const { rows } = await ops.query<{ table_name: string; column_name: string }>(
      `SELECT c.relname AS table_name, a.attname AS column_name
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
        WHERE c.relkind = 'r' AND c.relname IN ('carrier_invites', 'sso_sessions', 'signups', 'billing_accounts',
                'limit_increase_requests', 'documents', 'tenants', 'invoices', 'discount_approvals', 'quotes')
          AND has_column_privilege('freight_runner', c.oid, a.attnum, 'UPDATE')`,
    );
    const granted: Record<string, string[]> = {};
    for (const r of rows) (granted[r.table_name] ??= []).push(r.column_name);
    for (const columns of Object.values(granted)) columns.sort();
    expect(granted).toEqual(maskedColumns());
    const deletes = await ops.query<{ table_name: string }>(
      `SELECT c.relname AS table_name FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
        WHERE c.relkind = 'r' AND has_table_privilege('freight_runner', c.oid, 'DELETE')
          AND c.relname <> 'runner_heartbeats'`,
    );
    expect(deletes.rows.map((r) => r.table_name).sort()).toEqual(deletedTables().sort());
  });

  it("exports an end user's data through a signed link that expires and that no other tenant can use", async () => {
    await seedPerson(acmeId, "dana@shipper.example", "idp|dana");
    await seedPerson(acmeId, "omar@shipper.example", "idp|omar");

    const filed = await acme.post<Request>("/v1/data-requests", {
      kind: "access",
      subject: { email: "Dana@Shipper.example" },
    });
    expect(filed.status).toBe(201);
    expect(filed.body.status).toBe("received");
    expect(Date.parse(filed.body.dueAt) - Date.parse(filed.body.receivedAt)).toBe(7 * 86_400_000);
    // Unverified: the runner is never asked, the status says so.
    const waiting = await acme.get<Request>(`/v1/data-requests/${filed.body.id}`);
    expect(waiting.body.export).toBeNull();
    expect(waiting.body.status).toBe("received");

    const verified = await acme.post<Request>(`/v1/data-requests/${filed.body.id}/verification`, {
      verifiedBy: "support@acme",
      method: "signed-in session",
    });
    expect(verified.status).toBe(200);
    const done = await fulfilled(acme, filed.body.id);
    expect(done.events.map((e: Request) => e.event)).toEqual(
      expect.arrayContaining(["received", "verified", "in_progress", "completed", "link_issued"]),
    );
    expect(done.export.url).toMatch(/^\/v1\/data-requests\/.+\/export\?token=/);

    // Another tenant's key with the link: no such request for them.
    expect((await globex.get(done.export.url)).status).toBe(404);
    const response = await fetch(`${t.url}${done.export.url}`, {
      headers: { authorization: `Bearer ${t.apiKeys["acme-logistics"]}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/gzip");
    const files = untar(Buffer.from(await response.arrayBuffer()));
    const manifest = JSON.parse(files.get("manifest.json")!.toString());
    for (const file of manifest.files) expect(hex(files.get(file.path)!)).toBe(file.sha256);
    const invites = JSON.parse(files.get("tables/carrier_invites.json")!.toString());
    expect(invites).toHaveLength(2);
    expect(invites.every((i: Request) => i.email === "dana@shipper.example")).toBe(true);
    const sessions = JSON.parse(files.get("tables/sso_sessions.json")!.toString());
    // Linked by address (stored upper-case), found by the id too; never the session's token hash.
    expect(sessions.map((s: Request) => s.subject)).toEqual(["idp|dana"]);
    expect(sessions[0]).not.toHaveProperty("token_hash");
    expect(JSON.stringify([...files.values()].map(String))).not.toContain("omar");

    // Past its expiry the link is refused with the way to a fresh one; the fresh one works.
    const expired = await until(
      "the link to expire",
      () => acme.get<Request>(done.export.url),
      (r) => r.status !== 200,
      10_000,
    );
    expect(expired.status).toBe(410);
    expect(expired.body.detail).toContain(`GET /v1/data-requests/${filed.body.id}`);
    const fresh = await acme.get<Request>(`/v1/data-requests/${filed.body.id}`);
    expect((await acme.get(fresh.body.export.url)).status).toBe(200);
  });

  it("refuses a subject the tenant holds nothing about, such as another tenant's", async () => {
    await seedPerson(globexId, "lee@globex-customer.example", "idp|lee");
    const refused = await acme.post<Request>("/v1/data-requests", {
      kind: "erasure",
      subject: { email: "lee@globex-customer.example" },
    });
    expect(refused.status).toBe(422);
    expect(refused.body.type).toMatch(/data-subject-unknown$/);
    const bad = await acme.post<Request>("/v1/data-requests", {
      kind: "erasure",
      subject: { email: "not-an-address" },
    });
    expect(bad.status).toBe(422);
    expect(JSON.stringify(bad.body.errors)).toContain("is not an email address");
    const { rows } = await ops.query("SELECT 1 FROM dsr_requests WHERE tenant_id = $1", [globexId]);
    expect(rows).toHaveLength(0);
  });

  it("erases an end user by the plan, tombstones them, refuses a second erasure and keeps the audit log", async () => {
    await seedPerson(acmeId, "kim@shipper.example", "idp|kim");
    const auditBefore = await ops.query("SELECT * FROM discount_approvals ORDER BY id");
    const filed = await acme.post<Request>("/v1/data-requests", {
      kind: "erasure",
      subject: { id: "idp|kim" },
    });
    expect(filed.status).toBe(201);
    await acme.post(`/v1/data-requests/${filed.body.id}/verification`, {
      verifiedBy: "support",
      method: "email link",
    });
    const done = await fulfilled(acme, filed.body.id);
    // Found by the sign-in id, erased by the address the sessions linked it to as well.
    expect(done.outcome.rows).toMatchObject({ carrier_invites: 2, sso_sessions: 1 });
    expect(Object.values(done.outcome.scan)).toEqual(Object.values(done.outcome.scan).map(() => 0));

    const left = await ops.query(
      `SELECT (SELECT count(*) FROM carrier_invites WHERE lower(email) = 'kim@shipper.example')::int AS invites,
              (SELECT count(*) FROM sso_sessions WHERE subject = 'idp|kim' OR lower(email) = 'kim@shipper.example')::int AS sessions,
              (SELECT count(*) FROM carrier_invites WHERE lower(email) = 'dana@shipper.example')::int AS others`,
    );
    expect(left.rows[0]).toEqual({ invites: 0, sessions: 0, others: 2 });
    const request = await ops.query("SELECT subject_ref FROM dsr_requests WHERE id = $1", [filed.body.id]);
    expect(request.rows[0].subject_ref).toBeNull();
    expect((await ops.query("SELECT * FROM discount_approvals ORDER BY id")).rows).toEqual(auditBefore.rows);

    // A re-import of the address is refused by the database, with the reason.
    await expect(seedPerson(acmeId, "KIM@shipper.example", "idp|kim-new")).rejects.toThrow(
      /this person's data was erased on .* \(data subject request/,
    );
    const again = await acme.post<Request>("/v1/data-requests", {
      kind: "erasure",
      subject: { id: "idp|kim" },
    });
    expect(again.status).toBe(409);
    expect(again.body.detail).toContain(`request ${filed.body.id}`);

    // The history cannot be rewritten, not even by the schema owner.
    const owner = createPool(t.db.urls.owner, 1);
    try {
      await expect(owner.query("DELETE FROM dsr_events")).rejects.toThrow(/append-only/);
      await expect(app.query("UPDATE dsr_events SET actor = 'x'")).rejects.toThrow(/permission denied/);
    } finally {
      await owner.end();
    }
  });

  it("answers an API re-import of an erased person with a 409 problem, creating and counting nothing", async () => {
    // Globex's plan includes carrier invites: the route that records an end user's address.
    await seedPerson(globexId, "lee@consignee.example", "idp|lee");
    const filed = await globex.post<Request>("/v1/data-requests", {
      kind: "erasure",
      subject: { email: "lee@consignee.example" },
    });
    await globex.post(`/v1/data-requests/${filed.body.id}/verification`, {
      verifiedBy: "support",
      method: "email link",
    });
    await fulfilled(globex, filed.body.id);

    const invitesUsed = async () =>
      (await globex.get<Request>("/v1/usage")).body.meters.find(
        (m: Request) => m.meter === "directory_invites",
      ).used as number;
    const usedBefore = await invitesUsed();
    const uninvited = await ops.query<{ id: string }>(
      "SELECT id FROM carriers WHERE id NOT IN (SELECT carrier_id FROM carrier_invites WHERE tenant_id = $1) LIMIT 1",
      [globexId],
    );
    const carrierId = uninvited.rows[0]!.id;
    const invite = await globex.post<Request>(
      "/v1/directory/invites",
      { carrierId, email: "Lee@Consignee.example" },
      { "idempotency-key": `reimport-${filed.body.id}` },
    );
    expect(invite.status).toBe(409);
    expect(invite.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(invite.body.type).toMatch(/\/subject-erased-not-reimported$/);
    expect(invite.body.dataRequestId).toBe(filed.body.id);
    expect(invite.body.erasedOn).toBe(new Date().toISOString().slice(0, 10));
    expect(invite.body.detail).toContain("nothing was created or counted");
    const created = await ops.query(
      "SELECT 1 FROM carrier_invites WHERE carrier_id = $1 AND tenant_id = $2",
      [carrierId, globexId],
    );
    expect(created.rows).toHaveLength(0);
    expect(await invitesUsed()).toBe(usedBefore);
    // The same key with another address is a new attempt, not a replay of the refusal: nothing was stored.
    const other = await globex.post<Request>(
      "/v1/directory/invites",
      { carrierId, email: "dispatch@consignee.example" },
      { "idempotency-key": `reimport-${filed.body.id}` },
    );
    expect(other.status).toBe(201);
  });

  it("exports a whole tenant with its documents, then erases it keeping invoices' amounts", async () => {
    const quote = await acme.post<{ id: string }>("/v1/quotes", quoteBody());
    const booked = await acme.post<{ bookingId: string }>(`/v1/quotes/${quote.body.id}/book`);
    const uploaded: { id: string; bytes: Buffer; kind: string }[] = [];
    for (const [kind, name] of [
      ["proof_of_delivery", "pod 4471 (signed).pdf"],
      ["invoice", "invoice-9.pdf"],
    ] as const) {
      const bytes = randomBytes(50_000);
      const attached = await acme.post<Request>(`/v1/bookings/${booked.body.bookingId}/documents`, {
        kind,
        fileName: name,
        contentType: "application/pdf",
        sizeBytes: bytes.length,
        sha256: createHash("sha256").update(bytes).digest("base64"),
      });
      const { "content-length": _length, ...signed } = attached.body.upload.headers;
      expect(
        (await fetch(attached.body.upload.url, { method: "PUT", headers: signed, body: bytes })).status,
      ).toBe(200);
      expect((await acme.post(`/v1/documents/${attached.body.id}/confirm`)).status).toBe(200);
      uploaded.push({ id: attached.body.id, bytes, kind });
    }

    const access = await acme.post<Request>("/v1/data-requests", { kind: "access", scope: "tenant" });
    await acme.post(`/v1/data-requests/${access.body.id}/verification`, {
      verifiedBy: "cfo",
      method: "contract signatory",
    });
    const exported = await fulfilled(acme, access.body.id);
    const archive = Buffer.from(
      await (
        await fetch(`${t.url}${exported.export.url}`, {
          headers: { authorization: `Bearer ${t.apiKeys["acme-logistics"]}` },
        })
      ).arrayBuffer(),
    );
    const files = untar(archive);
    const manifest = JSON.parse(files.get("manifest.json")!.toString());
    for (const doc of uploaded) {
      const entry = manifest.files.find((f: Request) => f.documentId === doc.id);
      expect(entry.sha256).toBe(hex(doc.bytes));
      expect(files.get(entry.path)!.equals(doc.bytes)).toBe(true);
    }
    const quotes = JSON.parse(files.get("tables/quotes.json")!.toString());
    const { rows: counted } = await ops.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM quotes WHERE tenant_id = $1",
      [acmeId],
    );
    expect(quotes).toHaveLength(counted[0]!.n);
    expect(manifest.files.some((f: Request) => f.path === "tables/dsr_bundles.json")).toBe(false);

    const erasure = await acme.post<Request>("/v1/data-requests", { kind: "erasure", scope: "tenant" });
    await acme.post(`/v1/data-requests/${erasure.body.id}/verification`, {
      verifiedBy: "cfo",
      method: "contract signatory",
    });
    const erased = await fulfilled(acme, erasure.body.id);
    expect(erased.outcome.documentFilesRemoved).toBe(1);
    const { rows: tenant } = await ops.query("SELECT name FROM tenants WHERE id = $1", [acmeId]);
    expect(tenant[0].name).toBe("[erased]");
    const { rows: docs } = await ops.query(
      "SELECT kind, file_name, state FROM documents WHERE tenant_id = $1 ORDER BY kind",
      [acmeId],
    );
    expect(docs).toEqual([
      { kind: "invoice", file_name: "[erased]", state: "available" },
      { kind: "proof_of_delivery", file_name: "[erased]", state: "deleted" },
    ]);
    const { rows: invites } = await ops.query(
      "SELECT count(*)::int AS n FROM carrier_invites WHERE tenant_id = $1",
      [acmeId],
    );
    expect(invites[0].n).toBe(0);
    // The quote's amounts stay: they hold no personal field.
    const { rows: kept } = await ops.query("SELECT total_cents FROM quotes WHERE id = $1", [quote.body.id]);
    expect(kept).toHaveLength(1);
    // The erased file is gone from both buckets; the invoice stays for its retention.
    const stored = async (id: string) => {
      const row = (await ops.query("SELECT object_key, version_id FROM documents WHERE id = $1", [id]))
        .rows[0];
      return primary
        .client()
        .send(
          new HeadObjectCommand({ Bucket: PRIMARY_BUCKET, Key: row.object_key, VersionId: row.version_id }),
        )
        .then(
          () => true,
          () => false,
        );
    };
    expect(await stored(uploaded[0]!.id)).toBe(false);
    expect(await stored(uploaded[1]!.id)).toBe(true);
    // Globex untouched.
    const { rows: globexName } = await ops.query("SELECT name FROM tenants WHERE id = $1", [globexId]);
    expect(globexName[0].name).not.toBe("[erased]");
    expect(gunzipSync(archive).length).toBeGreaterThan(0);
  });
});
