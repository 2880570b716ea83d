/**
 * Preloaded (`--import`) into every server the idle scenario measures, our node and the
 * peers alike, with `--expose-gc`: SIGUSR2 runs a full garbage collection, so that memory
 * per connection can be read without the garbage of connecting. Bench-only: the product
 * never loads this file.
 */
const gc = (globalThis as { gc?: () => void }).gc
if (typeof gc === "function") process.on("SIGUSR2", () => gc())
