import { describe, expect, it } from "vitest";
import type { PolicyPackConfig } from "@pulumi/policy";
import { validatePackConfig } from "./offline.ts";
import { PACK_NAME, packArgs, rules } from "./pack.ts";
import packageJson from "./package.json" with { type: "json" };

describe("the policy pack", () => {
  it("has a name, a version and the entry point the Pulumi CLI loads", () => {
    expect(PACK_NAME).toMatch(/^[a-zA-Z0-9._-]+$/);
    expect(packageJson.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(packageJson.main).toBe("index.js");
    expect(packageJson.dependencies).toHaveProperty("@pulumi/policy");
    expect(packArgs.policies).toBe(rules);
  });

  it("gives every rule a unique name, a description, remediation steps and an enforcement level", () => {
    const names = rules.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain("all");
    for (const rule of rules) {
      expect(rule.description, rule.name).toMatch(/\S/);
      expect(rule.remediationSteps, rule.name).toMatch(/\S/);
      expect(rule.enforcementLevel, rule.name).toBe("mandatory");
    }
  });

  it("covers every concern of the issue", () => {
    expect(rules.map((r) => r.name)).toEqual([
      "s3-bucket-versioning",
      "s3-bucket-sse-kms",
      "s3-bucket-public-access-blocked",
      "s3-bucket-lifecycle",
      "s3-primary-document-replication",
      "rds-encrypted-at-rest",
      "rds-backup-retention",
      "rds-deletion-protection",
      "rds-not-publicly-accessible",
      "rds-multi-az-primary",
      "rds-secondary-has-primary-replica",
      "route53-failover-health-check",
      "cloudfront-edge-function-identical",
      "cloudfront-tls-1-2",
      "cloudfront-access-logs",
      "eks-private-api-endpoint",
      "eks-control-plane-logging",
      "security-group-no-open-ingress",
      "iam-no-wildcard-admin",
      "iam-dns-changes-scoped",
      "secrets-rotation-window",
      "tags-required",
      "data-residency-allowed-regions",
      "k8s-resource-requests-limits",
      "k8s-health-probes",
      "k8s-run-as-non-root",
      "k8s-image-pinned-by-digest",
      "k8s-api-pod-disruption-budget",
      "k8s-token-only-for-bound-accounts",
      "k8s-secrets-as-files",
      "k8s-pods-default-deny",
    ]);
  });

  it("declares config schemas whose defaults are themselves valid config", () => {
    const defaults: PolicyPackConfig = {};
    for (const rule of rules) {
      const properties = rule.configSchema?.properties ?? {};
      // The policy runtime refuses to start when a schema declares enforcementLevel itself.
      expect(Object.keys(properties), rule.name).not.toContain("enforcementLevel");
      const values = Object.fromEntries(
        Object.entries(properties).map(([key, schema]) => [
          key,
          typeof schema === "object" ? schema.default : undefined,
        ]),
      );
      for (const [key, value] of Object.entries(values))
        expect(value, `${rule.name}.${key} default`).toBeDefined();
      if (Object.keys(values).length > 0) defaults[rule.name] = values;
    }
    expect(Object.keys(defaults).length).toBeGreaterThanOrEqual(9);
    expect(validatePackConfig(rules, defaults)).toEqual([]);
  });
});
