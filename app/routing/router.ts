// The region router: an onRequest hook on every route but the probes (/healthz, /readyz,
// /metrics) that applies the routing state.
//
// - Write freeze (a failover's cutover): POST/PUT/PATCH/DELETE answer 503 problem+json with
//   Retry-After; reads keep working from this region's database.
// - Standby region: its database is a read-only replica, so writes are sent to the active region.
// - Secondary standby while the secondary is unhealthy: every request is pinned to the primary.
//
// "Sent to" is a 307 Temporary Redirect to the same path on the other region (REGION_PEER_URL):
// 307 keeps the method and body, so an HTTP client that follows redirects retries the write
// there unchanged, and the Freight-Active-Region header names the region for those that do not.
// Without REGION_PEER_URL the answer is a 503 problem naming the active region.
import type { FastifyReply, FastifyRequest } from "fastify";
import type pg from "pg";
import type { AppConfig } from "../config.ts";
import { Problem, sendProblem } from "../http/problem.ts";
import type { AppMetrics } from "../observability/metrics.ts";
import { RoutingCache, type RegionRouting } from "./state.ts";

export const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const ACTIVE_REGION_HEADER = "freight-active-region";
export const SERVED_BY_HEADER = "freight-region";
/** Readiness is what the health gate and Route 53 read: it must describe this region, never redirect. */
const PROBE_PATHS = new Set(["/healthz", "/readyz", "/metrics"]);

export type RoutingConfig = Pick<
  AppConfig,
  | "REGION_NAME"
  | "REGION_ROLE"
  | "REGION_ACTIVE"
  | "REGION_PEER_URL"
  | "ROUTING_CACHE_MS"
  | "WRITE_FREEZE_RETRY_AFTER_SECONDS"
  | "READ_CANARY_DATABASE_URL"
>;

export interface RoutingDecision {
  action: "serve" | "frozen" | "redirect";
  reason?: "standby-write" | "secondary-unhealthy";
}

/** Pure: what the router does with one request under `routing`, in region `role`. */
export function routeRequest(
  method: string,
  role: RegionRouting["activeRegion"],
  routing: RegionRouting,
): RoutingDecision {
  const write = WRITE_METHODS.has(method);
  if (write && routing.writesFrozen) return { action: "frozen" };
  const standby = routing.activeRegion !== role;
  if (standby && role === "secondary" && !routing.secondaryHealthy)
    return { action: "redirect", reason: "secondary-unhealthy" };
  if (standby && write) return { action: "redirect", reason: "standby-write" };
  return { action: "serve" };
}

export class RegionRouter {
  readonly cache: RoutingCache;
  private readonly config: RoutingConfig;

  constructor(options: {
    config: RoutingConfig;
    pool: pg.Pool;
    metrics: AppMetrics;
    onError?: (error: Error) => void;
  }) {
    const { config, metrics } = options;
    this.config = config;
    const publish = (routing: RegionRouting) => {
      metrics.writesFrozen.set(routing.writesFrozen ? 1 : 0);
      metrics.regionServing.set(
        { region: config.REGION_NAME, role: config.REGION_ROLE },
        routing.activeRegion === config.REGION_ROLE ? 1 : 0,
      );
      // What this process applies (app/routing/read-canary.ts): only the active region reads a canary.
      metrics.readCanaryWeight.set(
        config.READ_CANARY_DATABASE_URL && routing.activeRegion === config.REGION_ROLE
          ? routing.readCanaryWeight
          : 0,
      );
    };
    this.cache = new RoutingCache({
      pool: options.pool,
      defaultActive: config.REGION_ACTIVE,
      refreshMs: config.ROUTING_CACHE_MS,
      onChange: publish,
      onError: options.onError,
    });
    publish(this.cache.state);
  }

  start(): Promise<void> {
    return this.cache.start();
  }

  stop(): void {
    this.cache.stop();
  }

  /** The onRequest hook for every route but the probes (health gates must see this region itself). */
  onRequest = async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (PROBE_PATHS.has(request.url.split("?")[0] ?? "")) return;
    const routing = this.cache.state;
    const { REGION_ROLE: role, REGION_NAME: name } = this.config;
    reply.header(SERVED_BY_HEADER, `${name} (${role})`);
    const decision = routeRequest(request.method, role, routing);
    if (decision.action === "serve") return;
    reply.header(ACTIVE_REGION_HEADER, routing.activeRegion);
    if (decision.action === "frozen") {
      const retryAfter = String(this.config.WRITE_FREEZE_RETRY_AFTER_SECONDS);
      await sendProblem(
        reply,
        new Problem(
          {
            type: "writes-frozen",
            title: "Writes are paused for a region failover",
            status: 503,
            detail: `The platform is moving to the ${routing.activeRegion === role ? "other" : routing.activeRegion} region and accepts no writes for a moment; nothing was changed. Reads keep working. Retry after ${retryAfter} s with the same Idempotency-Key.`,
            retryAfterSeconds: Number(retryAfter),
          },
          { "retry-after": retryAfter },
        ),
      );
      return;
    }
    const target = decision.reason === "secondary-unhealthy" ? "primary" : routing.activeRegion;
    const peer = this.config.REGION_PEER_URL;
    const detail =
      decision.reason === "secondary-unhealthy"
        ? `The secondary region is unhealthy; requests are served by the ${target} region.`
        : `This is the standby region (${role}); writes are served by the active region (${target}).`;
    if (peer) {
      const location = `${peer.replace(/\/$/, "")}${request.url}`;
      await sendProblem(
        reply,
        new Problem(
          { type: "use-active-region", title: "Use the active region", status: 307, detail, region: target },
          { location },
        ),
      );
      return;
    }
    await sendProblem(
      reply,
      new Problem(
        {
          type: "use-active-region",
          title: "Use the active region",
          status: 503,
          detail: `${detail} Send the request to the ${target} region's endpoint.`,
          region: target,
        },
        { "retry-after": "1" },
      ),
    );
  };
}
