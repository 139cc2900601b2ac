// Console sessions and CSRF tokens. A session is a signed cookie (HMAC-SHA256 over tenant, email,
// expiry and a random id) rather than a row: every replica in both regions checks it with the
// shared CONSOLE_SESSION_SECRET and no lookup sits on each page; a tampered or expired cookie is
// refused. CSRF uses the signed double-submit pattern: a random HttpOnly cookie, and forms (or the
// X-CSRF-Token header) carry an HMAC of it bound to the session id, which nobody without the
// secret can forge and another site cannot read.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { SecretValue } from "../secret-file.ts";

export const CONSOLE_COOKIE = "freight_console";
export const CSRF_COOKIE = "freight_csrf";
export const CSRF_HEADER = "x-csrf-token";
export const CSRF_FIELD = "_csrf";
/** A working day: long enough not to sign people out mid-task, short enough that a lost laptop expires. */
export const CONSOLE_SESSION_HOURS = 8;

export interface ConsoleSession {
  id: string;
  tenantId: string;
  email: string;
  /** Epoch seconds. */
  expiresAt: number;
}

export type SessionCheck =
  { ok: true; session: ConsoleSession } | { ok: false; reason: "tampered" | "expired" };

const base64url = (value: string | Buffer) => Buffer.from(value).toString("base64url");

function sameString(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

export class ConsoleSessions {
  readonly #secret: SecretValue;
  readonly #ttlSeconds: number;

  constructor(secret: SecretValue, ttlSeconds = CONSOLE_SESSION_HOURS * 3600) {
    this.#secret = secret;
    this.#ttlSeconds = ttlSeconds;
  }

  #sign(purpose: string, value: string): string {
    return createHmac("sha256", this.#secret.read()).update(`${purpose}.${value}`).digest("base64url");
  }

  /** A new session's cookie value. */
  issue(tenantId: string, email: string, now = Date.now()): { value: string; session: ConsoleSession } {
    const session: ConsoleSession = {
      id: randomBytes(16).toString("base64url"),
      tenantId,
      email,
      expiresAt: Math.floor(now / 1000) + this.#ttlSeconds,
    };
    const body = base64url(JSON.stringify(session));
    return { value: `${body}.${this.#sign("session", body)}`, session };
  }

  check(value: string, now = Date.now()): SessionCheck {
    const [body, signature, ...rest] = value.split(".");
    if (!body || !signature || rest.length || !sameString(signature, this.#sign("session", body)))
      return { ok: false, reason: "tampered" };
    let session: ConsoleSession;
    try {
      session = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as ConsoleSession;
    } catch {
      return { ok: false, reason: "tampered" };
    }
    if (typeof session.expiresAt !== "number" || session.expiresAt * 1000 <= now)
      return { ok: false, reason: "expired" };
    return { ok: true, session };
  }

  get ttlSeconds(): number {
    return this.#ttlSeconds;
  }

  /** The token forms carry for the browser's CSRF cookie (and session, once signed in). */
  csrfToken(csrfCookie: string, sessionId = ""): string {
    return this.#sign("csrf", `${csrfCookie}.${sessionId}`);
  }

  csrfValid(csrfCookie: string | undefined, sessionId: string | undefined, presented: unknown): boolean {
    if (!csrfCookie || typeof presented !== "string" || !presented) return false;
    return sameString(presented, this.csrfToken(csrfCookie, sessionId ?? ""));
  }
}

export const newCsrfCookieValue = (): string => randomBytes(18).toString("base64url");

/** Secure, HttpOnly, SameSite: the console is same-origin with the API, so Lax costs nothing. */
export function cookie(name: string, value: string, maxAgeSeconds: number, sameSite = "Lax"): string {
  return `${name}=${value}; Path=/; HttpOnly; Secure; SameSite=${sameSite}; Max-Age=${maxAgeSeconds}`;
}
