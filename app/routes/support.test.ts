// Support tickets end to end against the API and a real PostgreSQL: tenants open and read only their
// own tickets, Alertmanager notifications open one ticket per alert group however many arrive at once
// and resolve it when the group resolves, the on-call view lists by deadline and the breach gauge
// counts what is overdue.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { provisionTestTenant, startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient } from "../../tools/platform/api-client.ts";
import { createPool } from "../db/pool.ts";
import { onCallTickets, recordTicketProgress, slaBreaches } from "../support/tickets.ts";

const TOKEN = "alert-receiver-test-token-0123456789";
let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ env: { ALERT_RECEIVER_TOKEN: TOKEN } });
}, 120_000);
afterAll(async () => t?.stop());

function notification(groupKey: string, status: "firing" | "resolved", alerts: number, severity = "page") {
  const labels = { alertname: "ApiAvailabilityBudgetBurnFast", region: "us-east-1", severity };
  return {
    version: "4",
    groupKey,
    status,
    receiver: "ops-page",
    groupLabels: { alertname: labels.alertname, region: labels.region },
    commonLabels: labels,
    commonAnnotations: {
      summary: "API availability budget burning fast",
      runbook_url: "docs/runbooks/slo-alerts.md",
    },
    externalURL: "http://alertmanager.local",
    alerts: Array.from({ length: alerts }, (_, i) => ({
      status,
      labels: { ...labels, instance: `pod-${i}` },
      annotations: {},
      startsAt: new Date().toISOString(),
    })),
    truncatedAlerts: 0,
  };
}

const postAlert = (body: unknown, token = TOKEN) =>
  fetch(`${t.url}/webhooks/alertmanager`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });

describe("tenant support tickets", () => {
  it("opens a ticket with SLA deadlines, lists and reads it, and hides it from other tenants", async () => {
    const a = apiClient(t.url, (await provisionTestTenant(t.db, "pro")).apiKey);
    const b = apiClient(t.url, (await provisionTestTenant(t.db, "pro")).apiKey);
    const opened = await a.post<Record<string, any>>("/v1/support/tickets", {
      priority: "P2",
      subject: "Contract rates missing for lane DAL-ATL",
      body: "Since this morning.",
    });
    expect(opened.status).toBe(201);
    expect(opened.body.state).toBe("open");
    expect(Date.parse(opened.body.responseDueAt)).toBeGreaterThan(Date.parse(opened.body.openedAt));
    expect(Date.parse(opened.body.resolutionDueAt)).toBeGreaterThan(Date.parse(opened.body.responseDueAt));
    const list = await a.get<Record<string, any>>("/v1/support/tickets");
    expect(list.body.tickets.map((x: { id: string }) => x.id)).toEqual([opened.body.id]);
    expect((await a.get(`/v1/support/tickets/${opened.body.id}`)).status).toBe(200);
    expect((await b.get(`/v1/support/tickets/${opened.body.id}`)).status).toBe(404);
    expect((await b.get<Record<string, any>>("/v1/support/tickets")).body.tickets).toEqual([]);
  });

  it("refuses a ticket without a known priority or subject, naming the fields", async () => {
    const a = apiClient(t.url, (await provisionTestTenant(t.db, "pro")).apiKey);
    const bad = await a.post<Record<string, any>>("/v1/support/tickets", {
      priority: "urgent",
      subject: " ",
    });
    expect(bad.status).toBe(422);
    const text = JSON.stringify(bad.body.errors);
    expect(text).toMatch(/priority.*P1/);
    expect(text).toMatch(/subject/);
  });
});

describe("Alertmanager receiver", () => {
  it("refuses a notification without the right token, and creates nothing", async () => {
    const wrong = await postAlert(
      notification('{}:{alertname="X"}', "firing", 1),
      "not-the-token-at-all-000000",
    );
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { type: string }).type).toMatch(/alert-receiver-unauthorized/);
    const malformed = await postAlert({ version: "4", status: "burning" });
    expect(malformed.status).toBe(422);
  });

  it("turns a storm of 1,000 alerts in two groups into two tickets, and resolves each with its group", async () => {
    const ops = createPool(t.db.urls.ops, 2);
    try {
      const groups = ['{}:{alertname="StormA"}', '{}:{alertname="StormB"}'];
      const started = Date.now();
      // 1,000 alerts: each group notified 250 times at once with growing batches (what repeated
      // group_interval flushes of a storm and a retrying Alertmanager look like), all concurrently.
      const answers = await Promise.all(
        Array.from({ length: 500 }, (_, i) => postAlert(notification(groups[i % 2]!, "firing", 2))),
      );
      expect(answers.every((r) => r.status === 200)).toBe(true);
      const outcomes = await Promise.all(
        answers.map(async (r) => ((await r.json()) as { outcome: string }).outcome),
      );
      expect(outcomes.filter((o) => o === "opened")).toHaveLength(2);
      // A storm on a loaded two-core machine: every notification answered and applied, none lost.
      expect(Date.now() - started).toBeLessThan(90_000);
      const rows = await ops.query(
        "SELECT alert_group_key, priority, state, alert_notifications FROM support_tickets WHERE alert_group_key = ANY($1) ORDER BY 1",
        [groups],
      );
      expect(rows.rows).toEqual([
        { alert_group_key: groups[0], priority: "P1", state: "open", alert_notifications: 250 },
        { alert_group_key: groups[1], priority: "P1", state: "open", alert_notifications: 250 },
      ]);

      const single = Date.now();
      const first = await postAlert(notification('{}:{alertname="Single"}', "firing", 1, "ticket"));
      expect(((await first.json()) as { outcome: string }).outcome).toBe("opened");
      expect(Date.now() - single).toBeLessThan(5_000);

      const resolved = await postAlert(notification(groups[0]!, "resolved", 2));
      expect(await resolved.json()).toMatchObject({ outcome: "resolved" });
      const again = await postAlert(notification(groups[0]!, "resolved", 2));
      expect(await again.json()).toMatchObject({ outcome: "already-resolved", ticketId: null });
      // The same group firing after it resolved is a new incident: a new ticket.
      const refired = await postAlert(notification(groups[0]!, "firing", 1));
      expect(await refired.json()).toMatchObject({ outcome: "opened" });
      const states = await ops.query(
        "SELECT state, count(*)::int AS n FROM support_tickets WHERE alert_group_key = $1 GROUP BY state ORDER BY state",
        [groups[0]],
      );
      expect(states.rows).toEqual([
        { state: "open", n: 1 },
        { state: "resolved", n: 1 },
      ]);
    } finally {
      await ops.end();
    }
  }, 120_000);

  it("keeps platform tickets out of every tenant's view", async () => {
    const a = apiClient(t.url, (await provisionTestTenant(t.db, "pro")).apiKey);
    await postAlert(notification('{}:{alertname="Hidden"}', "firing", 1));
    expect((await a.get<Record<string, any>>("/v1/support/tickets")).body.tickets).toEqual([]);
  });
});

describe("on-call view and breaches", () => {
  it("lists unresolved tickets by their next deadline and counts breaches until on-call answers", async () => {
    const ops = createPool(t.db.urls.ops, 2);
    const operator = createPool(t.db.urls.operator, 2);
    try {
      const tenant = apiClient(t.url, (await provisionTestTenant(t.db, "pro")).apiKey);
      const p3 = await tenant.post<Record<string, any>>("/v1/support/tickets", {
        priority: "P3",
        subject: "How do I invite?",
      });
      const p1 = await tenant.post<Record<string, any>>("/v1/support/tickets", {
        priority: "P1",
        subject: "Quotes fail",
      });
      const list = await onCallTickets(ops);
      const order = list.map((x) => x.id);
      expect(order.indexOf(p1.body.id)).toBeLessThan(order.indexOf(p3.body.id));
      expect(list.find((x) => x.id === p1.body.id)).toMatchObject({ nextDue: "response", breached: false });

      // Five hours later the P1 is past its 4-hour response deadline.
      const later = new Date(Date.now() + 5 * 3_600_000);
      const before = (await slaBreaches(ops, later)).find(
        (b) => b.priority === "P1" && b.clock === "response",
      )!;
      expect(before.tickets).toBeGreaterThanOrEqual(1);
      expect(await recordTicketProgress(operator, p1.body.id, "respond")).toMatchObject({
        state: "responded",
      });
      const after = (await slaBreaches(ops, later)).find(
        (b) => b.priority === "P1" && b.clock === "response",
      )!;
      expect(after.tickets).toBe(before.tickets - 1);
      expect(await recordTicketProgress(operator, p1.body.id, "resolve")).toMatchObject({
        state: "resolved",
      });
      expect(await recordTicketProgress(operator, p1.body.id, "resolve")).toBeUndefined();
      expect((await onCallTickets(ops)).some((x) => x.id === p1.body.id)).toBe(false);

      const metrics = await (await fetch(`${t.url}/metrics`)).text();
      expect(metrics).toMatch(/support_tickets_sla_breached\{priority="P1",clock="response"\} \d+/);
    } finally {
      await ops.end();
      await operator.end();
    }
  });
});
