// Who a data subject request is about, and the hash it is remembered by. The same hash is computed
// in SQL (dsr_subject_hash in migration 0017) by the trigger that refuses an erased subject's
// re-import, so the two must never drift: subject.test.ts compares them.
import { createHash } from "node:crypto";

/** An end user of a tenant, by address or by the id the tenant's sign-in knows them by (SSO subject). */
export type Subject = { email: string } | { id: string };

export type SubjectRequestScope = "subject" | "tenant";

const EMAIL = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;

/** Problems with a subject as given, each naming the fix; empty when it is fine. */
export function subjectProblems(subject: Partial<{ email: string; id: string }>): string[] {
  const { email, id } = subject;
  if (email !== undefined && id !== undefined) return ["give the subject's email or id, not both"];
  if (email === undefined && id === undefined) return ["give the subject's email or id"];
  if (email !== undefined && (!EMAIL.test(email.trim()) || email.length > 320))
    return [`email ${JSON.stringify(email)} is not an email address (name@example.com)`];
  if (id !== undefined && (id.trim() === "" || id.length > 255))
    return ["id must be the subject's sign-in id, 1 to 255 characters"];
  return [];
}

/** The identifier the hash is taken of: `email:<lower-case address>` or `id:<id>`. */
export function subjectIdentifier(subject: Subject): string {
  return "email" in subject ? `email:${subject.email.trim().toLowerCase()}` : `id:${subject.id}`;
}

/** sha256(tenant id ':' identifier) in hex: per tenant, so one person at two tenants is two subjects. */
export function subjectHash(tenantId: string, identifier: string): string {
  return createHash("sha256").update(`${tenantId}:${identifier}`, "utf8").digest("hex");
}

/** A tenant-scope request is about the tenant itself. */
export function tenantIdentifier(tenantId: string): string {
  return `tenant:${tenantId}`;
}

/** The subject an identifier names (a request's subject_ref holds the identifier). */
export function identifierSubject(identifier: string): Subject | undefined {
  if (identifier.startsWith("email:")) return { email: identifier.slice("email:".length) };
  if (identifier.startsWith("id:")) return { id: identifier.slice("id:".length) };
  return undefined;
}
