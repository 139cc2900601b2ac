// The policy pack's contents: every rule, in the order reports list them. Kept apart from
// index.ts because constructing a PolicyPack starts its gRPC server; tests and the offline
// runner import this module instead.
import type { PolicyPackArgs } from "@pulumi/policy";
import type { Rule } from "./rules/common.ts";
import { edgeRules } from "./rules/edge.ts";
import { iamRules } from "./rules/iam.ts";
import { kubernetesRules } from "./rules/kubernetes.ts";
import { networkRules } from "./rules/network.ts";
import { networkPolicyRules } from "./rules/network-policies.ts";
import { rdsRules } from "./rules/rds.ts";
import { residencyRules } from "./rules/residency.ts";
import { route53Rules } from "./rules/route53.ts";
import { s3Rules } from "./rules/s3.ts";
import { secretsRules } from "./rules/secrets.ts";
import { tagRules } from "./rules/tags.ts";

export const PACK_NAME = "freight-guardrails";

export const rules: Rule[] = [
  ...s3Rules,
  ...rdsRules,
  ...route53Rules,
  ...edgeRules,
  ...networkRules,
  ...iamRules,
  ...secretsRules,
  ...tagRules,
  ...residencyRules,
  ...kubernetesRules,
  ...networkPolicyRules,
];

export const packArgs: PolicyPackArgs = {
  policies: rules,
  enforcementLevel: "mandatory",
  displayName: "Freight platform guardrails",
  description:
    "Encryption, replication, lifecycle, least privilege, key rotation, edge TLS, logging and function parity, data residency and workload hygiene for the freight platform's region stacks.",
  provider: "aws",
  tags: ["aws", "kubernetes", "freight-platform"],
};
