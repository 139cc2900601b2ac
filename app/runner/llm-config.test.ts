// The runner's LLM settings are checked at start: a provider URL without its key, a URL that is not
// http(s), or a call timeout that cannot fit in a task's attempt is refused, naming the fix.
import { describe, expect, it } from "vitest";
import { ConfigError } from "../env.ts";
import { parseRunnerConfig } from "./config.ts";

const base = { DATABASE_URL: "postgres://freight_runner:x@127.0.0.1:5432/freight" };

function problems(env: Record<string, string>): string[] {
  try {
    parseRunnerConfig({ ...base, ...env });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
}

describe("runner LLM configuration", () => {
  it("runs with fallbacks only when no provider is set, and with one when its key is there", () => {
    expect(problems({})).toEqual([]);
    const config = parseRunnerConfig({
      ...base,
      LLM_BASE_URL: "https://api.openai.com/v1",
      LLM_API_KEY: "sk-x",
    });
    expect(config.LLM_MODEL).toBe("gpt-4o-mini");
    expect(config.LLM_TIMEOUT_MS).toBe(6_000);
  });

  it("refuses a provider without its key, a URL that is not http(s), and a timeout longer than an attempt allows", () => {
    expect(problems({ LLM_BASE_URL: "https://api.openai.com/v1" })).toEqual([
      expect.stringMatching(/^LLM_API_KEY_FILE: is required.*with LLM_BASE_URL: the provider's key/),
    ]);
    expect(problems({ LLM_BASE_URL: "ftp://llm.example", LLM_API_KEY: "k" })).toEqual([
      expect.stringMatching(/^LLM_BASE_URL: must be an http\(s\):\/\/ URL/),
    ]);
    expect(
      problems({ LLM_BASE_URL: "https://api.openai.com/v1", LLM_API_KEY: "k", LLM_TIMEOUT_MS: "8000" }),
    ).toEqual([
      expect.stringMatching(/^LLM_TIMEOUT_MS: must be at most 7000 with RUNNER_AGENT_TIMEOUT_MS 15000/),
    ]);
  });
});
