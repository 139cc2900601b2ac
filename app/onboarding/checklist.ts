// The first-run checklist: send a quote, invite a partner, book a first load. Each step's done time is
// the tenant's first such row, read from the rows themselves rather than recorded beside them, so the
// checklist can never disagree with what the tenant did (and the quote path writes nothing extra).
// The one nudge: a tenant that has not quoted 24 h after signup gets a single first_quote_nudge email
// (a tenant_notice agent task); its dedupe key makes a second one impossible, however often the
// scheduled job runs or however many regions' jobs race.
import type pg from "pg";
import { z } from "zod";
import type { Db } from "../db/pool.ts";

export const ONBOARDING_STEPS = [
  { step: "send_quote", title: "Send a quote" },
  { step: "invite_partner", title: "Invite a partner from the carrier directory" },
  { step: "book_load", title: "Book a first load" },
] as const;

/** How long after signup a tenant without a quote is nudged. */
export const NUDGE_AFTER_HOURS = 24;
/**
 * Tenants older than this are not nudged: a nudge weeks after signup reads as spam, and the first run
 * of the job must not mail every long-standing tenant that only ever used bulk rating or the directory.
 */
export const NUDGE_WITHIN_DAYS = 30;

export const onboardingView = z.object({
  signedUpAt: z.iso.datetime(),
  complete: z.boolean(),
  steps: z.array(
    z.object({
      step: z.enum(ONBOARDING_STEPS.map((s) => s.step) as [string, ...string[]]),
      title: z.string(),
      done: z.boolean(),
      doneAt: z.iso.datetime().nullable(),
    }),
  ),
  /** Seconds from signup to the first quote; null until the first quote. */
  timeToFirstQuoteSeconds: z.number().int().nullable(),
  /** When the one reminder to send a first quote was queued, if it was. */
  nudgedAt: z.iso.datetime().nullable(),
});
export type OnboardingView = z.infer<typeof onboardingView>;

/** The checklist of the tenant in context. */
export async function readChecklist(db: Db): Promise<OnboardingView | undefined> {
  const { rows } = await db.query<{
    id: string;
    created_at: Date;
    send_quote: Date | null;
    invite_partner: Date | null;
    book_load: Date | null;
    nudged_at: Date | null;
  }>(
    `SELECT t.id, t.created_at,
            (SELECT min(q.created_at) FROM quotes q WHERE q.tenant_id = t.id) AS send_quote,
            (SELECT min(i.created_at) FROM carrier_invites i WHERE i.tenant_id = t.id) AS invite_partner,
            (SELECT min(b.created_at) FROM bookings b WHERE b.tenant_id = t.id) AS book_load,
            (SELECT a.created_at FROM agent_tasks a WHERE a.dedupe_key = 'onboarding-nudge:' || t.id) AS nudged_at
       FROM tenants t WHERE t.id = current_tenant_id()`,
  );
  const row = rows[0];
  if (!row) return undefined;
  const steps = ONBOARDING_STEPS.map(({ step, title }) => {
    const at = row[step];
    return { step, title, done: at !== null, doneAt: at?.toISOString() ?? null };
  });
  return {
    signedUpAt: row.created_at.toISOString(),
    complete: steps.every((s) => s.done),
    steps,
    timeToFirstQuoteSeconds: row.send_quote
      ? Math.max(0, Math.round((row.send_quote.getTime() - row.created_at.getTime()) / 1000))
      : null,
    nudgedAt: row.nudged_at?.toISOString() ?? null,
  };
}

/**
 * Queues the first-quote nudge for every tenant due one (as freight_operator, across tenants).
 * Returns the tenants nudged now; a tenant nudged before is never returned again.
 */
export async function queueFirstQuoteNudges(
  operator: pg.Pool,
  at = new Date(),
): Promise<{ tenantId: string; slug: string }[]> {
  const { rows } = await operator.query<{ tenant_id: string; slug: string }>(
    `WITH queued AS (
       INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
       SELECT t.id, 'tenant_notice',
              jsonb_build_object('notice', 'first_quote_nudge', 'signedUpAt', t.created_at),
              'onboarding-nudge:' || t.id
         FROM tenants t
        WHERE t.disabled_at IS NULL
          AND t.created_at <= $1::timestamptz - make_interval(hours => $2)
          AND t.created_at > $1::timestamptz - make_interval(days => $3)
          AND NOT EXISTS (SELECT 1 FROM quotes q WHERE q.tenant_id = t.id)
       ON CONFLICT (dedupe_key) DO NOTHING
       RETURNING tenant_id)
     SELECT q.tenant_id, t.slug FROM queued q JOIN tenants t ON t.id = q.tenant_id ORDER BY t.slug`,
    [at, NUDGE_AFTER_HOURS, NUDGE_WITHIN_DAYS],
  );
  return rows.map((r) => ({ tenantId: r.tenant_id, slug: r.slug }));
}
