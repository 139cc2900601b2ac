import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { loadOperatorManifests, OperatorManifestsError } from "./operator-manifests.ts";

const CRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: regionfailovers.platform.freight.dev
spec:
  group: platform.freight.dev
`;
const ACCOUNT = `apiVersion: v1
kind: ServiceAccount
metadata:
  name: freight-operators
  namespace: freight-system
`;

const POLICY = `apiVersion: admissionregistration.k8s.io/v1
kind: MutatingAdmissionPolicy
metadata:
  name: tenant-finalizer.platform.freight.dev
`;

const dirs: string[] = [];
function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), "operator-manifests-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("loadOperatorManifests", () => {
  it("reads multi-document CRD, RBAC and admission files", () => {
    const dir = dirWith({
      "crds.yaml": `# generated\n---\n${CRD}---\n${CRD.replace("regionfailovers", "tenants")}`,
      "rbac.yaml": ACCOUNT,
      "admission.yaml": POLICY,
    });
    const manifests = loadOperatorManifests(dir, "/");
    expect(manifests.crds.map((c) => c.metadata.name)).toEqual([
      "regionfailovers.platform.freight.dev",
      "tenants.platform.freight.dev",
    ]);
    expect(manifests.rbac).toHaveLength(1);
    expect(manifests.admission.map((m) => m.kind)).toEqual(["MutatingAdmissionPolicy"]);
  });

  it("names the generator command when admission.yaml is missing, and refuses other kinds in it", () => {
    const missing = dirWith({ "crds.yaml": CRD, "rbac.yaml": ACCOUNT });
    expect(() => loadOperatorManifests(missing, "/")).toThrow(
      /admission\.yaml does not exist.*npm run operators:generate/,
    );
    const wrong = dirWith({ "crds.yaml": CRD, "rbac.yaml": ACCOUNT, "admission.yaml": ACCOUNT });
    expect(() => loadOperatorManifests(wrong, "/")).toThrow(
      /admission\.yaml holds a ServiceAccount "freight-operators"; it must contain only MutatingAdmissionPolicy/,
    );
  });

  it("names the generator command when the files have not been generated", () => {
    const dir = dirWith({});
    expect(() => loadOperatorManifests(dir, "/")).toThrow(OperatorManifestsError);
    expect(() => loadOperatorManifests(dir, "/")).toThrow(
      /crds\.yaml does not exist.*npm run operators:generate/,
    );
  });

  it("rejects anything but CRDs in crds.yaml", () => {
    const dir = dirWith({ "crds.yaml": `${CRD}---\n${ACCOUNT}`, "rbac.yaml": ACCOUNT });
    expect(() => loadOperatorManifests(dir, "/")).toThrow(/holds a ServiceAccount "freight-operators"/);
  });

  it("rejects RBAC without exactly one namespaced operator service account", () => {
    const dir = dirWith({
      "crds.yaml": CRD,
      "rbac.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n",
    });
    expect(() => loadOperatorManifests(dir, "/")).toThrow(/exactly one ServiceAccount/);
  });

  it("reports YAML that is not a Kubernetes object", () => {
    const dir = dirWith({ "crds.yaml": "just: text\n", "rbac.yaml": ACCOUNT });
    expect(() => loadOperatorManifests(dir, "/")).toThrow(/document 1: not a Kubernetes object/);
  });

  const root = path.resolve(import.meta.dirname, "../..");
  const generated = existsSync(path.join(root, "operators/deploy/crds.yaml"));
  it(`${generated ? "loads the generated files of this repository" : "explains how to generate this repository's files"}`, () => {
    if (generated) {
      const manifests = loadOperatorManifests("operators/deploy", root);
      expect(manifests.crds.length).toBeGreaterThan(0);
      expect(manifests.crds.every((c) => c.kind === "CustomResourceDefinition")).toBe(true);
      expect(manifests.admission.map((m) => m.kind)).toEqual([
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
      ]);
    } else {
      expect(() => loadOperatorManifests("operators/deploy", root)).toThrow(/npm run operators:generate/);
    }
  });
});
