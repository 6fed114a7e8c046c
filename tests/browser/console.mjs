// Drives the router's web console in Debian's headless Chromium with playwright-core (from
// .tools/node_modules, installed by scripts/install-test-tools.sh) for tests/e2e/console.rs.
//   node tests/browser/console.mjs URL USER PASSWORD
// Prints READY once the live view is connected, then answers one JSON line per command read
// from stdin:
//   wait SUBJECT|ENTITY     a row with this subject whose entities cell contains ENTITY (5 s)
//   filter FIELD TEXT       types TEXT into the type|subject|source filter; the visible rows
//   pause | resume          the pause button
//   shot PATH               a screenshot of the page
//   dialogs                 how many JavaScript dialogs opened (an injected script would)
//   quit
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import readline from "node:readline";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const require = createRequire(join(root, ".tools", "node_modules", "package.json"));
const { chromium } = require("playwright-core");

const [url, username, password] = process.argv.slice(2);
const say = (o) => process.stdout.write(JSON.stringify(o) + "\n");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ httpCredentials: { username, password }, viewport: { width: 1400, height: 800 } });
const page = await context.newPage();
let dialogs = 0;
page.on("dialog", (d) => { dialogs += 1; d.dismiss().catch(() => {}); });
const external = [];
page.on("request", (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });
await page.goto(url);
await page.waitForSelector("#status.live", { timeout: 15000 });
say({ ready: true });

const rows = () => page.$$eval("#rows tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const [cmd, ...rest] = line.split(" ");
  const arg = rest.join(" ");
  try {
    if (cmd === "wait") {
      const [subject, entity] = arg.split("|");
      const started = Date.now();
      const handle = await page.waitForFunction(([s, e]) => {
        for (const tr of document.querySelectorAll("#rows tr")) {
          const c = tr.children;
          if (c[3].textContent === s && c[4].textContent.includes(e)) return tr;
        }
        return null;
      }, [subject, entity], { timeout: 5000 });
      const ms = Date.now() - started;
      const cells = await handle.$$eval("td", (tds) => tds.map((td) => td.textContent));
      await handle.click();
      const json = JSON.parse(await page.textContent("#json"));
      say({ ok: true, ms, cells, json });
    } else if (cmd === "filter") {
      const [field, ...text] = rest;
      await page.fill(`#f-${field}`, text.join(" "));
      say({ ok: true, rows: (await rows()).length });
    } else if (cmd === "pause" || cmd === "resume") {
      await page.click("#pause");
      say({ ok: true, label: await page.textContent("#pause") });
    } else if (cmd === "shot") {
      await page.screenshot({ path: arg, fullPage: true });
      say({ ok: true });
    } else if (cmd === "dialogs") {
      say({ ok: true, dialogs, external });
    } else if (cmd === "quit") {
      break;
    } else {
      say({ ok: false, error: `unknown command ${cmd}` });
    }
  } catch (e) {
    say({ ok: false, error: String(e).split("\n")[0], rows: await rows().catch(() => []) });
  }
}
await browser.close();
say({ closed: true });
