// Server-side apply of plain manifests to a local control plane, for real or as a dry run
// (`dryRun=All`: admission, schema and strict field validation run, nothing is stored). Each object
// is resolved to its REST path through API discovery, so CRDs installed a moment earlier work, and
// the API server's warnings (e.g. a pod template Pod Security would refuse) are returned with the
// verdict instead of being dropped the way most clients drop them.
import { request as httpsRequest, type RequestOptions } from "node:https";

import type { KubeConfig } from "@kubernetes/client-node";

export interface ApplyManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

export interface ApplyResult {
  manifest: ApplyManifest;
  /** `Kind namespace/name` for messages. */
  ref: string;
  ok: boolean;
  status: number;
  /** The API server's message when it refused the object. */
  message?: string;
  warnings: string[];
}

interface Response {
  status: number;
  body: string;
  warnings: string[];
}

interface ApiResource {
  name: string;
  kind: string;
  namespaced: boolean;
}

export function manifestRef(m: ApplyManifest): string {
  return `${m.kind} ${m.metadata.namespace ? `${m.metadata.namespace}/` : ""}${m.metadata.name}`;
}

export class ManifestApplier {
  private readonly config: KubeConfig;
  private readonly server: string;
  private readonly fieldManager: string;
  private readonly discovery = new Map<string, ApiResource[]>();

  constructor(config: KubeConfig, fieldManager: string) {
    const cluster = config.getCurrentCluster();
    if (!cluster) throw new Error("The kubeconfig has no current cluster; pass one with a current-context.");
    this.config = config;
    this.server = cluster.server.replace(/\/$/, "");
    this.fieldManager = fieldManager;
  }

  private async send(method: string, path: string, body?: string, contentType?: string): Promise<Response> {
    const url = new URL(this.server + path);
    const options: RequestOptions = { method, headers: { Accept: "application/json" } };
    await this.config.applyToHTTPSOptions(options);
    if (body !== undefined) {
      options.headers = {
        ...options.headers,
        "Content-Type": contentType ?? "application/json",
        "Content-Length": Buffer.byteLength(body),
      };
    }
    return new Promise((resolve, reject) => {
      const req = httpsRequest(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const header = res.headers["warning"];
          // RFC 7234 form the API server uses: 299 - "text with \"quoted\" parts"
          const warnings = (Array.isArray(header) ? header : header ? [header] : []).map((w) =>
            w
              .replace(/^299 - "?/, "")
              .replace(/"$/, "")
              .replace(/\\(.)/g, "$1"),
          );
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), warnings });
        });
        res.on("error", reject);
      });
      req.on("error", reject);
      req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${path}: no response in 30 s`)));
      req.end(body);
    });
  }

  /** The REST resource serving apiVersion/kind; discovery is cached per group version once it serves it. */
  private async resource(apiVersion: string, kind: string): Promise<ApiResource | undefined> {
    const cached = this.discovery.get(apiVersion)?.find((r) => r.kind === kind && !r.name.includes("/"));
    if (cached) return cached;
    const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
    const response = await this.send("GET", path);
    if (response.status !== 200) return undefined;
    const resources = (JSON.parse(response.body) as { resources: ApiResource[] }).resources;
    this.discovery.set(apiVersion, resources);
    return resources.find((r) => r.kind === kind && !r.name.includes("/"));
  }

  /** Server-side apply of one object; `dryRun` validates it completely without storing it. */
  async apply(manifest: ApplyManifest, options: { dryRun: boolean }): Promise<ApplyResult> {
    const ref = manifestRef(manifest);
    const resource = await this.resource(manifest.apiVersion, manifest.kind);
    if (!resource) {
      return {
        manifest,
        ref,
        ok: false,
        status: 404,
        message: `no API serves ${manifest.apiVersion} ${manifest.kind} (is its CRD installed?)`,
        warnings: [],
      };
    }
    const base = manifest.apiVersion.includes("/")
      ? `/apis/${manifest.apiVersion}`
      : `/api/${manifest.apiVersion}`;
    const namespace = manifest.metadata.namespace;
    if (resource.namespaced && !namespace) {
      return {
        manifest,
        ref,
        ok: false,
        status: 0,
        message: "namespaced kind without metadata.namespace",
        warnings: [],
      };
    }
    const scope = resource.namespaced ? `/namespaces/${encodeURIComponent(namespace!)}` : "";
    const query = new URLSearchParams({
      fieldManager: this.fieldManager,
      force: "true",
      // What `kubectl apply --server-side` asks for: unknown or duplicate fields are errors, not dropped.
      fieldValidation: "Strict",
    });
    if (options.dryRun) query.set("dryRun", "All");
    const path = `${base}${scope}/${resource.name}/${encodeURIComponent(manifest.metadata.name)}?${query}`;
    const response = await this.send("PATCH", path, JSON.stringify(manifest), "application/apply-patch+yaml");
    const ok = response.status >= 200 && response.status < 300;
    let message: string | undefined;
    if (!ok) {
      try {
        message = (JSON.parse(response.body) as { message?: string }).message;
      } catch {
        // not a Status object
      }
      message ??= response.body.slice(0, 1000);
    }
    return {
      manifest,
      ref,
      ok,
      status: response.status,
      ...(message ? { message } : {}),
      warnings: response.warnings,
    };
  }

  /** Waits until every named CRD reports Established (its kinds are served from then on). */
  async waitForCrds(names: string[], timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const name of names) {
      for (;;) {
        const response = await this.send(
          "GET",
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(name)}`,
        );
        const conditions =
          response.status === 200
            ? ((JSON.parse(response.body) as { status?: { conditions?: { type: string; status: string }[] } })
                .status?.conditions ?? [])
            : [];
        if (conditions.some((c) => c.type === "Established" && c.status === "True")) break;
        if (Date.now() > deadline)
          throw new Error(`CRD ${name} was not Established within ${timeoutMs / 1000} s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }
}
