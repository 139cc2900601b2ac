// The edge: one CloudFront distribution in front of both regions' APIs, declared by the primary
// stack (CloudFront is a global service: one distribution, one owner; the primary already owns
// the other account-wide resources, and its region is us-east-1, where CloudFront reads its
// certificate). A CloudFront Function (not Lambda@Edge) runs on every behaviour: it only reads a
// KeyValueStore and rewrites headers or answers a 503, which CloudFront Functions do at every edge
// location in under a millisecond, with no IAM role, no versions to publish in us-east-1 and no
// replica cleanup; the cost is the runtime's limits (cloudfront-js-2.0, 10 KB, no network).
//
// CloudFront fails over an origin group only for GET, HEAD and OPTIONS and refuses an origin
// group on a behaviour that allows writes. So reads of read-only API paths go to the origin group
// (active region first, the other on 5xx or a timeout), and everything else, writes included, goes
// to the active region's origin, whose router redirects a write that reaches a standby (307).
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { policyDocument, tlsOnlyBucketPolicy } from "../documents/bucket-policy.ts";

import type { RegionRole } from "../../app/region.ts";
import { regionalHostname } from "../dns/dns.ts";
import { EDGE_FUNCTION_RUNTIME, edgeFunctionCode } from "./edge-function.ts";

/** AWS-managed policies: no caching (the API answers per tenant), every viewer header but Host. */
export const CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
export const ALL_VIEWER_EXCEPT_HOST_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac";
/** The hosted zone of every CloudFront distribution, for Route 53 alias records. */
export const CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2";
export const ORIGIN_GROUP_ID = "api-failover";
/** What CloudFront retries on the other region; a connection timeout fails over as well. */
export const FAILOVER_STATUS_CODES = [500, 502, 503, 504];
/** GET-only API paths (app/http routes): the only ones CloudFront may fail over. */
export const READ_ONLY_PATHS = [
  "/v1/locations*",
  "/v1/usage*",
  "/v1/directory/carriers*",
  "/v1/bulk-jobs/*/results.csv",
];
const READ_METHODS = ["GET", "HEAD", "OPTIONS"];
const ALL_METHODS = ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"];

export interface EdgeArgs {
  domain: string;
  hostedZoneId: string;
  /** The name the distribution answers on; the API certificate covers `*.api.<domain>`. */
  hostname: string;
  regions: Record<RegionRole, string>;
  /** Where writes go and which origin the failover group tries first. */
  activeRegion: RegionRole;
  /** An ACM certificate in us-east-1 covering `hostname`: CloudFront reads certificates only there. */
  certificateArn: pulumi.Input<string>;
  logBucketName: string;
  logRetentionDays: number;
}

export function originId(role: RegionRole): string {
  return `api-${role}`;
}

export class Edge extends pulumi.ComponentResource {
  readonly distributionId: pulumi.Output<string>;
  readonly distributionDomainName: pulumi.Output<string>;
  readonly keyValueStoreArn: pulumi.Output<string>;
  readonly functionArn: pulumi.Output<string>;
  readonly logBucketName: pulumi.Output<string>;

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:edge:Edge", name, {}, opts);
    const parent = { parent: this };
    const logs = this.logBucket(name, args);

    // The maintenance switch and the active region, read by the function at the edge; the runbook
    // writes them, so Pulumi creates the store empty and never touches its keys.
    const store = new aws.cloudfront.KeyValueStore(
      `${name}-state`,
      { name: "freight-edge-state", comment: "write-freeze, active-region, retry-after-seconds" },
      parent,
    );
    const viewerRequest = new aws.cloudfront.Function(
      `${name}-viewer-request`,
      {
        name: "freight-edge-viewer-request",
        runtime: EDGE_FUNCTION_RUNTIME,
        comment: "infra/edge/viewer-request.js: region header, maintenance page for writes",
        code: edgeFunctionCode(),
        publish: true,
        keyValueStoreAssociations: [store.arn],
      },
      parent,
    );
    const functionAssociations = [{ eventType: "viewer-request", functionArn: viewerRequest.arn }];

    const regionalOrigin = (role: RegionRole) => ({
      originId: originId(role),
      domainName: regionalHostname(args.domain, args.regions[role]),
      // A region that does not answer within 3 x 5 s counts as down and the group moves on.
      connectionAttempts: 3,
      connectionTimeout: 5,
      customOriginConfig: {
        httpPort: 80,
        httpsPort: 443,
        originProtocolPolicy: "https-only",
        originSslProtocols: ["TLSv1.2"],
        originReadTimeout: 30,
        originKeepaliveTimeout: 5,
      },
    });
    const standby: RegionRole = args.activeRegion === "primary" ? "secondary" : "primary";
    const behaviour = {
      viewerProtocolPolicy: "https-only",
      cachePolicyId: CACHING_DISABLED_POLICY_ID,
      // With caching off, this managed policy may forward Authorization (and the API key header).
      originRequestPolicyId: ALL_VIEWER_EXCEPT_HOST_POLICY_ID,
      compress: true,
      functionAssociations,
    };

    const distribution = new aws.cloudfront.Distribution(
      `${name}-distribution`,
      {
        enabled: true,
        comment: `Freight API at ${args.hostname}: both regions, failover for reads`,
        aliases: [args.hostname],
        isIpv6Enabled: true,
        httpVersion: "http2and3",
        priceClass: "PriceClass_100",
        origins: [regionalOrigin("primary"), regionalOrigin("secondary")],
        originGroups: [
          {
            originId: ORIGIN_GROUP_ID,
            failoverCriteria: { statusCodes: FAILOVER_STATUS_CODES },
            members: [{ originId: originId(args.activeRegion) }, { originId: originId(standby) }],
          },
        ],
        defaultCacheBehavior: {
          ...behaviour,
          targetOriginId: originId(args.activeRegion),
          allowedMethods: ALL_METHODS,
          cachedMethods: ["GET", "HEAD"],
        },
        orderedCacheBehaviors: READ_ONLY_PATHS.map((pathPattern) => ({
          ...behaviour,
          pathPattern,
          targetOriginId: ORIGIN_GROUP_ID,
          allowedMethods: READ_METHODS,
          cachedMethods: ["GET", "HEAD"],
        })),
        viewerCertificate: {
          acmCertificateArn: args.certificateArn,
          sslSupportMethod: "sni-only",
          minimumProtocolVersion: "TLSv1.2_2021",
        },
        loggingConfig: { bucket: logs.bucketDomainName, prefix: "cloudfront/", includeCookies: false },
        restrictions: { geoRestriction: { restrictionType: "none" } },
      },
      parent,
    );

    for (const type of ["A", "AAAA"]) {
      new aws.route53.Record(
        `${name}-alias-${type.toLowerCase()}`,
        {
          zoneId: args.hostedZoneId,
          name: args.hostname,
          type,
          aliases: [
            {
              name: distribution.domainName,
              zoneId: CLOUDFRONT_ZONE_ID,
              evaluateTargetHealth: false,
            },
          ],
        },
        parent,
      );
    }

    this.distributionId = distribution.id;
    this.distributionDomainName = distribution.domainName;
    this.keyValueStoreArn = store.arn;
    this.functionArn = viewerRequest.arn;
    this.logBucketName = logs.bucket;
    this.registerOutputs({
      distributionId: this.distributionId,
      distributionDomainName: this.distributionDomainName,
      keyValueStoreArn: this.keyValueStoreArn,
    });
  }

  /**
   * The access-log bucket: private, versioned, KMS-encrypted like every bucket of the platform.
   * CloudFront's standard logs write through bucket ACLs (the log delivery account gets a grant),
   * so ACLs stay enabled (BucketOwnerPreferred) and the key lets the log delivery service encrypt.
   */
  private logBucket(name: string, args: EdgeArgs): aws.s3.Bucket {
    const parent = { parent: this };
    const account = aws.getCallerIdentityOutput({}, parent);
    const key = new aws.kms.Key(
      `${name}-logs-key`,
      {
        description: `Encrypts CloudFront access logs in ${args.logBucketName}`,
        enableKeyRotation: true,
        deletionWindowInDays: 30,
        policy: account.accountId.apply((accountId) =>
          policyDocument([
            {
              Sid: "AccountAdministers",
              Effect: "Allow",
              Principal: { AWS: `arn:aws:iam::${accountId}:root` },
              Action: "kms:*",
              Resource: "*",
            },
            {
              Sid: "CloudFrontLogDelivery",
              Effect: "Allow",
              Principal: { Service: "delivery.logs.amazonaws.com" },
              Action: "kms:GenerateDataKey*",
              Resource: "*",
            },
          ]),
        ),
      },
      parent,
    );
    const bucket = new aws.s3.Bucket(`${name}-logs`, { bucket: args.logBucketName }, parent);
    new aws.s3.BucketPublicAccessBlock(
      `${name}-logs-public-access`,
      {
        bucket: bucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      parent,
    );
    new aws.s3.BucketOwnershipControls(
      `${name}-logs-ownership`,
      { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerPreferred" } },
      parent,
    );
    const versioning = new aws.s3.BucketVersioning(
      `${name}-logs-versioning`,
      { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
      parent,
    );
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-logs-encryption`,
      {
        bucket: bucket.id,
        rules: [
          {
            applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: key.arn },
            bucketKeyEnabled: true,
          },
        ],
      },
      parent,
    );
    new aws.s3.BucketLifecycleConfiguration(
      `${name}-logs-lifecycle`,
      {
        bucket: bucket.id,
        rules: [
          {
            // Logs are read in the first days after an incident, then kept cheaply until they expire.
            id: "archive-then-expire-logs",
            status: "Enabled",
            filter: {},
            transitions: [{ days: 30, storageClass: "GLACIER_IR" }],
            expiration: { days: args.logRetentionDays },
          },
          {
            id: "expire-noncurrent-versions",
            status: "Enabled",
            filter: {},
            noncurrentVersionExpiration: { noncurrentDays: 7 },
          },
          {
            id: "abort-incomplete-multipart-uploads",
            status: "Enabled",
            filter: {},
            abortIncompleteMultipartUpload: { daysAfterInitiation: 7 },
          },
        ],
      },
      { parent: this, dependsOn: [versioning] },
    );
    tlsOnlyBucketPolicy(`${name}-logs-tls-only`, bucket, parent);
    return bucket;
  }
}
