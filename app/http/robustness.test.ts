// Random input at every public route: whatever arrives, the answer is never a 5xx and no meter moves.
// Generators include control characters, NUL, lone surrogates, deep nesting, huge and negative numbers
// and every documented parameter. ROBUSTNESS_RUNS sets the runs per route (default 150; the goal run
// is 100,000 requests in all: ROBUSTNESS_RUNS=6000).
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestApp, type TestApp } from "../../tools/platform/app.ts";
import { apiClient, pickupInDays, quoteBody } from "../../tools/platform/api-client.ts";
import { MAX_JSON_DEPTH } from "./boundary.ts";

const RUNS = Number(process.env.ROBUSTNESS_RUNS ?? 150);

let t: TestApp;
let key: string;
let jobId: string;
let inviteId: string;

beforeAll(async () => {
  t = await startTestApp();
  key = t.apiKeys["globex-freight"] as string;
  const client = apiClient(t.url, key);
  const lane = { origin: "Chicago, IL", destination: "Dallas, TX", equipment: "dry_van", weightLbs: 1000 };
  const job = await client.post<Record<string, any>>("/v1/bulk-jobs", {
    lanes: [{ ...lane, pickupDate: pickupInDays(3) }],
  });
  jobId = job.body.id;
  const carriers = await client.get<Record<string, any>>("/v1/directory/carriers?limit=1");
  const invite = await client.post<Record<string, any>>("/v1/directory/invites", {
    carrierId: carriers.body.carriers[0].id,
    email: "dispatch@example.com",
  });
  inviteId = invite.body.id;
}, 60_000);
afterAll(async () => t?.stop());

async function totalUsage(): Promise<number> {
  const ops = new pg.Client({ connectionString: t.db.urls.ops });
  await ops.connect();
  const { rows } = await ops.query("SELECT coalesce(sum(used), 0)::int AS n FROM usage_counters");
  await ops.end();
  return rows[0].n;
}

interface Sent {
  status: number;
  body: string;
}

async function send(
  method: string,
  path: string,
  body: string | undefined,
  contentType = "application/json",
  headers: Record<string, string> = {},
): Promise<Sent> {
  const response = await fetch(`${t.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      ...(body === undefined ? {} : { "content-type": contentType }),
      ...headers,
    },
    body,
  });
  return { status: response.status, body: await response.text() };
}

// ---- generators ---------------------------------------------------------------------------------

/** Any UTF-16 code units: control characters, NUL, lone surrogates, the BMP. */
const anyText = fc
  .array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 24 })
  .map((units) => String.fromCharCode(...units));
/** Text PostgreSQL cannot store, somewhere inside otherwise ordinary text. */
const poisonText = fc
  .tuple(
    fc.string({ maxLength: 10 }),
    fc.constantFrom("\u0000", "\ud800", "\udfff", "\ud83d", "\u0000\u0000", "\udc00\ud800"),
    fc.string({ maxLength: 10 }),
  )
  .map(([a, poison, b]) => `${a}${poison}${b}`);
/** Numbers no column of ours takes: negative, beyond int4, beyond a double's integers, fractions. */
const badNumber = fc.oneof(
  fc.constantFrom(-1, -(2 ** 31) - 1, 2 ** 31, 2 ** 53, 2 ** 63, 1e308, -1e308, 0.5, -0),
  fc.integer({ max: -1 }),
  fc.double({ min: 2 ** 31, noNaN: true }),
);
/** JSON text nested `depth` levels deep (built as text: the test itself must not recurse). */
const deepJson = fc
  .tuple(fc.integer({ min: MAX_JSON_DEPTH + 1, max: 20_000 }), fc.boolean())
  .map(([depth, arrays]) =>
    arrays ? "[".repeat(depth) + "]".repeat(depth) : '{"a":'.repeat(depth) + "1" + "}".repeat(depth),
  );

/** A JSON value the input boundary refuses wherever it is put: unstorable text or deep nesting. */
const unstorable: fc.Arbitrary<string> = fc.oneof(
  poisonText.map((s) => JSON.stringify(s)),
  deepJson,
  fc.constant('{"\\u0000": 1}'),
);
/** A JSON value a route refuses in any of its fields: the above or a number no column takes. */
const poisonValue: fc.Arbitrary<string> = fc.oneof(
  unstorable,
  badNumber.map((n) => JSON.stringify(n)),
);

/** A valid-looking body of `fields` with one field replaced by a poison value (or an extra one). */
function poisoned(valid: Record<string, unknown>, value = poisonValue): fc.Arbitrary<string> {
  return fc
    .record({ field: fc.constantFrom(...Object.keys(valid), "extra"), value })
    .map(({ field, value }) => {
      const rest = Object.entries(valid)
        .filter(([k]) => k !== field)
        .map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
      return `{${[...rest, `${JSON.stringify(field)}:${value}`].join(",")}}`;
    });
}

/** Anything at all as a body: JSON of any shape, text, poison, deep nesting. */
const anyBody = fc.oneof(
  fc.json(),
  anyText,
  fc.jsonValue().map((v) => JSON.stringify(v)),
  poisonValue,
  deepJson,
);
const pathSegment = fc.oneof(
  fc.uuid(),
  fc.string({ maxLength: 40 }).map(encodeURIComponent),
  anyText.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "x"))),
  fc.constantFrom("%00", "%ED%A0%80", "..%2F..", "%FF"),
);
/** A query parameter value: text with control characters, numbers far out of range, raw escapes. */
const paramValue = fc.oneof(
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  anyText.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, "\u0000"))),
  badNumber.map((n) => encodeURIComponent(String(n))),
  fc.constantFrom("%00", "2147483648", "9223372036854775808", "1e400", "-0", "NaN", "%ED%A0%80", "%C0%80"),
);
function queryOf(names: string[]): fc.Arbitrary<string> {
  return fc.dictionary(fc.constantFrom(...names, "x"), paramValue, { maxKeys: 4 }).map((d) =>
    Object.entries(d)
      .map(([k, v]) => `${k}=${v}`)
      .join("&"),
  );
}

const validQuote = quoteBody();
const validLane = quoteBody();
/** A CSV upload with a NUL byte or other binary somewhere in its rows. */
const poisonCsv = fc
  .tuple(
    fc.integer({ min: 0, max: 3 }),
    fc.string({ maxLength: 8 }),
    fc.constantFrom("\u0000", "\u0000\u0001\u0002"),
  )
  .map(([row, text, poison]) => {
    const lines = ["origin,destination,equipment,weightLbs,pickupDate"];
    for (let i = 0; i < 4; i++) lines.push(`Chicago IL,Dallas TX,dry_van,1000,${pickupInDays(3)}`);
    lines[row + 1] = `"${text}${poison}",Dallas TX,dry_van,1000,${pickupInDays(3)}`;
    return lines.join("\n");
  });

type Case = [method: string, path: string, body: string | undefined, contentType?: string];

// Every POST body here must be refused (a poison in it or no valid shape), so no meter may move.
const routes: [string, () => fc.Arbitrary<Case>][] = [
  ["POST /v1/quotes", () => fc.oneof(anyBody, poisoned(validQuote)).map((b) => ["POST", "/v1/quotes", b])],
  [
    "POST /v1/rate-calculator (anonymous)",
    () => fc.oneof(anyBody, poisoned(validQuote)).map((b) => ["POST", "/v1/rate-calculator", b]),
  ],
  [
    "POST /v1/quotes/:id/book",
    () =>
      fc
        .tuple(pathSegment, fc.option(fc.oneof(anyBody, poisonValue), { nil: undefined }))
        .map(([id, b]) => ["POST", `/v1/quotes/${id}/book`, b]),
  ],
  ["GET /v1/quotes/:id", () => pathSegment.map((id) => ["GET", `/v1/quotes/${id}`, undefined])],
  [
    "POST /v1/limit-increase-requests",
    () =>
      poisoned({ meter: "quotes", requestedLimit: 100_000, reason: "seasonal peak" }).map((b) => [
        "POST",
        "/v1/limit-increase-requests",
        b,
      ]),
  ],
  ["GET /v1/usage", () => queryOf([]).map((q) => ["GET", `/v1/usage?${q}`, undefined])],
  ["GET /v1/locations", () => queryOf([]).map((q) => ["GET", `/v1/locations?${q}`, undefined])],
  [
    "GET /v1/directory/carriers",
    () =>
      queryOf(["q", "state", "equipment", "limit", "offset"]).map((q) => [
        "GET",
        `/v1/directory/carriers?${q}`,
        undefined,
      ]),
  ],
  [
    "POST /v1/directory/invites",
    () =>
      poisoned({ carrierId: "00000000-0000-4000-8000-000000000000", email: "a@example.com" }).map((b) => [
        "POST",
        "/v1/directory/invites",
        b,
      ]),
  ],
  [
    "POST /v1/directory/invites/:id/accept",
    () =>
      fc
        .tuple(
          fc.oneof(pathSegment, fc.constant("INVITE")),
          fc.oneof(anyBody, poisonValue, poisoned({ status: "declined" })),
        )
        .map(([id, b]) => ["POST", `/v1/directory/invites/${id === "INVITE" ? inviteId : id}/accept`, b]),
  ],
  [
    "POST /v1/bulk-jobs (JSON)",
    () =>
      fc
        .oneof(
          // A lane's own bad values (a negative weight) are that row's result, not a refusal: the job runs.
          poisoned({ lanes: [validLane] }, unstorable),
          fc
            .array(poisoned(validLane, unstorable), { minLength: 1, maxLength: 3 })
            .map((l) => `{"lanes":[${l.join(",")}]}`),
          deepJson.map((d) => `{"lanes":[${d}]}`),
        )
        .map((b) => ["POST", "/v1/bulk-jobs", b]),
  ],
  ["POST /v1/bulk-jobs (CSV)", () => poisonCsv.map((b) => ["POST", "/v1/bulk-jobs", b, "text/csv"])],
  ["GET /v1/bulk-jobs", () => queryOf(["limit"]).map((q) => ["GET", `/v1/bulk-jobs?${q}`, undefined])],
  [
    "GET /v1/bulk-jobs/:id",
    () =>
      fc
        .tuple(fc.oneof(pathSegment, fc.constant("JOB")), queryOf(["offset", "limit"]))
        .map(([id, q]) => ["GET", `/v1/bulk-jobs/${id === "JOB" ? jobId : id}?${q}`, undefined]),
  ],
  ["GET /v1/api-keys", () => queryOf([]).map((q) => ["GET", `/v1/api-keys?${q}`, undefined])],
  [
    "POST /v1/api-keys/:id/rotate",
    () =>
      fc
        .tuple(pathSegment, fc.oneof(anyBody, poisoned({ gracePeriodSeconds: 60 })))
        .map(([id, b]) => ["POST", `/v1/api-keys/${id}/rotate`, b]),
  ],
  ["DELETE /v1/api-keys/:id", () => pathSegment.map((id) => ["DELETE", `/v1/api-keys/${id}`, undefined])],
  [
    "GET /v1/signup/verify",
    () => queryOf(["token"]).map((q) => ["GET", `/v1/signup/verify?${q}`, undefined]),
  ],
  [
    "POST /v1/signup/verification-email",
    () =>
      fc
        .oneof(anyBody, poisoned({ email: "ann@acme-logistics.com" }))
        .map((b) => ["POST", "/v1/signup/verification-email", b]),
  ],
  [
    "GET /v1/bulk-jobs/:id/results.csv",
    () =>
      fc
        .oneof(pathSegment, fc.constant("JOB"))
        .map((id) => ["GET", `/v1/bulk-jobs/${id === "JOB" ? jobId : id}/results.csv`, undefined]),
  ],
];

describe("no 5xx and no metering for random input", () => {
  it.each(routes)(
    "%s",
    async (_name, arbitrary) => {
      const before = await totalUsage();
      await fc.assert(
        fc.asyncProperty(
          arbitrary(),
          fc.uuid(),
          async ([method, path, body, contentType], idempotencyKey) => {
            const sent = await send(
              method,
              path,
              body,
              contentType,
              method === "POST" ? { "idempotency-key": idempotencyKey } : {},
            );
            expect(
              sent.status,
              `${method} ${path} ${body?.slice(0, 200)} -> ${sent.body.slice(0, 300)}`,
            ).toBeLessThan(500);
          },
        ),
        { numRuns: RUNS },
      );
      expect(await totalUsage()).toBe(before);
    },
    120_000,
  );

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
      expect(
        (await send("POST", "/v1/quotes", body, contentType)).status,
        `${contentType} ${body}`,
      ).toBeLessThan(500);
    }
  });
});

describe("the input boundary names what it refuses", () => {
  async function problem(
    ...args: Parameters<typeof send>
  ): Promise<{ status: number; body: Record<string, any> }> {
    const sent = await send(...args);
    return { status: sent.status, body: JSON.parse(sent.body) };
  }

  it("refuses NUL and lone surrogates in any text field, query or path, naming the field", async () => {
    const reason = await problem(
      "POST",
      "/v1/limit-increase-requests",
      JSON.stringify({ meter: "quotes", requestedLimit: 5000, reason: "peak\u0000season" }),
    );
    expect(reason.status).toBe(422);
    expect(reason.body.errors).toEqual([
      { field: "reason", message: expect.stringMatching(/NUL character/) },
    ]);
    const surrogate = await problem(
      "POST",
      "/v1/quotes",
      JSON.stringify({ ...validQuote, origin: "Chicago\ud800" }),
    );
    expect(surrogate.body.errors).toEqual([
      { field: "origin", message: expect.stringMatching(/unpaired UTF-16 surrogate/) },
    ]);
    const search = await problem("GET", "/v1/directory/carriers?q=acme%00", undefined);
    expect(search.status).toBe(422);
    expect(search.body.errors[0].field).toBe("query.q");
    const lanes = await problem(
      "POST",
      "/v1/bulk-jobs",
      JSON.stringify({ lanes: [validLane, { ...validLane, destination: "Dallas\u0000" }] }),
    );
    expect(lanes.body.errors).toEqual([
      { field: "lanes.1.destination", message: expect.stringMatching(/NUL/) },
    ]);
  });

  it("refuses a CSV upload holding a raw 0x00 byte, naming its row", async () => {
    const csv = `origin,destination,equipment,weightLbs,pickupDate\nChicago IL,Dallas TX,dry_van,1000,${pickupInDays(3)}\nChicago IL,Dal\u0000las TX,dry_van,1000,${pickupInDays(3)}\n`;
    const refused = await problem("POST", "/v1/bulk-jobs", csv, "text/csv");
    expect(refused.status).toBe(422);
    expect(refused.body.errors).toEqual([
      { field: "(file)", message: expect.stringMatching(/^line 3 \(row 2\) contains a NUL byte \(0x00\)/) },
    ]);
  });

  it("refuses a body nested thousands of levels deep before any work, keyed or not", async () => {
    const deep = "[".repeat(5000) + "]".repeat(5000);
    for (const [path, body] of [
      ["/v1/quotes", `{"origin":${deep}}`],
      ["/v1/bulk-jobs", `{"lanes":[${deep}]}`],
      [`/v1/directory/invites/${inviteId}/accept`, deep],
    ] as const) {
      const refused = await problem("POST", path, body, "application/json", {
        "idempotency-key": `deep-${path}`,
      });
      expect(refused.status, path).toBe(422);
      expect(refused.body.errors[0].message).toMatch(/nested more than 32 levels deep/);
    }
  });

  it("bounds integer parameters by the columns they are compared with", async () => {
    const offset = await problem("GET", `/v1/bulk-jobs/${jobId}?offset=2147483648`, undefined);
    expect(offset.status).toBe(422);
    expect(offset.body.errors).toEqual([{ field: "offset", message: "must be at most 2147483647" }]);
    expect((await send("GET", `/v1/bulk-jobs/${jobId}?offset=2147483647`, undefined)).status).toBe(200);
  });

  it("refuses a body that contradicts an action instead of ignoring it", async () => {
    const declined = await problem(
      "POST",
      `/v1/directory/invites/${inviteId}/accept`,
      '{"status":"declined"}',
    );
    expect(declined.status).toBe(422);
    expect(declined.body.errors).toEqual([
      {
        field: "status",
        message: "Accepting an invite takes no body, and this one would be ignored; send none or {}",
      },
    ]);
    expect((await send("POST", `/v1/directory/invites/${inviteId}/accept`, "{}")).status).toBe(200);
  });
});
