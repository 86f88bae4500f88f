/*
 * The IMAP connector: one thread per [imap "NAME"] account keeps that
 * account's folders ingested.  Per folder it keeps a cursor in the store
 * (UIDVALIDITY, the last UID ingested, HIGHESTMODSEQ), fetches the header
 * fields of new UIDs in batches, reads the first text of only those
 * messages a rule needs (possible bounces and unsubscribes, first messages
 * of new correspondents, possible introductions), classifies and links
 * each message, and commits a batch's messages, links, signals and the
 * cursor in one transaction: a crash never loses or doubles a message.
 *
 * Read-only by construction: imap_session sends EXAMINE and BODY.PEEK only.
 * After the first pass the thread IDLEs on the first of idle_folders
 * (renewed every poll seconds, at most 28 minutes, which also re-syncs the
 * other folders), or polls every `poll` seconds without IDLE.
 *
 * Cursor keys in the store: ("imap", ACCOUNT, FOLDER, "uidvalidity" |
 * "uid" | "modseq"), decimal strings.  Progress: status row
 * "imap.ACCOUNT" ("FOLDER: n of total").
 */
#ifndef RAPPORT_IMAP_H
#define RAPPORT_IMAP_H

#include "connector.h"

extern const struct connector_ops imap_connector;

#endif
