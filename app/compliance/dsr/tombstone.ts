// The API's answer when the database refuses to record an erased person again. The tombstone trigger
// (dsr_refuse_erased_subject, migration 0017) guards every table an end user's address or id arrives
// in, whoever writes; this turns its refusal into a 409 problem instead of a 500, wherever a route
// met it. The trigger's message carries the erasure's date and request, so the answer can name them.
import { Problem } from "../../http/problem.ts";

/** The constraint name the trigger raises its check_violation under. */
export const TOMBSTONE_CONSTRAINT = "dsr_tombstone";

const REFUSAL = /erased on (\d{4}-\d{2}-\d{2}) \(data subject request ([0-9a-f-]{36})\)/;

/** The problem for a tombstone refusal, or undefined when `error` is something else. */
export function erasedSubjectProblem(error: unknown): Problem | undefined {
  const db = error as { code?: unknown; constraint?: unknown; message?: unknown };
  if (db?.code !== "23514" || db.constraint !== TOMBSTONE_CONSTRAINT) return undefined;
  const [, erasedOn, dataRequestId] = REFUSAL.exec(String(db.message)) ?? [];
  return new Problem({
    type: "subject-erased-not-reimported",
    title: "Person's data was erased",
    status: 409,
    detail:
      `This person's data was erased on ${erasedOn} at their request (data subject request ${dataRequestId}), ` +
      "so it is not recorded again and nothing was created or counted. Use another contact, or ask the person to contact you anew.",
    dataRequestId,
    erasedOn,
  });
}
