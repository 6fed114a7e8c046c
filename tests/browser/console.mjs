// Drives the router's web console in Debian's headless Chromium with playwright-core (from
// .tools/node_modules, installed by scripts/install-test-tools.sh) for tests/e2e/console.rs.
//   node tests/browser/console.mjs URL USER PASSWORD
// Prints READY once the live view is connected, then answers one JSON line per command read
// from stdin:
//   wait SUBJECT|ENTITY     a row with this subject whose entities cell contains ENTITY (5 s):
//                           its cells, its detail JSON, whether it is marked as history
//   reload                  a new visit: reloads the page, waits until it is live again
//   filter FIELD TEXT       types TEXT into the type|subject|source filter; the visible rows
//   pause | resume          the pause button
//   shot PATH               a screenshot of the page
//   view live|health|dead-letters  switches the view (the nav links)
//   health REGEX            waits for the health summary to match; the summary and the cards
//   dlq N                   waits until the dead-letters table has N rows (5 s); its cells
//   open ID                 opens the row of event ID; the letter's JSON as the page shows it
//   replay ID|all           the row's Replay button (or Replay all); the result line
//   appliance REGEX         waits for the first-boot summary to match; the release facts, the
//                           steps' cells, the problems, and each function's cells and link
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
      const history = await handle.evaluate((tr) => tr.classList.contains("history"));
      await handle.click();
      const json = JSON.parse(await page.textContent("#json"));
      say({ ok: true, ms, cells, json, history });
    } else if (cmd === "reload") {
      // A new visit: the page connects again and gets the router's last events as history.
      await page.reload();
      await page.waitForFunction(() => document.getElementById("status").textContent === "live", null, { timeout: 5000 });
      say({ ok: true, rows: (await rows()).length });
    } else if (cmd === "filter") {
      const [field, ...text] = rest;
      await page.fill(`#f-${field}`, text.join(" "));
      say({ ok: true, rows: (await rows()).length });
    } else if (cmd === "pause" || cmd === "resume") {
      await page.click("#pause");
      say({ ok: true, label: await page.textContent("#pause") });
    } else if (cmd === "view") {
      await page.click(`#nav-${arg}`);
      await page.waitForSelector(`#view-${arg}`, { state: "visible", timeout: 5000 });
      say({ ok: true });
    } else if (cmd === "health") {
      // Waits until the summary matches the pattern (10 s); the summary and every card's text.
      await page.waitForFunction((re) => new RegExp(re).test(document.getElementById("health-summary").textContent), arg, { timeout: 10000 });
      const cards = await page.$$eval("#health-cards .card", (cs) => cs.map((c) => ({
        name: c.dataset.name, role: c.dataset.role, bad: c.classList.contains("bad"), text: c.innerText,
        drawn: [...c.querySelectorAll("canvas")].map((cv) => {
          const d = cv.getContext("2d").getImageData(0, 0, cv.width, cv.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i]) n++;
          return n;
        }),
      })));
      say({ ok: true, summary: await page.textContent("#health-summary"), cards });
    } else if (cmd === "dlq") {
      const want = Number(arg);
      await page.waitForFunction((n) => document.querySelectorAll("#dlq-rows tr").length === n, want, { timeout: 5000 });
      const cells = await page.$$eval("#dlq-rows tr", (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      const ids = await page.$$eval("#dlq-rows tr", (trs) => trs.map((tr) => tr.dataset.id));
      say({ ok: true, cells, ids, count: await page.textContent("#dlq-count") });
    } else if (cmd === "open") {
      await page.evaluate(() => { document.getElementById("dlq-json").textContent = ""; });
      await page.click(`#dlq-rows tr[data-id="${arg}"] td:first-child`);
      await page.waitForFunction(() => /^(\{|Cannot)/.test(document.getElementById("dlq-json").textContent), null, { timeout: 5000 });
      say({ ok: true, json: await page.textContent("#dlq-json") });
    } else if (cmd === "replay") {
      await page.evaluate(() => { document.getElementById("dlq-result").textContent = ""; });
      if (arg === "all") await page.click("#dlq-replay-all");
      else await page.click(`#dlq-rows tr[data-id="${arg}"] button.replay`);
      await page.waitForFunction(() => /^Replay(ed| failed)/.test(document.getElementById("dlq-result").textContent), null, { timeout: 15000 });
      say({ ok: true, result: await page.textContent("#dlq-result"), bad: await page.getAttribute("#dlq-result", "class") });
    } else if (cmd === "appliance") {
      await page.waitForFunction((re) => new RegExp(re).test(document.getElementById("fb-summary").textContent), arg, { timeout: 10000 });
      const cellsOf = (sel) => page.$$eval(sel, (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
      say({
        ok: true,
        nav: await page.isVisible("#nav-appliance"),
        summary: await page.textContent("#fb-summary"),
        release: await page.$$eval("#app-release dd", (dds) => dds.map((d) => d.textContent)),
        steps: await cellsOf("#fb-rows tr"),
        problems: await page.$$eval("#fb-problems li", (lis) => lis.map((l) => l.textContent)),
        functions: await cellsOf("#fn-rows tr"),
        links: await page.$$eval("#fn-rows a", (as) => as.map((a) => a.getAttribute("href"))),
        functionsError: await page.textContent("#fn-error"),
      });
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
