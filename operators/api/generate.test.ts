import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { admissionPath, crdsPath, rbacPath, renderAdmission, renderCrds, renderRbac } from "./generate.ts";

describe("generated deploy files", () => {
  it("operators/deploy/crds.yaml is up to date with operators/api (run npm run operators:generate)", async () => {
    expect(readFileSync(crdsPath, "utf8")).toBe(await renderCrds());
  });

  it("operators/deploy/rbac.yaml is up to date with operators/api (run npm run operators:generate)", async () => {
    expect(readFileSync(rbacPath, "utf8")).toBe(await renderRbac());
  });

  it("operators/deploy/admission.yaml is up to date with operators/api (run npm run operators:generate)", async () => {
    expect(readFileSync(admissionPath, "utf8")).toBe(await renderAdmission());
  });

  it("declares the five kinds with status subresources where status exists", async () => {
    const crds = parseAllDocuments(await renderCrds()).map((d) => d.toJS());
    expect(crds.map((c) => c.spec.names.kind)).toEqual([
      "Plan",
      "Tenant",
      "RateLimitPolicy",
      "RegionFailover",
      "PricingModel",
    ]);
    expect(crds.map((c) => c.spec.scope)).toEqual([
      "Cluster",
      "Namespaced",
      "Namespaced",
      "Namespaced",
      "Namespaced",
    ]);
    const tenant = crds[1];
    expect(tenant.spec.versions[0].subresources).toEqual({ status: {} });
  });

  it("grants no write verbs on specs beyond patching tenants (finalizer), only status elsewhere, and nothing on secrets", async () => {
    const objects = parseAllDocuments(await renderRbac()).map((d) => d.toJS());
    const role = objects.find((o) => o.kind === "ClusterRole");
    const rules = role.rules as { resources: string[]; verbs: string[] }[];
    for (const rule of rules) {
      expect(rule.resources).not.toContain("secrets");
      expect(rule.verbs).not.toContain("delete");
      expect(rule.verbs).not.toContain("*");
      if (rule.verbs.includes("patch")) {
        expect(rule.resources.every((r) => r === "tenants" || r.endsWith("/status"))).toBe(true);
      }
    }
  });
});
