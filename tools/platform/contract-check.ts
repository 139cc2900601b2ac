// Holds every answer a test app gives to the OpenAPI document the app publishes: the route and method
// must be documented, the status listed for it, the media type listed for that status, the body valid
// against its JSON Schema (ajv, JSON Schema 2020-12, formats checked) and every API header it set
// documented there. A problem's `type` is pinned by its schema, so an undocumented problem fails too.
// Test apps (tools/platform/app.ts, billing.ts) fail their file at stop() when anything drifted.
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormatsModule from "ajv-formats";
import type { Exchange } from "../../app/http/contract.ts";
import { RESPONSE_HEADERS } from "../../app/http/contract.ts";
import {
  openApiPath,
  problemSchemaName,
  type OpenApiDocument,
  type OperationResponse,
} from "../../app/http/openapi.ts";
import { PROBLEM_BASE } from "../../app/http/problem.ts";
import { PROBLEM_TYPE_SLUGS, type ProblemType } from "../../app/http/problem-types.ts";

// ajv-formats is CommonJS: its default export arrives wrapped under type stripping.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => void;

const API_HEADERS = Object.keys(RESPONSE_HEADERS).map((name) => name.toLowerCase());
const MAX_VIOLATIONS = 50;

/** A JSON Schema 2020-12 validator that checks formats (date-time, uuid, uri, email) too. */
export function contractAjv(): Ajv2020 {
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  addFormats(ajv);
  return ajv;
}

function mediaTypeOf(headers: Record<string, unknown>): string | undefined {
  const value = headers["content-type"];
  return typeof value === "string" ? value.split(";")[0]?.trim().toLowerCase() : undefined;
}

export class ContractCheck {
  readonly violations: string[] = [];
  checked = 0;
  #document: (() => OpenApiDocument) | undefined;
  readonly #pending: Exchange[] = [];
  readonly #ajv = contractAjv();
  readonly #validators = new Map<string, ValidateFunction>();

  /** The hook for buildApp's observeExchange. */
  observe = (exchange: Exchange): void => {
    if (this.#document) this.#check(exchange);
    else this.#pending.push(exchange);
  };

  /** From now on, answers are checked against this app's document (those seen before, too). */
  against(document: () => OpenApiDocument): void {
    this.#document = document;
    for (const exchange of this.#pending.splice(0)) this.#check(exchange);
  }

  /** Throws, listing every drift, when an answer did not match the document. */
  assertClean(): void {
    if (this.violations.length === 0) return;
    throw new Error(
      `${this.violations.length} answer(s) do not match /openapi.json; document the route (docs/api-contract.md) or fix the answer:\n- ${this.violations.join("\n- ")}`,
    );
  }

  #violation(exchange: Exchange, problem: string): void {
    const message = `${exchange.method} ${exchange.route ?? "(no route)"} answered ${exchange.status}: ${problem}`;
    if (this.violations.length < MAX_VIOLATIONS && !this.violations.includes(message))
      this.violations.push(message);
  }

  #check(exchange: Exchange): void {
    this.checked++;
    const document = (this.#document as () => OpenApiDocument)();
    const mediaType = mediaTypeOf(exchange.headers);
    if (exchange.route === undefined) {
      // Nothing matched (the not-found handler, the router, or Fastify refusing the request before
      // routing): the answer must still be a catalogued problem, valid against its schema.
      const slug = this.#problemType(exchange).replace(`${PROBLEM_BASE}/`, "");
      if (!(PROBLEM_TYPE_SLUGS as string[]).includes(slug))
        return this.#violation(exchange, `problem type ${slug} is not in the catalogue`);
      this.#body(exchange, `no-route ${slug}`, mediaType, {
        description: "",
        content: {
          "application/problem+json": {
            schema: { $ref: `#/components/schemas/${problemSchemaName(slug as ProblemType)}` },
          },
        },
      });
      return;
    }
    const method = exchange.method === "HEAD" ? "get" : exchange.method.toLowerCase();
    const path = openApiPath(exchange.route);
    const operation = document.paths[path]?.[method];
    if (!operation)
      return this.#violation(exchange, `${method.toUpperCase()} ${path} is not in the document`);
    const response = operation.responses[String(exchange.status)];
    if (!response) {
      const problem = mediaType === "application/problem+json" ? ` (${this.#problemType(exchange)})` : "";
      return this.#violation(
        exchange,
        `status ${exchange.status}${problem} is not documented for this route`,
      );
    }
    for (const header of API_HEADERS) {
      const documented = Object.keys(response.headers ?? {}).some((name) => name.toLowerCase() === header);
      if (exchange.headers[header] !== undefined && !documented)
        this.#violation(exchange, `header ${header} is set but not documented for status ${exchange.status}`);
    }
    if (exchange.method === "HEAD") return;
    this.#body(exchange, `${method} ${path} ${exchange.status}`, mediaType, response);
  }

  #problemType(exchange: Exchange): string {
    try {
      return String((JSON.parse(exchange.payload ?? "") as { type?: unknown }).type);
    } catch {
      return "unreadable problem";
    }
  }

  #body(exchange: Exchange, key: string, mediaType: string | undefined, response: OperationResponse): void {
    const payload = exchange.payload ?? "";
    if (payload === "") return;
    const media = mediaType ? response.content?.[mediaType] : undefined;
    if (!media) {
      return this.#violation(
        exchange,
        `a ${mediaType ?? "untyped"} body is not documented (documented: ${Object.keys(response.content ?? {}).join(", ") || "no body"})`,
      );
    }
    let body: unknown = payload;
    if (mediaType?.endsWith("json")) {
      try {
        body = JSON.parse(payload);
      } catch {
        return this.#violation(exchange, `the ${mediaType} body is not JSON`);
      }
    }
    const cacheKey = `${key} ${mediaType}`;
    let validate = this.#validators.get(cacheKey);
    if (!validate) {
      const document = (this.#document as () => OpenApiDocument)();
      validate = this.#ajv.compile({ ...media.schema, components: { schemas: document.components.schemas } });
      this.#validators.set(cacheKey, validate);
    }
    if (!validate(body)) {
      const errors = (validate.errors ?? [])
        .slice(0, 3)
        .map((e) => `${e.instancePath || "(body)"} ${e.message}`)
        .join("; ");
      this.#violation(exchange, `the body does not match its schema: ${errors}`);
    }
  }
}
