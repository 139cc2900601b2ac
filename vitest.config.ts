import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["**/*.test.ts"],
    exclude: ["node_modules/**", ".cache/**"],
    testTimeout: 30_000,
    hookTimeout: 600_000,
    // Test files start their own servers (PostgreSQL, kube-apiserver); two cores cannot run many at once.
    maxWorkers: 2,
    passWithNoTests: false,
    // Builds the local kube-apiserver from Go modules once, before any test file, when it is missing
    // or its sources changed (a few milliseconds when up to date).
    globalSetup: ["tools/localcluster/global-setup.ts"],
  },
});
