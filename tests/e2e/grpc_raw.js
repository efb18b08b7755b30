// tests/e2e/grpc_raw.js: hostile HTTP/2 clients (Node's http2 module: frames a gRPC library
// would never send) for tests/e2e/server_grpc.sh. Runs every scenario against ADDR and prints
// one JSON line each: {"name", "status" (HTTP), "grpc_status", "grpc_message", "rst" (the
// RST_STREAM code, if the stream was reset), "ms"}.
//   node grpc_raw.js HOST PORT MAX_BODY
// and, with raw frames on a socket (a client that ignores the server's SETTINGS):
//   node grpc_raw.js raw HOST PORT STREAMS WAIT_MS
// sends the preface and STREAMS request HEADERS at once (none ends its stream), then reads
// for WAIT_MS or until the server closes: {"refused" (RST_STREAM REFUSED_STREAM), "reset"
// (other RST_STREAM), "headers" (HEADERS frames), "goaway" (their error codes), "closed"}.
'use strict';
const http2 = require('http2');
const net = require('net');
const [host, port, maxBody] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const V3 = '/envoy.service.auth.v3.Authorization/Check';

// protobuf by hand: a length-delimited field (wire type 2)
function varint(n) {
	const out = [];
	while (n > 127) { out.push((n & 127) | 128); n >>>= 7; }
	out.push(n);
	return Buffer.from(out);
}
function field(num, bytes) {
	const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes);
	return Buffer.concat([varint((num << 3) | 2), varint(b.length), b]);
}
// CheckRequest{attributes{request{http{method, path, host}}}}
function check(method, path, hostv) {
	const http = Buffer.concat([field(2, method), field(4, path), field(5, hostv)]);
	return field(1, field(4, field(2, http)));
}
function frame(msg, flags = 0, len = msg.length) {
	const p = Buffer.alloc(5);
	p[0] = flags;
	p.writeUInt32BE(len >>> 0, 1);
	return Buffer.concat([p, msg]);
}

function session() {
	return http2.connect(`http://${host}:${port}`);
}

// One call: headers (defaults: a gRPC POST to Check), then body chunks; end: send END_STREAM.
function call(s, name, { headers = {}, body = [], end = true } = {}) {
	return new Promise((resolve) => {
		const t0 = Date.now();
		const r = { name };
		const req = s.request(Object.assign({ ':method': 'POST', ':path': V3,
			'content-type': 'application/grpc', te: 'trailers' }, headers), { endStream: false });
		const grpcHeaders = (h) => {
			if (h['grpc-status'] !== undefined) r.grpc_status = Number(h['grpc-status']);
			if (h['grpc-message'] !== undefined) r.grpc_message = decodeURIComponent(h['grpc-message']);
		};
		req.on('response', (h) => { r.status = h[':status']; grpcHeaders(h); });
		req.on('trailers', grpcHeaders);
		req.on('data', () => {});
		req.on('error', () => {});
		req.on('close', () => {
			if (req.rstCode) r.rst = req.rstCode;
			r.ms = Date.now() - t0;
			resolve(r);
		});
		for (const b of body) req.write(b);
		if (end) req.end();
	});
}

async function main() {
	const ok = check('GET', '/api/catalog/products', 'products.catalog:8080');
	const s = session();
	const out = [];
	out.push(await call(s, 'good', { body: [frame(ok)] }));
	out.push(await call(s, 'malformed', { body: [frame(Buffer.from([0x0a, 0xff, 0xff, 0xff]))] }));
	out.push(await call(s, 'content-type', { headers: { 'content-type': 'text/plain' }, body: [frame(ok)] }));
	out.push(await call(s, 'compressed', { headers: { 'grpc-encoding': 'gzip' }, body: [frame(ok, 1)] }));
	out.push(await call(s, 'oversized', { body: [frame(Buffer.alloc(maxBody + 10, 0x41))] }));
	out.push(await call(s, 'oversized-prefix', { body: [frame(Buffer.alloc(10), 0, 0x7fffffff)], end: false }));
	out.push(await call(s, 'unknown-method', { headers: { ':path': '/x.Y/Z' }, body: [frame(ok)] }));
	out.push(await call(s, 'get', { headers: { ':method': 'GET' } }));
	out.push(await call(s, 'truncated', { body: [frame(ok.subarray(0, 5), 0, ok.length)] }));
	out.push(await call(s, 'two-messages', { body: [frame(ok), frame(ok)] }));
	out.push(await call(s, 'no-message', { body: [] }));
	out.push(await call(s, 'nul-in-path', { body: [frame(check('GET', '/public\0/admin', 'products.catalog'))] }));
	out.push(await call(s, 'not-utf8', { body: [frame(check('GET', Buffer.from([0x2f, 0xff, 0xfe]), 'products.catalog'))] }));
	out.push(await call(s, 'no-destination', { body: [frame(field(1, field(4, field(2, Buffer.concat([field(2, 'GET'), field(4, '/')])))))] }));
	out.push(await call(s, 'split-chunks', { body: [frame(ok).subarray(0, 3), frame(ok).subarray(3)] }));
	// a client that never ends its request
	const never = call(s, 'never-ends', { body: [frame(ok)], end: false });
	out.push(await never);
	// the connection is still good after all that; then the client says GOAWAY
	out.push(await call(s, 'after', { body: [frame(ok)] }));
	await new Promise((resolve) => { s.goaway(0); s.close(resolve); });
	out.push({ name: 'goaway', closed: true });
	for (const r of out) console.log(JSON.stringify(r));
}
// HPACK: every field a literal without indexing, new name, no Huffman (RFC 7541, 6.2.2)
function hpack(fields) {
	return Buffer.concat(fields.map(([n, v]) =>
		Buffer.concat([Buffer.from([0]), varint(n.length), Buffer.from(n), varint(v.length), Buffer.from(v)])));
}
function h2frame(type, flags, id, payload) {
	const h = Buffer.alloc(9);
	h.writeUIntBE(payload.length, 0, 3);
	h[3] = type;
	h[4] = flags;
	h.writeUInt32BE(id, 5);
	return Buffer.concat([h, payload]);
}

function raw(h, p, streams, waitMs) {
	const sock = net.connect(Number(p), h);
	const r = { refused: 0, reset: 0, headers: 0, goaway: [], closed: false };
	const block = hpack([[':method', 'POST'], [':scheme', 'http'], [':path', V3],
		[':authority', 'meshpol'], ['content-type', 'application/grpc'], ['te', 'trailers']]);
	const parts = [Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), h2frame(4, 0, 0, Buffer.alloc(0))];
	for (let i = 0; i < streams; i++) parts.push(h2frame(1, 4, 2 * i + 1, block)); // END_HEADERS
	let buf = Buffer.alloc(0);
	sock.on('connect', () => sock.write(Buffer.concat(parts)));
	sock.on('data', (d) => {
		buf = Buffer.concat([buf, d]);
		while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
			const len = buf.readUIntBE(0, 3), type = buf[3], flags = buf[4], payload = buf.subarray(9, 9 + len);
			if (type === 3) payload.readUInt32BE(0) === 7 ? r.refused++ : r.reset++;
			if (type === 1) r.headers++;
			if (type === 7) r.goaway.push(payload.readUInt32BE(4));
			if (type === 4 && !(flags & 1)) sock.write(h2frame(4, 1, 0, Buffer.alloc(0))); // ACK
			buf = buf.subarray(9 + len);
		}
	});
	sock.on('error', () => {});
	const done = () => { console.log(JSON.stringify(r)); sock.destroy(); process.exit(0); };
	sock.on('close', () => { r.closed = true; done(); });
	setTimeout(done, waitMs);
}

if (process.argv[2] === 'raw') raw(process.argv[3], process.argv[4], Number(process.argv[5]), Number(process.argv[6]));
else main().catch((e) => { console.error(e); process.exit(2); });
