/*
 * The schema as a list of migrations.  Step N brings a database from
 * user_version N-1 to N; store_open() runs each missing step in its own
 * transaction.  A released step is never edited: a change is a new step
 * appended at the end.
 *
 * Conventions: times are Unix seconds UTC (INTEGER); booleans are 0/1
 * with a CHECK; addresses are stored normalized (address.h); rows that
 * mean nothing without their customer go with them (ON DELETE CASCADE),
 * which is what store_customer_forget() relies on.
 */
#include "store_int.h"

/* Version 1: the whole first design. */
static const char store_schema_v1[] =
"CREATE TABLE customers ("
"  id             INTEGER PRIMARY KEY,"
"  name           TEXT NOT NULL CHECK (name <> ''),"
"  first_name     TEXT,"
"  company        TEXT,"
"  lang           TEXT,"
"  tz             TEXT,"
"  tier           TEXT CHECK (tier IN ('A', 'B', 'C')),"
"  birth_year     INTEGER CHECK (birth_year BETWEEN 1 AND 9999),"
"  birth_month    INTEGER CHECK (birth_month BETWEEN 1 AND 12),"
"  birth_day      INTEGER CHECK (birth_day BETWEEN 1 AND 31),"
"  newsletter     INTEGER NOT NULL DEFAULT 0 CHECK (newsletter IN (0, 1)),"
"  consent_at     INTEGER,"
"  consent_source TEXT,"
"  do_not_contact INTEGER NOT NULL DEFAULT 0"
"                 CHECK (do_not_contact IN (0, 1)),"
"  referred_by    INTEGER REFERENCES customers(id) ON DELETE SET NULL,"
"  source         TEXT,"
"  notes          TEXT,"
"  created_at     INTEGER NOT NULL,"
"  updated_at     INTEGER NOT NULL,"
/* A birthday is a month and a day, or nothing; a year alone means nothing. */
"  CHECK ((birth_month IS NULL) = (birth_day IS NULL)),"
"  CHECK (birth_year IS NULL OR birth_month IS NOT NULL)"
");"
"CREATE INDEX customers_by_name ON customers(name, id);"
"CREATE INDEX customers_by_referrer ON customers(referred_by)"
"  WHERE referred_by IS NOT NULL;"
"CREATE INDEX customers_by_birthday ON customers(birth_month, birth_day)"
"  WHERE birth_month IS NOT NULL;"

/* One address belongs to one customer: the identity the linker uses. */
"CREATE TABLE customer_emails ("
"  address     TEXT PRIMARY KEY,"
"  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  position    INTEGER NOT NULL CHECK (position >= 0),"	/* 0: primary */
"  UNIQUE (customer_id, position)"
") WITHOUT ROWID;"

"CREATE TABLE customer_tags ("
"  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  tag         TEXT NOT NULL CHECK (tag <> ''),"
"  PRIMARY KEY (customer_id, tag)"
") WITHOUT ROWID;"
"CREATE INDEX customer_tags_by_tag ON customer_tags(tag, customer_id);"

/*
 * A message is stored once however many folders hold it: dedupe_key is
 * its Message-ID, or the parser's synthetic "sha256:..." key when it has
 * none (message_id is then NULL).  account/folder/uid say where it was
 * first seen.
 */
"CREATE TABLE messages ("
"  id            INTEGER PRIMARY KEY,"
"  account       TEXT NOT NULL,"
"  folder        TEXT NOT NULL,"
"  uid           INTEGER,"
"  uidvalidity   INTEGER,"
"  message_id    TEXT,"
"  dedupe_key    TEXT NOT NULL UNIQUE,"
"  date          INTEGER NOT NULL,"
"  subject       TEXT,"
"  from_addr     TEXT,"
"  in_reply_to   TEXT,"
"  refs          TEXT,"	/* References ids, space-separated, oldest first */
"  is_auto_reply INTEGER NOT NULL DEFAULT 0 CHECK (is_auto_reply IN (0, 1)),"
"  is_bounce     INTEGER NOT NULL DEFAULT 0 CHECK (is_bounce IN (0, 1)),"
"  is_list       INTEGER NOT NULL DEFAULT 0 CHECK (is_list IN (0, 1)),"
"  is_unsubscribe INTEGER NOT NULL DEFAULT 0"
"                CHECK (is_unsubscribe IN (0, 1)),"
"  outgoing      INTEGER NOT NULL DEFAULT 0 CHECK (outgoing IN (0, 1)),"
"  snippet       TEXT,"
"  ingested_at   INTEGER NOT NULL"
");"
"CREATE INDEX messages_by_message_id ON messages(message_id)"
"  WHERE message_id IS NOT NULL;"
"CREATE INDEX messages_by_in_reply_to ON messages(in_reply_to)"
"  WHERE in_reply_to IS NOT NULL;"
"CREATE INDEX messages_by_location ON messages(account, folder, uid);"
"CREATE INDEX messages_by_date ON messages(date);"

"CREATE TABLE message_participants ("
"  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
"  address    TEXT NOT NULL,"
"  name       TEXT,"
"  role       TEXT NOT NULL CHECK (role IN"
"             ('from', 'to', 'cc', 'bcc', 'reply-to', 'sender')),"
"  PRIMARY KEY (message_id, role, address)"
") WITHOUT ROWID;"
"CREATE INDEX message_participants_by_address"
"  ON message_participants(address, message_id);"

/*
 * One row per event instance: recurrence_id is the instance's original
 * start (UTC seconds), 0 for a single event, so the unique key holds
 * (a NULL would let duplicates in).
 */
"CREATE TABLE events ("
"  id                 INTEGER PRIMARY KEY,"
"  account            TEXT NOT NULL,"
"  calendar           TEXT NOT NULL,"	/* the collection's href */
"  href               TEXT NOT NULL,"	/* the resource's href */
"  uid                TEXT NOT NULL,"
"  recurrence_id      INTEGER NOT NULL DEFAULT 0,"
"  etag               TEXT,"
"  summary            TEXT,"
"  location           TEXT,"
"  start_at           INTEGER NOT NULL,"
"  end_at             INTEGER,"
"  all_day            INTEGER NOT NULL DEFAULT 0 CHECK (all_day IN (0, 1)),"
"  status             TEXT,"	/* TENTATIVE, CONFIRMED, CANCELLED */
"  cancelled          INTEGER NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1)),"
"  organizer          TEXT,"
"  created_by_rapport INTEGER NOT NULL DEFAULT 0"
"                     CHECK (created_by_rapport IN (0, 1)),"
"  ingested_at        INTEGER NOT NULL,"
"  UNIQUE (account, calendar, uid, recurrence_id)"
");"
"CREATE INDEX events_by_href ON events(account, calendar, href);"
"CREATE INDEX events_by_start ON events(start_at);"

"CREATE TABLE event_attendees ("
"  event_id INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,"
"  address  TEXT NOT NULL,"
"  name     TEXT,"
"  role     TEXT,"		/* REQ-PARTICIPANT, OPT-PARTICIPANT, CHAIR... */
"  partstat TEXT,"		/* ACCEPTED, DECLINED, NEEDS-ACTION... */
"  PRIMARY KEY (event_id, address)"
") WITHOUT ROWID;"
"CREATE INDEX event_attendees_by_address ON event_attendees(address, event_id);"

/*
 * A link says which customer a message or event concerns and by which
 * rule ('address:from', 'address:to', 'thread', 'domain',
 * 'name-in-summary', 'manual'...).  The object is a message or an event,
 * so there is no foreign key to it: triggers below drop the links of a
 * deleted object.
 */
"CREATE TABLE links ("
"  id          INTEGER PRIMARY KEY,"
"  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  object_kind TEXT NOT NULL CHECK (object_kind IN ('message', 'event')),"
"  object_id   INTEGER NOT NULL,"
"  rule        TEXT NOT NULL,"
"  detail      TEXT,"
"  created_at  INTEGER NOT NULL,"
"  UNIQUE (customer_id, object_kind, object_id)"
");"
"CREATE INDEX links_by_object ON links(object_kind, object_id);"

/*
 * Decisions the linker would not take alone (an address or a domain
 * matching several customers): one row per candidate, until a person
 * links one (resolved_at set).
 */
"CREATE TABLE link_review ("
"  id          INTEGER PRIMARY KEY,"
"  object_kind TEXT NOT NULL CHECK (object_kind IN ('message', 'event')),"
"  object_id   INTEGER NOT NULL,"
"  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  address     TEXT,"
"  rule        TEXT NOT NULL,"
"  created_at  INTEGER NOT NULL,"
"  resolved_at INTEGER,"
"  UNIQUE (object_kind, object_id, customer_id)"
");"
"CREATE INDEX link_review_by_customer ON link_review(customer_id);"
"CREATE INDEX link_review_open ON link_review(created_at)"
"  WHERE resolved_at IS NULL;"

"CREATE TRIGGER messages_unlink AFTER DELETE ON messages BEGIN"
"  DELETE FROM links WHERE object_kind = 'message' AND object_id = OLD.id;"
"  DELETE FROM link_review"
"    WHERE object_kind = 'message' AND object_id = OLD.id;"
"END;"
"CREATE TRIGGER events_unlink AFTER DELETE ON events BEGIN"
"  DELETE FROM links WHERE object_kind = 'event' AND object_id = OLD.id;"
"  DELETE FROM link_review WHERE object_kind = 'event' AND object_id = OLD.id;"
"END;"

/* amount: as entered ("120.00 EUR"), NULL if unknown; source: "manual",
 * "import", "mail:<message-id>". */
"CREATE TABLE sales ("
"  id          INTEGER PRIMARY KEY,"
"  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  product     TEXT NOT NULL CHECK (product <> ''),"
"  amount      TEXT,"
"  at          INTEGER NOT NULL,"
"  source      TEXT,"
"  created_at  INTEGER NOT NULL"
");"
"CREATE INDEX sales_by_customer ON sales(customer_id, at);"
"CREATE INDEX sales_by_at ON sales(at);"

"CREATE TABLE referrals ("
"  id          INTEGER PRIMARY KEY,"
"  referrer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  referred_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  at          INTEGER NOT NULL,"
"  source      TEXT,"
"  evidence    TEXT,"
"  created_at  INTEGER NOT NULL,"
"  UNIQUE (referrer_id, referred_id),"
"  CHECK (referrer_id <> referred_id)"
");"
"CREATE INDEX referrals_by_referred ON referrals(referred_id);"

/*
 * The unique key (kind, template, customer, occurrence) is what makes
 * planning idempotent: planning twice inserts nothing new.  occurrence
 * names the fact planned for ("sale:12", "birthday:2026", "nl:2026-12").
 */
"CREATE TABLE outbox ("
"  id              INTEGER PRIMARY KEY,"
"  kind            TEXT NOT NULL,"
"  template        TEXT NOT NULL,"
"  customer_id     INTEGER NOT NULL"
"                  REFERENCES customers(id) ON DELETE CASCADE,"
"  occurrence      TEXT NOT NULL,"
"  state           TEXT NOT NULL DEFAULT 'planned' CHECK (state IN"
"                  ('planned', 'sending', 'sent', 'failed', 'skipped')),"
"  reason          TEXT,"
"  due_at          INTEGER NOT NULL,"
"  attempts        INTEGER NOT NULL DEFAULT 0,"
"  next_attempt_at INTEGER,"
"  message_id      TEXT,"	/* the Message-ID we sent (or will resend) */
"  account         TEXT,"
"  sent_at         INTEGER,"
"  created_at      INTEGER NOT NULL,"
"  UNIQUE (kind, template, customer_id, occurrence)"
");"
"CREATE INDEX outbox_due ON outbox(due_at)"
"  WHERE state IN ('planned', 'sending');"
"CREATE INDEX outbox_by_customer ON outbox(customer_id, state);"

"CREATE TABLE suppressions ("
"  address TEXT PRIMARY KEY,"
"  reason  TEXT NOT NULL,"
"  at      INTEGER NOT NULL"
") WITHOUT ROWID;"

/* Sync state (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, sync-token...), written
 * in the same transaction as the records it covers.  collection: an IMAP
 * folder or a calendar href, '' for account-wide keys. */
"CREATE TABLE cursors ("
"  connector  TEXT NOT NULL,"
"  account    TEXT NOT NULL,"
"  collection TEXT NOT NULL DEFAULT '',"
"  key        TEXT NOT NULL,"
"  value      TEXT,"
"  updated_at INTEGER NOT NULL,"
"  PRIMARY KEY (connector, account, collection, key)"
") WITHOUT ROWID;"

/* A tentative visit put on the planning calendar; period names the
 * cadence window it serves ("2026-Q4", "2026-12"). */
"CREATE TABLE visit_proposals ("
"  id          INTEGER PRIMARY KEY,"
"  customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  period      TEXT NOT NULL,"
"  uid         TEXT NOT NULL UNIQUE,"
"  href        TEXT,"
"  etag        TEXT,"
"  start_at    INTEGER NOT NULL,"
"  end_at      INTEGER,"
"  state       TEXT NOT NULL DEFAULT 'proposed'"
"              CHECK (state IN ('proposed', 'moved', 'deleted')),"
"  created_at  INTEGER NOT NULL,"
"  updated_at  INTEGER NOT NULL,"
"  UNIQUE (customer_id, period)"
");"
"CREATE INDEX visit_proposals_by_start ON visit_proposals(start_at);"

"CREATE TABLE status ("
"  key   TEXT PRIMARY KEY,"
"  value TEXT,"
"  at    INTEGER NOT NULL"
") WITHOUT ROWID;"

"PRAGMA user_version = 1;";

/*
 * Version 2: mail ingest (store_message.c).
 *
 * A message may sit in several folders at once (INBOX and Sent, or two
 * accounts) and move between them: message_locations holds every place
 * it is seen now, while messages.account/folder/uid keep where it was
 * first seen.  An expunged copy loses its location, never the message:
 * the timeline keeps it.
 *
 * author_id/is_reply record the linker's verdict, so "did customer X
 * write since T" is one indexed query.  The expression index serves the
 * company rule (customers with an address at a domain).
 */
static const char store_schema_v2[] =
"CREATE TABLE message_locations ("
"  account     TEXT NOT NULL,"
"  folder      TEXT NOT NULL,"
"  uidvalidity INTEGER NOT NULL,"
"  uid         INTEGER NOT NULL,"
"  message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
"  seen_at     INTEGER NOT NULL,"
"  PRIMARY KEY (account, folder, uidvalidity, uid)"
") WITHOUT ROWID;"
"CREATE INDEX message_locations_by_message"
"  ON message_locations(message_id);"
"INSERT INTO message_locations"
"  SELECT account, folder, uidvalidity, uid, id, ingested_at FROM messages"
"  WHERE uid IS NOT NULL AND uidvalidity IS NOT NULL;"

"ALTER TABLE messages ADD COLUMN"
"  author_id INTEGER REFERENCES customers(id) ON DELETE SET NULL;"
"ALTER TABLE messages ADD COLUMN"
"  is_reply INTEGER NOT NULL DEFAULT 0 CHECK (is_reply IN (0, 1));"
"CREATE INDEX messages_by_author ON messages(author_id, date);"

"CREATE INDEX customer_emails_by_domain"
"  ON customer_emails(substr(address, instr(address, '@') + 1));"

"PRAGMA user_version = 2;";

/*
 * Version 3: the sender (store_outbox.c).
 *
 * ref_kind/ref_id name the fact a row was planned for ("sale" 12,
 * "referral" 7, "event" 3, "message" 9), so rendering can fill
 * {{sale.product}} or {{referral.name}}; recipient is the address it
 * went to; lease_until is when a claim by a sender that died runs out.
 * Rows are claimed in order of their effective due time.
 */
static const char store_schema_v3[] =
"ALTER TABLE outbox ADD COLUMN ref_kind TEXT;"
"ALTER TABLE outbox ADD COLUMN ref_id INTEGER;"
"ALTER TABLE outbox ADD COLUMN recipient TEXT;"
"ALTER TABLE outbox ADD COLUMN lease_until INTEGER;"
"CREATE INDEX outbox_claim ON outbox(coalesce(next_attempt_at, due_at), id)"
"  WHERE state IN ('planned', 'sending');"
"CREATE INDEX outbox_sent_by_account ON outbox(account, sent_at)"
"  WHERE state = 'sent';"
"PRAGMA user_version = 3;";

/*
 * Version 4: referrals found in mail and meetings (referral_ingest.c).
 *
 * A detected referral starts as a candidate: its referred person may be
 * no customer yet (referred_id NULL, referred_addr/referred_name say who),
 * and it waits in state 'pending' until a person (or, for strong rules,
 * the rule) confirms it; only confirmed referrals are thanked.  A rejected
 * candidate stays, so that UNIQUE (referrer_id, referred_addr) keeps it
 * from ever being proposed again.  rule/strength/evidence_kind/evidence_id
 * say how it was found (evidence_id: messages.id or events.id).
 * decided_by 'person' makes the thank-you wait from the decision, not from
 * the (perhaps long past) evidence.
 *
 * SQLite cannot drop NOT NULL from referred_id: the table is rebuilt.
 * Triggers turn a customer's referred_by (CSV import, customer edit) into
 * a confirmed referral row, so the planner has one source of referrals;
 * customers created by a referral (source 'referral') get their row from
 * whoever created them, with the evidence.
 */
static const char store_schema_v4[] =
"CREATE TABLE referrals_v4 ("
"  id            INTEGER PRIMARY KEY,"
"  referrer_id   INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,"
"  referred_id   INTEGER REFERENCES customers(id) ON DELETE CASCADE,"
"  referred_addr TEXT,"
"  referred_name TEXT,"
"  at            INTEGER NOT NULL,"
"  source        TEXT,"
"  evidence      TEXT,"
"  created_at    INTEGER NOT NULL,"
"  state         TEXT NOT NULL DEFAULT 'confirmed'"
"                CHECK (state IN ('pending', 'confirmed', 'rejected')),"
"  rule          TEXT,"
"  strength      TEXT CHECK (strength IN ('strong', 'weak')),"
"  evidence_kind TEXT NOT NULL DEFAULT 'manual'"
"                CHECK (evidence_kind IN"
"                ('message', 'event', 'manual', 'import')),"
"  evidence_id   INTEGER,"
"  decided_at    INTEGER,"
"  decided_by    TEXT CHECK (decided_by IN ('rule', 'person')),"
"  UNIQUE (referrer_id, referred_id),"
"  UNIQUE (referrer_id, referred_addr),"
"  CHECK (referrer_id <> referred_id),"
"  CHECK (referred_id IS NOT NULL OR referred_addr IS NOT NULL),"
"  CHECK (state <> 'confirmed' OR referred_id IS NOT NULL)"
");"
"INSERT INTO referrals_v4 (id, referrer_id, referred_id, at, source,"
"  evidence, created_at, evidence_kind)"
"  SELECT id, referrer_id, referred_id, at, source, evidence, created_at,"
"  CASE WHEN source = 'import' THEN 'import' ELSE 'manual' END"
"  FROM referrals;"
"DROP TABLE referrals;"
"ALTER TABLE referrals_v4 RENAME TO referrals;"
"CREATE INDEX referrals_by_referred ON referrals(referred_id);"
"CREATE INDEX referrals_by_addr ON referrals(referred_addr)"
"  WHERE referred_addr IS NOT NULL;"
"CREATE INDEX referrals_pending ON referrals(at) WHERE state = 'pending';"

"INSERT INTO referrals (referrer_id, referred_id, at, source, evidence,"
"  created_at, evidence_kind)"
"  SELECT c.referred_by, c.id, c.created_at, c.source, 'referred_by field',"
"  c.created_at, CASE WHEN c.source = 'import' THEN 'import'"
"  ELSE 'manual' END FROM customers c"
"  WHERE c.referred_by IS NOT NULL AND c.referred_by <> c.id"
"  AND NOT EXISTS (SELECT 1 FROM referrals r"
"   WHERE r.referrer_id = c.referred_by AND r.referred_id = c.id);"
"CREATE TRIGGER customers_referred_by_insert AFTER INSERT ON customers"
"  WHEN NEW.referred_by IS NOT NULL AND NEW.referred_by <> NEW.id"
"  AND NEW.source IS NOT 'referral' BEGIN"
"  INSERT INTO referrals (referrer_id, referred_id, at, source, evidence,"
"   created_at, evidence_kind)"
"   SELECT NEW.referred_by, NEW.id, NEW.created_at, NEW.source,"
"   'referred_by field', NEW.created_at,"
"   CASE WHEN NEW.source = 'import' THEN 'import' ELSE 'manual' END"
"   WHERE NOT EXISTS (SELECT 1 FROM referrals r"
"    WHERE r.referrer_id = NEW.referred_by AND r.referred_id = NEW.id);"
"END;"
"CREATE TRIGGER customers_referred_by_update"
"  AFTER UPDATE OF referred_by ON customers"
"  WHEN NEW.referred_by IS NOT NULL AND NEW.referred_by <> NEW.id"
"  AND NEW.referred_by IS NOT OLD.referred_by BEGIN"
"  INSERT INTO referrals (referrer_id, referred_id, at, source, evidence,"
"   created_at, evidence_kind)"
"   SELECT NEW.referred_by, NEW.id, NEW.updated_at, NEW.source,"
"   'referred_by field', NEW.updated_at,"
"   CASE WHEN NEW.source = 'import' THEN 'import' ELSE 'manual' END"
"   WHERE NOT EXISTS (SELECT 1 FROM referrals r"
"    WHERE r.referrer_id = NEW.referred_by AND r.referred_id = NEW.id);"
"END;"

/* The name lookup of the referral rules: case and spaces folded. */
"CREATE INDEX customers_by_folded_name"
"  ON customers(replace(lower(name), ' ', ''));"
"PRAGMA user_version = 4;";

/*
 * Version 5: the daily agenda (agenda.c, store_agenda.c).
 *
 * The agenda goes to the user, not to a customer, so it has no outbox
 * row (outbox.customer_id is NOT NULL): one row per (day, recipient) is
 * claimed before it is sent and makes the agenda of a day go once, even
 * across restarts.  state: sending (claimed; lease_until says when a
 * claim by a sender that died runs out, or when a 4xx is retried), sent,
 * empty (no meetings that day: nothing sent), failed.  message_id is
 * fixed at the first claim, so a resend after a crash carries the same.
 */
static const char store_schema_v5[] =
"CREATE TABLE agenda_sent ("
"  day         TEXT NOT NULL,"	/* local date, YYYY-MM-DD */
"  recipient   TEXT NOT NULL,"
"  state       TEXT NOT NULL DEFAULT 'sending'"
"              CHECK (state IN ('sending', 'sent', 'empty', 'failed')),"
"  message_id  TEXT NOT NULL,"
"  attempts    INTEGER NOT NULL DEFAULT 0,"
"  lease_until INTEGER,"
"  meetings    INTEGER NOT NULL DEFAULT 0,"
"  reason      TEXT,"
"  sent_at     INTEGER,"
"  created_at  INTEGER NOT NULL,"
"  PRIMARY KEY (day, recipient)"
") WITHOUT ROWID;"
"PRAGMA user_version = 5;";

/*
 * One-click unsubscription tokens (store_unsubscribe.h): one per
 * customer, made on their first newsletter.
 */
static const char store_schema_v6[] =
"CREATE TABLE unsubscribe_tokens ("
"  token       TEXT PRIMARY KEY,"
"  customer_id INTEGER NOT NULL UNIQUE"
"              REFERENCES customers(id) ON DELETE CASCADE,"
"  created_at  INTEGER NOT NULL"
") WITHOUT ROWID;"
"PRAGMA user_version = 6;";

/*
 * Version 7: retracting a forgotten customer's visit proposals
 * (store_visit.h).
 *
 * A retraction is a proposal of a forgotten customer that is to be
 * deleted from the calendar that holds it; it keeps only what the DELETE
 * needs (no customer, no name: the point is erasure) and goes once the
 * server has answered.
 *
 * visit_proposals.etag follows the event as syncs see it, the user's
 * edits included; own_etag stays the etag of the event as rapport wrote
 * it (the PUT's answer, else the first one seen), so that If-Match on it
 * deletes nothing the user has changed since.  Proposals made before this
 * version take the etag known now.
 */
static const char store_schema_v7[] =
"CREATE TABLE visit_retractions ("
"  uid         TEXT PRIMARY KEY,"
"  href        TEXT NOT NULL,"	/* the resource's href on the server */
"  etag        TEXT NOT NULL,"	/* If-Match */
"  created_at  INTEGER NOT NULL"
") WITHOUT ROWID;"
"ALTER TABLE visit_proposals ADD COLUMN own_etag TEXT;"
"UPDATE visit_proposals SET own_etag = etag WHERE state = 'proposed';"
"PRAGMA user_version = 7;";

/*
 * Threading a reply to what rapport sent looks the outbox up by
 * Message-ID for every message that refers to one (store_message.c).
 */
static const char store_schema_v8[] =
"CREATE INDEX outbox_by_message_id ON outbox(message_id)"
"  WHERE message_id IS NOT NULL;"
"PRAGMA user_version = 8;";

/*
 * Version 9: cheaper mail ingest.  Every index of messages is written for
 * each message stored, and those keyed at random (a Message-ID, an
 * author) cost a B-tree descent and a dirty page each.  Dropped: the
 * Message-ID and In-Reply-To indexes, which no query reads (a message is
 * found by dedupe_key, equal to its Message-ID when it has one), and the
 * first-seen location index (store_message.c reaches those rows through
 * message_locations' primary key).  The author index keeps only messages
 * that have an author: every query of it asks for one customer's mail.
 *
 * message_participants is rebuilt, unchanged but for how its CHECK on
 * role is written: SQLite evaluates an IN list of more than two values
 * through a temporary table that it builds anew for each INSERT, which
 * was a quarter of the cost of storing a participant.  The same set of
 * roles, written as comparisons, costs nothing.
 */
static const char store_schema_v9[] =
"CREATE TABLE message_participants_v9 ("
"  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,"
"  address    TEXT NOT NULL,"
"  name       TEXT,"
"  role       TEXT NOT NULL CHECK (role = 'from' OR role = 'to'"
"             OR role = 'cc' OR role = 'bcc' OR role = 'reply-to'"
"             OR role = 'sender'),"
"  PRIMARY KEY (message_id, role, address)"
") WITHOUT ROWID;"
"INSERT INTO message_participants_v9 (message_id, address, name, role)"
"  SELECT message_id, address, name, role FROM message_participants;"
"DROP TABLE message_participants;"
"ALTER TABLE message_participants_v9 RENAME TO message_participants;"
"CREATE INDEX message_participants_by_address"
"  ON message_participants(address, message_id);"

"DROP INDEX messages_by_message_id;"
"DROP INDEX messages_by_in_reply_to;"
"DROP INDEX messages_by_location;"
"DROP INDEX messages_by_author;"
"CREATE INDEX messages_by_author ON messages(author_id, date)"
"  WHERE author_id IS NOT NULL;"
"PRAGMA user_version = 9;";

/*
 * Version 10: customer ids are never reused, and the outbox's state CHECK
 * is written as comparisons.
 *
 * A customer's id leaves the database: in the UIDs of the visits proposed
 * on the user's calendars ("rapport-visit-<id>-<period>@..."), which an
 * orphan proposal is adopted by.  customers.id has no AUTOINCREMENT, so
 * SQLite gives a new row max(id) + 1 and, once the customer with the
 * highest id was forgotten, a new customer would inherit what is left of
 * them on the calendars.  customers cannot be rebuilt to add AUTOINCREMENT
 * (dropping it would cascade into every table that references it, and
 * foreign keys cannot be switched off inside a migration's transaction),
 * so customer_ids keeps the highest id that ever left the table, and
 * store_customer_insert() gives each new customer one above both.  It
 * starts from the highest id still in use in the database or named by a
 * visit UID (an event of ours, a retraction not yet done): a customer
 * forgotten before this version may have left one behind.  Anyone can
 * send an invitation with such a UID, so an id past 2^53 is not believed:
 * one near 2^63 would leave no id to give.
 *
 * The outbox is rebuilt, unchanged but for its CHECK on state: an IN list
 * of more than two values makes SQLite build a temporary table for each
 * INSERT of a row and each UPDATE of its state (see version 9), a third
 * of the instructions spent planning a newsletter.  Nothing references
 * the outbox, so dropping it cascades nowhere.  Its ids become
 * AUTOINCREMENT (about 7% of planning's instructions): a dry run names
 * its files by outbox id and takes a file already there for its row's,
 * so the row of a forgotten customer must never lend its id to a new one.
 */
static const char store_schema_v10[] =
"CREATE TABLE customer_ids ("
"  one    INTEGER PRIMARY KEY CHECK (one = 1),"
"  max_id INTEGER NOT NULL"
");"
"INSERT INTO customer_ids (one, max_id) SELECT 1, coalesce(max(id), 0) FROM"
"  (SELECT max(id) AS id FROM customers"
"   UNION ALL SELECT CAST(substr(uid, 15, instr(substr(uid, 15), '-') - 1)"
"    AS INTEGER) FROM events WHERE uid LIKE 'rapport-visit-%'"
"   UNION ALL SELECT CAST(substr(uid, 15, instr(substr(uid, 15), '-') - 1)"
"    AS INTEGER) FROM visit_retractions WHERE uid LIKE 'rapport-visit-%')"
"  WHERE id <= 9007199254740991;"
"CREATE TRIGGER customers_keep_max_id AFTER DELETE ON customers"
"  WHEN OLD.id > (SELECT max_id FROM customer_ids WHERE one = 1) BEGIN"
"  UPDATE customer_ids SET max_id = OLD.id WHERE one = 1;"
"END;"

"CREATE TABLE outbox_v10 ("
"  id              INTEGER PRIMARY KEY AUTOINCREMENT,"
"  kind            TEXT NOT NULL,"
"  template        TEXT NOT NULL,"
"  customer_id     INTEGER NOT NULL"
"                  REFERENCES customers(id) ON DELETE CASCADE,"
"  occurrence      TEXT NOT NULL,"
"  state           TEXT NOT NULL DEFAULT 'planned' CHECK (state = 'planned'"
"                  OR state = 'sending' OR state = 'sent'"
"                  OR state = 'failed' OR state = 'skipped'),"
"  reason          TEXT,"
"  due_at          INTEGER NOT NULL,"
"  attempts        INTEGER NOT NULL DEFAULT 0,"
"  next_attempt_at INTEGER,"
"  message_id      TEXT,"	/* the Message-ID we sent (or will resend) */
"  account         TEXT,"
"  sent_at         INTEGER,"
"  created_at      INTEGER NOT NULL,"
"  ref_kind        TEXT,"
"  ref_id          INTEGER,"
"  recipient       TEXT,"
"  lease_until     INTEGER,"
"  UNIQUE (kind, template, customer_id, occurrence)"
");"
"INSERT INTO outbox_v10 SELECT id, kind, template, customer_id, occurrence,"
"  state, reason, due_at, attempts, next_attempt_at, message_id, account,"
"  sent_at, created_at, ref_kind, ref_id, recipient, lease_until FROM outbox;"
"DROP TABLE outbox;"
"ALTER TABLE outbox_v10 RENAME TO outbox;"
"CREATE INDEX outbox_due ON outbox(due_at)"
"  WHERE state IN ('planned', 'sending');"
"CREATE INDEX outbox_by_customer ON outbox(customer_id, state);"
"CREATE INDEX outbox_claim ON outbox(coalesce(next_attempt_at, due_at), id)"
"  WHERE state IN ('planned', 'sending');"
"CREATE INDEX outbox_sent_by_account ON outbox(account, sent_at)"
"  WHERE state = 'sent';"
"CREATE INDEX outbox_by_message_id ON outbox(message_id)"
"  WHERE message_id IS NOT NULL;"
"PRAGMA user_version = 10;";

/*
 * Version 11: the referral rules' lookup of a name that is a customer's
 * given name or surname alone (store_referral.c) reads indexes instead
 * of folding every customer's name, which cost a twentieth of a mail
 * ingest's instructions.  What the indexes hold: store_int.h.
 */
static const char store_schema_v11[] =
"CREATE INDEX customers_by_first_word ON customers("
    STORE_NAME_FIRST_WORD ");"
"CREATE INDEX customers_by_last_word ON customers("
    STORE_NAME_LAST_WORD ");"
"CREATE INDEX customers_by_given_name ON customers("
    STORE_NAME_GIVEN_CJK ");"
"PRAGMA user_version = 11;";

/*
 * Version 12: a sent message rewrites fewer index pages.  Each send
 * claims a row (planned -> sending, its Message-ID set) and records the
 * one before it as sent, in one commit, and every index whose key or
 * WHERE names a changed column is rewritten:
 *  - outbox_due held what outbox_claim holds (same WHERE); only the next
 *    due time read it, and reads outbox_claim as well: dropped;
 *  - outbox_by_customer keyed the state too, so both changes moved its
 *    entry; nothing looks a customer's rows up by state but the agenda,
 *    which filters a customer's few rows as cheaply: customer_id alone;
 *  - outbox_sent_by_account served no statement: the budget's count of
 *    messages sent or in flight (store_outbox_sent_times) asks for
 *    'sending' rows too and scanned the table.  outbox_by_account holds
 *    both, a 'sending' row (sent_at NULL) keyed after every sent one, so
 *    the claim's entry and the sent one's both land on the account's
 *    last page, which the sent entry alone wrote before.
 */
static const char store_schema_v12[] =
"DROP INDEX outbox_due;"
"DROP INDEX outbox_by_customer;"
"CREATE INDEX outbox_by_customer ON outbox(customer_id);"
"DROP INDEX outbox_sent_by_account;"
"CREATE INDEX outbox_by_account"
"  ON outbox(account, " STORE_OUTBOX_SENT_KEY ")"
"  WHERE state IN ('sent', 'sending');"
"PRAGMA user_version = 12;";

const struct store_migration store_migrations[] = {
	{ store_schema_v1 },
	{ store_schema_v2 },
	{ store_schema_v3 },
	{ store_schema_v4 },
	{ store_schema_v5 },
	{ store_schema_v6 },
	{ store_schema_v7 },
	{ store_schema_v8 },
	{ store_schema_v9 },
	{ store_schema_v10 },
	{ store_schema_v11 },
	{ store_schema_v12 },
};

const int store_schema_version =
    (int)(sizeof(store_migrations) / sizeof(store_migrations[0]));
