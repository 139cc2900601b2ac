// The evidence snapshots' hash chain (table evidence_snapshots, migration 0019): each snapshot's
// content_hash is SHA-256 over the previous snapshot's hash and its own canonical JSON, so changing,
// removing or reordering any snapshot breaks the chain from that point, and the check names where.
// Canonical JSON (keys sorted at every depth) because jsonb does not keep the key order it was given.
import { createHash } from "node:crypto";
import type pg from "pg";

export const GENESIS_HASH = "0".repeat(64);

export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object")
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(",")}}`;
  return JSON.stringify(value);
}

export function snapshotHash(previousHash: string, content: unknown): string {
  return createHash("sha256")
    .update(`${previousHash}\n${canonicalJson(content)}`)
    .digest("hex");
}

export interface StoredSnapshot {
  id: number;
  takenAt: Date;
  contentHash: string;
  previousHash: string;
  failingControls: string[];
}

/** Appends `content` after the newest snapshot; a concurrent append loses on the chain index and retries. */
export async function appendSnapshot(
  pool: pg.Pool,
  content: object,
  failingControls: string[],
): Promise<StoredSnapshot> {
  for (let attempt = 0; ; attempt++) {
    const last = await pool.query<{ content_hash: string }>(
      "SELECT content_hash FROM evidence_snapshots ORDER BY id DESC LIMIT 1",
    );
    const previousHash = last.rows[0]?.content_hash ?? GENESIS_HASH;
    const contentHash = snapshotHash(previousHash, content);
    try {
      const { rows } = await pool.query<{ id: string; taken_at: Date }>(
        `INSERT INTO evidence_snapshots (content, content_hash, previous_hash, failing_controls)
         VALUES ($1, $2, $3, $4) RETURNING id, taken_at`,
        [JSON.stringify(content), contentHash, previousHash, failingControls],
      );
      return {
        id: Number(rows[0]!.id),
        takenAt: rows[0]!.taken_at,
        contentHash,
        previousHash,
        failingControls,
      };
    } catch (error) {
      // 23505: another run appended after the same snapshot first; chain after it instead.
      if ((error as { code?: string }).code !== "23505" || attempt >= 3) throw error;
    }
  }
}

export interface ChainCheck {
  ok: boolean;
  snapshots: number;
  /** Each break, naming the snapshot (id and time) and what does not match. */
  problems: string[];
}

/** Re-hashes every snapshot in order and follows the links. */
export async function verifyChain(pool: pg.Pool): Promise<ChainCheck> {
  const { rows } = await pool.query<{
    id: string;
    taken_at: Date;
    content: unknown;
    content_hash: string;
    previous_hash: string;
  }>("SELECT id, taken_at, content, content_hash, previous_hash FROM evidence_snapshots ORDER BY id");
  const problems: string[] = [];
  let expectedPrevious = GENESIS_HASH;
  for (const row of rows) {
    const where = `snapshot ${row.id} (taken ${row.taken_at.toISOString()})`;
    if (row.previous_hash !== expectedPrevious)
      problems.push(
        `${where}: links to ${row.previous_hash.slice(0, 12)}…, but the snapshot before it hashes to ${expectedPrevious.slice(0, 12)}…: a snapshot before it was removed or changed`,
      );
    const recomputed = snapshotHash(row.previous_hash, row.content);
    if (recomputed !== row.content_hash)
      problems.push(
        `${where}: its content no longer matches its recorded hash (${row.content_hash.slice(0, 12)}… recorded, ${recomputed.slice(0, 12)}… now): it was edited after it was taken`,
      );
    expectedPrevious = row.content_hash;
  }
  return { ok: problems.length === 0, snapshots: rows.length, problems };
}
