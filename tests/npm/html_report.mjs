// html_report.mjs PAGE.html SHOT.png: opens an html audit report (meshpol audit --format html)
// in Debian's headless Chromium through the DevTools protocol (playwright-core) and prints one
// JSON object: what the page did (console messages, page errors, requests it tried), what it
// shows (the picture's <svg>, its size, the colours of its edges, the sections) and a
// screenshot of the picture alone in SHOT.png. tests/e2e/html.sh judges the result.
import { chromium } from "playwright-core";
import { pathToFileURL } from "node:url";

const [page_path, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const out = { console: [], errors: [], requests: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.on("console", (m) => out.console.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => out.errors.push(String(e)));
  const url = pathToFileURL(page_path).href;
  // anything but the page itself is a fetch the report must not make
  page.on("request", (r) => r.url() !== url && out.requests.push(r.url()));
  await page.goto(url, { waitUntil: "load" });
  out.title = await page.title();
  out.sections = await page.$$eval("section[id]", (s) => s.map((e) => e.id));
  const svg = await page.$("#mesh-picture svg");
  out.svg = !!svg;
  if (svg) {
    const box = await svg.boundingBox();
    out.svg_box = box && { width: Math.round(box.width), height: Math.round(box.height) };
    out.edge_colours = await page.$$eval("#mesh-picture svg g.edge path", (p) =>
      [...new Set(p.map((e) => e.getAttribute("stroke")))].sort(),
    );
    out.nodes = await page.$$eval("#mesh-picture svg g.node", (n) => n.length);
    await svg.screenshot({ path: shot });
  }
  out.badges = await page.$$eval(".badge", (b) => b.map((e) => e.textContent));
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
