// The CloudFront edge. An edge function is only as good as its weakest behaviour: a path whose
// behaviour runs other code (or none) skips the maintenance page and the region header, so every
// behaviour that runs a function for an event must run the same code (sha256 of `code`). And a
// distribution serves the API's bearer tokens: TLS 1.2 or newer only, and access logs kept.
import { createHash } from "node:crypto";
import type { PolicyResource } from "@pulumi/policy";
import type { Rule } from "./common.ts";
import { asList, at, isUnknown, isUnset, report } from "./common.ts";

export const DISTRIBUTION_TYPE = "aws:cloudfront/distribution:Distribution";
export const FUNCTION_TYPE = "aws:cloudfront/function:Function";
/** CloudFront's security policies that refuse TLS 1.0 and 1.1 (viewerCertificate.minimumProtocolVersion). */
export const TLS12_POLICIES = [
  "TLSv1.2_2018",
  "TLSv1.2_2019",
  "TLSv1.2_2021",
  "TLSv1.2_2025",
  "TLSv1.3_2025",
];

interface Behaviour {
  /** `default` or the ordered behaviour's path pattern, the way the CloudFront console names it. */
  label: string;
  props: unknown;
  /** The distribution property holding it, for the engine's property dependencies. */
  property: "defaultCacheBehavior" | "orderedCacheBehaviors";
}

function behavioursOf(distribution: { props: unknown }): Behaviour[] {
  const behaviours: Behaviour[] = [];
  const fallback = at(distribution.props, "defaultCacheBehavior");
  if (!isUnknown(fallback) && !isUnset(fallback))
    behaviours.push({ label: "default", props: asList(fallback)[0], property: "defaultCacheBehavior" });
  const ordered = at(distribution.props, "orderedCacheBehaviors");
  if (!isUnknown(ordered)) {
    for (const b of asList(ordered)) {
      const pattern = at(b, "pathPattern");
      behaviours.push({
        label: typeof pattern === "string" ? pattern : "(unknown path)",
        props: b,
        property: "orderedCacheBehaviors",
      });
    }
  }
  return behaviours;
}

interface Deployed {
  fn: PolicyResource;
  hash: string;
}

function deployed(fn: PolicyResource): Deployed | undefined {
  const code = at(fn.props, "code");
  if (typeof code !== "string") return undefined;
  return { fn, hash: createHash("sha256").update(code).digest("hex") };
}

/**
 * The function an association names: by ARN (or name) once known; during a preview, where the ARN
 * of a new function is unknown, by the engine's dependencies when they point at exactly one function.
 */
function referenced(
  association: unknown,
  distribution: PolicyResource,
  behaviour: Behaviour,
  functions: readonly Deployed[],
): Deployed | undefined {
  const arn = at(association, "functionArn");
  if (typeof arn === "string" && arn !== "") {
    return functions.find((f) =>
      [at(f.fn.props, "arn"), at(f.fn.props, "name")].some(
        (id) => id === arn || (typeof id === "string" && arn.endsWith(`:function/${id}`)),
      ),
    );
  }
  const deps = (distribution.propertyDependencies?.[behaviour.property] ?? [])
    .map((dep) => functions.find((f) => f.fn.urn === dep.urn))
    .filter((f): f is Deployed => f !== undefined);
  return deps.length === 1 ? deps[0] : undefined;
}

const short = (hash: string) => `sha256:${hash.slice(0, 12)}`;

export const cloudfrontEdgeFunctionIdentical: Rule = {
  name: "cloudfront-edge-function-identical",
  description:
    "Every behaviour of every distribution that runs an edge function for an event runs the same code (same sha256), and no behaviour skips it.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    "Deploy the edge function once from its one source file (infra/edge/viewer-request.js) and associate that aws.cloudfront.Function with every behaviour of the distribution.",
  validateStack: (args, reportViolation) => {
    const functions = args.resources
      .filter((r) => r.type === FUNCTION_TYPE)
      .map(deployed)
      .filter((f): f is Deployed => f !== undefined);
    const distributions = args.resources.filter((r) => r.type === DISTRIBUTION_TYPE);
    // Per event type: which code each behaviour of each distribution runs (the first one seen sets the reference).
    const reference = new Map<string, { where: string; deployed: Deployed }>();
    for (const distribution of distributions) {
      const behaviours = behavioursOf(distribution);
      const events = new Set<string>();
      const runs = behaviours.map((behaviour) => {
        const byEvent = new Map<string, Deployed | undefined>();
        const associations = at(behaviour.props, "functionAssociations");
        if (isUnknown(associations)) return undefined;
        for (const association of asList(associations)) {
          const event = at(association, "eventType");
          if (typeof event !== "string") continue;
          events.add(event);
          byEvent.set(event, referenced(association, distribution, behaviour, functions));
        }
        return byEvent;
      });
      for (const event of events) {
        behaviours.forEach((behaviour, i) => {
          const byEvent = runs[i];
          if (byEvent === undefined) return;
          const where = `behaviour ${behaviour.label} of ${distribution.name}`;
          if (!byEvent.has(event)) {
            report(
              reportViolation,
              distribution,
              `${where} runs no ${event} function while other behaviours do, so requests on that path skip the edge function (maintenance page, region header).`,
              `add functionAssociations: [{ eventType: "${event}", functionArn: <the one edge function's arn> }] to ${behaviour.label === "default" ? "defaultCacheBehavior" : `the ordered behaviour ${behaviour.label}`}.`,
            );
            return;
          }
          const current = byEvent.get(event);
          if (current === undefined) return;
          const first = reference.get(event);
          if (!first) {
            reference.set(event, { where, deployed: current });
            return;
          }
          if (first.deployed.hash === current.hash) return;
          report(
            reportViolation,
            distribution,
            `${where} runs ${event} function ${current.fn.name} (${short(current.hash)}) but ${first.where} runs ${first.deployed.fn.name} (${short(first.deployed.hash)}): the same edge function is deployed with different code.`,
            `deploy the function once from its source file and point every behaviour's ${event} association at it (functionArn: ${first.deployed.fn.name}.arn); remove ${current.fn.name}.`,
          );
        });
      }
    }
  },
};

export const cloudfrontTls12: Rule = {
  name: "cloudfront-tls-1-2",
  description: "Distributions serve HTTPS only, with TLS 1.2 or newer, on the API's own certificate.",
  enforcementLevel: "mandatory",
  severity: "high",
  remediationSteps:
    'Set viewerCertificate to { acmCertificateArn: <us-east-1 certificate>, sslSupportMethod: "sni-only", minimumProtocolVersion: "TLSv1.2_2021" } and viewerProtocolPolicy "https-only" (or "redirect-to-https") on every behaviour.',
  validateResource: (args, reportViolation) => {
    if (args.type !== DISTRIBUTION_TYPE)
      args.notApplicable(`Policy only applies to resources of type '${DISTRIBUTION_TYPE}'`);
    const certificate = asList(at(args.props, "viewerCertificate"))[0];
    const minimum = at(certificate, "minimumProtocolVersion");
    const defaultCertificate = at(certificate, "cloudfrontDefaultCertificate");
    const fix =
      'set viewerCertificate: { acmCertificateArn: <the API certificate in us-east-1>, sslSupportMethod: "sni-only", minimumProtocolVersion: "TLSv1.2_2021" }.';
    if (defaultCertificate === true) {
      report(
        reportViolation,
        args,
        "uses the *.cloudfront.net default certificate, which CloudFront serves with TLS 1.0 and 1.1 still allowed.",
        fix,
      );
    } else if (!isUnknown(minimum) && !(typeof minimum === "string" && TLS12_POLICIES.includes(minimum))) {
      report(
        reportViolation,
        args,
        `allows viewers below TLS 1.2 (minimumProtocolVersion ${typeof minimum === "string" ? minimum : "unset"}).`,
        fix,
      );
    }
    for (const behaviour of behavioursOf(args)) {
      const protocol = at(behaviour.props, "viewerProtocolPolicy");
      if (protocol !== "allow-all") continue;
      report(
        reportViolation,
        args,
        `behaviour ${behaviour.label} accepts plain HTTP (viewerProtocolPolicy allow-all), sending API keys in clear text.`,
        `set viewerProtocolPolicy: "https-only" on ${behaviour.label === "default" ? "defaultCacheBehavior" : `the ordered behaviour ${behaviour.label}`}.`,
      );
    }
  },
};

export const cloudfrontAccessLogs: Rule = {
  name: "cloudfront-access-logs",
  description: "Distributions write access logs to an S3 bucket, the only record of who called the edge.",
  enforcementLevel: "mandatory",
  severity: "medium",
  remediationSteps:
    'Set loggingConfig: { bucket: <log bucket>.bucketDomainName, prefix: "cloudfront/" } on the distribution.',
  validateResource: (args, reportViolation) => {
    if (args.type !== DISTRIBUTION_TYPE)
      args.notApplicable(`Policy only applies to resources of type '${DISTRIBUTION_TYPE}'`);
    const logging = at(args.props, "loggingConfig");
    if (isUnknown(logging)) return;
    const bucket = at(asList(logging)[0], "bucket");
    // A bucket created in the same preview is unknown: it will be set.
    if (isUnknown(bucket) || !isUnset(bucket)) return;
    report(
      reportViolation,
      args,
      "keeps no access logs, so a leaked key's calls through the edge leave no trace.",
      'set loggingConfig: { bucket: <a private, encrypted log bucket>.bucketDomainName, prefix: "cloudfront/", includeCookies: false }.',
    );
  },
};

export const edgeRules: Rule[] = [cloudfrontEdgeFunctionIdentical, cloudfrontTls12, cloudfrontAccessLogs];
