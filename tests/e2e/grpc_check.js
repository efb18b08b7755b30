// tests/e2e/grpc_check.js: a real gRPC client (@grpc/grpc-js with @grpc/proto-loader, loading
// server/proto/ext_authz.proto) for tests/e2e/server_grpc.sh and bench/grpc_bench.sh.
//
//   node grpc_check.js check ADDR REQUESTS.json [--v2] [--ca CA.pem [--cert C.pem --key C.key]]
//       sends each CheckRequest of the JSON array (in order, on one channel) and prints one JSON
//       line per call: {"code", "details", "response"} (code: the gRPC status; response: the
//       CheckResponse, oneof set as "http_response")
//   node grpc_check.js input ADDR DECISION_INPUT.json...
//       the same for decision inputs (as /v1/decide takes them), each turned into the
//       CheckRequest Envoy would send for it (see toCheck)
//   node grpc_check.js encode REQUEST.json OUT.bin
//       writes one CheckRequest as a gRPC message (5-byte prefix + protobuf), for h2load and nghttp
'use strict';
const path = require('path');
const fs = require('fs');
const root = path.resolve(__dirname, '../..');
const npm = path.join(root, 'tests/npm/node_modules');
const grpc = require(path.join(npm, '@grpc/grpc-js'));
const loader = require(path.join(npm, '@grpc/proto-loader'));

const protoDir = path.join(root, 'server/proto');
const def = loader.loadSync(['ext_authz.proto', 'ext_authz_v2.proto'], {
	includeDirs: [protoDir], keepCase: true, longs: String, enums: String, defaults: false,
	oneofs: true,
});
const pkg = grpc.loadPackageDefinition(def);

// A decision input as Envoy would describe the request: the caller's principal as the peer's
// (attributes.source.principal), its IP as the source address, the destination through
// context_extensions (so the request's own Host header stays the client's), method, path,
// headers (with :authority and Host as Envoy sends them).
function toCheck(input) {
	const src = input.source || {}, dst = input.destination || {}, req = input.request || {};
	const dest = dst.service + (dst.namespace ? '.' + dst.namespace : '') + (dst.port ? ':' + dst.port : '');
	const headers = Object.assign({}, req.headers || {});
	const host = headers.host || dest;
	delete headers.host;
	headers[':authority'] = host;
	headers[':method'] = req.method;
	headers[':path'] = req.path;
	const source = {};
	if (src.principal) source.principal = src.principal;
	if (src.ip) source.address = { socket_address: { address: src.ip, port_value: 40000 } };
	return {
		attributes: {
			source,
			request: { http: { method: req.method, path: req.path, host, headers } },
			context_extensions: { destination: dest },
		},
	};
}

function client(addr, opts) {
	const Svc = opts.v2 ? pkg.envoy.service.auth.v2.Authorization : pkg.envoy.service.auth.v3.Authorization;
	let creds = grpc.credentials.createInsecure();
	if (opts.ca)
		creds = grpc.credentials.createSsl(fs.readFileSync(opts.ca),
			opts.key ? fs.readFileSync(opts.key) : null, opts.cert ? fs.readFileSync(opts.cert) : null);
	return new Svc(addr, creds, { 'grpc.ssl_target_name_override': 'localhost' });
}

function call(c, req) {
	return new Promise((resolve) => {
		c.Check(req, { deadline: Date.now() + 10000 }, (err, resp) => {
			resolve(err ? { code: err.code, details: err.details } : { code: 0, response: resp });
		});
	});
}

async function main() {
	const [cmd, a1, ...rest] = process.argv.slice(2);
	if (cmd === 'encode') {
		const T = def['envoy.service.auth.v3.CheckRequest'];
		const protobuf = require(path.join(npm, 'protobufjs'));
		const r = new protobuf.Root();
		r.resolvePath = (o, t) => path.join(protoDir, t);
		r.loadSync('ext_authz.proto', { keepCase: true });
		const M = r.lookupType('envoy.service.auth.v3.CheckRequest');
		const body = M.encode(M.fromObject(JSON.parse(fs.readFileSync(a1, 'utf8')))).finish();
		const out = Buffer.alloc(5 + body.length);
		out.writeUInt32BE(body.length, 1);
		Buffer.from(body).copy(out, 5);
		fs.writeFileSync(rest[0], out);
		void T;
		return;
	}
	const opts = {};
	const files = [];
	for (let i = 0; i < rest.length; i++) {
		if (rest[i] === '--v2') opts.v2 = true;
		else if (rest[i].startsWith('--')) opts[rest[i].slice(2)] = rest[++i];
		else files.push(rest[i]);
	}
	let reqs;
	if (cmd === 'check') reqs = JSON.parse(fs.readFileSync(files[0], 'utf8'));
	else reqs = files.map((f) => toCheck(JSON.parse(fs.readFileSync(f, 'utf8'))));
	const c = client(a1, opts);
	for (const r of reqs) console.log(JSON.stringify(await call(c, r)));
	c.close();
}
main().catch((e) => { console.error(e); process.exit(2); });
