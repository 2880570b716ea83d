import { defineConfig } from "vitest/config"

/**
 * Two projects, so one test can run without the services:
 * - unit (tests/unit): no database or broker; `npm run test:unit`, or `npx vitest run tests/unit/x.test.ts`.
 *   Files of a worker share one module graph (isolate: false): a unit test must not leave
 *   global state behind (timers, patched globals, process.env) that another file would see.
 *   Files that use vi.mock are listed in MOCKING and run isolated (project unit-isolated).
 * - integration (everything else): tests/support/globalSetup.ts starts PostgreSQL, NATS,
 *   Redis and Cassandra once per run and hands their addresses to the tests (`inject`).
 * `npm test` runs both.
 */
/** Unit test files that replace a module with vi.mock. */
const MOCKING = ["tests/unit/encrypted.test.ts"]

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Pool options are global in vitest 3: only the unit project runs on threads, and its
    // files share a worker's module graph; the integration project (forks) stays isolated.
    poolOptions: { threads: { isolate: false } },
    projects: [
      {
        extends: true,
        test: {
          name: "unit",
          include: ["tests/unit/**/*.test.ts"],
          // Unit tests share nothing but imported modules, so a worker imports them once for all
          // its files instead of once per file (the threads pool is not isolated, see
          // poolOptions above): the import cost was two thirds of the run (`npm run test:unit`:
          // 50 s with isolation, 15 s without, at load 5 on 2 cores).
          pool: "threads",
          exclude: MOCKING
        }
      },
      {
        // vi.mock needs a module graph of its own: unit files that mock modules run isolated.
        extends: true,
        test: { name: "unit-isolated", include: MOCKING }
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
