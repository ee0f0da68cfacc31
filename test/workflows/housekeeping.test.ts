import { expect } from 'chai';
import { taskQueue, taskQueues } from '../../temporal.config';
import { stack } from '../support/stack';

describe('housekeeping workflow', () => {
  it('deletes idempotency keys past their day and spent refresh tokens, on the real worker', async () => {
    const { knex, temporal } = stack();
    await knex('idempotency_keys').insert([
      { principal: 'anonymous', key: 'old', method: 'POST', path: '/x', request_hash: 'h', created_at: knex.raw(`now() - interval '25 hours'`) },
      { principal: 'anonymous', key: 'fresh', method: 'POST', path: '/x', request_hash: 'h' },
    ]);
    const user = await knex('users').where({ email: 'admin@demo.test' }).first();
    await knex('refresh_tokens').insert([
      { id: '00000000-0000-4000-8000-00000000000a', user_id: user.id, family_id: '00000000-0000-4000-8000-00000000000f', expires_at: knex.raw(`now() - interval '1 minute'`) },
      { id: '00000000-0000-4000-8000-00000000000b', user_id: user.id, family_id: '00000000-0000-4000-8000-00000000000f', expires_at: knex.raw(`now() + interval '1 day'`) },
    ]);
    const result = await temporal.workflow.execute('housekeepingWorkflow', {
      taskQueue: taskQueue(taskQueues.platform), workflowId: `housekeeping-test-${Date.now()}`, args: [{}],
    });
    expect(result.idempotencyKeysDeleted).to.be.at.least(1);
    expect(result.refreshTokensDeleted).to.be.at.least(1);
    expect(await knex('idempotency_keys').whereIn('key', ['old', 'fresh']).pluck('key')).to.deep.equal(['fresh']);
    expect(await knex('refresh_tokens').whereIn('id', ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b']).pluck('id'))
      .to.deep.equal(['00000000-0000-4000-8000-00000000000b']);
  });
});
