// The Alertmanager configuration the stacks deploy, rendered the way External Secrets renders it and
// checked by Alertmanager itself: `amtool check-config` accepts it, `amtool config routes test`
// sends every alert of dashboards/rules.ts to the receiver of its severity, and a real Alertmanager
// mutes the ticket of an SLO that is paging and delivers the page to the webhook.
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { allRuleGroups, isAlertingRule } from "../../dashboards/rules.ts";
import { freePort } from "../../tools/postgres/server.ts";
import {
  alertmanagerConfigTemplate,
  RECEIVERS,
  SUPPORT_TOKEN_TEMPLATE_KEY,
  WEBHOOK_TEMPLATE_KEYS,
} from "./alertmanager.ts";
import { alertmanagerPath, amtool } from "./amtool.ts";

/**
 * What External Secrets does with the template: every `{{ .key | printf "%q" }}` becomes the quoted
 * value. Any other template construct fails here, so the test notices one it does not render.
 */
function render(template: string, values: Record<string, string>): string {
  const rendered = template.replace(/\{\{ \.(\w+) \| printf "%q" \}\}/g, (_m, key: string) => {
    if (!(key in values)) throw new Error(`the template reads .${key}, which the test does not provide`);
    return JSON.stringify(values[key]);
  });
  expect(rendered).not.toContain("{{");
  return rendered;
}

interface Delivery {
  path: string;
  authorization: string | undefined;
  body: { receiver: string; status: string; alerts: { labels: Record<string, string> }[] };
}

let dir: string;
let configFile: string;
let webhook: Server;
const deliveries: Delivery[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "freight-alertmanager-"));
  webhook = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      deliveries.push({
        path: req.url ?? "",
        authorization: req.headers.authorization,
        body: JSON.parse(Buffer.concat(chunks).toString("utf8")),
      });
      res.end();
    });
  });
  await new Promise<void>((resolve) => webhook.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}`;
  configFile = join(dir, "alertmanager.yaml");
  writeFileSync(
    configFile,
    render(alertmanagerConfigTemplate(`${base}/webhooks/alertmanager`), {
      [WEBHOOK_TEMPLATE_KEYS.page]: `${base}/ops?token=page-t0ken&kind=page`,
      [WEBHOOK_TEMPLATE_KEYS.ticket]: `${base}/ops?token=ticket-t0ken&kind=ticket`,
      [SUPPORT_TOKEN_TEMPLATE_KEY]: "support-receiver-t0ken",
    }),
  );
});

afterAll(async () => {
  webhook?.closeAllConnections();
  await new Promise((resolve) => webhook?.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

const routeTest = (receiver: string, labels: Record<string, string>) =>
  amtool([
    "config",
    "routes",
    "test",
    `--config.file=${configFile}`,
    `--verify.receivers=${receiver}`,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ]);

describe("Alertmanager configuration", () => {
  it("is accepted by amtool check-config once External Secrets fills in the webhook URLs", async () => {
    const result = await amtool(["check-config", configFile]);
    expect(result.output).toContain("SUCCESS");
    expect(result.exitCode).toBe(0);
    const receivers = (parse(readFileSync(configFile, "utf8")) as { receivers: { name: string }[] })
      .receivers;
    expect(receivers.map((r) => r.name).sort()).toEqual(
      [RECEIVERS.drop, RECEIVERS.page, RECEIVERS.ticket].sort(),
    );
  });

  it("routes every page-severity alert to the page receiver and every ticket to the ticket receiver", async () => {
    const alerts = allRuleGroups()
      .flatMap((g) => g.rules)
      .filter(isAlertingRule);
    expect(alerts.some((a) => a.labels.severity === "page")).toBe(true);
    expect(alerts.some((a) => a.labels.severity === "ticket")).toBe(true);
    for (const alert of alerts) {
      const labels = { alertname: alert.alert, region: "us-east-1", ...alert.labels };
      const expected = alert.labels.severity === "page" ? RECEIVERS.page : RECEIVERS.ticket;
      const result = await routeTest(expected, labels);
      expect(result.exitCode, `${alert.alert} (${alert.labels.severity}): ${result.output}`).toBe(0);
    }
    // amtool does fail when the receiver is not the expected one.
    const wrong = await routeTest(RECEIVERS.page, {
      alertname: "ApiAvailabilityBudgetBurnSlow",
      severity: "ticket",
    });
    expect(wrong.exitCode).not.toBe(0);
    expect((await routeTest(RECEIVERS.drop, { alertname: "Watchdog", severity: "none" })).exitCode).toBe(0);
    expect(
      (await routeTest(RECEIVERS.ticket, { alertname: "KubePodCrashLooping", severity: "warning" })).exitCode,
    ).toBe(0);
  });

  describe("in a running Alertmanager", () => {
    let alertmanager: ChildProcess;
    let url: string;
    let log = "";

    beforeAll(async () => {
      const port = await freePort();
      url = `http://127.0.0.1:${port}`;
      alertmanager = spawn(
        alertmanagerPath(),
        [
          `--config.file=${configFile}`,
          `--storage.path=${join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--cluster.listen-address=",
        ],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      alertmanager.stdout?.on("data", (c: Buffer) => (log += c.toString()));
      alertmanager.stderr?.on("data", (c: Buffer) => (log += c.toString()));
      await until(
        async () => (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true,
        30_000,
        () => log,
      );
    }, 60_000);

    afterAll(() => {
      alertmanager?.kill("SIGTERM");
    });

    it("mutes the ticket of an SLO that is paging, not other tickets, and delivers the page to the webhook", async () => {
      const alert = (labels: Record<string, string>) => ({
        labels: { region: "us-east-1", ...labels },
        annotations: { summary: labels["alertname"] ?? "" },
        startsAt: new Date().toISOString(),
      });
      const sent = await fetch(`${url}/api/v2/alerts`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify([
          alert({ alertname: "ApiAvailabilityBudgetBurnFast", severity: "page", slo: "api-availability" }),
          alert({ alertname: "ApiAvailabilityBudgetBurnSlow", severity: "ticket", slo: "api-availability" }),
          alert({ alertname: "QuoteLatencyBudgetBurnSlow", severity: "ticket", slo: "quote-latency" }),
          // A page without an SLO must not mute the tickets without one.
          alert({ alertname: "DatabaseReplicationLagAboveRpo", severity: "page" }),
          alert({ alertname: "SecretRotationDueSoon", severity: "ticket", secret: "llm-provider-api-key" }),
        ]),
      });
      expect(sent.status).toBe(200);

      type ApiAlert = { labels: Record<string, string>; status: { state: string; inhibitedBy: string[] } };
      let states: Record<string, string> = {};
      await until(
        async () => {
          const listed = (await (await fetch(`${url}/api/v2/alerts`)).json()) as ApiAlert[];
          states = Object.fromEntries(listed.map((a) => [a.labels["alertname"]!, a.status.state]));
          return states["ApiAvailabilityBudgetBurnSlow"] === "suppressed" && Object.keys(states).length === 5;
        },
        15_000,
        () => JSON.stringify(states),
      );
      expect(states).toEqual({
        ApiAvailabilityBudgetBurnFast: "active",
        ApiAvailabilityBudgetBurnSlow: "suppressed",
        QuoteLatencyBudgetBurnSlow: "active",
        DatabaseReplicationLagAboveRpo: "active",
        SecretRotationDueSoon: "active",
      });

      // Pages wait 30 s for their group to fill, then go out.
      await until(
        async () => deliveries.some((d) => d.body.receiver === RECEIVERS.page && d.path.startsWith("/ops")),
        90_000,
        () => log,
      );
      const toOps = deliveries.filter((d) => d.path.startsWith("/ops"));
      const page = toOps.find(
        (d) => d.body.receiver === RECEIVERS.page && d.body.alerts[0]?.labels["slo"] === "api-availability",
      );
      expect(page?.path).toBe("/ops?token=page-t0ken&kind=page");
      expect(page?.body.status).toBe("firing");
      expect(page?.body.alerts.map((a) => a.labels["alertname"])).toEqual(["ApiAvailabilityBudgetBurnFast"]);
      expect(deliveries.every((d) => d.body.receiver === RECEIVERS.page)).toBe(true);
      // The same page reaches the API's support receiver with its bearer token: one ticket per group.
      await until(
        async () => deliveries.some((d) => d.path === "/webhooks/alertmanager"),
        30_000,
        () => log,
      );
      const support = deliveries.filter((d) => d.path === "/webhooks/alertmanager");
      expect(support.every((d) => d.authorization === "Bearer support-receiver-t0ken")).toBe(true);
      expect(support.map((d) => d.body.alerts[0]?.labels["alertname"]).sort()).toEqual(
        toOps.map((d) => d.body.alerts[0]?.labels["alertname"]).sort(),
      );
    }, 150_000);
  });
});

async function until(check: () => Promise<boolean>, timeoutMs: number, context: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms:\n${context().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
