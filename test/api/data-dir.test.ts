import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { expect } from 'chai';
import { makeTraversableForPostgres, startEmbeddedPostgres } from '../../platform/dev-services';

describe('SPIRIT_DATA_DIR the embedded PostgreSQL user cannot enter', function () {
  this.timeout(120_000);

  it('as root, a 0700 temporary data folder is made traversable and PostgreSQL starts in it', async function () {
    if (os.userInfo().uid !== 0) this.skip(); // PostgreSQL runs as another user only when we are root
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'spirit-datadir-'));
    expect(fs.statSync(dataDir).mode & 0o777).to.equal(0o700);
    const server = await startEmbeddedPostgres({ dataDir: path.join(dataDir, 'postgres'), ownedRoot: dataDir, port: 0, fast: true, database: 'postgres' });
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      expect((await client.query('select 1 as one')).rows[0].one).to.equal(1);
      await client.end();
      expect(fs.statSync(dataDir).mode & 0o001).to.equal(0o001); // traverse only
      expect(fs.statSync(dataDir).mode & 0o004).to.equal(0);
    } finally {
      await server.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('names a folder above the data folder that is not ours to open, and says what to do', () => {
    const outer = fs.mkdtempSync(path.join(os.tmpdir(), 'spirit-outer-'));
    const owned = path.join(outer, 'data');
    fs.mkdirSync(owned, { mode: 0o700 });
    try {
      expect(() => makeTraversableForPostgres(path.join(owned, 'postgres'), owned)).to.throw(`cannot enter ${outer}`).with.property('message').that.includes('SPIRIT_DATA_DIR');
      expect(fs.statSync(outer).mode & 0o777).to.equal(0o700); // left alone
    } finally {
      fs.rmSync(outer, { recursive: true, force: true });
    }
  });
});
