// The API contract: every route the real app registers (billing on, so all of them) is documented,
// every problem type the code constructs is catalogued and documented on a route, the document's
// schemas are valid JSON Schema 2020-12, the reference page serves it to people, and the checks that
// hold the other tests' answers to the document catch a drift.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Fastify from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestDatabase, type TestDatabase } from "../../tools/postgres/test-database.ts";
import { startBillingApp, type BillingTestApp } from "../../tools/platform/billing.ts";
import { ContractCheck, contractAjv } from "../../tools/platform/contract-check.ts";
import { apiClient, quoteBody } from "../../tools/platform/api-client.ts";
import { documented } from "./contract.ts";
import { ApiContract, openApiPath, problemUrl, type OpenApiDocument } from "./openapi.ts";
import { PROBLEM_BASE } from "./problem.ts";
import { PROBLEM_TYPES, PROBLEM_TYPE_SLUGS, type ProblemType } from "./problem-types.ts";

let db: TestDatabase;
let t: BillingTestApp;
let doc: OpenApiDocument;

beforeAll(async () => {
  db = await startTestDatabase({ seed: "demo" });
  t = await startBillingApp({ db });
  const response = await fetch(`${t.url}/openapi.json`);
  expect(response.status).toBe(200);
  doc = (await response.json()) as OpenApiDocument;
});
afterAll(async () => {
  await t?.stop();
  await db?.stop();
});

/** `new Problem({ type: "...", ..., status: N` in the app's source, with the file it is in. */
function constructedProblems(): { type: string; status: number | undefined; file: string }[] {
  const found: { type: string; status: number | undefined; file: string }[] = [];
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
      entry.isDirectory() ? walk(join(dir, entry.name)) : [join(dir, entry.name)],
    );
  for (const file of walk("app").filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))) {
    const source = readFileSync(file, "utf8");
    for (const match of source.matchAll(/new Problem\(\s*\{\s*type:\s*"([^"]+)"[^]*?status:\s*([^,\n]+)/g)) {
      const status = /^\d+$/.test(match[2] ?? "") ? Number(match[2]) : undefined;
      found.push({ type: match[1] as string, status, file });
    }
  }
  return found;
}

/** The /v1 routes a visitor without an account calls: signup, its email check and the public calculator. */
const ANONYMOUS_V1_ROUTES = [
  "POST /v1/signup",
  "GET /v1/signup/verify",
  "POST /v1/signup/verification-email",
  "POST /v1/rate-calculator",
];

describe("the OpenAPI document", () => {
  it("documents every route the app registers, each with a summary, auth and a success answer", () => {
    expect(t.app.apiContract.undocumented()).toEqual([]);
    const registered = t.app.apiContract.routes.map((r) => `${r.method} ${openApiPath(r.url)}`);
    const inDocument = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
    );
    expect(new Set(inDocument)).toEqual(new Set(registered));
    // The routes this app is known to serve are among them (a route lost from the app shows here too).
    for (const route of [
      "POST /v1/quotes",
      "GET /v1/bulk-jobs/{id}",
      "POST /webhooks/stripe",
      "GET /openapi.json",
    ])
      expect(inDocument).toContain(route);
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect(op.summary, where).toMatch(/\w/);
        expect(Array.isArray(op.security), where).toBe(true);
        expect(
          Object.keys(op.responses).some((status) => Number(status) < 400),
          where,
        ).toBe(true);
        for (const [status, response] of Object.entries(op.responses))
          expect(response.description, `${where} ${status}`).toMatch(/\w/);
        // Every /v1 route takes a key, but for the few a visitor without an account uses.
        if (path.startsWith("/v1/") && !ANONYMOUS_V1_ROUTES.includes(where))
          expect(op.security, where).toContainEqual({ bearerApiKey: [] });
      }
    }
    expect(doc.openapi).toBe("3.1.0");
  });

  it("catalogues every problem type the code constructs, with its status, and documents each on a route", () => {
    const constructed = constructedProblems();
    // The scan is real: it finds the problems of the quote routes, auth and the router.
    expect(constructed.map((p) => p.type)).toEqual(
      expect.arrayContaining(["quote-expired", "unauthorized", "writes-frozen", "validation", "not-found"]),
    );
    for (const problem of constructed) {
      expect(PROBLEM_TYPE_SLUGS, `${problem.type} in ${problem.file}`).toContain(problem.type);
      if (problem.status !== undefined)
        expect(
          PROBLEM_TYPES[problem.type as ProblemType].statuses,
          `${problem.type} in ${problem.file}`,
        ).toContain(problem.status);
    }
    const documentedTypes = new Set(
      Object.values(doc.paths).flatMap((methods) =>
        Object.values(methods).flatMap((op) => op["x-problem-types"]),
      ),
    );
    for (const type of PROBLEM_TYPE_SLUGS) {
      expect(documentedTypes.has(type), `${type} is answered by no documented route`).toBe(true);
      expect(
        constructed.some((p) => p.type === type),
        `${type} is catalogued but never constructed`,
      ).toBe(true);
    }
    // Each documented problem response references the catalogue entry, whose schema pins the type.
    const quoteExpired = doc.components.schemas?.QuoteExpiredProblem as {
      properties: { type: { const: string } };
    };
    expect(quoteExpired.properties.type.const).toBe(problemUrl("quote-expired"));
    const book = doc.paths["/v1/quotes/{id}/book"]?.post;
    expect(JSON.stringify(book?.responses["409"]?.content)).toContain(
      "#/components/schemas/QuoteExpiredProblem",
    );
    expect(book?.responses["401"]?.headers).toHaveProperty("WWW-Authenticate");
  });

  it("documents auth, Idempotency-Key, Meter-Usage and Retry-After where they apply", () => {
    const create = doc.paths["/v1/quotes"]?.post;
    expect(create?.parameters).toContainEqual({ $ref: "#/components/parameters/IdempotencyKey" });
    expect(create?.responses["201"]?.headers).toHaveProperty("Meter-Usage");
    expect(create?.responses["201"]?.headers).toHaveProperty("Idempotent-Replayed");
    expect(create?.responses["429"]?.headers).toHaveProperty("Retry-After");
    expect(create?.requestBody).toMatchObject({ required: true });
    expect(doc.paths["/healthz"]?.get?.security).toEqual([]);
    expect(doc.paths["/billing/upgrade"]?.get?.security).toContainEqual({});
    const search = doc.paths["/v1/directory/carriers"]?.get?.parameters ?? [];
    expect(search).toContainEqual(
      expect.objectContaining({
        name: "limit",
        in: "query",
        required: false,
        schema: expect.objectContaining({ maximum: 100 }),
      }),
    );
  });

  it("adds the gate's problems and RateLimit headers to tenant API routes once, and shows each route's scope", () => {
    const createKey = doc.paths["/v1/api-keys"]?.post;
    expect(createKey?.["x-required-scope"]).toBe("admin");
    expect(createKey?.["x-problem-types"]).toEqual(
      expect.arrayContaining([
        "insufficient-scope",
        "email-not-verified",
        "session-read-only",
        "plan-feature-required",
        "wrong-region",
        "rate-limited",
      ]),
    );
    expect(createKey?.responses["201"]?.headers).toHaveProperty("RateLimit");
    expect(createKey?.responses["421"]).toBeDefined();
    expect(createKey?.responses["429"]?.headers).toHaveProperty("Retry-After");
    expect(doc.paths["/v1/usage"]?.get?.["x-required-scope"]).toBe("read");
    expect(doc.paths["/v1/usage"]?.get?.["x-problem-types"]).not.toContain("session-read-only");
    // Billing checks its key itself: no sessions, residency or request rate there.
    const checkout = doc.paths["/v1/billing/checkout-sessions"]?.post;
    expect(checkout?.["x-required-scope"]).toBe("admin");
    expect(checkout?.["x-problem-types"]).toContain("insufficient-scope");
    expect(checkout?.["x-problem-types"]).not.toContain("wrong-region");
    // The public calculator takes no key and is limited per address.
    const calculator = doc.paths["/v1/rate-calculator"]?.post;
    expect(calculator?.security).toEqual([]);
    expect(calculator?.["x-problem-types"]).toContain("rate-limited");
    expect(calculator?.["x-problem-types"]).not.toContain("unauthorized");
    expect(calculator?.responses["200"]?.headers).toHaveProperty("RateLimit-Policy");
  });

  it("keeps the scopes routes declare in their contracts enforced", async () => {
    const admin = apiClient(t.url, db.demoKeys["acme-logistics"]);
    const created = await admin.post<{ key: string }>("/v1/api-keys", { name: "reader", scopes: ["read"] });
    expect(created.status).toBe(201);
    const reader = apiClient(t.url, created.body.key);
    const keys = await reader.get<Record<string, any>>("/v1/api-keys");
    expect(keys.status).toBe(403);
    expect(keys.body.requiredScope).toBe("admin");
    const checkout = await reader.post<Record<string, any>>("/v1/billing/checkout-sessions", { plan: "pro" });
    expect(checkout.status).toBe(403);
    expect(checkout.body.requiredScope).toBe("admin");
    expect((await reader.get("/v1/billing/status")).status).toBe(200);
  });

  it("holds only schemas that compile as JSON Schema 2020-12, with formats", () => {
    const ajv = contractAjv();
    let compiled = 0;
    for (const methods of Object.values(doc.paths))
      for (const op of Object.values(methods)) {
        const media = [
          ...Object.values(op.responses).flatMap((r) => Object.values(r.content ?? {})),
          ...Object.values((op.requestBody?.content ?? {}) as Record<string, { schema: object }>),
        ];
        for (const { schema } of media) {
          ajv.compile({ ...schema, components: doc.components });
          compiled++;
        }
      }
    expect(compiled).toBeGreaterThan(40);
    // Each compile resolves the whole components section: about a second per ten routes on a busy
    // machine, so the default 30 s no longer fits the contract's size.
  }, 180_000);

  it("serves a reference page for people from the app itself, naming every route and problem type", async () => {
    const response = await fetch(`${t.url}/reference`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await response.text();
    expect(html).not.toMatch(/<script|<link|src=/i);
    for (const [path, methods] of Object.entries(doc.paths))
      for (const method of Object.keys(methods))
        expect(html).toContain(`${method.toUpperCase()}</span> <code>${path}</code>`);
    for (const type of PROBLEM_TYPE_SLUGS) expect(html).toContain(`id="problem-${type}"`);
    // One self-contained page (no scripts or styles to fetch) for 100+ operations and their schemas.
    expect(html.length).toBeLessThan(1024 * 1024);
  });

  it("keeps validation failures as problem+json naming each field and its fix", async () => {
    const acme = apiClient(t.url, db.demoKeys["acme-logistics"]);
    const bad = await acme.post<Record<string, any>>("/v1/quotes", quoteBody({ weightLbs: -1, extra: 1 }));
    expect(bad.status).toBe(422);
    expect(bad.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(bad.body.type).toBe(problemUrl("validation"));
    expect(bad.body.errors).toEqual(
      expect.arrayContaining([
        { field: "weightLbs", message: "must be more than 0" },
        { field: "(body)", message: "unknown field 'extra'; remove it" },
      ]),
    );
    const query = await acme.get<Record<string, any>>("/v1/bulk-jobs?limit=0");
    expect(query.body.errors).toEqual([{ field: "limit", message: "must be at least 1" }]);
    const path = await acme.get<Record<string, any>>("/v1/quotes/not-a-uuid");
    expect(path.body.errors).toEqual([{ field: "id", message: "must be a quote id (UUID)" }]);
  });
});

describe("the checks fail when the contract drifts", () => {
  it("a route registered without a contract is named as undocumented", async () => {
    const app = Fastify();
    const contract = new ApiContract({ title: "t", version: "0", description: "d" });
    app.addHook("onRoute", contract.collect);
    app.get(
      "/v1/documented",
      documented({
        summary: "s",
        tag: "t",
        auth: "none",
        responses: { 200: { description: "ok" } },
        problems: [],
      }),
      async () => ({}),
    );
    app.post("/v1/signup", async () => ({}));
    await app.ready();
    expect(contract.undocumented()).toEqual([{ method: "POST", url: "/v1/signup", contract: undefined }]);
    expect(Object.keys(contract.document().paths)).toEqual(["/v1/documented"]);
    await app.close();
  });

  it("an answer with an undocumented status, problem type, field or header is a violation", () => {
    const check = new ContractCheck();
    check.against(() => doc);
    const json = { "content-type": "application/json; charset=utf-8" };
    const problem = { "content-type": "application/problem+json" };
    const exchange = { method: "GET", route: "/v1/usage" };
    check.observe({ ...exchange, status: 418, headers: json, payload: "{}" });
    check.observe({
      ...exchange,
      status: 401,
      headers: problem,
      payload: JSON.stringify({ type: problemUrl("quote-expired"), title: "x", status: 401, detail: "x" }),
    });
    check.observe({ ...exchange, status: 200, headers: json, payload: JSON.stringify({ tenant: "acme" }) });
    check.observe({
      ...exchange,
      status: 200,
      headers: { ...json, "meter-usage": "quotes;used=1" },
      payload: JSON.stringify({ tenant: "acme", plan: "pro", meters: [] }),
    });
    check.observe({ method: "POST", route: "/v1/undocumented", status: 201, headers: json, payload: "{}" });
    check.observe({
      method: "GET",
      route: undefined,
      status: 404,
      headers: problem,
      payload: JSON.stringify({ type: `${PROBLEM_BASE}/gone`, title: "x", status: 404, detail: "x" }),
    });
    expect(check.violations).toEqual([
      "GET /v1/usage answered 418: status 418 is not documented for this route",
      expect.stringMatching(
        /^GET \/v1\/usage answered 401: the body does not match its schema: \/type must be equal to constant/,
      ),
      expect.stringMatching(
        /^GET \/v1\/usage answered 200: the body does not match its schema: \(body\) must have required property 'plan'/,
      ),
      "GET /v1/usage answered 200: header meter-usage is set but not documented for status 200",
      "POST /v1/undocumented answered 201: POST /v1/undocumented is not in the document",
      "GET (no route) answered 404: problem type gone is not in the catalogue",
    ]);
    expect(() => check.assertClean()).toThrow(/6 answer\(s\) do not match \/openapi.json/);
  });

  it("the contract check really ran over this file's answers", () => {
    expect(t.contract.checked).toBeGreaterThan(3);
    expect(t.contract.violations).toEqual([]);
  });
});
