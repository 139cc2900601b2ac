// What signup accepts as an email address: one mailbox at a real-looking domain (dotted, no IP
// literal), lower-cased so "Ann@Acme.com" and "ann@acme.com" are one signup, and not at a throwaway
// service (disposable-domains.txt, committed so the list is reviewed like code).
import { readFileSync } from "node:fs";

const DISPOSABLE = new Set(
  readFileSync(new URL("./disposable-domains.txt", import.meta.url), "utf8")
    .split("\n")
    .map((line) => line.trim().toLowerCase())
    .filter((line) => line && !line.startsWith("#")),
);

// Deliberately narrower than RFC 5322: quoted local parts and IP literals are valid but are not how
// a business signs up, and every one of them has been abuse here.
const ADDRESS =
  /^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+)$/;

export function normalizeEmail(raw: string): string {
  return raw.trim().toLowerCase();
}

/** Why `email` (normalized) cannot sign up, or undefined when it can. */
export function emailProblem(email: string): string | undefined {
  const match = ADDRESS.exec(email);
  if (!match || email.length > 254 || email.includes("..") || /^\.|\.@/.test(email))
    return "must be one email address such as ann@acme-logistics.com";
  const domain = match[1]!;
  if (!/\.[a-z]{2,63}$/.test(domain)) return `must be at a real domain; '${domain}' has no top-level domain`;
  const labels = domain.split(".");
  for (let i = 0; i < labels.length - 1; i++) {
    if (DISPOSABLE.has(labels.slice(i).join(".")))
      return `must not be a disposable mailbox (${labels.slice(i).join(".")}); use an address at your company`;
  }
  return undefined;
}
