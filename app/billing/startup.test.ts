// Billing's start-up contract: off by default; on without its secrets the process stops and says which
// variable to set; on without a control plane it starts and says, once, that plans will not change.
import { spawn } from "node:child_process";
import { describe, expect, it } from "vitest";
import { parseAppConfig } from "../config.ts";
import { ConfigError } from "../env.ts";

const base = { DATABASE_URL: "postgres://freight_app:x@127.0.0.1:1/freight" };

function startServer(
  env: Record<string, string>,
  until: RegExp,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["app/server.ts"], {
      env: { PATH: process.env.PATH ?? "", ...base, PORT: "0", HOST: "127.0.0.1", ...env },
    });
    let output = "";
    const seen = (chunk: Buffer) => {
      output += chunk.toString();
      if (until.test(output)) child.kill("SIGTERM");
    };
    child.stdout.on("data", seen);
    child.stderr.on("data", seen);
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
    child.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe("billing start-up", () => {
  it("is off by default, so the API runs without any Stripe configuration", () => {
    expect(parseAppConfig(base).BILLING).toBe("off");
  });

  it("BILLING=on without its secrets lists every missing one, with what to set", () => {
    let error: ConfigError | undefined;
    try {
      parseAppConfig({ ...base, BILLING: "on" });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error!.problems).toEqual([
      expect.stringMatching(
        /^STRIPE_WEBHOOK_SECRET_FILE: is required: the path of a file holding STRIPE_WEBHOOK_SECRET \(when BILLING=on: .*signing secret \(whsec_\.\.\.\)/,
      ),
      expect.stringMatching(/^STRIPE_SECRET_KEY_FILE: is required: .*\(when BILLING=on/),
      expect.stringMatching(/^BILLING_DATABASE_URL_FILE: is required: .*\(when BILLING=on/),
    ]);
    expect(() =>
      parseAppConfig({ ...base, BILLING: "on", STRIPE_WEBHOOK_SECRET: "sk_live_wrong_kind" }),
    ).toThrow(/STRIPE_WEBHOOK_SECRET: must be the endpoint's signing secret \(whsec_\.\.\.\)/);
  });

  it("refuses two control planes at once (KUBECONFIG and KUBERNETES_API=in-cluster)", () => {
    expect(() =>
      parseAppConfig({ ...base, KUBECONFIG: "/tmp/kubeconfig", KUBERNETES_API: "in-cluster" }),
    ).toThrow(/KUBERNETES_API: is in-cluster while KUBECONFIG is set too/);
    expect(() => parseAppConfig({ ...base, KUBERNETES_API: "yes" })).toThrow(/KUBERNETES_API: .*in-cluster/);
  });

  it("the process stops with the message when the webhook secret is missing", async () => {
    const { code, output } = await startServer(
      { BILLING: "on", STRIPE_SECRET_KEY: "sk_test_x", BILLING_DATABASE_URL: base.DATABASE_URL },
      /never/,
    );
    expect(code).toBe(78);
    expect(output).toMatch(
      /Invalid quote API configuration \(1 problem\):\n {2}- STRIPE_WEBHOOK_SECRET_FILE: is required: .*\(when BILLING=on/,
    );
  });

  it("without KUBECONFIG it starts and says plan changes will not be enforced", async () => {
    const { output } = await startServer(
      {
        BILLING: "on",
        STRIPE_SECRET_KEY: "sk_test_x",
        STRIPE_WEBHOOK_SECRET: "whsec_x",
        BILLING_DATABASE_URL: base.DATABASE_URL,
      },
      /quote API listening/,
    );
    expect(output).toMatch(
      /without a control plane \(neither KUBECONFIG nor KUBERNETES_API=in-cluster is set\).*no Tenant plan or billing status will change/,
    );
    expect(output).toMatch(/quote API listening/);
  });
});
