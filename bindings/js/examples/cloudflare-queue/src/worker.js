// A stream pipeline on Cloudflare Workers: the producer sends numbered orders to a
// Queue; the consumer processes each batch, emits its results to the sink, makes the
// batch's last offset durable in the PipelineState Durable Object, and only then acks
// the batch's messages. A crash anywhere before the checkpoint repeats the batch; after
// it, nothing is repeated: duplicates at most from the batch in flight, never loss.
//
// Offsets are the stream's order. A message at or below the durable offset is already
// covered (a redelivery): acked without processing. One beyond a gap waits (retry) for
// the messages before it.

import { AsyncCheckpointManager, VersionConflict } from 'pipeline-checkpoint';

export { PipelineState } from './pipeline-state.js';

const STREAM = 'orders';

/** The checkpoint store as the manager sees it: the Durable Object, over RPC. */
function checkpointStore(state) {
  return {
    getVersioned: (key) => state.getVersioned(key),
    async putVersioned(key, value, expected) {
      const answer = await state.putVersioned(key, value, expected);
      if (answer.conflict !== undefined) throw new VersionConflict(answer.conflict);
      return answer.version;
    },
  };
}

/** What processing an order produces. */
const processOrder = (order) => `order ${order.offset}: ${order.item} x${order.quantity}`;

async function consume(batch, env) {
  const state = env.PIPELINE.get(env.PIPELINE.idFromName(STREAM));
  const byId = new Map(batch.messages.map((message) => [message.id, message]));
  const consumer = { ack: (ids) => { for (const id of ids) byId.get(id).ack(); } };
  // A manager per batch: closing it hands its component instance to the next batch's.
  const manager = new AsyncCheckpointManager(checkpointStore(state), consumer, { key: `${STREAM}/checkpoint.json` });
  try {
    await checkpointBatch(batch, state, manager);
  } finally {
    manager.close();
  }
}

/** Processes the run of orders after the durable offset, then checkpoints and acks it. */
async function checkpointBatch(batch, state, manager) {
  const durable = await manager.getCheckpoint();
  let next = durable + 1n;
  const run = [];
  for (const message of [...batch.messages].sort((a, b) => a.body.offset - b.body.offset)) {
    const offset = BigInt(message.body.offset);
    if (offset <= durable) message.ack(); // a redelivery, covered by the durable checkpoint
    else if (offset === next) {
      run.push(message);
      next += 1n;
    } else message.retry(); // a gap: wait for the messages before it
  }
  if (run.length === 0) return;
  await state.emit(run.map((message) => ({ offset: message.body.offset, result: processOrder(message.body) })));
  // Resolves true once the offset is durable and the run acked; false (nothing acked)
  // if the write failed, and then the whole batch is retried.
  if (!(await manager.writeCheckpoint(run.map((message) => message.id), next - 1n))) {
    throw manager.lastWriteError;
  }
}

export default {
  async queue(batch, env) {
    await consume(batch, env);
  },

  /** POST /produce {from, to} sends orders from..to; GET /checkpoint and /output read
   * the durable state. */
  async fetch(request, env) {
    const { pathname } = new URL(request.url);
    const state = env.PIPELINE.get(env.PIPELINE.idFromName(STREAM));
    if (request.method === 'POST' && pathname === '/produce') {
      const { from, to } = await request.json();
      for (let start = from; start <= to; start += 100) {
        const orders = [];
        for (let offset = start; offset <= Math.min(to, start + 99); offset += 1) {
          orders.push({ body: { offset, item: `sku-${offset % 17}`, quantity: 1 + (offset % 5) } });
        }
        await env.ORDERS.sendBatch(orders);
      }
      return new Response(null, { status: 204 });
    }
    if (pathname === '/checkpoint') {
      const manager = new AsyncCheckpointManager(checkpointStore(state), { ack() {} }, { key: `${STREAM}/checkpoint.json` });
      try {
        return Response.json({ offset: Number(await manager.getCheckpoint()) });
      } finally {
        manager.close();
      }
    }
    if (pathname === '/output') return Response.json(await state.output());
    return new Response('not found', { status: 404 });
  },
};
