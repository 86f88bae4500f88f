/*
 * A small streaming JSON writer for --json output: one document on stdout.
 * Strings are escaped per RFC 8259; invalid UTF-8 becomes U+FFFD so the
 * output always parses.
 */
#ifndef RAPPORT_JSON_H
#define RAPPORT_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 32

struct json {
	FILE	*fp;
	int	 depth;
	bool	 first[JSON_MAX_DEPTH];	/* no member written yet at this level */
	bool	 after_key;
	bool	 pretty;
};

void json_init(struct json *j, FILE *fp, bool pretty);
void json_object_begin(struct json *j);
void json_object_end(struct json *j);
void json_array_begin(struct json *j);
void json_array_end(struct json *j);
/* Inside an object: the member name; the value call follows. */
void json_key(struct json *j, const char *key);
void json_string(struct json *j, const char *s);	/* NULL writes null */
void json_int(struct json *j, int64_t v);
void json_bool(struct json *j, bool v);
void json_null(struct json *j);
/* Shorthands for key + value. */
void json_kv_string(struct json *j, const char *key, const char *s);
void json_kv_int(struct json *j, const char *key, int64_t v);
void json_kv_bool(struct json *j, const char *key, bool v);
/* Ends the document with a newline. */
void json_finish(struct json *j);
/* Escapes s into fp as a quoted JSON string. */
void json_write_string(FILE *fp, const char *s);

#endif
