/*
 * handle_status.c - GET /status: the pool at a glance, in the manner of
 * PHP-FPM's status page (docs/operations.md): text, or ?json, and &full
 * for one entry per process.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "serve/handler.h"
#include "serve/listen.h"

void cs_handle_status(cs_call *c, cs_response *resp)
{
	cs_server *s = c->srv;
	const char *query = c->req->query;
	cs_pool_status *st = calloc(1, sizeof(*st));
	int full = cs_query_has(query, "full");
	int waiting = cs_listen_queue(s->listen_fd);

	if (!st) {
		cs_response_fail(resp, CS_ENOMEM, "out of memory");
		return;
	}
	cs_metrics_status(s->metrics, st);
	if (cs_query_has(query, "json")) {
		json_t *o = json_pack("{s:s,s:s,s:I,s:I,s:I,s:i,s:i,s:i,s:i,s:I,s:I,s:I,s:f,s:f}",
			"pool", s->model->mf->name, "version", s->model->mf->version,
			"start_time", (json_int_t)st->start_unix,
			"start_since", (json_int_t)(time(NULL) - st->start_unix),
			"accepted_requests", (json_int_t)st->accepted,
			"listen_queue", waiting,
			"active_processes", st->active, "idle_processes", st->idle,
			"total_processes", st->processes,
			"max_active_processes", (json_int_t)st->max_active,
			"max_children_reached", (json_int_t)st->max_children_reached,
			"slow_requests", (json_int_t)st->slow,
			"p50_ms", st->p50_s * 1000, "p99_ms", st->p99_s * 1000);

		if (o)
			json_object_set_new(o, "total_threads", json_integer(st->active + st->idle));
		if (o && full) {
			json_t *procs = json_array();

			for (int i = 0; i < st->n_procs; i++) {
				const cs_metrics_proc *p = &st->procs[i];

				json_array_append_new(procs, json_pack("{s:i,s:s,s:i,s:i,s:i,s:I,s:f,s:I}",
					"pid", p->pid, "state", p->busy ? "busy" : "idle",
					"threads", p->threads, "busy_threads", p->busy,
					"connections", p->connections,
					"requests", (json_int_t)p->requests,
					"request_duration_ms", p->busy_for_s * 1000,
					"rss_bytes", (json_int_t)p->rss_bytes));
			}
			json_object_set_new(o, "processes", procs);
		}
		if (o)
			cs_response_json(resp, 200, o);
		else
			cs_response_fail(resp, CS_EBACKEND, "cannot build the status");
		json_decref(o);
	} else {
		char *buf = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&buf, &len);

		if (!f) {
			free(st);
			cs_response_fail(resp, CS_ENOMEM, "out of memory");
			return;
		}
		fprintf(f, "pool:                 %s\n"
			"version:              %s\n"
			"start time:           %lld\n"
			"start since:          %lld\n"
			"accepted requests:    %llu\n"
			"listen queue:         %d\n"
			"idle processes:       %d\n"
			"active processes:     %d\n"
			"total processes:      %d\n"
			"total threads:        %d\n"
			"max active processes: %lld\n"
			"max children reached: %llu\n"
			"slow requests:        %llu\n"
			"p50 ms:               %.2f\n"
			"p99 ms:               %.2f\n",
			s->model->mf->name, s->model->mf->version,
			(long long)st->start_unix,
			(long long)(time(NULL) - st->start_unix),
			(unsigned long long)st->accepted, waiting, st->idle,
			st->active, st->processes, st->active + st->idle,
			(long long)st->max_active,
			(unsigned long long)st->max_children_reached,
			(unsigned long long)st->slow, st->p50_s * 1000, st->p99_s * 1000);
		for (int i = 0; full && i < st->n_procs; i++) {
			const cs_metrics_proc *p = &st->procs[i];

			fprintf(f, "\n************************\n"
				"pid:                  %d\n"
				"state:                %s\n"
				"threads:              %d (%d busy)\n"
				"requests:             %llu\n"
				"request duration ms:  %.1f\n"
				"rss bytes:            %llu\n",
				p->pid, p->busy ? "busy" : "idle", p->threads, p->busy,
				(unsigned long long)p->requests, p->busy_for_s * 1000,
				(unsigned long long)p->rss_bytes);
		}
		fclose(f);
		cs_response_take(resp, 200, "text/plain; charset=utf-8", buf, len);
	}
	free(st);
}

