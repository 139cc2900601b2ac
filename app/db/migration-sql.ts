// How a migration file's SQL is read: its Up section, its statements, and whether it runs outside a
// transaction. One module for the runner (app/db/migrate.ts) and the CI check (migration-check.ts),
// so the two never disagree about what a migration does.

/**
 * A migration whose header holds `--! no-transaction` (graphile-migrate's marker; node-pg-migrate's
 * JavaScript migrations call `pgm.noTransaction()`) is applied outside a transaction, one statement at
 * a time, so `CREATE INDEX CONCURRENTLY` can run. A failure leaves the statements before it applied:
 * write each so a re-run is harmless (`DROP INDEX CONCURRENTLY IF EXISTS` before the build, batches
 * that skip rows already done).
 */
export const NO_TRANSACTION_MARKER = /^--!\s*no-transaction\s*$/im;

export function runsOutsideTransaction(sql: string): boolean {
  return NO_TRANSACTION_MARKER.test(upSection(sql));
}

/** The Up section: what the migrations Job runs during a deploy (Down is for a rollback by hand). */
export function upSection(sql: string): string {
  const up = sql.split(/^--\s*Down Migration\b.*$/im)[0] ?? sql;
  return up.replace(/^--\s*Up Migration\b.*$/im, "");
}

/** The Down section, or undefined when the migration has none. */
export function downSection(sql: string): string | undefined {
  const parts = sql.split(/^--\s*Down Migration\b.*$/im);
  return parts.length > 1 ? parts.slice(1).join("\n") : undefined;
}

/** Statements without comments; dollar-quoted bodies (functions, DO blocks) are kept whole. */
export function statements(sql: string): string[] {
  const out: string[] = [];
  let current = "";
  let dollar: string | undefined;
  for (const line of sql.split("\n")) {
    const code = dollar ? line : line.replace(/--.*$/, "");
    for (const tag of code.match(/\$[A-Za-z_]*\$/g) ?? [])
      dollar = dollar === tag ? undefined : (dollar ?? tag);
    current += `${code}\n`;
    if (!dollar && /;\s*$/.test(code)) {
      out.push(current.trim());
      current = "";
    }
  }
  if (current.trim()) out.push(current.trim());
  return out.filter((s) => s.length > 0);
}
