/** The message dispatcher's signal, shared by the workflow and whoever queues a message. */
import { defineSignal } from '@temporalio/workflow';

/** A message was queued: look for due messages now (signal-with-start starts the dispatcher when it is not running). */
export const messagesQueuedSignal = defineSignal<[]>('messagesQueued');
