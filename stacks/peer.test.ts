import { describe, expect, it } from "vitest";

import { parseStackConfig } from "./config.ts";
import { neededPeerOutputs, PeerOutputMissingError } from "./peer.ts";
import { readStackFile } from "./plan.ts";

const config = (stack: string, overrides: Record<string, string> = {}) =>
  parseStackConfig(stack, { ...readStackFile(stack), ...overrides });

describe("neededPeerOutputs", () => {
  it("asks the peer only for what the switched-on capabilities use", () => {
    // The committed stacks run the read canary: the API reads the other region's database.
    expect(neededPeerOutputs(config("prod-primary"))).toEqual([
      "documentsBucketArn",
      "documentsKmsKeyArn",
      "replicaDbAddress",
    ]);
    expect(
      neededPeerOutputs(
        config("prod-primary", { "freight:documentsReplication": "false", "freight:readCanary": "off" }),
      ),
    ).toEqual([]);
    expect(neededPeerOutputs(config("prod-secondary"))).toContain("primaryDbAddress");
    // The committed secondary runs the failover controller: it needs the primary's database.
    expect(neededPeerOutputs(config("prod-secondary"))).toEqual(
      expect.arrayContaining(["primaryDbArn", "primaryDbIdentifier", "primaryDbAddress"]),
    );
    expect(neededPeerOutputs(config("prod-secondary"))).not.toContain("stripeSecretKeySecretArn");
    expect(neededPeerOutputs(config("prod-secondary", { "freight:billing": "on" }))).toEqual(
      expect.arrayContaining([
        "stripeSecretKeySecretArn",
        "stripeWebhookSecretSecretArn",
        "databaseBillingRoleSecretArn",
      ]),
    );
    // A primary running the controller needs the secondary's replica instead.
    expect(
      neededPeerOutputs(
        config("prod-primary", {
          "freight:failover": "on",
          "freight:failoverDatabaseDriver": "rds",
          "freight:failoverTrafficDriver": "routing-row",
        }),
      ),
    ).toEqual(expect.arrayContaining(["replicaDbArn", "replicaDbIdentifier", "replicaDbAddress"]));
  });

  it("says to turn billing on in the primary first when its secrets are missing", () => {
    const error = new PeerOutputMissingError(config("prod-secondary", { "freight:billing": "on" }), [
      "stripeSecretKeySecretArn",
    ]);
    expect(error.message).toContain("turn it on in acme/freight-platform/prod-primary first");
    expect(error.message).toContain("pulumi config set freight:billing off --stack prod-secondary");
  });
});
