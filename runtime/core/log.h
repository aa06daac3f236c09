/*
 * log.h - one line per event on stderr: time, level, pid, model, message.
 *
 * stdout is never used (it may be the FastCGI stream). Thread-safe: each
 * line is written with one write(2).
 */
#ifndef CS_LOG_H
#define CS_LOG_H

#include <cubeserve/plugin.h> /* CS_LOG_* levels */

/* Sets the model name shown on every line (copied) and the lowest level shown. */
void cs_log_setup(const char *model, int level);

/* Parses "error", "warn", "info", "debug"; -1 when unknown. */
int cs_log_level_parse(const char *name);

/* Logs one line at level (printf format). */
void cs_log(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define cs_log_error(...) cs_log(CS_LOG_ERROR, __VA_ARGS__)
#define cs_log_warn(...) cs_log(CS_LOG_WARN, __VA_ARGS__)
#define cs_log_info(...) cs_log(CS_LOG_INFO, __VA_ARGS__)
#define cs_log_debug(...) cs_log(CS_LOG_DEBUG, __VA_ARGS__)

#endif
