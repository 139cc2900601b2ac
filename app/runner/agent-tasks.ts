// What each agent task kind does. notify_ops (from the nightly usage breach check) goes to the ops
// webhook when OPS_WEBHOOK_URL is set, else to the log as one structured line for log-based alerting.
import type { Logger } from "pino";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

export interface OpsNotification {
  event: "notify_ops";
  taskId: string;
  tenantId: string;
  attempt: number;
  meter?: unknown;
  threshold?: unknown;
  percent?: unknown;
  used?: unknown;
  included?: unknown;
  periodStart?: unknown;
  summary: string;
}

export function opsNotification(task: Parameters<AgentTaskHandler>[0]): OpsNotification {
  const p = task.payload;
  if (typeof p.meter !== "string" || typeof p.threshold !== "number") {
    throw new PermanentTaskError(
      `notify_ops payload needs a meter (string) and a threshold (number); got ${JSON.stringify(p).slice(0, 200)}`,
    );
  }
  return {
    event: "notify_ops",
    taskId: task.id,
    tenantId: task.tenantId,
    attempt: task.attempts,
    meter: p.meter,
    threshold: p.threshold,
    percent: p.percent,
    used: p.used,
    included: p.included,
    periodStart: p.periodStart,
    summary: `Tenant ${task.tenantId} used ${String(p.percent ?? p.threshold)} % of its ${p.meter} allowance (threshold ${p.threshold} %)`,
  };
}

/**
 * Delivery is at least once: a runner killed after the POST but before recording success posts again.
 * The Idempotency-Key header (the task id) lets the receiver drop the duplicate.
 */
export function notifyOpsHandler(options: { webhookUrl?: string; log: Logger }): AgentTaskHandler {
  return async (task, { signal }) => {
    const notification = opsNotification(task);
    if (!options.webhookUrl) {
      options.log.warn(notification, notification.summary);
      return;
    }
    const response = await fetch(options.webhookUrl, {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": task.id },
      body: JSON.stringify(notification),
      signal,
    });
    await response.body?.cancel();
    if (response.ok) return;
    const message = `ops webhook answered ${response.status} ${response.statusText}`;
    // 408 and 429 and 5xx are the receiver's passing trouble; any other 4xx refuses this message for good.
    if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429)
      throw new PermanentTaskError(`${message}; it refuses the notification, so retrying would not help`);
    throw new Error(message);
  };
}

export function defaultHandlers(options: {
  webhookUrl?: string;
  log: Logger;
}): Record<string, AgentTaskHandler> {
  return { notify_ops: notifyOpsHandler(options) };
}
