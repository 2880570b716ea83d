/**
 * A hand-written SVG line chart of a stepped scenario: throughput (x) against p99 latency
 * (y, log scale) per server across the steps, with the scenario's limit as a dashed line.
 * A filled point is a step that held, a hollow one the step that failed.
 */
import type { LoadResult } from "../scenarios/load.ts"

const W = 760
const H = 440
const M = { left: 70, right: 190, top: 40, bottom: 56 }
const COLORS = ["#1b6ac9", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#495057"]

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/** 1, 2, 5 x 10^n steps for a linear axis. */
const niceStep = (max: number, ticks: number) => {
  const raw = max / ticks
  const p = 10 ** Math.floor(Math.log10(raw))
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p
}

const fmt = (v: number) => (v >= 1_000_000 ? `${v / 1_000_000}M` : v >= 1000 ? `${v / 1000}k` : String(v))

export interface ChartOptions {
  readonly title: string
  readonly x: "deliveriesPerS" | "ackedPerS"
  readonly xLabel: string
  readonly y: "e2e" | "ack"
  readonly yLabel: string
  readonly limitMs: number
}

export const renderChart = (load: LoadResult, o: ChartOptions): string => {
  const series = load.runs
    .map((run) => ({
      name: run.repeat !== undefined && run.repeat > 1 ? `${run.server} #${run.repeat}` : run.server,
      points: run.steps
        .map((s) => ({ x: (s[o.x] as number | null) ?? 0, y: s[o.y]?.p99 ?? 0, held: s.held }))
        .filter((p) => p.y > 0)
        // Bisection steps come after the failed coarse step: draw the curve in rate order.
        .sort((a, b) => a.x - b.x)
    }))
    .filter((s) => s.points.length > 0)
  const xs = series.flatMap((s) => s.points.map((p) => p.x))
  const ys = series.flatMap((s) => s.points.map((p) => p.y))
  const xMax = Math.max(1, ...xs) * 1.05
  const yMin = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(o.limitMs, ...ys))))
  const yMax = 10 ** Math.ceil(Math.log10(Math.max(o.limitMs * 2, ...ys)))
  const pw = W - M.left - M.right
  const ph = H - M.top - M.bottom
  const r1 = (v: number) => Math.round(v * 10) / 10
  const sx = (x: number) => r1(M.left + (x / xMax) * pw)
  const sy = (y: number) => r1(M.top + ph - ((Math.log10(Math.max(y, yMin)) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph)
  const out: Array<string> = []
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`)
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  out.push(`<text x="${M.left}" y="22" font-size="15" font-weight="bold">${esc(o.title)}</text>`)
  // Grid and axes.
  const step = niceStep(xMax, 6)
  for (let x = 0; x <= xMax; x += step) {
    out.push(`<line x1="${sx(x)}" y1="${M.top}" x2="${sx(x)}" y2="${M.top + ph}" stroke="#eeeeee"/>`)
    out.push(`<text x="${sx(x)}" y="${M.top + ph + 16}" text-anchor="middle">${fmt(x)}</text>`)
  }
  for (let e = Math.round(Math.log10(yMin)); e <= Math.round(Math.log10(yMax)); e++) {
    const y = 10 ** e
    out.push(`<line x1="${M.left}" y1="${sy(y)}" x2="${M.left + pw}" y2="${sy(y)}" stroke="#eeeeee"/>`)
    out.push(`<text x="${M.left - 6}" y="${sy(y) + 4}" text-anchor="end">${e < 0 ? y.toFixed(-e) : y}</text>`)
  }
  out.push(`<line x1="${M.left}" y1="${M.top + ph}" x2="${M.left + pw}" y2="${M.top + ph}" stroke="#333"/>`)
  out.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${M.top + ph}" stroke="#333"/>`)
  out.push(`<text x="${M.left + pw / 2}" y="${H - 14}" text-anchor="middle">${esc(o.xLabel)}</text>`)
  out.push(`<text transform="translate(16 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`)
  // The limit.
  out.push(`<line x1="${M.left}" y1="${sy(o.limitMs)}" x2="${M.left + pw}" y2="${sy(o.limitMs)}" stroke="#c92a2a" stroke-dasharray="6 4"/>`)
  out.push(`<text x="${M.left + pw - 4}" y="${sy(o.limitMs) - 5}" text-anchor="end" fill="#c92a2a">limit ${o.limitMs} ms</text>`)
  // Series and legend.
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]
    const pts = s.points.map((p) => `${sx(p.x)},${sy(p.y)}`).join(" ")
    out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2"/>`)
    for (const p of s.points) {
      out.push(`<circle cx="${sx(p.x)}" cy="${sy(p.y)}" r="4" fill="${p.held ? color : "#ffffff"}" stroke="${color}" stroke-width="2"/>`)
    }
    const ly = M.top + 10 + i * 20
    out.push(`<line x1="${M.left + pw + 16}" y1="${ly}" x2="${M.left + pw + 40}" y2="${ly}" stroke="${color}" stroke-width="2"/>`)
    out.push(`<text x="${M.left + pw + 46}" y="${ly + 4}">${esc(s.name)}</text>`)
  })
  const ly = M.top + 10 + series.length * 20 + 10
  out.push(`<text x="${M.left + pw + 16}" y="${ly}" fill="#555">filled: step held</text>`)
  out.push(`<text x="${M.left + pw + 16}" y="${ly + 16}" fill="#555">hollow: step failed</text>`)
  out.push("</svg>")
  return out.join("\n") + "\n"
}
