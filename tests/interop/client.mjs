// The client side of carapaced's interop suite: the MCP TypeScript SDK's
// Client and Streamable HTTP transport, through carapaced (GATEWAY, the
// tool's MCP URL) to tests/interop/server.mjs (CONTROL, its side door,
// reached directly). One line per case, "PASS: name" or "FAIL: name:
// why", then "interop: N passed, M failed"; exit status 1 if any failed.
// CASES (names, comma-separated) runs only those.
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema, LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const GATEWAY = process.env.GATEWAY;
const CONTROL = process.env.CONTROL;
const CASE_DEADLINE_MS = 60000;
if (!GATEWAY || !CONTROL) {
	console.error('client.mjs: GATEWAY and CONTROL must be set');
	process.exit(2);
}

// What the policy of run.sh lets through, of what server.mjs offers.
const ALLOWED_TOOLS = ['confirm_action', 'count_slowly', 'create_note',
	'long_job', 'search_docs'];

// Waits for cond() to hold, checking every 10 ms, for at most ms.
async function waitFor(cond, ms, what) {
	const end = Date.now() + ms;
	for (;;) {
		if (await cond())
			return;
		if (Date.now() > end)
			throw new Error(`no ${what} within ${ms} ms`);
		await new Promise((r) => setTimeout(r, 10));
	}
}

async function control(what, args) {
	const res = await fetch(`${CONTROL}/${what}`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json' },
		body: JSON.stringify(args),
	});
	const body = await res.json();
	if (!res.ok)
		throw new Error(`control ${what}: ${res.status} ` +
				JSON.stringify(body));
	return body;
}

// A client of its own for each case; every HTTP exchange its transport
// makes is written down (method, Last-Event-ID, status, media type, and
// for a POST whether it carried a JSON-RPC response).
async function connect({ onLog } = {}) {
	const http = [];
	const logged = async (url, init = {}) => {
		const headers = new Headers(init.headers);
		let body;
		try {
			body = init.body ? JSON.parse(init.body) : undefined;
		} catch {
			body = undefined;
		}
		const entry = {
			method: init.method || 'GET',
			lastEventId: headers.get('last-event-id') ?? undefined,
			isResponse: body !== undefined && !Array.isArray(body) &&
				!('method' in body),
			rpcMethod: body?.method,
		};
		http.push(entry);
		const res = await fetch(url, init);
		entry.status = res.status;
		entry.type = (res.headers.get('content-type') || '')
			.split(';')[0];
		return res;
	};
	const client = new Client(
		{ name: 'carapaced-interop-client', version: '1.0.0' },
		{ capabilities: { elicitation: { form: {} } } });
	if (onLog)
		client.setNotificationHandler(LoggingMessageNotificationSchema,
			(n) => onLog(n.params.data));
	const transport = new StreamableHTTPClientTransport(new URL(GATEWAY), {
		fetch: logged,
		reconnectionOptions: {
			initialReconnectionDelay: 100,
			maxReconnectionDelay: 1000,
			reconnectionDelayGrowFactor: 1.5,
			maxRetries: 5,
		},
	});
	const errors = [];
	await client.connect(transport);
	transport.onerror = (e) => errors.push(e);
	return {
		client, transport, http, errors,
		session: transport.sessionId,
		async close() {
			await transport.terminateSession().catch(() => {});
			await client.close();
		},
	};
}

function textOf(result) {
	return (result.content || []).filter((c) => c.type === 'text')
		.map((c) => c.text).join('');
}

// The JSON-RPC error carapaced sent, out of the SDK's StreamableHTTPError
// ("Streamable HTTP error: Error POSTing to endpoint: <body>").
function refusal(err) {
	const at = err.message.indexOf('{');
	assert.ok(at >= 0, `no JSON body in the error: ${err.message}`);
	return JSON.parse(err.message.slice(at));
}

// A refused tools/call: what the SDK raises, the JSON-RPC error in it
// (code -32000, the rule named), and nothing reached the server.
async function expectRefused(c, name, args, rule) {
	let err;
	try {
		await c.client.callTool({ name, arguments: args });
	} catch (e) {
		err = e;
	}
	assert.ok(err, `tools/call ${name} was not refused`);
	assert.equal(err.code, 403, `status: ${err.message}`);
	const body = refusal(err);
	assert.equal(body.jsonrpc, '2.0');
	assert.equal(typeof body.id, 'number', 'the id is not echoed');
	assert.equal(body.error.code, -32000);
	assert.ok(body.error.message.includes(rule),
		  `"${body.error.message}" does not name ${rule}`);
	return body;
}

const cases = {
	// 1. tools/list shows only what the policy lets the agent call.
	async tools_list_filtered() {
		const c = await connect();
		try {
			const { tools } = await c.client.listTools();
			const names = tools.map((t) => t.name).sort();
			if (names.join() !== ALLOWED_TOOLS.join())
				throw new Error('tools/list through carapaced ' +
					`lists [${names}]; the policy allows ` +
					`[${ALLOWED_TOOLS}]`);
		} finally {
			await c.close();
		}
	},

	// 2. Progress notifications arrive as sent: all, in order, each
	// before the result, and each while the call still runs (the server
	// sends the next only when the client has acknowledged the last).
	async progress_live() {
		const c = await connect();
		const seen = [];
		const acks = [];
		try {
			const result = await c.client.callTool(
				{ name: 'count_slowly', arguments: { n: 5 } },
				undefined,
				{
					onprogress: (p) => {
						seen.push(`progress ${p.progress}/${p.total}`);
						acks.push(control('ack', {
							session: c.session,
							step: p.progress,
						}));
					},
				});
			seen.push('result');
			await Promise.all(acks);
			assert.ok(!result.isError, textOf(result));
			assert.equal(textOf(result), 'counted to 5');
			assert.deepEqual(seen, ['progress 1/5', 'progress 2/5',
				'progress 3/5', 'progress 4/5', 'progress 5/5',
				'result']);
			const call = c.http.find((h) =>
				h.rpcMethod === 'tools/call');
			assert.equal(call.type, 'text/event-stream');
		} finally {
			await c.close();
		}
	},

	// 3. A denied tool (tools_deny, and one not in tools_allow) and a
	// denied argument are refused with a JSON-RPC error naming the rule;
	// the same tool with an allowed argument goes through.
	async denied_tool_and_argument() {
		const c = await connect();
		try {
			await expectRefused(c, 'delete_repo', { repo: 'acme/web' },
				'mcp.tools_deny');
			await expectRefused(c, 'admin_reset', {},
				'is not in mcp.tools_allow');
			await expectRefused(c, 'create_note',
				{ folder: 'private/keys', text: 'x' },
				'mcp.arguments');
			const ok = await c.client.callTool({ name: 'create_note',
				arguments: { folder: 'notes/today', text: 'x' } });
			assert.equal(textOf(ok), 'note created in notes/today');
			const { calls } = await control('seen',
				{ session: c.session });
			assert.deepEqual(calls, [{ name: 'create_note',
				arguments: { folder: 'notes/today', text: 'x' } }],
			'the server saw calls carapaced refused');
		} finally {
			await c.close();
		}
	},

	// 4. The GET stream resumes with Last-Event-ID: the server ends it,
	// sends two messages while it is gone, and the SDK client's
	// reconnection through carapaced gets them replayed, then live ones.
	async get_stream_resumed() {
		const logs = [];
		const c = await connect({ onLog: (d) => logs.push(d) });
		try {
			await waitFor(() => c.http.some((h) => h.method === 'GET' &&
				h.status === 200), 10000, 'GET stream open');
			const a = await control('notify',
				{ session: c.session, data: 'A1' });
			await waitFor(() => logs.includes('A1'), 10000,
				'A1 on the GET stream');
			const drop = await control('drop', {
				session: c.session, then: ['B1', 'B2'],
			});
			await waitFor(() => logs.length >= 3, 10000,
				'B1 and B2 after the reconnection').catch((e) => {
				throw new Error(`${e.message}; requests: ` +
					JSON.stringify(c.http.filter((h) =>
						h.method === 'GET')));
			});
			const resumed = c.http.filter((h) => h.method === 'GET' &&
				h.lastEventId !== undefined);
			assert.equal(resumed.length, 1,
				`GETs: ${JSON.stringify(c.http)}`);
			assert.equal(resumed[0].lastEventId, a.eventId);
			assert.equal(resumed[0].status, 200);
			const seen = await control('seen', { session: c.session });
			assert.deepEqual(seen.gets.map((g) => g.lastEventId),
				[undefined, a.eventId],
				'Last-Event-ID as the server got it');
			assert.deepEqual(seen.replays,
				[{ after: a.eventId, sent: drop.eventIds }]);
			// the resumed stream is the live one now
			await control('notify', { session: c.session, data: 'C1' });
			await waitFor(() => logs.includes('C1'), 10000,
				'C1 on the resumed stream');
			assert.deepEqual(logs, ['A1', 'B1', 'B2', 'C1']);
		} finally {
			await c.close();
		}
	},

	// 4b. A call's own SSE answer, ended by the server after the first
	// progress notification: the SDK client comes back through carapaced
	// with a GET and that stream's Last-Event-ID, and gets the rest.
	async call_stream_resumed() {
		const c = await connect();
		const seen = [];
		try {
			const result = await c.client.callTool(
				{ name: 'long_job', arguments: {} }, undefined, {
					onprogress: (p) =>
						seen.push(`progress ${p.progress}`),
					timeout: 15000,
				}).catch((e) => {
				throw new Error(`${e.message}; seen: ${seen}; ` +
					`requests: ${JSON.stringify(c.http)}`);
			});
			seen.push('result');
			assert.ok(!result.isError, textOf(result));
			assert.equal(textOf(result), 'job done');
			assert.deepEqual(seen,
				['progress 1', 'progress 2', 'result']);
			const resumed = c.http.filter((h) => h.method === 'GET' &&
				h.lastEventId !== undefined);
			assert.equal(resumed.length, 1,
				`GETs: ${JSON.stringify(c.http)}`);
			assert.equal(resumed[0].status, 200);
			assert.ok(!resumed[0].lastEventId.startsWith('_GET_stream'),
				`${resumed[0].lastEventId} is the GET stream's`);
			const { gets } = await control('seen',
				{ session: c.session });
			assert.ok(gets.some((g) =>
				g.lastEventId === resumed[0].lastEventId),
			'the server got no GET with that Last-Event-ID');
		} finally {
			await c.close();
		}
	},

	// 5. The server asks (elicitation/create inside the tools/call's SSE
	// answer); the client's answer is POSTed back through carapaced as
	// a JSON-RPC response, and the tool's result carries it.
	async elicitation_answered() {
		const c = await connect();
		const asked = [];
		const nonce = `n-${process.pid}-${Date.now()}`;
		c.client.setRequestHandler(ElicitRequestSchema, async (req) => {
			asked.push(req.params.message);
			return { action: 'accept',
				 content: { confirm: true, reason: nonce } };
		});
		try {
			const result = await c.client.callTool({
				name: 'confirm_action',
				arguments: { action: 'deploy' },
			});
			assert.ok(!result.isError, `${textOf(result)}; the ` +
				`client's transport: ${c.errors.join('; ')}`);
			assert.deepEqual(asked, ['Confirm deploy?']);
			assert.deepEqual(JSON.parse(textOf(result)), {
				action: 'accept',
				content: { confirm: true, reason: nonce },
			});
			// the 202 may come after the result, which the server
			// sent as soon as it had the answer
			const answers = c.http.filter((h) => h.isResponse);
			assert.equal(answers.length, 1);
			await waitFor(() => answers[0].status !== undefined, 10000,
				'answer to the POST of the response');
			assert.equal(answers[0].status, 202);
			const seen = await control('seen', { session: c.session });
			assert.equal(seen.responses.length, 1);
			assert.deepEqual(seen.responses[0].result.content,
				{ confirm: true, reason: nonce });
		} finally {
			await c.close();
		}
	},
};

function withDeadline(promise, ms) {
	let timer;
	const late = new Promise((_, reject) => {
		timer = setTimeout(() => reject(new Error(
			`case did not finish within ${ms} ms`)), ms);
	});
	return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

const only = process.env.CASES ? process.env.CASES.split(',') : null;
let passed = 0;
let failed = 0;
for (const [name, run] of Object.entries(cases)) {
	if (only && !only.includes(name))
		continue;
	const t0 = Date.now();
	try {
		await withDeadline(run(), CASE_DEADLINE_MS);
		passed++;
		console.log(`PASS: ${name} (${Date.now() - t0} ms)`);
	} catch (err) {
		failed++;
		const why = String(err.message || err).replace(/\s+/g, ' ');
		console.log(`FAIL: ${name}: ${why}`);
	}
}
console.log(`interop: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
