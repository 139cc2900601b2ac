// RFC 9457 problem details: every error the API returns says what went wrong and what to do about it.
import type { FastifyReply } from "fastify";
import type { z } from "zod";
import type { ProblemType } from "./problem-types.ts";

export const PROBLEM_BASE = "https://docs.freight.dev/problems";

export interface FieldError {
  field: string;
  message: string;
}

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

export class Problem extends Error {
  readonly body: ProblemBody;
  readonly headers: Record<string, string>;
  /**
   * `type` is the problem's slug under PROBLEM_BASE, catalogued in problem-types.ts (and so in the
   * OpenAPI document); extensions (meter, used, ...) ride along.
   */
  constructor(
    body: {
      type: ProblemType;
      title: string;
      status: number;
      detail: string;
      errors?: FieldError[];
      [extension: string]: unknown;
    },
    headers: Record<string, string> = {},
  ) {
    super(body.detail);
    this.body = { ...body, type: `${PROBLEM_BASE}/${body.type}` };
    this.headers = headers;
  }
  get status(): number {
    return this.body.status;
  }
}

export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  return reply
    .code(problem.status)
    .headers(problem.headers)
    .type("application/problem+json")
    .send(problem.body);
}

export function validationProblem(
  errors: FieldError[],
  detail = "The request has invalid fields; see errors.",
): Problem {
  return new Problem({ type: "validation", title: "Invalid request", status: 422, detail, errors });
}

export function fieldErrors(error: z.ZodError, prefix = ""): FieldError[] {
  return error.issues.map((issue) => {
    const path = issue.path.map(String).join(".");
    const field = prefix ? (path ? `${prefix}.${path}` : prefix) : path || "(body)";
    if (issue.code === "unrecognized_keys") {
      return {
        field: field,
        message: `unknown field${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `'${k}'`).join(", ")}; remove ${issue.keys.length > 1 ? "them" : "it"}`,
      };
    }
    return { field, message: issue.message };
  });
}

/** Parses `input` with `schema` or throws a 422 problem listing every bad field. */
export function parseOrProblem<S extends z.ZodType>(schema: S, input: unknown, prefix = ""): z.infer<S> {
  const result = schema.safeParse(input);
  if (!result.success) throw validationProblem(fieldErrors(result.error, prefix));
  return result.data;
}

export function notFound(what: string): Problem {
  return new Problem({
    type: "not-found",
    title: "Not found",
    status: 404,
    detail: `${what} was not found.`,
  });
}
