// billing_notice agent tasks: an email to the tenant's billing contact (billing_accounts.billing_email,
// which the Stripe webhook records from the customer's email) through SMTP (SMTP_URL). A passing
// failure (connection, timeout, 4xx) is retried with the runner's backoff; a refusal for good (5xx to
// the recipient or the message), no contact on record, no SMTP configured or a notice the runner cannot
// render fail the task at once. Every notice that will never arrive, including one whose retries ran
// out, queues a billing_alert, so a person hears of it. The Message-ID is derived from the task id:
// a runner killed after the server accepted the mail sends it again with the same Message-ID, which
// mail systems use to drop the duplicate.
import { createTransport, type Transporter } from "nodemailer";
import type pg from "pg";
import { withTenant } from "../db/pool.ts";
import { fixedSecret, type SecretValue } from "../secret-file.ts";
import type { ClaimedAgentTask } from "../jobs/queue.ts";
import { queueBillingAlert } from "./billing-alert.ts";
import {
  NoticePayloadError,
  renderBillingNotice,
  type NoticeRecipient,
  type RenderedNotice,
} from "./billing-notice-email.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

export interface BillingMail {
  /** The transport for the SMTP URL as it is now (see createBillingMail). */
  readonly transport: Transporter;
  from: string;
  /** The domain of From: the right-hand side of every Message-ID we generate. */
  domain: string;
}

/**
 * The mail service on `smtpUrl`. Given the secret's file (app/env.ts secretValue), the transport is
 * rebuilt when the file's URL changes, so a rotated SMTP password is used from the next notice on.
 */
export function createBillingMail(smtpUrl: string | SecretValue, from: string): BillingMail {
  const domain = /@([^>\s]+)>?\s*$/.exec(from)?.[1];
  if (!domain) throw new Error(`BILLING_EMAIL_FROM ${JSON.stringify(from)} has no domain`);
  const source = typeof smtpUrl === "string" ? fixedSecret(smtpUrl) : smtpUrl;
  // Bounded waits: the attempt's own timeout (RUNNER_AGENT_TIMEOUT_MS) must not be the only one.
  const open = (url: string) =>
    createTransport({ url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 });
  let url = source.read();
  let transport = open(url);
  return {
    from,
    domain,
    get transport() {
      const now = source.read();
      if (now !== url) {
        transport.close();
        url = now;
        transport = open(now);
      }
      return transport;
    },
  };
}

interface Contact {
  name: string;
  slug: string;
  billing_email: string | null;
  grace_ends_at: Date | null;
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
}

/** The server refused this recipient or message for good; a connection or login problem is not that. */
function refusedForGood(error: SmtpError): boolean {
  const refused = error.permanent ?? (error.responseCode !== undefined && error.responseCode >= 500);
  return refused && (error.code === "EENVELOPE" || error.code === "EMESSAGE");
}

export function billingNoticeHandler(options: { pool: pg.Pool; mail?: BillingMail }): AgentTaskHandler {
  return customerEmailHandler(options, { render: renderBillingNotice, messageIdPrefix: "billing-notice" });
}

/**
 * An agent task that emails the tenant's contact: billing notices, and the tenant notices
 * (tenant-notice.ts) that go the same way, with the same retries, refusals and alert on failure.
 */
export function customerEmailHandler(
  options: { pool: pg.Pool; mail?: BillingMail },
  notices: {
    render: (payload: Record<string, unknown>, to: NoticeRecipient) => RenderedNotice;
    /** Left of the task id in the Message-ID, e.g. billing-notice. */
    messageIdPrefix: string;
  },
): AgentTaskHandler {
  const { pool, mail } = options;
  return async (task, { signal, log }) => {
    const notice = String(task.payload.notice ?? "(none)");
    const undeliverable = async (reason: string, extra: Record<string, unknown> = {}) => {
      // One alert per claim that gives up: a notice ops requeue and that fails again alerts again.
      const dedupeKey = `billing-notice-undeliverable:${task.id}:${task.leaseToken}`;
      await queueBillingAlert(pool, task.tenantId, dedupeKey, {
        alert: "notice_undeliverable",
        notice,
        noticeTask: task.id,
        reason,
        noticePayload: task.payload,
        ...extra,
        action:
          "Tell the customer another way; fix the cause (billing contact in Stripe, SMTP_URL), then requeue: " +
          `UPDATE agent_tasks SET status = 'queued', attempts = 0, run_after = now() WHERE id = '${task.id}'`,
      });
    };
    const contact = await readContact(pool, task);
    if (!contact) throw new PermanentTaskError(`tenant ${task.tenantId} does not exist`);
    let rendered;
    try {
      rendered = notices.render(task.payload, {
        tenantName: contact.name,
        tenantSlug: contact.slug,
        graceEndsAt: contact.grace_ends_at,
      });
    } catch (error) {
      if (!(error instanceof NoticePayloadError)) throw error;
      await undeliverable(error.message);
      throw new PermanentTaskError(error.message);
    }
    if (!mail) {
      const reason =
        "SMTP_URL is not set on the runner, so emails to tenants cannot be sent; set SMTP_URL_FILE (SMTP_URL in local development) and BILLING_EMAIL_FROM";
      await undeliverable(reason);
      throw new PermanentTaskError(reason);
    }
    if (!contact.billing_email) {
      const reason =
        `tenant ${contact.slug} has no billing contact on record (billing_accounts.billing_email); ` +
        "it is recorded from the Stripe customer's email at checkout and on each invoice";
      await undeliverable(reason);
      throw new PermanentTaskError(reason);
    }
    const to = contact.billing_email;
    try {
      const sending = mail.transport.sendMail({
        from: mail.from,
        to,
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        messageId: `<${notices.messageIdPrefix}.${task.id}@${mail.domain}>`,
        headers: { "X-Freight-Notice": rendered.notice, "X-Freight-Tenant": contact.slug },
      });
      const info = (await untilAborted(sending, signal)) as { messageId: string; response: string };
      log.info(
        { tenant: contact.slug, notice: rendered.notice, messageId: info.messageId, response: info.response },
        `${notices.messageIdPrefix} sent`,
      );
    } catch (error) {
      if (signal.aborted) throw error;
      const smtp = error as SmtpError;
      const said = smtp.response ?? smtp.message;
      if (refusedForGood(smtp)) {
        const reason = `the mail server refused the ${rendered.notice} notice to ${to} for good: ${said}`;
        await undeliverable(reason, { to });
        throw new PermanentTaskError(reason);
      }
      const reason = `sending the ${rendered.notice} notice failed (${smtp.code ?? "error"}): ${said}`;
      if (task.attempts >= task.maxAttempts)
        await undeliverable(`gave up after ${task.attempts} attempts: ${reason}`, { to });
      throw new Error(reason, { cause: error });
    }
  };
}

async function readContact(pool: pg.Pool, task: ClaimedAgentTask): Promise<Contact | undefined> {
  return withTenant(pool, task.tenantId, async (db) => {
    const { rows } = await db.query<Contact>(
      `SELECT t.name, t.slug, a.billing_email, a.grace_ends_at
         FROM tenants t LEFT JOIN billing_accounts a ON a.tenant_id = t.id
        WHERE t.id = current_tenant_id()`,
    );
    return rows[0];
  });
}

/** `work`, or a rejection as soon as `signal` aborts (the send itself cannot be cancelled). */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  work.catch(() => undefined);
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}
