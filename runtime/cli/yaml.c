/*
 * yaml.c - a small YAML emitter over jansson values (see yaml.h). Objects
 * keep jansson's insertion order, so a manifest reads in the order it was
 * built (apiVersion, kind, metadata, spec).
 */
#include <string.h>
#include <strings.h>

#include "cli/yaml.h"

static void indent(FILE *f, int n)
{
	for (int i = 0; i < n; i++)
		fputc(' ', f);
}

void cli_yaml_quoted(FILE *f, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + len;

	fputc('"', f);
	for (; p < end; p++) {
		unsigned char c = *p;

		switch (c) {
		case '"': fputs("\\\"", f); continue;
		case '\\': fputs("\\\\", f); continue;
		case '\n': fputs("\\n", f); continue;
		case '\t': fputs("\\t", f); continue;
		case '\r': fputs("\\r", f); continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\x%02x", c);
			continue;
		}
		/* NEL, LS, PS and the BOM are line breaks (or noise) to YAML 1.1 */
		if (c == 0xc2 && p + 1 < end && p[1] == 0x85) {
			fputs("\\N", f);
			p++;
			continue;
		}
		if (c == 0xe2 && p + 2 < end && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) {
			fputs(p[2] == 0xa8 ? "\\L" : "\\P", f);
			p += 2;
			continue;
		}
		if (c == 0xef && p + 2 < end && p[1] == 0xbb && p[2] == 0xbf) {
			fputs("\\ufeff", f);
			p += 2;
			continue;
		}
		fputc(c, f);
	}
	fputc('"', f);
}

/*
 * Whether s can be a literal block scalar and read back the same: several
 * lines of printable text, no line that is only blanks (a literal block
 * would read it as an empty line), not starting with a blank (that would
 * need an indentation indicator), no tab or carriage return.
 */
static int literal_ok(const char *s, size_t len)
{
	size_t i, line = 0;
	int blank_only = 1;

	if (!memchr(s, '\n', len) || len == 0 || s[0] == ' ' || s[0] == '\n')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '\n') {
			if (line > 0 && blank_only)
				return 0;
			line = 0;
			blank_only = 1;
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == 0xc2 || c == 0xe2 || c == 0xef)
			return 0; /* control characters, and bytes that may start NEL/LS/PS/BOM */
		if (c != ' ')
			blank_only = 0;
		line++;
	}
	return !(line > 0 && blank_only);
}

static void literal(FILE *f, const char *s, size_t len, int ind)
{
	size_t trailing = 0;
	const char *p = s, *end = s + len;

	while (trailing < len && s[len - 1 - trailing] == '\n')
		trailing++;
	fputs(trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+", f);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);

		fputc('\n', f);
		if (n)
			indent(f, ind);
		fwrite(p, 1, n, f);
		if (!nl)
			break;
		p = nl + 1;
	}
	fputc('\n', f);
}

/* Keys that YAML 1.1 reads as booleans or null when plain. */
static int reserved(const char *k)
{
	static const char *const words[] = {"y", "n", "yes", "no", "true", "false",
		"on", "off", "null", "~", NULL};

	for (int i = 0; words[i]; i++)
		if (strcasecmp(k, words[i]) == 0)
			return 1;
	return 0;
}

static void key(FILE *f, const char *k)
{
	int plain = (k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z') || k[0] == '_';

	for (const char *p = k; plain && *p; p++)
		plain = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			(*p >= '0' && *p <= '9') || strchr("_.-/", *p);
	if (plain && !reserved(k))
		fputs(k, f);
	else
		cli_yaml_quoted(f, k, strlen(k));
	fputc(':', f);
}

static int is_block(const json_t *v)
{
	return (json_is_object(v) && json_object_size(v) > 0) ||
	       (json_is_array(v) && json_array_size(v) > 0);
}

/* A scalar (or an empty collection) after "key:" or "- "; ends the line. */
static void scalar(FILE *f, const json_t *v, int ind)
{
	switch (json_typeof(v)) {
	case JSON_STRING: {
		const char *s = json_string_value(v);
		size_t len = json_string_length(v);

		if (literal_ok(s, len)) {
			literal(f, s, len, ind);
			return;
		}
		cli_yaml_quoted(f, s, len);
		break;
	}
	case JSON_INTEGER: fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
	case JSON_REAL: fprintf(f, "%.17g", json_real_value(v)); break;
	case JSON_TRUE: fputs("true", f); break;
	case JSON_FALSE: fputs("false", f); break;
	case JSON_NULL: fputs("null", f); break;
	case JSON_OBJECT: fputs("{}", f); break;
	case JSON_ARRAY: fputs("[]", f); break;
	}
	fputc('\n', f);
}

static void block(FILE *f, const json_t *v, int ind, int first_inline);

/* A mapping's entry value: on the same line, or a nested block below. */
static void value(FILE *f, const json_t *v, int ind)
{
	if (!is_block(v)) {
		fputc(' ', f);
		scalar(f, v, ind + 2);
		return;
	}
	fputc('\n', f);
	block(f, v, ind + 2, 0);
}

/*
 * A non-empty object or array at indentation ind. first_inline: the
 * caller already wrote the indentation and "- " of a sequence entry, so
 * the first line goes on without indenting.
 */
static void block(FILE *f, const json_t *v, int ind, int first_inline)
{
	int first = 1;

	if (json_is_object(v)) {
		const char *k;
		json_t *x;

		json_object_foreach((json_t *)v, k, x) {
			if (!(first && first_inline))
				indent(f, ind);
			first = 0;
			key(f, k);
			value(f, x, ind);
		}
		return;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *x = json_array_get(v, i);

		if (!(first && first_inline))
			indent(f, ind);
		first = 0;
		fputs("- ", f);
		if (is_block(x))
			block(f, x, ind + 2, 1);
		else
			scalar(f, x, ind + 2);
	}
}

int cli_yaml_document(FILE *f, const json_t *v)
{
	fputs("---\n", f);
	if (is_block(v))
		block(f, v, 0, 0);
	else
		scalar(f, v, 2);
	return ferror(f) ? -1 : 0;
}
