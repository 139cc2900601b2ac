// Generates operators/deploy/crds.yaml, rbac.yaml and admission.yaml from the API source
// (`npm run operators:generate`). The stacks deploy exactly these files; generate.test.ts fails
// when they are stale.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { format, resolveConfig } from "prettier";
import { stringify } from "yaml";
import { toCustomResourceDefinition } from "./crd.ts";
import { admissionObjects } from "./admission.ts";
import { rbacObjects } from "./rbac.ts";
import { resourceDefinitions } from "./resources.ts";

export const deployDir = join(import.meta.dirname, "..", "deploy");
export const crdsPath = join(deployDir, "crds.yaml");
export const rbacPath = join(deployDir, "rbac.yaml");
export const admissionPath = join(deployDir, "admission.yaml");

const header = (what: string) =>
  `# ${what}\n# Generated from operators/api by \`npm run operators:generate\`; do not edit by hand.\n`;

function multiDocument(objects: unknown[]): string {
  return objects.map((o) => `---\n${stringify(o, { lineWidth: 0 })}`).join("");
}

// Formatted the way the repository's prettier check expects, so the generated files pass lint as is.
async function formatted(path: string, text: string): Promise<string> {
  const options = (await resolveConfig(path)) ?? {};
  return format(text, { ...options, filepath: path });
}

export function renderCrds(): Promise<string> {
  return formatted(
    crdsPath,
    header("CustomResourceDefinitions of platform.freight.dev") +
      multiDocument(resourceDefinitions.map(toCustomResourceDefinition)),
  );
}

export function renderRbac(): Promise<string> {
  return formatted(
    rbacPath,
    header(
      "The operators' ServiceAccount and least-privilege RBAC, billing's and signup's Roles on Tenants",
    ) + multiDocument(rbacObjects()),
  );
}

export function renderAdmission(): Promise<string> {
  return formatted(
    admissionPath,
    header("Admission-time defaults: the tenant finalizer on every new Tenant (Kubernetes >= 1.36)") +
      multiDocument(admissionObjects()),
  );
}

if (import.meta.main) {
  writeFileSync(crdsPath, await renderCrds());
  writeFileSync(rbacPath, await renderRbac());
  writeFileSync(admissionPath, await renderAdmission());
  console.log(`wrote ${crdsPath}\nwrote ${rbacPath}\nwrote ${admissionPath}`);
}
