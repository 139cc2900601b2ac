// The assistant's agent tasks as the API and the game day see them: queued in the tenant's context
// (row security keeps each tenant to its own), worked by the runners (app/runner/assistant-tasks.ts),
// read back with their result. One module owns the shape so the producers and readers agree.
import type { QueryResultRow } from "pg";

interface Queryable {
  query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

export type AssistantTaskKind = "quote_request_extraction" | "quote_explanation";

export interface AssistantTaskRow {
  id: string;
  kind: AssistantTaskKind;
  status: "queued" | "running" | "retrying" | "success" | "failed";
  attempts: number;
  result: Record<string, unknown> | null;
  last_error: string | null;
  created_at: Date;
  finished_at: Date | null;
}

const COLUMNS = "id, kind, status, attempts, result, last_error, created_at, finished_at";

/** Queues one task for the current tenant (the caller's transaction has set it). */
export async function queueAssistantTask(
  db: Queryable,
  task: {
    kind: "quote_request_extraction" | "quote_explanation";
    payload: Record<string, unknown>;
    dedupeKey?: string;
  },
): Promise<AssistantTaskRow> {
  const { rows } = await db.query<AssistantTaskRow>(
    `INSERT INTO agent_tasks (tenant_id, kind, payload, dedupe_key)
     VALUES (current_tenant_id(), $1, $2, $3) RETURNING ${COLUMNS}`,
    [task.kind, JSON.stringify(task.payload), task.dedupeKey ?? null],
  );
  return rows[0]!;
}

export async function getAssistantTask(db: Queryable, id: string): Promise<AssistantTaskRow | undefined> {
  const { rows } = await db.query<AssistantTaskRow>(
    `SELECT ${COLUMNS} FROM agent_tasks
      WHERE id = $1 AND kind IN ('quote_request_extraction', 'quote_explanation')`,
    [id],
  );
  return rows[0];
}
