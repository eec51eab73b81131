// The MCP server of carapaced's interop suite: the MCP TypeScript SDK's
// McpServer behind its Streamable HTTP transport (stateful sessions, an
// event store for resumption), on 127.0.0.1 at a port the kernel picks.
// It prints "port N" on stdout once it listens.
//
//   POST/GET/DELETE /mcp   the MCP endpoint (carapaced's upstream)
//   POST /control/...      the test's own side door, straight from the
//                          client script, never through carapaced: it
//                          acknowledges progress, makes the server send
//                          on its GET stream, drops that stream, and
//                          tells what this server saw (GET requests and
//                          their Last-Event-ID, tools called, events
//                          replayed, clients' JSON-RPC responses).
//
// Tools: search_docs, count_slowly (a progress notification per step; the
// next one only once the client has acknowledged the last, through the
// side door), long_job (ends its call's SSE answer after a first progress
// notification, as a server that wants its client to poll does, and
// finishes while the client is away), confirm_action (asks the client
// through elicitation/create on the call's SSE stream), create_note,
// delete_repo, admin_reset.
import http from 'node:http';
import { randomUUID, webcrypto } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

const ACK_DEADLINE_MS = 15000;

// The SDK's server transport names its streams with the global
// crypto.randomUUID(), which Node 18 (Debian 12's nodejs) does not give
// without --experimental-global-webcrypto.
if (globalThis.crypto === undefined)
	globalThis.crypto = webcrypto;

// One event store per session: events numbered in the order stored, each
// id "<stream>#<n>"; what a replay sent is written down for the test.
class TestEventStore {
	constructor(session) {
		this.session = session;
		this.events = []; // { id, streamId, message }
	}

	async storeEvent(streamId, message) {
		const id = `${streamId}#${this.events.length + 1}`;
		this.events.push({ id, streamId, message });
		return id;
	}

	async getStreamIdForEventId(eventId) {
		return this.events.find((e) => e.id === eventId)?.streamId;
	}

	async replayEventsAfter(lastEventId, { send }) {
		const at = this.events.findIndex((e) => e.id === lastEventId);
		if (at < 0)
			throw new Error(`unknown event id ${lastEventId}`);
		const streamId = this.events[at].streamId;
		const sent = [];
		for (const e of this.events.slice(at + 1)) {
			// not another stream's, nor a priming event ({})
			if (e.streamId !== streamId ||
			    Object.keys(e.message).length === 0)
				continue;
			await send(e.id, e.message);
			sent.push(e.id);
		}
		this.session.replays.push({ after: lastEventId, sent });
		return streamId;
	}

	lastId(streamId) {
		const mine = this.events.filter((e) => e.streamId === streamId);
		return mine.length ? mine[mine.length - 1].id : undefined;
	}
}

const sessions = new Map(); // session id -> session

function newSession() {
	const s = {
		id: undefined,
		gets: [], // { lastEventId } of each GET, as it arrived here
		calls: [], // { name, arguments } of each tools/call that ran
		replays: [], // { after, sent } of each replay
		responses: [], // JSON-RPC responses the client POSTed
		acks: new Map(), // progress step -> resolve, or true once acked
		gate: null, // a resumed GET waits for it (see /control/drop)
	};
	s.store = new TestEventStore(s);
	s.transport = new StreamableHTTPServerTransport({
		sessionIdGenerator: () => randomUUID(),
		eventStore: s.store,
		onsessioninitialized: (id) => {
			s.id = id;
			sessions.set(id, s);
		},
	});
	s.transport.onclose = () => {
		if (s.id)
			sessions.delete(s.id);
	};
	s.mcp = makeServer(s);
	return s;
}

function waitAck(s, step) {
	if (s.acks.get(step) === true)
		return Promise.resolve(true);
	return new Promise((resolve) => {
		const timer = setTimeout(() => resolve(false), ACK_DEADLINE_MS);
		s.acks.set(step, () => {
			clearTimeout(timer);
			resolve(true);
		});
	});
}

function text(t, isError = false) {
	return { content: [{ type: 'text', text: t }], isError };
}

function makeServer(s) {
	const mcp = new McpServer(
		{ name: 'carapaced-interop-server', version: '1.0.0' },
		{ capabilities: { logging: {} } });
	const noted = (name, args) => s.calls.push({ name, arguments: args });

	mcp.registerTool('search_docs', {
		description: 'Search the documentation',
		inputSchema: { query: z.string() },
	}, async ({ query }) => {
		noted('search_docs', { query });
		return text(`results for ${query}`);
	});

	mcp.registerTool('count_slowly', {
		description: 'Counts to n, one progress notification a step',
		inputSchema: { n: z.number().int().min(1).max(50) },
	}, async ({ n }, extra) => {
		noted('count_slowly', { n });
		const token = extra._meta?.progressToken;
		if (token === undefined)
			return text('no progressToken in the request', true);
		for (let i = 1; i <= n; i++) {
			await extra.sendNotification({
				method: 'notifications/progress',
				params: { progressToken: token, progress: i, total: n,
					  message: `step ${i}` },
			});
			// The next step only once the client has seen this one:
			// a gateway that held notifications back until the end
			// never lets the call finish.
			if (!await waitAck(s, i))
				return text(`progress ${i} not acknowledged by the ` +
					    `client within ${ACK_DEADLINE_MS} ms`,
					    true);
		}
		return text(`counted to ${n}`);
	});

	mcp.registerTool('long_job', {
		description: 'Ends its SSE answer early, then finishes',
		inputSchema: {},
	}, async (_args, extra) => {
		noted('long_job', {});
		const token = extra._meta?.progressToken;
		// given only to a resumable request (an event store, and
		// protocol 2025-11-25 or later): the client is to come back
		// with a GET and Last-Event-ID for the rest
		if (extra.closeSSEStream === undefined || token === undefined)
			return text('no closeSSEStream or progressToken', true);
		const progress = (i) => extra.sendNotification({
			method: 'notifications/progress',
			params: { progressToken: token, progress: i, total: 2 },
		});
		await progress(1);
		extra.closeSSEStream();
		await progress(2);
		return text('job done');
	});

	mcp.registerTool('confirm_action', {
		description: 'Asks the user to confirm, then answers',
		inputSchema: { action: z.string() },
	}, async ({ action }, extra) => {
		noted('confirm_action', { action });
		const answer = await mcp.server.elicitInput({
			message: `Confirm ${action}?`,
			requestedSchema: {
				type: 'object',
				properties: {
					confirm: { type: 'boolean' },
					reason: { type: 'string' },
				},
				required: ['confirm'],
			},
		}, { relatedRequestId: extra.requestId,
		     timeout: ACK_DEADLINE_MS });
		return text(JSON.stringify(answer));
	});

	mcp.registerTool('create_note', {
		description: 'Creates a note in a folder',
		inputSchema: { folder: z.string(), text: z.string() },
	}, async (args) => {
		noted('create_note', args);
		return text(`note created in ${args.folder}`);
	});

	mcp.registerTool('delete_repo', {
		description: 'Deletes a repository',
		inputSchema: { repo: z.string() },
	}, async (args) => {
		noted('delete_repo', args);
		return text(`deleted ${args.repo}`);
	});

	mcp.registerTool('admin_reset', {
		description: 'Resets everything',
		inputSchema: {},
	}, async () => {
		noted('admin_reset', {});
		return text('reset');
	});
	return mcp;
}

function readBody(req) {
	return new Promise((resolve, reject) => {
		const parts = [];
		req.on('data', (c) => parts.push(c));
		req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
		req.on('error', reject);
	});
}

function json(res, status, value) {
	const body = JSON.stringify(value);
	res.writeHead(status, { 'Content-Type': 'application/json' });
	res.end(body);
}

async function handleMcp(req, res) {
	const sid = req.headers['mcp-session-id'];
	let parsed;
	if (req.method === 'POST') {
		const raw = await readBody(req);
		try {
			parsed = JSON.parse(raw);
		} catch {
			return json(res, 400, { error: 'body is not JSON' });
		}
	}
	let s = sid === undefined ? undefined : sessions.get(sid);
	if (s === undefined) {
		const isInit = parsed && !Array.isArray(parsed) &&
			parsed.method === 'initialize';
		if (sid !== undefined || !isInit)
			return json(res, sid ? 404 : 400,
				    { error: 'no such session' });
		s = newSession();
		await s.mcp.connect(s.transport);
	}
	if (req.method === 'GET') {
		const lastEventId = req.headers['last-event-id'];
		s.gets.push({ lastEventId });
		if (lastEventId !== undefined && s.gate)
			await s.gate;
	}
	if (parsed !== undefined) {
		for (const m of [].concat(parsed))
			if (m && !('method' in m) && ('result' in m || 'error' in m))
				s.responses.push(m);
	}
	await s.transport.handleRequest(req, res, parsed);
}

// The side door. Each call names its session; answers are JSON.
async function handleControl(req, res, what) {
	const args = JSON.parse((await readBody(req)) || '{}');
	const s = sessions.get(args.session);
	if (s === undefined)
		return json(res, 404, { error: `no session ${args.session}` });
	switch (what) {
	case 'ack': {
		const waiter = s.acks.get(args.step);
		s.acks.set(args.step, true);
		if (typeof waiter === 'function')
			waiter();
		return json(res, 200, {});
	}
	case 'notify': // a log message on the GET stream (no request)
		await s.mcp.server.sendLoggingMessage(
			{ level: 'info', data: args.data });
		return json(res, 200,
			    { eventId: s.store.lastId('_GET_stream') });
	case 'drop': { // end the GET stream, then send what it misses
		let open;
		s.gate = new Promise((resolve) => { open = resolve; });
		s.transport.closeStandaloneSSEStream();
		const ids = [];
		for (const data of args.then) {
			await s.mcp.server.sendLoggingMessage(
				{ level: 'info', data });
			ids.push(s.store.lastId('_GET_stream'));
		}
		s.gate = null;
		open();
		return json(res, 200, { eventIds: ids });
	}
	case 'seen':
		return json(res, 200, {
			gets: s.gets, calls: s.calls, replays: s.replays,
			responses: s.responses,
		});
	default:
		return json(res, 404, { error: `no control ${what}` });
	}
}

const server = http.createServer((req, res) => {
	const url = new URL(req.url, 'http://127.0.0.1');
	let work;
	if (url.pathname === '/mcp')
		work = handleMcp(req, res);
	else if (req.method === 'POST' && url.pathname.startsWith('/control/'))
		work = handleControl(req, res, url.pathname.slice(9));
	else
		work = Promise.resolve(json(res, 404, { error: 'not found' }));
	work.catch((err) => {
		console.error(`server: ${req.method} ${req.url}: ${err.stack}`);
		if (!res.headersSent)
			json(res, 500, { error: String(err) });
		else
			res.destroy();
	});
});

server.listen(0, '127.0.0.1', () => {
	console.log(`port ${server.address().port}`);
});
for (const sig of ['SIGTERM', 'SIGINT'])
	process.on(sig, () => process.exit(0));
