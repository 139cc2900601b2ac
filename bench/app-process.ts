// The quote API as its own process for the benchmarks, as production runs it (app/server.ts), on a
// free loopback port; resolves once /readyz answers.
import { spawn, type ChildProcess } from "node:child_process";
import { freePort } from "../tools/postgres/server.ts";

export async function startAppProcess(
  env: Record<string, string>,
  entry = "app/server.ts",
): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry], {
    env: { ...process.env, ...env, PORT: String(port), HOST: "127.0.0.1", LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(`${url}/readyz`)).ok) return { url, child };
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("the app did not become ready within 10 s");
}
