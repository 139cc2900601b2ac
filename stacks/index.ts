// Pulumi entry point (Pulumi.yaml `main`). Config is validated as a whole before anything is
// registered; the region program does the rest.
import path from "node:path";
import { fileURLToPath } from "node:url";

import * as pulumi from "@pulumi/pulumi";

import { parseStackConfig } from "./config.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export default async function main(): Promise<Record<string, pulumi.Input<unknown>>> {
  const config = parseStackConfig(pulumi.getStack(), pulumi.runtime.allConfig());
  // Loaded only once the config is valid: a config mistake is reported in well under a second.
  const { regionStack } = await import("./program.ts");
  return regionStack(config, { root });
}
