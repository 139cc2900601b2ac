// Least privilege: no policy document grants every action on every resource, and nothing attaches
// AWS's AdministratorAccess. Documents come as JSON strings or objects, with Statement/Action/Resource
// as a single value or a list.
import type { Rule } from "./common.ts";
import { asList, at, isRecord, isUnknown, peek, report } from "./common.ts";

/** Parses a policy document in any of the shapes the AWS provider accepts; undefined if it is not one. */
export function parsePolicyDocument(document: unknown): unknown[] | undefined {
  let parsed: unknown = document;
  if (typeof document === "string") {
    try {
      parsed = JSON.parse(document) as unknown;
    } catch {
      return undefined;
    }
  }
  if (!isRecord(parsed)) return undefined;
  const statements = at(parsed, "Statement");
  if (isUnknown(statements)) return undefined;
  return asList(statements);
}

function matchesEverything(value: unknown): boolean {
  return asList(value).some((v) => v === "*" || v === "*:*");
}

/** Statements that allow `*` on `*`. */
export function adminStatements(statements: readonly unknown[]): unknown[] {
  return statements.filter((statement) => {
    const effect = at(statement, "Effect");
    const action = at(statement, "Action");
    const resource = at(statement, "Resource");
    if (isUnknown(effect) || isUnknown(action) || isUnknown(resource)) return false;
    return effect !== "Deny" && matchesEverything(action) && matchesEverything(resource);
  });
}

/** Every permission document a resource carries: `policy`, and a role's inline policies. Trust policies grant nothing. */
function documentsOf(props: unknown): { where: string; document: unknown }[] {
  const documents: { where: string; document: unknown }[] = [];
  const policy = at(props, "policy");
  if (!isUnknown(policy) && policy !== undefined) documents.push({ where: "policy", document: policy });
  const inline = at(props, "inlinePolicies");
  if (!isUnknown(inline)) {
    asList(inline).forEach((entry, i) => {
      const document = at(entry, "policy");
      const name = at(entry, "name");
      if (!isUnknown(document) && document !== undefined) {
        documents.push({ where: `inlinePolicies[${typeof name === "string" ? name : i}]`, document });
      }
    });
  }
  return documents;
}

/** AWS's managed AdministratorAccess policy is `*` on `*` by another name. */
const ADMINISTRATOR_ACCESS = /^arn:aws[a-z-]*:iam::aws:policy\/AdministratorAccess$/;

/** Attachments of AdministratorAccess: a policy attachment's `policyArn`, a role's `managedPolicyArns`. */
function administratorAttachments(props: unknown): string[] {
  const arns = [at(props, "policyArn"), ...asList(at(props, "managedPolicyArns"))];
  return arns.filter((arn): arn is string => typeof arn === "string" && ADMINISTRATOR_ACCESS.test(arn));
}

export const iamNoAdminWildcard: Rule = {
  name: "iam-no-wildcard-admin",
  description: 'No policy allows every action ("*") on every resource ("*").',
  enforcementLevel: "mandatory",
  severity: "critical",
  remediationSteps: 'List the actions the workload calls and the ARNs it touches instead of "*".',
  validateResource: (args, reportViolation) => {
    if (!args.type.startsWith("aws:")) args.notApplicable("Policy only applies to AWS resources.");
    const fix =
      'replace "*" with the specific actions (e.g. "s3:GetObject") and the ARNs of the resources this workload uses.';
    for (const arn of administratorAttachments(args.props)) {
      report(
        reportViolation,
        args,
        `attaches ${arn}, which allows Action "*" on Resource "*": full administrator access.`,
        `attach a customer-managed policy instead that lists the specific actions and ARNs this workload uses.`,
      );
    }
    const documents = peek(() => documentsOf(args.props));
    if (isUnknown(documents)) return;
    for (const { where, document } of documents) {
      const statements = peek(() => parsePolicyDocument(document));
      if (isUnknown(statements) || statements === undefined) continue;
      const admin = adminStatements(statements);
      if (admin.length === 0) continue;
      const sid = at(admin[0], "Sid");
      report(
        reportViolation,
        args,
        `${where} allows Action "*" on Resource "*"${typeof sid === "string" ? ` (statement ${sid})` : ""}: full administrator access.`,
        fix,
      );
    }
  },
};

/** The action that writes DNS records, matched by an IAM action pattern ("route53:*", "route53:Change*", "*"). */
const CHANGE_RECORDS = "route53:changeresourcerecordsets";
function allowsRecordChanges(action: unknown): boolean {
  return asList(action).some((a) => {
    if (typeof a !== "string") return false;
    const pattern = a
      .toLowerCase()
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".");
    return new RegExp(`^${pattern}$`).test(CHANGE_RECORDS);
  });
}

/** Whether a statement's resources take in a hosted zone ("*", a zone ARN or a pattern of them). */
function onHostedZones(resource: unknown): boolean {
  return asList(resource).some(
    (r) => typeof r === "string" && (r === "*" || /^arn:aws[a-z-]*:route53:::(hostedzone\/|\*)/.test(r)),
  );
}

/** The condition key that limits a record change to named records (any operator, e.g. ForAllValues:StringEquals). */
const RECORD_NAMES_KEY = "route53:changeresourcerecordsetsnormalizedrecordnames";
function limitsRecordNames(condition: unknown): boolean {
  if (!isRecord(condition)) return false;
  return Object.values(condition).some(
    (operands) =>
      isRecord(operands) && Object.keys(operands).some((k) => k.toLowerCase() === RECORD_NAMES_KEY),
  );
}

export const iamDnsChangesScoped: Rule = {
  name: "iam-dns-changes-scoped",
  description:
    "A policy that may change Route 53 records names the records it may change: a zone-wide grant lets one workload repoint the whole domain.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    'Add a Condition {"ForAllValues:StringEquals": {"route53:ChangeResourceRecordSetsNormalizedRecordNames": [<the names>]}} to the statement (as infra/workloads/failover.ts does for the API name).',
  validateResource: (args, reportViolation) => {
    if (!args.type.startsWith("aws:")) args.notApplicable("Policy only applies to AWS resources.");
    const documents = peek(() => documentsOf(args.props));
    if (isUnknown(documents)) return;
    for (const { where, document } of documents) {
      const statements = peek(() => parsePolicyDocument(document));
      if (isUnknown(statements) || statements === undefined) continue;
      for (const statement of statements) {
        const effect = at(statement, "Effect");
        const action = at(statement, "Action");
        const condition = at(statement, "Condition");
        const resource = at(statement, "Resource");
        if (isUnknown(effect) || isUnknown(action) || isUnknown(condition) || isUnknown(resource)) continue;
        if (effect === "Deny" || !allowsRecordChanges(action) || !onHostedZones(resource)) continue;
        if (limitsRecordNames(condition)) continue;
        const sid = at(statement, "Sid");
        report(
          reportViolation,
          args,
          `${where} allows route53:ChangeResourceRecordSets on any record of the zone${typeof sid === "string" ? ` (statement ${sid})` : ""}.`,
          'limit it to the records the workload owns with a "route53:ChangeResourceRecordSetsNormalizedRecordNames" condition.',
        );
      }
    }
  },
};

export const iamRules: Rule[] = [iamNoAdminWildcard, iamDnsChangesScoped];
