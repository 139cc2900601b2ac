// Headless Chromium from Debian (/usr/bin/chromium), driven by playwright-core, for the report's
// PDF and the test's screenshot. No browser is downloaded: playwright-core only speaks the protocol.
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Root needs --no-sandbox; the rest keep a headless run offline and quiet. */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. Install Debian's browser with \`apt-get install -y chromium\`, ` +
        "or set CHROMIUM_PATH to a Chromium binary.",
    );
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true });
}

export interface RenderedPage {
  page: Page;
  /** Console errors, page errors and any request the page tried to make to the network. */
  problems: string[];
}

/**
 * Loads the report HTML into a fresh page. Every network request is refused and recorded, so a
 * report that reaches for a CDN fails its test instead of silently rendering differently offline.
 */
export async function openReport(browser: Browser, html: string): Promise<RenderedPage> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const problems: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  await page.route("**/*", async (route) => {
    problems.push(`network request: ${route.request().url()}`);
    await route.abort();
  });
  await page.setContent(html, { waitUntil: "load" });
  return { page, problems };
}

export async function writePdf(html: string, path: string): Promise<void> {
  const browser = await launchChromium();
  try {
    const { page, problems } = await openReport(browser, html);
    if (problems.length > 0) throw new Error(`The report page has problems:\n${problems.join("\n")}`);
    await page.pdf({
      path,
      format: "A4",
      printBackground: true,
      margin: { top: "12mm", bottom: "12mm", left: "10mm", right: "10mm" },
    });
  } finally {
    await browser.close();
  }
}
