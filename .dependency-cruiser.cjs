/**
 * The floor plan's import rules (docs/architecture.md): imports point down
 * src/ -> actors/, storage/ -> core/ -> libraries. Checked by tests/unit/boundaries.test.ts.
 */
module.exports = {
  forbidden: [
    {
      name: "core-imports-only-libraries",
      comment: "core/ is the room's language: it may import libraries and itself, nothing of ours above it",
      severity: "error",
      from: { path: "^core/" },
      to: { path: "^(src|actors|storage|tests|bench)/" }
    },
    {
      name: "storage-imports-only-core",
      comment: "storage/ implements the store contract in the room's language; crypto, metrics and config wrap it from src/",
      severity: "error",
      from: { path: "^storage/" },
      to: { path: "^(src|actors|tests|bench)/" }
    },
    {
      name: "actors-import-core-and-the-store-contract",
      comment: "actors/ runs rooms over the store contract; clustering, gateways and stores are wired in from src/",
      severity: "error",
      from: { path: "^actors/" },
      to: { path: "^(src|tests|bench)/|^storage/(?!ChatStore\\.ts$)" }
    },
    {
      name: "product-code-imports-no-tests",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^(tests|bench)/" }
    }
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" }
  }
}
