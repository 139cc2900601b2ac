// The operators' Prometheus metrics, in their own registry (never the global one, so tests and
// several managers in one process do not collide). Names follow controller-runtime's, so existing
// dashboards and alerts for Go operators read these too.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

export interface OperatorMetrics {
  registry: Registry;
  reconciles: Counter<"controller" | "result">;
  reconcileErrors: Counter<"controller">;
  reconcileDuration: Histogram<"controller">;
  queueDepth: Gauge<"name">;
  queueRetries: Counter<"name">;
  isLeader: Gauge;
  watchRestarts: Counter<"resource" | "cause">;
  restRequests: Counter<"method" | "resource" | "code">;
}

/** The resource a request path names (plural, plus "/status" for the subresource), for bounded labels. */
export function resourceOfPath(path: string): string {
  const parts = path.split("?")[0]!.split("/").filter(Boolean);
  // /api/v1/... or /apis/group/version/...
  let rest = parts[0] === "api" ? parts.slice(2) : parts.slice(3);
  if (rest[0] === "namespaces" && rest.length > 2) rest = rest.slice(2);
  const [plural = "unknown", , subresource] = rest;
  return subresource ? `${plural}/${subresource}` : plural;
}

export function createOperatorMetrics(): OperatorMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    reconciles: new Counter({
      name: "controller_runtime_reconcile_total",
      help: "Reconciles per controller and result (success, requeue, conflict, error).",
      labelNames: ["controller", "result"],
      registers: [registry],
    }),
    reconcileErrors: new Counter({
      name: "controller_runtime_reconcile_errors_total",
      help: "Reconciles that failed and were retried with backoff.",
      labelNames: ["controller"],
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: "controller_runtime_reconcile_time_seconds",
      help: "Time per reconcile.",
      labelNames: ["controller"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    queueDepth: new Gauge({
      name: "workqueue_depth",
      help: "Keys waiting for a worker.",
      labelNames: ["name"],
      registers: [registry],
    }),
    queueRetries: new Counter({
      name: "workqueue_retries_total",
      help: "Keys requeued with backoff after a failure or conflict.",
      labelNames: ["name"],
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: "leader_election_master_status",
      help: "1 when this replica holds the leader lease.",
      registers: [registry],
    }),
    watchRestarts: new Counter({
      name: "informer_watch_restarts_total",
      help: "Watches restarted, by cause (gone = relist after 410, error = reconnect with backoff).",
      labelNames: ["resource", "cause"],
      registers: [registry],
    }),
    restRequests: new Counter({
      name: "rest_client_requests_total",
      help: "Requests to the Kubernetes API by method (WATCH for watch streams), resource and status code.",
      labelNames: ["method", "resource", "code"],
      registers: [registry],
    }),
  };
}
