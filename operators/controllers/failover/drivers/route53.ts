// Traffic driver for Route 53 weighted records: the API name resolves to each region's endpoint
// with the weights of the traffic step (10 -> 50 -> 100). Both records change in one
// ChangeResourceRecordSets batch, so resolvers never see weights from two different steps.
// A region's record is the one pointing at its target, whatever its set identifier: the stacks
// create them (set identifier = AWS region, with a health check), and an UPSERT rewrites the
// whole record set, so the driver changes only the weight and keeps the rest as it found it.
import {
  ChangeResourceRecordSetsCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ResourceRecordSet,
} from "@aws-sdk/client-route-53";
import { REGIONS, type Region } from "../../../api/regionfailover.ts";
import type { RoutingState } from "../routing.ts";
import type { TrafficDriver } from "./types.ts";

export interface Route53Options {
  hostedZoneId: string;
  /** The API's name, e.g. api.freight.example.com. */
  recordName: string;
  /** Each region's endpoint (the CNAME target), e.g. api-use1.freight.example.com. */
  targets: Record<Region, string>;
  /** Short, so a step takes effect within it. */
  ttlSeconds?: number;
  client?: Route53Client;
}

const fqdn = (name: string) => (name.endsWith(".") ? name : `${name}.`);

export class Route53TrafficDriver implements TrafficDriver {
  private readonly options: Route53Options;
  private readonly client: Route53Client;

  constructor(options: Route53Options) {
    this.options = options;
    // Route 53 is a global service with its endpoint in us-east-1.
    this.client = options.client ?? new Route53Client({ region: "us-east-1" });
  }

  /** A record for a region that has none yet (a fresh zone, the local platform). */
  private record(region: Region, weight: number): ResourceRecordSet {
    return {
      Name: fqdn(this.options.recordName),
      Type: "CNAME",
      SetIdentifier: region,
      Weight: weight,
      TTL: this.options.ttlSeconds ?? 30,
      ResourceRecords: [{ Value: this.options.targets[region] }],
    };
  }

  /** Each region's weighted record as Route 53 has it, found by its target. */
  private async current(): Promise<Record<Region, ResourceRecordSet | undefined>> {
    const out = await this.client.send(
      new ListResourceRecordSetsCommand({
        HostedZoneId: this.options.hostedZoneId,
        StartRecordName: fqdn(this.options.recordName),
        StartRecordType: "CNAME",
        MaxItems: 10,
      }),
    );
    const mine = (out.ResourceRecordSets ?? []).filter(
      (r) => r.Name === fqdn(this.options.recordName) && r.Type === "CNAME" && r.Weight !== undefined,
    );
    const pointsAt = (r: ResourceRecordSet, target: string) =>
      r.ResourceRecords?.some((v) => fqdn(v.Value ?? "") === fqdn(target)) ?? false;
    const find = (region: Region) => mine.find((r) => pointsAt(r, this.options.targets[region]));
    return { primary: find("primary"), secondary: find("secondary") };
  }

  /** The weights Route 53 serves; the rest of the routing state does not live in DNS. */
  async weights(): Promise<Record<Region, number> | undefined> {
    const current = await this.current();
    const primary = current.primary?.Weight;
    const secondary = current.secondary?.Weight;
    return primary === undefined || secondary === undefined ? undefined : { primary, secondary };
  }

  async read(): Promise<RoutingState | undefined> {
    return undefined; // DNS carries weights only; the routing row is the readable state.
  }

  async apply(routing: RoutingState, reason: string): Promise<Region[]> {
    const current = await this.current();
    if (
      current.primary?.Weight === routing.weights.primary &&
      current.secondary?.Weight === routing.weights.secondary
    )
      return [];
    await this.client.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: this.options.hostedZoneId,
        ChangeBatch: {
          Comment: `freight failover: ${reason}`.slice(0, 256),
          Changes: REGIONS.map((region) => ({
            Action: "UPSERT",
            ResourceRecordSet: current[region]
              ? { ...current[region], Weight: routing.weights[region] }
              : this.record(region, routing.weights[region]),
          })),
        },
      }),
    );
    return [...REGIONS];
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** The routing row for the processes, and DNS weights for the users: both, row first. */
export class CombinedTrafficDriver implements TrafficDriver {
  private readonly drivers: TrafficDriver[];
  constructor(...drivers: TrafficDriver[]) {
    this.drivers = drivers;
  }
  read(region: Region): Promise<RoutingState | undefined> {
    return this.drivers[0]!.read(region);
  }
  async apply(routing: RoutingState, reason: string): Promise<Region[]> {
    const written = new Set<Region>();
    for (const driver of this.drivers) for (const r of await driver.apply(routing, reason)) written.add(r);
    return [...written];
  }
  async close(): Promise<void> {
    await Promise.all(this.drivers.map((d) => d.close()));
  }
}
