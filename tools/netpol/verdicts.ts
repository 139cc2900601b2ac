// Asks cyclonus's network-policy matcher (tools/netpol/main.go) for the verdict on each connection
// of a table: whether the given NetworkPolicies allow it, and which policies decided each direction.
import { spawn } from "node:child_process";

import { ensureNetpolBuilt } from "./build.ts";

/** A pod (namespace, labels and its address) or, without a namespace, an address outside the cluster. */
export interface Endpoint {
  namespace?: string;
  labels?: Record<string, string>;
  ip: string;
}

export interface Connection {
  from: Endpoint;
  to: Endpoint;
  port: number;
  protocol?: "TCP" | "UDP";
}

export interface DirectionVerdict {
  allowed: boolean;
  /** `namespace/name` of the policies that select the pod and allow the connection. */
  allowing: string[];
  /** Those that select the pod but allow nothing of it. */
  denying: string[];
}

export interface Verdict {
  allowed: boolean;
  egress: DirectionVerdict;
  ingress: DirectionVerdict;
}

export async function verdicts(policies: unknown[], connections: Connection[]): Promise<Verdict[]> {
  const binary = await ensureNetpolBuilt();
  const child = spawn(binary, [], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", resolve);
    child.stdin.end(JSON.stringify({ policies, connections }));
  });
  if (code !== 0) throw new Error(`netpol-verdicts exited ${code}: ${stderr.trim()}`);
  return (JSON.parse(stdout) as { verdicts: Verdict[] }).verdicts;
}
