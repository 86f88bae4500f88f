/*
 * An RFC 4180 CSV reader, for customer imports: quoted fields with doubled
 * quotes, CRLF or LF (or a lone CR) line ends, line breaks inside quoted
 * fields, a UTF-8 byte order mark at the start tolerated, no trailing line
 * break needed.  Entirely blank lines are skipped.
 *
 * Damage confined to one record (invalid UTF-8, a NUL byte, a stray quote,
 * an unterminated quoted field) does not stop the reader: the record comes
 * back with csv.bad set, so an importer can name FILE:LINE and go on with
 * the next one.  Only a read error or a record above the size limit ends
 * the input (CSV_ERROR).
 *
 * The fields belong to the reader and are valid until the next csv_read().
 */
#ifndef RAPPORT_CSV_H
#define RAPPORT_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "strbuf.h"

#define CSV_MAX_RECORD	(1024 * 1024)	/* bytes of field data per record */

enum {
	CSV_EOF = 0,
	CSV_RECORD = 1,
	CSV_ERROR = -1,
};

struct csv {
	FILE		*fp;
	unsigned char	 buf[65536];
	size_t		 pos, len;
	bool		 eof;
	bool		 started;	/* the BOM check is done */
	unsigned long	 next_line;	/* the line of the next byte */

	/* The record just read. */
	unsigned long	 line;		/* its first line */
	char		**fields;
	size_t		 n_fields;
	const char	*bad;		/* NULL, or why the record is damaged */

	struct strbuf	 data;		/* the fields, each NUL-terminated */
	size_t		*offs;
	size_t		 cap_fields;
	char		 badmsg[64];
	char		 err[128];	/* after CSV_ERROR */
};

/* fp stays the caller's: csv_free() does not close it. */
void csv_init(struct csv *c, FILE *fp);
/* CSV_RECORD, CSV_EOF, or CSV_ERROR with a message in c->err. */
int csv_read(struct csv *c);
void csv_free(struct csv *c);

/* Whether s is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
bool csv_utf8_valid(const char *s, size_t len);

#endif
