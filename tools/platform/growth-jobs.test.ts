// The growth and support loops on the two-region local platform, run exactly as the stacks deploy
// them: the lead-signals CronJob (freight_operator, the CRM webhook's URL and secret as Secret files)
// finds a tenant crossing the quote threshold and delivers one signal to the CRM webhook (here the
// platform's ops receiver); the quote API's Alertmanager receiver, with the token the stacks mount,
// turns an alert group's notification into a support ticket within 5 s; the nps-invitations CronJob
// (freight_operator) invites a tenant at trial day 21, the runner mails the survey, and a detractor's
// answer through the API reaches the ops receiver as a save playbook; the carrier-compliance CronJob
// reminds a carrier whose insurance expires in 7 days, once, and the runner mails its contact.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateApiKey } from "../../app/http/auth.ts";
import { buildTimeoutMs } from "../localcluster/test-support.ts";
import { apiClient } from "./api-client.ts";
import { waitFor } from "./operators.ts";
import { LOCAL_ALERT_RECEIVER_TOKEN } from "./local-deploy.ts";
import { startPlatform, type LocalPlatform } from "./platform.ts";

let platform: LocalPlatform;

beforeAll(async () => {
  platform = await startPlatform({ name: "growth", seed: "plans" });
}, buildTimeoutMs);
afterAll(() => platform?.stop());

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}
const superuser = () => platform.primaryDatabase.urls.superuser.replace(/\/postgres$/, "/freight");

describe("growth and support loops on the local platform", () => {
  it("the lead-signals CronJob signals a tenant with 3 quotes in 72 h once, delivered to the CRM webhook", async () => {
    const [row] = await query<{ id: string }>(
      superuser(),
      "INSERT INTO tenants (slug, name, plan_id, billing_status) VALUES ('eager-freight-co', 'Eager', 'starter', 'trialing') RETURNING id",
    );
    const id = row!.id;
    await query(
      superuser(),
      `INSERT INTO quotes (tenant_id, origin, destination, equipment, weight_lbs, pickup_date, distance_miles,
                           linehaul_cents, fuel_surcharge_cents, margin_cents, total_cents, breakdown,
                           pricing_version, expires_at, created_at)
       SELECT $1, 'Dallas, TX', 'Atlanta, GA', 'dry_van', 20000, current_date, 780, 100000, 10000, 5000,
              115000, '{}', 'test', now(), now() - make_interval(hours => h)
         FROM unnest(ARRAY[50, 20, 1]) AS h`,
      [id],
    );
    const job = await platform.runJob("primary", "lead-signals");
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toContain("1 new lead signal(s); delivered 1, failed 0, 0 pending.");
    const again = await platform.runJob("primary", "lead-signals");
    expect(again.output).toContain("0 new lead signal(s); delivered 0");
    const signals = platform.ops.deliveries.filter((d) => d.body["event"] === "lead_signal");
    expect(signals).toHaveLength(1);
    expect(signals[0]!.idempotencyKey).toMatch(/^lead-signal:/);
    expect(signals[0]!.body).toMatchObject({ tenant: { slug: "eager-freight-co" }, reason: "quotes" });
  }, 300_000);

  it("an Alertmanager notification to the primary's API becomes a support ticket within 5 s", async () => {
    const began = Date.now();
    const response = await fetch(`${platform.regions.primary.apiUrl}/webhooks/alertmanager`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${LOCAL_ALERT_RECEIVER_TOKEN}` },
      body: JSON.stringify({
        version: "4",
        groupKey: '{}:{alertname="JobQueueOldestJobTooOld"}',
        status: "firing",
        receiver: "ops-page",
        groupLabels: { alertname: "JobQueueOldestJobTooOld" },
        commonLabels: { alertname: "JobQueueOldestJobTooOld", severity: "page", queue: "bulk_jobs" },
        commonAnnotations: { summary: "Jobs wait longer than 15 minutes" },
        alerts: [{ status: "firing", labels: { alertname: "JobQueueOldestJobTooOld" }, annotations: {} }],
      }),
    });
    expect(response.status).toBe(200);
    const rows = await query<{ priority: string; state: string }>(
      superuser(),
      "SELECT priority, state FROM support_tickets WHERE alert_group_key = $1",
      ['{}:{alertname="JobQueueOldestJobTooOld"}'],
    );
    expect(Date.now() - began).toBeLessThan(5_000);
    expect(rows).toEqual([{ priority: "P1", state: "open" }]);
  }, 60_000);

  it("the nps-invitations CronJob invites a trialist at day 21 once, the runner mails it, and a detractor opens a save playbook", async () => {
    const [row] = await query<{ id: string }>(
      superuser(),
      `INSERT INTO tenants (slug, name, plan_id, billing_status, created_at, trial_ends_at)
       VALUES ('wavering-freight-co', 'Wavering', 'starter', 'trialing', now() - interval '21 days 2 hours',
               now() - interval '7 days 2 hours') RETURNING id`,
    );
    const id = row!.id;
    await query(
      superuser(),
      "INSERT INTO billing_accounts (tenant_id, stripe_customer_id, billing_email) VALUES ($1, 'cus_wavering', 'ops@wavering.example')",
      [id],
    );
    const job = await platform.runJob("primary", "nps-invitations");
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toContain("nps_survey: tenant wavering-freight-co reached trial_day_21");
    const again = await platform.runJob("primary", "nps-invitations");
    expect(again.output).not.toContain("wavering-freight-co");
    const mail = await waitFor(
      "the survey email",
      async () => platform.mailbox.to("ops@wavering.example")[0],
      {
        timeoutMs: 30_000,
      },
    );
    expect(mail.mail.subject).toBe("How likely are you to recommend Freight?");

    const key = generateApiKey("test");
    await query(
      superuser(),
      "INSERT INTO api_keys (tenant_id, key_prefix, key_hash, label) VALUES ($1, $2, decode($3, 'hex'), 'nps')",
      [id, key.prefix, key.hash],
    );
    const client = apiClient(platform.regions.primary.apiUrl, key.key);
    const surveys = await client.get<{ surveys: { id: string }[] }>("/v1/nps/surveys");
    expect(surveys.body.surveys).toHaveLength(1);
    const answer = await client.post(`/v1/nps/surveys/${surveys.body.surveys[0]!.id}/response`, {
      score: 2,
      comment: "Too slow to get contract rates",
    });
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    const playbook = await waitFor(
      "the save playbook",
      async () => platform.ops.deliveries.find((d) => d.body["event"] === "save_playbook"),
      { timeoutMs: 30_000 },
    );
    expect(playbook.body).toMatchObject({
      tenantSlug: "wavering-freight-co",
      score: 2,
      owner: "customer-success",
    });
  }, 300_000);

  it("the carrier-compliance CronJob reminds a carrier 7 days before its insurance expires, once, by mail", async () => {
    const [tenant] = await query<{ id: string }>(
      superuser(),
      "INSERT INTO tenants (slug, name, plan_id) VALUES ('careful-broker-co', 'Careful', 'pro') RETURNING id",
    );
    const [carrier] = await query<{ id: string; name: string }>(
      superuser(),
      "SELECT id, name FROM carriers ORDER BY mc_number LIMIT 1",
    );
    // The tenant invited the carrier, which then sent its certificate (the reminder task runs in an
    // inviting tenant's name).
    await query(
      superuser(),
      "INSERT INTO carrier_invites (tenant_id, carrier_id, email) VALUES ($1, $2, 'dispatch@first-carrier.example')",
      [tenant!.id, carrier!.id],
    );
    await query(
      superuser(),
      `INSERT INTO carrier_compliance_documents (carrier_id, kind, issued_on, expires_on, contact_email)
       VALUES ($1, 'insurance_certificate', current_date - 358, current_date + 7, 'compliance@first-carrier.example')`,
      [carrier!.id],
    );
    const job = await platform.runJob("primary", "carrier-compliance");
    expect(job.exitCode, job.output).toBe(0);
    expect(job.output).toContain(
      `carrier_compliance_reminder: ${carrier!.name} insurance_certificate expires in 7 day(s)`,
    );
    const again = await platform.runJob("primary", "carrier-compliance");
    expect(again.output).toContain("0 carrier reminder(s)");
    const mail = await waitFor(
      "the reminder email",
      async () => platform.mailbox.to("compliance@first-carrier.example")[0],
      { timeoutMs: 30_000 },
    );
    expect(mail.mail.subject).toBe("Your insurance certificate expires in 7 days");
  }, 300_000);
});
