// The edge function run as CloudFront runs it: the one source file the stacks deploy, given
// viewer-request events shaped like CloudFront's and a KeyValueStore holding the runbook's keys.
import { describe, expect, it } from "vitest";

import { PROBLEM_BASE } from "../../app/http/problem.ts";
import { EDGE_FUNCTION_MAX_BYTES, EDGE_KEYS, edgeFunctionCode } from "./edge-function.ts";

const IMPORT_LINE = 'import cf from "cloudfront";';

type Headers = Record<string, { value: string }>;
interface EdgeResult {
  statusCode?: number;
  headers: Headers;
  body?: { encoding: string; data: string };
  method?: string;
}

/**
 * The CloudFront runtime provides the "cloudfront" module; here it hands out a store with
 * KeyValueStore's contract: get(key, { format }) resolves the value and rejects a missing key.
 */
function loadHandler(store: Record<string, string>): (event: unknown) => Promise<EdgeResult> {
  const code = edgeFunctionCode();
  const cf = {
    kvs: () => ({
      get: async (key: string, options: { format: string }) => {
        expect(options.format).toBe("string");
        if (!(key in store)) throw new Error(`KeyValueStore: key ${key} not found`);
        return store[key];
      },
    }),
  };
  const body = code.replace(IMPORT_LINE, "");
  return new Function("cf", `${body}\nreturn handler;`)(cf) as (event: unknown) => Promise<EdgeResult>;
}

/** A viewer-request event as CloudFront Functions receive it (version 1.0). */
function viewerRequest(method: string, headers: Headers = {}): unknown {
  return {
    version: "1.0",
    context: {
      distributionDomainName: "d111111abcdef8.cloudfront.net",
      distributionId: "EDFDVBD6EXAMPLE",
      eventType: "viewer-request",
      requestId: "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
    },
    viewer: { ip: "198.51.100.11" },
    request: {
      method,
      uri: "/v1/quotes",
      querystring: { lane: { value: "CHI-DAL" } },
      headers: {
        host: { value: "edge.api.freightrate.example" },
        authorization: { value: "Bearer fk_live_abc" },
        ...headers,
      },
      cookies: {},
    },
  };
}

describe("the edge function source", () => {
  it("stays within CloudFront Functions' runtime: one handler, only the cloudfront module, no timers or network, under 10 KB", () => {
    const code = edgeFunctionCode();
    expect(Buffer.byteLength(code)).toBeLessThanOrEqual(EDGE_FUNCTION_MAX_BYTES);
    expect(code).toMatch(/^async function handler\(event\)/m);
    expect(code.match(/^import .*$/gm)).toEqual([IMPORT_LINE]);
    expect(code).not.toMatch(/\brequire\(|\bexport\b|setTimeout|setInterval|\bfetch\(|\bprocess\./);
  });
});

describe("viewer request", () => {
  it("answers a write during a write freeze with the API's 503 writes-frozen problem and Retry-After", async () => {
    const handler = loadHandler({
      [EDGE_KEYS.writeFreeze]: "on",
      [EDGE_KEYS.activeRegion]: "secondary",
      [EDGE_KEYS.retryAfterSeconds]: "20",
    });
    for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
      const response = await handler(viewerRequest(method));
      expect(response.statusCode).toBe(503);
      expect(response.headers["content-type"]).toEqual({ value: "application/problem+json" });
      expect(response.headers["retry-after"]).toEqual({ value: "20" });
      expect(response.headers["freight-active-region"]).toEqual({ value: "secondary" });
      const problem = JSON.parse(response.body!.data);
      expect(problem).toMatchObject({
        type: `${PROBLEM_BASE}/writes-frozen`,
        status: 503,
        retryAfterSeconds: 20,
      });
      expect(problem.detail).toContain("Retry after 20 s with the same Idempotency-Key");
    }
  });

  it("lets reads through during a write freeze, with the active region for the origin", async () => {
    const handler = loadHandler({ [EDGE_KEYS.writeFreeze]: "on", [EDGE_KEYS.activeRegion]: "primary" });
    for (const method of ["GET", "HEAD", "OPTIONS"]) {
      const request = await handler(viewerRequest(method));
      expect(request.statusCode).toBeUndefined();
      expect(request.method).toBe(method);
      expect(request.headers["freight-edge-active-region"]).toEqual({ value: "primary" });
      expect(request.headers["authorization"]).toEqual({ value: "Bearer fk_live_abc" });
    }
  });

  it("passes writes when the freeze is off, and replaces a caller's own region header", async () => {
    const handler = loadHandler({ [EDGE_KEYS.writeFreeze]: "off", [EDGE_KEYS.activeRegion]: "secondary" });
    const request = await handler(
      viewerRequest("POST", { "freight-edge-active-region": { value: "primary" } }),
    );
    expect(request.statusCode).toBeUndefined();
    expect(request.headers["freight-edge-active-region"]).toEqual({ value: "secondary" });
  });

  it("passes everything through from an empty store, and never forwards a forged region header", async () => {
    const handler = loadHandler({});
    const request = await handler(
      viewerRequest("DELETE", { "freight-edge-active-region": { value: "secondary" } }),
    );
    expect(request.statusCode).toBeUndefined();
    expect(request.headers["freight-edge-active-region"]).toBeUndefined();
  });

  it("falls back to a 30 s Retry-After when the stored value is not a whole number of seconds in 1..3600", async () => {
    for (const bad of ["0", "-5", "2.5", "soon", "86400"]) {
      const handler = loadHandler({ [EDGE_KEYS.writeFreeze]: "on", [EDGE_KEYS.retryAfterSeconds]: bad });
      const response = await handler(viewerRequest("POST"));
      expect(response.headers["retry-after"]).toEqual({ value: "30" });
      expect(response.headers["freight-active-region"]).toBeUndefined();
    }
  });

  it("treats only the exact value on as a freeze", async () => {
    for (const value of ["ON", "true", "1", ""]) {
      const handler = loadHandler({ [EDGE_KEYS.writeFreeze]: value });
      expect((await handler(viewerRequest("POST"))).statusCode).toBeUndefined();
    }
  });
});
