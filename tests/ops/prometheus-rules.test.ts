/**
 * The Prometheus rules (ops/prometheus/rules.yml) are valid, every alert has a unit test in
 * ops/prometheus/tests.yml that passes under promtool, and a runbook entry in
 * docs/operations.md. promtool comes from Debian's `prometheus` package (.ci/run installs it).
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"
import { parse } from "yaml"

const run = promisify(execFile)
const PROMTOOL = process.env.CHAT_TEST_PROMTOOL ?? "/usr/bin/promtool"
const root = new URL("../../", import.meta.url).pathname

interface Rule {
  readonly alert?: string
  readonly record?: string
  readonly expr: string
  readonly annotations?: Record<string, string>
}
const rules: ReadonlyArray<Rule> = (
  parse(readFileSync(`${root}ops/prometheus/rules.yml`, "utf8")) as { groups: Array<{ rules: Array<Rule> }> }
).groups.flatMap((g) => g.rules)
const alerts = rules.filter((r) => r.alert !== undefined)

describe("prometheus rules", () => {
  it("prometheus rules - promtool check rules accepts the rules file", async () => {
    const { stdout } = await run(PROMTOOL, ["check", "rules", "ops/prometheus/rules.yml"], { cwd: root })
    expect(stdout).toContain("SUCCESS")
  })

  it("prometheus rules - promtool test rules passes the unit tests", async () => {
    const out = await run(PROMTOOL, ["test", "rules", "ops/prometheus/tests.yml"], { cwd: root }).catch(
      (e: { stdout?: string; stderr?: string }) => ({ stdout: `${e.stdout ?? ""}${e.stderr ?? ""}`, failed: true })
    )
    expect(out.stdout).toContain("SUCCESS")
    expect("failed" in out).toBe(false)
  })

  it("prometheus rules - the original three alerts and ours exist, each with a unit test that expects it to fire", () => {
    const names = alerts.map((a) => a.alert)
    for (const name of [
      "HighQueryLatency",
      "DatabaseConnectionFailure",
      "HighErrorRate",
      "OutboxLag",
      "ShardsWithoutOwner",
      "LeaseChurn",
      "ActorRestarts",
      "CircuitOpen",
      "SlowConsumersCutOff"
    ]) {
      expect(names).toContain(name)
    }
    const tests = parse(readFileSync(`${root}ops/prometheus/tests.yml`, "utf8")) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: Array<unknown> }> }>
    }
    const firing = new Set(
      tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname))
    )
    for (const name of names) expect(firing, `${name} has no unit test that expects it to fire`).toContain(name)
    expect(alerts.find((a) => a.alert === "HighQueryLatency")?.expr).toContain('operation="save_message"')
  })

  it("prometheus rules - every alert links a runbook entry that docs/operations.md has", () => {
    const doc = readFileSync(`${root}docs/operations.md`, "utf8")
    const anchors = new Set([...doc.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1].trim().toLowerCase().replace(/[^a-z0-9 -]/g, "").replace(/ /g, "-")))
    for (const a of alerts) {
      const url = a.annotations?.runbook_url ?? ""
      expect(url).toBe(`docs/operations.md#${a.alert!.toLowerCase()}`)
      expect(anchors, `docs/operations.md has no section "${a.alert}"`).toContain(a.alert!.toLowerCase())
    }
  })
})
