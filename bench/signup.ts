// npm run bench:signup
// On the two-region local platform (`npm start`, every process as the stacks deploy it):
//  1. signup to first successful quote: POST /v1/signup, the runner mails the verification link
//     (real SMTP to the platform's mailbox), the link is opened, and POST /v1/quotes is retried with
//     the signup's key until the tenant controller has provisioned the plan's entitlements. Goal <= 2 s.
//  2. revocation on every replica: three quote API processes of the primary (the platform's and two
//     more replicas, each with the stacks' auth cache), a key warmed on all, revoked through one; the
//     time until every replica refuses it. Goal <= 1 s.
// Prints every run, the medians and maxima, and the load average.
import { cpus, loadavg } from "node:os";
import { ensureBuilt } from "../tools/localcluster/build.ts";
import { apiClient, quoteBody } from "../tools/platform/api-client.ts";
import { measureRevocation } from "../tools/platform/api-replicas.ts";
import { startPlatform } from "../tools/platform/platform.ts";

const runs = Number(process.env.BENCH_RUNS ?? 5);
const signupGoalMs = 2000;
const revocationGoalMs = 1000;

await ensureBuilt();
const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(" ");
console.log(
  `machine: ${cpus().length} CPUs (${cpus()[0]?.model ?? "unknown"}), node ${process.version}, load ${load()}`,
);
const platform = await startPlatform({ name: "bench-signup" });
const failures: string[] = [];
try {
  const api = platform.regions.primary.apiUrl;
  const anonymous = apiClient(api);

  const signupTotals: number[] = [];
  for (let i = 0; i < runs; i++) {
    const id = `${Date.now().toString(36)}${i}`;
    const email = `dispatch@bench-${id}.com`;
    const began = performance.now();
    const signup = await anonymous.post<{ apiKey: { key: string } }>("/v1/signup", {
      company: `Bench Carriers ${id}`,
      email,
      plan: "starter",
    });
    if (signup.status !== 201)
      throw new Error(`signup answered ${signup.status}: ${JSON.stringify(signup.body)}`);
    const signedUp = performance.now() - began;
    let link: string | undefined;
    while (!link) {
      const mail = platform.mailbox.received.find((m) => m.rcptTo.includes(email));
      link = mail
        ? /https?:\/\/\S+\/v1\/signup\/verify\?token=ev_[A-Za-z0-9_-]+/.exec(mail.mail.text ?? "")?.[0]
        : undefined;
      if (performance.now() - began > 30_000)
        throw new Error(`no verification email for ${email} within 30 s`);
      if (!link) await new Promise((r) => setTimeout(r, 10));
    }
    const mailed = performance.now() - began;
    const verified = await fetch(link);
    if (verified.status !== 200) throw new Error(`the verification link answered ${verified.status}`);
    const verifiedAt = performance.now() - began;
    const client = apiClient(api, signup.body.apiKey.key);
    let attempts = 0;
    for (;;) {
      attempts++;
      const quote = await client.post("/v1/quotes", quoteBody());
      if (quote.status === 201) break;
      if (performance.now() - began > 30_000)
        throw new Error(
          `no successful quote within 30 s; last answer ${quote.status}: ${JSON.stringify(quote.body)}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
    const total = performance.now() - began;
    signupTotals.push(total);
    console.log(
      `signup run ${i + 1}: first quote ${total.toFixed(0)} ms after signup (signup answered ${signedUp.toFixed(0)} ms, ` +
        `email received ${mailed.toFixed(0)} ms, verified ${verifiedAt.toFixed(0)} ms, quote attempts ${attempts}; load ${load()})`,
    );
  }

  const replicas = [
    platform.process("primary", "quote-api"),
    await platform.startProcess("primary", "quote-api", { replica: 1 }),
    await platform.startProcess("primary", "quote-api", { replica: 2 }),
  ];
  const urls = replicas.map((p) => new URL(p.readyUrl!).origin);
  const worst: number[] = [];
  for (let i = 0; i < runs; i++) {
    const timing = await measureRevocation(urls, platform.apiKeys["acme-logistics"]!);
    worst.push(Math.max(...timing.effectiveMs));
    console.log(
      `revocation run ${i + 1}: refused on the 3 replicas after ${timing.effectiveMs.map((ms) => ms.toFixed(0)).join(", ")} ms ` +
        `(load ${load()})`,
    );
  }

  const summary = (label: string, values: number[], goal: number) => {
    const sorted = [...values].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const max = sorted[sorted.length - 1]!;
    console.log(
      `${label}: median ${median.toFixed(0)} ms, max ${max.toFixed(0)} ms over ${values.length} runs (goal <= ${goal} ms)`,
    );
    if (max > goal) failures.push(label);
  };
  summary("signup to first successful quote", signupTotals, signupGoalMs);
  summary("revocation effective on every replica", worst, revocationGoalMs);
  console.log(`load average at the end: ${load()}`);
} finally {
  await platform.stop();
}
process.exit(failures.length ? 1 : 0);
