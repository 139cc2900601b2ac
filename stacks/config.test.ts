import { describe, expect, it } from "vitest";

import { parseStackConfig, StackConfigError } from "./config.ts";
import { readStackFile } from "./plan.ts";

function problemsOf(fn: () => unknown): { key: string; problem: string; fix: string }[] {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(StackConfigError);
    return (err as StackConfigError).problems;
  }
  throw new Error("expected a StackConfigError");
}

describe("parseStackConfig", () => {
  it("accepts both committed stack files and types their values", () => {
    const primary = parseStackConfig("prod-primary", readStackFile("prod-primary"));
    expect(primary).toMatchObject({
      role: "primary",
      region: "us-east-1",
      dbBackupRetentionDays: 14,
      dbMultiAz: true,
      documentsReplication: true,
      clusterPublicAccessCidrs: ["203.0.113.0/24"],
      edge: true,
      edgeHostname: "edge.api.freightrate.example",
      edgeLogRetentionDays: 365,
    });
    const secondary = parseStackConfig("prod-secondary", readStackFile("prod-secondary"));
    expect(secondary).toMatchObject({
      role: "secondary",
      region: "us-west-2",
      documentsReplication: false,
      edge: false,
    });
  });

  it("lists every bad or missing key with the command that fixes it, in one error", () => {
    const raw = {
      ...readStackFile("prod-primary"),
      "freight:role": "main",
      "freight:dbBackupRetentionDays": "3",
      "freight:quoteApiImageTag": "latest",
      "freight:clusterPublicAccessCidrs": '["0.0.0.0/0"]',
      "freight:hostedZoneId": "",
      "freight:replicaton": "true",
    };
    delete (raw as Record<string, string>)["freight:region"];
    let error: StackConfigError | undefined;
    try {
      parseStackConfig("prod-primary", raw);
    } catch (err) {
      error = err as StackConfigError;
    }
    expect(error).toBeInstanceOf(StackConfigError);
    const byKey = Object.fromEntries(error!.problems.map((p) => [p.key, p]));
    expect(Object.keys(byKey).sort()).toEqual(
      [
        "freight:role",
        "freight:region",
        "freight:dbBackupRetentionDays",
        "freight:quoteApiImageTag",
        "freight:clusterPublicAccessCidrs",
        "freight:hostedZoneId",
        "freight:replicaton",
      ].sort(),
    );
    expect(byKey["freight:region"]!.problem).toBe("is missing");
    expect(byKey["freight:region"]!.fix).toBe(
      "pulumi config set freight:region us-east-1 --stack prod-primary",
    );
    expect(byKey["freight:dbBackupRetentionDays"]!.problem).toContain("from 7 to 35");
    expect(byKey["freight:quoteApiImageTag"]!.problem).toContain("is a tag without a digest");
    expect(byKey["freight:quoteApiImageTag"]!.fix).toMatch(
      /^pulumi config set freight:quoteApiImageTag '2026\.11\.26-3f9c2ab@sha256:<64 hex.*' --stack prod-primary$/,
    );
    expect(byKey["freight:clusterPublicAccessCidrs"]!.problem).toContain("/0");
    expect(byKey["freight:replicaton"]!.fix).toBe("pulumi config rm freight:replicaton --stack prod-primary");
    // One message a human can act on: every key and every fix.
    for (const p of error!.problems) {
      expect(error!.message).toContain(p.key);
      expect(error!.message).toContain(p.fix);
    }
    expect(error!.message).toMatch(
      /^Stack "prod-primary" has 7 config problems; no resources were registered/,
    );
  });

  it("refuses an EKS version older than 1.36, which cannot serve the tenant finalizer's admission policy", () => {
    const problems = problemsOf(() =>
      parseStackConfig("prod-primary", {
        ...readStackFile("prod-primary"),
        "freight:clusterVersion": "1.33",
      }),
    );
    expect(problems).toHaveLength(1);
    expect(problems[0]!.key).toBe("freight:clusterVersion");
    expect(problems[0]!.problem).toContain("must be 1.36 or later");
    expect(problems[0]!.problem).toContain("MutatingAdmissionPolicy");
    expect(problems[0]!.fix).toBe("pulumi config set freight:clusterVersion 1.36 --stack prod-primary");
  });

  it("takes each image as <tag>@sha256:<digest> and refuses a tag alone, naming the fix", () => {
    const raw = readStackFile("prod-primary");
    const digest = `sha256:${"a".repeat(64)}`;
    expect(
      parseStackConfig("prod-primary", { ...raw, "freight:quoteApiImageTag": `2026.12.01-9e1d2c4@${digest}` })
        .quoteApiImageTag,
    ).toEqual({ tag: "2026.12.01-9e1d2c4", digest });
    const problemFor = (value: string) => {
      const problems = problemsOf(() =>
        parseStackConfig("prod-primary", { ...raw, "freight:operatorsImageTag": value }),
      );
      expect(problems.map((p) => p.key)).toEqual(["freight:operatorsImageTag"]);
      expect(problems[0]!.fix).toContain(
        "pulumi config set freight:operatorsImageTag '2026.11.26-3f9c2ab@sha256:",
      );
      return problems[0]!.problem;
    };
    expect(problemFor("2026.12.01-9e1d2c4")).toContain("is a tag without a digest");
    expect(problemFor(digest)).toContain("is a digest without its tag");
    expect(problemFor("2026.12.01-9e1d2c4@sha256:abc")).toContain(
      "not sha256: followed by 64 lower-case hex",
    );
    expect(problemFor(`latest@${digest}`)).toContain("must be pinned");
    expect(problemFor(`${"v".repeat(64)}@${digest}`)).toContain("not a valid label value");
  });

  it("checks values against each other once each is valid on its own", () => {
    const primary = readStackFile("prod-primary");
    const problems = problemsOf(() =>
      parseStackConfig("prod-primary", {
        ...primary,
        "freight:apiMinReplicas": "20",
        "freight:apiMaxReplicas": "10",
        "freight:dbMultiAz": "false",
        "freight:peerRegion": "us-east-1",
        "freight:secretRotationLambdaArn": "arn:aws:lambda:eu-west-1:123456789012:function:rotate",
      }),
    );
    expect(problems.map((p) => p.key).sort()).toEqual(
      [
        "freight:apiMinReplicas",
        "freight:dbMultiAz",
        "freight:peerRegion",
        "freight:secretRotationLambdaArn",
      ].sort(),
    );
    expect(problems.find((p) => p.key === "freight:secretRotationLambdaArn")!.problem).toContain("eu-west-1");
  });

  it("reports cross-field problems in the same round as single-key ones", () => {
    const keysWith = (overrides: Record<string, string>) =>
      problemsOf(() =>
        parseStackConfig("prod-primary", {
          ...readStackFile("prod-primary"),
          "freight:apiMinReplicas": "20",
          "freight:apiMaxReplicas": "10",
          "freight:peerRegion": "us-east-1",
          "freight:quoteApiImageTag": "latest",
          ...overrides,
        }),
      )
        .map((p) => p.key)
        .sort();
    expect(keysWith({})).toEqual(
      ["freight:apiMinReplicas", "freight:peerRegion", "freight:quoteApiImageTag"].sort(),
    );
    // A bad region hides no other problem, and is not compared against the peer region or the
    // rotation Lambda (that would report the same mistake three times).
    expect(keysWith({ "freight:region": "mars-1" })).toEqual(
      ["freight:apiMinReplicas", "freight:quoteApiImageTag", "freight:region"].sort(),
    );
  });

  it("refuses replication on a secondary: only the primary replicates documents", () => {
    const problems = problemsOf(() =>
      parseStackConfig("prod-secondary", {
        ...readStackFile("prod-secondary"),
        "freight:documentsReplication": "true",
      }),
    );
    expect(problems).toEqual([
      expect.objectContaining({
        key: "freight:documentsReplication",
        fix: "pulumi config rm freight:documentsReplication --stack prod-secondary",
      }),
    ]);
  });

  it("ignores other namespaces (aws:, kubernetes:) and accepts bare keys", () => {
    const raw = readStackFile("prod-primary");
    const bare = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.replace(/^freight:/, ""), v]));
    expect(parseStackConfig("prod-primary", { ...bare, "aws:region": "eu-west-1" }).region).toBe("us-east-1");
  });
  it("stops failover without its drivers, naming each missing key and the command that sets it", () => {
    const raw = { ...readStackFile("prod-secondary") };
    delete raw["freight:failoverDatabaseDriver"];
    delete raw["freight:failoverTrafficDriver"];
    const problems = problemsOf(() => parseStackConfig("prod-secondary", raw));
    expect(problems).toEqual([
      {
        key: "freight:failoverDatabaseDriver",
        problem: expect.stringContaining("is required when freight:failover is on"),
        fix: "pulumi config set freight:failoverDatabaseDriver rds --stack prod-secondary",
      },
      {
        key: "freight:failoverTrafficDriver",
        problem: expect.stringContaining("is required when freight:failover is on"),
        fix: "pulumi config set freight:failoverTrafficDriver routing-row+route53 --stack prod-secondary",
      },
    ]);
    // Off, the drivers are not needed.
    expect(parseStackConfig("prod-secondary", { ...raw, "freight:failover": "off" }).failover).toBe(false);
    expect(
      problemsOf(() =>
        parseStackConfig("prod-secondary", {
          ...readStackFile("prod-secondary"),
          "freight:failoverDatabaseDriver": "postgres",
        }),
      ).map((p) => p.problem),
    ).toEqual([expect.stringContaining("must be rds")]);
  });
  it("tells a stack file with the retired fence-group settings why they went and how to remove them", () => {
    const raw = {
      ...readStackFile("prod-secondary"),
      "freight:failoverAutomatic": "on",
      "freight:failoverPrimaryFenceSecurityGroup": "sg-0fence0primary0000",
    };
    expect(problemsOf(() => parseStackConfig("prod-secondary", raw))).toEqual([
      {
        key: "freight:failoverPrimaryFenceSecurityGroup",
        problem: expect.stringMatching(/^is no longer a setting: each region's stack now creates/),
        fix: "pulumi config rm freight:failoverPrimaryFenceSecurityGroup --stack prod-secondary",
      },
    ]);
    // Automatic mode needs nothing more than failover itself.
    delete (raw as Record<string, string>)["freight:failoverPrimaryFenceSecurityGroup"];
    expect(parseStackConfig("prod-secondary", raw).failoverAutomatic).toBe(true);
  });
  it("stops billing without its Stripe secrets, naming each with the `pulumi config set --secret` that sets it", () => {
    const problems = problemsOf(() =>
      parseStackConfig("prod-primary", { ...readStackFile("prod-primary"), "freight:billing": "on" }),
    );
    expect(problems.map((p) => [p.key, p.fix])).toEqual([
      [
        "freight:stripeSecretKey",
        "pulumi config set --secret freight:stripeSecretKey <sk_live_... from the Stripe dashboard> --stack prod-primary",
      ],
      [
        "freight:stripeWebhookSecret",
        "pulumi config set --secret freight:stripeWebhookSecret <whsec_... of the endpoint https://api.<domain>/webhooks/stripe> --stack prod-primary",
      ],
    ]);
    expect(problems[0]!.problem).toContain("is required when freight:billing is on");

    // A malformed secret is reported without echoing it.
    const leaked = problemsOf(() =>
      parseStackConfig("prod-primary", {
        ...readStackFile("prod-primary"),
        "freight:billing": "on",
        "freight:stripeSecretKey": "pk_live_publishable",
        "freight:stripeWebhookSecret": "whsec_ok",
      }),
    );
    expect(leaked).toEqual([expect.objectContaining({ key: "freight:stripeSecretKey" })]);
    expect(leaked[0]!.problem).not.toContain("pk_live_publishable");

    // The secondary reads the primary's replicas: Stripe secrets in its config are a mistake.
    const secondary = problemsOf(() =>
      parseStackConfig("prod-secondary", {
        ...readStackFile("prod-secondary"),
        "freight:billing": "on",
        "freight:stripeSecretKey": "sk_live_x",
      }),
    );
    expect(secondary).toEqual([
      expect.objectContaining({ fix: "pulumi config rm freight:stripeSecretKey --stack prod-secondary" }),
    ]);
    expect(
      parseStackConfig("prod-secondary", { ...readStackFile("prod-secondary"), "freight:billing": "on" })
        .billing,
    ).toBe(true);
  });

  describe("the edge", () => {
    const primary = () => readStackFile("prod-primary");

    it("is declared by the primary only: a secondary with the edge on is told to turn it off", () => {
      const problems = problemsOf(() =>
        parseStackConfig("prod-secondary", {
          ...readStackFile("prod-secondary"),
          "freight:edge": "on",
          "freight:edgeHostname": "edge.api.freightrate.example",
        }),
      );
      expect(problems).toEqual([
        {
          key: "freight:edge",
          problem:
            "is on in a secondary stack; the one CloudFront distribution of the platform is declared by the primary",
          fix: "pulumi config set freight:edge off --stack prod-secondary",
        },
      ]);
    });

    it("needs a hostname when on, and offers one under api.<domain>", () => {
      const raw = primary();
      delete (raw as Record<string, string>)["freight:edgeHostname"];
      expect(problemsOf(() => parseStackConfig("prod-primary", raw))).toEqual([
        {
          key: "freight:edgeHostname",
          problem: "is required when freight:edge is on (the name the distribution answers on)",
          fix: "pulumi config set freight:edgeHostname edge.api.freightrate.example --stack prod-primary",
        },
      ]);
    });

    it("refuses a hostname the API certificate does not cover, or one the regions already use", () => {
      const cases: [string, string][] = [
        ["edge.freightrate.example", "is not a single label under api.freightrate.example"],
        ["a.edge.api.freightrate.example", "is not a single label under api.freightrate.example"],
        ["us-west-2.api.freightrate.example", "is already a Route 53 name of the regions"],
        ["failover.api.freightrate.example", "is already a Route 53 name of the regions"],
      ];
      for (const [hostname, problem] of cases) {
        const problems = problemsOf(() =>
          parseStackConfig("prod-primary", { ...primary(), "freight:edgeHostname": hostname }),
        );
        expect(problems.map((p) => p.key)).toEqual(["freight:edgeHostname"]);
        expect(problems[0]!.problem).toContain(problem);
        expect(problems[0]!.fix).toBe(
          "pulumi config set freight:edgeHostname edge.api.freightrate.example --stack prod-primary",
        );
      }
    });

    it("keeps access logs at least a month, naming the range", () => {
      const problems = problemsOf(() =>
        parseStackConfig("prod-primary", { ...primary(), "freight:edgeLogRetentionDays": "7" }),
      );
      expect(problems).toEqual([
        {
          key: "freight:edgeLogRetentionDays",
          problem: '"7" must be from 31 to 3650',
          fix: "pulumi config set freight:edgeLogRetentionDays 365 --stack prod-primary",
        },
      ]);
    });

    it("is off by default, and then needs no hostname", () => {
      const raw = primary();
      for (const key of ["freight:edge", "freight:edgeHostname", "freight:edgeLogRetentionDays"])
        delete (raw as Record<string, string>)[key];
      const config = parseStackConfig("prod-primary", raw);
      expect(config.edge).toBe(false);
      expect(config.edgeHostname).toBeUndefined();
    });
  });
});
