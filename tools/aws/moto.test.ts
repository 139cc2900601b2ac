// Moto with IAM authentication on: the real SDK's signed requests pass, a request signed with a wrong
// secret, an unknown key or against a denying policy fails, and a machine without moto gets the
// install command. These are the guarantees the Route 53 and Secrets Manager tests rely on.
import { CreateHostedZoneCommand, ListHostedZonesCommand, Route53Client } from "@aws-sdk/client-route-53";
import {
  CreateSecretCommand,
  DescribeSecretCommand,
  SecretsManagerClient,
} from "@aws-sdk/client-secrets-manager";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { ensureMoto, MOTO_VERSION, startMoto, type AwsCredentials, type MotoServer } from "./moto.ts";

let moto: MotoServer;
beforeAll(async () => {
  moto = await startMoto({ record: true });
}, 240_000);
afterAll(() => moto?.stop());

const route53 = (credentials: AwsCredentials) =>
  new Route53Client({ region: "us-east-1", endpoint: moto.endpoint, credentials, maxAttempts: 1 });
const secrets = (credentials: AwsCredentials) =>
  new SecretsManagerClient({ region: "us-east-1", endpoint: moto.endpoint, credentials, maxAttempts: 1 });

describe("moto with signature checking", () => {
  it("answers requests signed with the key it issued", async () => {
    const zone = await route53(moto.credentials).send(
      new CreateHostedZoneCommand({ Name: "freight.example.com", CallerReference: "moto-test" }),
    );
    expect(zone.HostedZone?.Name).toBe("freight.example.com.");
    await secrets(moto.credentials).send(
      new CreateSecretCommand({ Name: "freight/probe", SecretString: "v" }),
    );
    const described = await secrets(moto.credentials).send(
      new DescribeSecretCommand({ SecretId: "freight/probe" }),
    );
    expect(described.Name).toBe("freight/probe");
  });

  it("refuses a Route 53 request signed with a wrong secret", async () => {
    // Refused with 403; moto's error body is not Route 53's shape, so the SDK names it "Unknown".
    const forged = route53({ ...moto.credentials, secretAccessKey: "not-the-secret" });
    await expect(forged.send(new ListHostedZonesCommand({}))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 403 },
    });
  });

  it("refuses a Secrets Manager request signed with a wrong secret or an unknown key", async () => {
    // Moto answers these in XML where AWS answers JSON, so the SDK reports a parse error: the
    // request is refused (403) either way, which is what this guarantees.
    for (const credentials of [
      { ...moto.credentials, secretAccessKey: "not-the-secret" },
      { accessKeyId: "LOCALUNKNOWNKEY00000", secretAccessKey: moto.credentials.secretAccessKey },
    ]) {
      const refused = await secrets(credentials)
        .send(new DescribeSecretCommand({ SecretId: "freight/probe" }))
        .then(
          () => undefined,
          (error: { $metadata?: { httpStatusCode?: number } }) => error,
        );
      expect(refused?.$metadata?.httpStatusCode).toBe(403);
    }
  });

  it("refuses an action the caller's IAM policy denies", async () => {
    const reader = await moto.createUser("rotation-reader", [
      { Effect: "Allow", Action: "secretsmanager:DescribeSecret", Resource: "*" },
    ]);
    expect((await secrets(reader).send(new DescribeSecretCommand({ SecretId: "freight/probe" }))).Name).toBe(
      "freight/probe",
    );
    const put = secrets(reader).send(new CreateSecretCommand({ Name: "freight/other", SecretString: "v" }));
    await expect(put).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
    await moto.putUserPolicy("rotation-reader", [
      { Effect: "Deny", Action: "secretsmanager:DescribeSecret", Resource: "*" },
    ]);
    const denied = secrets(reader).send(new DescribeSecretCommand({ SecretId: "freight/probe" }));
    await expect(denied).rejects.toMatchObject({ $metadata: { httpStatusCode: 403 } });
  });

  it("records what it received, with the signature's scope", async () => {
    moto.clearRequests();
    await secrets(moto.credentials).send(new DescribeSecretCommand({ SecretId: "freight/probe" }));
    const [request, ...others] = moto.requests();
    expect(others).toEqual([]);
    expect(request).toMatchObject({ method: "POST", service: "secretsmanager", operation: "DescribeSecret" });
    expect(JSON.parse(request!.body)).toEqual({ SecretId: "freight/probe" });
    expect(request!.headers["authorization"]).toContain(`Credential=${moto.credentials.accessKeyId}/`);
  });
});

describe("without moto", () => {
  it("names the install command", () => {
    vi.stubEnv("MOTO_PYTHON", "/nonexistent/python3");
    try {
      expect(() => ensureMoto()).toThrow(
        `moto (the AWS emulator the tests and the local platform use for Route 53 and Secrets Manager) is not installed for /nonexistent/python3: run pip install 'moto[server]==${MOTO_VERSION}' for it, or unset MOTO_PYTHON to let the project install its own.`,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
