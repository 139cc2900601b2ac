// Random bodies at every public route: whatever arrives, the answer is never a 5xx and no meter moves.
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { quoteBody } from "../../tools/platform/api-client.ts";

let t: TestApp;
let key: string;

beforeAll(async () => {
  t = await startTestApp();
  key = t.apiKeys["globex-freight"] as string;
});
afterAll(async () => t?.stop());

async function totalUsage(): Promise<number> {
  const ops = new pg.Client({ connectionString: t.db.urls.ops });
  await ops.connect();
  const { rows } = await ops.query("SELECT coalesce(sum(used), 0)::int AS n FROM usage_counters");
  await ops.end();
  return rows[0].n;
}

async function send(
  method: string,
  path: string,
  body: string | undefined,
  contentType = "application/json",
): Promise<number> {
  const response = await fetch(`${t.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": contentType }),
    },
    body,
  });
  await response.arrayBuffer();
  return response.status;
}

// Valid-looking bodies with one field replaced by anything, plus arbitrary JSON and raw strings.
const mutatedQuote = fc
  .record({
    field: fc.constantFrom("origin", "destination", "equipment", "weightLbs", "pickupDate", "extra"),
    value: fc.jsonValue(),
  })
  .map(({ field, value }) => JSON.stringify({ ...quoteBody(), [field]: value }));
const anyBody = fc.oneof(
  fc.json(),
  fc.string(),
  mutatedQuote,
  fc.jsonValue().map((v) => JSON.stringify(v)),
);
const pathSegment = fc.oneof(fc.uuid(), fc.string({ maxLength: 40 }).map(encodeURIComponent));
const queryString = fc
  .dictionary(
    fc.constantFrom("q", "state", "equipment", "limit", "offset", "x"),
    fc.string({ maxLength: 30 }),
  )
  .map((d) => new URLSearchParams(d).toString());

const routes: [string, fc.Arbitrary<[string, string | undefined]>][] = [
  ["POST /v1/quotes", anyBody.map((b) => ["/v1/quotes", b])],
  [
    "POST /v1/quotes/:id/book",
    fc
      .tuple(pathSegment, fc.option(anyBody, { nil: undefined }))
      .map(([id, b]) => [`/v1/quotes/${id}/book`, b]),
  ],
  ["POST /v1/limit-increase-requests", anyBody.map((b) => ["/v1/limit-increase-requests", b])],
  ["POST /v1/directory/invites", anyBody.map((b) => ["/v1/directory/invites", b])],
  [
    "POST /v1/directory/invites/:id/accept",
    fc
      .tuple(pathSegment, fc.option(anyBody, { nil: undefined }))
      .map(([id, b]) => [`/v1/directory/invites/${id}/accept`, b]),
  ],
  ["GET /v1/quotes/:id", pathSegment.map((id) => [`/v1/quotes/${id}`, undefined])],
  ["GET /v1/directory/carriers", queryString.map((q) => [`/v1/directory/carriers?${q}`, undefined])],
  ["GET /v1/usage", queryString.map((q) => [`/v1/usage?${q}`, undefined])],
  ["GET /v1/locations", queryString.map((q) => [`/v1/locations?${q}`, undefined])],
];

describe("no 5xx and no metering for random input", () => {
  it.each(routes)("%s", async (name, arbitrary) => {
    const method = name.split(" ")[0] as string;
    const before = await totalUsage();
    await fc.assert(
      fc.asyncProperty(arbitrary, async ([path, body]) => {
        const status = await send(method, path, method === "GET" ? undefined : body);
        expect(status, `${method} ${path} ${body?.slice(0, 200)}`).toBeLessThan(500);
      }),
      { numRuns: 120 },
    );
    expect(await totalUsage()).toBe(before);
  });

  it("odd content types and encodings never cause a 5xx", async () => {
    for (const [contentType, body] of [
      ["text/plain", "hello"],
      ["application/json; charset=latin1", "{}"],
      ["application/json", "\u0000\u0001"],
      ["application/json", "null"],
      ["application/json", '"just a string"'],
      ["application/json", "1e999999"],
      ["application/json", '{"__proto__": {"admin": true}}'],
      ["multipart/form-data; boundary=x", "--x--"],
    ] as const) {
      expect(await send("POST", "/v1/quotes", body, contentType), `${contentType} ${body}`).toBeLessThan(500);
    }
  });
});
