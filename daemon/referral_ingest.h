/*
 * Referral detection on what the connectors store: the glue between the
 * pure rules (referral_detect.h) and the store (store_referral.h).  The
 * rules reach the store through a lookup built here; each candidate they
 * find is recorded with its rule and evidence, strong ones confirmed at
 * once when REFERRAL_AUTO_CONFIRM_STRONG, weak ones left for
 * `rapportctl referral pending`.
 *
 * Both calls run inside the connector's open batch transaction, on the
 * connector's own store connection.  A failure is logged and undone (each
 * store_* write is a savepoint of its own): referral detection never
 * makes an ingest fail.
 */
#ifndef RAPPORT_REFERRAL_INGEST_H
#define RAPPORT_REFERRAL_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "linker.h"
#include "store.h"
#include "store_message.h"

/*
 * Strong rules confirm a referral without a person.  A constant until the
 * configuration has a [referral] section to say otherwise.
 */
#define REFERRAL_AUTO_CONFIRM_STRONG	true

/*
 * One connection's detector: the rules' configuration ([link] own_domains,
 * free_mail, company_by_domain) copied once instead of for every message.
 * It holds nothing from the store: customers, names and history are
 * looked up on st for each message, so a customer added during a long
 * sync (a referral confirmed, `rapportctl customer add`) is seen by the
 * next message.  st, cfg and lk must outlive it; build it where the
 * connector builds its linker and free it with that linker.
 */
struct referral_ingest;

struct referral_ingest *referral_ingest_new(struct store *st,
    const struct config *cfg, const struct linker *lk);
void referral_ingest_free(struct referral_ingest *ri);

/*
 * Looks at a message store_message_ingest() has just stored from in
 * (in->msg, in->cls, in->lr); is_new is what it answered: a message seen
 * before was looked at then.  in->lr is what ri's linker made of it.
 * Returns how many candidates were recorded (pending or confirmed), -1
 * after a logged error.
 */
int referral_ingest_message(struct referral_ingest *ri,
    const struct store_message_in *in, bool is_new);

/*
 * The meeting rule on a calendar resource store_event_put() has just
 * stored under (account, calendar): its earliest occurrence that is
 * neither cancelled nor one of rapport's own proposals stands for the
 * series.  History is what came before that occurrence's start.  Returns
 * as above.
 */
int referral_ingest_events(struct referral_ingest *ri, const char *account,
    const char *calendar, const struct event_list *list);

#endif
