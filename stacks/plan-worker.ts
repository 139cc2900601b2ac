// Runs one stack program under Pulumi's mocks and prints its PlannedStack as JSON on stdout.
// It is a separate process because Pulumi's runtime is process-global: planning two stacks in one
// process would mix their resources. Request (JSON on stdin): { stack, project, root, config,
// peerOutputs, region, resultFile }. Response, written to resultFile (stdout may carry engine
// log lines): { ok: true, plan } or { ok: false, error }.
import { writeFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

import * as pulumi from "@pulumi/pulumi";

import { planMocks } from "./mocks.ts";
import type { PlannedResource, PlannedStack } from "./plan.ts";

interface WorkerRequest {
  stack: string;
  project: string;
  root: string;
  region: string;
  config: Record<string, string>;
  peerOutputs: Record<string, unknown>;
  resultFile: string;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProvider(): string;
  getProtect(): boolean | undefined;
  getIgnorechangesList(): string[];
  getDependenciesList(): string[];
  getAliasesList(): AliasMessage[];
  getPropertydependenciesMap(): {
    forEach(cb: (value: { getUrnsList(): string[] }, key: string) => void): void;
  };
  getObject(): unknown;
}

interface AliasMessage {
  getUrn(): string;
  getSpec():
    { getName(): string; getType(): string; getParenturn(): string; getNoparent(): boolean } | undefined;
}

interface RegisterResponse {
  getUrn(): string;
}

type Callback = (err: Error | null, response?: RegisterResponse) => void;

/** Provider inputs arrive JSON-encoded (e.g. defaultTags); decode them so policies can read them. */
function decodeProviderProps(props: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(props)) {
    if (typeof v === "string" && /^[[{]/.test(v)) {
      try {
        out[k] = JSON.parse(v);
        continue;
      } catch {
        // not JSON after all; keep the string
      }
    }
    out[k] = v;
  }
  return out;
}

/** The former URNs a resource's aliases address, computed the way the engine does. */
function aliasUrns(req: RegisterRequest, urn: string): string[] {
  const stackPrefix = urn.split("::").slice(0, 2).join("::") + "::";
  return req.getAliasesList().flatMap((alias) => {
    if (alias.getUrn()) return [alias.getUrn()];
    const spec = alias.getSpec();
    if (!spec) return [];
    const type = spec.getType() || req.getType();
    const name = spec.getName() || req.getName();
    const parent = spec.getNoparent() ? "" : spec.getParenturn() || req.getParent();
    const parentTypes = parent
      ? parent.slice(0, parent.lastIndexOf("::")).split("::").slice(2).join("::")
      : "";
    // A parent that is the stack itself adds no type prefix.
    const prefix = !parentTypes || parentTypes === "pulumi:pulumi:Stack" ? "" : `${parentTypes}$`;
    return [`${stackPrefix}${prefix}${type}::${name}`];
  });
}

/** Pulumi's marker of a secret value in deserialized properties. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";

/** Secret values (Stripe keys from encrypted config) never reach the plan output. */
function redactSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (value === null || typeof value !== "object") return value;
  if (SECRET_SIG in value) return "[secret]";
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactSecrets(v)]));
}

async function readRequest(): Promise<WorkerRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString("utf8")) as WorkerRequest;
}

async function plan(request: WorkerRequest): Promise<PlannedStack> {
  pulumi.runtime.setAllConfig(request.config);
  await pulumi.runtime.setMocks(
    planMocks({ region: request.region, peerOutputs: request.peerOutputs }),
    request.project,
    request.stack,
    false,
  );

  // Slots are taken when a resource registers, so the plan lists resources in program order.
  const slots: (PlannedResource | undefined)[] = [];
  let inFlight = 0;
  let lastActivity = Date.now();
  const monitor = pulumi.runtime.getMonitor() as unknown as {
    registerResource(req: RegisterRequest, cb: Callback): void;
  };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: RegisterRequest, cb: Callback) => {
    const slot = slots.length;
    slots.push(undefined);
    inFlight++;
    lastActivity = Date.now();
    register(req, (err, response) => {
      if (!err && response) {
        const implicit = new Set<string>();
        req
          .getPropertydependenciesMap()
          .forEach((deps) => deps.getUrnsList().forEach((u) => implicit.add(u)));
        const dependsOn = req.getDependenciesList().filter((u) => !implicit.has(u));
        const ignoreChanges = req.getIgnorechangesList();
        const type = req.getType();
        const props = redactSecrets(pulumi.runtime.deserializeProperties(req.getObject() as never)) as Record<
          string,
          unknown
        >;
        const opts: PlannedResource["opts"] = {};
        if (req.getProtect()) opts.protect = true;
        if (ignoreChanges.length > 0) opts.ignoreChanges = ignoreChanges;
        if (dependsOn.length > 0) opts.dependsOn = dependsOn;
        const aliases = aliasUrns(req, response.getUrn());
        if (aliases.length > 0) opts.aliases = aliases;
        const resource: PlannedResource = {
          urn: response.getUrn(),
          type,
          name: req.getName(),
          props: type.startsWith("pulumi:providers:") ? decodeProviderProps(props) : props,
        };
        if (req.getParent()) resource.parent = req.getParent();
        // Pulumi's provider reference, "<provider urn>::<provider id>", as the engine records it.
        if (req.getProvider()) resource.provider = req.getProvider();
        if (Object.keys(opts).length > 0) resource.opts = opts;
        slots[slot] = resource;
      }
      inFlight--;
      lastActivity = Date.now();
      cb(err, response);
    });
  };

  // Set mocks first, then import the program: its module graph binds to the mocked runtime.
  const entry = (await import(pathToFileURL(path.join(request.root, "stacks", "index.ts")).href)) as {
    default: () => Promise<Record<string, unknown>>;
  };
  const outputs = await entry.default();
  // Outputs resolve through applies that may register more resources; wait until quiet.
  await new Promise<void>((resolve) => pulumi.output(outputs).apply(() => resolve()));
  while (inFlight > 0 || Date.now() - lastActivity < 25) {
    await new Promise((r) => setTimeout(r, 5));
  }
  const resources = slots.filter((r): r is PlannedResource => r !== undefined);
  return { stack: request.stack, project: request.project, config: request.config, resources };
}

const request = await readRequest();
try {
  const result = await plan(request);
  writeFileSync(request.resultFile, JSON.stringify({ ok: true, plan: result }));
  process.exit(0);
} catch (err) {
  const e = err as Error & { problems?: unknown; missing?: unknown };
  writeFileSync(
    request.resultFile,
    JSON.stringify({
      ok: false,
      error: { name: e.name, message: e.message, problems: e.problems, missing: e.missing },
    }),
  );
  process.exit(2);
}
