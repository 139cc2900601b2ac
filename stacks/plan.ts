// Offline plan of a region stack: runs the real program under Pulumi's mocks (no cloud
// credentials, no Pulumi CLI) and returns every resource it registers with its resolved inputs.
// The policy pack and the stack tests build on this; `npm run plan` prints it for review.
import { spawn } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

import { parse } from "yaml";

import { defaultPeerOutputs } from "./mocks.ts";

export interface PlannedResource {
  urn: string;
  /** e.g. "aws:s3/bucket:Bucket", "kubernetes:apps/v1:Deployment", "freight:database:Database" */
  type: string;
  name: string;
  /** Resolved input properties (provider inputs JSON-decoded, e.g. defaultTags). */
  props: Record<string, unknown>;
  /** URN of the parent component, if any. */
  parent?: string;
  /**
   * Provider reference "<provider urn>::<provider id>" (Pulumi's format). AWS resources all use the
   * stack's explicit provider, whose props carry `defaultTags.tags` (owner, data-classification, region-role).
   */
  provider?: string;
  /** aliases: the former URNs this resource answers to (a moved resource is not replaced). */
  opts?: { protect?: boolean; ignoreChanges?: string[]; dependsOn?: string[]; aliases?: string[] };
}

export interface PlannedStack {
  stack: string;
  project: string;
  config: Record<string, string>;
  resources: PlannedResource[];
}

export interface PlanOptions {
  /** Overrides merged over Pulumi.<stack>.yaml; keys with or without the `freight:` prefix. */
  config?: Record<string, string>;
  /** Outputs the peer StackReference returns; defaults derive from the peer's stack file. */
  peerOutputs?: Record<string, unknown>;
  /** Rewrites or drops (undefined) each planned resource, e.g. to build a policy violation fixture. */
  transform?: (r: PlannedResource) => PlannedResource | undefined;
}

/** Raised when the program itself refuses to run (bad config, missing peer output, missing CRDs). */
export class PlanError extends Error {
  readonly kind: string;
  readonly problems?: { key: string; problem: string; fix: string }[];
  readonly missing?: string[];
  constructor(kind: string, message: string, problems?: PlanError["problems"], missing?: string[]) {
    super(message);
    this.name = "PlanError";
    this.kind = kind;
    if (problems) this.problems = problems;
    if (missing) this.missing = missing;
  }
}

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function stringify(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Reads the `config:` map of Pulumi.<stack>.yaml as the flat strings Pulumi hands a program. */
export function readStackFile(stack: string, root: string = REPO_ROOT): Record<string, string> {
  const file = path.join(root, `Pulumi.${stack}.yaml`);
  if (!existsSync(file)) {
    throw new PlanError(
      "UnknownStack",
      `No stack file ${file}. Known stacks: ${knownStacks(root).join(", ") || "none"}.`,
    );
  }
  const doc = (parse(readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  return Object.fromEntries(Object.entries(doc.config ?? {}).map(([k, v]) => [k, stringify(v)]));
}

/** Stacks that have a Pulumi.<stack>.yaml at the repository root. */
export function knownStacks(root: string = REPO_ROOT): string[] {
  return readdirSync(root)
    .map((f) => /^Pulumi\.(.+)\.yaml$/.exec(f)?.[1])
    .filter((s): s is string => s !== undefined)
    .sort();
}

function projectName(root: string): string {
  return (parse(readFileSync(path.join(root, "Pulumi.yaml"), "utf8")) as { name: string }).name;
}

function withNamespace(config: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(config).map(([k, v]) => [k.includes(":") ? k : `freight:${k}`, v]),
  );
}

/** Node 24 runs the TypeScript worker; under an older `node` (e.g. npx on Node 20) use the pinned one. */
function nodeBinary(root: string): string {
  const major = Number(process.versions.node.split(".")[0]);
  if (major >= 24) return process.execPath;
  const pinned = path.join(root, "node_modules", ".bin", "node");
  if (existsSync(pinned)) return pinned;
  throw new PlanError(
    "NodeVersion",
    `Planning needs Node.js 24 (type stripping); run it through \`npm run\`.`,
  );
}

function peerDefaults(config: Record<string, string>, root: string): Record<string, unknown> {
  const peerStack = config["freight:peerStack"]?.split("/")[2];
  if (!peerStack || !existsSync(path.join(root, `Pulumi.${peerStack}.yaml`))) return {};
  const peer = readStackFile(peerStack, root);
  const role = peer["freight:role"];
  const region = peer["freight:region"];
  const domain = peer["freight:domain"];
  if (!role || !region || !domain) return {};
  return defaultPeerOutputs({ role, region, domain });
}

export async function planStack(stack: string, options: PlanOptions = {}): Promise<PlannedStack> {
  const root = REPO_ROOT;
  const config = { ...readStackFile(stack, root), ...withNamespace(options.config ?? {}) };
  const request = {
    stack,
    project: projectName(root),
    root,
    region: config["freight:region"] ?? "us-east-1",
    config,
    peerOutputs: options.peerOutputs ?? peerDefaults(config, root),
  };
  const response = await runWorker(root, request);
  return options.transform ? transformPlan(response, options.transform) : response;
}

/** Applies a planStack transform: each resource is replaced by what it returns, or dropped on undefined. */
export function transformPlan(
  plan: PlannedStack,
  transform: (r: PlannedResource) => PlannedResource | undefined,
): PlannedStack {
  return {
    ...plan,
    resources: plan.resources.flatMap((r) => {
      const out = transform(r);
      return out ? [out] : [];
    }),
  };
}

const WORKER_TIMEOUT_MS = 300_000;

interface WorkerResult {
  ok: boolean;
  plan?: PlannedStack;
  error?: { name: string; message: string; problems?: PlanError["problems"]; missing?: string[] };
}

async function runWorker(root: string, request: object): Promise<PlannedStack> {
  const dir = await mkdtemp(path.join(tmpdir(), "freight-plan-"));
  const resultFile = path.join(dir, "result.json");
  try {
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(nodeBinary(root), ["--no-warnings", path.join(root, "stacks", "plan-worker.ts")], {
        cwd: root,
        stdio: ["pipe", "ignore", "pipe"],
      });
      const err: Buffer[] = [];
      // A program whose outputs never settle would otherwise hang the caller (and CI) forever.
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(
          new PlanError(
            "WorkerTimeout",
            `Planning did not finish within ${WORKER_TIMEOUT_MS / 1000} s; an output of the program never resolved.\n` +
              Buffer.concat(err).toString("utf8").slice(-4000),
          ),
        );
      }, WORKER_TIMEOUT_MS);
      child.stderr.on("data", (c: Buffer) => err.push(c));
      child.on("error", reject);
      child.on("close", (exitCode) => {
        clearTimeout(timer);
        resolve({ code: exitCode, stderr: Buffer.concat(err).toString("utf8") });
      });
      child.stdin.end(JSON.stringify({ ...request, resultFile }));
    });
    let parsed: WorkerResult;
    try {
      parsed = JSON.parse(await readFile(resultFile, "utf8")) as WorkerResult;
    } catch {
      throw new PlanError(
        "WorkerCrashed",
        `The plan worker exited with code ${code} without a result.\n${stderr.slice(-4000)}`,
      );
    }
    if (parsed.ok && parsed.plan) return parsed.plan;
    const e = parsed.error ?? { name: "Unknown", message: "plan failed" };
    throw new PlanError(e.name, e.message, e.problems, e.missing);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
