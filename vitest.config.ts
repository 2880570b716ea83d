import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    // Starts PostgreSQL (and, later, other services) once per run: tests/support/globalSetup.ts.
    globalSetup: ["tests/support/globalSetup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
})
