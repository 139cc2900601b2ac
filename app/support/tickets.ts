// The support ticket store (table support_tickets, migration 0015): priorities and their SLA
// deadlines, tenant tickets opened through the API, platform tickets opened and resolved by
// Alertmanager notifications, and the on-call list by deadline. One module reads and writes the
// table for the API, the receiver, the on-call CLI and the breach gauge.
//
// SLA (docs/sla.md): P1 is an outage and runs on the clock, not the calendar (first response
// within 4 hours, resolution within 24 hours, any day); P2 and P3 run on business time
// (app/support/calendar.ts): P2 response within 1 business day, resolution within 5; P3 response
// within 3 business days, resolution within 10.
import type pg from "pg";
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import { addBusinessDays } from "./calendar.ts";

export const PRIORITIES = ["P1", "P2", "P3"] as const;
export type Priority = (typeof PRIORITIES)[number];
export const TICKET_STATES = ["open", "responded", "resolved"] as const;
export type TicketState = (typeof TICKET_STATES)[number];

const HOUR = 3_600_000;

/** When a ticket of `priority` opened at `openedAt` must be answered and resolved. */
export function slaDeadlines(priority: Priority, openedAt: Date): { responseDue: Date; resolutionDue: Date } {
  switch (priority) {
    case "P1":
      return {
        responseDue: new Date(openedAt.getTime() + 4 * HOUR),
        resolutionDue: new Date(openedAt.getTime() + 24 * HOUR),
      };
    case "P2":
      return { responseDue: addBusinessDays(openedAt, 1), resolutionDue: addBusinessDays(openedAt, 5) };
    case "P3":
      return { responseDue: addBusinessDays(openedAt, 3), resolutionDue: addBusinessDays(openedAt, 10) };
  }
}

export interface TicketRow {
  id: string;
  tenant_id: string | null;
  source: "tenant" | "alert";
  priority: Priority;
  state: TicketState;
  subject: string;
  body: string;
  alert_group_key: string | null;
  alert_labels: Record<string, string> | null;
  alert_notifications: number;
  alert_count: number;
  opened_at: Date;
  response_due_at: Date;
  resolution_due_at: Date;
  responded_at: Date | null;
  resolved_at: Date | null;
  updated_at: Date;
}

export const ticketView = z.object({
  id: z.uuid(),
  priority: z.enum(PRIORITIES),
  state: z.enum(TICKET_STATES),
  subject: z.string(),
  body: z.string(),
  openedAt: z.string(),
  responseDueAt: z.string(),
  resolutionDueAt: z.string(),
  respondedAt: z.string().nullable(),
  resolvedAt: z.string().nullable(),
});
export type TicketView = z.infer<typeof ticketView>;

export function toTicketView(row: TicketRow): TicketView {
  return {
    id: row.id,
    priority: row.priority,
    state: row.state,
    subject: row.subject,
    body: row.body,
    openedAt: row.opened_at.toISOString(),
    responseDueAt: row.response_due_at.toISOString(),
    resolutionDueAt: row.resolution_due_at.toISOString(),
    respondedAt: row.responded_at?.toISOString() ?? null,
    resolvedAt: row.resolved_at?.toISOString() ?? null,
  };
}

export const openTicketBody = z.strictObject({
  priority: z.enum(PRIORITIES, "must be P1 (outage), P2 (degraded) or P3 (question)"),
  subject: z.string().trim().min(1, "must not be empty").max(200, "must be at most 200 characters"),
  body: z.string().max(10_000, "must be at most 10,000 characters").default(""),
});

/** A tenant's ticket, in the tenant's transaction (RLS keeps it the tenant's). */
export async function openTenantTicket(
  db: Db,
  tenantId: string,
  input: z.infer<typeof openTicketBody>,
  at = new Date(),
): Promise<TicketRow> {
  const { responseDue, resolutionDue } = slaDeadlines(input.priority, at);
  const { rows } = await db.query<TicketRow>(
    `INSERT INTO support_tickets (tenant_id, source, priority, subject, body, opened_at, response_due_at, resolution_due_at)
     VALUES ($1, 'tenant', $2, $3, $4, $5, $6, $7) RETURNING *`,
    [tenantId, input.priority, input.subject, input.body, at, responseDue, resolutionDue],
  );
  return rows[0]!;
}

export async function listTenantTickets(db: Db, limit = 50): Promise<TicketRow[]> {
  const { rows } = await db.query<TicketRow>(
    "SELECT * FROM support_tickets ORDER BY opened_at DESC, id LIMIT $1",
    [limit],
  );
  return rows;
}

export async function getTenantTicket(db: Db, id: string): Promise<TicketRow | undefined> {
  const { rows } = await db.query<TicketRow>("SELECT * FROM support_tickets WHERE id = $1", [id]);
  return rows[0];
}

/** The part of Alertmanager's webhook payload (version 4) a ticket is made from. */
export const alertmanagerNotification = z.object({
  version: z.literal("4", "must be 4: the webhook payload version this receiver reads"),
  groupKey: z.string().min(1, "must be the alert group's key"),
  status: z.enum(["firing", "resolved"], "must be firing or resolved"),
  receiver: z.string(),
  groupLabels: z.record(z.string(), z.string()),
  commonLabels: z.record(z.string(), z.string()),
  commonAnnotations: z.record(z.string(), z.string()),
  alerts: z
    .array(
      z.object({
        status: z.enum(["firing", "resolved"]),
        labels: z.record(z.string(), z.string()),
        annotations: z.record(z.string(), z.string()).default({}),
      }),
    )
    .default([]),
  truncatedAlerts: z.number().int().min(0).default(0),
});
export type AlertmanagerNotification = z.infer<typeof alertmanagerNotification>;

/** Pages are outages; ticket-severity alerts (and the cluster's critical ones) degrade; the rest ask. */
export function alertPriority(labels: Record<string, string>): Priority {
  const severity = labels["severity"];
  if (severity === "page") return "P1";
  if (severity === "ticket" || severity === "critical") return "P2";
  return "P3";
}

function alertSubject(n: AlertmanagerNotification): string {
  const name = n.groupLabels["alertname"] ?? n.commonLabels["alertname"] ?? "alert group";
  const summary = n.commonAnnotations["summary"];
  const region = n.commonLabels["region"];
  const text = `${name}${region ? ` (${region})` : ""}${summary ? `: ${summary}` : ""}`;
  return text.slice(0, 200);
}

export type AlertOutcome = "opened" | "updated" | "resolved" | "already-resolved";

/**
 * One Alertmanager notification applied to the group's ticket: a firing group opens its ticket (or
 * updates the one already open: repeats and new alerts of the group), a resolved group resolves it.
 * One statement each, so concurrent notifications of one group never open two tickets (the partial
 * unique index on alert_group_key arbitrates).
 */
export async function applyAlertNotification(
  pool: pg.Pool,
  n: AlertmanagerNotification,
  at = new Date(),
): Promise<{ outcome: AlertOutcome; ticketId: string | null }> {
  const alertCount = n.alerts.length + n.truncatedAlerts;
  if (n.status === "resolved") {
    const { rows } = await pool.query<{ id: string }>(
      `UPDATE support_tickets
          SET state = 'resolved', resolved_at = $2, updated_at = $2,
              alert_notifications = alert_notifications + 1, alert_count = $3
        WHERE alert_group_key = $1 AND state <> 'resolved' AND tenant_id IS NULL
        RETURNING id`,
      [n.groupKey, at, alertCount],
    );
    return rows[0]
      ? { outcome: "resolved", ticketId: rows[0].id }
      : { outcome: "already-resolved", ticketId: null };
  }
  const priority = alertPriority(n.commonLabels);
  const { responseDue, resolutionDue } = slaDeadlines(priority, at);
  const description = [
    n.commonAnnotations["description"] ?? "",
    n.commonAnnotations["runbook_url"] ? `Runbook: ${n.commonAnnotations["runbook_url"]}` : "",
  ]
    .filter(Boolean)
    .join("\n");
  const { rows } = await pool.query<{ id: string; inserted: boolean }>(
    `INSERT INTO support_tickets (source, priority, subject, body, alert_group_key, alert_labels,
                                  alert_notifications, alert_count, opened_at, response_due_at, resolution_due_at, updated_at)
     VALUES ('alert', $1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $7)
     ON CONFLICT (alert_group_key) WHERE state <> 'resolved'
     DO UPDATE SET alert_notifications = support_tickets.alert_notifications + 1,
                   alert_count = EXCLUDED.alert_count, alert_labels = EXCLUDED.alert_labels,
                   updated_at = EXCLUDED.updated_at
     RETURNING id, (xmax = 0) AS inserted`,
    [
      priority,
      alertSubject(n),
      description.slice(0, 10_000),
      n.groupKey,
      n.commonLabels,
      alertCount,
      at,
      responseDue,
      resolutionDue,
    ],
  );
  const row = rows[0]!;
  return { outcome: row.inserted ? "opened" : "updated", ticketId: row.id };
}

export interface OnCallTicket {
  id: string;
  tenant: string | null;
  source: "tenant" | "alert";
  priority: Priority;
  state: TicketState;
  subject: string;
  openedAt: Date;
  /** The next deadline this ticket must meet: the response while unanswered, then the resolution. */
  nextDueAt: Date;
  nextDue: "response" | "resolution";
  breached: boolean;
}

/** Every unresolved ticket, the one due soonest first (freight_ops or freight_operator). */
export async function onCallTickets(db: pg.Pool | Db, at = new Date()): Promise<OnCallTicket[]> {
  const { rows } = await db.query<{
    id: string;
    slug: string | null;
    source: "tenant" | "alert";
    priority: Priority;
    state: TicketState;
    subject: string;
    opened_at: Date;
    next_due_at: Date;
    next_due: "response" | "resolution";
  }>(
    `SELECT t.id, tn.slug, t.source, t.priority, t.state, t.subject, t.opened_at,
            CASE WHEN t.state = 'open' THEN t.response_due_at ELSE t.resolution_due_at END AS next_due_at,
            CASE WHEN t.state = 'open' THEN 'response' ELSE 'resolution' END AS next_due
       FROM support_tickets t LEFT JOIN tenants tn ON tn.id = t.tenant_id
      WHERE t.state <> 'resolved'
      ORDER BY next_due_at, t.priority, t.opened_at`,
  );
  return rows.map((r) => ({
    id: r.id,
    tenant: r.slug,
    source: r.source,
    priority: r.priority,
    state: r.state,
    subject: r.subject,
    openedAt: r.opened_at,
    nextDueAt: r.next_due_at,
    nextDue: r.next_due,
    breached: r.next_due_at.getTime() < at.getTime(),
  }));
}

export interface BreachCount {
  priority: Priority;
  clock: "response" | "resolution";
  tickets: number;
}

/**
 * Unresolved tickets past a deadline, by priority and clock: a response breach is an unanswered
 * ticket past its response deadline; a resolution breach any unresolved ticket past its resolution one.
 */
export async function slaBreaches(ops: pg.Pool, at = new Date()): Promise<BreachCount[]> {
  const { rows } = await ops.query<{ priority: Priority; response: number; resolution: number }>(
    `SELECT p.priority,
            count(t.id) FILTER (WHERE t.state = 'open' AND t.response_due_at < $1)::int AS response,
            count(t.id) FILTER (WHERE t.resolution_due_at < $1)::int AS resolution
       FROM unnest($2::text[]) AS p(priority)
       LEFT JOIN support_tickets t ON t.priority = p.priority AND t.state <> 'resolved'
      GROUP BY p.priority`,
    [at, PRIORITIES],
  );
  return rows.flatMap((r) => [
    { priority: r.priority, clock: "response" as const, tickets: r.response },
    { priority: r.priority, clock: "resolution" as const, tickets: r.resolution },
  ]);
}

/** On-call records the first response or the resolution; a resolved ticket stays resolved. */
export async function recordTicketProgress(
  operator: pg.Pool,
  id: string,
  step: "respond" | "resolve",
  at = new Date(),
): Promise<{ id: string; state: TicketState } | undefined> {
  const { rows } = await operator.query<{ id: string; state: TicketState }>(
    step === "respond"
      ? `UPDATE support_tickets SET state = 'responded', responded_at = $2, updated_at = $2
          WHERE id = $1 AND state = 'open' RETURNING id, state`
      : `UPDATE support_tickets SET state = 'resolved', resolved_at = $2, updated_at = $2,
                responded_at = coalesce(responded_at, $2)
          WHERE id = $1 AND state <> 'resolved' RETURNING id, state`,
    [id, at],
  );
  return rows[0];
}
