// billing_alert agent tasks: billing problems a person must act on (a Stripe price no plan maps to, a
// missing Tenant resource, overage Stripe refused, a notice that never reached the customer). They go
// to ops like notify_ops, as event "billing_alert" with a severity: "page" when a paying tenant's plan
// could not be applied at all, "ticket" otherwise. The runner queues one itself when a billing notice
// cannot be delivered, so a lost customer email always ends with a person told.
import type pg from "pg";
import type { ClaimedAgentTask } from "../jobs/queue.ts";
import { deliverOpsEvent, type OpsDelivery, type OpsEvent } from "./ops-events.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

export type BillingAlertSeverity = "page" | "ticket";

const PAGES = new Set(["tenant_resource_missing"]);

const text = (value: unknown): string => (value === undefined || value === null ? "?" : String(value));

function summarize(alert: string, tenant: string, p: Record<string, unknown>): string {
  switch (alert) {
    case "unknown_price":
      return `Tenant ${tenant} subscribed on Stripe price ${text(p.price)}, which no plan maps to; its plan is unchanged`;
    case "tenant_resource_missing":
      return `Billing could not apply a plan change to tenant ${tenant}: ${text(p.detail)}`;
    case "overage_refused":
      return `Stripe refused overage ${text(p.identifier)} (${text(p.quantity)} units) of tenant ${tenant}: ${text(p.error)}`;
    case "notice_undeliverable":
      return `A ${text(p.notice)} billing notice did not reach tenant ${tenant}: ${text(p.reason)}`;
    default:
      return `Billing alert ${alert} for tenant ${tenant}`;
  }
}

export function billingAlertEvent(task: ClaimedAgentTask, tenantSlug: string | undefined): OpsEvent {
  const p = task.payload;
  if (typeof p.alert !== "string" || !p.alert) {
    throw new PermanentTaskError(
      `billing_alert payload needs an alert (string); got ${JSON.stringify(p).slice(0, 200)}`,
    );
  }
  const severity: BillingAlertSeverity = PAGES.has(p.alert) ? "page" : "ticket";
  return {
    ...p,
    event: "billing_alert",
    severity,
    alert: p.alert,
    taskId: task.id,
    tenantId: task.tenantId,
    tenantSlug: tenantSlug ?? null,
    attempt: task.attempts,
    summary: summarize(p.alert, tenantSlug ?? task.tenantId, p),
  };
}

export function billingAlertHandler(options: OpsDelivery & { pool: pg.Pool }): AgentTaskHandler {
  return async (task, { signal }) => {
    const { rows } = await options.pool.query<{ slug: string }>("SELECT slug FROM tenants WHERE id = $1", [
      task.tenantId,
    ]);
    const event = billingAlertEvent(task, rows[0]?.slug);
    await deliverOpsEvent(options, event, {
      idempotencyKey: task.id,
      signal,
      logLevel: event.severity === "page" ? "error" : "warn",
    });
  };
}

/**
 * Queues a billing_alert; a repeat of the dedupe key is a no-op. The same insert as billing's own
 * queueTask (app/billing/webhook.ts), kept here so the runner does not load the Stripe SDK.
 */
export async function queueBillingAlert(
  pool: pg.Pool,
  tenantId: string,
  dedupeKey: string,
  payload: Record<string, unknown> & { alert: string },
): Promise<boolean> {
  const { rowCount } = await pool.query(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key) VALUES ($1, 'billing_alert', $2, $3)
     ON CONFLICT (dedupe_key) DO NOTHING`,
    [tenantId, JSON.stringify(payload), dedupeKey],
  );
  return rowCount === 1;
}
