/*
 * log.c - stderr logging (see log.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static char log_model[64] = "-";
static int log_level = CS_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void cs_log_setup(const char *model, int level)
{
	if (model)
		snprintf(log_model, sizeof log_model, "%s", model);
	if (level >= CS_LOG_ERROR && level <= CS_LOG_DEBUG)
		log_level = level;
}

int cs_log_level_parse(const char *name)
{
	for (int i = 0; i <= CS_LOG_DEBUG; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -1;
}

void cs_log(int level, const char *fmt, ...)
{
	char line[4096];
	struct timespec ts;
	struct tm tm;
	size_t off;
	va_list ap;
	int n;

	if (level > log_level)
		return;
	if (level < CS_LOG_ERROR)
		level = CS_LOG_ERROR;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	off = strftime(line, sizeof line, "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line + off, sizeof line - off, ".%03ldZ %s [%d] %s: ",
		     ts.tv_nsec / 1000000, level_names[level], (int)getpid(),
		     log_model);
	if (n > 0)
		off += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(line + off, sizeof line - off, fmt, ap);
	va_end(ap);
	if (n > 0)
		off += (size_t)n;
	if (off >= sizeof line - 1)
		off = sizeof line - 2;
	/* one event, one line: fold newlines of multi-line messages */
	for (size_t i = 0; i < off; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[off++] = '\n';
	(void)!write(STDERR_FILENO, line, off);
}
