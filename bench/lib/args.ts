/**
 * `--name value` from the command line of a one-off bench tool (commitstatement, historyfloor,
 * storeload), or `fallback`. The main bench parses its flags with `node:util` parseArgs
 * (../config.ts); these tools take a few plain values and need nothing more.
 */
export const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : fallback
}
