// The NPS loop against the API and a real PostgreSQL: who is invited at trial day 21 and paid day 90
// (once per milestone, whoever runs the job how often), the invitation email and the detractor's
// save playbook as the runner renders them, and every bad answer: out of range, another tenant's
// survey, a second answer, an expired survey. None of them counts a score twice.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { apiClient } from "../../tools/platform/api-client.ts";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { createPool } from "../db/pool.ts";
import { renderTenantNotice } from "../runner/tenant-notice.ts";
import { savePlaybookEvent, SAVE_PLAYBOOK_QUEUE } from "../runner/save-playbook.ts";
import { parseNpsInvitationsConfig } from "./nps-invitations.ts";
import { CATCH_UP_DAYS, inviteNpsSurveys, netPromoterScore } from "./nps.ts";

const DAY = 86_400_000;
let t: TestApp;
let superuser: pg.Pool;
let operator: pg.Pool;

beforeAll(async () => {
  t = await startTestApp({ seed: "plans" });
  superuser = new pg.Pool({
    connectionString: t.db.urls.superuser.replace(/\/postgres$/, "/freight"),
    max: 2,
  });
  superuser.on("error", () => undefined);
  operator = createPool(t.db.urls.operator, 2);
}, 120_000);
afterAll(async () => {
  await superuser?.end();
  await operator?.end();
  await t?.stop();
});

async function tenant(
  slug: string,
  options: {
    createdDaysAgo: number;
    trial: boolean;
    status: string;
    convertedDaysAgo?: number;
    disabled?: boolean;
  },
  now: Date,
): Promise<string> {
  const created = new Date(now.getTime() - options.createdDaysAgo * DAY);
  const { rows } = await superuser.query<{ id: string }>(
    `INSERT INTO tenants (slug, name, plan_id, billing_status, created_at, trial_ends_at, disabled_at)
     VALUES ($1, $1, 'starter', $2, $3, $4, $5) RETURNING id`,
    [
      slug,
      options.status,
      created,
      options.trial ? new Date(created.getTime() + 14 * DAY) : null,
      options.disabled ? now : null,
    ],
  );
  const id = rows[0]!.id;
  if (options.convertedDaysAgo !== undefined)
    await superuser.query(
      "INSERT INTO trial_conversions (tenant_id, trial_ends_at, plan_id, converted_at) VALUES ($1, $2, 'starter', $3)",
      [id, new Date(created.getTime() + 14 * DAY), new Date(now.getTime() - options.convertedDaysAgo * DAY)],
    );
  return id;
}

/** A survey for `tenantId` opened `openedDaysAgo` days ago, open for 30 days. */
async function survey(tenantId: string, openedDaysAgo = 1, milestone = "trial_day_21"): Promise<string> {
  const invited = new Date(Date.now() - openedDaysAgo * DAY);
  const { rows } = await superuser.query<{ id: string }>(
    `INSERT INTO nps_surveys (tenant_id, milestone, cohort, reached_at, invited_at, expires_at)
     VALUES ($1, $4, date_trunc('month', now())::date, $2, $2, $3) RETURNING id`,
    [tenantId, invited, new Date(invited.getTime() + 30 * DAY), milestone],
  );
  return rows[0]!.id;
}

describe("NPS invitations", () => {
  it("invites trial day 21 and paid day 90 once per tenant per milestone, and queues each email", async () => {
    const now = new Date(Date.now() + 400 * DAY); // clear of every other test's tenants
    const ids = {
      trial21: await tenant("nps-trial-21", { createdDaysAgo: 21.5, trial: true, status: "trialing" }, now),
      trialConverted: await tenant(
        "nps-trial-converted",
        { createdDaysAgo: 22, trial: true, status: "active", convertedDaysAgo: 8 },
        now,
      ),
      trialTooEarly: await tenant(
        "nps-trial-20",
        { createdDaysAgo: 20, trial: true, status: "trialing" },
        now,
      ),
      trialLongAgo: await tenant(
        "nps-trial-long-ago",
        { createdDaysAgo: 21 + CATCH_UP_DAYS + 1, trial: true, status: "canceled" },
        now,
      ),
      paid90: await tenant(
        "nps-paid-90",
        { createdDaysAgo: 110, trial: true, status: "active", convertedDaysAgo: 91 },
        now,
      ),
      paidFromStart: await tenant(
        "nps-paid-direct",
        { createdDaysAgo: 95, trial: false, status: "active" },
        now,
      ),
      paid89: await tenant(
        "nps-paid-89",
        { createdDaysAgo: 110, trial: true, status: "active", convertedDaysAgo: 89 },
        now,
      ),
      paidCanceled: await tenant(
        "nps-paid-canceled",
        { createdDaysAgo: 95, trial: false, status: "canceled" },
        now,
      ),
      disabled: await tenant(
        "nps-disabled",
        { createdDaysAgo: 21.5, trial: true, status: "trialing", disabled: true },
        now,
      ),
    };
    const invited = await inviteNpsSurveys(operator, now);
    expect(invited.map((i) => `${i.slug} ${i.milestone}`)).toEqual([
      "nps-paid-90 paid_day_90",
      "nps-paid-direct paid_day_90",
      "nps-trial-21 trial_day_21",
      "nps-trial-converted trial_day_21",
    ]);
    const { rows: emails } = await superuser.query<{ tenant_id: string; payload: Record<string, unknown> }>(
      "SELECT tenant_id, payload FROM agent_tasks WHERE kind = 'tenant_notice' AND payload->>'notice' = 'nps_survey'",
    );
    expect(emails.map((e) => e.tenant_id).sort()).toEqual(
      [ids.paid90, ids.paidFromStart, ids.trial21, ids.trialConverted].sort(),
    );
    expect(await inviteNpsSurveys(operator, now)).toEqual([]);
    // A day later the 89-day tenant reaches its milestone; nobody else is asked again.
    const later = await inviteNpsSurveys(operator, new Date(now.getTime() + 1.5 * DAY));
    expect(later.map((i) => i.slug)).toEqual(["nps-paid-89", "nps-trial-20"]);
    const { rows: count } = await superuser.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM nps_surveys WHERE tenant_id = ANY($1)",
      [Object.values(ids)],
    );
    expect(count[0]!.n).toBe(6);
  });

  it("emails an invitation that says how to answer and until when", () => {
    const mail = renderTenantNotice(
      {
        notice: "nps_survey",
        surveyId: "7d0c2c8e-55d5-4b43-9a51-4f6b2f3d9a10",
        milestone: "paid_day_90",
        expiresAt: "2027-01-31T10:00:00Z",
      },
      { tenantName: "Acme Freight", tenantSlug: "acme", graceEndsAt: null },
    );
    expect(mail.subject).toMatch(/recommend/);
    expect(mail.text).toContain("POST /v1/nps/surveys/7d0c2c8e-55d5-4b43-9a51-4f6b2f3d9a10/response");
    expect(mail.text).toContain("January 31, 2027");
    expect(() =>
      renderTenantNotice({ notice: "nps_survey" }, { tenantName: "A", tenantSlug: "a", graceEndsAt: null }),
    ).toThrow(/surveyId and expiresAt/);
  });

  it("reads the job's database login from its environment, naming a missing one", () => {
    expect(() => parseNpsInvitationsConfig({})).toThrow(/OPERATOR_DATABASE_URL/);
  });
});

describe("NPS answers", () => {
  it("records a detractor's answer once and opens the save playbook for the account owner", async () => {
    const a = await provisionTestTenant(t.db, "starter");
    await superuser.query("UPDATE tenants SET account_owner = 'dana@freight.example' WHERE id = $1", [
      a.tenantId,
    ]);
    const id = await survey(a.tenantId);
    const api = apiClient(t.url, a.apiKey);
    const listed = await api.get<Record<string, any>>("/v1/nps/surveys");
    expect(listed.body.surveys).toMatchObject([{ id, state: "open", score: null }]);

    const answered = await api.post<Record<string, any>>(`/v1/nps/surveys/${id}/response`, {
      score: 4,
      comment: "Contract rates are hard to find",
    });
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({ state: "answered", score: 4, savePlaybook: true });

    const again = await api.post<Record<string, any>>(`/v1/nps/surveys/${id}/response`, { score: 10 });
    expect(again.status).toBe(409);
    expect(again.body.type).toMatch(/nps-survey-already-answered$/);
    expect(again.body.detail).toContain("with 4");

    const { rows } = await superuser.query<{ score: number; comment: string }>(
      "SELECT score, comment FROM nps_surveys WHERE id = $1",
      [id],
    );
    expect(rows).toEqual([{ score: 4, comment: "Contract rates are hard to find" }]);
    const { rows: tasks } = await superuser.query<{ id: string; payload: Record<string, unknown> }>(
      "SELECT id, payload FROM agent_tasks WHERE tenant_id = $1 AND kind = 'save_playbook'",
      [a.tenantId],
    );
    expect(tasks).toHaveLength(1);
    const event = savePlaybookEvent(
      { id: tasks[0]!.id, tenantId: a.tenantId, payload: tasks[0]!.payload } as never,
      { slug: "acme", name: "Acme", account_owner: "dana@freight.example" },
    );
    expect(event).toMatchObject({ event: "save_playbook", owner: "dana@freight.example", score: 4 });
    expect(event.summary).toContain("Contract rates are hard to find");
    const unowned = savePlaybookEvent(
      { id: tasks[0]!.id, tenantId: a.tenantId, payload: tasks[0]!.payload } as never,
      { slug: "acme", name: "Acme", account_owner: null },
    );
    expect(unowned.owner).toBe(SAVE_PLAYBOOK_QUEUE);
  });

  it("opens no save playbook for a passive or a promoter", async () => {
    const a = await provisionTestTenant(t.db, "starter");
    const api = apiClient(t.url, a.apiKey);
    for (const score of [7, 10]) {
      await superuser.query("DELETE FROM nps_surveys WHERE tenant_id = $1", [a.tenantId]);
      const id = await survey(a.tenantId);
      const answered = await api.post<Record<string, any>>(`/v1/nps/surveys/${id}/response`, { score });
      expect(answered.body.savePlaybook).toBe(false);
    }
    const { rows } = await superuser.query(
      "SELECT 1 FROM agent_tasks WHERE tenant_id = $1 AND kind = 'save_playbook'",
      [a.tenantId],
    );
    expect(rows).toEqual([]);
  });

  it("refuses a score out of range, another tenant's survey and an expired survey, counting nothing", async () => {
    const a = await provisionTestTenant(t.db, "starter");
    const b = await provisionTestTenant(t.db, "starter");
    const id = await survey(a.tenantId);
    const api = apiClient(t.url, a.apiKey);

    for (const score of [11, -1, 7.5, "9"]) {
      const bad = await api.post<Record<string, any>>(`/v1/nps/surveys/${id}/response`, { score });
      expect(bad.status, String(score)).toBe(422);
      expect(JSON.stringify(bad.body.errors)).toMatch(/score.*0.*10/);
    }
    const foreign = await apiClient(t.url, b.apiKey).post<Record<string, any>>(
      `/v1/nps/surveys/${id}/response`,
      {
        score: 0,
      },
    );
    expect(foreign.status).toBe(404);

    const expired = await survey(a.tenantId, 31, "paid_day_90");
    const late = await api.post<Record<string, any>>(`/v1/nps/surveys/${expired}/response`, { score: 2 });
    expect(late.status).toBe(410);
    expect(late.body.detail).toMatch(/closed on/);

    const { rows } = await superuser.query<{ answered: number }>(
      "SELECT count(*) FILTER (WHERE responded_at IS NOT NULL)::int AS answered FROM nps_surveys WHERE tenant_id = $1",
      [a.tenantId],
    );
    expect(rows[0]!.answered).toBe(0);
    const { rows: tasks } = await superuser.query(
      "SELECT 1 FROM agent_tasks WHERE tenant_id = $1 AND kind = 'save_playbook'",
      [a.tenantId],
    );
    expect(tasks).toEqual([]);
  });

  it("counts an NPS from promoters minus detractors", () => {
    expect(netPromoterScore([10, 9, 8, 7, 6, 0])).toBeCloseTo((100 * (2 - 2)) / 6);
    expect(netPromoterScore([10, 10, 3])).toBeCloseTo(100 / 3);
    expect(netPromoterScore([])).toBeNull();
  });
});
