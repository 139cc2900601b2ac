// The input boundary every /v1 route sits behind (a preValidation hook, so it runs after parsing and
// before any handler work): a JSON body nested deeper than MAX_JSON_DEPTH is refused before anything
// recurses into it (zod, the idempotency fingerprint, storing bulk lanes all would), and every string
// in the body, the query and the path is NFC-normalised, or refused with its field named when it holds
// what PostgreSQL cannot store: NUL (U+0000, also a raw 0x00 byte in a CSV upload) or an unpaired
// UTF-16 surrogate (valid JSON, not valid Unicode). The byte budget is Fastify's bodyLimit, enforced
// while reading. The walk is iterative, so the inspection itself cannot overflow the stack.
// Also here: integer bounds of the columns parameters land in, and the rule for action routes.
import type { FastifyRequest } from "fastify";
import { validationProblem, type FieldError } from "./problem.ts";

/** Deepest JSON nesting any route accepts; the deepest real body (bulk lanes) needs 3. */
export const MAX_JSON_DEPTH = 32;
/** Problems reported per request: enough to fix a body in one round, bounded for a hostile one. */
const MAX_REPORTED = 20;

/** PostgreSQL integer (int4) columns and the parameters compared with them. */
export const PG_INTEGER_MAX = 2_147_483_647;

const NUL_MESSAGE = "contains a NUL character (U+0000), which cannot be stored; remove it";
const SURROGATE_MESSAGE =
  "contains an unpaired UTF-16 surrogate, which is not valid Unicode; send the text as valid UTF-8";

function textProblem(value: string): string | undefined {
  if (value.includes("\u0000")) return NUL_MESSAGE;
  if (!value.isWellFormed()) return SURROGATE_MESSAGE;
  return undefined;
}

/**
 * Checks and normalises a parsed JSON value in place, without recursion. Returns the value to use
 * (a string root is replaced by its normal form) and every problem found, each with its field path
 * in the notation of the validation errors ("lanes.3.origin").
 */
export function inspectJson(root: unknown, rootField: string): { value: unknown; errors: FieldError[] } {
  const errors: FieldError[] = [];
  const report = (field: string, message: string) => {
    if (errors.length < MAX_REPORTED) errors.push({ field, message });
  };
  const normalise = (text: string, field: string): string => {
    const problem = textProblem(text);
    if (problem) {
      report(field, problem);
      return text;
    }
    return text.normalize("NFC");
  };
  if (typeof root === "string") return { value: normalise(root, rootField), errors };
  const stack: { node: unknown; field: string; depth: number }[] = [{ node: root, field: "", depth: 0 }];
  while (stack.length > 0 && errors.length < MAX_REPORTED) {
    const { node, field, depth } = stack.pop() as { node: unknown; field: string; depth: number };
    if (node === null || typeof node !== "object") continue;
    const name = field || rootField;
    if (depth >= MAX_JSON_DEPTH) {
      report(name, `is nested more than ${MAX_JSON_DEPTH} levels deep; no request needs that, flatten it`);
      continue;
    }
    const container = node as Record<string, unknown>;
    for (const key of Object.keys(container)) {
      const child = field ? `${field}.${key}` : key;
      const keyProblem = textProblem(key);
      if (keyProblem) {
        report(child, `has a field name that ${keyProblem}`);
        continue;
      }
      const value = container[key];
      if (typeof value === "string") container[key] = normalise(value, child);
      else if (value !== null && typeof value === "object")
        stack.push({ node: value, field: child, depth: depth + 1 });
    }
  }
  return { value: root, errors };
}

/**
 * A NUL in an uploaded text file (CSV), named by its line and, as the results name lanes, its row
 * (the header is line 1; a quoted field may span lines, so rows are counted outside quotes).
 */
export function inspectText(text: string, field: string): FieldError[] {
  const at = text.indexOf("\u0000");
  if (at < 0) return [];
  let line = 1;
  let record = 0;
  let quoted = false;
  for (let i = 0; i < at; i++) {
    const c = text[i];
    if (c === '"') quoted = !quoted;
    else if (c === "\n") {
      line++;
      if (!quoted) record++;
    }
  }
  const where = record === 0 ? `line ${line} (the header)` : `line ${line} (row ${record})`;
  return [
    {
      field,
      message: `${where} contains a NUL byte (0x00), which cannot be stored; remove it and upload the file again`,
    },
  ];
}

/** The boundary as a Fastify hook: body, query and path parameters, refused as one 422 problem. */
export function inputBoundary(request: FastifyRequest): void {
  const errors: FieldError[] = [];
  if (typeof request.body === "string") errors.push(...inspectText(request.body, "(file)"));
  else if (request.body !== undefined) {
    const body = inspectJson(request.body, "(body)");
    request.body = body.value;
    errors.push(...body.errors);
  }
  for (const [source, prefix] of [
    [request.query, "query"],
    [request.params, "path"],
  ] as const) {
    if (source === null || typeof source !== "object" || Object.keys(source).length === 0) continue;
    const inspected = inspectJson(source, prefix);
    errors.push(...inspected.errors.map((e) => ({ ...e, field: `${prefix}.${e.field}` })));
  }
  if (errors.length > 0)
    throw validationProblem(errors, "The request holds values that cannot be accepted; see errors.");
}

/**
 * Action routes (accept, book) take no body: one that says anything, let alone something contrary
 * to the action ({"status": "declined"} on accept), is refused rather than ignored.
 */
export function refuseActionBody(body: unknown, action: string): void {
  if (body === undefined || body === null) return;
  if (typeof body === "object" && !Array.isArray(body) && Object.keys(body).length === 0) return;
  const fields = typeof body === "object" && !Array.isArray(body) ? Object.keys(body) : [];
  throw validationProblem([
    {
      field: fields.length > 0 ? fields.join(", ") : "(body)",
      message: `${action} takes no body, and this one would be ignored; send none or {}`,
    },
  ]);
}
