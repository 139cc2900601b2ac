// Route 53's health checkers for the local platform, at the Route 53 API edge. Every Route 53
// request goes on to moto unchanged (zones, records, health check definitions; moto checks the
// signature); only GetHealthCheckStatus (GET /2013-04-01/healthcheck/<id>/status) is answered with
// what these checkers observed, after moto has accepted the same request (signature valid, the
// health check exists). Why: moto 5.2.5 answers GetHealthCheckStatus with one fixed observation,
// "Success: HTTP Status Code: 200" (moto/route53/responses.py get_health_check_status), whatever
// the endpoint does, so a lost region would never look lost there.
//
// Like Route 53's checkers, each of several checker "regions" sends an HTTP GET to the health
// path every interval, independently (staggered, not in lockstep); a probe fails on a connection
// error, a timeout, or a status outside 2xx/3xx. As in Route 53, each observation is that
// checker's latest probe result (the console's "Health checkers" tab); the failure threshold
// applies to the health Route 53 answers DNS queries with, not to these reports. Time is
// compressed: a 1 s interval here stands for the stacks' RequestInterval of 10 s.
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export const CHECKER_REGIONS = ["us-east-1", "us-west-1", "eu-west-1"] as const;

export interface WatchedCheck {
  /** What the checkers GET, e.g. http://127.0.0.1:41234/readyz. */
  url: string;
}

interface CheckerState {
  region: string;
  status: string;
  checkedAt: Date;
  busy: boolean;
}

const R53_NS = "https://route53.amazonaws.com/doc/2013-04-01/";
const STATUS_PATH = /^\/2013-04-01\/healthcheck\/([^/]+)\/status$/;
const escape = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

export class LocalHealthCheckers {
  /** Where processes send Route 53 requests (AWS_ENDPOINT_URL_ROUTE_53). */
  url = "";
  /** How often each checker probes, ms. */
  readonly intervalMs: number;
  /** GetHealthCheckStatus requests answered from the checkers. */
  statusRequests = 0;
  private readonly moto: URL;
  private readonly checks = new Map<string, { check: WatchedCheck; checkers: CheckerState[] }>();
  private readonly timers: NodeJS.Timeout[] = [];
  private server: Server | undefined;

  constructor(motoEndpoint: string, options: { intervalMs?: number } = {}) {
    this.moto = new URL(motoEndpoint);
    this.intervalMs = options.intervalMs ?? 1000;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  /** Starts the checkers of a health check moto holds (its id, as CreateHealthCheck returned it). */
  watch(id: string, check: WatchedCheck): void {
    const checkers = CHECKER_REGIONS.map((region) => ({
      region,
      status: "Unknown: no probe yet",
      checkedAt: new Date(),
      busy: false,
    }));
    this.checks.set(id, { check, checkers });
    checkers.forEach((checker, i) => {
      // Staggered, as checkers in different regions are: they do not probe in lockstep.
      const first = setTimeout(
        () => {
          void this.probe(check, checker);
          const timer = setInterval(() => void this.probe(check, checker), this.intervalMs);
          timer.unref();
          this.timers.push(timer);
        },
        (this.intervalMs * i) / checkers.length,
      );
      first.unref();
      this.timers.push(first);
    });
  }

  /** Each checker's latest result for a health check. */
  observations(id: string): { region: string; status: string; checkedAt: Date }[] {
    return (this.checks.get(id)?.checkers ?? []).map(({ region, status, checkedAt }) => ({
      region,
      status,
      checkedAt,
    }));
  }

  private async probe(check: WatchedCheck, checker: CheckerState): Promise<void> {
    if (checker.busy) return;
    checker.busy = true;
    let status: string;
    try {
      // Route 53: connect within 4 s, first byte within 2 s; compressed with the interval.
      const response = await fetch(check.url, {
        signal: AbortSignal.timeout(Math.max(500, this.intervalMs)),
      });
      await response.arrayBuffer();
      const ok = response.status >= 200 && response.status < 400;
      status = `${ok ? "Success" : "Failure"}: HTTP Status Code ${response.status}, ${response.statusText}`;
    } catch (error) {
      const cause = (error as Error & { cause?: { code?: string } }).cause?.code;
      status =
        (error as Error).name === "TimeoutError"
          ? "Failure: The health checker could not establish a connection within the timeout limit."
          : `Failure: Connection refused. The endpoint or the internet connection is down (${cause ?? (error as Error).message}).`;
    } finally {
      checker.busy = false;
    }
    checker.checkedAt = new Date();
    checker.status = status;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    // moto first, with the caller's headers as signed (Host included): it checks the signature.
    const upstream = await new Promise<{ status: number; headers: IncomingMessage["headers"]; body: Buffer }>(
      (resolve, reject) => {
        const forward = request(
          {
            host: this.moto.hostname,
            port: this.moto.port,
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (response) => {
            const parts: Buffer[] = [];
            response.on("data", (c: Buffer) => parts.push(c));
            response.on("end", () =>
              resolve({
                status: response.statusCode ?? 502,
                headers: response.headers,
                body: Buffer.concat(parts),
              }),
            );
            response.on("error", reject);
          },
        );
        forward.on("error", reject);
        forward.end(body);
      },
    ).catch((error: Error) => ({
      status: 502,
      headers: { "content-type": "text/plain" } as IncomingMessage["headers"],
      body: Buffer.from(`moto unreachable: ${error.message}`),
    }));
    const id =
      req.method === "GET" ? STATUS_PATH.exec(new URL(req.url ?? "/", "http://x").pathname)?.[1] : undefined;
    const watched = id ? this.checks.get(decodeURIComponent(id)) : undefined;
    if (upstream.status !== 200 || !watched) {
      const headers = { ...upstream.headers };
      delete headers["transfer-encoding"];
      headers["content-length"] = String(upstream.body.length);
      res.writeHead(upstream.status, headers);
      res.end(upstream.body);
      return;
    }
    this.statusRequests += 1;
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<GetHealthCheckStatusResponse xmlns="${R53_NS}"><HealthCheckObservations>` +
      watched.checkers
        .map(
          (c, i) =>
            `<HealthCheckObservation><Region>${c.region}</Region><IPAddress>127.0.0.${i + 1}</IPAddress>` +
            `<StatusReport><Status>${escape(c.status)}</Status><CheckedTime>${c.checkedAt.toISOString()}</CheckedTime></StatusReport></HealthCheckObservation>`,
        )
        .join("") +
      `</HealthCheckObservations></GetHealthCheckStatusResponse>`;
    res.writeHead(200, {
      "content-type": "text/xml",
      "x-amzn-requestid": upstream.headers["x-amzn-requestid"] ?? "local",
    });
    res.end(xml);
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.checks.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }
}
