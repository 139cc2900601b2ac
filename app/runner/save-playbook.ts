// save_playbook agent tasks: a tenant answered an NPS survey as a detractor (0-6; app/growth/nps.ts).
// The account owner (tenants.account_owner, else the customer success queue) gets one event at the
// ops webhook with the score, the comment and the playbook's steps, so the save call happens while
// the answer is fresh. The task id is the event's Idempotency-Key: a retried delivery is not doubled.
import type pg from "pg";
import { deliverOpsEvent, type OpsDelivery, type OpsEvent } from "./ops-events.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";
import type { ClaimedAgentTask } from "../jobs/queue.ts";

/** Who takes a save playbook for a tenant nobody owns yet. */
export const SAVE_PLAYBOOK_QUEUE = "customer-success";

/** The playbook, in order; the account owner works it and records the outcome in the CRM. */
export const SAVE_PLAYBOOK_STEPS = [
  "Call within one business day; read the comment first and ask what would make it a 10.",
  "Check the account's last 30 days: failed quotes, support tickets, limit denials (GET /v1/usage).",
  "Agree one fix with a date, and confirm it in writing.",
  "Follow up at the date; re-survey at the next milestone.",
] as const;

export interface TenantOwner {
  slug: string;
  name: string;
  account_owner: string | null;
}

export function savePlaybookEvent(task: ClaimedAgentTask, tenant: TenantOwner): OpsEvent {
  const p = task.payload;
  if (typeof p.surveyId !== "string" || !Number.isInteger(p.score))
    throw new PermanentTaskError(
      `save_playbook payload needs surveyId and score; got ${JSON.stringify(p).slice(0, 200)}`,
    );
  const owner = tenant.account_owner ?? SAVE_PLAYBOOK_QUEUE;
  const comment = typeof p.comment === "string" && p.comment ? `: "${p.comment}"` : " (no comment)";
  return {
    event: "save_playbook",
    taskId: task.id,
    tenantId: task.tenantId,
    tenantSlug: tenant.slug,
    owner,
    surveyId: p.surveyId,
    milestone: p.milestone ?? null,
    score: p.score,
    comment: p.comment ?? null,
    steps: SAVE_PLAYBOOK_STEPS,
    summary: `Save playbook for ${tenant.name} (${tenant.slug}), owner ${owner}: NPS ${String(p.score)} at ${String(p.milestone)}${comment}`,
  };
}

export function savePlaybookHandler(options: OpsDelivery & { pool: pg.Pool }): AgentTaskHandler {
  return async (task, { signal }) => {
    const { rows } = await options.pool.query<TenantOwner>(
      "SELECT slug, name, account_owner FROM tenants WHERE id = $1",
      [task.tenantId],
    );
    const tenant = rows[0];
    if (!tenant) throw new PermanentTaskError(`tenant ${task.tenantId} does not exist`);
    await deliverOpsEvent(options, savePlaybookEvent(task, tenant), {
      idempotencyKey: task.id,
      signal,
      logLevel: "warn",
    });
  };
}
