// The Kubernetes objects each region's stack deploys, for the local platform: both stacks planned
// in parallel (each plan is its own worker process), cached under .cache/platform/ by a hash of
// every file the program reads, so a warm start skips the few seconds of planning. The hash covers
// whole source folders rather than the program's exact import graph: a stale plan would start the
// platform with yesterday's configuration, a needless re-plan only costs seconds.
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import type { Region } from "../../operators/api/regionfailover.ts";
import { kubernetesManifests, type Manifest } from "../../stacks/manifests.ts";
import { PRODUCTION_CONFIG } from "../../stacks/capabilities.ts";
import { planStack, readStackFile, REPO_ROOT } from "../../stacks/plan.ts";

/** The stack that deploys each region. */
export const REGION_STACKS: Record<Region, string> = {
  primary: "prod-primary",
  secondary: "prod-secondary",
};

export interface RegionManifests {
  manifests: Record<Region, Manifest[]>;
  /** Each stack's `freight:` configuration, as planned. */
  config: Record<Region, Record<string, string>>;
  fromCache: boolean;
  ms: number;
}

const cacheDir = join(REPO_ROOT, ".cache", "platform");
const SOURCE_DIRS = ["stacks", "infra", "operators", "dashboards", "app"];
const SOURCE_FILE = /\.(ts|js|json|ya?ml|sql)$/;

function collect(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir)) {
    if (entry === "node_modules" || entry.startsWith(".")) continue;
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (SOURCE_FILE.test(entry) && !entry.endsWith(".test.ts")) out.push(path);
  }
}

/** A hash of what planning reads: the program's folders (not their tests), the stack files, the locked dependencies. */
export function planInputsHash(): string {
  const files: string[] = [];
  for (const dir of SOURCE_DIRS) collect(join(REPO_ROOT, dir), files);
  for (const entry of readdirSync(REPO_ROOT))
    if (/^Pulumi(\..+)?\.yaml$/.test(entry) || entry === "package-lock.json")
      files.push(join(REPO_ROOT, entry));
  const hash = createHash("sha256");
  for (const file of files.sort()) {
    hash.update(`${file.slice(REPO_ROOT.length)}\n`);
    hash.update(readFileSync(file));
  }
  return hash.digest("hex").slice(0, 24);
}

export async function regionManifests(
  options: { log?: (line: string) => void } = {},
): Promise<RegionManifests> {
  const started = Date.now();
  const hash = planInputsHash();
  const cachePath = join(cacheDir, `manifests-${hash}.json`);
  if (existsSync(cachePath)) {
    const cached = JSON.parse(readFileSync(cachePath, "utf8")) as Omit<RegionManifests, "fromCache" | "ms">;
    return { ...cached, fromCache: true, ms: Date.now() - started };
  }
  options.log?.(
    `planning ${Object.values(REGION_STACKS).join(" and ")} (the stacks changed since the last start)`,
  );
  // As production runs them: billing on, its Stripe secrets standing in for the stack secrets a
  // committed stack file cannot hold (the local Secret values below replace them anyway).
  const [primary, secondary] = await Promise.all([
    planStack(REGION_STACKS.primary, { config: PRODUCTION_CONFIG[REGION_STACKS.primary] }),
    planStack(REGION_STACKS.secondary, { config: PRODUCTION_CONFIG[REGION_STACKS.secondary] }),
  ]);
  const result = {
    manifests: { primary: kubernetesManifests(primary), secondary: kubernetesManifests(secondary) },
    config: {
      primary: readStackFile(REGION_STACKS.primary),
      secondary: readStackFile(REGION_STACKS.secondary),
    },
  };
  mkdirSync(cacheDir, { recursive: true });
  for (const old of readdirSync(cacheDir))
    if (/^manifests-[0-9a-f]+\.json$/.test(old)) rmSync(join(cacheDir, old), { force: true });
  // Written whole, then renamed: two starts at once never read half a file.
  writeFileSync(`${cachePath}.${process.pid}`, JSON.stringify(result));
  renameSync(`${cachePath}.${process.pid}`, cachePath);
  return { ...result, fromCache: false, ms: Date.now() - started };
}
