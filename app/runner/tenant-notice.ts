// tenant_notice agent tasks: emails about the tenant's account that are not billing's, sent to the
// same contact through the same SMTP path (customerEmailHandler in billing-notice.ts):
//   limit_increase_granted / limit_increase_declined  ops decided a request (npm run limits)
//   first_quote_nudge                                 24 h after signup without a quote (onboarding job)
//   nps_survey                                        a milestone's NPS survey (app/growth/nps.ts)
//   carrier_non_compliant                             a carrier the tenant onboarded lost a compliance
//                                                     document (app/growth/carrier-compliance.ts)
import type pg from "pg";
import {
  composeNotice,
  day,
  dateField,
  NoticePayloadError,
  type NoticeRecipient,
  type RenderedNotice,
} from "./billing-notice-email.ts";
import { customerEmailHandler, type BillingMail } from "./billing-notice.ts";
import type { AgentTaskHandler } from "./runner.ts";

export const TENANT_NOTICE_KINDS = [
  "limit_increase_granted",
  "limit_increase_declined",
  "first_quote_nudge",
  "nps_survey",
  "carrier_non_compliant",
] as const;

const units = (n: unknown) => (typeof n === "number" ? n.toLocaleString("en-US") : "?");
const METER_NAMES: Record<string, string> = {
  quotes: "quotes",
  bulk_jobs: "bulk rating jobs",
  directory_invites: "directory invites",
};

function limitDecision(p: Record<string, unknown>): { subject: string; body: string[] } {
  if (typeof p.requestId !== "string" || typeof p.meter !== "string" || !Number.isInteger(p.requestedLimit))
    throw new NoticePayloadError(
      `${String(p.notice)} needs requestId, meter and requestedLimit; got ${JSON.stringify(p).slice(0, 200)}`,
    );
  const meter = METER_NAMES[p.meter] ?? p.meter;
  const status = `GET /v1/limit-increase-requests/${p.requestId}`;
  if (p.notice === "limit_increase_granted") {
    if (!Number.isInteger(p.included) || !Number.isInteger(p.hardCeiling))
      throw new NoticePayloadError(`limit_increase_granted needs included and hardCeiling`);
    return {
      subject: `Your ${meter} limit is now ${units(p.included)}`,
      body: [
        `We granted your request for more ${meter}: ${units(p.included)} are now included per period ` +
          `(you asked for ${units(p.requestedLimit)}), with usage allowed up to ${units(p.hardCeiling)}.`,
        "The new limit applies within a minute; GET /v1/usage shows it.",
        ...(typeof p.reason === "string" && p.reason ? [`Note from our team: ${p.reason}`] : []),
        `Request ${p.requestId}: ${status}`,
      ],
    };
  }
  if (typeof p.reason !== "string" || !p.reason)
    throw new NoticePayloadError("limit_increase_declined needs the reason it was declined");
  return {
    subject: `Your request for more ${meter} was declined`,
    body: [
      `We could not grant your request for ${units(p.requestedLimit)} ${meter} per period.`,
      `Reason: ${p.reason}`,
      "A larger plan includes more (POST /v1/billing/checkout-sessions), or reply to this email to talk it through.",
      `Request ${p.requestId}: ${status}`,
    ],
  };
}

function firstQuoteNudge(p: Record<string, unknown>): { subject: string; body: string[] } {
  const since = dateField(p, "signedUpAt");
  return {
    subject: "Send your first freight quote",
    body: [
      since
        ? `You signed up on ${day(since)} and have not sent a quote yet.`
        : "You have not sent a quote yet.",
      "A spot quote takes one request: POST /v1/quotes with an origin, destination, equipment, weight and pickup date. " +
        "Then invite a carrier partner and book your first load; GET /v1/onboarding shows what is left.",
    ],
  };
}

const NPS_MILESTONE_WORDS: Record<string, string> = {
  trial_day_21: "Three weeks after you started your trial",
  paid_day_90: "You have been on a paid plan for 90 days",
};

function npsSurvey(p: Record<string, unknown>): { subject: string; body: string[] } {
  const closes = dateField(p, "expiresAt");
  if (typeof p.surveyId !== "string" || !closes)
    throw new NoticePayloadError(
      `nps_survey needs surveyId and expiresAt; got ${JSON.stringify(p).slice(0, 200)}`,
    );
  return {
    subject: "How likely are you to recommend Freight?",
    body: [
      `${NPS_MILESTONE_WORDS[String(p.milestone)] ?? "It has been a while"}: on a scale from 0 (not at all likely) to 10 (extremely likely), how likely are you to recommend us to a colleague?`,
      `Answer with one request: POST /v1/nps/surveys/${p.surveyId}/response with {"score": 0-10, "comment": "what would make it a 10"}. ` +
        `The survey is open until ${day(closes)}.`,
    ],
  };
}

function carrierNonCompliant(p: Record<string, unknown>): { subject: string; body: string[] } {
  if (typeof p.carrierName !== "string" || !Array.isArray(p.problems))
    throw new NoticePayloadError(
      `carrier_non_compliant needs carrierName and problems; got ${JSON.stringify(p).slice(0, 200)}`,
    );
  return {
    subject: `${p.carrierName} is no longer compliant`,
    body: [
      `${p.carrierName} (MC ${String(p.mcNumber ?? "?")}), a carrier you onboarded, is missing current compliance documents: ${(p.problems as unknown[]).map(String).join("; ")}.`,
      `Check before tendering loads to them: GET /v1/directory/carriers/${String(p.carrierId)}/scorecard. We have reminded the carrier.`,
    ],
  };
}

const RENDERERS: Record<
  (typeof TENANT_NOTICE_KINDS)[number],
  (p: Record<string, unknown>) => { subject: string; body: string[] }
> = {
  limit_increase_granted: limitDecision,
  limit_increase_declined: limitDecision,
  first_quote_nudge: firstQuoteNudge,
  nps_survey: npsSurvey,
  carrier_non_compliant: carrierNonCompliant,
};

export function renderTenantNotice(payload: Record<string, unknown>, to: NoticeRecipient): RenderedNotice {
  const notice = payload.notice;
  if (!TENANT_NOTICE_KINDS.includes(notice as (typeof TENANT_NOTICE_KINDS)[number]))
    throw new NoticePayloadError(
      `tenant_notice payload names notice ${JSON.stringify(notice)}; this runner renders ${TENANT_NOTICE_KINDS.join(", ")}`,
    );
  const paragraphs = RENDERERS[notice as (typeof TENANT_NOTICE_KINDS)[number]](payload);
  return composeNotice(notice as string, paragraphs, to, "The Freight team");
}

export function tenantNoticeHandler(options: { pool: pg.Pool; mail?: BillingMail }): AgentTaskHandler {
  return customerEmailHandler(options, { render: renderTenantNotice, messageIdPrefix: "tenant-notice" });
}
