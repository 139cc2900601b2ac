// `npm run demo -- rates|directory`: a demo script against the local platform. With FREIGHT_API_URL
// and FREIGHT_API_KEY (what `npm start` prints: the primary's API and a Pro demo tenant's key) it
// runs against that running platform; without them it starts the platform itself, runs the script,
// and keeps the platform up with the data in place until Ctrl-C, for the presenter to continue.
import { DEMOS, runDemo, type DemoName } from "./scripts.ts";

const DEMO_TENANT = "globex-freight";

async function main(): Promise<void> {
  const name = process.argv[2];
  if (!DEMOS.includes(name as DemoName)) {
    console.error(`usage: npm run demo -- ${DEMOS.join("|")}`);
    process.exitCode = 2;
    return;
  }
  const say = (line: string) => console.log(line);
  const apiUrl = process.env.FREIGHT_API_URL;
  const apiKey = process.env.FREIGHT_API_KEY;
  if (apiUrl && apiKey) {
    await runDemo(name as DemoName, { apiUrl, apiKey, say });
    return;
  }
  if (apiUrl || apiKey)
    throw new Error("set both FREIGHT_API_URL and FREIGHT_API_KEY, or neither to start the platform");
  const { startPlatform } = await import("../platform/platform.ts");
  say("Starting the local platform (npm start's, with its demo tenants)...");
  const platform = await startPlatform({ name: "demo", log: (line) => say(`  ${line}`) });
  const key = platform.apiKeys[DEMO_TENANT];
  if (!key) throw new Error(`the platform has no ${DEMO_TENANT} demo tenant`);
  try {
    await runDemo(name as DemoName, { apiUrl: platform.regions.primary.apiUrl, apiKey: key, say });
  } catch (error) {
    await platform.stop();
    throw error;
  }
  say("");
  say(
    `Continue as ${DEMO_TENANT}: API ${platform.regions.primary.apiUrl}, key ${key}. Ctrl-C stops the platform.`,
  );
  process.once("SIGINT", () => void platform.stop().then(() => process.exit(0)));
}

await main();
