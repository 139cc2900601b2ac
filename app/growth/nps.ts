// The NPS loop of the churn plan: ask "how likely are you to recommend us" (0-10) at two milestones,
// and turn every detractor into a save playbook for the account owner.
//
//   trial_day_21  21 days after the trial started (signup). Trials last 14 days, so this reaches
//                 every trialist a week after the trial ended, converted or not: the moment their
//                 reason to stay or leave is fresh.
//   paid_day_90   90 days after the tenant started paying (billing's trial_conversions row, or
//                 signup for a tenant that paid from the start), while it still pays.
//
// inviteNpsSurveys finds every tenant at a milestone in one set-based statement over all tenants and
// records one survey per tenant per milestone (unique), queueing its invitation email as a
// tenant_notice agent task in the same statement, so a survey never exists without its email and a
// re-run invites nobody twice. A milestone reached more than CATCH_UP_DAYS ago is not surveyed: the
// first deployment (or a job paused for weeks) does not survey every old tenant at once.
//
// answerNpsSurvey records the one answer in the tenant's transaction: the update is guarded on
// "not answered, not expired", so a second answer (even a concurrent one) changes nothing and is
// refused; a detractor's answer queues its save_playbook task in the same transaction.
import type pg from "pg";
import { z } from "zod";
import type { Db } from "../db/pool.ts";
import { Problem, notFound } from "../http/problem.ts";

export const NPS_MILESTONES = {
  trial_day_21: { days: 21, title: "21 days after your trial started" },
  paid_day_90: { days: 90, title: "your first 90 days on a paid plan" },
} as const;
export type NpsMilestone = keyof typeof NPS_MILESTONES;

/** How long an invitation can be answered. */
export const SURVEY_OPEN_DAYS = 30;
/** Milestones reached longer ago than this are not surveyed any more. */
export const CATCH_UP_DAYS = 14;
/** 0-6 detractor, 7-8 passive, 9-10 promoter (the NPS definition). */
export const DETRACTOR_MAX = 6;
export const PROMOTER_MIN = 9;

export interface NpsInvitation {
  surveyId: string;
  tenantId: string;
  slug: string;
  milestone: NpsMilestone;
}

/**
 * Invites every tenant that reached a milestone in the CATCH_UP_DAYS before `at` and was not invited
 * to it yet; returns the new invitations. Disabled tenants are not asked.
 */
export async function inviteNpsSurveys(operator: pg.Pool, at = new Date()): Promise<NpsInvitation[]> {
  const { rows } = await operator.query<{
    survey_id: string;
    tenant_id: string;
    slug: string;
    milestone: NpsMilestone;
  }>(
    `WITH reached AS (
       SELECT t.id AS tenant_id, m.milestone, m.reached_at,
              date_trunc('month', t.created_at AT TIME ZONE 'UTC')::date AS cohort
         FROM tenants t
         LEFT JOIN trial_conversions c ON c.tenant_id = t.id
        CROSS JOIN LATERAL (VALUES
              ('trial_day_21',
               CASE WHEN t.trial_ends_at IS NOT NULL THEN t.created_at + make_interval(days => $2) END),
              ('paid_day_90',
               CASE WHEN t.billing_status IN ('active', 'past_due')
                    THEN coalesce(c.converted_at, CASE WHEN t.trial_ends_at IS NULL THEN t.created_at END)
                         + make_interval(days => $3) END)
              ) AS m (milestone, reached_at)
        WHERE t.disabled_at IS NULL
          AND m.reached_at <= $1::timestamptz
          AND m.reached_at > $1::timestamptz - make_interval(days => $4)),
     invited AS (
       INSERT INTO nps_surveys (tenant_id, milestone, cohort, reached_at, invited_at, expires_at)
       SELECT tenant_id, milestone, cohort, reached_at, $1, $1::timestamptz + make_interval(days => $5)
         FROM reached
       ON CONFLICT (tenant_id, milestone) DO NOTHING
       RETURNING id, tenant_id, milestone, expires_at),
     emailed AS (
       INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
       SELECT i.tenant_id, 'tenant_notice',
              jsonb_build_object('notice', 'nps_survey', 'surveyId', i.id, 'milestone', i.milestone,
                                 'expiresAt', i.expires_at),
              'nps-survey:' || i.id
         FROM invited i
       ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING tenant_id)
     SELECT i.id AS survey_id, i.tenant_id, t.slug, i.milestone
       FROM invited i JOIN tenants t ON t.id = i.tenant_id
      ORDER BY t.slug, i.milestone`,
    [at, NPS_MILESTONES.trial_day_21.days, NPS_MILESTONES.paid_day_90.days, CATCH_UP_DAYS, SURVEY_OPEN_DAYS],
  );
  return rows.map((r) => ({
    surveyId: r.survey_id,
    tenantId: r.tenant_id,
    slug: r.slug,
    milestone: r.milestone,
  }));
}

export const npsAnswerBody = z.strictObject({
  score: z
    .number("must be a number from 0 to 10")
    .int("must be a whole number from 0 to 10")
    .min(0, "must be 0 (not at all likely) to 10 (extremely likely)")
    .max(10, "must be 0 (not at all likely) to 10 (extremely likely)"),
  comment: z.string().trim().max(2000, "must be at most 2,000 characters").optional(),
});
export type NpsAnswerBody = z.infer<typeof npsAnswerBody>;

export const npsSurveyView = z.strictObject({
  id: z.guid(),
  milestone: z.enum(Object.keys(NPS_MILESTONES) as [NpsMilestone, ...NpsMilestone[]]),
  invitedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  state: z.enum(["open", "answered", "expired"]),
  score: z.int().nullable(),
  comment: z.string().nullable(),
  respondedAt: z.iso.datetime().nullable(),
  /** Set on a detractor's answer: the save playbook was opened for the account owner. */
  savePlaybook: z.boolean(),
});
export type NpsSurveyView = z.infer<typeof npsSurveyView>;

interface SurveyRow {
  id: string;
  tenant_id: string;
  milestone: NpsMilestone;
  invited_at: Date;
  expires_at: Date;
  score: number | null;
  comment: string | null;
  responded_at: Date | null;
}
const COLUMNS = "id, tenant_id, milestone, invited_at, expires_at, score, comment, responded_at";

export function npsCategory(score: number): "detractor" | "passive" | "promoter" {
  return score <= DETRACTOR_MAX ? "detractor" : score >= PROMOTER_MIN ? "promoter" : "passive";
}

function toView(row: SurveyRow, now: Date): NpsSurveyView {
  return {
    id: row.id,
    milestone: row.milestone,
    invitedAt: row.invited_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
    state: row.responded_at ? "answered" : row.expires_at <= now ? "expired" : "open",
    score: row.score,
    comment: row.comment,
    respondedAt: row.responded_at?.toISOString() ?? null,
    savePlaybook: row.score !== null && npsCategory(row.score) === "detractor",
  };
}

/** The tenant's surveys, newest first (row security keeps it to the caller's tenant). */
export async function listNpsSurveys(db: Db, now = new Date()): Promise<NpsSurveyView[]> {
  const { rows } = await db.query<SurveyRow>(
    `SELECT ${COLUMNS} FROM nps_surveys ORDER BY invited_at DESC, milestone`,
  );
  return rows.map((r) => toView(r, now));
}

/**
 * Records the tenant's one answer to survey `id`. Another tenant's survey is not found (row
 * security); an answered or expired one is refused with its own problem and left as it was.
 */
export async function answerNpsSurvey(
  db: Db,
  id: string,
  body: NpsAnswerBody,
  now = new Date(),
): Promise<NpsSurveyView> {
  const comment = body.comment ? body.comment : null;
  const { rows } = await db.query<SurveyRow>(
    `UPDATE nps_surveys SET score = $2, comment = $3, responded_at = $4
      WHERE id = $1 AND responded_at IS NULL AND expires_at > $4
      RETURNING ${COLUMNS}`,
    [id, body.score, comment, now],
  );
  const answered = rows[0];
  if (answered) {
    if (npsCategory(body.score) === "detractor") await queueSavePlaybook(db, answered);
    return toView(answered, now);
  }
  const { rows: existing } = await db.query<SurveyRow>(`SELECT ${COLUMNS} FROM nps_surveys WHERE id = $1`, [
    id,
  ]);
  const survey = existing[0];
  if (!survey) throw notFound(`NPS survey ${id}`);
  if (survey.responded_at)
    throw new Problem({
      type: "nps-survey-already-answered",
      title: "Survey already answered",
      status: 409,
      detail: `Survey ${id} was answered on ${survey.responded_at.toISOString()} with ${survey.score}; each survey counts one answer. To tell us more, open a support ticket (POST /v1/support/tickets).`,
      surveyId: id,
    });
  throw new Problem({
    type: "nps-survey-expired",
    title: "Survey expired",
    status: 410,
    detail: `Survey ${id} closed on ${survey.expires_at.toISOString()} and no longer takes answers; the next milestone brings a new one, and a support ticket (POST /v1/support/tickets) reaches us any time.`,
    surveyId: id,
  });
}

async function queueSavePlaybook(db: Db, survey: SurveyRow): Promise<void> {
  await db.query(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
     VALUES ($1, 'save_playbook', $2, $3) ON CONFLICT (dedupe_key) DO NOTHING`,
    [
      survey.tenant_id,
      JSON.stringify({
        surveyId: survey.id,
        milestone: survey.milestone,
        score: survey.score,
        comment: survey.comment,
        respondedAt: survey.responded_at?.toISOString(),
      }),
      `save-playbook:${survey.id}`,
    ],
  );
}

/** NPS of a set of scores: % promoters - % detractors, -100 to 100; null without answers. */
export function netPromoterScore(scores: readonly number[]): number | null {
  if (!scores.length) return null;
  const promoters = scores.filter((s) => npsCategory(s) === "promoter").length;
  const detractors = scores.filter((s) => npsCategory(s) === "detractor").length;
  return (100 * (promoters - detractors)) / scores.length;
}
