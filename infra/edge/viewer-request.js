// CloudFront Function (runtime cloudfront-js-2.0), viewer request, on every behaviour of the API
// distribution: one source file, deployed once by infra/edge/edge.ts and associated with every
// behaviour, so both regions' traffic runs the same code.
//
// - Region routing: the active region (key "active-region" of the edge KeyValueStore) travels to
//   the origin as freight-edge-active-region; a caller's own value of that header is dropped.
// - Maintenance: while key "write-freeze" is "on", POST/PUT/PATCH/DELETE get the API's own 503
//   writes-frozen problem with Retry-After from the edge, before any origin sees them. Reads pass.
//
// The state lives in the KeyValueStore, not in this code, so flipping it (docs/runbooks/edge.md)
// changes no code hash and needs no deployment. Runtime limits: no Node modules but "cloudfront",
// no timers, no network, 10 KB of code; the KeyValueStore read is the only await.
import cf from "cloudfront";

var kvs = cf.kvs();

var WRITE_METHODS = { POST: true, PUT: true, PATCH: true, DELETE: true };
var ACTIVE_REGION_HEADER = "freight-edge-active-region";
var DEFAULT_RETRY_AFTER_SECONDS = 30;

// A missing key (a store not seeded yet) reads as "not set": the edge then passes traffic through.
async function read(key) {
  try {
    return await kvs.get(key, { format: "string" });
    // eslint-disable-next-line @typescript-eslint/no-unused-vars -- the runtime may lack optional catch binding
  } catch (_missing) {
    return undefined;
  }
}

function retryAfterSeconds(raw) {
  var n = Number(raw);
  return n >= 1 && n <= 3600 && Math.floor(n) === n ? n : DEFAULT_RETRY_AFTER_SECONDS;
}

function writesFrozen(activeRegion, seconds) {
  var headers = {
    "content-type": { value: "application/problem+json" },
    "retry-after": { value: String(seconds) },
    "cache-control": { value: "no-store" },
  };
  if (activeRegion) headers["freight-active-region"] = { value: activeRegion };
  return {
    statusCode: 503,
    statusDescription: "Service Unavailable",
    headers: headers,
    body: {
      encoding: "text",
      data: JSON.stringify({
        type: "https://docs.freight.dev/problems/writes-frozen",
        title: "Writes are paused for maintenance",
        status: 503,
        detail:
          "The platform accepts no writes for a moment; nothing was changed. Reads keep working. Retry after " +
          seconds +
          " s with the same Idempotency-Key.",
        retryAfterSeconds: seconds,
      }),
    },
  };
}

// eslint-disable-next-line @typescript-eslint/no-unused-vars -- CloudFront calls the handler by name
async function handler(event) {
  var request = event.request;
  var activeRegion = await read("active-region");
  if (WRITE_METHODS[request.method] === true && (await read("write-freeze")) === "on") {
    return writesFrozen(activeRegion, retryAfterSeconds(await read("retry-after-seconds")));
  }
  delete request.headers[ACTIVE_REGION_HEADER];
  if (activeRegion === "primary" || activeRegion === "secondary") {
    request.headers[ACTIVE_REGION_HEADER] = { value: activeRegion };
  }
  return request;
}
