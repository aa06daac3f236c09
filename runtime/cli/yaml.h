/*
 * yaml.h - writes a JSON value (jansson) as a YAML block document, for the
 * Kubernetes manifests `cubeserve k8s export` prints.
 *
 * The output is meant for people and for YAML 1.1 and 1.2 parsers alike:
 * every string value is double-quoted (so "on", "1.0" or "null" stay
 * strings) or, when it spans lines and survives it unchanged, a literal
 * block (|); keys are plain only when no parser can read them as anything
 * but a string. Not thread-safe only in the sense of sharing f.
 */
#ifndef CS_CLI_YAML_H
#define CS_CLI_YAML_H

#include <stdio.h>

#include <jansson.h>

/*
 * Writes v (an object, usually) to f as one YAML document, preceded by
 * "---\n". Returns 0, or -1 when writing failed (ferror(f)). v is borrowed.
 */
int cli_yaml_document(FILE *f, const json_t *v);

/* Writes s as a double-quoted YAML scalar (the quotes included). */
void cli_yaml_quoted(FILE *f, const char *s, size_t len);

#endif
