// The human-readable plan: the resource tree, indented by parent, with the few properties a
// reviewer checks for each kind of resource (encryption, exposure, retention, routing, images).
import type { PlannedResource, PlannedStack } from "./plan.ts";

type Props = Record<string, unknown>;

function get(props: Props, ...path: (string | number)[]): unknown {
  let value: unknown = props;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function fmt(entries: Record<string, unknown>): string {
  return Object.entries(entries)
    .filter(([, v]) => v !== undefined && v !== "" && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
}

function containers(p: Props): unknown[] {
  return list(get(p, "spec", "template", "spec", "containers"));
}

/** Review-relevant properties of one resource, by type; empty when nothing stands out. */
export function reviewProperties(r: PlannedResource): string {
  const p = r.props;
  switch (r.type) {
    case "pulumi:providers:aws":
      return fmt({ region: p["region"], defaultTags: get(p, "defaultTags", "tags") });
    case "aws:ec2/vpc:Vpc":
      return fmt({ cidr: p["cidrBlock"] });
    case "aws:ec2/subnet:Subnet":
      return fmt({ az: p["availabilityZone"], cidr: p["cidrBlock"] });
    case "aws:ec2/securityGroup:SecurityGroup":
      return fmt({
        ingress: list(p["ingress"]).map((rule) => {
          const x = rule as Props;
          const from = [...list(x["cidrBlocks"]), ...list(x["securityGroups"])].join(",");
          return `${x["protocol"]}/${x["fromPort"]}-${x["toPort"]} from ${from}`;
        }),
      });
    case "aws:eks/cluster:Cluster":
      return fmt({
        version: p["version"],
        privateEndpoint: get(p, "vpcConfig", "endpointPrivateAccess"),
        publicEndpoint: get(p, "vpcConfig", "endpointPublicAccess"),
        publicCidrs: get(p, "vpcConfig", "publicAccessCidrs"),
        logs: p["enabledClusterLogTypes"],
      });
    case "aws:eks/nodeGroup:NodeGroup":
      return fmt({
        instance: list(p["instanceTypes"]).join(","),
        min: get(p, "scalingConfig", "minSize"),
        max: get(p, "scalingConfig", "maxSize"),
        taints: list(p["taints"]).map((t) => `${(t as Props)["key"]}=${(t as Props)["value"]}`),
      });
    case "aws:rds/instance:Instance":
      return fmt({
        identifier: p["identifier"],
        class: p["instanceClass"],
        engine: p["engine"] ? `${p["engine"]} ${p["engineVersion"]}` : undefined,
        replicaOf: p["replicateSourceDb"],
        multiAz: p["multiAz"],
        encrypted: p["storageEncrypted"],
        kmsKey: p["kmsKeyId"],
        backupDays: p["backupRetentionPeriod"],
        deletionProtection: p["deletionProtection"],
        public: p["publiclyAccessible"],
      });
    case "aws:kms/key:Key":
      return fmt({ rotation: p["enableKeyRotation"] });
    case "aws:s3/bucket:Bucket":
      return fmt({ bucket: p["bucket"] });
    case "aws:s3/bucketVersioning:BucketVersioning":
      return fmt({ status: get(p, "versioningConfiguration", "status") });
    case "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration":
      return fmt({
        sse: get(p, "rules", 0, "applyServerSideEncryptionByDefault", "sseAlgorithm"),
        key: get(p, "rules", 0, "applyServerSideEncryptionByDefault", "kmsMasterKeyId"),
      });
    case "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock":
      return fmt({
        blockAll: ["blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"].every(
          (k) => p[k] === true,
        ),
      });
    case "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration":
      return fmt({
        rules: list(p["rules"]).map((rule) => {
          const x = rule as Props;
          const t = get(x, "transitions", 0) as Props | undefined;
          if (t) return `${x["id"]}: ${t["storageClass"]} after ${t["days"]}d`;
          const nc = get(x, "noncurrentVersionExpiration", "noncurrentDays");
          if (nc !== undefined) return `${x["id"]}: ${nc}d`;
          return `${x["id"]}: ${get(x, "abortIncompleteMultipartUpload", "daysAfterInitiation")}d`;
        }),
      });
    case "aws:s3/bucketReplicationConfig:BucketReplicationConfig":
      return fmt({
        to: get(p, "rules", 0, "destination", "bucket"),
        rtcMinutes: get(p, "rules", 0, "destination", "replicationTime", "time", "minutes"),
        deleteMarkers: get(p, "rules", 0, "deleteMarkerReplication", "status"),
        replicaKey: get(p, "rules", 0, "destination", "encryptionConfiguration", "replicaKmsKeyId"),
        role: p["role"],
      });
    case "aws:secretsmanager/secret:Secret":
      return fmt({ name: p["name"], replicas: list(p["replicas"]).map((x) => (x as Props)["region"]) });
    case "aws:secretsmanager/secretRotation:SecretRotation":
      return fmt({ secret: p["secretId"], everyDays: get(p, "rotationRules", "automaticallyAfterDays") });
    case "aws:route53/healthCheck:HealthCheck":
      return fmt({ check: `${p["type"]} ${p["fqdn"]}:${p["port"]}${p["resourcePath"]}` });
    case "aws:route53/record:Record":
      return fmt({
        name: p["name"],
        type: p["type"],
        to: list(p["records"]).join(","),
        failover: get(p, "failoverRoutingPolicies", 0, "type"),
        weight: get(p, "weightedRoutingPolicies", 0, "weight"),
        set: p["setIdentifier"],
        healthCheck: p["healthCheckId"],
      });
    case "aws:cloudfront/distribution:Distribution":
      return fmt({
        aliases: list(p["aliases"]),
        origins: list(p["origins"]).map((o) => (o as Props)["domainName"]),
        failover: list(get(p, "originGroups", 0, "members")).map((m) => (m as Props)["originId"]),
        tls: get(p, "viewerCertificate", "minimumProtocolVersion"),
        logs: get(p, "loggingConfig", "bucket"),
      });
    case "aws:cloudfront/function:Function":
      return fmt({
        name: p["name"],
        runtime: p["runtime"],
        bytes: Buffer.byteLength(String(p["code"] ?? "")),
      });
    case "aws:iam/policy:Policy":
    case "aws:iam/rolePolicy:RolePolicy": {
      const doc = typeof p["policy"] === "string" ? (JSON.parse(p["policy"]) as Props) : {};
      return fmt({
        actions: list(doc["Statement"]).flatMap((s) => {
          const a = (s as Props)["Action"];
          return Array.isArray(a) ? a : [a];
        }),
      });
    }
    case "kubernetes:apps/v1:Deployment":
      return fmt({
        images: containers(p).map((c) => (c as Props)["image"]),
        command: get(containers(p)[0] as Props, "command"),
        replicas: get(p, "spec", "replicas"),
      });
    case "kubernetes:helm.sh/v3:Release":
      return fmt({ chart: `${p["chart"]}@${p["version"]}`, namespace: p["namespace"] });
    case "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
      return fmt({ min: get(p, "spec", "minReplicas"), max: get(p, "spec", "maxReplicas") });
    case "kubernetes:policy/v1:PodDisruptionBudget":
      return fmt({
        maxUnavailable: get(p, "spec", "maxUnavailable"),
        minAvailable: get(p, "spec", "minAvailable"),
      });
    case "kubernetes:keda.sh/v1alpha1:ScaledObject":
      return fmt({
        target: get(p, "spec", "scaleTargetRef", "name"),
        min: get(p, "spec", "minReplicaCount"),
        max: get(p, "spec", "maxReplicaCount"),
        trigger: get(p, "spec", "triggers", 0, "type"),
      });
    case "kubernetes:core/v1:Service":
      return fmt({
        type: get(p, "spec", "type"),
        ports: list(get(p, "spec", "ports")).map(
          (x) => `${(x as Props)["port"]}->${(x as Props)["targetPort"]}`,
        ),
      });
    case "kubernetes:core/v1:ConfigMap":
      return fmt({
        labels: get(p, "metadata", "labels"),
        keys: Object.keys((p["data"] as Props | undefined) ?? {}),
      });
    case "kubernetes:monitoring.coreos.com/v1:PrometheusRule":
      return fmt({
        groups: list(get(p, "spec", "groups")).map((g) => (g as Props)["name"]),
      });
    case "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition":
      return fmt({ crd: get(p, "metadata", "name") });
    default:
      return "";
  }
}

function flags(r: PlannedResource): string {
  const out: string[] = [];
  if (r.opts?.protect) out.push("protected");
  if (r.opts?.ignoreChanges) out.push(`ignoreChanges: ${r.opts.ignoreChanges.join(", ")}`);
  return out.length > 0 ? ` [${out.join("; ")}]` : "";
}

/** The plan as an indented tree, children under their component, in registration order. */
export function renderTree(plan: PlannedStack): string {
  const children = new Map<string | undefined, PlannedResource[]>();
  const urns = new Set(plan.resources.map((r) => r.urn));
  for (const r of plan.resources) {
    const parent = r.parent && urns.has(r.parent) ? r.parent : undefined;
    children.set(parent, [...(children.get(parent) ?? []), r]);
  }
  const lines = [`${plan.project}/${plan.stack}: ${plan.resources.length} resources`];
  const walk = (parent: string | undefined, depth: number) => {
    for (const r of children.get(parent) ?? []) {
      const review = reviewProperties(r);
      lines.push(
        `${"  ".repeat(depth + 1)}${r.type} ${r.name}${flags(r)}${review ? `\n${"  ".repeat(depth + 3)}${review}` : ""}`,
      );
      walk(r.urn, depth + 1);
    }
  };
  walk(undefined, 0);
  return lines.join("\n");
}
