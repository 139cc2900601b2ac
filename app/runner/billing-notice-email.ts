// The email a tenant's billing contact receives for each notice billing queues (app/billing/webhook.ts):
// payment_failed (one per invoice and payment attempt) and trial_will_end. Plain text is the message;
// the HTML part is the same paragraphs, escaped, with links made clickable. A payload this module
// cannot render is refused (NoticePayloadError), never sent half-filled.

export const NOTICE_KINDS = ["payment_failed", "trial_will_end"] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

export class NoticePayloadError extends Error {}

export interface NoticeRecipient {
  tenantName: string;
  tenantSlug: string;
  /** When a past-due tenant moves to the free plan (billing_accounts.grace_ends_at), if it is past due. */
  graceEndsAt: Date | null;
}

export interface RenderedNotice {
  notice: string;
  subject: string;
  text: string;
  html: string;
}

export const day = (date: Date) =>
  date.toLocaleDateString("en-US", { year: "numeric", month: "long", day: "numeric", timeZone: "UTC" });

function money(cents: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-US", { style: "currency", currency: currency.toUpperCase() }).format(
      cents / 100,
    );
  } catch {
    return `${(cents / 100).toFixed(2)} ${currency.toUpperCase()}`;
  }
}

export function dateField(payload: Record<string, unknown>, field: string): Date | null {
  const value = payload[field];
  if (value === null || value === undefined) return null;
  const date = typeof value === "string" ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime()))
    throw new NoticePayloadError(`${field} must be an ISO timestamp or null; got ${JSON.stringify(value)}`);
  return date;
}

export function renderBillingNotice(payload: Record<string, unknown>, to: NoticeRecipient): RenderedNotice {
  const notice = payload.notice;
  if (!NOTICE_KINDS.includes(notice as NoticeKind))
    throw new NoticePayloadError(
      `billing_notice payload names notice ${JSON.stringify(notice)}; this runner renders ${NOTICE_KINDS.join(", ")}`,
    );
  const paragraphs = notice === "payment_failed" ? paymentFailed(payload, to) : trialWillEnd(payload);
  return composeNotice(notice as NoticeKind, paragraphs, to, "Freight billing");
}

/** The message around a notice's paragraphs: greeting, body, signature; text and escaped HTML alike. */
export function composeNotice(
  notice: string,
  paragraphs: { subject: string; body: string[] },
  to: Pick<NoticeRecipient, "tenantName" | "tenantSlug">,
  signature: string,
): RenderedNotice {
  const greeting = `Hello ${to.tenantName},`;
  const closing = `${signature} (account ${to.tenantSlug})`;
  const all = [greeting, ...paragraphs.body, closing];
  return {
    notice,
    subject: paragraphs.subject,
    text: `${all.join("\n\n")}\n`,
    html: `<!doctype html><html><body>${all.map((p) => `<p>${linkify(escapeHtml(p))}</p>`).join("")}</body></html>`,
  };
}

function paymentFailed(p: Record<string, unknown>, to: NoticeRecipient): { subject: string; body: string[] } {
  if (typeof p.invoice !== "string" || !Number.isInteger(p.amountDueCents) || typeof p.currency !== "string")
    throw new NoticePayloadError(
      `payment_failed needs invoice, amountDueCents and currency; got ${JSON.stringify(p).slice(0, 200)}`,
    );
  const amount = money(p.amountDueCents as number, p.currency);
  const next = dateField(p, "nextPaymentAttemptAt");
  const body = [
    `We could not collect the payment of ${amount} for invoice ${p.invoice}` +
      (Number.isInteger(p.attempt) ? ` (attempt ${String(p.attempt)}).` : "."),
    next
      ? `We will try again on ${day(next)}. To avoid another failed attempt, update your payment method or pay the invoice now.`
      : "We will not retry this charge automatically. Please update your payment method or pay the invoice now.",
  ];
  if (typeof p.hostedInvoiceUrl === "string") body.push(`Pay the invoice: ${p.hostedInvoiceUrl}`);
  if (to.graceEndsAt)
    body.push(
      `Your plan stays active until ${day(to.graceEndsAt)}. If the invoice is still unpaid then, your account moves to the free plan and its limits apply.`,
    );
  return { subject: `Payment failed: invoice ${p.invoice} (${amount})`, body };
}

function trialWillEnd(p: Record<string, unknown>): { subject: string; body: string[] } {
  const ends = dateField(p, "trialEndsAt");
  return {
    subject: ends ? `Your Freight trial ends on ${day(ends)}` : "Your Freight trial ends soon",
    body: [
      ends ? `Your trial ends on ${day(ends)}.` : "Your trial ends soon.",
      "To keep your plan without interruption, make sure a payment method is on file: open the billing portal " +
        "(POST /v1/billing/portal-sessions with your API key) or ask your account team.",
    ],
  };
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/** Links in already-escaped text: an https URL becomes an anchor to itself. */
export function linkify(escaped: string): string {
  return escaped.replace(/https:\/\/[^\s<>"]+/g, (url) => `<a href="${url}">${url}</a>`);
}
