import { defineConfig } from "vitest/config"

/**
 * Two projects, so one test can run without the services:
 * - unit (tests/unit): no database or broker; `npm run test:unit`, or `npx vitest run tests/unit/x.test.ts`.
 * - integration (everything else): tests/support/globalSetup.ts starts PostgreSQL, NATS,
 *   Redis and Cassandra once per run and hands their addresses to the tests (`inject`).
 * `npm test` runs both.
 */
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["tests/unit/**/*.test.ts"] }
      },
      {
        extends: true,
        test: {
          name: "integration",
          include: ["tests/**/*.test.ts"],
          exclude: ["tests/unit/**", "**/node_modules/**"],
          globalSetup: ["tests/support/globalSetup.ts"]
        }
      }
    ]
  }
})
