// carrier_compliance_reminder agent tasks: a carrier's compliance document expires in 30, 7 or 1
// days (app/growth/carrier-compliance.ts). The carrier's compliance contact (given with the
// document) gets one email through the runner's SMTP service; the task id makes the Message-ID, so a
// retried send is recognisable as the same message.
import {
  composeNotice,
  day,
  dateField,
  NoticePayloadError,
  type RenderedNotice,
} from "./billing-notice-email.ts";
import { untilAborted, type BillingMail } from "./billing-notice.ts";
import { PermanentTaskError, type AgentTaskHandler } from "./runner.ts";
import { DOCUMENT_NAMES, type DocumentKind } from "../growth/carrier-compliance.ts";

export function renderCarrierReminder(p: Record<string, unknown>): { to: string; rendered: RenderedNotice } {
  const expires = dateField(p, "expiresOn");
  if (
    typeof p.to !== "string" ||
    typeof p.carrierName !== "string" ||
    !expires ||
    !Number.isInteger(p.daysBefore)
  )
    throw new NoticePayloadError(
      `carrier_compliance_reminder needs to, carrierName, expiresOn and daysBefore; got ${JSON.stringify(p).slice(0, 200)}`,
    );
  const document = DOCUMENT_NAMES[p.document as DocumentKind] ?? String(p.document);
  const days = p.daysBefore === 1 ? "tomorrow" : `in ${String(p.daysBefore)} days`;
  const rendered = composeNotice(
    "carrier_compliance_reminder",
    {
      subject: `Your ${document} expires ${days}`,
      body: [
        `The ${document} on file for ${p.carrierName} (MC ${String(p.mcNumber ?? "?")}) expires on ${day(expires)}.`,
        "Send the renewed document to the shippers and brokers you work with before then: once it lapses, they see you as non-compliant in the Freight directory and are told so.",
      ],
    },
    { tenantName: p.carrierName, tenantSlug: `MC ${String(p.mcNumber ?? "?")}` },
    "The Freight directory",
  );
  return { to: p.to, rendered };
}

export function carrierComplianceReminderHandler(options: { mail?: BillingMail }): AgentTaskHandler {
  return async (task, { signal, log }) => {
    let message;
    try {
      message = renderCarrierReminder(task.payload);
    } catch (error) {
      if (error instanceof NoticePayloadError) throw new PermanentTaskError(error.message);
      throw error;
    }
    if (!options.mail)
      throw new PermanentTaskError(
        "SMTP_URL is not set on the runner, so carrier reminders cannot be sent; set SMTP_URL_FILE and BILLING_EMAIL_FROM",
      );
    const { mail } = options;
    const sending = mail.transport.sendMail({
      from: mail.from,
      to: message.to,
      subject: message.rendered.subject,
      text: message.rendered.text,
      html: message.rendered.html,
      messageId: `<carrier-reminder.${task.id}@${mail.domain}>`,
      headers: { "X-Freight-Notice": message.rendered.notice },
    });
    await untilAborted(sending, signal);
    log.info({ notice: message.rendered.notice, carrier: task.payload.carrierId }, "carrier reminder sent");
  };
}
