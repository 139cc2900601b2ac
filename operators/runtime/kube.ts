// A small REST client for the Kubernetes API on top of @kubernetes/client-node's KubeConfig (which
// resolves certificates, tokens and exec plugins). Controllers need a handful of verbs with exact
// control over content types (server-side apply, merge patch) and streaming watches; the generated
// clients make both awkward, so requests are built here.
import { Agent, request as httpsRequest, type RequestOptions } from "node:https";
import { request as httpRequest } from "node:http";
import type { IncomingMessage } from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import type { ResourceRef } from "../api/crd.ts";
import type { KubeObject } from "../api/types.ts";
import { sleep } from "./backoff.ts";
import { AdaptiveConcurrency, type CongestionOptions } from "./congestion.ts";

export class KubeApiError extends Error {
  readonly status: number;
  readonly reason: string;
  readonly details: unknown;
  constructor(method: string, path: string, status: number, body: string) {
    let parsed: { message?: string; reason?: string; details?: unknown } = {};
    try {
      parsed = JSON.parse(body) as typeof parsed;
    } catch {
      // not a Status object
    }
    super(
      `${method} ${path}: ${status} ${parsed.reason ?? ""} ${parsed.message ?? body.slice(0, 500)}`.trim(),
    );
    this.name = "KubeApiError";
    this.status = status;
    this.reason = parsed.reason ?? "";
    this.details = parsed.details;
  }
}

export const isConflict = (e: unknown) => e instanceof KubeApiError && e.status === 409;
export const isNotFound = (e: unknown) => e instanceof KubeApiError && e.status === 404;
export const isGone = (e: unknown) => e instanceof KubeApiError && e.status === 410;
export const isForbidden = (e: unknown) => e instanceof KubeApiError && e.status === 403;

const CONNECTION_ERRORS = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH"]);

/**
 * The API server could not be reached or could not serve (restarting, overloaded, throttling past
 * our retries): nothing about the request was wrong, and the same request will succeed later.
 */
export function isUnavailable(e: unknown): boolean {
  if (e instanceof KubeApiError) return e.status === 429 || e.status >= 500 || e.status === 0;
  const error = e as { code?: string; message?: string } | undefined;
  return (
    CONNECTION_ERRORS.has(error?.code ?? "") ||
    /socket hang up|no response in \d+ ms/.test(error?.message ?? "")
  );
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

interface RequestArgs {
  query?: Record<string, string | number | boolean | undefined>;
  headers?: Record<string, string>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /**
   * "leader-election": sent at once, outside the adaptive window, and not retried on 429 (the
   * elector retries every retryPeriod within its renew deadline). Everything else waits its turn.
   */
  priority?: "leader-election";
}

export interface ApplyOptions {
  fieldManager: string;
  /** Take ownership of fields other managers set (controllers own their fields outright). */
  force?: boolean;
  subresource?: "status";
}

/** Counts API calls by verb, so a benchmark can prove a steady state writes nothing. */
export type RequestObserver = (method: string, path: string, status: number) => void;

export class KubeClient {
  readonly server: string;
  private readonly config: KubeConfig;
  private readonly agent: Agent;
  private readonly userAgent: string;
  private observers: RequestObserver[] = [];
  /** The requests in flight, sized to what the API server answers without throttling. */
  readonly concurrency: AdaptiveConcurrency;
  private readonly throttleRetries: number;

  constructor(
    config: KubeConfig,
    options: {
      userAgent?: string;
      congestion?: Partial<CongestionOptions>;
      /** Times a request refused with 429 is sent again after the server's Retry-After. */
      throttleRetries?: number;
    } = {},
  ) {
    const cluster = config.getCurrentCluster();
    if (!cluster) {
      throw new Error(
        "The kubeconfig has no current cluster: set current-context or pass a kubeconfig that has one.",
      );
    }
    this.config = config;
    this.server = cluster.server.replace(/\/$/, "");
    this.concurrency = new AdaptiveConcurrency(options.congestion);
    this.throttleRetries = options.throttleRetries ?? 8;
    // The adaptive window, not the socket pool, decides how many requests are in flight.
    this.agent = new Agent({ keepAlive: true, maxSockets: 256 });
    this.userAgent = options.userAgent ?? "freight-operators";
  }

  onRequest(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  path(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
    const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
    const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
    const item = name ? `/${encodeURIComponent(name)}` : "";
    const sub = subresource ? `/${subresource}` : "";
    return `${base}${ns}/${ref.plural}${item}${sub}`;
  }

  private async open(method: string, path: string, args: RequestArgs): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(args.query ?? {}))
      if (v !== undefined) url.searchParams.set(k, String(v));
    const options: RequestOptions = {
      method,
      headers: { Accept: "application/json", "User-Agent": this.userAgent, ...args.headers },
    };
    await this.config.applyToHTTPSOptions(options);
    options.agent = url.protocol === "https:" ? this.agent : undefined;
    const payload =
      args.body === undefined
        ? undefined
        : typeof args.body === "string"
          ? args.body
          : JSON.stringify(args.body);
    if (payload !== undefined) {
      options.headers = {
        ...options.headers,
        "Content-Type": args.contentType ?? "application/json",
        "Content-Length": Buffer.byteLength(payload),
      };
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { ...options, signal: args.signal }, resolve);
      req.on("error", reject);
      if (args.timeoutMs) {
        req.setTimeout(args.timeoutMs, () =>
          req.destroy(new Error(`${method} ${path}: no response in ${args.timeoutMs} ms`)),
        );
      }
      req.end(payload);
    });
  }

  /**
   * One request, within the adaptive window. A 429 is retried after the server's Retry-After (as
   * client-go does), up to `throttleRetries` times, and narrows the window; any other failure is the
   * caller's to retry.
   */
  async request<T>(method: string, path: string, args: RequestArgs = {}): Promise<T> {
    const exempt = args.priority === "leader-election";
    const retries = exempt ? 0 : this.throttleRetries;
    for (let attempt = 0; ; attempt++) {
      const release = await this.concurrency.acquire({ exempt });
      const started = performance.now();
      let status = 0;
      let body: string;
      let retryAfter: string | string[] | undefined;
      try {
        const response = await this.open(method, path, { timeoutMs: 30_000, ...args });
        const chunks: Buffer[] = [];
        for await (const chunk of response) chunks.push(chunk as Buffer);
        body = Buffer.concat(chunks).toString("utf8");
        status = response.statusCode ?? 0;
        retryAfter = response.headers["retry-after"];
      } finally {
        const outcome = status === 429 ? "throttled" : status >= 200 && status < 500 ? "ok" : "failed";
        release(outcome, performance.now() - started);
      }
      for (const observe of this.observers) observe(method, path, status);
      if (status === 429 && attempt < retries && !args.signal?.aborted) {
        await sleep(retryDelayMs(retryAfter, attempt), args.signal);
        continue;
      }
      if (status < 200 || status >= 300) throw new KubeApiError(method, path, status, body);
      return (body ? JSON.parse(body) : undefined) as T;
    }
  }

  /** Lists every object, following `continue` pages, and returns the list's resourceVersion. */
  async list<T extends KubeObject>(
    ref: ResourceRef,
    options: { namespace?: string; labelSelector?: string; pageSize?: number; signal?: AbortSignal } = {},
  ): Promise<ListResult<T>> {
    const items: T[] = [];
    let next: string | undefined;
    let resourceVersion = "";
    do {
      const page = await this.request<{
        items: T[];
        metadata: { resourceVersion: string; continue?: string };
      }>("GET", this.path(ref, options.namespace), {
        query: { limit: options.pageSize ?? 500, continue: next, labelSelector: options.labelSelector },
        signal: options.signal,
      });
      // Lists do not carry apiVersion/kind per item; controllers expect them on every object.
      for (const item of page.items)
        items.push({
          apiVersion: `${ref.group ? `${ref.group}/` : ""}${ref.version}`,
          kind: ref.kind,
          ...item,
        });
      resourceVersion = page.metadata.resourceVersion;
      next = page.metadata.continue || undefined;
    } while (next);
    return { items, resourceVersion };
  }

  /**
   * Streams watch events from `resourceVersion` until the server ends the watch (timeoutSeconds),
   * the connection fails (rejects), or `signal` aborts (resolves). An ERROR event is passed on:
   * the caller decides (410 Gone means relist).
   */
  async watch<T extends KubeObject>(
    ref: ResourceRef,
    options: { resourceVersion: string; namespace?: string; timeoutSeconds?: number; signal: AbortSignal },
    onEvent: (event: WatchEvent<T>) => void,
  ): Promise<void> {
    const path = this.path(ref, options.namespace);
    let response: IncomingMessage;
    try {
      response = await this.open("GET", path, {
        query: {
          watch: 1,
          resourceVersion: options.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: options.timeoutSeconds ?? 300,
        },
        signal: options.signal,
        // The server ends the watch itself after timeoutSeconds and sends bookmarks meanwhile;
        // silence well past that means a dead connection.
        timeoutMs: ((options.timeoutSeconds ?? 300) + 60) * 1000,
      });
    } catch (error) {
      if (options.signal.aborted) return;
      throw error;
    }
    for (const observe of this.observers) observe("WATCH", path, response.statusCode ?? 0);
    if (response.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of response) chunks.push(chunk as Buffer);
      throw new KubeApiError("WATCH", path, response.statusCode ?? 0, Buffer.concat(chunks).toString("utf8"));
    }
    let buffered = "";
    try {
      for await (const chunk of response) {
        buffered += (chunk as Buffer).toString("utf8");
        let newline: number;
        while ((newline = buffered.indexOf("\n")) >= 0) {
          const line = buffered.slice(0, newline).trim();
          buffered = buffered.slice(newline + 1);
          if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
        }
      }
    } catch (error) {
      if (options.signal.aborted) return;
      throw error;
    }
    // A stream cut without a clean end (server killed) surfaces as an aborted response.
    if (!response.complete && !options.signal.aborted) {
      throw new Error(`watch ${path} ended abruptly (connection lost)`);
    }
  }

  get<T>(ref: ResourceRef, name: string, namespace?: string): Promise<T> {
    return this.request<T>("GET", this.path(ref, namespace, name));
  }

  create<T>(ref: ResourceRef, body: KubeObject, namespace?: string): Promise<T> {
    return this.request<T>("POST", this.path(ref, namespace ?? body.metadata.namespace), { body });
  }

  /** Server-side apply: the object states what this field manager wants; fields it left out are released. */
  apply<T>(ref: ResourceRef, body: KubeObject, options: ApplyOptions): Promise<T> {
    return this.request<T>(
      "PATCH",
      this.path(ref, body.metadata.namespace, body.metadata.name, options.subresource),
      {
        query: { fieldManager: options.fieldManager, force: options.force ?? true },
        body,
        contentType: "application/apply-patch+yaml",
      },
    );
  }

  /** JSON merge patch. Include metadata.resourceVersion to make it conditional (409 when stale). */
  mergePatch<T>(
    ref: ResourceRef,
    name: string,
    patch: unknown,
    options: { namespace?: string; fieldManager?: string } = {},
  ): Promise<T> {
    return this.request<T>("PATCH", this.path(ref, options.namespace, name), {
      query: { fieldManager: options.fieldManager },
      body: patch,
      contentType: "application/merge-patch+json",
    });
  }

  delete(ref: ResourceRef, name: string, namespace?: string): Promise<unknown> {
    return this.request("DELETE", this.path(ref, namespace, name));
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The server's Retry-After (seconds), capped, with jitter so throttled clients do not return in step. */
function retryDelayMs(header: string | string[] | undefined, attempt: number): number {
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  const base = Number.isFinite(seconds) && seconds > 0 ? Math.min(seconds, 10) * 1000 : 250 * 2 ** attempt;
  return Math.round(Math.min(base, 10_000) * (0.75 + Math.random() * 0.5));
}

/** References to built-in resources the runtime uses. */
export const builtin = {
  leases: { group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true },
  events: { group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true },
  namespaces: { group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false },
  crds: {
    group: "apiextensions.k8s.io",
    version: "v1",
    plural: "customresourcedefinitions",
    kind: "CustomResourceDefinition",
    namespaced: false,
  },
} satisfies Record<string, ResourceRef>;
