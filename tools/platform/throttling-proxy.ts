// A small HTTP proxy in front of a real local kube-apiserver, for tests of how clients behave when
// the API server pushes back: it answers a share of writes with 429 Too Many Requests and a
// Retry-After (what max-in-flight and priority-and-fairness send), can go away for a while the way a
// restarting API server does (every connection cut, the port refusing), and can lose the answer to
// a write the server applied. Clients reach it
// with a kubeconfig of its own (plain HTTP, no credentials); it forwards with the admin's.
import { writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Agent, request as httpsRequest, type RequestOptions } from "node:https";
import type { Socket } from "node:net";
import { join } from "node:path";
import type { LocalCluster } from "../localcluster/fixture.ts";
import { freePort } from "../postgres/server.ts";

export interface ThrottlingProxy {
  url: string;
  /** A kubeconfig naming the proxy, for the process under test. */
  kubeconfigPath: string;
  /** Share of POST/PUT/PATCH/DELETE answered 429 (0..1); change at any time. */
  throttleShare: number;
  /**
   * Added to every forwarded request before it goes upstream (ms): a busy API server on a loaded
   * machine answers in tens to hundreds of milliseconds, not the one a quiet loopback gives.
   */
  latencyMs: number;
  /**
   * The next this many writes reach the API server, but their answers are lost: the client's
   * connection is cut once the server has answered (a restart or a dropped connection at the worst
   * moment). Counts down as it happens.
   */
  loseNextWriteAnswers: number;
  /** Requests answered 429 so far, and forwarded. */
  readonly stats: { throttled: number; forwarded: number };
  /** Cuts every connection (watches included) and refuses new ones for `ms`. */
  outage(ms: number): Promise<void>;
  stop(): Promise<void>;
}

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export async function startThrottlingProxy(
  cluster: LocalCluster,
  options: { throttleShare?: number; retryAfterSeconds?: number; latencyMs?: number } = {},
): Promise<ThrottlingProxy> {
  const port = await freePort();
  const upstream = new URL(cluster.server);
  const tls: RequestOptions = {};
  await cluster.kubeConfig.applyToHTTPSOptions(tls);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const sockets = new Set<Socket>();
  const stats = { throttled: 0, forwarded: 0 };
  let server: Server;
  let counter = 0;

  const proxy: ThrottlingProxy = {
    url: `http://127.0.0.1:${port}`,
    kubeconfigPath: join(cluster.dir, `throttling-proxy-${port}.kubeconfig`),
    throttleShare: options.throttleShare ?? 0,
    latencyMs: options.latencyMs ?? 0,
    loseNextWriteAnswers: 0,
    stats,
    async outage(ms) {
      await close();
      await new Promise((r) => setTimeout(r, ms));
      await listen();
    },
    async stop() {
      await close();
      agent.destroy();
    },
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    // Deterministic share: every n-th write, so a test sees throttling however few writes it makes.
    if (WRITES.has(req.method ?? "") && proxy.throttleShare > 0) {
      counter += proxy.throttleShare;
      if (counter >= 1) {
        counter -= 1;
        stats.throttled++;
        req.resume();
        res.writeHead(429, {
          "Content-Type": "application/json",
          "Retry-After": String(options.retryAfterSeconds ?? 1),
        });
        res.end(
          JSON.stringify({
            kind: "Status",
            apiVersion: "v1",
            status: "Failure",
            reason: "TooManyRequests",
            message: "too many requests, please try again later (throttling proxy)",
            code: 429,
          }),
        );
        return;
      }
    }
    stats.forwarded++;
    if (proxy.latencyMs > 0) setTimeout(() => forward(req, res), proxy.latencyMs);
    else forward(req, res);
  };

  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const lose = WRITES.has(req.method ?? "") && proxy.loseNextWriteAnswers > 0;
    if (lose) proxy.loseNextWriteAnswers--;
    const upstreamReq = httpsRequest(
      {
        ...tls,
        agent,
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: upstream.host },
      },
      (upstreamRes) => {
        if (lose) {
          upstreamRes.resume();
          upstreamRes.on("end", () => res.socket?.destroy());
          return;
        }
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstreamReq.on("error", () => res.destroy());
    res.on("close", () => upstreamReq.destroy());
    req.pipe(upstreamReq);
  };

  function listen(): Promise<void> {
    server = createServer(handle);
    server.on("connection", (socket) => {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
    });
    return new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  }
  function close(): Promise<void> {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    return closed;
  }

  await listen();
  writeFileSync(
    proxy.kubeconfigPath,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      // Plain HTTP to the proxy on loopback; client-node refuses http:// unless TLS checks are off.
      clusters: [{ name: "proxy", cluster: { server: proxy.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: "proxy", user: {} }],
      contexts: [{ name: "proxy", context: { cluster: "proxy", user: "proxy" } }],
      "current-context": "proxy",
    }),
  );
  return proxy;
}
