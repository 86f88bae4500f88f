/*
 * Mail in the SQLite store (store_message.h): ingest of parsed, classified
 * and linked messages, their locations, the review list, signals, the
 * connectors' cursors, and the reads built on them (timeline, last
 * contact, replied since, the linker's lookups).
 */
#include "store_int.h"
#include "store_message.h"

#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "log.h"
#include "strbuf.h"
#include "xmalloc.h"

/* Bytes of the first text kept as a snippet: enough for a timeline line. */
#define SNIPPET_MAX	512

/* ---- the linker's lookups ---- */

static const char SQL_BY_ADDRESS[] =
    "SELECT customer_id FROM customer_emails WHERE address = ?1";
/* A thread answers either a message we stored or one rapport sent. */
static const char SQL_BY_MSGID[] =
    "SELECT l.customer_id FROM messages m JOIN links l"
    " ON l.object_kind = 'message' AND l.object_id = m.id"
    " WHERE m.dedupe_key = ?1"
    " UNION SELECT customer_id FROM outbox"
    " WHERE message_id = ?1 AND state = 'sent'"
    " ORDER BY 1";
/* The expression must match the index customer_emails_by_domain. */
static const char SQL_BY_DOMAIN[] =
    "SELECT DISTINCT customer_id FROM customer_emails"
    " WHERE substr(address, instr(address, '@') + 1) = ?1"
    " ORDER BY customer_id";

/* Runs a one-column id query keyed by a string; counts every row. */
static int
collect_ids(struct store *st, const char *sql, const char *key,
    int64_t *ids, size_t max, size_t *n, const char *what)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);
	int rc;

	*n = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
	while ((rc = store_step(st, stmt, what)) == STORE_OK) {
		if (*n < max)
			ids[*n] = sqlite3_column_int64(stmt, 0);
		(*n)++;
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int
store_customers_by_address(struct store *st, const char *addr, int64_t *ids,
    size_t max, size_t *n)
{
	return collect_ids(st, SQL_BY_ADDRESS, addr, ids, max, n,
	    "customers by address");
}

int
store_customers_by_message_id(struct store *st, const char *msgid,
    int64_t *ids, size_t max, size_t *n)
{
	return collect_ids(st, SQL_BY_MSGID, msgid, ids, max, n,
	    "customers by message-id");
}

int
store_customers_by_domain(struct store *st, const char *domain, int64_t *ids,
    size_t max, size_t *n)
{
	return collect_ids(st, SQL_BY_DOMAIN, domain, ids, max, n,
	    "customers by domain");
}

static size_t
lookup_answer(struct store *st, int rc, size_t n, const char *what,
    const char *key)
{
	if (rc == STORE_OK)
		return n;
	log_warnx("store: lookup %s=%s: %s", what, key, store_errmsg(st));
	return 0;
}

static size_t
lookup_address(void *ctx, const char *addr, int64_t *ids, size_t max)
{
	size_t n;
	int rc = store_customers_by_address(ctx, addr, ids, max, &n);

	return lookup_answer(ctx, rc, n, "address", addr);
}

static size_t
lookup_message_id(void *ctx, const char *msgid, int64_t *ids, size_t max)
{
	size_t n;
	int rc = store_customers_by_message_id(ctx, msgid, ids, max, &n);

	return lookup_answer(ctx, rc, n, "message-id", msgid);
}

static size_t
lookup_domain(void *ctx, const char *domain, int64_t *ids, size_t max)
{
	size_t n;
	int rc = store_customers_by_domain(ctx, domain, ids, max, &n);

	return lookup_answer(ctx, rc, n, "domain", domain);
}

void
store_message_lookup(struct store *st, struct linker_lookup *lu)
{
	lu->ctx = st;
	lu->by_address = lookup_address;
	lu->by_message_id = lookup_message_id;
	lu->by_domain = lookup_domain;
}

/* ---- ingest: the message row ---- */

static const char SQL_MSG_FIND[] =
    "SELECT id FROM messages WHERE dedupe_key = ?1";
static const char SQL_MSG_INSERT[] =
    "INSERT INTO messages (account, folder, uid, uidvalidity, message_id,"
    " dedupe_key, date, subject, from_addr, in_reply_to, refs,"
    " is_auto_reply, is_bounce, is_list, is_unsubscribe, outgoing, snippet,"
    " ingested_at, author_id, is_reply)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14,"
    " ?15, ?16, ?17, ?18, ?19, ?20)";
/* A copy seen again after its author became a customer. */
static const char SQL_MSG_REAUTHOR[] =
    "UPDATE messages SET author_id = ?2, is_reply = ?3"
    " WHERE id = ?1 AND author_id IS NULL";

/* The ingest's working values, computed once. */
struct ingest {
	const struct store_message_in	*in;
	const struct message		*m;
	unsigned			 flags;		/* classify flags */
	int64_t				 date;
	int64_t				 now;
	int64_t				 id;
};

static int
message_find(struct store *st, const char *key, int64_t *id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_MSG_FIND);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, key, -1, SQLITE_TRANSIENT);
	if ((rc = store_step(st, stmt, "message find")) != STORE_OK)
		return rc;
	*id = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

/* References as stored: space-separated, oldest first. */
static char *
message_refs(const struct message *m)
{
	struct strbuf sb;

	if (m->nreferences == 0)
		return NULL;
	strbuf_init(&sb, 0);
	for (size_t i = 0; i < m->nreferences; i++) {
		if (i > 0)
			strbuf_addc(&sb, ' ');
		strbuf_adds(&sb, m->references[i]);
	}
	return strbuf_detach(&sb);
}

/* The first text, cut on a UTF-8 character boundary. */
static void
bind_snippet(sqlite3_stmt *stmt, int idx, const char *text)
{
	size_t len;

	if (text == NULL || *text == '\0') {
		sqlite3_bind_null(stmt, idx);
		return;
	}
	len = strlen(text);
	if (len > SNIPPET_MAX) {
		len = SNIPPET_MAX;
		while (len > 0 && ((unsigned char)text[len] & 0xc0) == 0x80)
			len--;
	}
	sqlite3_bind_text(stmt, idx, text, (int)len, SQLITE_TRANSIENT);
}

static void
bind_flag(sqlite3_stmt *stmt, int idx, unsigned flags, unsigned bit)
{
	sqlite3_bind_int(stmt, idx, (flags & bit) != 0);
}

static int
message_insert(struct store *st, struct ingest *ig)
{
	const struct store_message_in *in = ig->in;
	const struct message *m = ig->m;
	const struct linker_result *lr = in->lr;
	sqlite3_stmt *stmt = store_stmt(st, SQL_MSG_INSERT);
	char *refs;
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, in->account);
	store_bind_text(stmt, 2, in->folder);
	store_bind_int64_or_null(stmt, 3, in->uid);
	store_bind_int64_or_null(stmt, 4, in->uidvalidity);
	store_bind_text(stmt, 5, m->msgid_synthetic ? NULL : m->message_id);
	store_bind_text(stmt, 6, m->message_id);
	sqlite3_bind_int64(stmt, 7, ig->date);
	store_bind_text(stmt, 8, m->subject);
	store_bind_text(stmt, 9, m->from.n > 0 ? m->from.v[0].addr : NULL);
	store_bind_text(stmt, 10, m->in_reply_to);
	refs = message_refs(m);
	store_bind_text(stmt, 11, refs);
	free(refs);
	bind_flag(stmt, 12, ig->flags, CLASSIFY_AUTO_REPLY);
	bind_flag(stmt, 13, ig->flags, CLASSIFY_BOUNCE);
	bind_flag(stmt, 14, ig->flags, CLASSIFY_LIST);
	bind_flag(stmt, 15, ig->flags, CLASSIFY_UNSUBSCRIBE);
	sqlite3_bind_int(stmt, 16, lr != NULL && lr->outgoing);
	bind_snippet(stmt, 17, m->excerpt);
	sqlite3_bind_int64(stmt, 18, ig->now);
	store_bind_int64_or_null(stmt, 19, lr ? lr->author : 0);
	sqlite3_bind_int(stmt, 20, lr != NULL && lr->reply);
	if ((rc = store_exec(st, stmt, "message insert")) == STORE_OK)
		ig->id = sqlite3_last_insert_rowid(st->db);
	return rc;
}

static int
message_reauthor(struct store *st, const struct ingest *ig)
{
	const struct linker_result *lr = ig->in->lr;
	sqlite3_stmt *stmt;

	if (lr == NULL || lr->author == 0)
		return STORE_OK;
	if ((stmt = store_stmt(st, SQL_MSG_REAUTHOR)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, ig->id);
	sqlite3_bind_int64(stmt, 2, lr->author);
	sqlite3_bind_int(stmt, 3, lr->reply);
	return store_exec(st, stmt, "message author");
}

/* ---- ingest: location and participants ---- */

/* Within one UIDVALIDITY a UID never changes meaning: a repeat is the
 * same copy seen again. */
static const char SQL_LOC_ADD[] =
    "INSERT INTO message_locations (account, folder, uidvalidity, uid,"
    " message_id, seen_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (account, folder, uidvalidity, uid) DO UPDATE SET"
    " message_id = excluded.message_id";
static const char SQL_PART_ADD[] =
    "INSERT INTO message_participants (message_id, address, name, role)"
    " VALUES (?1, ?2, ?3, ?4)"
    " ON CONFLICT (message_id, role, address) DO NOTHING";

static int
location_add(struct store *st, const struct ingest *ig)
{
	const struct store_message_in *in = ig->in;
	sqlite3_stmt *stmt;

	if (in->uid <= 0)
		return STORE_OK;
	if ((stmt = store_stmt(st, SQL_LOC_ADD)) == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, in->account);
	store_bind_text(stmt, 2, in->folder);
	sqlite3_bind_int64(stmt, 3, in->uidvalidity);
	sqlite3_bind_int64(stmt, 4, in->uid);
	sqlite3_bind_int64(stmt, 5, ig->id);
	sqlite3_bind_int64(stmt, 6, ig->now);
	return store_exec(st, stmt, "message location");
}

static int
participants_add(struct store *st, int64_t id,
    const struct message_addrlist *list, const char *role)
{
	sqlite3_stmt *stmt;
	int rc;

	for (size_t i = 0; i < list->n; i++) {
		if ((stmt = store_stmt(st, SQL_PART_ADD)) == NULL)
			return STORE_ERROR;
		sqlite3_bind_int64(stmt, 1, id);
		store_bind_text(stmt, 2, list->v[i].addr);
		store_bind_text(stmt, 3, list->v[i].name);
		sqlite3_bind_text(stmt, 4, role, -1, SQLITE_STATIC);
		if ((rc = store_exec(st, stmt, "participant")) != STORE_OK)
			return rc;
	}
	return STORE_OK;
}

static int
participants_add_all(struct store *st, const struct ingest *ig)
{
	const struct message *m = ig->m;
	int rc;

	if ((rc = participants_add(st, ig->id, &m->from, "from")) != STORE_OK ||
	    (rc = participants_add(st, ig->id, &m->to, "to")) != STORE_OK ||
	    (rc = participants_add(st, ig->id, &m->cc, "cc")) != STORE_OK)
		return rc;
	return participants_add(st, ig->id, &m->reply_to, "reply-to");
}

/* ---- ingest: links and reviews ---- */

/* The first rule that linked a customer to an object stays its why. */
static const char SQL_LINK_ADD[] =
    "INSERT INTO links (customer_id, object_kind, object_id, rule, detail,"
    " created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (customer_id, object_kind, object_id) DO NOTHING";
/* A candidate once reviewed (resolved) is not asked about again. */
static const char SQL_REVIEW_ADD[] =
    "INSERT INTO link_review (object_kind, object_id, customer_id, address,"
    " rule, created_at) VALUES ('message', ?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (object_kind, object_id, customer_id) DO NOTHING";

static int
link_add(struct store *st, int64_t customer_id, const char *kind,
    int64_t object_id, const char *rule, const char *detail, int64_t now)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_LINK_ADD);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_text(stmt, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, object_id);
	store_bind_text(stmt, 4, rule);
	store_bind_text(stmt, 5, detail);
	sqlite3_bind_int64(stmt, 6, now);
	return store_exec(st, stmt, "link add");
}

static bool
result_links(const struct linker_result *lr, int64_t customer_id)
{
	for (size_t i = 0; i < lr->nlinks; i++)
		if (lr->links[i].customer_id == customer_id)
			return true;
	return false;
}

static int
review_add(struct store *st, const struct ingest *ig,
    const struct linker_review *rv, int64_t customer_id)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_REVIEW_ADD);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, ig->id);
	sqlite3_bind_int64(stmt, 2, customer_id);
	store_bind_text(stmt, 3, rv->address);
	/* The linker shares one list for both: a domain has no '@'. */
	sqlite3_bind_text(stmt, 4, strchr(rv->address, '@') ? "address" :
	    "domain", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 5, ig->now);
	return store_exec(st, stmt, "review add");
}

static int
links_add_all(struct store *st, const struct ingest *ig)
{
	const struct linker_result *lr = ig->in->lr;
	int rc;

	if (lr == NULL)
		return STORE_OK;
	for (size_t i = 0; i < lr->nlinks; i++) {
		rc = link_add(st, lr->links[i].customer_id, "message", ig->id,
		    lr->links[i].rule, lr->links[i].detail, ig->now);
		if (rc != STORE_OK)
			return rc;
	}
	/* A customer this message is linked to needs no review. */
	for (size_t i = 0; i < lr->nreviews; i++) {
		for (size_t k = 0; k < lr->reviews[i].nids; k++) {
			int64_t cid = lr->reviews[i].ids[k];

			if (result_links(lr, cid))
				continue;
			if ((rc = review_add(st, ig, &lr->reviews[i], cid)) !=
			    STORE_OK)
				return rc;
		}
	}
	return STORE_OK;
}

/* ---- ingest: signals ---- */

static const char SQL_CONSENT_WITHDRAW[] =
    "UPDATE customers SET newsletter = 0, consent_at = ?2,"
    " consent_source = ?3, updated_at = ?4"
    " WHERE id = ?1 AND (consent_at IS NULL OR consent_at <= ?2)";
static const char SQL_SALE_FROM_MAIL[] =
    "SELECT 1 FROM sales WHERE customer_id = ?1 AND source = ?2";

static int
signal_bounces(struct store *st, const struct ingest *ig)
{
	const struct classify_result *cls = ig->in->cls;
	struct strbuf why;
	int rc = STORE_OK;

	strbuf_init(&why, 0);
	for (size_t i = 0; i < cls->nbounces && rc == STORE_OK; i++) {
		const struct classify_bounce *b = &cls->bounces[i];

		strbuf_reset(&why);
		strbuf_adds(&why, "bounce:");
		if (b->status && *b->status)
			strbuf_addf(&why, " %s", b->status);
		if (b->reason && *b->reason)
			strbuf_addf(&why, " %s", b->reason);
		strbuf_addf(&why, " (%s)", ig->m->message_id);
		rc = store_suppression_add(st, b->addr, strbuf_str(&why),
		    ig->date ? ig->date : ig->now);
	}
	strbuf_free(&why);
	return rc;
}

static int
signal_unsubscribe(struct store *st, const struct ingest *ig,
    const char *source)
{
	const struct linker_result *lr = ig->in->lr;
	sqlite3_stmt *stmt;

	if (lr == NULL || lr->outgoing || lr->author == 0)
		return STORE_OK;
	if ((stmt = store_stmt(st, SQL_CONSENT_WITHDRAW)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, lr->author);
	sqlite3_bind_int64(stmt, 2, ig->date);
	sqlite3_bind_text(stmt, 3, source, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 4, ig->now);
	return store_exec(st, stmt, "consent withdraw");
}

/* The buyer: the author, else the one customer the message concerns. */
static int64_t
sale_customer(const struct linker_result *lr)
{
	int64_t only = 0;

	if (lr == NULL)
		return 0;
	if (lr->author != 0)
		return lr->author;
	for (size_t i = 0; i < lr->nlinks; i++) {
		if (only != 0 && lr->links[i].customer_id != only)
			return 0;
		only = lr->links[i].customer_id;
	}
	return only;
}

static int
signal_sale(struct store *st, const struct ingest *ig, const char *source)
{
	const struct store_message_in *in = ig->in;
	int64_t cid = sale_customer(in->lr);
	const char *product = in->sale_product;
	sqlite3_stmt *stmt;
	int rc;

	if (cid == 0)
		return STORE_OK;
	if ((stmt = store_stmt(st, SQL_SALE_FROM_MAIL)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, cid);
	sqlite3_bind_text(stmt, 2, source, -1, SQLITE_TRANSIENT);
	rc = store_step(st, stmt, "sale find");
	if (rc == STORE_OK)
		sqlite3_reset(stmt);
	if (rc != STORE_NOTFOUND)
		return rc;	/* recorded already, or an error */
	if (product == NULL || *product == '\0')
		product = ig->m->subject;
	if (product == NULL || *product == '\0')
		product = in->cls->sale_rule_name;
	if (product == NULL || *product == '\0')
		product = "sale";
	return store_sale_add(st, cid, product, ig->date, source, NULL);
}

static int
signals_apply(struct store *st, const struct ingest *ig)
{
	char *source = NULL;
	int rc = STORE_OK;

	if (ig->in->cls == NULL)
		return STORE_OK;
	xasprintf(&source, "mail:%s", ig->m->message_id);
	if (ig->flags & CLASSIFY_BOUNCE)
		rc = signal_bounces(st, ig);
	if (rc == STORE_OK && (ig->flags & CLASSIFY_UNSUBSCRIBE))
		rc = signal_unsubscribe(st, ig, source);
	if (rc == STORE_OK && (ig->flags & CLASSIFY_SALE))
		rc = signal_sale(st, ig, source);
	free(source);
	return rc;
}

/* ---- ingest ---- */

static int
ingest_check(struct store *st, const struct store_message_in *in)
{
	if (in == NULL || in->msg == NULL || in->msg->message_id == NULL ||
	    in->account == NULL || in->folder == NULL) {
		store_set_error(st, "message ingest: account, folder and a "
		    "parsed message are required");
		return STORE_ERROR;
	}
	return STORE_OK;
}

static int
ingest_run(struct store *st, struct ingest *ig, bool *is_new)
{
	int rc = message_find(st, ig->m->message_id, &ig->id);

	if (rc == STORE_OK) {
		*is_new = false;
		rc = message_reauthor(st, ig);
	} else if (rc == STORE_NOTFOUND) {
		*is_new = true;
		if ((rc = message_insert(st, ig)) == STORE_OK)
			rc = participants_add_all(st, ig);
	}
	if (rc == STORE_OK)
		rc = location_add(st, ig);
	if (rc == STORE_OK)
		rc = links_add_all(st, ig);
	if (rc == STORE_OK && *is_new)
		rc = signals_apply(st, ig);
	return rc;
}

int
store_message_ingest(struct store *st, const struct store_message_in *in,
    int64_t *message_id, bool *is_new)
{
	struct ingest ig;
	struct store_tx tx;
	bool fresh = false;
	int rc;

	if ((rc = ingest_check(st, in)) != STORE_OK)
		return rc;
	memset(&ig, 0, sizeof(ig));
	ig.in = in;
	ig.m = in->msg;
	ig.flags = in->cls ? in->cls->flags : 0;
	ig.date = ig.m->date != 0 ? ig.m->date : in->internaldate;
	ig.now = clock_now();
	if (in->batch_rollback && !sqlite3_get_autocommit(st->db))
		rc = ingest_run(st, &ig, &fresh);
	else if ((rc = store_tx_enter(st, &tx)) == STORE_OK)
		rc = store_tx_leave(st, &tx, ingest_run(st, &ig, &fresh));
	if (rc != STORE_OK)
		return rc;
	if (message_id)
		*message_id = ig.id;
	if (is_new)
		*is_new = fresh;
	return STORE_OK;
}

/* ---- locations ---- */

static const char SQL_LOC_DELETE[] =
    "DELETE FROM message_locations WHERE account = ?1 AND folder = ?2"
    " AND uidvalidity = ?3 AND uid = ?4";
/* The first-seen columns have no index of their own (schema v9): the
 * rows are found through the locations, so these run before the
 * locations go. */
static const char SQL_FIRST_SEEN_CLEAR[] =
    "UPDATE messages SET uid = NULL, uidvalidity = NULL"
    " WHERE id IN (SELECT message_id FROM message_locations"
    "  WHERE account = ?1 AND folder = ?2 AND uidvalidity = ?3"
    "  AND uid = ?4)"
    " AND account = ?1 AND folder = ?2 AND uidvalidity = ?3 AND uid = ?4";
static const char SQL_LOC_DELETE_OTHER[] =
    "DELETE FROM message_locations WHERE account = ?1 AND folder = ?2"
    " AND uidvalidity <> ?3";
static const char SQL_FIRST_SEEN_CLEAR_OTHER[] =
    "UPDATE messages SET uid = NULL, uidvalidity = NULL"
    " WHERE id IN (SELECT message_id FROM message_locations"
    "  WHERE account = ?1 AND folder = ?2 AND uidvalidity <> ?3)"
    " AND account = ?1 AND folder = ?2 AND uidvalidity <> ?3";
static const char SQL_LOC_COUNT[] =
    "SELECT count(*) FROM message_locations WHERE account = ?1"
    " AND folder = ?2 AND uidvalidity = ?3";
static const char SQL_LOC_HAS[] =
    "SELECT 1 FROM message_locations WHERE account = ?1 AND folder = ?2"
    " AND uidvalidity = ?3 AND uid = ?4";

/* Runs sql bound with (account, folder, uidvalidity[, uid]); *changes
 * (may be NULL) gets the rows it touched. */
static int
location_exec(struct store *st, const char *sql, const char *account,
    const char *folder, int64_t uidvalidity, int64_t uid, int64_t *changes)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, folder);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	if (sqlite3_bind_parameter_count(stmt) >= 4)
		sqlite3_bind_int64(stmt, 4, uid);
	rc = store_exec(st, stmt, "message location");
	if (rc == STORE_OK && changes)
		*changes = sqlite3_changes(st->db);
	return rc;
}

int
store_message_forget_uid(struct store *st, const char *account,
    const char *folder, int64_t uidvalidity, int64_t uid)
{
	struct store_tx tx;
	int64_t n = 0;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	/* The first-seen columns must not point at a UID that is gone. */
	rc = location_exec(st, SQL_FIRST_SEEN_CLEAR, account, folder,
	    uidvalidity, uid, NULL);
	if (rc == STORE_OK)
		rc = location_exec(st, SQL_LOC_DELETE, account, folder,
		    uidvalidity, uid, &n);
	if ((rc = store_tx_leave(st, &tx, rc)) != STORE_OK)
		return rc;
	if (n == 0) {
		store_set_error(st, "account=%s folder=%s uid=%lld: not stored",
		    account, folder, (long long)uid);
		return STORE_NOTFOUND;
	}
	return STORE_OK;
}

int
store_message_forget_folder(struct store *st, const char *account,
    const char *folder, int64_t keep_uidvalidity, int64_t *n)
{
	struct store_tx tx;
	int64_t count = 0;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	rc = location_exec(st, SQL_FIRST_SEEN_CLEAR_OTHER, account, folder,
	    keep_uidvalidity, 0, NULL);
	if (rc == STORE_OK)
		rc = location_exec(st, SQL_LOC_DELETE_OTHER, account, folder,
		    keep_uidvalidity, 0, &count);
	rc = store_tx_leave(st, &tx, rc);
	if (rc == STORE_OK && n)
		*n = count;
	return rc;
}

int
store_message_count_located(struct store *st, const char *account,
    const char *folder, int64_t uidvalidity, int64_t *n)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_LOC_COUNT);
	int rc;

	*n = 0;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, folder);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	if ((rc = store_step(st, stmt, "located count")) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	*n = sqlite3_column_int64(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_message_has_uid(struct store *st, const char *account,
    const char *folder, int64_t uidvalidity, int64_t uid, bool *has)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_LOC_HAS);
	int rc;

	*has = false;
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, account);
	store_bind_text(stmt, 2, folder);
	sqlite3_bind_int64(stmt, 3, uidvalidity);
	sqlite3_bind_int64(stmt, 4, uid);
	rc = store_step(st, stmt, "message location");
	if (rc == STORE_OK) {
		*has = true;
		sqlite3_reset(stmt);
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ---- reads ---- */

/* is_reply already excludes outgoing, automatic and bounced mail; the
 * flags are checked again so a wrong verdict cannot stop a follow-up. */
static const char SQL_REPLIED_SINCE[] =
    "SELECT EXISTS (SELECT 1 FROM messages m"
    " WHERE m.author_id = ?1 AND m.date >= ?2 AND m.is_reply = 1"
    " AND m.outgoing = 0 AND m.is_auto_reply = 0 AND m.is_bounce = 0"
    " AND EXISTS (SELECT 1 FROM links l WHERE l.object_kind = 'message'"
    "  AND l.object_id = m.id AND l.customer_id = ?1))";
static const char SQL_LAST_CONTACT[] =
    "SELECT date, title FROM ("
    " SELECT m.date AS date, m.subject AS title, 0 AS k, m.id AS id"
    " FROM links l JOIN messages m ON m.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'message'"
    " AND m.is_auto_reply = 0 AND m.is_bounce = 0 AND m.date <= ?2"
    " UNION ALL"
    " SELECT e.start_at, e.summary, 1, e.id"
    " FROM links l JOIN events e ON e.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'event'"
    " AND e.cancelled = 0 AND e.start_at <= ?2)"
    " ORDER BY date DESC, k, id DESC LIMIT 1";

int
store_customer_replied_since(struct store *st, int64_t customer_id,
    int64_t since, bool *replied)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_REPLIED_SINCE);
	int rc;

	*replied = false;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_int64(stmt, 2, since);
	if ((rc = store_step(st, stmt, "replied since")) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_ERROR : rc;
	*replied = sqlite3_column_int(stmt, 0) != 0;
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_last_contact(struct store *st, int64_t customer_id, int64_t *at,
    char **subject)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_LAST_CONTACT);
	int rc;

	*at = 0;
	if (subject)
		*subject = NULL;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_int64(stmt, 2, clock_now());
	if ((rc = store_step(st, stmt, "last contact")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "customer %lld: no contact yet",
			    (long long)customer_id);
		return rc;
	}
	*at = sqlite3_column_int64(stmt, 0);
	if (subject)
		*subject = store_column_strdup(stmt, 1);
	sqlite3_reset(stmt);
	return STORE_OK;
}

/* ---- timeline ---- */

static const char SQL_TIMELINE[] =
    "SELECT 'message', m.id, m.date, 0, m.subject, m.message_id,"
    " m.dedupe_key, CASE m.outgoing WHEN 1 THEN 'out' ELSE 'in' END,"
    " m.from_addr, NULL, NULL, m.is_auto_reply, m.is_bounce,"
    " m.is_reply AND m.author_id IS l.customer_id, l.rule, l.detail,"
    " coalesce((SELECT group_concat(DISTINCT ml.folder)"
    "  FROM message_locations ml WHERE ml.message_id = m.id), m.folder)"
    " FROM links l JOIN messages m ON m.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'message'"
    " UNION ALL"
    " SELECT 'event', e.id, e.start_at, e.end_at, e.summary, e.uid, e.uid,"
    " NULL, e.organizer, e.location, e.status, 0, 0, 0, l.rule, l.detail,"
    " NULL"
    " FROM links l JOIN events e ON e.id = l.object_id"
    " WHERE l.customer_id = ?1 AND l.object_kind = 'event'"
    " ORDER BY 3, 1, 2";

static const char *
column_text(sqlite3_stmt *stmt, int col)
{
	return (const char *)sqlite3_column_text(stmt, col);
}

static void
timeline_from_row(sqlite3_stmt *stmt, struct store_timeline_item *it)
{
	it->kind = column_text(stmt, 0);
	it->id = sqlite3_column_int64(stmt, 1);
	it->date = sqlite3_column_int64(stmt, 2);
	it->end = sqlite3_column_int64(stmt, 3);
	it->title = column_text(stmt, 4);
	it->ref = column_text(stmt, 5);
	it->key = column_text(stmt, 6);
	it->direction = column_text(stmt, 7);
	it->from = column_text(stmt, 8);
	it->location = column_text(stmt, 9);
	it->status = column_text(stmt, 10);
	it->auto_reply = sqlite3_column_int(stmt, 11) != 0;
	it->bounce = sqlite3_column_int(stmt, 12) != 0;
	it->reply = sqlite3_column_int(stmt, 13) != 0;
	it->rule = column_text(stmt, 14);
	it->detail = column_text(stmt, 15);
	it->folder = column_text(stmt, 16);
}

int
store_timeline_foreach(struct store *st, int64_t customer_id,
    int (*fn)(void *ctx, const struct store_timeline_item *it), void *ctx)
{
	struct store_timeline_item it;
	sqlite3_stmt *stmt;
	int rc;

	if ((rc = store_customer_exists(st, customer_id)) != STORE_OK)
		return rc;
	if ((stmt = store_stmt(st, SQL_TIMELINE)) == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, customer_id);
	while ((rc = store_step(st, stmt, "timeline")) == STORE_OK) {
		timeline_from_row(stmt, &it);
		if (fn(ctx, &it) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ---- the review list ---- */

static const char SQL_REVIEW_OPEN[] =
    "SELECT r.id, r.object_kind, r.object_id, r.customer_id, c.name,"
    " r.address, r.rule, r.created_at,"
    " coalesce(m.date, e.start_at, 0),"
    " CASE r.object_kind WHEN 'message' THEN m.subject ELSE e.summary END,"
    " coalesce(m.dedupe_key, e.uid)"
    " FROM link_review r JOIN customers c ON c.id = r.customer_id"
    " LEFT JOIN messages m ON r.object_kind = 'message'"
    "  AND m.id = r.object_id"
    " LEFT JOIN events e ON r.object_kind = 'event' AND e.id = r.object_id"
    " WHERE r.resolved_at IS NULL"
    " ORDER BY r.created_at, r.object_kind, r.object_id, r.id";
static const char SQL_REVIEW_GET[] =
    "SELECT object_kind, object_id, customer_id, address FROM link_review"
    " WHERE id = ?1 AND resolved_at IS NULL";
static const char SQL_REVIEW_CLOSE_ONE[] =
    "UPDATE link_review SET resolved_at = ?2 WHERE id = ?1";
static const char SQL_REVIEW_CLOSE_SAME[] =
    "UPDATE link_review SET resolved_at = ?4 WHERE object_kind = ?1"
    " AND object_id = ?2 AND address IS ?3 AND resolved_at IS NULL";

static void
review_from_row(sqlite3_stmt *stmt, struct store_review_item *it)
{
	it->id = sqlite3_column_int64(stmt, 0);
	it->object_kind = column_text(stmt, 1);
	it->object_id = sqlite3_column_int64(stmt, 2);
	it->customer_id = sqlite3_column_int64(stmt, 3);
	it->customer_name = column_text(stmt, 4);
	it->address = column_text(stmt, 5);
	it->rule = column_text(stmt, 6);
	it->created_at = sqlite3_column_int64(stmt, 7);
	it->date = sqlite3_column_int64(stmt, 8);
	it->title = column_text(stmt, 9);
	it->ref = column_text(stmt, 10);
}

int
store_review_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_review_item *it), void *ctx)
{
	struct store_review_item it;
	sqlite3_stmt *stmt = store_stmt(st, SQL_REVIEW_OPEN);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "review list")) == STORE_OK) {
		review_from_row(stmt, &it);
		if (fn(ctx, &it) != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

struct review_row {
	char	*kind;
	int64_t	 object_id;
	int64_t	 customer_id;
	char	*address;
};

static int
review_get(struct store *st, int64_t id, struct review_row *r)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_REVIEW_GET);
	int rc;

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	if ((rc = store_step(st, stmt, "review get")) != STORE_OK) {
		if (rc == STORE_NOTFOUND)
			store_set_error(st, "review %lld: no such open review",
			    (long long)id);
		return rc;
	}
	r->kind = store_column_strdup(stmt, 0);
	r->object_id = sqlite3_column_int64(stmt, 1);
	r->customer_id = sqlite3_column_int64(stmt, 2);
	r->address = store_column_strdup(stmt, 3);
	sqlite3_reset(stmt);
	return STORE_OK;
}

static int
review_close_same(struct store *st, const struct review_row *r, int64_t now)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_REVIEW_CLOSE_SAME);

	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 1, r->kind);
	sqlite3_bind_int64(stmt, 2, r->object_id);
	store_bind_text(stmt, 3, r->address);
	sqlite3_bind_int64(stmt, 4, now);
	return store_exec(st, stmt, "review resolve");
}

static int
review_close_one(struct store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_REVIEW_CLOSE_ONE);

	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_int64(stmt, 1, id);
	sqlite3_bind_int64(stmt, 2, now);
	return store_exec(st, stmt, "review dismiss");
}

int
store_review_resolve(struct store *st, int64_t id, bool link)
{
	struct review_row r = { NULL, 0, 0, NULL };
	struct store_tx tx;
	int64_t now = clock_now();
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	if ((rc = review_get(st, id, &r)) == STORE_OK) {
		if (link) {
			rc = link_add(st, r.customer_id,
			    strcmp(r.kind, "event") == 0 ? "event" : "message",
			    r.object_id, "manual", r.address, now);
			if (rc == STORE_OK)
				rc = review_close_same(st, &r, now);
		} else
			rc = review_close_one(st, id, now);
	}
	free(r.kind);
	free(r.address);
	return store_tx_leave(st, &tx, rc);
}

/* ---- unknown correspondents ---- */

/* A participant's address +tag-folded as address_normalize() folds it:
 * at the first '+' of the local part, unless the part starts with it. */
#define SQL_FOLD(a)							\
    "CASE WHEN instr(" a ", '+') BETWEEN 2 AND instr(" a ", '@')"	\
    " THEN substr(" a ", 1, instr(" a ", '+') - 1)"			\
    " || substr(" a ", instr(" a ", '@')) ELSE " a " END"

/* ?2 the address; ?4/?5 bound the "local+" range of its tagged forms
 * (',' follows '+'), NULL when the address is not a folded one. */
#define SQL_MATCH(a)							\
    "(" a " = ?2 OR (" a " > ?4 AND " a " < ?5"			\
    " AND " SQL_FOLD(a) " = ?2))"

/* The strongest role wins, as in the linker; an existing link stays.
 * (WHERE 1: an upsert after a SELECT needs one to parse.) */
static const char SQL_LINK_ADDRESS[] =
    "INSERT INTO links (customer_id, object_kind, object_id, rule, detail,"
    " created_at)"
    " SELECT ?1, 'message', message_id, 'address:' || role, 'retroactive',"
    " ?3 FROM (SELECT p.message_id AS message_id, p.role AS role,"
    "  min(CASE p.role WHEN 'from' THEN 0 WHEN 'reply-to' THEN 1"
    "   WHEN 'to' THEN 2 WHEN 'cc' THEN 3 ELSE 4 END)"
    "  FROM message_participants p"
    "  WHERE " SQL_MATCH("p.address")
    "  AND p.role IN ('from', 'reply-to', 'to', 'cc')"
    "  GROUP BY p.message_id)"
    " WHERE 1"
    " ON CONFLICT (customer_id, object_kind, object_id) DO NOTHING";
/* The linker's author: the From, else the Reply-To, of incoming mail;
 * a reply unless automatic or a bounce.  (The unary + keeps SQLite from
 * scanning every authorless message through messages_by_author: the
 * address's few messages come first.) */
static const char SQL_AUTHOR_ADDRESS[] =
    "UPDATE messages SET author_id = ?1,"
    " is_reply = (is_auto_reply = 0 AND is_bounce = 0)"
    " WHERE id IN (SELECT p.message_id FROM message_participants p"
    "  WHERE " SQL_MATCH("p.address")
    "  AND p.role IN ('from', 'reply-to'))"
    " AND +author_id IS NULL AND outgoing = 0";

static const char SQL_UNMATCHED[] =
    "SELECT p.address, count(DISTINCT p.message_id) AS n, min(m.date),"
    " max(m.date) AS last"
    " FROM message_participants p JOIN messages m ON m.id = p.message_id"
    " WHERE m.is_list = 0 AND m.is_bounce = 0"
    " AND NOT EXISTS (SELECT 1 FROM customer_emails e"
    "  WHERE e.address IN (p.address, " SQL_FOLD("p.address") "))"
    " GROUP BY p.address ORDER BY n DESC, last DESC, p.address";
/* Per listed address only, so the sample costs nothing for the rest. */
static const char SQL_UNMATCHED_SAMPLE[] =
    "SELECT (SELECT m.subject FROM message_participants p"
    "  JOIN messages m ON m.id = p.message_id WHERE p.address = ?1"
    "  AND m.is_list = 0 AND m.is_bounce = 0"
    "  ORDER BY m.date DESC, m.id DESC LIMIT 1),"
    " (SELECT p.name FROM message_participants p"
    "  JOIN messages m ON m.id = p.message_id WHERE p.address = ?1"
    "  AND p.name IS NOT NULL AND p.name <> ''"
    "  ORDER BY m.date DESC, m.id DESC LIMIT 1)";

/* Binds ?1 customer, ?2 address, ?3 now and the tagged range ?4/?5. */
static void
bind_address_match(sqlite3_stmt *stmt, int64_t customer_id, const char *addr,
    int64_t now)
{
	const char *at = strchr(addr, '@');
	size_t local = at ? (size_t)(at - addr) : 0;
	char *lo, *hi;

	sqlite3_bind_int64(stmt, 1, customer_id);
	sqlite3_bind_text(stmt, 2, addr, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(stmt, 3, now);
	if (local == 0 || memchr(addr, '+', local) != NULL)
		return;		/* ?4/?5 stay NULL: exact matches only */
	xasprintf(&lo, "%.*s+", (int)local, addr);
	xasprintf(&hi, "%.*s,", (int)local, addr);
	sqlite3_bind_text(stmt, 4, lo, -1, free);
	sqlite3_bind_text(stmt, 5, hi, -1, free);
}

static int
link_address_run(struct store *st, int64_t customer_id, const char *addr,
    int64_t *n)
{
	int64_t now = clock_now();
	sqlite3_stmt *stmt;
	int rc;

	if ((stmt = store_stmt(st, SQL_LINK_ADDRESS)) == NULL)
		return STORE_ERROR;
	bind_address_match(stmt, customer_id, addr, now);
	if ((rc = store_exec(st, stmt, "retroactive link")) != STORE_OK)
		return rc;
	*n = sqlite3_changes(st->db);
	if ((stmt = store_stmt(st, SQL_AUTHOR_ADDRESS)) == NULL)
		return STORE_ERROR;
	bind_address_match(stmt, customer_id, addr, now);
	return store_exec(st, stmt, "retroactive author");
}

int
store_message_link_address(struct store *st, int64_t customer_id,
    const char *addr, int64_t *n)
{
	struct store_tx tx;
	int64_t count = 0;
	int rc;

	if ((rc = store_tx_enter(st, &tx)) != STORE_OK)
		return rc;
	rc = store_tx_leave(st, &tx,
	    link_address_run(st, customer_id, addr, &count));
	if (rc == STORE_OK && n)
		*n = count;
	if (rc == STORE_OK && count > 0)
		log_debug("store: %lld earlier messages linked to customer "
		    "%lld by %s", (long long)count, (long long)customer_id,
		    addr);
	return rc;
}

static int
unmatched_sample(struct store *st, struct store_unmatched_item *it,
    char **subject, char **name)
{
	sqlite3_stmt *stmt = store_stmt(st, SQL_UNMATCHED_SAMPLE);
	int rc;

	*subject = *name = NULL;
	if (stmt == NULL)
		return STORE_ERROR;
	sqlite3_bind_text(stmt, 1, it->address, -1, SQLITE_TRANSIENT);
	if ((rc = store_step(st, stmt, "unmatched sample")) != STORE_OK)
		return rc == STORE_NOTFOUND ? STORE_OK : rc;
	*subject = store_column_strdup(stmt, 0);
	*name = store_column_strdup(stmt, 1);
	sqlite3_reset(stmt);
	it->subject = *subject;
	it->name = *name;
	return STORE_OK;
}

int
store_unmatched_foreach(struct store *st,
    int (*fn)(void *ctx, const struct store_unmatched_item *it), void *ctx)
{
	struct store_unmatched_item it;
	sqlite3_stmt *stmt = store_stmt(st, SQL_UNMATCHED);
	char *subject, *name;
	int rc, stop;

	if (stmt == NULL)
		return STORE_ERROR;
	while ((rc = store_step(st, stmt, "unmatched")) == STORE_OK) {
		memset(&it, 0, sizeof(it));
		it.address = column_text(stmt, 0);
		it.count = sqlite3_column_int64(stmt, 1);
		it.first_seen = sqlite3_column_int64(stmt, 2);
		it.last_seen = sqlite3_column_int64(stmt, 3);
		if ((rc = unmatched_sample(st, &it, &subject, &name)) !=
		    STORE_OK) {
			sqlite3_reset(stmt);
			return rc;
		}
		stop = fn(ctx, &it);
		free(subject);
		free(name);
		if (stop != 0) {
			sqlite3_reset(stmt);
			return STORE_OK;
		}
	}
	return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* ---- connector cursors ---- */

static const char SQL_CURSOR_GET[] =
    "SELECT value FROM cursors WHERE connector = ?1 AND account = ?2"
    " AND collection = ?3 AND key = ?4";
static const char SQL_CURSOR_SET[] =
    "INSERT INTO cursors (connector, account, collection, key, value,"
    " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (connector, account, collection, key) DO UPDATE SET"
    " value = excluded.value, updated_at = excluded.updated_at";
static const char SQL_CURSOR_CLEAR[] =
    "DELETE FROM cursors WHERE connector = ?1 AND account = ?2"
    " AND collection = ?3";

static sqlite3_stmt *
cursor_stmt(struct store *st, const char *sql, const char *connector,
    const char *account, const char *collection)
{
	sqlite3_stmt *stmt = store_stmt(st, sql);

	if (stmt == NULL)
		return NULL;
	store_bind_text(stmt, 1, connector);
	store_bind_text(stmt, 2, account);
	sqlite3_bind_text(stmt, 3, collection ? collection : "", -1,
	    SQLITE_TRANSIENT);
	return stmt;
}

int
store_cursor_get(struct store *st, const char *connector,
    const char *account, const char *collection, const char *key,
    char **value)
{
	sqlite3_stmt *stmt;
	int rc;

	*value = NULL;
	stmt = cursor_stmt(st, SQL_CURSOR_GET, connector, account, collection);
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 4, key);
	if ((rc = store_step(st, stmt, "cursor get")) != STORE_OK)
		return rc;
	*value = store_column_strdup(stmt, 0);
	sqlite3_reset(stmt);
	return STORE_OK;
}

int
store_cursor_set(struct store *st, const char *connector,
    const char *account, const char *collection, const char *key,
    const char *value)
{
	sqlite3_stmt *stmt;

	stmt = cursor_stmt(st, SQL_CURSOR_SET, connector, account, collection);
	if (stmt == NULL)
		return STORE_ERROR;
	store_bind_text(stmt, 4, key);
	store_bind_text(stmt, 5, value);
	sqlite3_bind_int64(stmt, 6, clock_now());
	return store_exec(st, stmt, "cursor set");
}

int
store_cursor_clear(struct store *st, const char *connector,
    const char *account, const char *collection)
{
	sqlite3_stmt *stmt;

	stmt = cursor_stmt(st, SQL_CURSOR_CLEAR, connector, account,
	    collection);
	if (stmt == NULL)
		return STORE_ERROR;
	return store_exec(st, stmt, "cursor clear");
}
