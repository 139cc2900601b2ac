// signup_verification agent tasks (queued by POST /v1/signup and the resend route): the email with the
// link that makes a signup's first API key work. Sent through the runner's mail service (SMTP_URL),
// with billing notices' failure handling: a passing failure is retried with the runner's backoff, a
// refusal for good or no mail service fails the task, and the Message-ID is derived from the task id so
// a resend after a crash is dropped as a duplicate. The link is a credential until used: it is never
// logged, only the tenant and the Message-ID are.
import type pg from "pg";
import { withTenant } from "../db/pool.ts";
import { escapeHtml, linkify } from "./billing-notice-email.ts";
import { untilAborted, type BillingMail } from "./billing-notice.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";

export function renderVerificationEmail(
  payload: Record<string, unknown>,
  to: { name: string; slug: string },
): { subject: string; text: string; html: string } {
  const url = payload.verifyUrl;
  const expiresAt = typeof payload.expiresAt === "string" ? new Date(payload.expiresAt) : undefined;
  if (
    typeof url !== "string" ||
    !/^https?:\/\/\S+\/v1\/signup\/verify\?token=ev_/.test(url) ||
    !expiresAt ||
    Number.isNaN(expiresAt.getTime())
  )
    throw new PermanentTaskError("signup_verification payload needs a verifyUrl and an expiresAt timestamp");
  const paragraphs = [
    `Hello ${to.name},`,
    "Confirm this email address to start your 14-day Freight trial. Your API key works as soon as you open this link:",
    url,
    `The link works once, until ${expiresAt.toUTCString()}. If you did not sign up, ignore this email: nothing happens without it.`,
    `Freight (account ${to.slug})`,
  ];
  return {
    subject: "Confirm your email to start your Freight trial",
    text: `${paragraphs.join("\n\n")}\n`,
    html: `<!doctype html><html><body>${paragraphs.map((p) => `<p>${linkify(escapeHtml(p))}</p>`).join("")}</body></html>`,
  };
}

export function signupVerificationHandler(options: { pool: pg.Pool; mail?: BillingMail }): AgentTaskHandler {
  const { pool, mail } = options;
  return async (task, { signal, log }) => {
    const signup = await withTenant(pool, task.tenantId, async (db) => {
      const { rows } = await db.query<{ name: string; slug: string; email: string }>(
        `SELECT t.name, t.slug, s.email FROM signups s JOIN tenants t ON t.id = s.tenant_id
          WHERE s.tenant_id = current_tenant_id()`,
      );
      return rows[0];
    });
    if (!signup) throw new PermanentTaskError(`tenant ${task.tenantId} has no signup to verify`);
    const rendered = renderVerificationEmail(task.payload, signup);
    if (!mail)
      throw new PermanentTaskError(
        "SMTP_URL is not set on the runner, so signup verification emails cannot be sent; set SMTP_URL and BILLING_EMAIL_FROM",
      );
    try {
      const info = (await untilAborted(
        mail.transport.sendMail({
          from: mail.from,
          to: signup.email,
          subject: rendered.subject,
          text: rendered.text,
          html: rendered.html,
          messageId: `<signup-verification.${task.id}@${mail.domain}>`,
          headers: { "X-Freight-Notice": "signup_verification", "X-Freight-Tenant": signup.slug },
        }),
        signal,
      )) as { messageId: string };
      log.info({ tenant: signup.slug, messageId: info.messageId }, "signup verification email sent");
    } catch (error) {
      if (signal.aborted) throw error;
      const smtp = error as Error & { responseCode?: number; code?: string };
      if (smtp.responseCode !== undefined && smtp.responseCode >= 500)
        throw new PermanentTaskError(
          `the mail server refused the verification email for good: ${smtp.message}`,
        );
      throw new Error(`sending the verification email failed (${smtp.code ?? "error"}): ${smtp.message}`, {
        cause: error,
      });
    }
  };
}
