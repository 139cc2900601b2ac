// Directory compliance against the API and a real PostgreSQL: documents with issue and expiry dates
// (expiry before issue refused, naming the field), the freshness score in search and on the
// scorecard, invite -> onboard once the documents are on file, and the daily job's reminders to the
// carrier (30, 7, 1 days, once each) and notices to the tenants when a carrier lapses.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../../tools/platform/api-client.ts";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { createPool } from "../db/pool.ts";
import { renderCarrierReminder } from "../runner/carrier-compliance-reminder.ts";
import { renderTenantNotice } from "../runner/tenant-notice.ts";
import { describeRun, parseCarrierComplianceConfig } from "./carrier-compliance-job.ts";
import { runComplianceReminders } from "./carrier-compliance.ts";

const DAY = 86_400_000;
let t: TestApp;
let superuser: pg.Pool;
let operator: pg.Pool;
let carriers: { id: string; name: string }[];

beforeAll(async () => {
  t = await startTestApp();
  superuser = new pg.Pool({
    connectionString: t.db.urls.superuser.replace(/\/postgres$/, "/freight"),
    max: 2,
  });
  superuser.on("error", () => undefined);
  operator = createPool(t.db.urls.operator, 2);
  carriers = (
    await superuser.query<{ id: string; name: string }>("SELECT id, name FROM carriers ORDER BY mc_number")
  ).rows;
}, 120_000);
afterAll(async () => {
  await superuser?.end();
  await operator?.end();
  await t?.stop();
});

const inDays = (days: number, from = new Date()) =>
  new Date(from.getTime() + days * DAY).toISOString().slice(0, 10);

async function client() {
  const tenant = await provisionTestTenant(t.db, "pro");
  return { tenantId: tenant.tenantId, api: apiClient(t.url, tenant.apiKey) };
}

describe("carrier compliance documents", () => {
  it("scores freshness in search and on the scorecard, and onboards the invite once the documents are on file", async () => {
    const { api } = await client();
    const carrier = carriers[3]!;
    const invite = await api.post<Record<string, any>>("/v1/directory/invites", {
      carrierId: carrier.id,
      email: "dispatch@carrier.example",
    });
    const accepted = await api.post<Record<string, any>>(`/v1/directory/invites/${invite.body.id}/accept`);
    expect(accepted.body.onboardedAt).toBeUndefined();

    const before = await api.get<Record<string, any>>(`/v1/directory/carriers/${carrier.id}/scorecard`);
    expect(before.body.compliance).toMatchObject({ freshness: 0, status: "non_compliant" });
    expect(before.body.compliance.missing).toEqual(["insurance_certificate", "operating_authority", "w9"]);

    const documents = [
      { kind: "insurance_certificate", issuedOn: inDays(-345), expiresOn: inDays(15) },
      { kind: "operating_authority", issuedOn: inDays(-30), expiresOn: inDays(700) },
      { kind: "w9", issuedOn: inDays(-10), expiresOn: inDays(1000) },
    ];
    for (const document of documents) {
      const recorded = await api.post<Record<string, any>>(
        `/v1/directory/carriers/${carrier.id}/compliance-documents`,
        { ...document, contactEmail: "compliance@carrier.example" },
      );
      expect(recorded.status, JSON.stringify(recorded.body)).toBe(201);
    }
    const scorecard = await api.get<Record<string, any>>(`/v1/directory/carriers/${carrier.id}/scorecard`);
    // round(100 * (15/30 + 1 + 1) / 3) = 83
    expect(scorecard.body.compliance).toMatchObject({ freshness: 83, status: "expiring", missing: [] });
    expect(
      scorecard.body.compliance.documents.find((d: any) => d.kind === "insurance_certificate"),
    ).toMatchObject({
      daysLeft: 15,
      state: "expiring",
    });
    expect(scorecard.body.invite.onboardedAt).not.toBeNull();

    const search = await api.get<Record<string, any>>(
      `/v1/directory/carriers?q=${encodeURIComponent(carrier.name)}`,
    );
    expect(search.body.carriers.find((c: any) => c.id === carrier.id).compliance).toEqual({
      freshness: 83,
      status: "expiring",
    });
  });

  it("refuses an expiry before the issue date and a carrier the tenant never invited, recording nothing", async () => {
    const { api } = await client();
    const carrier = carriers[4]!;
    await api.post("/v1/directory/invites", { carrierId: carrier.id, email: "d@carrier.example" });
    const swapped = await api.post<Record<string, any>>(
      `/v1/directory/carriers/${carrier.id}/compliance-documents`,
      {
        kind: "w9",
        issuedOn: inDays(10),
        expiresOn: inDays(-10),
        contactEmail: "c@carrier.example",
      },
    );
    expect(swapped.status).toBe(422);
    expect(swapped.body.errors).toEqual(
      expect.arrayContaining([expect.objectContaining({ message: expect.stringMatching(/after issuedOn/) })]),
    );
    expect(JSON.stringify(swapped.body.errors)).toMatch(/expiresOn/);
    const unknownKind = await api.post<Record<string, any>>(
      `/v1/directory/carriers/${carrier.id}/compliance-documents`,
      {
        kind: "passport",
        issuedOn: inDays(-1),
        expiresOn: inDays(10),
        contactEmail: "c@carrier.example",
      },
    );
    expect(unknownKind.status).toBe(422);
    expect(JSON.stringify(unknownKind.body.errors)).toMatch(/insurance_certificate/);

    const stranger = await api.post<Record<string, any>>(
      `/v1/directory/carriers/${carriers[5]!.id}/compliance-documents`,
      {
        kind: "w9",
        issuedOn: inDays(-1),
        expiresOn: inDays(300),
        contactEmail: "c@carrier.example",
      },
    );
    expect(stranger.status).toBe(409);
    expect(stranger.body.detail).toMatch(/invite it first/);
    const { rows } = await superuser.query(
      "SELECT 1 FROM carrier_compliance_documents WHERE carrier_id = ANY($1)",
      [[carrier.id, carriers[5]!.id]],
    );
    expect(rows).toEqual([]);
  });
});

describe("the compliance job", () => {
  it("reminds the carrier at 30, 7 and 1 days once each, tells onboarded tenants of a lapse once, and onboards", async () => {
    const a = await client();
    const b = await client();
    const carrier = carriers[10]!;
    for (const { api } of [a, b]) {
      const invite = await api.post<Record<string, any>>("/v1/directory/invites", {
        carrierId: carrier.id,
        email: "dispatch@ten.example",
      });
      await api.post(`/v1/directory/invites/${invite.body.id}/accept`);
    }
    // Documents recorded by tenant A; B accepted before they existed, so only the job onboards B.
    const now = new Date();
    for (const [kind, expires] of [
      ["insurance_certificate", 40],
      ["operating_authority", 500],
      ["w9", 900],
    ] as const)
      await superuser.query(
        `INSERT INTO carrier_compliance_documents (carrier_id, kind, issued_on, expires_on, contact_email)
         VALUES ($1, $2, $3, $4, 'compliance@ten.example')`,
        [carrier.id, kind, inDays(-300, now), inDays(expires, now)],
      );
    const ours = (run: Awaited<ReturnType<typeof runComplianceReminders>>) =>
      run.carrierReminders.filter((r) => r.carrier === carrier.name).map((r) => r.daysBefore);

    const first = await runComplianceReminders(operator, now);
    expect(ours(first)).toEqual([]);
    expect(first.onboarded).toBeGreaterThanOrEqual(2);

    const at = (days: number) => new Date(now.getTime() + days * DAY);
    expect(ours(await runComplianceReminders(operator, at(10)))).toEqual([30]);
    expect(ours(await runComplianceReminders(operator, at(11)))).toEqual([]);
    expect(ours(await runComplianceReminders(operator, at(33)))).toEqual([7]);
    // A missed week: only the most urgent threshold is sent.
    const late = await runComplianceReminders(operator, at(39));
    expect(ours(late)).toEqual([1]);
    expect(describeRun(late).at(-1)).toMatch(/carrier reminder\(s\)/);
    const { rows: reminders } = await superuser.query<{ payload: Record<string, unknown> }>(
      "SELECT payload FROM agent_tasks WHERE kind = 'carrier_compliance_reminder' AND payload->>'carrierId' = $1",
      [carrier.id],
    );
    expect(reminders.map((r) => r.payload["daysBefore"]).sort()).toEqual([1, 30, 7]);
    const mail = renderCarrierReminder(reminders.find((r) => r.payload["daysBefore"] === 1)!.payload);
    expect(mail.to).toBe("compliance@ten.example");
    expect(mail.rendered.subject).toBe("Your insurance certificate expires tomorrow");

    const lapsed = await runComplianceReminders(operator, at(41));
    expect(
      lapsed.tenantNotices
        .filter((n) => n.carrier === carrier.name)
        .map((n) => n.tenantId)
        .sort(),
    ).toEqual([a.tenantId, b.tenantId].sort());
    const again = await runComplianceReminders(operator, at(42));
    expect(again.tenantNotices.filter((n) => n.carrier === carrier.name)).toEqual([]);
    const { rows: notices } = await superuser.query<{ payload: Record<string, unknown> }>(
      "SELECT payload FROM agent_tasks WHERE tenant_id = $1 AND payload->>'notice' = 'carrier_non_compliant'",
      [b.tenantId],
    );
    expect(notices).toHaveLength(1);
    const email = renderTenantNotice(notices[0]!.payload, {
      tenantName: "B",
      tenantSlug: "b",
      graceEndsAt: null,
    });
    expect(email.subject).toBe(`${carrier.name} is no longer compliant`);
    expect(email.text).toContain("insurance_certificate");
  });

  it("reads the job's database login from its environment, naming a missing one", () => {
    expect(() => parseCarrierComplianceConfig({})).toThrow(/OPERATOR_DATABASE_URL/);
  });
});
