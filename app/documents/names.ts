// What a document may be called and what it may be. The name is shown to people and sent back in
// Content-Disposition, never used as a storage key; still, names that could mislead a person or a
// program (paths, control and direction-override characters) are refused, not silently changed.
import type { FieldError } from "../http/problem.ts";

export const DOCUMENT_KINDS = [
  "proof_of_delivery",
  "bill_of_lading",
  "invoice",
  "rate_confirmation",
] as const;
export type DocumentKind = (typeof DOCUMENT_KINDS)[number];

/** Scans and exports carriers send: PDF and the usual phone-camera formats. */
export const DOCUMENT_CONTENT_TYPES = [
  "application/pdf",
  "image/jpeg",
  "image/png",
  "image/tiff",
  "image/heic",
  "image/webp",
] as const;

export const MAX_FILE_NAME_LENGTH = 200;

// Cc (controls), bidirectional overrides and isolates, zero-width and other invisible format
// characters, and the byte-order mark.
const INVISIBLE = /[\p{Cc}\u200B-\u200F\u202A-\u202E\u2060-\u2069\uFEFF]/u;

/**
 * Problems with `name` as a document's file name; empty when it is fine. The input boundary has
 * already normalised it to NFC, so one name has one spelling.
 */
export function fileNameProblems(name: string, field = "fileName"): FieldError[] {
  const problem = (message: string): FieldError[] => [{ field, message }];
  if (name.trim() !== name || name.length === 0)
    return problem("must not be empty or start or end with spaces");
  if ([...name].length > MAX_FILE_NAME_LENGTH) {
    return problem(`must be at most ${MAX_FILE_NAME_LENGTH} characters`);
  }
  if (/[/\\]/.test(name)) return problem("must be a file name, not a path: remove '/' and '\\'");
  if (name === "." || name === ".." || name.startsWith(".")) {
    return problem("must not start with '.' (hidden files and '..' are refused)");
  }
  if (INVISIBLE.test(name)) {
    return problem("contains control or invisible characters (e.g. a right-to-left override); remove them");
  }
  return [];
}
