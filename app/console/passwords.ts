// Console passwords of self-serve tenants: the one module reading and writing console_passwords.
// scrypt with a random salt per password; the parameters travel with the hash so they can be raised
// later without invalidating old ones.
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from "node:crypto";
import type pg from "pg";
import { transaction, type Db } from "../db/pool.ts";

export const MIN_PASSWORD_LENGTH = 12;
export const MAX_PASSWORD_LENGTH = 200;
const PARAMS = { N: 16384, r: 8, p: 1 };
const KEY_LENGTH = 32;

function scrypt(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(password, salt, KEY_LENGTH, options, (error, key) =>
      error ? reject(error) : resolve(key),
    ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString("base64url")}$${key.toString("base64url")}`;
}

export async function passwordMatches(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split("$");
  if (scheme !== "scrypt" || !salt || !key) return false;
  const expected = Buffer.from(key, "base64url");
  const actual = await scrypt(password, Buffer.from(salt, "base64url"), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** What is wrong with a new password, or undefined. */
export function passwordProblem(password: string): string | undefined {
  if (password.length < MIN_PASSWORD_LENGTH)
    return `must be at least ${MIN_PASSWORD_LENGTH} characters (a few words make a good one)`;
  if (password.length > MAX_PASSWORD_LENGTH) return `must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

/** Sets the password of the tenant in context. */
export async function setPassword(db: Db, email: string, password: string): Promise<void> {
  await db.query(
    `INSERT INTO console_passwords (tenant_id, email, password_hash) VALUES (current_tenant_id(), $1, $2)
     ON CONFLICT (tenant_id) DO UPDATE SET email = EXCLUDED.email, password_hash = EXCLUDED.password_hash,
       updated_at = now()`,
    [email, await hashPassword(password)],
  );
}

export type SignInCheck =
  { ok: true; tenantId: string; email: string } | { ok: false; reason: "wrong" | "unverified" };

/**
 * Checks an email and password. A wrong email and a wrong password answer the same, so the form does
 * not tell who has an account; an unverified address is told apart only after the password matched.
 */
export async function checkSignIn(pool: pg.Pool, email: string, password: string): Promise<SignInCheck> {
  const row = await transaction(pool, async (db) => {
    await db.query("SELECT set_config('app.console_login_email', $1, true)", [email]);
    await db.query("SELECT set_config('app.signup_email', $1, true)", [email]);
    const { rows } = await db.query<{ tenant_id: string; password_hash: string; verified: boolean }>(
      `SELECT c.tenant_id, c.password_hash, s.email_verified_at IS NOT NULL AS verified
         FROM console_passwords c LEFT JOIN signups s ON s.tenant_id = c.tenant_id AND s.email = c.email
        WHERE c.email = $1`,
      [email],
    );
    return rows[0];
  });
  // Hash anyway when nobody has this address: the answer takes as long either way.
  const matches = await passwordMatches(password, row?.password_hash ?? DUMMY_HASH);
  if (!row || !matches) return { ok: false, reason: "wrong" };
  if (!row.verified) return { ok: false, reason: "unverified" };
  return { ok: true, tenantId: row.tenant_id, email };
}

const DUMMY_HASH = await hashPassword(randomBytes(12).toString("hex"));
