/**
 * Live updates for the console: triggers NOTIFY `console_events` with a small JSON payload when
 * something a console screen shows changes, whoever wrote it (an activity, the API, a SQL
 * console), so every API instance LISTENing hears it (api/live-events.ts). The payload names
 * what changed and whose it is (branch, partner, customer), never its content: the client
 * refetches. Nulls are left out to keep it small (a NOTIFY payload must stay under 8000 bytes).
 *
 * Campaign recipients change a batch per statement (claims, results), so their trigger runs once
 * per statement with one notification per campaign touched. Inserting the audience (up to a
 * million rows in one statement) notifies nothing: the first claims follow at once.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    create function console_notify(payload jsonb) returns void language sql as $$
      select pg_notify('console_events', jsonb_strip_nulls(payload)::text)
    $$;

    create function console_notify_booking_event() returns trigger language plpgsql as $$
    declare b record;
    begin
      select branch_id, partner_id, customer_id, created_by_user_id into b from bookings where id = new.booking_id;
      perform console_notify(jsonb_build_object('kind', 'booking', 'id', new.booking_id, 'bookingId', new.booking_id, 'type', new.type,
        'branchId', b.branch_id, 'partnerId', b.partner_id, 'customerId', b.customer_id, 'createdBy', b.created_by_user_id));
      return null;
    end $$;
    create trigger booking_events_console after insert on booking_events
      for each row execute function console_notify_booking_event();

    create function console_notify_approval() returns trigger language plpgsql as $$
    begin
      perform console_notify(jsonb_build_object('kind', 'approval', 'id', new.id, 'type', new.kind, 'status', new.status,
        'bookingId', new.booking_id, 'branchId', new.branch_id));
      return null;
    end $$;
    create trigger approvals_console_insert after insert on approvals
      for each row execute function console_notify_approval();
    create trigger approvals_console_status after update of status on approvals
      for each row when (old.status is distinct from new.status) execute function console_notify_approval();

    create function console_notify_campaign() returns trigger language plpgsql as $$
    begin
      perform console_notify(jsonb_build_object('kind', 'campaign', 'id', new.id, 'campaignId', new.id, 'status', new.status));
      return null;
    end $$;
    create trigger campaigns_console_status after update of status, winner_variant on campaigns
      for each row when (old.status is distinct from new.status or old.winner_variant is distinct from new.winner_variant)
      execute function console_notify_campaign();

    create function console_notify_campaign_recipients() returns trigger language plpgsql as $$
    declare c uuid;
    begin
      for c in select distinct campaign_id from changed loop
        perform console_notify(jsonb_build_object('kind', 'campaign', 'id', c, 'campaignId', c));
      end loop;
      return null;
    end $$;
    create trigger campaign_recipients_console_update after update on campaign_recipients
      referencing new table as changed for each statement execute function console_notify_campaign_recipients();

    create function console_notify_conversation(conversation uuid) returns void language plpgsql as $$
    declare c record;
    begin
      -- A conversation belongs to a branch only through the person it is assigned to.
      select cv.status, u.branch_id into c from conversations cv left join users u on u.id = cv.assigned_user_id where cv.id = conversation;
      perform console_notify(jsonb_build_object('kind', 'conversation', 'id', conversation, 'conversationId', conversation,
        'status', c.status, 'branchId', c.branch_id));
    end $$;
    create function console_notify_conversation_row() returns trigger language plpgsql as $$
    begin
      perform console_notify_conversation(new.id);
      return null;
    end $$;
    create function console_notify_conversation_message() returns trigger language plpgsql as $$
    begin
      perform console_notify_conversation(new.conversation_id);
      return null;
    end $$;
    create trigger conversations_console_status after update of status, assigned_user_id on conversations
      for each row when (old.status is distinct from new.status or old.assigned_user_id is distinct from new.assigned_user_id)
      execute function console_notify_conversation_row();
    create trigger conversation_messages_console_insert after insert on conversation_messages
      for each row execute function console_notify_conversation_message();
    create trigger conversation_messages_console_delivery after update of delivery_status on conversation_messages
      for each row when (old.delivery_status is distinct from new.delivery_status) execute function console_notify_conversation_message();

    create function console_notify_contact_import() returns trigger language plpgsql as $$
    begin
      perform console_notify(jsonb_build_object('kind', 'contact_import', 'id', new.id, 'status', new.status));
      return null;
    end $$;
    create trigger contact_imports_console after insert or update on contact_imports
      for each row execute function console_notify_contact_import();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    drop trigger contact_imports_console on contact_imports;
    drop trigger conversation_messages_console_delivery on conversation_messages;
    drop trigger conversation_messages_console_insert on conversation_messages;
    drop trigger conversations_console_status on conversations;
    drop trigger campaign_recipients_console_update on campaign_recipients;
    drop trigger campaigns_console_status on campaigns;
    drop trigger approvals_console_status on approvals;
    drop trigger approvals_console_insert on approvals;
    drop trigger booking_events_console on booking_events;
    drop function console_notify_contact_import();
    drop function console_notify_conversation_message();
    drop function console_notify_conversation_row();
    drop function console_notify_conversation(uuid);
    drop function console_notify_campaign_recipients();
    drop function console_notify_campaign();
    drop function console_notify_approval();
    drop function console_notify_booking_event();
    drop function console_notify(jsonb);
  `);
}
