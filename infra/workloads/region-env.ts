// The environment every platform process gets from the region it runs in, spelled once so the
// quote API, the runners, the operators and the scheduled Jobs agree on it.
import type { RegionRole } from "../../stacks/config.ts";
import type { EnvVar } from "./pod-spec.ts";

export interface RegionSettings {
  region: string;
  role: RegionRole;
  activeRegion: RegionRole;
  logLevel: string;
}

export function regionEnv(settings: RegionSettings): EnvVar[] {
  return [
    { name: "REGION_NAME", value: settings.region },
    { name: "REGION_ROLE", value: settings.role },
    { name: "REGION_ACTIVE", value: settings.activeRegion },
    { name: "LOG_LEVEL", value: settings.logLevel },
  ];
}
