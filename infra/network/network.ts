// VPC over three availability zones: public subnets for load balancers and NAT, private subnets
// for nodes and databases. One NAT gateway per AZ by default so losing an AZ does not cut the
// other two off from ECR, STS and the peer region.
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";

export interface NetworkArgs {
  region: string;
  cidrBlock: string;
  /** Name the EKS cluster will use; subnets are tagged so load balancers find them. */
  clusterName: string;
  /** false trades AZ independence of egress for one NAT gateway's cost. */
  natGatewayPerAz: boolean;
}

/** Splits a /N VPC block into /(N+4) subnets and returns the i-th. */
export function subnetCidr(vpcCidr: string, index: number): string {
  const [base, prefixText] = vpcCidr.split("/");
  const prefix = Number(prefixText);
  const octets = (base ?? "").split(".").map(Number);
  const asInt = ((octets[0]! << 24) | (octets[1]! << 16) | (octets[2]! << 8) | octets[3]!) >>> 0;
  const newPrefix = prefix + 4;
  const size = 2 ** (32 - newPrefix);
  const start = asInt + index * size;
  const parts = [start >>> 24, (start >>> 16) & 255, (start >>> 8) & 255, start & 255];
  return `${parts.join(".")}/${newPrefix}`;
}

/** The three public subnets (load balancers, NAT gateways): the first /(N+4) blocks of the VPC. */
export function publicSubnetCidrs(vpcCidr: string): string[] {
  return [0, 1, 2].map((i) => subnetCidr(vpcCidr, i));
}

/** The three private subnets (nodes and their pods, the databases, the EKS API endpoint's interfaces). */
export function privateSubnetCidrs(vpcCidr: string): string[] {
  return [8, 9, 10].map((i) => subnetCidr(vpcCidr, i));
}

export class Network extends pulumi.ComponentResource {
  readonly vpcId: pulumi.Output<string>;
  readonly vpcCidr: pulumi.Output<string>;
  readonly publicSubnetIds: pulumi.Output<string>[];
  readonly privateSubnetIds: pulumi.Output<string>[];
  readonly availabilityZones: string[];
  /** The only security group that admits the internet, and only on 443. */
  readonly loadBalancerSecurityGroupId: pulumi.Output<string>;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("freight:network:Network", name, {}, opts);
    const parent = { parent: this };
    // Fixed a/b/c rather than a lookup: the plan stays offline and deterministic, and every
    // region this platform targets has at least three zones.
    this.availabilityZones = ["a", "b", "c"].map((z) => `${args.region}${z}`);

    const vpc = new aws.ec2.Vpc(
      `${name}-vpc`,
      {
        cidrBlock: args.cidrBlock,
        enableDnsHostnames: true,
        enableDnsSupport: true,
        tags: { Name: `${name}-vpc` },
      },
      parent,
    );
    const igw = new aws.ec2.InternetGateway(
      `${name}-igw`,
      { vpcId: vpc.id, tags: { Name: `${name}-igw` } },
      parent,
    );

    const publicRoutes = new aws.ec2.RouteTable(
      `${name}-public`,
      {
        vpcId: vpc.id,
        routes: [{ cidrBlock: "0.0.0.0/0", gatewayId: igw.id }],
        tags: { Name: `${name}-public` },
      },
      parent,
    );

    const publicSubnets = this.availabilityZones.map((az, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-public-${az}`,
        {
          vpcId: vpc.id,
          availabilityZone: az,
          cidrBlock: publicSubnetCidrs(args.cidrBlock)[i],
          // Load balancers get their addresses from the service; instances never need one.
          mapPublicIpOnLaunch: false,
          tags: {
            Name: `${name}-public-${az}`,
            "kubernetes.io/role/elb": "1",
            [`kubernetes.io/cluster/${args.clusterName}`]: "shared",
          },
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-public-${az}`,
        { subnetId: subnet.id, routeTableId: publicRoutes.id },
        parent,
      );
      return subnet;
    });

    const natCount = args.natGatewayPerAz ? publicSubnets.length : 1;
    const natGateways = publicSubnets.slice(0, natCount).map((subnet, i) => {
      const az = this.availabilityZones[i]!;
      const eip = new aws.ec2.Eip(
        `${name}-nat-${az}`,
        { domain: "vpc", tags: { Name: `${name}-nat-${az}` } },
        parent,
      );
      return new aws.ec2.NatGateway(
        `${name}-nat-${az}`,
        { subnetId: subnet.id, allocationId: eip.id, tags: { Name: `${name}-nat-${az}` } },
        { parent: this, dependsOn: [igw] },
      );
    });

    const privateSubnets = this.availabilityZones.map((az, i) => {
      const subnet = new aws.ec2.Subnet(
        `${name}-private-${az}`,
        {
          vpcId: vpc.id,
          availabilityZone: az,
          cidrBlock: privateSubnetCidrs(args.cidrBlock)[i],
          tags: {
            Name: `${name}-private-${az}`,
            "kubernetes.io/role/internal-elb": "1",
            [`kubernetes.io/cluster/${args.clusterName}`]: "shared",
          },
        },
        parent,
      );
      const nat = natGateways[i % natGateways.length]!;
      const routes = new aws.ec2.RouteTable(
        `${name}-private-${az}`,
        {
          vpcId: vpc.id,
          routes: [{ cidrBlock: "0.0.0.0/0", natGatewayId: nat.id }],
          tags: { Name: `${name}-private-${az}` },
        },
        parent,
      );
      new aws.ec2.RouteTableAssociation(
        `${name}-private-${az}`,
        { subnetId: subnet.id, routeTableId: routes.id },
        parent,
      );
      return subnet;
    });

    const lbSecurityGroup = new aws.ec2.SecurityGroup(
      `${name}-api-lb`,
      {
        vpcId: vpc.id,
        description: "Quote API load balancer: HTTPS from the internet, nothing else",
        ingress: [
          { protocol: "tcp", fromPort: 443, toPort: 443, cidrBlocks: ["0.0.0.0/0"], description: "HTTPS" },
        ],
        egress: [
          // Targets are pods in this VPC; the load balancer never needs the internet.
          {
            protocol: "tcp",
            fromPort: 8080,
            toPort: 8080,
            cidrBlocks: [args.cidrBlock],
            description: "to API pods",
          },
        ],
        tags: { Name: `${name}-api-lb` },
      },
      parent,
    );

    this.vpcId = vpc.id;
    this.vpcCidr = vpc.cidrBlock;
    this.publicSubnetIds = publicSubnets.map((s) => s.id);
    this.privateSubnetIds = privateSubnets.map((s) => s.id);
    this.loadBalancerSecurityGroupId = lbSecurityGroup.id;
    this.registerOutputs({
      vpcId: this.vpcId,
      publicSubnetIds: this.publicSubnetIds,
      privateSubnetIds: this.privateSubnetIds,
      loadBalancerSecurityGroupId: this.loadBalancerSecurityGroupId,
    });
  }
}
