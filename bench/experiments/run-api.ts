/**
 * Starts the API exactly as api/main.ts does when run directly (that file only starts itself when
 * it is the entry point). The what-if experiments here patch something first, then call this.
 * Used through `npm run bench -- availability --api-entry bench/experiments/<file>.ts`.
 */
import { startApi } from '../../api/main';
import { logger } from '../../platform/logger';

export function runApi(experiment: string): void {
  startApi()
    .then(({ stop }) => {
      logger.warn({ experiment }, 'API listening with a bench experiment applied');
      let stopping = false;
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.on(signal, () => {
          if (stopping) return;
          stopping = true;
          stop().then(() => process.exit(0), () => process.exit(1));
        });
      }
    })
    .catch((err) => {
      logger.fatal({ err: err.message }, 'API failed to start');
      process.exit(1);
    });
}
