// Route 53 for one region. Names (zone apex = config `domain`):
//   <region>.api.<domain>  CNAME to this region's load balancer; what the health check probes.
//   api.<domain>           weighted record per region (set identifier = region name). The public
//                          name. The failover operator moves traffic 10 -> 50 -> 100 % by changing
//                          these weights at run time, so Pulumi ignores weight changes after creation.
//   failover.api.<domain>  failover pair: PRIMARY in the primary stack, SECONDARY in the secondary.
//                          Route 53 alone flips it when the primary's /readyz fails, for callers that
//                          cannot wait for a human-initiated failover (webhook senders, status probes).
// Every record that routes by health carries this region's health check.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

import type { RegionRole } from "../../stacks/config.ts";

export const RECORD_TTL_SECONDS = 30;
export const READINESS_PATH = "/readyz";

export function apiHostname(domain: string): string {
  return `api.${domain}`;
}
export function regionalHostname(domain: string, region: string): string {
  return `${region}.api.${domain}`;
}
export function failoverHostname(domain: string): string {
  return `failover.api.${domain}`;
}

export interface ApiCertificateArgs {
  domain: string;
  hostedZoneId: string;
}

/** TLS certificate for the API names, DNS-validated in the shared zone; one per region (ACM is regional). */
export class ApiCertificate extends pulumi.ComponentResource {
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: ApiCertificateArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:dns:ApiCertificate", name, {}, opts);
    const certificate = new aws.acm.Certificate(
      `${name}-certificate`,
      {
        domainName: apiHostname(args.domain),
        // Covers the regional and failover names too.
        subjectAlternativeNames: [`*.api.${args.domain}`],
        validationMethod: "DNS",
      },
      { parent: this },
    );
    // `api.<domain>` and `*.api.<domain>` validate through one and the same CNAME, so one record
    // suffices. ACM asks for that same record in both regions; whichever stack runs second
    // overwrites it with the identical value.
    const option = certificate.domainValidationOptions.apply((options) => {
      const first = options[0];
      if (!first) throw new Error(`ACM returned no DNS validation record for ${apiHostname(args.domain)}`);
      return first;
    });
    const validationRecord = new aws.route53.Record(
      `${name}-validation`,
      {
        zoneId: args.hostedZoneId,
        name: option.resourceRecordName,
        type: option.resourceRecordType,
        records: [option.resourceRecordValue],
        ttl: 300,
        allowOverwrite: true,
      },
      { parent: this },
    );
    const validation = new aws.acm.CertificateValidation(
      `${name}-validation`,
      { certificateArn: certificate.arn, validationRecordFqdns: [validationRecord.fqdn] },
      { parent: this },
    );
    this.arn = validation.certificateArn;
    this.registerOutputs({ arn: this.arn });
  }
}

export interface RegionDnsArgs {
  domain: string;
  hostedZoneId: string;
  region: string;
  role: RegionRole;
  /** Which role serves traffic when the stack is first applied; sets the initial weights. */
  activeRegion: RegionRole;
  loadBalancerHostname: pulumi.Input<string>;
}

export class RegionDns extends pulumi.ComponentResource {
  readonly healthCheckId: pulumi.Output<string>;
  readonly regionalHostname: string;
  readonly apiHostname: string;

  constructor(name: string, args: RegionDnsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:dns:RegionDns", name, {}, opts);
    const parent = { parent: this };
    const regional = regionalHostname(args.domain, args.region);

    const regionalRecord = new aws.route53.Record(
      `${name}-regional`,
      {
        zoneId: args.hostedZoneId,
        name: regional,
        type: "CNAME",
        ttl: RECORD_TTL_SECONDS,
        records: [args.loadBalancerHostname],
      },
      parent,
    );

    const healthCheck = new aws.route53.HealthCheck(
      `${name}-readyz`,
      {
        type: "HTTPS",
        fqdn: regional,
        port: 443,
        resourcePath: READINESS_PATH,
        enableSni: true,
        requestInterval: 10,
        // Three failed probes (~30 s) before Route 53 treats the region as down.
        failureThreshold: 3,
        measureLatency: true,
        referenceName: `${args.region}-readyz`.slice(0, 64),
      },
      { parent: this, dependsOn: [regionalRecord] },
    );

    new aws.route53.Record(
      `${name}-weighted`,
      {
        zoneId: args.hostedZoneId,
        name: apiHostname(args.domain),
        type: "CNAME",
        ttl: RECORD_TTL_SECONDS,
        records: [regional],
        setIdentifier: args.region,
        weightedRoutingPolicies: [{ weight: args.role === args.activeRegion ? 100 : 0 }],
        healthCheckId: healthCheck.id,
      },
      // The failover operator owns the weights after creation (staged 10 -> 50 -> 100 % shift);
      // without this, the next `pulumi up` would silently move traffic back.
      { parent: this, ignoreChanges: ["weightedRoutingPolicies"] },
    );

    new aws.route53.Record(
      `${name}-failover`,
      {
        zoneId: args.hostedZoneId,
        name: failoverHostname(args.domain),
        type: "CNAME",
        ttl: RECORD_TTL_SECONDS,
        records: [regional],
        setIdentifier: `${args.region}-${args.role}`,
        failoverRoutingPolicies: [{ type: args.role === "primary" ? "PRIMARY" : "SECONDARY" }],
        healthCheckId: healthCheck.id,
      },
      parent,
    );

    this.healthCheckId = healthCheck.id;
    this.regionalHostname = regional;
    this.apiHostname = apiHostname(args.domain);
    this.registerOutputs({ healthCheckId: this.healthCheckId });
  }
}
