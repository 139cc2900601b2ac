// The AWS drivers through the real AWS SDK: Route 53 against moto (the AWS emulator, signatures
// checked), RDS against our own endpoint for the two calls moto does not model faithfully
// (tools/fakes/rds-endpoint.ts says which and why). The requests they send are what AWS would receive.
import { CreateDBInstanceReadReplicaCommand, RDSClient } from "@aws-sdk/client-rds";
import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  CreateHostedZoneCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
} from "@aws-sdk/client-route-53";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startMoto, type MotoServer } from "../../../../tools/aws/moto.ts";
import { FakeRdsEndpoint } from "../../../../tools/fakes/rds-endpoint.ts";
import { waitFor } from "../../../../tools/platform/operators.ts";
import type { RoutingState } from "../routing.ts";
import { RdsDatabaseDriver } from "./rds.ts";
import { Route53TrafficDriver } from "./route53.ts";

const credentials = { accessKeyId: "AKIDLOCALTEST", secretAccessKey: "local-secret" };
let aws: FakeRdsEndpoint;
let moto: MotoServer;

beforeAll(async () => {
  aws = new FakeRdsEndpoint();
  [moto] = await Promise.all([startMoto({ record: true }), aws.start()]);
}, 240_000);
afterAll(() => Promise.all([aws?.stop(), moto?.stop()]));

beforeEach(() => {
  aws.requests.length = 0;
  aws.instances.clear();
  aws.instances.set("freight-prod-primary", { identifier: "freight-prod-primary", status: "available" });
  aws.instances.set("freight-prod-secondary", {
    identifier: "freight-prod-secondary",
    status: "available",
    source: "arn:aws:rds:us-east-1:123456789012:db:freight-prod-primary",
  });
});

function rdsDriver(lagCalls: string[] = []) {
  return new RdsDatabaseDriver({
    instances: {
      primary: { awsRegion: "us-east-1", identifier: "freight-prod-primary" },
      secondary: { awsRegion: "us-west-2", identifier: "freight-prod-secondary" },
    },
    lag: {
      replication: async (replica) => {
        lagCalls.push(replica);
        return { caughtUp: true, lagSeconds: 0, lagBytes: 0 };
      },
    },
    client: (region) => new RDSClient({ region, endpoint: aws.url, credentials, maxAttempts: 1 }),
    fenceSecurityGroups: { primary: "sg-fence-use1" },
    fenceTimeoutMs: 10_000,
  });
}

describe("RDS database driver", () => {
  it("fences the old primary: its security groups swapped for the no-ingress group, then a reboot", async () => {
    const driver = rdsDriver();
    aws.instances.get("freight-prod-primary")!.securityGroups = [{ id: "sg-app-use1", status: "active" }];
    // Long enough that the reboot is still running when fence() has returned.
    aws.modifyDelayMs = 3000;
    try {
      expect(await driver.isFenced("primary")).toBe(false);
      const fenced = await driver.fence("primary");
      expect(fenced.method).toMatch(/replaced by sg-fence-use1 \(no ingress\), then rebooted/);
      const actions = aws.requests.map((r) => r.params.get("Action"));
      expect(actions.indexOf("ModifyDBInstance")).toBeLessThan(actions.indexOf("RebootDBInstance"));
      const modify = aws.requests.find((r) => r.params.get("Action") === "ModifyDBInstance")!;
      expect(Object.fromEntries(modify.params)).toMatchObject({
        DBInstanceIdentifier: "freight-prod-primary",
        "VpcSecurityGroupIds.VpcSecurityGroupId.1": "sg-fence-use1",
        ApplyImmediately: "true",
      });
      expect(modify.headers.authorization).toMatch(/\/us-east-1\/rds\/aws4_request/);
      // Rebooting: not confirmed until the instance is back, with only the fence group.
      expect(await driver.isFenced("primary")).toBe(false);
      await waitFor("reboot done", () => aws.instances.get("freight-prod-primary")!.reboots === 1, {
        timeoutMs: 20_000,
      });
      expect(await driver.isFenced("primary")).toBe(true);
      // Asked again (a controller that died before recording it): no second swap, one more reboot.
      aws.modifyDelayMs = 0;
      await driver.fence("primary");
      expect(aws.requests.filter((r) => r.params.get("Action") === "ModifyDBInstance")).toHaveLength(1);
    } finally {
      aws.modifyDelayMs = 0;
      await driver.close();
    }
  });

  it("cannot fence a region without a fence security group, and says which setting to set", async () => {
    const driver = rdsDriver();
    await expect(driver.fence("secondary")).rejects.toThrow(/RDS_SECONDARY_FENCE_SECURITY_GROUP/);
    expect(aws.requests).toHaveLength(0);
    await driver.close();
  });

  it("promotes with PromoteReadReplica, signed for the replica's region", async () => {
    const driver = rdsDriver();
    expect(await driver.isWritable("secondary")).toBe(false);
    await driver.promote("secondary");
    const promote = aws.requests.find((r) => r.params.get("Action") === "PromoteReadReplica")!;
    expect(promote.method).toBe("POST");
    expect(promote.headers["content-type"]).toMatch(/application\/x-www-form-urlencoded/);
    expect(Object.fromEntries(promote.params)).toEqual({
      Action: "PromoteReadReplica",
      Version: "2014-10-31",
      DBInstanceIdentifier: "freight-prod-secondary",
      BackupRetentionPeriod: "7",
    });
    expect(promote.headers.authorization).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST\/\d{8}\/us-west-2\/rds\/aws4_request/,
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(await driver.isWritable("secondary")).toBe(true);
    await driver.close();
  });

  it("reports RDS's refusal to promote an instance that is not a replica, with its code", async () => {
    const driver = rdsDriver();
    await expect(driver.promote("primary")).rejects.toMatchObject({
      name: "InvalidDBInstanceStateFault",
      message: expect.stringMatching(/not a read replica/),
    });
    await driver.close();
  });

  it("is not writable while a promotion is still modifying the instance", async () => {
    aws.promotionDelayMs = 300;
    const driver = rdsDriver();
    await driver.promote("secondary");
    expect(await driver.isWritable("secondary")).toBe(false);
    // Asked again while it runs (a controller that died before recording the request): taken as
    // the same request, not an error, and RDS is not asked to start another.
    await driver.promote("secondary");
    await new Promise((r) => setTimeout(r, 400));
    expect(await driver.isWritable("secondary")).toBe(true);
    aws.promotionDelayMs = 0;
    await driver.close();
  });

  it("measures lag only while RDS says replication is healthy", async () => {
    const calls: string[] = [];
    const driver = rdsDriver(calls);
    expect(await driver.replication("secondary")).toEqual({ caughtUp: true, lagSeconds: 0, lagBytes: 0 });
    expect(calls).toEqual(["secondary"]);
    const describe = aws.requests.find((r) => r.params.get("Action") === "DescribeDBInstances")!;
    expect(describe.params.get("DBInstanceIdentifier")).toBe("freight-prod-secondary");

    aws.instances.get("freight-prod-secondary")!.replicationNormal = false;
    expect(await driver.replication("secondary")).toEqual({ caughtUp: false });
    expect(calls).toHaveLength(1);
    await driver.close();
  });
});

describe("RDS failback: a new read replica of the new primary", () => {
  /** After a flip to the secondary: it is the primary, and the old primary is fenced. */
  function flipped() {
    aws.instances.set("freight-prod-primary", {
      identifier: "freight-prod-primary",
      status: "available",
      dbInstanceClass: "db.r6g.large",
      dbSubnetGroup: "freight-prod-use1",
      securityGroups: [{ id: "sg-fence-use1", status: "active" }],
    });
    aws.instances.set("freight-prod-secondary", {
      identifier: "freight-prod-secondary",
      status: "available",
      awsRegion: "us-west-2",
      backupRetentionPeriod: 7,
    });
  }

  it("creates it in the old primary's region from the new primary's ARN, and names it", async () => {
    flipped();
    aws.replicaCreateDelayMs = 300;
    const driver = rdsDriver();
    try {
      const report = await driver.rebuildReplica("primary");
      expect(report.replica).toBe("freight-prod-primary-fb1");
      expect(report.streaming).toBe(false);
      expect(report.method).toMatch(/CreateDBInstanceReadReplica/);
      expect(report.steps.join("\n")).toMatch(/RDS_PRIMARY_INSTANCE=us-east-1:freight-prod-primary-fb1/);
      const create = aws.requests.find((r) => r.params.get("Action") === "CreateDBInstanceReadReplica")!;
      expect(Object.fromEntries(create.params)).toMatchObject({
        Action: "CreateDBInstanceReadReplica",
        Version: "2014-10-31",
        DBInstanceIdentifier: "freight-prod-primary-fb1",
        SourceDBInstanceIdentifier: "arn:aws:rds:us-west-2:123456789012:db:freight-prod-secondary",
        DBInstanceClass: "db.r6g.large",
        DBSubnetGroupName: "freight-prod-use1",
      });
      // The SDK presigns the request for the source's region, as a cross-region replica needs.
      expect(create.params.get("PreSignedUrl")).toMatch(/X-Amz-Credential=[^&]*%2Fus-west-2%2Frds%2F/);
      // Signed for the old primary's region, where the replica is created.
      expect(create.headers.authorization).toMatch(/\/us-east-1\/rds\/aws4_request/);
      expect(aws.instances.get("freight-prod-primary-fb1")).toMatchObject({
        status: "creating",
        source: "arn:aws:rds:us-west-2:123456789012:db:freight-prod-secondary",
      });
      // The fenced old instance is left as it was.
      expect(aws.instances.get("freight-prod-primary")!.securityGroups).toEqual([
        { id: "sg-fence-use1", status: "active" },
      ]);
      // Asked again (on-call re-runs it, or a crash): the same instance, not a second one.
      await waitFor(
        "replica available",
        () => aws.instances.get("freight-prod-primary-fb1")!.status === "available",
      );
      const again = await driver.rebuildReplica("primary");
      expect(again).toMatchObject({ replica: "freight-prod-primary-fb1", streaming: true });
      expect(
        aws.requests.filter((r) => r.params.get("Action") === "CreateDBInstanceReadReplica"),
      ).toHaveLength(1);
    } finally {
      aws.replicaCreateDelayMs = 0;
      await driver.close();
    }
  });

  it("refuses while the other region's instance is still a replica, and says to flip first", async () => {
    const driver = rdsDriver();
    await expect(driver.rebuildReplica("primary")).rejects.toThrow(/flip to secondary first/);
    expect(aws.requests.some((r) => r.params.get("Action") === "CreateDBInstanceReadReplica")).toBe(false);
    await driver.close();
  });

  it("passes on RDS's refusal to replicate from a source without automated backups", async () => {
    flipped();
    aws.instances.get("freight-prod-secondary")!.backupRetentionPeriod = 0;
    const driver = rdsDriver();
    await expect(driver.rebuildReplica("primary")).rejects.toMatchObject({
      name: "InvalidDBInstanceStateFault",
      message: expect.stringMatching(/Automated backups are not enabled/),
    });
    await driver.close();
  });

  it("the endpoint answers a cross-region source named without its ARN as RDS does: not found", async () => {
    flipped();
    const client = new RDSClient({ region: "us-east-1", endpoint: aws.url, credentials, maxAttempts: 1 });
    await expect(
      client.send(
        new CreateDBInstanceReadReplicaCommand({
          DBInstanceIdentifier: "freight-prod-primary-fb1",
          SourceDBInstanceIdentifier: "freight-prod-secondary",
          DBSubnetGroupName: "freight-prod-use1",
        }),
      ),
    ).rejects.toMatchObject({ name: "DBInstanceNotFoundFault" });
    client.destroy();
  });
});

describe("Route 53 traffic driver", () => {
  const routing = (primary: number): RoutingState => ({
    activeRegion: "secondary",
    writesFrozen: true,
    runnersPaused: true,
    secondaryHealthy: true,
    weights: { primary, secondary: 100 - primary },
  });
  let route53: Route53Client;
  let zoneId: string;
  let zones = 0;
  beforeAll(() => {
    route53 = new Route53Client({
      region: "us-east-1",
      endpoint: moto.endpoint,
      credentials: moto.credentials,
    });
  });
  afterAll(() => route53?.destroy());
  beforeEach(async () => {
    // A fresh zone per test, as a stack would have it; moto names it.
    const zone = await route53.send(
      new CreateHostedZoneCommand({ Name: "freight.example.com", CallerReference: `aws-test-${++zones}` }),
    );
    zoneId = zone.HostedZone!.Id!.replace("/hostedzone/", "");
    moto.clearRequests();
  });
  const driver = () =>
    new Route53TrafficDriver({
      hostedZoneId: zoneId,
      recordName: "api.freight.example.com",
      targets: { primary: "api-use1.freight.example.com", secondary: "api-usw2.freight.example.com" },
      client: new Route53Client({
        region: "us-east-1",
        endpoint: moto.endpoint,
        credentials: moto.credentials,
        maxAttempts: 1,
      }),
    });
  /** The zone's CNAMEs as Route 53 (moto) holds them. */
  const records = async () => {
    const out = await route53.send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId }));
    return (out.ResourceRecordSets ?? [])
      .filter((r) => r.Type === "CNAME")
      .map((r) => ({
        name: r.Name,
        type: r.Type,
        setIdentifier: r.SetIdentifier,
        weight: r.Weight,
        ttl: r.TTL,
        ...(r.HealthCheckId ? { healthCheckId: r.HealthCheckId } : {}),
        values: r.ResourceRecords?.map((v) => v.Value),
      }));
  };
  const route53Requests = () => moto.requests().filter((r) => r.service === "route53");

  it("upserts both weighted records in one ChangeResourceRecordSets batch", async () => {
    const traffic = driver();
    expect(await traffic.apply(routing(90), "10 % to secondary")).toEqual(["primary", "secondary"]);
    const change = route53Requests().find((r) => r.method === "POST")!;
    expect(change.path).toBe(`/2013-04-01/hostedzone/${zoneId}/rrset`);
    expect(change.headers["authorization"]).toMatch(/\/us-east-1\/route53\/aws4_request/);
    expect(change.body).toContain(
      '<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">',
    );
    expect(change.body).toContain("<Comment>freight failover: 10 % to secondary</Comment>");
    expect(await records()).toEqual([
      {
        name: "api.freight.example.com.",
        type: "CNAME",
        setIdentifier: "primary",
        weight: 90,
        ttl: 30,
        values: ["api-use1.freight.example.com"],
      },
      {
        name: "api.freight.example.com.",
        type: "CNAME",
        setIdentifier: "secondary",
        weight: 10,
        ttl: 30,
        values: ["api-usw2.freight.example.com"],
      },
    ]);
    expect(change.body.match(/<Action>UPSERT<\/Action>/g)).toHaveLength(2);
    await traffic.close();
  });

  it("reads the weights back and changes nothing when they already match", async () => {
    const traffic = driver();
    await traffic.apply(routing(50), "50 %");
    expect(await traffic.weights()).toEqual({ primary: 50, secondary: 50 });
    const list = route53Requests().find((r) => r.method === "GET")!;
    expect(Object.fromEntries(list.query)).toMatchObject({ name: "api.freight.example.com.", type: "CNAME" });
    moto.clearRequests();
    expect(await traffic.apply(routing(50), "50 % again")).toEqual([]);
    expect(route53Requests().map((r) => r.method)).toEqual(["GET"]);
    await traffic.close();
  });

  it("moves the weights of records it did not create, keeping their set identifiers and health checks", async () => {
    // As the region stacks create them (infra/dns/dns.ts): set identifier = AWS region, health-checked.
    const healthCheck = async (target: string) =>
      (
        await route53.send(
          new CreateHealthCheckCommand({
            CallerReference: `${zoneId}-${target}`,
            HealthCheckConfig: {
              Type: "HTTPS",
              FullyQualifiedDomainName: target,
              Port: 443,
              ResourcePath: "/readyz",
            },
          }),
        )
      ).HealthCheck!.Id!;
    const checks = {
      "us-east-1": await healthCheck("api-use1.freight.example.com"),
      "us-west-2": await healthCheck("api-usw2.freight.example.com"),
    };
    const stackRecord = (region: "us-east-1" | "us-west-2", target: string, weight: number) => ({
      name: "api.freight.example.com.",
      type: "CNAME",
      setIdentifier: region,
      weight,
      ttl: 30,
      healthCheckId: checks[region],
      values: [target],
    });
    await route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: {
          Changes: [
            stackRecord("us-east-1", "api-use1.freight.example.com", 100),
            stackRecord("us-west-2", "api-usw2.freight.example.com", 0),
          ].map((r) => ({
            Action: "CREATE",
            ResourceRecordSet: {
              Name: r.name,
              Type: "CNAME",
              SetIdentifier: r.setIdentifier,
              Weight: r.weight,
              TTL: r.ttl,
              HealthCheckId: r.healthCheckId,
              ResourceRecords: r.values.map((Value) => ({ Value })),
            },
          })),
        },
      }),
    );
    const traffic = driver();
    expect(await traffic.weights()).toEqual({ primary: 100, secondary: 0 });
    await traffic.apply(routing(90), "10 % to secondary");
    expect(await records()).toEqual([
      stackRecord("us-east-1", "api-use1.freight.example.com", 90),
      stackRecord("us-west-2", "api-usw2.freight.example.com", 10),
    ]);
    await traffic.close();
  });
});
