import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { Worker } from '@temporalio/worker';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { projectRoot } from '../../platform/config';
import { bookingWorkflowId } from '../../workflows/booking-messages';
import { stack } from '../support/stack';

/**
 * Recorded histories of finished booking workflows, replayed against the current workflow code:
 * a change that breaks determinism (without `patched`) fails here. Refresh the fixtures with
 * `RECORD_HISTORIES=1 npm test` after an intended, patched change; this file runs last, so the
 * run's bookings have finished by then.
 */
const HISTORIES = path.join(projectRoot, 'test', 'fixtures', 'histories');

describe('workflow replay', function () {
  this.timeout(60_000);

  it('replays recorded booking histories with the current workflow code (determinism)', async function () {
    this.timeout(60_000);
    const { temporal, bundle, knex } = stack();
    if (process.env.RECORD_HISTORIES === '1') {
      // Refresh the fixtures from this run's finished bookings: one per final status.
      fs.mkdirSync(HISTORIES, { recursive: true });
      for (const status of ['completed', 'cancelled', 'failed', 'expired']) {
        const row = await knex('bookings').where({ status }).whereNotNull('workflow_started_at').orderBy('updated_at', 'desc').first('id');
        if (!row) continue;
        const history = await temporal.workflow.getHandle(bookingWorkflowId(row.id)).fetchHistory();
        fs.writeFileSync(path.join(HISTORIES, `booking-${status}.json`), historyToJSON(history));
      }
    }
    const files = fs.readdirSync(HISTORIES).filter((f) => f.endsWith('.json'));
    expect(files.length).to.be.at.least(3);
    const histories = files.map((f) => ({ workflowId: f.replace('.json', ''), history: JSON.parse(fs.readFileSync(path.join(HISTORIES, f), 'utf8')) }));
    const replayed: string[] = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      expect(result.error, `${result.workflowId}: ${result.error?.message}`).to.equal(undefined);
      replayed.push(result.workflowId);
    }
    expect(replayed).to.have.length(files.length);
  });
});
