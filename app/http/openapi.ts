// The OpenAPI 3.1 document, built from the routes the app really registers (an onRoute hook) and the
// contracts in their options (contract.ts): the zod schemas Fastify validates with become the JSON
// Schema 2020-12 the document shows, so the two cannot disagree. Problems every route of a kind can
// answer (the router's, the input boundary's, authentication's, idempotency's, metering's) are added
// here from the contract's flags, each response naming the catalogued problem types it may carry.
import type { FastifyInstance, RouteOptions } from "fastify";
import { z } from "zod";
import { PROBLEM_BASE } from "./problem.ts";
import { PROBLEM_TYPES, PROBLEM_TYPE_SLUGS, type ProblemType } from "./problem-types.ts";
import { RESPONSE_HEADERS, type ResponseHeader, type RouteContract } from "./contract.ts";
import { requiredScope } from "./auth.ts";

export const OPENAPI_PATH = "/openapi.json";
export const REFERENCE_PATH = "/reference";
/** Probes answer whatever the region's routing state (app/routing/router.ts leaves them alone). */
const PROBE_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);
const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const PROBLEM_MEDIA_TYPE = "application/problem+json";

export interface RegisteredRoute {
  method: string;
  url: string;
  contract?: RouteContract;
}

type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = {
  openapi: "3.1.0";
  info: Record<string, unknown>;
  paths: Record<string, Record<string, Operation>>;
  components: Record<string, Record<string, unknown>>;
} & Record<string, unknown>;
export interface Operation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Record<string, string[]>[];
  parameters: Record<string, unknown>[];
  requestBody?: Record<string, unknown>;
  responses: Record<string, OperationResponse>;
  "x-problem-types": ProblemType[];
  /** The API key scope the route needs (insufficient-scope names it when the key lacks it). */
  "x-required-scope"?: string;
}
export interface OperationResponse {
  description: string;
  headers?: Record<string, { $ref: string }>;
  content?: Record<string, { schema: JsonSchema }>;
}

/** A zod schema as JSON Schema 2020-12 (OpenAPI 3.1's dialect), for what clients send or receive. */
export function jsonSchema(schema: z.ZodType, io: "input" | "output"): JsonSchema {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: "draft-2020-12",
  }) as JsonSchema;
  if ("$defs" in rest) throw new Error("route schemas must be inline (no registered ids): $defs cannot nest");
  return rest;
}

export function problemSchemaName(type: ProblemType): string {
  return `${type.replace(/(^|-)([a-z])/g, (_m, _dash, c: string) => c.toUpperCase())}Problem`;
}

export function problemUrl(type: ProblemType): string {
  return `${PROBLEM_BASE}/${type}`;
}

const fieldError = z.strictObject({
  field: z.string().describe("The field, as a dotted path (`lanes.3.origin`, `query.q`, `(body)`)."),
  message: z.string().describe("What is wrong with it and how to fix it."),
});

function problemSchema(type: ProblemType): JsonSchema {
  const entry = PROBLEM_TYPES[type];
  const statuses = entry.statuses.map((status) => z.literal(status));
  const schema = z
    .looseObject({
      type: z.literal(problemUrl(type)),
      title: z.string(),
      status: statuses.length === 1 ? (statuses[0] as z.ZodLiteral<number>) : z.union(statuses),
      detail: z.string().describe("What went wrong for this request and what to do about it."),
      errors: z.array(fieldError).optional(),
      ...("extensions" in entry ? entry.extensions : {}),
    })
    .meta({ title: entry.title, description: entry.description });
  return jsonSchema(schema, "output");
}

/** Problems a route answers because of what it is, beside those its handler throws. */
export function implicitProblems(method: string, url: string, contract: RouteContract): ProblemType[] {
  const problems: ProblemType[] = ["internal", "bad-request"];
  if (!PROBE_PATHS.has(url)) {
    problems.push("use-active-region");
    if (WRITE_METHODS.has(method)) problems.push("writes-frozen");
  }
  if (WRITE_METHODS.has(method)) {
    problems.push("malformed-json", "body-too-large", "unsupported-media-type", "bad-content-length");
  }
  // The input boundary (boundary.ts) and the route's own schemas refuse with the validation problem.
  if (url.startsWith("/v1/") || contract.body || contract.querystring || contract.params) {
    problems.push("validation");
  }
  if (contract.auth !== "none") problems.push("unauthorized", "email-not-verified", "insufficient-scope");
  // The /v1 gate (app.ts): read-only SSO sessions (whose plan must still include SSO), data
  // residency, and the tenant's request rate.
  if (tenantApi(contract)) {
    problems.push("session-expired", "plan-feature-required", "wrong-region", "rate-limited");
    if (WRITE_METHODS.has(method)) problems.push("session-read-only", "csrf-token-invalid");
  }
  // Billing's own gate takes the console's session too (its writes with the page's CSRF token).
  if (contract.auth === "api-key" && contract.authenticatedBy === "route") {
    problems.push("session-expired");
    if (WRITE_METHODS.has(method)) problems.push("csrf-token-invalid");
  }
  if (contract.addressRateLimited) problems.push("rate-limited");
  if (contract.idempotent) problems.push("invalid-idempotency-key", "idempotency-key-reused");
  if (contract.metered) problems.push("no-entitlement", "meter-limit-reached");
  return problems;
}

/** Behind the /v1 gate; a plan feature gate (ctx.feature) is on such routes only. */
function tenantApi(contract: RouteContract): boolean {
  return contract.auth === "api-key" && (contract.authenticatedBy ?? "tenant-api") === "tenant-api";
}

const PROBLEM_HEADERS: Record<number, ResponseHeader[]> = {
  307: ["Location", "Freight-Active-Region"],
  401: ["WWW-Authenticate"],
  429: ["Retry-After"],
  503: ["Retry-After", "Freight-Active-Region"],
};

function headerRefs(names: Iterable<ResponseHeader>): Record<string, { $ref: string }> | undefined {
  const refs = Object.fromEntries(
    [...new Set(names)].map((name) => [name, { $ref: `#/components/headers/${name}` }]),
  );
  return Object.keys(refs).length > 0 ? refs : undefined;
}

function parametersOf(schema: z.ZodType | undefined, where: "query" | "path"): Record<string, unknown>[] {
  if (!schema) return [];
  const object = jsonSchema(schema, "input");
  const properties = (object.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((object.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...rest } = property;
    return {
      name,
      in: where,
      required: where === "path" || required.has(name),
      ...(description ? { description } : {}),
      schema: rest,
    };
  });
}

export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");
}

function operationId(method: string, url: string): string {
  const words = url
    .split(/[^A-Za-z0-9]+/)
    .filter((word) => word && word !== "v1")
    .map((word) => word[0]?.toUpperCase() + word.slice(1));
  return `${method.toLowerCase()}${words.join("")}`;
}

function operation(route: RegisteredRoute & { contract: RouteContract }): Operation {
  const { method, url, contract } = route;
  const problems = [...new Set([...implicitProblems(method, url, contract), ...contract.problems])];
  const everyResponse: ResponseHeader[] = [];
  if (!PROBE_PATHS.has(url)) everyResponse.push("Freight-Region");
  // app/routing/read-canary.ts names the database on every /v1 answer.
  if (url.startsWith("/v1/")) everyResponse.push("Freight-Database");
  if (contract.auth !== "none") everyResponse.push("Billing-Status");
  // Set as soon as the meter counts: a problem thrown after that (a lost race) still carries it.
  if (contract.metered) everyResponse.push("Meter-Usage");
  // Set before the route runs (RATE_LIMITING=on), so on its problems too.
  if (tenantApi(contract) || contract.addressRateLimited) everyResponse.push("RateLimit", "RateLimit-Policy");

  const responses: Record<string, OperationResponse> = {};
  for (const [status, response] of Object.entries(contract.responses)) {
    const success = Number(status) < 300;
    const headers = [...everyResponse, ...(response.headers ?? [])];
    if (success && contract.idempotent) headers.push("Idempotent-Replayed");
    responses[status] = {
      description: response.description,
      headers: headerRefs(headers),
      ...(response.body
        ? {
            content: {
              [response.contentType ?? "application/json"]: { schema: jsonSchema(response.body, "output") },
            },
          }
        : {}),
    };
  }
  const byStatus = new Map<number, ProblemType[]>();
  for (const type of problems) {
    for (const status of PROBLEM_TYPES[type].statuses)
      byStatus.set(status, [...(byStatus.get(status) ?? []), type]);
  }
  for (const [status, types] of [...byStatus].sort(([a], [b]) => a - b)) {
    const refs = types.map((type) => ({ $ref: `#/components/schemas/${problemSchemaName(type)}` }));
    const existing = responses[status];
    const titles = types.map((type) => PROBLEM_TYPES[type].title).join("; ");
    responses[status] = {
      description: existing ? `${existing.description}; or a problem: ${titles}` : titles,
      headers: headerRefs([
        ...everyResponse,
        ...(PROBLEM_HEADERS[status] ?? []),
        ...Object.keys(existing?.headers ?? {}).map((name) => name as ResponseHeader),
      ]),
      content: {
        ...existing?.content,
        [PROBLEM_MEDIA_TYPE]: { schema: refs.length === 1 ? (refs[0] as JsonSchema) : { oneOf: refs } },
      },
    };
  }

  const parameters = [
    ...parametersOf(contract.params, "path"),
    ...parametersOf(contract.querystring, "query"),
  ];
  if (contract.idempotent) parameters.push({ $ref: "#/components/parameters/IdempotencyKey" });

  let requestBody: Record<string, unknown> | undefined;
  if (contract.body) {
    const bodies = contract.body instanceof z.ZodType ? { "application/json": contract.body } : contract.body;
    requestBody = {
      required: !contract.bodyOptional,
      content: Object.fromEntries(
        Object.entries(bodies).map(([type, schema]) => [type, { schema: jsonSchema(schema, "input") }]),
      ),
    };
  } else if (contract.rawBody) {
    requestBody = {
      required: true,
      description: contract.rawBody.description,
      content: { [contract.rawBody.contentType]: { schema: {} } },
    };
  }

  const security: Record<string, string[]>[] =
    contract.auth === "none"
      ? []
      : [{ bearerApiKey: [] }, { headerApiKey: [] }, ...(contract.auth === "api-key-optional" ? [{}] : [])];
  return {
    operationId: operationId(method, url),
    summary: contract.summary,
    ...(contract.description ? { description: contract.description } : {}),
    tags: [contract.tag],
    security,
    parameters,
    ...(requestBody ? { requestBody } : {}),
    responses,
    "x-problem-types": problems,
    ...(contract.auth === "none" ? {} : { "x-required-scope": requiredScope(method, contract.scope) }),
  };
}

/** Collects every route the app registers, and builds the document from those with a contract. */
export class ApiContract {
  readonly routes: RegisteredRoute[] = [];
  readonly #info: { title: string; version: string; description: string };
  #document: OpenApiDocument | undefined;

  constructor(info: { title: string; version: string; description: string }) {
    this.#info = info;
  }

  /** The onRoute hook. HEAD routes are Fastify's automatic twins of GET routes. */
  collect = (route: RouteOptions): void => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      if (method === "HEAD") continue;
      this.routes.push({ method, url: route.url, contract: route.config?.contract });
    }
    this.#document = undefined;
  };

  /** Routes registered without a contract: the coverage test fails while any is left. */
  undocumented(): RegisteredRoute[] {
    return this.routes.filter((route) => !route.contract);
  }

  document(): OpenApiDocument {
    if (this.#document) return this.#document;
    const paths: OpenApiDocument["paths"] = {};
    const tags = new Set<string>();
    for (const route of this.routes) {
      if (!route.contract) continue;
      const path = openApiPath(route.url);
      paths[path] ??= {};
      (paths[path] as Record<string, Operation>)[route.method.toLowerCase()] = operation(
        route as RegisteredRoute & { contract: RouteContract },
      );
      tags.add(route.contract.tag);
    }
    this.#document = {
      openapi: "3.1.0",
      info: this.#info,
      jsonSchemaDialect: "https://json-schema.org/draft/2020-12/schema",
      tags: [...tags].map((name) => ({ name })),
      paths,
      components: {
        securitySchemes: {
          bearerApiKey: {
            type: "http",
            scheme: "bearer",
            description: "A tenant API key (`fk_live_…`) as `Authorization: Bearer <key>`.",
          },
          headerApiKey: {
            type: "apiKey",
            in: "header",
            name: "X-API-Key",
            description: "The same key in X-API-Key.",
          },
        },
        parameters: {
          IdempotencyKey: {
            name: "Idempotency-Key",
            in: "header",
            required: false,
            description:
              "Makes a retry safe: the first answer is stored with the request's effects and replayed (Idempotent-Replayed: true) to a retry with the same key and body; a different body with the same key is refused.",
            schema: { type: "string", pattern: "^[\\x21-\\x7e]{1,255}$" },
          },
        },
        headers: Object.fromEntries(
          Object.entries(RESPONSE_HEADERS).map(([name, header]) => [name, { ...header }]),
        ),
        schemas: Object.fromEntries(
          PROBLEM_TYPE_SLUGS.map((type) => [problemSchemaName(type), problemSchema(type)]),
        ),
      },
    };
    return this.#document;
  }
}

/** Serves the document and the reference page rendered from it (both documented like any route). */
export async function contractRoutes(
  app: FastifyInstance,
  contract: ApiContract,
  render: (doc: OpenApiDocument) => string,
) {
  app.get(
    OPENAPI_PATH,
    {
      config: {
        contract: {
          summary: "This API's OpenAPI 3.1 document",
          tag: "meta",
          auth: "none",
          responses: {
            200: { description: "The document", body: z.looseObject({ openapi: z.literal("3.1.0") }) },
          },
          problems: [],
        },
      },
    },
    async () => contract.document(),
  );
  let page: string | undefined;
  app.get(
    REFERENCE_PATH,
    {
      config: {
        contract: {
          summary: "The API reference, as a page for people",
          tag: "meta",
          auth: "none",
          responses: {
            200: { description: "An HTML page, no scripts", contentType: "text/html", body: z.string() },
          },
          problems: [],
        },
      },
    },
    async (_request, reply) => {
      page ??= render(contract.document());
      return reply.type("text/html; charset=utf-8").send(page);
    },
  );
}
