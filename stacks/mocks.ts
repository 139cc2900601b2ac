// Offline stand-ins for the Pulumi engine and the AWS/Kubernetes providers. Each resource gets
// back its inputs plus the ids, ARNs and endpoints the real provider would compute, shaped like
// the real ones (region, account, naming), so outputs that flow into other resources (an RDS ARN
// into a replica, a bucket ARN into a policy) read the way they would in a real plan.
import { createHash } from "node:crypto";

import type * as pulumi from "@pulumi/pulumi";

export const MOCK_ACCOUNT_ID = "123456789012";

export interface MockContext {
  region: string;
  accountId?: string;
  /** Outputs the StackReference to the peer stack returns. */
  peerOutputs: Record<string, unknown>;
}

function hex(seed: string, length: number): string {
  return createHash("sha256").update(seed).digest("hex").slice(0, length);
}

function uuid(seed: string): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const EC2_ID_PREFIX: Record<string, string> = {
  Vpc: "vpc",
  Subnet: "subnet",
  InternetGateway: "igw",
  RouteTable: "rtb",
  RouteTableAssociation: "rtbassoc",
  Eip: "eipalloc",
  NatGateway: "nat",
  SecurityGroup: "sg",
};

type State = Record<string, unknown>;

/** What the provider computes for a resource of `type`, given its inputs. */
function computed(
  type: string,
  name: string,
  inputs: State,
  region: string,
  account: string,
): { id: string; state: State } {
  const seed = `${region}:${type}:${name}`;
  const [pkg, module = "", kind = ""] = type.split(":");
  const service = module.split("/")[0] ?? "";

  if (pkg === "kubernetes") {
    const metadata = (inputs["metadata"] ?? {}) as State;
    const objectName = (metadata["name"] as string | undefined) ?? `${name}-${hex(seed, 8)}`;
    const ns = metadata["namespace"] as string | undefined;
    const state: State = { metadata: { ...metadata, name: objectName, uid: uuid(seed) } };
    if (
      type === "kubernetes:core/v1:Service" &&
      (inputs["spec"] as State | undefined)?.["type"] === "LoadBalancer"
    ) {
      state["status"] = {
        loadBalancer: {
          ingress: [{ hostname: `k8s-${objectName}-${hex(seed, 10)}.elb.${region}.amazonaws.com` }],
        },
      };
    }
    if (type === "kubernetes:helm.sh/v3:Release") {
      state["status"] = { status: "deployed", namespace: inputs["namespace"], name: inputs["name"] ?? name };
    }
    return { id: ns ? `${ns}/${objectName}` : objectName, state };
  }
  if (pkg !== "aws") return { id: `${name}-${hex(seed, 8)}`, state: {} };

  switch (type) {
    case "aws:s3/bucket:Bucket": {
      const bucket = (inputs["bucket"] as string | undefined) ?? `${name}-${hex(seed, 8)}`;
      return {
        id: bucket,
        state: {
          bucket,
          arn: `arn:aws:s3:::${bucket}`,
          region,
          bucketDomainName: `${bucket}.s3.amazonaws.com`,
          bucketRegionalDomainName: `${bucket}.s3.${region}.amazonaws.com`,
        },
      };
    }
    case "aws:kms/key:Key": {
      const id = uuid(seed);
      return { id, state: { keyId: id, arn: `arn:aws:kms:${region}:${account}:key/${id}` } };
    }
    case "aws:kms/alias:Alias":
      return {
        id: inputs["name"] as string,
        state: { arn: `arn:aws:kms:${region}:${account}:${inputs["name"]}` },
      };
    case "aws:rds/instance:Instance": {
      const id = (inputs["identifier"] as string | undefined) ?? `${name}-${hex(seed, 8)}`;
      const address = `${id}.c${hex(seed, 10)}.${region}.rds.amazonaws.com`;
      const state: State = {
        identifier: id,
        arn: `arn:aws:rds:${region}:${account}:db:${id}`,
        address,
        endpoint: `${address}:5432`,
        port: 5432,
        resourceId: `db-${hex(seed, 26).toUpperCase()}`,
      };
      if (inputs["manageMasterUserPassword"]) {
        state["masterUserSecrets"] = [
          {
            secretArn: `arn:aws:secretsmanager:${region}:${account}:secret:rds!db-${uuid(seed)}-${hex(seed, 6)}`,
            secretStatus: "active",
            kmsKeyId: inputs["masterUserSecretKmsKeyId"],
          },
        ];
      }
      return { id, state };
    }
    case "aws:rds/subnetGroup:SubnetGroup":
    case "aws:rds/parameterGroup:ParameterGroup": {
      const id = (inputs["name"] as string | undefined) ?? `${name}-${hex(seed, 7)}`;
      return {
        id,
        state: {
          name: id,
          arn: `arn:aws:rds:${region}:${account}:${kind === "SubnetGroup" ? "subgrp" : "pg"}:${id}`,
        },
      };
    }
    case "aws:eks/cluster:Cluster": {
      const clusterName = (inputs["name"] as string | undefined) ?? name;
      const oidcId = hex(seed, 32).toUpperCase();
      return {
        id: clusterName,
        state: {
          name: clusterName,
          arn: `arn:aws:eks:${region}:${account}:cluster/${clusterName}`,
          endpoint: `https://${oidcId}.gr7.${region}.eks.amazonaws.com`,
          certificateAuthority: { data: Buffer.from(`mock CA of ${clusterName}`).toString("base64") },
          identities: [{ oidcs: [{ issuer: `https://oidc.eks.${region}.amazonaws.com/id/${oidcId}` }] }],
          vpcConfig: {
            ...(inputs["vpcConfig"] as State),
            clusterSecurityGroupId: `sg-${hex(`${seed}:sg`, 17)}`,
          },
          status: "ACTIVE",
        },
      };
    }
    case "aws:eks/nodeGroup:NodeGroup": {
      const nodeGroupName = (inputs["nodeGroupName"] as string | undefined) ?? `${name}-${hex(seed, 8)}`;
      return {
        id: `${inputs["clusterName"]}:${nodeGroupName}`,
        state: {
          nodeGroupName,
          arn: `arn:aws:eks:${region}:${account}:nodegroup/${inputs["clusterName"]}/${nodeGroupName}/${uuid(seed)}`,
        },
      };
    }
    case "aws:iam/role:Role": {
      const roleName = (inputs["name"] as string | undefined) ?? `${name}-${hex(seed, 7)}`;
      return { id: roleName, state: { name: roleName, arn: `arn:aws:iam::${account}:role/${roleName}` } };
    }
    case "aws:iam/policy:Policy": {
      const policyName = (inputs["name"] as string | undefined) ?? `${name}-${hex(seed, 7)}`;
      const arn = `arn:aws:iam::${account}:policy/${policyName}`;
      return { id: arn, state: { name: policyName, arn } };
    }
    case "aws:iam/openIdConnectProvider:OpenIdConnectProvider": {
      const arn = `arn:aws:iam::${account}:oidc-provider/${String(inputs["url"]).replace(/^https:\/\//, "")}`;
      return { id: arn, state: { arn } };
    }
    case "aws:secretsmanager/secret:Secret": {
      const secretName = (inputs["name"] as string | undefined) ?? `${name}-${hex(seed, 7)}`;
      const arn = `arn:aws:secretsmanager:${region}:${account}:secret:${secretName}-${hex(seed, 6)}`;
      return { id: arn, state: { name: secretName, arn } };
    }
    case "aws:route53/healthCheck:HealthCheck":
      return { id: uuid(seed), state: { arn: `arn:aws:route53:::healthcheck/${uuid(seed)}` } };
    case "aws:route53/record:Record":
      return {
        id: `${inputs["zoneId"]}_${inputs["name"]}_${inputs["type"]}${inputs["setIdentifier"] ? `_${inputs["setIdentifier"]}` : ""}`,
        state: { fqdn: inputs["name"] },
      };
    case "aws:acm/certificate:Certificate": {
      const domains = [
        inputs["domainName"] as string,
        ...((inputs["subjectAlternativeNames"] as string[]) ?? []),
      ];
      return {
        id: `arn:aws:acm:${region}:${account}:certificate/${uuid(seed)}`,
        state: {
          arn: `arn:aws:acm:${region}:${account}:certificate/${uuid(seed)}`,
          // ACM validates `x` and `*.x` with the same record.
          domainValidationOptions: domains.map((d) => {
            const base = d.replace(/^\*\./, "");
            return {
              domainName: d,
              resourceRecordName: `_${hex(`${account}:${base}`, 32)}.${base}.`,
              resourceRecordType: "CNAME",
              resourceRecordValue: `_${hex(`${account}:${base}:value`, 32)}.mhbtsbpdnt.acm-validations.aws.`,
            };
          }),
        },
      };
    }
    // CloudFront is global: its ARNs carry no region.
    case "aws:cloudfront/distribution:Distribution": {
      const id = `E${hex(seed, 13).toUpperCase()}`;
      return {
        id,
        state: {
          arn: `arn:aws:cloudfront::${account}:distribution/${id}`,
          domainName: `d${hex(`${seed}:domain`, 13)}.cloudfront.net`,
          hostedZoneId: "Z2FDTNDATAQYW2",
          status: "Deployed",
        },
      };
    }
    case "aws:cloudfront/function:Function": {
      const functionName = inputs["name"] as string;
      return {
        id: functionName,
        state: { arn: `arn:aws:cloudfront::${account}:function/${functionName}`, status: "UNASSOCIATED" },
      };
    }
    case "aws:cloudfront/keyValueStore:KeyValueStore": {
      const id = uuid(seed);
      return {
        id: inputs["name"] as string,
        state: { arn: `arn:aws:cloudfront::${account}:key-value-store/${id}` },
      };
    }
    case "aws:acm/certificateValidation:CertificateValidation":
      return { id: String(inputs["certificateArn"]), state: {} };
  }

  if (service === "ec2" && EC2_ID_PREFIX[kind]) {
    const id = `${EC2_ID_PREFIX[kind]}-${hex(seed, 17)}`;
    const resourceKind = kind.replace(/[A-Z]/g, (c, i: number) =>
      i === 0 ? c.toLowerCase() : `-${c.toLowerCase()}`,
    );
    return { id, state: { arn: `arn:aws:ec2:${region}:${account}:${resourceKind}/${id}` } };
  }
  const id = `${name}-${hex(seed, 8)}`;
  return { id, state: { arn: `arn:aws:${service}:${region}:${account}:${kind.toLowerCase()}/${id}` } };
}

/** The id the mocks give a resource, so tests can follow references (e.g. a record's healthCheckId). */
export function mockResourceId(region: string, type: string, name: string, inputs: State = {}): string {
  return computed(type, name, inputs, region, MOCK_ACCOUNT_ID).id;
}

/** Mocks for `pulumi.runtime.setMocks` that plan one region stack offline. */
export function planMocks(context: MockContext): pulumi.runtime.Mocks {
  const account = context.accountId ?? MOCK_ACCOUNT_ID;
  return {
    newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
      const inputs = (args.inputs ?? {}) as State;
      if (args.type === "pulumi:pulumi:StackReference") {
        return {
          id: String(inputs["name"]),
          state: { name: inputs["name"], outputs: context.peerOutputs, secretOutputNames: [] },
        };
      }
      const { id, state } = computed(args.type, args.name, inputs, context.region, account);
      return { id, state: { ...inputs, ...state } };
    },
    call(args: pulumi.runtime.MockCallArgs): pulumi.runtime.MockCallResult {
      if (args.token === "aws:index/getCallerIdentity:getCallerIdentity") {
        return { accountId: account, arn: `arn:aws:iam::${account}:user/planner`, userId: "AIDAPLANNER" };
      }
      return args.inputs as Record<string, unknown>;
    },
  };
}

/** What the peer stack would export, derived from its own stack file; used when a plan gets no peerOutputs. */
export function defaultPeerOutputs(
  peer: { role: string; region: string; domain: string },
  accountId: string = MOCK_ACCOUNT_ID,
): Record<string, string> {
  const bucket = `${peer.domain.replace(/\./g, "-")}-documents-${peer.region}`;
  const common = {
    region: peer.region,
    role: peer.role,
    clusterName: `freight-${peer.region}`,
    documentsBucketName: bucket,
    documentsBucketArn: `arn:aws:s3:::${bucket}`,
    documentsKmsKeyArn: `arn:aws:kms:${peer.region}:${accountId}:key/${uuid(`${peer.region}:documents`)}`,
    healthCheckId: uuid(`${peer.region}:health`),
    apiRegionalHostname: `${peer.region}.api.${peer.domain}`,
  };
  const secret = (n: string) =>
    `arn:aws:secretsmanager:${peer.region}:${accountId}:secret:freight/${n}-${hex(n, 6)}`;
  if (peer.role === "primary") {
    return {
      ...common,
      primaryDbArn: `arn:aws:rds:${peer.region}:${accountId}:db:freight-${peer.region}-primary`,
      primaryDbIdentifier: `freight-${peer.region}-primary`,
      primaryDbAddress: `freight-${peer.region}-primary.c${hex(peer.region, 10)}.${peer.region}.rds.amazonaws.com`,
      primaryDbFenceSecurityGroupId: `sg-${hex(`${peer.region}:fence`, 17)}`,
      primaryDbKmsKeyArn: `arn:aws:kms:${peer.region}:${accountId}:key/${uuid(`${peer.region}:database`)}`,
      databaseServiceRoleSecretArn: secret("database-service-role"),
      databaseOperatorRoleSecretArn: secret("database-operator-role"),
      databaseRunnerRoleSecretArn: secret("database-runner-role"),
      databaseOwnerRoleSecretArn: secret("database-owner-role"),
      databaseOpsRoleSecretArn: secret("database-ops-role"),
      llmProviderApiKeySecretArn: secret("llm-provider-api-key"),
      workflowAutomationApiKeySecretArn: secret("workflow-automation-api-key"),
      opsWebhookUrlSecretArn: secret("ops-webhook-url"),
      alertReceiverTokenSecretArn: secret("alert-receiver-token"),
      crmWebhookUrlSecretArn: secret("crm-webhook-url"),
      crmWebhookSecretSecretArn: secret("crm-webhook-secret"),
      consoleSessionSecretSecretArn: secret("console-session-secret"),
      // Exported where the primary runs billing; a secondary without billing never reads them.
      stripeSecretKeySecretArn: secret("stripe-secret-key"),
      stripeWebhookSecretSecretArn: secret("stripe-webhook-secret"),
      databaseBillingRoleSecretArn: secret("database-billing-role"),
      billingSmtpUrlSecretArn: secret("billing-smtp-url"),
    };
  }
  return {
    ...common,
    replicaDbArn: `arn:aws:rds:${peer.region}:${accountId}:db:freight-${peer.region}-replica`,
    replicaDbIdentifier: `freight-${peer.region}-replica`,
    replicaDbAddress: `freight-${peer.region}-replica.c${hex(peer.region, 10)}.${peer.region}.rds.amazonaws.com`,
    replicaDbFenceSecurityGroupId: `sg-${hex(`${peer.region}:fence`, 17)}`,
    replicaDbKmsKeyArn: `arn:aws:kms:${peer.region}:${accountId}:key/${uuid(`${peer.region}:database`)}`,
  };
}
