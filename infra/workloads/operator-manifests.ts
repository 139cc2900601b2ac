// Loads what the operators package generates (`npm run operators:generate`): the CRDs, the
// operator's least-privilege RBAC and the admission policies (the tenant finalizer on create). They are generated from the API types in operators/api, so the
// stacks deploy exactly the schema the controllers were built against.
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { parseAllDocuments } from "yaml";

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface OperatorManifests {
  crds: Manifest[];
  rbac: Manifest[];
  /** MutatingAdmissionPolicies and their bindings (admission.yaml). */
  admission: Manifest[];
}

const ADMISSION_KINDS = ["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"];

export const GENERATE_COMMAND = "npm run operators:generate";

export class OperatorManifestsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "OperatorManifestsError";
  }
}

function readManifests(file: string): Manifest[] {
  if (!existsSync(file)) {
    throw new OperatorManifestsError(
      `${file} does not exist. The CRDs and operator RBAC are generated from operators/api: ` +
        `run \`${GENERATE_COMMAND}\`, then plan or deploy again.`,
    );
  }
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  const manifests: Manifest[] = [];
  for (const [i, doc] of docs.entries()) {
    if (doc.errors.length > 0) {
      throw new OperatorManifestsError(
        `${file}, document ${i + 1}: ${doc.errors[0]?.message}. Regenerate it with \`${GENERATE_COMMAND}\`.`,
      );
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const m = value as Partial<Manifest>;
    if (
      typeof m.apiVersion !== "string" ||
      typeof m.kind !== "string" ||
      typeof m.metadata?.name !== "string"
    ) {
      throw new OperatorManifestsError(
        `${file}, document ${i + 1}: not a Kubernetes object (needs apiVersion, kind, metadata.name). ` +
          `Regenerate it with \`${GENERATE_COMMAND}\`.`,
      );
    }
    manifests.push(m as Manifest);
  }
  return manifests;
}

/** Reads `<dir>/crds.yaml`, `rbac.yaml` and `admission.yaml`; relative dirs resolve against `root`. */
export function loadOperatorManifests(dir: string, root: string): OperatorManifests {
  const base = path.resolve(root, dir);
  const crds = readManifests(path.join(base, "crds.yaml"));
  const notCrd = crds.find((m) => m.kind !== "CustomResourceDefinition");
  if (notCrd) {
    throw new OperatorManifestsError(
      `${path.join(base, "crds.yaml")} holds a ${notCrd.kind} "${notCrd.metadata.name}"; it must contain only ` +
        `CustomResourceDefinitions. Regenerate it with \`${GENERATE_COMMAND}\`.`,
    );
  }
  if (crds.length === 0) {
    throw new OperatorManifestsError(
      `${path.join(base, "crds.yaml")} defines no CRDs. Regenerate it with \`${GENERATE_COMMAND}\`.`,
    );
  }
  const rbac = readManifests(path.join(base, "rbac.yaml"));
  operatorAccount({ crds, rbac, admission: [] });
  const admission = readManifests(path.join(base, "admission.yaml"));
  const notAdmission = admission.find((m) => !ADMISSION_KINDS.includes(m.kind));
  if (notAdmission) {
    throw new OperatorManifestsError(
      `${path.join(base, "admission.yaml")} holds a ${notAdmission.kind} "${notAdmission.metadata.name}"; it must contain only ` +
        `${ADMISSION_KINDS.join(" and ")} objects. Regenerate it with \`${GENERATE_COMMAND}\`.`,
    );
  }
  return { crds, rbac, admission };
}

/** The operators run as the one ServiceAccount rbac.yaml declares, in its namespace. */
export function operatorAccount(manifests: OperatorManifests): { name: string; namespace: string } {
  const accounts = manifests.rbac.filter((m) => m.kind === "ServiceAccount");
  const account = accounts[0];
  if (accounts.length !== 1 || !account?.metadata.namespace) {
    throw new OperatorManifestsError(
      `rbac.yaml must declare exactly one ServiceAccount with a namespace for the operators (found ${accounts.length}). ` +
        `Fix the generator and run \`${GENERATE_COMMAND}\`.`,
    );
  }
  return { name: account.metadata.name, namespace: account.metadata.namespace };
}
