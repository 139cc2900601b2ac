// limit_increase_requested agent tasks: a tenant asked for more of a meter (POST
// /v1/limit-increase-requests). Ops gets one event with what was asked, what the tenant has now and
// the exact commands that grant or decline it, at the ops webhook (else a log line, as notify_ops).
import type pg from "pg";
import { deliverOpsEvent, type OpsDelivery, type OpsEvent } from "./ops-events.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";
import type { ClaimedAgentTask } from "../jobs/queue.ts";

export function limitIncreaseEvent(task: ClaimedAgentTask, tenantSlug: string | undefined): OpsEvent {
  const p = task.payload;
  if (typeof p.requestId !== "string" || typeof p.meter !== "string" || !Number.isInteger(p.requestedLimit))
    throw new PermanentTaskError(
      `limit_increase_requested payload needs requestId, meter and requestedLimit; got ${JSON.stringify(p).slice(0, 200)}`,
    );
  const tenant = tenantSlug ?? task.tenantId;
  const now = p.currentIncluded === null || p.currentIncluded === undefined ? "?" : String(p.currentIncluded);
  return {
    event: "limit_increase_requested",
    taskId: task.id,
    tenantId: task.tenantId,
    tenantSlug: tenantSlug ?? null,
    requestId: p.requestId,
    meter: p.meter,
    requestedLimit: p.requestedLimit,
    currentIncluded: p.currentIncluded ?? null,
    currentHardCeiling: p.currentHardCeiling ?? null,
    reason: p.reason ?? null,
    summary: `Tenant ${tenant} asks for ${String(p.requestedLimit)} ${p.meter} per ${String(p.period ?? "period")} (has ${now}): ${String(p.reason ?? "")}`,
    approve: `npm run limits -- approve ${p.requestId} --by <you> [--amount ${String(p.requestedLimit)}]`,
    decline: `npm run limits -- decline ${p.requestId} --by <you> --reason "<why>"`,
  };
}

export function limitIncreaseRequestedHandler(options: OpsDelivery & { pool: pg.Pool }): AgentTaskHandler {
  return async (task, { signal }) => {
    const { rows } = await options.pool.query<{ slug: string }>("SELECT slug FROM tenants WHERE id = $1", [
      task.tenantId,
    ]);
    await deliverOpsEvent(options, limitIncreaseEvent(task, rows[0]?.slug), {
      idempotencyKey: task.id,
      signal,
      logLevel: "warn",
    });
  };
}
