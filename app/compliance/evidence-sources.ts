// What the compliance evidence (npm run evidence) and the alerting gauges read about data subject
// requests and pen-test findings: one query each, so the report and the alert never disagree.
// Both run as the read-only ops role (on the analytics replica where there is one) and read all
// tenants; neither returns a tenant or a subject.
import type pg from "pg";

/** Open data subject requests due within this many hours raise DataSubjectRequestDueSoon. */
export const DSR_DUE_SOON_HOURS = 48;
/** Open pen-test findings due within this many days raise PenTestFindingFixDueSoon. */
export const PEN_TEST_DUE_SOON_DAYS = 7;

/**
 * Completed requests and how many were completed by their due date (7 days after receipt); `rate` is
 * null when none was completed yet. `overdueOpen`: requests not yet completed or denied whose due
 * date has passed.
 */
export async function dsrOnTimeRate(
  pool: pg.Pool,
): Promise<{ completed: number; onTime: number; rate: number | null; overdueOpen: number }> {
  const { rows } = await pool.query<{ completed: number; on_time: number; overdue_open: number }>(
    `SELECT count(*) FILTER (WHERE status = 'completed')::int AS completed,
            count(*) FILTER (WHERE status = 'completed' AND completed_at <= due_at)::int AS on_time,
            count(*) FILTER (WHERE status IN ('received', 'verified', 'in_progress') AND due_at < now())::int AS overdue_open
       FROM dsr_requests`,
  );
  const { completed, on_time: onTime, overdue_open: overdueOpen } = rows[0]!;
  return { completed, onTime, rate: completed ? onTime / completed : null, overdueOpen };
}

/** Open findings, those past their fix date (found + 14 days) and those due within 7 days. */
export async function penTestFindingsAgainstSla(
  pool: pg.Pool,
): Promise<{ open: number; overdue: number; dueWithin7Days: number }> {
  const { rows } = await pool.query<{ open: number; overdue: number; due_soon: number }>(
    `SELECT count(*)::int AS open,
            count(*) FILTER (WHERE fix_due_on < current_date)::int AS overdue,
            count(*) FILTER (WHERE fix_due_on >= current_date AND fix_due_on < current_date + $1::int)::int AS due_soon
       FROM pen_test_findings WHERE status = 'open'`,
    [PEN_TEST_DUE_SOON_DAYS],
  );
  const { open, overdue, due_soon: dueWithin7Days } = rows[0]!;
  return { open, overdue, dueWithin7Days };
}

/** Open requests by how close their due date is: the dsr_requests_open gauge's labels. */
export async function openDsrRequestsByDue(
  pool: pg.Pool,
): Promise<{ overdue: number; dueSoon: number; later: number }> {
  const { rows } = await pool.query<{ overdue: number; due_soon: number; later: number }>(
    `SELECT count(*) FILTER (WHERE due_at < now())::int AS overdue,
            count(*) FILTER (WHERE due_at >= now() AND due_at < now() + make_interval(hours => $1))::int AS due_soon,
            count(*) FILTER (WHERE due_at >= now() + make_interval(hours => $1))::int AS later
       FROM dsr_requests WHERE status IN ('received', 'verified', 'in_progress')`,
    [DSR_DUE_SOON_HOURS],
  );
  const { overdue, due_soon: dueSoon, later } = rows[0]!;
  return { overdue, dueSoon, later };
}

/** Open findings by severity and how close their fix date is: the pen_test_findings_open gauge. */
export async function openPenTestFindings(
  pool: pg.Pool,
): Promise<{ severity: string; due: "overdue" | "due_soon" | "later"; findings: number }[]> {
  const { rows } = await pool.query<{
    severity: string;
    due: "overdue" | "due_soon" | "later";
    findings: number;
  }>(
    `SELECT severity,
            CASE WHEN fix_due_on < current_date THEN 'overdue'
                 WHEN fix_due_on < current_date + $1::int THEN 'due_soon' ELSE 'later' END AS due,
            count(*)::int AS findings
       FROM pen_test_findings WHERE status = 'open' GROUP BY 1, 2`,
    [PEN_TEST_DUE_SOON_DAYS],
  );
  return rows;
}
