// What each agent task kind does; every kind the code queues has its handler here:
//   notify_ops     (the nightly usage breach check)      ops webhook, else a structured log line
//   billing_alert  (billing webhook, overage, runner)     ops webhook with a severity, else a log line
//   billing_notice (billing webhook: dunning, trial end)  email to the tenant's billing contact
//   data_export    (tenant controller on Tenant deletion) the tenant's DSR access bundle, then ops sent its link
//   signup_verification (signup, resend)                 email with the link that activates the first key
//   limit_increase_requested (API: a tenant asks for more)  ops webhook with the approve/decline commands
//   tenant_notice  (npm run limits, the onboarding nudge)  email to the tenant's contact
//   quote_request_extraction, quote_explanation (LLM-backed; fallbacks in assistant-tasks.ts)
//   dsr_fulfil     (a data subject request verified)       export bundle or erasure (app/compliance/dsr)
//   workflow_event (carrier invites)                      workflow automation webhook (n8n), else a log line
//   save_playbook  (an NPS detractor's answer)             ops webhook, addressed to the account owner
//   carrier_compliance_reminder (compliance job)          email to the carrier's compliance contact
import type pg from "pg";
import type { Logger } from "pino";
import type { LlmProvider } from "../llm/provider.ts";
import type { AppMetrics } from "../observability/metrics.ts";
import type { SecretValue } from "../secret-file.ts";
import { quoteExplanationHandler, quoteRequestExtractionHandler } from "./assistant-tasks.ts";
import { billingAlertHandler } from "./billing-alert.ts";
import { billingNoticeHandler, type BillingMail } from "./billing-notice.ts";
import { dsrFulfilHandler, type DocumentFiles } from "../compliance/dsr/fulfil.ts";
import { dataExportHandler } from "./data-export.ts";
import { limitIncreaseRequestedHandler } from "./limit-increase-requested.ts";
import { deliverOpsEvent } from "./ops-events.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";
import { carrierComplianceReminderHandler } from "./carrier-compliance-reminder.ts";
import { savePlaybookHandler } from "./save-playbook.ts";
import { signupVerificationHandler } from "./signup-verification.ts";
import { tenantNoticeHandler } from "./tenant-notice.ts";
import { workflowEventHandler } from "./workflow-event.ts";
import type { WorkflowAutomation } from "../workflow/automation.ts";

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

export function notifyOpsHandler(options: {
  webhookUrl?: string | SecretValue;
  log: Logger;
}): AgentTaskHandler {
  return async (task, { signal }) => {
    const notification = opsNotification(task);
    await deliverOpsEvent(
      options,
      { ...notification },
      { idempotencyKey: task.id, signal, logLevel: "warn" },
    );
  };
}

export const AGENT_TASK_KINDS = [
  "notify_ops",
  "billing_alert",
  "billing_notice",
  "data_export",
  "signup_verification",
  "limit_increase_requested",
  "tenant_notice",
  "quote_request_extraction",
  "quote_explanation",
  "dsr_fulfil",
  "workflow_event",
  "save_playbook",
  "carrier_compliance_reminder",
] as const;

export function defaultHandlers(options: {
  pool: pg.Pool;
  webhookUrl?: string | SecretValue;
  log: Logger;
  /** Absent when SMTP_URL is not set: every billing and tenant notice then fails and alerts ops. */
  mail?: BillingMail;
  /** Absent when LLM_BASE_URL is not set: the LLM-backed kinds use their fallbacks. */
  llm?: LlmProvider;
  metrics: Pick<AppMetrics, "agentTaskFallbacks">;
  /** The documents buckets, when configured: data subject requests read and erase documents. */
  documents?: DocumentFiles;
  /** How long a deleted tenant's export link (sent to ops) stays good. */
  exportLinkTtlSeconds: number;
  /** Absent when WORKFLOW_AUTOMATION_URL is not set: workflow events are logged only. */
  workflow?: WorkflowAutomation;
}): Record<(typeof AGENT_TASK_KINDS)[number], AgentTaskHandler> {
  return {
    notify_ops: notifyOpsHandler(options),
    billing_alert: billingAlertHandler(options),
    billing_notice: billingNoticeHandler(options),
    data_export: dataExportHandler({ ...options, linkTtlSeconds: options.exportLinkTtlSeconds }),
    signup_verification: signupVerificationHandler(options),
    limit_increase_requested: limitIncreaseRequestedHandler(options),
    tenant_notice: tenantNoticeHandler(options),
    quote_request_extraction: quoteRequestExtractionHandler({
      llm: options.llm,
      fallbacks: options.metrics.agentTaskFallbacks,
    }),
    quote_explanation: quoteExplanationHandler({
      llm: options.llm,
      fallbacks: options.metrics.agentTaskFallbacks,
    }),
    dsr_fulfil: dsrFulfilHandler(options),
    workflow_event: workflowEventHandler(options),
    save_playbook: savePlaybookHandler(options),
    carrier_compliance_reminder: carrierComplianceReminderHandler(options),
  };
}
