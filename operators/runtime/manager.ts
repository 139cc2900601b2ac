// The manager: one process hosting several controllers over shared informers, as
// controller-runtime's manager does. It serves /healthz, /readyz and /metrics; campaigns for the
// leader lease and runs informers and controllers only while leading; and on SIGTERM stops taking
// work, lets in-flight reconciles finish, releases the lease and exits.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { Counter, Gauge } from "prom-client";
import type { ResourceRef } from "../api/crd.ts";
import type { KubeObject } from "../api/types.ts";
import type { Controller } from "./controller.ts";
import { Informer } from "./informer.ts";
import type { KubeClient } from "./kube.ts";
import { LeaderElector, type LeaderElectionOptions } from "./leader.ts";
import { createOperatorMetrics, resourceOfPath, type OperatorMetrics } from "./metrics.ts";

export interface ManagerOptions {
  client: KubeClient;
  log: Logger;
  identity: string;
  /** Leader election; omit to act without one (a single replica, tests of one controller). */
  leaderElection?: Omit<LeaderElectionOptions, "identity">;
  /** Port for /healthz, /readyz, /metrics; 0 picks a free one; undefined serves nothing. */
  probePort?: number;
  probeHost?: string;
  resyncMs?: number;
  /** A check that keeps the process serving but makes /readyz say "degraded" and why (secret rotation). */
  degraded?: () => { degraded: boolean; detail: string };
}

export type ManagerState = "starting" | "standby" | "syncing" | "leading" | "stopping" | "stopped";

export class Manager {
  readonly metrics: OperatorMetrics;
  readonly client: KubeClient;
  readonly log: Logger;
  readonly identity: string;
  private readonly options: ManagerOptions;
  private readonly informers = new Map<string, Informer<KubeObject>>();
  private readonly controllers: Controller[] = [];
  private readonly runnables: { name: string; run: (signal: AbortSignal) => Promise<void> }[] = [];
  private readonly stopController = new AbortController();
  private server: Server | undefined;
  private elector: LeaderElector | undefined;
  private running: Promise<void> | undefined;
  private stateValue: ManagerState = "starting";
  /** Set when leadership was lost: the process should exit and start afresh. */
  lostLeadership = false;

  constructor(options: ManagerOptions) {
    this.options = options;
    this.client = options.client;
    this.log = options.log;
    this.identity = options.identity;
    this.metrics = createOperatorMetrics();
    this.client.onRequest((method, path, status) =>
      this.metrics.restRequests.inc({ method, resource: resourceOfPath(path), code: String(status) }),
    );
    const window = this.client.concurrency;
    new Gauge({
      name: "rest_client_request_window",
      help: "The client's adaptive request window: requests allowed in flight (limit), in flight (active), waiting for a slot (waiting).",
      labelNames: ["state"],
      registers: [this.metrics.registry],
      collect() {
        this.set({ state: "limit" }, window.limit);
        this.set({ state: "active" }, window.active);
        this.set({ state: "waiting" }, window.waiting);
      },
    });
    new Counter({
      name: "rest_client_window_decreases_total",
      help: "Times the request window was halved: the API server answered 429 or far slower than its recent norm.",
      registers: [this.metrics.registry],
      collect() {
        this.reset();
        this.inc(window.stats.decreases);
      },
    });
  }

  get state(): ManagerState {
    return this.stateValue;
  }

  /** The shared informer for `ref` (one list+watch per resource, whatever the number of controllers). */
  informer<T extends KubeObject>(ref: ResourceRef): Informer<T> {
    const key = `${ref.group}/${ref.plural}`;
    let informer = this.informers.get(key);
    if (!informer) {
      informer = new Informer<KubeObject>(this.client, ref, {
        log: this.log,
        resyncMs: this.options.resyncMs,
      });
      this.informers.set(key, informer);
    }
    return informer as unknown as Informer<T>;
  }

  add(controller: Controller): void {
    this.controllers.push(controller);
  }

  /** Work that runs while leading, after the caches synced, until the signal aborts (e.g. a poller). */
  addRunnable(name: string, run: (signal: AbortSignal) => Promise<void>): void {
    this.runnables.push({ name, run });
  }

  /** Starts probes and the election; resolves once the probe server listens. */
  async start(): Promise<{ probeUrl?: string }> {
    let probeUrl: string | undefined;
    if (this.options.probePort !== undefined) {
      this.server = createServer((req, res) => void this.serveProbe(req.url ?? "/", res));
      const host = this.options.probeHost ?? "0.0.0.0";
      await new Promise<void>((resolve, reject) => {
        this.server!.once("error", reject);
        this.server!.listen(this.options.probePort, host, resolve);
      });
      const { port } = this.server.address() as AddressInfo;
      probeUrl = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
    }
    this.running = this.runLoop();
    return { probeUrl };
  }

  /** Resolves when the manager has stopped (after stop(), or after losing leadership). */
  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  async stop(): Promise<void> {
    if (this.stateValue !== "stopped") this.stateValue = "stopping";
    this.stopController.abort();
    await this.running;
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server?.closeAllConnections();
    this.client.close();
    this.stateValue = "stopped";
  }

  private async runLoop(): Promise<void> {
    const signal = this.stopController.signal;
    if (!this.options.leaderElection) {
      await this.lead(signal);
      return;
    }
    this.stateValue = "standby";
    this.elector = new LeaderElector(
      this.client,
      { ...this.options.leaderElection, identity: this.identity },
      this.log,
    );
    const outcome = await this.elector.run(signal, (leadership) => this.lead(leadership));
    this.metrics.isLeader.set(0);
    if (outcome === "lost") {
      // Caches and queues may hold decisions made as leader; the safe restart is a fresh process.
      this.lostLeadership = true;
      this.stateValue = "stopped";
    }
  }

  private async lead(signal: AbortSignal): Promise<void> {
    this.metrics.isLeader.set(1);
    this.stateValue = "syncing";
    const informerRuns = [...this.informers.values()].map((informer) => informer.run(signal));
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync(signal)));
    if (!signal.aborted) {
      this.stateValue = "leading";
      this.log.info(
        { controllers: this.controllers.map((c) => c.name) },
        "caches synced; controllers running",
      );
    }
    await Promise.all([
      ...this.controllers.map((c) => c.run(signal, this.metrics, this.log)),
      ...(signal.aborted ? [] : this.runnables.map((r) => r.run(signal))),
      ...informerRuns,
    ]);
  }

  private async serveProbe(url: string, res: import("node:http").ServerResponse): Promise<void> {
    const path = url.split("?")[0];
    if (path === "/metrics") {
      for (const informer of this.informers.values()) {
        // Stats are cumulative; expose them as counters by their running totals.
        const labels = { resource: informer.ref.plural };
        const counter = this.metrics.watchRestarts;
        const seen = (await counter.get()).values;
        const current = (cause: string) =>
          seen.find((v) => v.labels.resource === labels.resource && v.labels.cause === cause)?.value ?? 0;
        counter.inc({ ...labels, cause: "gone" }, informer.stats.relistsAfterGone - current("gone"));
        counter.inc({ ...labels, cause: "error" }, informer.stats.reconnects - current("error"));
      }
      res.writeHead(200, { "Content-Type": this.metrics.registry.contentType });
      res.end(await this.metrics.registry.metrics());
      return;
    }
    if (path === "/healthz") {
      // Alive unless leadership was lost (the process is about to exit and should be restarted).
      const ok = !this.lostLeadership;
      res.writeHead(ok ? 200 : 500, { "Content-Type": "text/plain" });
      res.end(ok ? "ok\n" : "leadership lost\n");
      return;
    }
    if (path === "/readyz") {
      // A standby replica is ready (it is doing its job: waiting); a leader once its caches synced.
      const ok = this.stateValue === "standby" || this.stateValue === "leading";
      const check = this.options.degraded?.();
      res.writeHead(ok ? 200 : 503, { "Content-Type": "text/plain" });
      res.end(
        ok && check?.degraded ? `degraded (${this.stateValue}): ${check.detail}\n` : `${this.stateValue}\n`,
      );
      return;
    }
    res.writeHead(404, { "Content-Type": "text/plain" });
    res.end("not found: try /healthz, /readyz or /metrics\n");
  }
}
