/**
 * The deployment files (deploy/) render and agree with the code: kubectl kustomize renders
 * deploy/k8s, the compose file parses, every CHAT_* variable they set is one the server
 * defines, every image is pinned, and the probes' paths and port are the server's.
 * No container engine runs here: nothing is started from these files (deploy/README.md).
 */
import { execFile } from "node:child_process"
import { readFileSync } from "node:fs"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { parse, parseAllDocuments } from "yaml"
import { settings } from "../../src/config/ChatConfig.ts"
import { startInProcess, type TestNode } from "../support/node.ts"

const run = promisify(execFile)
const root = new URL("../../", import.meta.url).pathname
const KUBECTL = process.env.CHAT_TEST_KUBECTL ?? "kubectl"
const known = new Set(Object.values(settings).map((s) => s.env))

type Obj = Record<string, any>
let k8s: Array<Obj>
const compose = parse(readFileSync(`${root}deploy/compose.yaml`, "utf8"), { merge: true }) as Obj
const chatServices = Object.entries(compose.services as Record<string, Obj>).filter(([name]) => name.startsWith("chat-"))
const deployment = () => k8s.find((d) => d.kind === "Deployment")!
const container = () => deployment().spec.template.spec.containers[0]
const configMap = () => k8s.find((d) => d.kind === "ConfigMap")!
const secret = () => k8s.find((d) => d.kind === "Secret")!

/** Pinned: a tag that names a version (not latest, not absent), or a digest. */
const pinned = (image: string) => /@sha256:[0-9a-f]{64}$/.test(image) || /:(v?\d+(\.\d+)+)([-.][\w.-]+)?$/.test(image)

let node: TestNode
beforeAll(async () => {
  const { stdout } = await run(KUBECTL, ["kustomize", "deploy/k8s"], { cwd: root })
  k8s = parseAllDocuments(stdout).map((d) => d.toJSON() as Obj)
  node = await startInProcess()
}, 60_000)
afterAll(async () => {
  await node?.close()
})

describe("deploy", () => {
  it("deploy - kustomize renders every object the chat nodes need", () => {
    expect(k8s.map((d) => d.kind).sort()).toEqual(
      ["ConfigMap", "Deployment", "HorizontalPodAutoscaler", "Namespace", "PodDisruptionBudget", "Secret", "Service"].sort()
    )
    expect(k8s.every((d) => d.kind === "Namespace" || d.metadata.namespace === "chat")).toBe(true)
    expect(deployment().spec.replicas).toBeGreaterThanOrEqual(3)
    const hpa = k8s.find((d) => d.kind === "HorizontalPodAutoscaler")!
    expect(hpa.spec.scaleTargetRef.name).toBe(deployment().metadata.name)
    const pdb = k8s.find((d) => d.kind === "PodDisruptionBudget")!
    expect(pdb.spec.selector.matchLabels).toEqual(deployment().spec.selector.matchLabels)
  })

  it("deploy - compose has three chat nodes, PostgreSQL, ScyllaDB, three NATS servers with JetStream, Redis, Prometheus, Alertmanager, Grafana", () => {
    const names = Object.keys(compose.services)
    expect(chatServices.map(([n]) => n)).toEqual(["chat-1", "chat-2", "chat-3"])
    for (const n of ["postgres", "scylla", "nats-1", "nats-2", "nats-3", "redis", "prometheus", "alertmanager", "grafana"]) expect(names).toContain(n)
    for (const n of ["nats-1", "nats-2", "nats-3"]) {
      expect(compose.services[n].command).toContain("-js")
      expect(compose.services[n].command).toContain("--routes")
    }
    expect(new Set(chatServices.map(([, s]) => s.environment.CHAT_NODE_ID)).size).toBe(3)
    expect(compose.services.prometheus.volumes.join(" ")).toContain("ops/prometheus/rules.yml")
    expect(compose.services.grafana.volumes.join(" ")).toContain("ops/grafana/dashboards")
  })

  it("deploy - every CHAT_* variable set by compose or kubernetes is one the server defines", () => {
    const set = [
      ...chatServices.flatMap(([, s]) => Object.keys(s.environment)),
      ...Object.keys(configMap().data),
      ...Object.keys(secret().stringData ?? secret().data ?? {}),
      ...container().env.map((e: Obj) => e.name)
    ]
    expect(set.length).toBeGreaterThan(10)
    for (const name of set) expect(known, `${name} is not in src/config/ChatConfig.ts`).toContain(name)
    // Secrets stay out of the ConfigMap, and compose takes them from .env.
    for (const name of ["CHAT_JWT_SECRET", "CHAT_MASTER_KEY", "CHAT_POSTGRES_URL", "CHAT_REDIS_URL"]) {
      expect(Object.keys(configMap().data)).not.toContain(name)
    }
    for (const [, s] of chatServices) {
      expect(s.environment.CHAT_JWT_SECRET).toMatch(/^\$\{CHAT_JWT_SECRET:\?/)
      expect(s.environment.CHAT_MASTER_KEY).toMatch(/^\$\{CHAT_MASTER_KEY:\?/)
    }
  })

  it("deploy - every image is pinned to a version", () => {
    const images = [
      ...Object.values(compose.services as Record<string, Obj>).map((s) => s.image as string),
      ...k8s.flatMap((d) => (d.spec?.template?.spec?.containers ?? []).map((c: Obj) => c.image as string))
    ]
    expect(images.length).toBeGreaterThan(10)
    for (const image of images) expect(pinned(image), `${image} is not pinned`).toBe(true)
    expect(pinned("redis:latest")).toBe(false)
    expect(pinned("redis")).toBe(false)
  })

  it("deploy - probes, ports and the drain match the server", async () => {
    const c = container()
    const port = Number(configMap().data.CHAT_PORT)
    expect(c.ports[0].containerPort).toBe(port)
    const named = (p: number | string) => (typeof p === "string" ? c.ports.find((x: Obj) => x.name === p).containerPort : p)
    expect(c.readinessProbe.httpGet.path).toBe("/readyz")
    expect(c.livenessProbe.httpGet.path).toBe("/healthz")
    expect(named(c.readinessProbe.httpGet.port)).toBe(port)
    expect(named(c.livenessProbe.httpGet.port)).toBe(port)
    // The Dockerfile serves on the same port.
    const dockerfile = readFileSync(`${root}Dockerfile`, "utf8")
    expect(dockerfile).toContain(`CHAT_PORT=${port}`)
    expect(dockerfile).toContain(`EXPOSE ${port}`)
    for (const [, s] of chatServices) expect(s.environment.CHAT_PORT).toBe(String(port))
    // The server answers on those paths.
    expect((await fetch(`${node.url}${c.livenessProbe.httpGet.path}`)).status).toBe(200)
    expect((await fetch(`${node.url}${c.readinessProbe.httpGet.path}`)).status).toBe(200)
    // preStop + the server's own shutdown grace fit in the pod's termination grace.
    const preStop = Number(c.lifecycle.preStop.exec.command[1])
    const graceMs = Number(configMap().data.CHAT_SHUTDOWN_GRACE_MS)
    expect(deployment().spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStop * 1000 + graceMs + 5_000)
  })
})
