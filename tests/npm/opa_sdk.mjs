// tests/npm/opa_sdk.mjs: OPA's own JavaScript SDK (@open-policy-agent/opa, pinned in
// package.json) against a running `meshpol serve`: its documented calls (evaluate,
// evaluateDefault, evaluateBatch with fallback, health, the low-level executePolicyWithInput with
// provenance, metrics and explain) and its error paths (a bad input, an undefined document, a
// server down). Run by tests/e2e/server_opa.sh:
//   node tests/npm/opa_sdk.mjs BASE_URL DOWN_URL
// BASE_URL serves examples/acme with policies/; DOWN_URL is a port nothing listens on. Prints one
// "ok - NAME" or "not ok - NAME" line per check (tests/run.sh counts them).
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { OPAClient } from "@open-policy-agent/opa";
import { OpaApiClient } from "@open-policy-agent/opa/sdk/index.js";
import { HTTPClient } from "@open-policy-agent/opa/lib/http.js";

const [base, down] = process.argv.slice(2);
const example = (name) => JSON.parse(readFileSync(`examples/requests/${name}.json`, "utf8"));
const allowInput = example("allow-checkout-charge");
const denyInput = example("deny-sandbox-payments");
// The same request as allowInput, as OPA-Envoy hands Envoy's CheckRequest to Rego.
const envoyInput = {
  attributes: {
    source: { principal: "spiffe://acme.io/ns/shop/sa/checkout" },
    request: {
      http: {
        method: "POST", path: "/v1/charge", host: "payments.billing:8080",
        headers: { ":authority": "payments.billing:8080", ":method": "POST", ":path": "/v1/charge",
                   "content-type": "application/json" },
      },
    },
  },
  parsed_path: ["v1", "charge"], parsed_query: {},
};
let failed = 0;

function report(name, pass, detail) {
  console.log(`${pass ? "ok" : "not ok"} - sdk: ${name}`);
  if (!pass) {
    failed++;
    console.log(`# ${String(detail).replace(/\n/g, "\n# ")}`);
  }
}

// One check: fn's value must satisfy want.
async function check(name, fn, want) {
  try {
    const v = await fn();
    report(name, want(v), `got ${JSON.stringify(v)}`);
  } catch (e) {
    report(name, false, `threw ${e?.name}: ${e?.message ?? e}`);
  }
}

// One check that fn throws an error satisfying want.
async function throws(name, fn, want) {
  try {
    const v = await fn();
    report(name, false, `no error; got ${JSON.stringify(v)}`);
  } catch (e) {
    report(name, want(e), `threw ${e?.name}: ${e?.message ?? e} ${JSON.stringify(e?.data$ ?? "")}`);
  }
}

const opa = new OPAClient(base);

await check("health() on a serving server", () => opa.opa.health(), (r) => r?.httpMeta?.response?.status === 200);
await check("evaluate(meshpol/allow, input): an allowed request is true",
  () => opa.evaluate("meshpol/allow", allowInput), (v) => v === true);
await check("evaluate(meshpol/allow, input): a forbidden request is false",
  () => opa.evaluate("meshpol/allow", denyInput), (v) => v === false);
await check("evaluate(meshpol/decision, input): the decision object with its reasons",
  () => opa.evaluate("meshpol/decision", denyInput),
  (v) => v.allow === false && v.effect === "forbidden" && v.reasons[0].rule === "no-sandbox-to-card-data" &&
    v.decision_id.length === 36);
await check("evaluate(meshpol/reasons/0/rule, input): a path into the tree",
  () => opa.evaluate("meshpol/reasons/0/rule", denyInput), (v) => v === "no-sandbox-to-card-data");
await check("evaluate with fromResult: the decision turned into a boolean",
  () => opa.evaluate("meshpol/decision", allowInput, { fromResult: (r) => r?.allow === true }), (v) => v === true);
await check("evaluate(meshpol/allow, OPA-Envoy's input): decided as Envoy's request",
  () => opa.evaluate("meshpol/allow", envoyInput), (v) => v === true);
await check("evaluate(envoy/authz/allow, input): an undefined document is undefined, not false",
  () => opa.evaluate("envoy/authz/allow", allowInput), (v) => v === undefined);
await check("evaluateDefault(input): POST / decides meshpol/allow",
  () => opa.evaluateDefault(allowInput), (v) => v === true);
// The SDK throws on any falsy default result (its `if (!resp.result)`): a denial reads as an error.
await throws("evaluateDefault(input) of a denial: the SDK throws (fails closed)",
  () => opa.evaluateDefault(denyInput), (e) => String(e) === "no result in API response");
await check("evaluateBatch with fallback: /v1/batch is 404, each input is evaluated",
  () => opa.evaluateBatch("meshpol/allow", { alice: allowInput, bob: denyInput }, { fallback: true }),
  (v) => v.alice === true && v.bob === false);

// The error paths: OPA's {"code", "message"}, which the SDK reads into a ClientError.
await throws("evaluate with a bad input: ClientError invalid_parameter naming the field",
  () => opa.evaluate("meshpol/allow", { destination: { namespace: "billing" } }),
  (e) => e.name === "ClientError" && e.code === "invalid_parameter" &&
    e.message === "input.destination.service: missing");
await throws("evaluate with OPA-Envoy's input missing the method: ClientError naming it",
  () => opa.evaluate("meshpol/allow", { attributes: { request: { http: { path: "/", host: "payments.billing" } } } }),
  (e) => e.name === "ClientError" && e.message === "input.attributes.request.http.method: missing");
await throws("evaluate(meshpol/allow) without an input: ClientError, not a guess",
  () => opa.evaluate("meshpol/allow"),
  (e) => e.name === "ClientError" && e.code === "invalid_parameter" && e.message.startsWith("input: missing"));
await throws("evaluateDefault with a bad input: ClientError",
  () => opa.evaluateDefault({ destination: { service: "payments", port: "8080" } }),
  (e) => e.name === "ClientError" && e.code === "invalid_parameter" && e.message.startsWith("input.destination.port"));
const gone = new OPAClient(down);
await throws("evaluate against a server that is down: ConnectionError",
  () => gone.evaluate("meshpol/allow", allowInput), (e) => e.name === "ConnectionError");
await throws("health() against a server that is down: ConnectionError",
  () => gone.opa.health(), (e) => e.name === "ConnectionError");

// The low-level client: the reply's provenance, metrics and explanation parse as the SDK's own
// schemas say.
const api = new OpaApiClient({ serverURL: base });
await check("executePolicyWithInput with provenance, metrics and explain=full",
  () => api.executePolicyWithInput({ path: "meshpol/allow", requestBody: { input: denyInput },
                                     provenance: true, metrics: true, explain: "full" }),
  (r) => {
    const s = r.successfulPolicyResponse;
    return s.result === false && s.decisionId.length === 36 &&
      s.provenance.version.length > 0 && s.provenance.bundles["acme-reference"].revision === "2026.11.25-1" &&
      typeof s.metrics.timer_server_handler_ns === "number";
  });
// A gzip body, as a client that compresses its requests sends it (the SDK only sets the header).
const zipping = new HTTPClient();
zipping.addHook("beforeRequest", async (req) => {
  if (req.method !== "POST") return req;
  const body = gzipSync(Buffer.from(await req.text()));
  return new Request(req, { body, duplex: "half" });
});
const gz = new OpaApiClient({ serverURL: base, httpClient: zipping });
await check("executePolicyWithInput with Content-Encoding: gzip",
  () => gz.executePolicyWithInput({ path: "meshpol/allow", contentEncoding: "gzip",
                                    requestBody: { input: allowInput } }),
  (r) => r.successfulPolicyResponse.result === true);

process.exit(failed ? 1 : 0);
