// A route's contract, declared once in its options: the zod schemas Fastify validates the body, query
// and path with (so validation failures stay the 422 problem with field errors that parseOrProblem
// gives) and what the OpenAPI document says about it (summary, auth, headers, every response and
// problem type). Responses are not serialised through their schemas: the tests check real answers
// against the published document instead (tools/platform/contract-check.ts), so a drift fails a test
// rather than a customer's request.
import type { FastifySchemaCompiler, FastifyTypeProvider } from "fastify";
import { z } from "zod";
import { fieldErrors, validationProblem } from "./problem.ts";
import type { ProblemType } from "./problem-types.ts";
import type { Scope } from "./auth.ts";

/** Response headers the API sets, documented once under components.headers. */
export const RESPONSE_HEADERS = {
  "Meter-Usage": {
    description:
      "Where the route's meter stands after this request: `<meter>;used=N;included=N;limit=N;percent=N;warning=none|80|90|100`. On a refusal after the meter counted (a lost race), the count it shows was rolled back with the request.",
    schema: { type: "string" },
  },
  "Idempotent-Replayed": {
    description:
      "`true` when this answer is the stored answer to an earlier request with the same Idempotency-Key.",
    schema: { type: "string", enum: ["true"] },
  },
  "Billing-Status": {
    description: "Present when the tenant's billing is not in good standing (past_due, unpaid, canceled).",
    schema: { type: "string" },
  },
  "Retry-After": {
    description: "Seconds to wait before retrying.",
    schema: { type: "string", pattern: "^[0-9]+$" },
  },
  Location: { description: "Where to go next.", schema: { type: "string", format: "uri" } },
  "WWW-Authenticate": {
    description: 'The scheme to authenticate with: `Bearer realm="freight"`.',
    schema: { type: "string" },
  },
  "Freight-Region": {
    description: "The region (and its role) that served the request.",
    schema: { type: "string" },
  },
  "Freight-Database": {
    description:
      "The region role of the database that answered: `primary` or `secondary`. A read-canary read names the standby region's replica; a write always names the serving database.",
    schema: { type: "string", enum: ["primary", "secondary"] },
  },
  RateLimit: {
    description:
      'Where the request rate limit stands: `"<policy>";r=<requests left>;t=<seconds until full>` (policy tenant, or address on the public calculator).',
    schema: { type: "string" },
  },
  "RateLimit-Policy": {
    description: 'The request rate limit: `"<policy>";q=<requests>;w=<seconds>`.',
    schema: { type: "string" },
  },
  "Freight-Active-Region": {
    description: "The region that serves writes now, on answers that send the client elsewhere.",
    schema: { type: "string" },
  },
} as const;
export type ResponseHeader = keyof typeof RESPONSE_HEADERS;

export interface ResponseContract {
  description: string;
  /** The body's schema; omit for a response without a body (a redirect). */
  body?: z.ZodType;
  /** Media type of the body; application/json unless said. */
  contentType?: string;
  headers?: ResponseHeader[];
}

export type BodyContract = z.ZodType | { [contentType: string]: z.ZodType };

export interface RouteContract<
  B extends BodyContract | undefined = BodyContract | undefined,
  Q extends z.ZodType | undefined = z.ZodType | undefined,
  P extends z.ZodType | undefined = z.ZodType | undefined,
> {
  summary: string;
  description?: string;
  tag: string;
  /**
   * "api-key": Bearer API key required (401 without); "api-key-optional": anonymous answers differ from
   * authenticated ones; "none": no key read.
   */
  auth: "api-key" | "api-key-optional" | "none";
  /**
   * Who checks the key: "tenant-api" (the default for "api-key") is the /v1 gate in app.ts, which also
   * takes a read-only SSO session, refuses tenants pinned to another region and spends the tenant's
   * request rate; "route" is a route checking the key and its scope itself (billing).
   */
  authenticatedBy?: "tenant-api" | "route";
  /** The API key scope the route needs, when not the default (read for GET, quote for other methods). */
  scope?: Scope;
  /** Limited per client address (the public calculator); tenant-api routes spend the tenant's rate. */
  addressRateLimited?: boolean;
  /** Accepts Idempotency-Key: a retry replays the stored answer. */
  idempotent?: boolean;
  /** Counts a meter: Meter-Usage on success, 403 no-entitlement and 429 meter-limit-reached. */
  metered?: boolean;
  body?: B;
  /** The body is optional (an empty request is the same as `{}`). */
  bodyOptional?: boolean;
  /** A body read raw by the handler (signature checks): documented, not validated by Fastify. */
  rawBody?: { contentType: string; description: string };
  querystring?: Q;
  params?: P;
  responses: { [status: number]: ResponseContract };
  /** Problem types the handler itself can answer with; those every route of its kind shares are added. */
  problems: ProblemType[];
}

/** One answer as the client gets it, for holding it to the document (test-only hook in buildApp). */
export interface Exchange {
  method: string;
  /** The route's pattern (/v1/quotes/:id), undefined when no route matched. */
  route: string | undefined;
  status: number;
  headers: Record<string, unknown>;
  payload: string | undefined;
}

declare module "fastify" {
  interface FastifyContextConfig {
    contract?: RouteContract;
  }
}

/**
 * Route options from a contract: Fastify validates with its zod schemas, the document reads the rest
 * from `config.contract`.
 */
export function documented<
  B extends BodyContract | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  P extends z.ZodType | undefined = undefined,
>(contract: RouteContract<B, Q, P>) {
  const { body } = contract;
  const bodySchema =
    body === undefined || body instanceof z.ZodType
      ? body
      : {
          content: Object.fromEntries(
            Object.entries(body).map(([type, schema]) => [type, { schema: optionalBody(schema, contract) }]),
          ),
        };
  // Only the parts the route has: Fastify warns about a schema key present without a schema.
  const schema = Object.fromEntries(
    Object.entries({
      body: body instanceof z.ZodType ? optionalBody(body, contract) : bodySchema,
      querystring: contract.querystring,
      params: contract.params,
    }).filter(([, part]) => part !== undefined),
  ) as { body: B; querystring: Q; params: P };
  // The scope goes where the authentication hooks read it (requiredScope), beside the contract.
  const config = {
    contract: contract as RouteContract,
    ...(contract.scope ? { scope: contract.scope } : {}),
  };
  return { schema, config };
}

function optionalBody(schema: z.ZodType, contract: RouteContract<BodyContract | undefined>): z.ZodType {
  return contract.bodyOptional ? schema.optional() : schema;
}

/** request.body/query/params typed as the output of the route's zod schemas. */
export interface ZodTypeProvider extends FastifyTypeProvider {
  validator: this["schema"] extends z.ZodType ? z.output<this["schema"]> : unknown;
  serializer: this["schema"] extends z.ZodType ? z.input<this["schema"]> : unknown;
}

/**
 * Validates with the route's zod schema; a failure is the same 422 problem parseOrProblem throws, with
 * every field named. Fastify hands an absent body over as null; it is undefined to the schemas, as it
 * was to the handlers that parsed bodies themselves.
 */
export const zodValidatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    const input = httpPart === "body" && data === null ? undefined : data;
    const result = schema.safeParse(input);
    if (result.success) return { value: result.data };
    return { error: validationProblem(fieldErrors(result.error)) };
  };

/** Responses are sent as JSON without a schema pass; the tests hold them to the document instead. */
export const jsonSerializerCompiler = () => (data: unknown) => JSON.stringify(data);
