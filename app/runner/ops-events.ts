// What the runner tells ops: one JSON event POSTed to OPS_WEBHOOK_URL (notify_ops, billing_alert,
// data_export_ready), or, without a webhook, one structured log line for log-based alerting. Delivery
// is at least once: a runner killed after the POST but before recording success posts again, and the
// Idempotency-Key header lets the receiver drop the duplicate.
import type { Logger } from "pino";
import { PermanentTaskError } from "./runner.ts";
import type { SecretValue } from "../secret-file.ts";

export interface OpsEvent {
  event: string;
  taskId: string;
  tenantId: string;
  summary: string;
  [field: string]: unknown;
}

export interface OpsDelivery {
  /** A SecretValue (the mounted Secret's file) is read per event, so a rotated URL is used at once. */
  webhookUrl?: string | SecretValue;
  log: Logger;
}

export async function deliverOpsEvent(
  delivery: OpsDelivery,
  event: OpsEvent,
  options: { idempotencyKey: string; signal: AbortSignal; logLevel: "warn" | "error" },
): Promise<"webhook" | "log"> {
  const webhookUrl =
    typeof delivery.webhookUrl === "string" ? delivery.webhookUrl : delivery.webhookUrl?.read();
  if (!webhookUrl) {
    delivery.log[options.logLevel](event, event.summary);
    return "log";
  }
  const response = await fetch(webhookUrl, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": options.idempotencyKey },
    body: JSON.stringify(event),
    signal: options.signal,
  });
  await response.body?.cancel();
  if (response.ok) return "webhook";
  const message = `ops webhook answered ${response.status} ${response.statusText}`;
  // 408 and 429 and 5xx are the receiver's passing trouble; any other 4xx refuses this message for good.
  if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429)
    throw new PermanentTaskError(
      `${message}; it refuses the ${event.event} event, so retrying would not help`,
    );
  throw new Error(message);
}
